"""The GLMM engine end to end (short sampling): the public posterior of each of its two
cases, what a fit's methods read from it, and the options that choose between them."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import special

import lmm_bayes as lb

DRAWS = {"draws": 300, "tune": 300, "chains": 2, "random_seed": 3}


def _counts(seed=2):
    """30 levels × 8 rows of overdispersed counts, and a crossed 6-level factor."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(30), 8)
    h = np.tile(np.arange(6), 40)
    x = rng.normal(size=len(g))
    eta = 1.0 + 0.4 * x + rng.normal(0, 0.6, 30)[g] + rng.normal(0, 0.3, 6)[h]
    y = rng.poisson(rng.gamma(3.0, np.exp(eta) / 3.0))
    binary = (rng.random(len(g)) < special.expit(eta - 1.0)).astype(float)
    return pd.DataFrame({"y": y, "b": binary, "x": x, "g": g.astype(str), "h": h.astype(str)})


def _fit(formula, family, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lb.SamplingWarning)
        return lb.fit(formula, _counts(), family=family, **DRAWS, **options)


@pytest.fixture(scope="module")
def quadrature_fit():
    return _fit("y ~ x + (1 | g)", "negbinomial")


@pytest.fixture(scope="module")
def joint_fit():
    return _fit("b ~ x + (1 | g) + (1 | h)", "bernoulli")


def test_one_factor_is_integrated_out_and_completed(quadrature_fit):
    fit = quadrature_fit
    assert fit.engine[0] == "glmm" and "quadrature" in fit.engine[1]
    assert fit.idata.sample_stats.attrs["sampler"] == "independence Metropolis-Hastings"
    post = fit.idata.posterior
    assert set(post.data_vars) == {"beta", "alpha", "sd_g", "b_g"}
    assert post["b_g"].shape == (2, 300, 30, 1)
    assert np.isfinite(post["b_g"]).all() and float(post["b_g"].std()) > 0.1
    alpha = float(post["alpha"].mean())
    assert 1.0 < alpha < 10.0             # the gamma mixing's shape is 3
    table = fit.ranef("g")
    assert len(table) == 30 and table.estimate.std() > 0.1
    assert len(fit.predict()) == 240


def test_effects_track_the_levels_data(quadrature_fit):
    """Each level's posterior mean effect follows its mean log count."""
    data = _counts()
    observed = np.log(data.groupby("g")["y"].mean() + 0.5)
    table = quadrature_fit.ranef("g").set_index("level")
    assert np.corrcoef(table.loc[observed.index, "estimate"], observed)[0, 1] > 0.9


def test_several_factors_sample_the_full_model(joint_fit):
    fit = joint_fit
    assert fit.engine[0] == "glmm" and "full model" in fit.engine[1]
    post = fit.idata.posterior
    assert set(post.data_vars) == {"beta", "sd_g", "sd_h", "b_g", "b_h"}
    assert post["b_h"].shape == (2, 300, 6, 1)
    assert list(post["b_g"].coords["g__level"].values[:2]) == ["0", "1"]
    assert len(fit.idata.sample_stats.attrs["centred"]) == 2
    assert fit.summary().r_hat.max() < 1.1


def test_the_conditional_likelihood_samples_one_factor_in_full():
    model = lb.LMM("y ~ x + (1 | g)", _counts(), family="poisson", likelihood="conditional")
    assert "full model" in model.engine().reason


def test_the_full_model_has_no_independence_sampler():
    model = lb.LMM("b ~ x + (1 | g) + (1 | h)", _counts(), family="bernoulli")
    with pytest.raises(lb.SamplingError, match="imh"):
        model.fit(draws=10, tune=10, chains=1, sampler="imh", engine="glmm")
