"""Observation weights, ``weights="w"``: the option, their values and errors in the design,
the engines that refuse them, and each likelihood, replicate and prediction worked out by
hand (precision weights for the Gaussian family, prior weights for the others)."""

import logging

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

import lmm_bayes as lb
from lmm_bayes import collapsed, effects_system, glmm, individual_blocks, marginal
from lmm_bayes.design import build_design
from lmm_bayes.errors import DesignError, SpecError
from lmm_bayes.families import FAMILIES
from lmm_bayes.formula import parse_formula
from lmm_bayes.ppc import pointwise_loglik, replicate
from lmm_bayes.predict import predict_draws
from lmm_bayes.spec import MODEL_OPTIONS, ModelSpec
from lmm_bayes.specfile import read_spec

DATA = pd.DataFrame({
    "y": [1.0, 3, 2, 5, 4, 6, 2, 7, 3], "x": [0.0, 1, 2, 0, 1, 2, 0, 1, 3],
    "w": [1.0, 2, 0.5, 1, 4, 1, 2, 3, 1], "g": list("aaabbbccc"),
})
FORMULA = parse_formula("y ~ x + (1 | g)")

# ----------------------------------------------------------------------------- option


def test_weights_is_a_model_option_of_every_entry_point():
    assert "weights" in MODEL_OPTIONS           # lb.LMM, lb.fit, fit_many and [model]
    assert ModelSpec.from_formula("y ~ x", weights="w").weights == "w"
    assert ModelSpec.from_formula("y ~ x").weights is None


@pytest.mark.parametrize("value", [1, ["w"], {"column": "w"}])
def test_weights_must_be_a_column_name(value):
    with pytest.raises(SpecError, match=r"^weights must be the name of a column of the data "
                                        r"\(text\), not "):
        ModelSpec.from_formula("y ~ x", weights=value)


def test_spec_file_names_the_weights_column(tmp_path):
    DATA.to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "m.toml").write_text('[model]\nformula = "y ~ x + (1 | g)"\nweights = "w"\n'
                                     '[data]\npath = "d.csv"\n')
    spec_file = read_spec(tmp_path / "m.toml")
    assert spec_file.spec.weights == "w"
    model = lb.LMM.from_spec(spec_file.spec, spec_file.data)
    np.testing.assert_array_equal(model.design.weights, DATA.w)


# ----------------------------------------------------------------------------- design


def test_design_holds_the_weights_of_the_rows_used(caplog):
    assert build_design(FORMULA, DATA).weights is None
    np.testing.assert_array_equal(build_design(FORMULA, DATA, weights="w").weights, DATA.w)
    data = DATA.assign(x=DATA.x.where(DATA.index != 2))
    with caplog.at_level(logging.WARNING, logger="lmm_bayes"):
        d = build_design(FORMULA, data, na_action="drop", weights="w")
    np.testing.assert_array_equal(d.weights, DATA.w.drop(index=2))


def test_missing_weights_are_missing_values_named_by_column_and_row(caplog):
    data = DATA.assign(w=DATA.w.where(DATA.index != 4))
    with pytest.raises(DesignError, match=r"missing values \(NaN\) in the data: 'w': 1 "
                                          r"\(first at row position 4\)"):
        build_design(FORMULA, data, weights="w")
    with caplog.at_level(logging.WARNING, logger="lmm_bayes"):
        d = build_design(FORMULA, data, na_action="drop", weights="w")
    assert d.n_dropped == 1
    np.testing.assert_array_equal(d.weights, DATA.w.drop(index=4))


@pytest.mark.parametrize("value, shown", [(0.0, "0.0"), (-2.0, "-2.0"), (np.inf, "inf")])
def test_weights_that_are_not_positive_name_the_column_row_and_value(value, shown):
    data = DATA.assign(x=DATA.x.where(DATA.index != 1), w=DATA.w.where(DATA.index != 6, value))
    with pytest.raises(DesignError, match=(
            rf"^the weights column 'w' has 1 weight\(s\) that are not positive finite "
            rf"numbers, first {shown} at row position 6; every weight must be > 0$")):
        build_design(FORMULA, data, weights="w", na_action="drop")  # position in the data given


@pytest.mark.parametrize("column, message", [
    ("v", (r"^the weights column 'v' is not a column of the data \(columns: \['y', 'x', 'w', "
          r"'g'\]\)$")),
    ("g", (r"^the weights column 'g' is not numeric \(type \w+\); observation weights are "
          r"positive numbers$")),
])
def test_weights_column_must_be_there_and_numeric(column, message):
    with pytest.raises(DesignError, match=message):
        lb.LMM("y ~ x + (1 | g)", DATA, weights=column)


def test_logical_weights_are_not_numbers():
    with pytest.raises(DesignError, match="the weights column 'w' is not numeric"):
        build_design(FORMULA, DATA.assign(w=DATA.w > 1), weights="w")


# ----------------------------------------------------------------------------- engines


