"""Ordinal outcomes (the cumulative family): the response rule and its errors, the design
without an intercept, the log-likelihood against scipy, the PyMC model against numpy, the
engines' refusals, and the summary and prediction read from hand-made posteriors."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

import lmm_bayes as lb
from lmm_bayes import names
from lmm_bayes.families import get_family
from lmm_bayes.predict import category_probability_draws, predict_draws
from lmm_bayes.summaries import tidy_summary

LEVELS = ["low", "mid", "high", "top"]
CDF = {"logit": stats.logistic.cdf, "probit": stats.norm.cdf}


def _data(seed=0, n=60, groups=6):
    """An ordered Categorical response with 4 categories, a covariate and a factor."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), n // groups)
    x = rng.normal(size=n)
    arm = rng.choice(["A", "B"], size=n)
    latent = x + (arm == "B") + rng.normal(0, 0.7, groups)[g] + rng.logistic(size=n)
    codes = np.searchsorted([-1.0, 0.5, 2.0], latent)
    codes[:4] = [0, 1, 2, 3]                          # every category observed
    rating = pd.Categorical.from_codes(codes, LEVELS, ordered=True)
    return pd.DataFrame({"rating": rating, "score": codes + 1, "x": x, "arm": arm,
                         "g": g.astype(str)})


def _model(formula="rating ~ x + arm + (1 | g)", data=None, **options):
    return lb.LMM(formula, _data() if data is None else data, family="cumulative", **options)


# ----------------------------------------------------------------------------- likelihood


@pytest.mark.parametrize("link", ["logit", "probit"])
def test_logpdf_is_the_difference_of_the_links_distribution_functions(link):
    """log P(y = k | η) = log(F(c_k − η) − F(c_(k−1) − η)), F from scipy (logistic or
    standard normal), over every category and locations either side of the cutpoints."""
    family = get_family("cumulative", link)
    cutpoints = np.array([-1.2, 0.1, 1.7])
    eta = np.array([-3.0, -0.5, 0.0, 0.8, 4.0])
    padded = np.concatenate([[-np.inf], cutpoints, [np.inf]])
    for k in range(1, 5):
        expected = np.log(CDF[link](padded[k] - eta) - CDF[link](padded[k - 1] - eta))
        got = family.logpdf(np.full(eta.shape, k), eta, {"cutpoints": cutpoints})
        assert got == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("link", ["logit", "probit"])
def test_logpdf_keeps_its_precision_in_both_tails(link):
    """Far from the cutpoints a category's probability is tiny (about e^-81 for the logit),
    where 1 − F(·) rounds to 0: the log-probabilities still match scipy's log-survival and
    log-distribution functions, on either side."""
    family = get_family("cumulative", link)
    dist = stats.logistic if link == "logit" else stats.norm
    cutpoints = {"cutpoints": np.array([-1.0, 1.0])}
    far = 80.0 if link == "logit" else 12.0
    low, high = np.array([-far]), np.array([far])
    assert family.logpdf(np.array([3]), low, cutpoints) == pytest.approx(
        dist.logsf(1.0 + far), rel=1e-10)                 # P(y = 3) = 1 − F(c_2 − η)
    assert family.logpdf(np.array([1]), high, cutpoints) == pytest.approx(
        dist.logcdf(-1.0 - far), rel=1e-10)               # P(y = 1) = F(c_1 − η)
    assert family.logpdf(np.array([2]), low, cutpoints) == pytest.approx(
        np.log(dist.sf(far - 1.0) - dist.sf(far + 1.0)), rel=1e-9)
    assert family.logpdf(np.array([2]), high, cutpoints) == pytest.approx(
        np.log(dist.cdf(1.0 - far) - dist.cdf(-1.0 - far)), rel=1e-9)


