"""An ordinal (cumulative logit) model end to end with short sampling: the posterior's
cutpoints, the summary and printed tables, predictions, category probabilities, predictive
checks, LOO, the latent-scale ICC, save/load with an ordered Categorical response, and the
report."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import special

import lmm_bayes as lb
from lmm_bayes.report import report_html

LEVELS = ["never", "rarely", "often", "always"]
DRAWS = {"draws": 250, "tune": 250, "chains": 2, "random_seed": 5}


def _data(seed=4):
    """20 people × 8 rows: latent x + 0.8·[arm B] + u (SD 1) + logistic noise, cut at
    −0.5, 1, 2.5 into four ordered labels."""
    rng = np.random.default_rng(seed)
    person = np.repeat(np.arange(20), 8)
    x = rng.normal(size=len(person))
    arm = np.where(person % 2 == 0, "A", "B")
    latent = x + 0.8 * (arm == "B") + rng.normal(0, 1.0, 20)[person] + rng.logistic(size=len(x))
    codes = np.searchsorted([-0.5, 1.0, 2.5], latent)
    answer = pd.Categorical.from_codes(codes, LEVELS, ordered=True)
    return pd.DataFrame({"answer": answer, "x": x, "arm": arm, "person": person.astype(str)})


@pytest.fixture(scope="module")
def fit():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lb.SamplingWarning)
        return lb.fit("answer ~ x + arm + (1 | person)", _data(), family="cumulative", **DRAWS)


def test_posterior_has_ordered_cutpoints_named_by_category(fit):
    post = fit.idata.posterior
    assert set(post.data_vars) == {"beta", "cutpoints", "sd_person", "b_person"}
    assert list(post["cutpoints"]["cutpoint"].values) == ["never|rarely", "rarely|often",
                                                          "often|always"]
    assert (post["cutpoints"].diff("cutpoint") > 0).all()
    assert list(post["beta"]["fixed"].values) == ["x", "armB"]
    assert fit.engine[0] == "graph"


def test_summary_rows_and_printed_tables(fit):
    table = fit.summary()
    assert list(table.effect) == ["fixed", "fixed", "cutpoint", "cutpoint", "cutpoint",
                                  "ran_pars"]
    cut = table[table.effect == "cutpoint"].set_index("term")
    post = fit.idata.posterior["cutpoints"]
    assert cut.loc["rarely|often", "estimate"] == pytest.approx(
        float(post.sel(cutpoint="rarely|often").mean()))
    text = str(fit)
    assert "Cutpoints" in text and "never|rarely" in text and "cumulative (logit link)" in text


def test_predictions_are_category_scores(fit):
    data = _data().head(6)
    mean = fit.predict(data)
    assert ((mean.estimate > 1) & (mean.estimate < 4)).all()
    probabilities = fit.category_probabilities(data)
    assert list(probabilities.columns) == ["row", "category", "estimate", "std_error",
                                           "conf_low", "conf_high"]
    assert list(probabilities.category[:4]) == LEVELS
    by_row = probabilities.pivot(index="row", columns="category", values="estimate")[LEVELS]
    assert by_row.sum(axis=1).to_numpy() == pytest.approx(1.0)
    # E[y] = Σ_k k P(y = k) per draw, so their posterior means agree too
    assert by_row.to_numpy() @ np.arange(1, 5) == pytest.approx(mean.estimate.to_numpy())
    draws = fit.predict_draws(data, kind="response", random_seed=1).values
    assert set(np.unique(draws)) <= {1.0, 2.0, 3.0, 4.0}


def test_prediction_for_a_new_person_with_a_history(fit):
    """A new person whose history is all "always" is predicted higher than one with no
    history (a fresh effect drawn per draw)."""
    data = _data()
    history = data.head(8).assign(person="new", answer=pd.Categorical(
        ["always"] * 8, LEVELS, ordered=True))
    rows = data.head(2).assign(person=["new", "unseen"])
    predicted = fit.predict(rows, history=history, random_seed=2)
    assert predicted.estimate.iloc[0] > predicted.estimate.iloc[1] + 0.5
    bad = history.assign(answer=["sometimes"] * 8)
    with pytest.raises(lb.DesignError, match=r"value\(s\) \['sometimes'\] that are not among"):
        fit.predict(rows, history=bad)


def test_ppc_loo_and_icc(fit):
    idata = fit.ppc(random_seed=3)
    replicated = idata.posterior_predictive["y"].values
    assert set(np.unique(replicated)) <= {1.0, 2.0, 3.0, 4.0}
    assert set(np.unique(idata.observed_data["y"].values)) == {1.0, 2.0, 3.0, 4.0}
    assert 0.01 < float(fit.ppc_pvalues().set_index("statistic").loc["mean", "p_value"]) < 0.99
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)   # Pareto k̂ of a few rows
        loo = fit.loo()
    assert loo.n_data_points == 160 and -250 < loo.elpd_loo < -100
    # the latent-scale ICC τ²/(τ² + π²/3) per draw, by hand
    tau2 = fit.idata.posterior["sd_person"].values[..., 0] ** 2
    icc = fit.icc().iloc[0]
    assert icc.estimate == pytest.approx(float(np.mean(tau2 / (tau2 + np.pi**2 / 3))))


def test_log_likelihood_is_the_logistic_category_probability(fit):
    """The pointwise log-likelihood of one row and draw, by hand from the posterior."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fit.loo()
    loglik = fit.idata.log_likelihood["y"].values[0, 0]
    post = fit.idata.posterior.isel(chain=0, draw=0)
    design = fit.model.design
    row = 5
    eta = (design.X[row] @ post["beta"].values
           + post["b_person"].values[design.groups[0].index[row], 0])
    c = np.concatenate([[-np.inf], post["cutpoints"].values, [np.inf]])
    k = int(design.y[row])
    assert loglik[row] == pytest.approx(
        np.log(special.expit(c[k] - eta) - special.expit(c[k - 1] - eta)), rel=1e-9)


def test_options_that_do_not_apply_say_why(fit):
    with pytest.raises(lb.DesignError, match="marginal_effects.*ordinal"):
        fit.marginal_effects()
    with pytest.raises(lb.DesignError, match="groups='marginal'"):
        fit.predict(_data().head(2), groups="marginal")


def test_save_load_keeps_the_ordered_categories(fit, tmp_path):
    path = fit.save(tmp_path / "ordinal.nc")
    loaded = lb.load(path)
    answer = loaded.model.data["answer"]
    assert answer.cat.ordered and list(answer.cat.categories) == LEVELS
    assert loaded.model.design.categories == tuple(LEVELS)
    pd.testing.assert_frame_equal(loaded.summary(), fit.summary())
    pd.testing.assert_frame_equal(loaded.predict(_data().head(3)), fit.predict(_data().head(3)))


def test_report_shows_the_cutpoints(fit):
    page = report_html(fit)
    assert "Family cumulative" in page and "often|always" in page
    assert "Intraclass correlation" in page
