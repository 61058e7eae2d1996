"""Model structure: names, dims, coords, and the log-likelihood against a hand computation."""

import numpy as np
import pytest
from scipy import stats

import lmm_bayes as lb


@pytest.fixture(scope="module")
def model(sleep_model):
    return sleep_model.pymc_model


def test_variables_and_coords_carry_real_names(model):
    assert {"beta", "sigma", "sd_Subject", "corr_Subject", "b_Subject", "y"} <= set(model.named_vars)
    assert list(model.coords["fixed"]) == ["(Intercept)", "Days"]
    assert list(model.coords["Subject__level"])[:3] == ["308", "309", "310"]
    assert list(model.coords["Subject__term"]) == ["(Intercept)", "Days"]
    assert model.named_vars_to_dims["b_Subject"] == ("Subject__level", "Subject__term")


def test_logp_and_gradient_finite_at_initial_point(model):
    point = model.initial_point()
    assert np.isfinite(model.compile_logp()(point))
    assert np.all(np.isfinite(model.compile_dlogp()(point)))


def test_likelihood_matches_hand_computation(sleep_model, model):
    """At a chosen point the observed-data log density equals the sum of normal log densities
    of y around X β + Z b[level], computed here with numpy from the data directly."""
    rng = np.random.default_rng(0)
    point = model.initial_point()
    point = {k: v + rng.normal(scale=0.3, size=np.shape(v)) for k, v in point.items()}
    outputs = model.replace_rvs_by_values([model["beta"], model["b_Subject"], model["sigma"]])
    f = model.compile_fn(outputs, inputs=model.value_vars, on_unused_input="ignore")
    beta, b, sigma = f(point)
    data = sleep_model.data
    level = {lab: k for k, lab in enumerate(model.coords["Subject__level"])}
    idx = data["Subject"].astype(str).map(level).to_numpy()
    mu = beta[0] + beta[1] * data["Days"] + b[idx, 0] + b[idx, 1] * data["Days"]
    expected = stats.norm.logpdf(data["Reaction"], mu, sigma).sum()
    loglik = model.compile_fn(model.logp(vars=[model["y"]], sum=True), on_unused_input="ignore")
    assert loglik(point) == pytest.approx(expected, rel=1e-9)


def test_uncorrelated_block_has_no_correlation_and_mixed_sd_families(sleepstudy):
    priors = {"sd_Subject__Days": lb.Prior("halfnormal", sigma=10)}
    model = lb.LMM("Reaction ~ Days + (Days || Subject)", sleepstudy, priors=priors).pymc_model
    assert "corr_Subject" not in model.named_vars
    assert {"sd_Subject_halfnormal", "sd_Subject_halfstudentt"} <= set(model.named_vars)
    assert model.named_vars_to_dims["sd_Subject"] == ("Subject__term",)


def test_no_intercept_model_samples_beta_directly(sleepstudy):
    model = lb.LMM("Reaction ~ 0 + Days + (1 | Subject)", sleepstudy).pymc_model
    assert "intercept_c" not in model.named_vars
    assert list(model.coords["fixed"]) == ["Days"]
    assert model["beta"] in model.free_RVs