def test_fast_engines_refuse_weights_and_the_graph_engine_fits_them():
    rng = np.random.default_rng(0)
    data = pd.DataFrame({"g": np.repeat(np.arange(30), 6), "x": rng.normal(size=180)})
    data["y"] = data.x + rng.normal(size=180)
    data["w"] = rng.uniform(0.5, 2, 180)
    model = lb.LMM("y ~ x + (1 | g)", data, weights="w")
    choice = model.engine()
    assert choice.engine == "graph" and model.likelihood == "conditional"
    for engine in ("collapsed", "marginal", "blocked"):
        assert f"not {engine}: observation weights" in choice.reason
    d, p = model.design, model.priors
    assert marginal.gaussian_obstacle(d, "gaussian") == "observation weights"
    assert collapsed.obstacle(d, p, "gaussian", None) == "observation weights"
    assert effects_system.obstacle(d, p, "gaussian", None) == "observation weights"
    assert individual_blocks.obstacle(d, p, "gaussian", None) == "observation weights"
    counts = lb.LMM("y ~ x + (1 | g)", data.assign(y=rng.poisson(2, 180)), family="poisson",
                    weights="w")
    assert glmm.obstacle(counts.design, counts.priors, "poisson", None, None) == (
        "observation weights (the graph engine fits them)")
    assert counts.engine().engine == "graph"
    with pytest.raises(lb.SamplingError, match="observation weights"):
        counts.engine("glmm")


def _point(model):
    """A point off the initial one, and β and b there."""
    point = {k: v + 0.1 for k, v in model.initial_point().items()}
    outs = model.replace_rvs_by_values([model["beta"], model["b_g"]])
    beta, b = model.compile_fn(outs, inputs=model.value_vars, on_unused_input="ignore")(point)
    return point, beta[0] + beta[1] * DATA.x.to_numpy() + b[DATA.g.map(LEVEL), 0]


LEVEL = {"a": 0, "b": 1, "c": 2}


def test_gaussian_likelihood_has_residual_sd_sigma_over_root_w():
    model = lb.LMM("y ~ x + (1 | g)", DATA, weights="w").pymc_model
    point, mu = _point(model)
    sigma = model.compile_fn(model.replace_rvs_by_values([model["sigma"]])[0],
                             inputs=model.value_vars, on_unused_input="ignore")(point)
    logp = model.compile_logp(vars=[model["y"]], sum=True)(point)
    expected = stats.norm.logpdf(DATA.y, mu, sigma / np.sqrt(DATA.w)).sum()
    assert logp == pytest.approx(expected)
    assert logp != pytest.approx(stats.norm.logpdf(DATA.y, mu, sigma).sum())


@pytest.mark.parametrize("family", ["poisson", "negbinomial"])
def test_count_likelihood_multiplies_each_row_by_its_weight(family):
    model = lb.LMM("y ~ x + (1 | g)", DATA, family=family, weights="w").pymc_model
    point, mu = _point(model)
    logp = model.compile_logp(vars=[model["y"], model["y_weights"]], sum=True)(point)
    alpha = np.exp(point["alpha_log__"]) if family == "negbinomial" else None
    aux = {} if alpha is None else {"alpha": alpha}
    expected = (DATA.w * FAMILIES[family].logpdf(DATA.y, np.exp(mu), aux)).sum()
    assert logp == pytest.approx(expected)
    # y alone stays the family's: prior predictive draws are of the response
    assert model.compile_logp(vars=[model["y"]], sum=True)(point) == pytest.approx(
        FAMILIES[family].logpdf(DATA.y, np.exp(mu), aux).sum())


def test_prior_predictive_draws_of_a_weighted_count_model_are_the_familys():
    model = lb.LMM("y ~ x + (1 | g)", DATA, family="poisson", weights="w")
    prior = model.prior_predictive(200, random_seed=1)
    y = prior.prior_predictive["y"].values[0]
    mu = np.exp(prior.prior["beta"].values[0] @ np.stack([np.ones(9), DATA.x]) +
                prior.prior["b_g"].values[0][:, DATA.g.map(LEVEL), 0])
    assert y.shape == (200, 9) and np.all(y == np.round(y))
    assert np.corrcoef(np.log1p(y).ravel(), np.log1p(mu).ravel())[0, 1] > 0.8


# ----------------------------------------------------------------------------- from draws

BETA = np.array([0.5, 0.25])                 # (Intercept), x
B = np.array([[0.1], [-0.2], [0.3]])        # levels a, b, c
SIGMA = 0.8


def posterior(sigma: bool = True) -> xr.Dataset:
    values = {
        "beta": (("chain", "draw", "fixed"), BETA[None, None]),
        "sd_g": (("chain", "draw", "g__term"), np.full((1, 1, 1), 0.4)),
        "b_g": (("chain", "draw", "g__level", "g__term"), B[None, None]),
    }
    if sigma:
        values["sigma"] = (("chain", "draw"), np.full((1, 1), SIGMA))
    return xr.Dataset(values, coords={"chain": [0], "draw": [0], "fixed": ["(Intercept)", "x"],
                                      "g__term": ["(Intercept)"], "g__level": ["a", "b", "c"]})


