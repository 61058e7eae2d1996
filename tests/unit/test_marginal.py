"""The marginal likelihood (random effects integrated out) and the exact conditional draws."""

import numpy as np
import pandas as pd
import pytensor
import pytest
import xarray as xr
from scipy import stats

import lmm_bayes as lb
from lmm_bayes.marginal import (
    conditional_effects,
    level_loglik,
    level_obstacle,
    level_statistics,
    obstacle,
)
from lmm_bayes.names import correlation_matrices
from lmm_bayes.posterior import covariance_draws


@pytest.mark.parametrize("formula", ["Reaction ~ Days + (Days | Subject)",
                                     "Reaction ~ Days + (Days || Subject)",
                                     "Reaction ~ Days + (1 | Subject)"])
def test_marginal_loglik_equals_dense_multivariate_normal(sleepstudy, formula):
    """Sum over subjects of log N(y_l | X_l β, σ²I + Z_l Σ Z_lᵀ), built densely with scipy."""
    lmm = lb.LMM(formula, sleepstudy, likelihood="marginal")
    model = lmm.pymc_model
    assert "b_Subject" not in model.named_vars
    point = model.initial_point()
    rng = np.random.default_rng(1)
    values = [point[v.name] + rng.normal(scale=0.3, size=np.shape(point[v.name]))
              for v in model.value_vars]
    names = ["beta", "sd_Subject", "sigma"] + [n for n in ["corr_Subject"]
                                                if n in model.named_vars]
    outputs = model.replace_rvs_by_values([model[n] for n in names] + [model["y_marginal"]])
    beta, sd, sigma, *rest = pytensor.function(model.value_vars, outputs,
                                               on_unused_input="ignore")(*values)
    corr = correlation_matrices(rest[0], len(sd)) if len(rest) == 2 else np.eye(len(sd))
    cov = np.outer(sd, sd) * corr
    group, design = lmm.design.groups[0], lmm.design
    expected = sum(
        stats.multivariate_normal(design.X[rows] @ beta, sigma**2 * np.eye(rows.sum())
                                  + group.Z[rows] @ cov @ group.Z[rows].T).logpdf(design.y[rows])
        for rows in (group.index == level for level in range(group.n_levels)))
    assert rest[-1] == pytest.approx(expected, rel=1e-10)


def test_conditional_draws_match_the_random_intercept_blup():
    """Random intercept τ, residual σ: b_l | y ~ N(n τ² ȳ_l / (σ² + n τ²), τ²σ² / (σ² + n τ²))
    for the residuals ȳ_l of level l (Gelman & Hill 2007, eq. 12.1)."""
    data = pd.DataFrame({"y": [1.0, 3.0, 2.0, 7.0, 9.0, 8.0, 4.0], "g": list("aaabbbc")})
    design = lb.LMM("y ~ 0 + (1 | g)", data, likelihood="conditional").design
    stats_ = level_statistics(design, design.groups[0])
    tau, sigma, draws = 2.0, 1.5, 40_000
    b = conditional_effects(stats_, np.zeros((draws, 0)), np.full((draws, 1, 1), tau),
                            np.full(draws, sigma), np.random.default_rng(0))
    n = np.array([3, 3, 1])
    ybar = np.array([2.0, 8.0, 4.0])
    mean = n * tau**2 * ybar / (sigma**2 + n * tau**2)
    var = tau**2 * sigma**2 / (sigma**2 + n * tau**2)
    assert np.all(np.abs(b[:, :, 0].mean(axis=0) - mean) < 4 * np.sqrt(var / draws))
    np.testing.assert_allclose(b[:, :, 0].var(axis=0), var, rtol=0.03)


