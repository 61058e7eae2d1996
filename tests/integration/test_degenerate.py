"""Degenerate and awkward data, fitted (short sampling): a variance component that is zero,
single-observation levels with unbalanced and missing visits, an outcome in units of 1e-6
and 1e6, and PyMC's sampler: nutpie's layout, and the same seed giving the same draws."""

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import quiet_fit

import lmm_bayes as lb

SHORT = {"draws": 300, "tune": 300, "chains": 2, "random_seed": 3}


def test_zero_variance_component_warns_singular_and_still_samples():
    # level means made exactly equal: lme4's REML estimate of SD(g) is 0 (a singular fit)
    rng = np.random.default_rng(1)
    level = np.repeat(np.arange(30), 6)
    noise = rng.normal(size=level.size)
    noise -= (np.bincount(level, noise) / 6)[level]
    data = pd.DataFrame({"y": 10 + noise, "g": [f"g{k}" for k in level]})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", lb.SamplingWarning)
        fit = lb.LMM("y ~ 1 + (1 | g)", data).fit(**SHORT)
    singular = [str(w.message) for w in caught if w.category is lb.SingularFitWarning]
    assert len(singular) == 1 and "random effect '(Intercept)' by 'g'" in singular[0]
    assert fit.idata.posterior.sizes["draw"] == 300
    row = fit.summary().set_index("term").loc["(Intercept)"]
    assert abs(row.estimate - data.y.mean()) < 0.2 * row.std_error  # = the sample mean, 10


def longitudinal(seed=7):
    """40 subjects with correlated random intercepts and slopes, visits 0..5 with about a
    third missing at random, and 6 subjects seen only once."""
    rng = np.random.default_rng(seed)
    cov = np.array([[4.0, -0.6], [-0.6, 0.36]])  # SDs 2 and 0.6, correlation -0.5
    b = rng.multivariate_normal([0, 0], cov, size=40)
    rows = []
    for k in range(40):
        visits = np.flatnonzero(rng.random(6) < 0.65) if k >= 6 else [rng.integers(0, 6)]
        visits = visits if len(visits) else [0]
        rows += [(f"{k:02d}", float(t), 20 + b[k, 0] + (1.5 + b[k, 1]) * t + rng.normal())
                 for t in visits]
    return pd.DataFrame(rows, columns=["id", "time", "y"])


@pytest.fixture(scope="module")
def unbalanced_fit():
    data = longitudinal()
    return data, quiet_fit(lb.LMM("y ~ time + (time | id)", data), draws=500, tune=500,
                           chains=2, random_seed=5)


def test_unbalanced_design_with_missing_visits_recovers_the_truth(unbalanced_fit):
    data, fit = unbalanced_fit
    assert fit.model.design.n_obs == len(data) and data.groupby("id").size().min() == 1
    table = fit.summary(prob=0.99).set_index("term")
    for term, value in {"(Intercept)": 20, "time": 1.5, "sd__(Intercept)": 2.0,
                        "sd__time": 0.6, "sd__Observation": 1.0}.items():
        assert table.loc[term, "conf_low"] < value < table.loc[term, "conf_high"], term


def test_single_observation_level_is_shrunk_as_the_blup_formula_says(unbalanced_fit):
    # for a level with one row (x_i, z_i, y_i), E[b | θ, y] = Σ z_i (y_i − x_iᵀβ)/(z_iᵀ Σ z_i + σ²)
    # (Henderson's BLUP); averaged over the posterior draws it is the posterior mean of b
    data, fit = unbalanced_fit
    post = fit.idata.posterior.stack(s=("chain", "draw"))
    beta, sigma = post["beta"].values, post["sigma"].values
    sd = post["sd_id"].values
    rho = post["corr_id"].values[0]
    table = fit.random_effects("id").set_index(["level", "term"])
    for level, row in data.groupby("id").filter(lambda d: len(d) == 1).set_index("id").iterrows():
        t = row.time
        cov_bz = np.stack([sd[0] ** 2 + rho * sd[0] * sd[1] * t, rho * sd[0] * sd[1] + sd[1] ** 2 * t])
        var_y = sd[0] ** 2 + 2 * t * rho * sd[0] * sd[1] + t**2 * sd[1] ** 2 + sigma**2
        expected = (cov_bz * (row.y - beta[0] - beta[1] * t) / var_y).mean(axis=1)
        for k, term in enumerate(["(Intercept)", "time"]):
            got = table.loc[(level, term)]
            assert abs(got.estimate - expected[k]) < 0.1 * got.std_error, (level, term)


@pytest.fixture(scope="module")
def scaled_fits(sleepstudy):
    """The same model with the outcome in its units, and in units of 1e-6 and 1e6."""
    return {c: quiet_fit(lb.LMM("y ~ Days + (1 | Subject)",
                                sleepstudy.assign(y=sleepstudy.Reaction * c)), **SHORT)
            for c in (1.0, 1e-6, 1e6)}


@pytest.mark.slow  # three models to compile
@pytest.mark.parametrize("factor", [1e-6, 1e6])
def test_outcome_units_scale_the_posterior(scaled_fits, factor):
    base = scaled_fits[1.0].summary().set_index("term")
    scaled = scaled_fits[factor].summary().set_index("term")
    for term in base.index:
        # posterior mean and SD scale by the factor, within Monte Carlo error
        assert abs(scaled.loc[term, "estimate"] / factor - base.loc[term, "estimate"]) \
            < 0.3 * base.loc[term, "std_error"], term
        assert scaled.loc[term, "std_error"] / factor == pytest.approx(
            base.loc[term, "std_error"], rel=0.2), term


def test_pymc_sampler_same_structure_and_same_seed_same_draws(sleepstudy):
    model = lb.LMM("Reaction ~ Days + (1 | Subject)", sleepstudy)
    kw = {"draws": 50, "tune": 50, "chains": 2, "cores": 1, "sampler": "pymc"}
    first, again = (quiet_fit(model, random_seed=4, **kw) for _ in range(2))
    other = quiet_fit(model, random_seed=5, **kw)
    assert set(first.idata.posterior.data_vars) == {"beta", "sigma", "sd_Subject", "b_Subject"}
    assert list(first.summary().term) == ["(Intercept)", "Days", "sd__(Intercept)",
                                          "sd__Observation"]
    for name in ("beta", "sigma", "sd_Subject", "b_Subject"):
        np.testing.assert_array_equal(first.idata.posterior[name], again.idata.posterior[name])
    assert not np.array_equal(first.idata.posterior["beta"], other.idata.posterior["beta"])


def test_numpyro_same_seed_same_draws(sleepstudy):
    pytest.importorskip("numpyro", reason="numpyro and jax are an optional extra, not installed")
    model = lb.LMM("Reaction ~ Days + (1 | Subject)", sleepstudy)
    kw = {"draws": 50, "tune": 50, "chains": 2, "sampler": "numpyro", "random_seed": 4}
    np.testing.assert_array_equal(quiet_fit(model, **kw).idata.posterior["beta"],
                                  quiet_fit(model, **kw).idata.posterior["beta"])