ETA = BETA[0] + BETA[1] * DATA.x.to_numpy() + B[DATA.g.map(LEVEL), 0]


def test_pointwise_loglik_is_the_weighted_likelihood_of_each_row():
    gaussian = build_design(FORMULA, DATA, weights="w")
    got = pointwise_loglik(posterior(), gaussian, FAMILIES["gaussian"]).values.ravel()
    np.testing.assert_allclose(got, stats.norm.logpdf(DATA.y, ETA, SIGMA / np.sqrt(DATA.w)))
    counts = build_design(FORMULA, DATA, weights="w", family="poisson")
    got = pointwise_loglik(posterior(False), counts, FAMILIES["poisson"]).values.ravel()
    np.testing.assert_allclose(got, DATA.w * stats.poisson.logpmf(DATA.y, np.exp(ETA)))


def test_replicates_of_a_gaussian_row_have_sd_sigma_over_root_w():
    design = build_design(FORMULA, DATA, weights="w")
    post = posterior().isel(draw=[0] * 4000).assign_coords(draw=np.arange(4000))
    y_rep = replicate(post, design, FAMILIES["gaussian"], np.random.default_rng(1)).values[0]
    sd = SIGMA / np.sqrt(DATA.w.to_numpy())
    np.testing.assert_allclose(y_rep.std(axis=0) / sd, 1, atol=0.05)   # SE of an SD ≈ 1.1%
    np.testing.assert_allclose((y_rep.mean(axis=0) - ETA) / sd, 0, atol=0.07)


def test_new_measurements_take_the_weights_of_new_rows_when_given():
    design = build_design(FORMULA, DATA, weights="w")
    post = posterior().isel(draw=[0] * 4000).assign_coords(draw=np.arange(4000))
    new = pd.DataFrame({"x": [1.0, 1.0], "g": ["a", "a"], "w": [1.0, 4.0]})

    def spread(data):
        draws = predict_draws(post, design, FAMILIES["gaussian"], data, kind="response",
                              groups="conditional", random_seed=2, weights="w")
        return draws.values[0].std(axis=0)
    np.testing.assert_allclose(spread(new), [SIGMA, SIGMA / 2], rtol=0.05)
    np.testing.assert_allclose(spread(new.drop(columns="w")), [SIGMA, SIGMA], rtol=0.05)
    with pytest.raises(DesignError, match=r"the weights column 'w' has 1 weight\(s\) that are "
                                          r"not positive finite numbers, first -1.0 at row "
                                          r"position 1"):
        spread(new.assign(w=[1.0, -1.0]))


def test_history_is_refused_for_a_weighted_model():
    design = build_design(FORMULA, DATA, weights="w")
    history = pd.DataFrame({"y": [1.0], "x": [0.0], "g": ["new"]})
    with pytest.raises(DesignError, match="history= is not available for a model with "
                                          "observation weights"):
        predict_draws(posterior(), design, FAMILIES["gaussian"], history.drop(columns="y"),
                      history=history, weights="w")


# ----------------------------------------------------------------------------- OLRE


OBS = pd.DataFrame({"y": [1.0, 3, 0, 5, 4, 6, 2, 7, 3, 0], "x": np.arange(10.0),
                    "obs": [f"o{i}" for i in range(10)], "g": list("aabbbccddd")})


@pytest.mark.parametrize("family", ["poisson", "binomial"])
def test_an_observation_level_effect_is_allowed_for_counts(family):
    response = "cbind(y, 8 - y)" if family == "binomial" else "y"
    design = build_design(parse_formula(f"{response} ~ x + (1 | g) + (1 | obs)"), OBS,
                          family=family)
    assert design.group("obs").n_levels == len(OBS)


@pytest.mark.parametrize("family, response, reason", [
    ("gaussian", "y", ("with the Gaussian family a level per observation is not identifiable: "
                      "its random intercept and the residual are both one normal deviation per "
                      "row, so only their summed variance is informed")),
    ("bernoulli", "b", ("a 0/1 response (one trial per row) carries no information about each "
                       "row's extra variation, so an observation-level effect is not identified")),
    ("binomial", "cbind(b, 1 - b)", "a 0/1 response (one trial per row)"),
    ("negbinomial", "y", ("the negbinomial family's own dispersion parameter already models each "
                         "row's extra variation; an observation-level effect would duplicate "
                         "it (use family='poisson'")),
])
def test_an_observation_level_effect_is_refused_where_not_identified(family, response, reason):
    data = OBS.assign(b=(OBS.y > 2).astype(float))
    with pytest.raises(DesignError) as err:
        build_design(parse_formula(f"{response} ~ x + (1 | obs)"), data, family=family)
    assert str(err.value).startswith("grouping factor 'obs' has 10 levels for 10 "
                                     "observations; a random intercept needs fewer levels "
                                     f"than observations; {reason}")
