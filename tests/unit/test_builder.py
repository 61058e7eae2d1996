"""Model structure: names, dims, coords, and the log-likelihood against a hand computation."""

import numpy as np
import pytensor
import pytest
from conftest import reference_data
from scipy import stats

import lmm_bayes as lb


@pytest.fixture(scope="module")
def model(sleepstudy):
    return lb.LMM("Reaction ~ Days + (Days | Subject)", sleepstudy,
                  likelihood="conditional").pymc_model


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


@pytest.mark.parametrize("parametrization", ["non-centered", "centered"])
def test_likelihood_matches_hand_computation(sleepstudy, parametrization):
    """At a chosen point the observed-data log density equals the sum of normal log densities
    of y around X β + Z b[level], computed here with numpy from the data directly."""
    lmm = lb.LMM("Reaction ~ Days + (Days | Subject)", sleepstudy,
                 parametrization=parametrization, likelihood="conditional")
    model = lmm.pymc_model
    rng = np.random.default_rng(0)
    point = model.initial_point()
    values = [point[v.name] + rng.normal(scale=0.3, size=np.shape(point[v.name]))
              for v in model.value_vars]
    outputs = model.replace_rvs_by_values([model["beta"], model["b_Subject"], model["sigma"],
                                           model.logp(vars=[model["y"]], sum=True)])
    beta, b, sigma, loglik = pytensor.function(model.value_vars, outputs,
                                               on_unused_input="ignore")(*values)
    level = {lab: k for k, lab in enumerate(model.coords["Subject__level"])}
    idx = sleepstudy["Subject"].astype(str).map(level).to_numpy()
    days = sleepstudy["Days"].to_numpy()
    mu = beta[0] + beta[1] * days + b[idx, 0] + b[idx, 1] * days
    assert loglik == pytest.approx(stats.norm.logpdf(sleepstudy["Reaction"], mu, sigma).sum(),
                                   rel=1e-9)


def test_auto_parametrization_centres_well_informed_independent_factors():
    """penicillin: 24 rows per sample and level information ≈ 87 → centred; 6 rows per plate
    → non-centred (moment estimates worked out from lme4's variance components)."""
    data = reference_data("penicillin")
    model = lb.LMM("diameter ~ 1 + (1 | plate) + (1 | sample)", data).pymc_model
    assert model["b_sample"] in model.free_RVs
    assert "z_plate" in model.named_vars and "z_sample" not in model.named_vars


def test_uncorrelated_block_has_no_correlation_and_mixed_sd_families(sleepstudy):
    priors = {"sd_Subject__Days": lb.Prior("halfnormal", sigma=10)}
    model = lb.LMM("Reaction ~ Days + (Days || Subject)", sleepstudy, priors=priors,
                   likelihood="conditional").pymc_model
    assert "corr_Subject" not in model.named_vars
    assert {"sd_Subject_halfnormal", "sd_Subject_halfstudentt"} <= set(model.named_vars)
    assert model.named_vars_to_dims["sd_Subject"] == ("Subject__term",)


def test_no_intercept_model_samples_beta_directly(sleepstudy):
    model = lb.LMM("Reaction ~ 0 + Days + (1 | Subject)", sleepstudy,
                   likelihood="conditional").pymc_model
    assert "intercept_c" not in model.named_vars
    assert list(model.coords["fixed"]) == ["Days"]
    assert model["beta"] in model.free_RVs