def test_category_probabilities_expected_score_and_draws_agree():
    """The K probabilities sum to 1; E[y] = Σ k P(y = k); 200,000 draws per row hit each
    category with its probability within 4.5 binomial standard errors."""
    family = get_family("cumulative")
    eta, aux = np.array([-1.0, 0.4, 2.2]), {"cutpoints": np.array([-0.5, 0.7, 1.9])}
    p = family.category_probabilities(eta, aux["cutpoints"])
    assert p.sum(axis=-1) == pytest.approx(1.0)
    assert family.expected_value(eta, aux) == pytest.approx(p @ np.arange(1, 5))
    size = 200_000
    y = family.draw(np.repeat(eta[None, :], size, axis=0), aux, np.random.default_rng(3))
    for k in range(1, 5):
        share = (y == k).mean(axis=0)
        assert np.all(np.abs(share - p[:, k - 1]) <= 4.5 * np.sqrt(p[:, k - 1] / size) + 1e-12)


def test_initial_cutpoints_are_the_link_of_the_cumulative_shares():
    """c_k = logit((n_(≤k) + ½)/(n + 1)): with 2, 3, 5 rows in three categories, the
    cumulative shares are 2.5/11 and 5.5/11."""
    y = np.array([1, 1, 2, 2, 2, 3, 3, 3, 3, 3], dtype=float)
    start = get_family("cumulative").initial_values(y)["cutpoints"]
    assert start == pytest.approx(np.log([2.5 / 8.5, 5.5 / 5.5]))


def test_the_pymc_model_equals_the_numpy_log_likelihood():
    """The graph's log-likelihood at a point of its sampled (unconstrained) coordinates
    equals the numpy log-density at η = Xβ + b[g]: PyMC's OrderedLogistic against the
    family's own, the cutpoints from the ordered transform's definition (c_1 = x_1,
    c_k = c_(k−1) + exp(x_k)) and the non-centred effects b = z·sd."""
    model = _model()
    pymc_model = model.pymc_model
    rng = np.random.default_rng(0)
    point = {k: v + rng.normal(0, 0.3, np.shape(v))
             for k, v in pymc_model.initial_point().items()}
    raw = point["cutpoints_ordered__"]
    cutpoints = np.cumsum(np.concatenate([raw[:1], np.exp(raw[1:])]))
    b = point["z_g"][:, 0] * np.exp(point["sd_g_log__"][0])
    design = model.design
    eta = design.X @ point["beta"] + b[design.groups[0].index]
    expected = model.family.logpdf(design.y, eta, {"cutpoints": cutpoints}).sum()
    got = pymc_model.compile_logp(vars=[pymc_model["y"]])(point)
    assert got == pytest.approx(expected, rel=1e-9)
    assert pymc_model.coords["cutpoint"] == ("low|mid", "mid|high", "high|top")


def test_prior_predictive_draws_categories_on_the_response_scale():
    """Category positions 1, …, K, as the observed y and the posterior predictive."""
    prior = _model().prior_predictive(40, random_seed=1)
    assert set(np.unique(prior.prior_predictive["y"].values)) <= {1, 2, 3, 4}
    assert prior.observed_data["y"].values == pytest.approx(_model().design.y)
    assert list(prior.prior.data_vars) == ["beta", "cutpoints", "sd_g", "b_g"]


# ----------------------------------------------------------------------------- response, design


def test_the_design_drops_the_intercept_and_keeps_the_categories():
    """Coded as with an intercept (treatment contrast armB, as ordinal::clm), then the
    intercept's column dropped: the cutpoints take its place."""
    design = _model().design
    assert design.fixed_names == ("x", "armB")
    assert design.categories == tuple(LEVELS)
    assert set(np.unique(design.y)) == {1.0, 2.0, 3.0, 4.0}
    assert design.y[:4] == pytest.approx([1, 2, 3, 4])


def test_whole_numbers_are_categories_in_increasing_order():
    """The distinct values in order, a value no row has being no category."""
    data = _data().assign(score=lambda d: d.score.map({1: -2, 2: 0, 3: 5, 4: 7}))
    design = _model("score ~ x + (1 | g)", data).design
    assert design.categories == ("-2", "0", "5", "7")
    assert design.y[:4] == pytest.approx([1, 2, 3, 4])