def test_auto_likelihood_and_its_limits(sleepstudy):
    assert lb.LMM("Reaction ~ Days + (Days | Subject)", sleepstudy).likelihood == "marginal"
    crossed = sleepstudy.assign(day=sleepstudy.Days.astype(str))
    model = lb.LMM("Reaction ~ 1 + (1 | Subject) + (1 | day)", crossed)
    assert (model.likelihood, model.engine().engine) == ("marginal", "blocked")  # 10 days
    assert model.engine("collapsed").sampler == "imh"                          # forced
    slopes = lb.LMM("Reaction ~ Days + (Days | Subject) + (1 | day)", crossed)
    assert (slopes.likelihood, slopes.engine().engine) == ("marginal", "blocked")
    with pytest.raises(lb.DesignError, match="likelihood='marginal' needs a Gaussian model "
                                             "whose effects integrate out"):
        lb.LMM("Reaction ~ Days + (Days | Subject) + (1 | day)", crossed, likelihood="marginal",
               priors={"Days": lb.Prior("student_t", nu=3, mu=0, sigma=10)})


def test_the_independence_sampler_is_the_default_from_a_thousand_levels():
    """Below IMH_MIN_LEVELS levels NUTS samples the marginal density, from there the
    independence sampler (engines/marginal.py's docstring)."""
    from lmm_bayes.engines.marginal import IMH_MIN_LEVELS

    def choice(levels):
        rng = np.random.default_rng(0)
        data = pd.DataFrame({"g": np.repeat(np.arange(levels), 2), "x": rng.normal(size=2 * levels)})
        data["y"] = data.x + rng.normal(size=levels)[data.g] + rng.normal(size=2 * levels)
        return lb.LMM("y ~ x + (1 | g)", data).engine()

    assert (choice(IMH_MIN_LEVELS - 1).engine, choice(IMH_MIN_LEVELS - 1).sampler) == (
        "marginal", "nutpie")
    assert (choice(IMH_MIN_LEVELS).engine, choice(IMH_MIN_LEVELS).sampler) == ("marginal", "imh")


@pytest.mark.parametrize("formula", ["Reaction ~ Days + (Days | Subject)",
                                     "Reaction ~ Days + (1 | Subject)"])
def test_level_loglik_equals_dense_multivariate_normal(sleepstudy, formula):
    """log N(y_ℓ | X_ℓβ, Z_ℓΣZ_ℓᵀ + σ²I) per draw and subject, built densely with scipy."""
    design = lb.LMM(formula, sleepstudy).design
    group = design.groups[0]
    rng = np.random.default_rng(3)
    shape, q = (2, 3), len(group.terms)
    data = {"beta": (("chain", "draw", "fixed"), rng.normal([250, 10], 5, shape + (2,))),
            "sigma": (("chain", "draw"), rng.uniform(20, 30, shape)),
            "sd_Subject": (("chain", "draw", "Subject__term"), rng.uniform(5, 25, shape + (q,)))}
    if q == 2:
        data["corr_Subject"] = (("chain", "draw", "Subject__pair"), rng.uniform(-0.8, 0.8,
                                                                              shape + (1,)))
    posterior = xr.Dataset(data, coords={"fixed": list(design.fixed_names),
                                         "Subject__term": list(group.terms)})
    loglik = level_loglik(posterior, design, chunk_elements=400)   # chunks of 2 draws
    beta = posterior["beta"].values.reshape(-1, 2)
    sigma = posterior["sigma"].values.ravel()
    cov = covariance_draws(posterior, "Subject").reshape(-1, q, q)
    assert loglik.shape == (6, group.n_levels)
    for s in range(6):
        for level in (0, 7, 17):
            rows = group.index == level
            Z = group.Z[rows]
            dense = stats.multivariate_normal(design.X[rows] @ beta[s],
                                              Z @ cov[s] @ Z.T + sigma[s] ** 2 * np.eye(rows.sum()))
            assert loglik[s, level] == pytest.approx(dense.logpdf(design.y[rows]), rel=1e-9)


def test_level_likelihood_needs_one_gaussian_factor(sleepstudy):
    crossed = lb.LMM("Reaction ~ Days + (1 | Subject) + (1 | Days)", sleepstudy)
    assert level_obstacle(crossed.design, "gaussian") == "2 grouping factors, not one"
    assert level_obstacle(crossed.design, "poisson").startswith("the poisson family")
    # any number of varying terms: the sampled marginal density stops at two
    three = lb.LMM("Reaction ~ Days + (Days + I(Days**2) | Subject)", sleepstudy).design
    assert level_obstacle(three, "gaussian") is None
    assert obstacle(three, "gaussian") == "3 varying terms, more than 2"
