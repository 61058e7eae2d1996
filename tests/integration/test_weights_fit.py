"""Observation weights and observation-level random effects end to end (short sampling):
a Gaussian model whose rows are means of w_i replicates recovers the replicates' SD, and
its fit goes through every public method; a Poisson model with ``(1 | obs)`` recovers the
overdispersion on the GLMM engine."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import lmm_bayes as lb
from lmm_bayes import report
from lmm_bayes.errors import DesignError

DRAWS = {"draws": 300, "tune": 300, "chains": 2, "random_seed": 5}
SIGMA = 1.0   # the SD of one replicate


def _means():
    """40 levels × 6 rows, each row the mean of w ∈ {1, 2, 4, 8} replicates: its residual
    SD is σ/√w, the precision weights' model."""
    rng = np.random.default_rng(8)
    g = np.repeat(np.arange(40), 6)
    x = rng.normal(size=len(g))
    w = rng.choice([1.0, 2.0, 4.0, 8.0], len(g))
    y = 2 + 0.5 * x + rng.normal(0, 0.7, 40)[g] + rng.normal(0, SIGMA / np.sqrt(w))
    return pd.DataFrame({"y": y, "x": x, "w": w, "g": g.astype(str)})


def _fit(formula, data, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lb.SamplingWarning)
        return lb.fit(formula, data, **DRAWS, **options)


@pytest.fixture(scope="module")
def weighted_fit():
    return _fit("y ~ x + (1 | g)", _means(), weights="w")


def test_precision_weights_recover_the_sd_of_one_replicate(weighted_fit):
    fit = weighted_fit
    assert fit.engine[0] == "graph"
    table = fit.summary().set_index(["group", "term"])
    assert table.loc[("Residual", "sd__Observation"), "estimate"] == pytest.approx(SIGMA,
                                                                                   abs=0.12)
    assert table.loc[("", "x"), "estimate"] == pytest.approx(0.5, abs=0.1)
    assert "observations, weighted by w; g: 40 levels" in str(fit)
    assert "weighted by <code>w</code>" in report.model_section(fit)


def test_loo_and_checks_use_each_rows_sd(weighted_fit):
    fit = weighted_fit
    with pytest.raises(DesignError, match="not observation weights; use by='observation'"):
        fit.loo(by="level")
    with warnings.catch_warnings():  # a level's few rows inform its effect: k̂ may be high
        warnings.filterwarnings("ignore", message="Estimated shape parameter of Pareto")
        loo = fit.loo(pointwise=True)                  # by observation, the default here
    data = fit._data
    post = fit.idata.posterior
    eta = fit.predict_draws(groups="conditional").values.reshape(-1, len(data))
    sigma = post["sigma"].values.reshape(-1, 1)
    expected = stats.norm.logpdf(data.y.to_numpy(), eta, sigma / np.sqrt(data.w.to_numpy()))
    loglik = fit.idata.log_likelihood["y"].values.reshape(-1, len(data))
    np.testing.assert_allclose(loglik, expected)
    assert loo["loo_i"].size == len(data)
    replicated = fit.ppc(random_seed=1).posterior_predictive["y"].values.reshape(-1, len(data))
    spread = (replicated - eta).std(axis=0) * np.sqrt(data.w.to_numpy())
    assert spread.mean() == pytest.approx(float(post["sigma"].mean()), rel=0.05)


def test_save_and_load_keep_the_weights(weighted_fit, tmp_path):
    loaded = lb.load(weighted_fit.save(tmp_path / "weighted.nc"))
    assert loaded.model.spec.weights == "w"
    np.testing.assert_array_equal(loaded.model.design.weights, weighted_fit.model.design.weights)
    new = _means().head(4)
    for fit in (weighted_fit, loaded):
        assert fit.predict(new, kind="response", random_seed=3).equals(
            weighted_fit.predict(new, kind="response", random_seed=3))


def _overdispersed(n=200, sd=0.6, seed=4):
    """Poisson-lognormal counts: a normal deviation of SD ``sd`` per row on the log mean."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = rng.poisson(np.exp(1.0 + 0.3 * x + rng.normal(0, sd, n)))
    return pd.DataFrame({"y": y, "x": x, "obs": [f"r{i}" for i in range(n)]})


def test_observation_level_effect_recovers_overdispersion_by_quadrature():
    data = _overdispersed()
    fit = _fit("y ~ x + (1 | obs)", data, family="poisson")
    assert fit.engine[0] == "glmm" and "quadrature" in fit.engine[1]
    table = fit.summary().set_index(["group", "term"])
    assert table.loc[("obs", "sd__(Intercept)"), "estimate"] == pytest.approx(0.6, abs=0.15)
    assert len(fit.ranef("obs")) == len(data)
    new = pd.DataFrame({"x": [0.0], "obs": ["unseen"]})   # a new row: a fresh effect
    draws = fit.predict_draws(new, kind="response", random_seed=1).values.ravel()
    assert draws.var() > draws.mean() * 1.3             # overdispersed beyond the Poisson's