def test_predictions_on_new_rows_have_no_intercept_column():
    data = _data()
    fixed = lb.design.evaluate_covariates(_model().design, data.head(3))[0]
    assert fixed == pytest.approx(np.column_stack([data.x[:3], data.arm[:3] == "B"]))


def _unordered(data):
    return data.assign(rating=data.rating.astype(str).astype("category"))


@pytest.mark.parametrize("change, message", [
    (lambda d: d.assign(rating=d.rating.astype(str)),
     r"the response 'rating' \(.*\) has no known order.*ordered Categorical"),
    (_unordered, "the response 'rating' is an unordered Categorical"),
    (lambda d: d.assign(rating=d.rating.cat.add_categories(["never"])
                        .cat.reorder_categories(["low", "never", "mid", "high", "top"])),
     r"'rating' has no rows in its categor\(y/ies\) \['never'\].*remove_unused_categories"),
    (lambda d: d.assign(rating=pd.Categorical(["mid"] * len(d), ["mid"], ordered=True)),
     r"the response 'rating' has one category \('mid'\)"),
    (lambda d: d.assign(rating=d.x), r"'rating' must be whole numbers .* at row position 0"),
    (lambda d: d.assign(rating=d.x > 0), "has no known order"),
])
def test_ordinal_responses_that_are_refused(change, message):
    with pytest.raises(lb.DesignError, match=message):
        _model(data=change(_data()))


def test_a_formula_without_intercept_is_refused():
    with pytest.raises(lb.DesignError, match=r"cutpoints take the intercept's place.*'0 \+'"):
        _model("rating ~ 0 + x + (1 | g)")


def test_links_and_the_cutpoint_prior_override():
    with pytest.raises(lb.SpecError, match=r"takes the link\(s\) \['logit', 'probit'\], "
                                           "not 'cloglog'"):
        _model(link="cloglog")
    table = _model(priors={"cutpoints": lb.Prior("normal", mu=0.0, sigma=5.0)}).priors.table()
    assert table.set_index("parameter").loc["cutpoints", "prior"] == "normal(mu=0, sigma=5)"
    with pytest.raises(lb.PriorError, match="'cutpoints' is for a coefficient"):
        _model(priors={"cutpoints": lb.Prior("halfnormal", sigma=1.0)})
    default = _model(link="probit").priors.table().set_index("parameter")
    assert default.loc["cutpoints", "prior"] == "student_t(nu=3, mu=0, sigma=2.5)"
    assert "(Intercept)" not in default.index


def test_the_fast_engines_refuse_with_the_family_as_reason():
    model = _model()
    choice = model.engine()
    assert choice.engine == "graph"
    for engine in ("collapsed", "marginal", "blocked", "glmm"):
        assert f"not {engine}: the cumulative family" in choice.reason
    with pytest.raises(lb.SamplingError, match="the cumulative family"):
        model.engine("glmm")


# ----------------------------------------------------------------------------- hand-made posterior


def _posterior(cutpoints=(-1.0, 0.5, 2.0)):
    """2 chains × 2 draws: β = (1, 0.5) then (0, 0); the same cutpoints; b_g = 0."""
    model = _model()
    beta = np.array([[[1.0, 0.5], [0.0, 0.0]]] * 2)
    cut = np.broadcast_to(np.asarray(cutpoints), (2, 2, 3))
    levels = model.design.groups[0].levels
    coords = {"fixed": ["x", "armB"], "cutpoint": ["low|mid", "mid|high", "high|top"],
              "g__term": ["(Intercept)"], "g__level": list(levels)}
    return model, xr.Dataset({
        "beta": (("chain", "draw", "fixed"), beta),
        "cutpoints": (("chain", "draw", "cutpoint"), cut),
        "sd_g": (("chain", "draw", "g__term"), np.full((2, 2, 1), 0.5)),
        "b_g": (("chain", "draw", "g__level", "g__term"), np.zeros((2, 2, len(levels), 1))),
    }, coords=coords)


def test_summary_has_one_cutpoint_row_per_threshold():
    _, post = _posterior()
    table = tidy_summary(post, {"g": ("(Intercept)",)})
    cut = table[table.effect == "cutpoint"]
    assert list(cut.term) == ["low|mid", "mid|high", "high|top"]
    assert list(cut.group) == ["", "", ""]
    assert cut.estimate.to_numpy() == pytest.approx([-1.0, 0.5, 2.0])
    assert list(table.effect) == ["fixed"] * 2 + ["cutpoint"] * 3 + ["ran_pars"]


def test_predicted_mean_is_the_expected_category_score():
    """At x = 1, arm B and b = 0: η = 1.5 (first draw) or 0 (second), and E[y] = 1 + Σ_k
    expit(η − c_k), by hand."""
    model, post = _posterior()
    new = pd.DataFrame({"x": [1.0], "arm": ["B"], "g": ["0"]})
    draws = predict_draws(post, model.design, model.family, new, groups="conditional")
    c = np.array([-1.0, 0.5, 2.0])
    by_hand = [1 + (1 / (1 + np.exp(-(eta - c)))).sum() for eta in (1.5, 0.0)]
    assert draws.values[0, :, 0] == pytest.approx(by_hand)
    probabilities = category_probability_draws(post, model.design, model.family, new,
                                               groups="population")
    assert list(probabilities["category"].values) == LEVELS
    assert probabilities.values[0, :, 0] @ np.arange(1, 5) == pytest.approx(by_hand)


def test_prediction_options_an_ordinal_model_has_not():
    model, post = _posterior()
    new = pd.DataFrame({"x": [1.0], "arm": ["B"], "g": ["0"]})
    with pytest.raises(lb.DesignError, match="groups='marginal'.*ordinal"):
        predict_draws(post, model.design, model.family, new, groups="marginal")
    gaussian = lb.LMM("x ~ arm + (1 | g)", _data())
    with pytest.raises(lb.DesignError, match="category probabilities are an ordinal model's"):
        category_probability_draws(post, gaussian.design, gaussian.family, new)


def test_cutpoint_labels_are_ordinals():
    assert names.cutpoint_labels(["1", "2", "3"]) == ["1|2", "2|3"]
    assert names.public([], ["cutpoints", "beta"]) == ["beta", "cutpoints"]


# ----------------------------------------------------------------------------- data, spec files


def test_the_wine_data_are_shipped_with_ordinal_ratings():
    wine = lb.load_dataset("wine")
    assert len(wine) == 72 and sorted(wine.rating.unique()) == [1, 2, 3, 4, 5]
    assert wine.judge.nunique() == 9 and wine.judge.map(type).eq(str).all()
    model = lb.LMM("rating ~ temp + contact + (1 | judge)", wine, family="cumulative")
    assert model.design.fixed_names == ("tempwarm", "contactyes")
    assert model.design.categories == ("1", "2", "3", "4", "5")


def test_a_spec_file_with_the_cumulative_family_link_and_cutpoint_prior(tmp_path):
    from lmm_bayes.models import model_from_spec
    from lmm_bayes.specfile import read_spec

    path = tmp_path / "wine.toml"
    path.write_text('[model]\nformula = "rating ~ temp + (1 | judge)"\nfamily = "cumulative"\n'
                    'link = "probit"\n[data]\ndataset = "wine"\n[priors]\n'
                    'cutpoints = { dist = "normal", mu = 0, sigma = 4 }\n')
    spec_file = read_spec(path)
    model = model_from_spec(spec_file.spec, spec_file.data)
    assert (model.family.name, model.family.link) == ("cumulative", "probit")
    assert model.priors.auxiliary["cutpoints"] == lb.Prior("normal", mu=0.0, sigma=4.0)
