"""Population-averaged means and coefficients, and latent-scale ICCs, on hand-made
posteriors whose answers are known in closed form, by quadrature or by direct simulation."""

import numpy as np
import pytest
import xarray as xr
from scipy import integrate, special, stats

from lmm_bayes.families import get_family
from lmm_bayes.summaries import (
    icc,
    latent_residual_variance,
    marginal_effects,
    population_means,
    tidy_summary,
    variance_components,
)

NAMES = ["(Intercept)", "x"]


def posterior(beta, names, sd, corr=None, group="g", terms=("(Intercept)",), **extra):
    """One chain of draws: every argument has the draws on its first axis; plain values
    are repeated as two identical draws (an SD needs two)."""
    beta, sd = np.atleast_2d(beta), np.atleast_2d(sd)
    beta, sd = (np.repeat(a, 2, axis=0) if len(a) == 1 else a for a in (beta, sd))
    data = {"beta": (("chain", "draw", "fixed"), beta[None]),
            f"sd_{group}": (("chain", "draw", f"{group}__term"), sd[None])}
    if corr is not None:
        data[f"corr_{group}"] = (("chain", "draw", f"{group}__pair"),
                                 np.broadcast_to(corr[0, 1], (len(beta), 1))[None])
    data |= {k: (("chain", "draw"), np.broadcast_to(v, len(beta))[None])
             for k, v in extra.items()}
    coords = {"fixed": names, f"{group}__term": list(terms), f"{group}__pair": [".".join(terms)]}
    return xr.Dataset(data, coords=coords)


def covariate_rows(n=60, seed=0):
    x = np.random.default_rng(seed).normal(size=n)
    return np.column_stack([np.ones(n), x])


def test_probit_random_intercept_attenuates_by_sqrt_one_plus_tau2():
    """Φ(η + u), u ~ N(0, τ²), averages to Φ(η/√(1 + τ²)) exactly, so β_PA = β/√(1 + τ²)."""
    beta, tau = np.array([0.4, -1.2]), 1.5
    X = covariate_rows()
    table = marginal_effects(posterior(beta, NAMES, [tau]), X, {"g": X[:, :1]},
                             get_family("bernoulli", "probit"), samples=40_000)
    pa = table[table.effect == "population_averaged"].estimate.to_numpy()
    assert pa == pytest.approx(beta / np.sqrt(1 + tau**2), abs=3e-3)
    ss = table[table.effect == "subject_specific"].estimate.to_numpy()
    assert ss == pytest.approx(beta)
    assert "odds_ratio" not in table.columns


def test_logit_means_with_correlated_slopes_match_quadrature():
    """μ̄ = ∫ expit(η + u) φ(u; 0, v) du with v = zᵀΣz, by scipy quadrature."""
    beta = np.array([-0.5, 0.8])
    sd, rho = np.array([1.2, 0.6]), -0.4
    corr = np.array([[1.0, rho], [rho, 1.0]])
    post = posterior(beta, NAMES, sd, corr, terms=("(Intercept)", "x"))
    X = np.array([[1.0, -2.0], [1.0, 0.0], [1.0, 1.5], [1.0, 3.0]])
    means = population_means(post, X, {"g": X}, get_family("bernoulli"), samples=40_000)
    cov = np.outer(sd, sd) * corr
    for row, mean in zip(X, means[0, 1]):
        v = row @ cov @ row
        exact = integrate.quad(lambda u, eta=row @ beta, v=v: special.expit(eta + u)
                               * stats.norm.pdf(u, 0, np.sqrt(v)), -np.inf, np.inf)[0]
        assert mean == pytest.approx(exact, abs=2e-3)


def test_log_link_raises_the_intercept_by_half_the_variance():
    """E[exp(η + u)] = exp(η + τ²/2): β_PA = (β0 + τ²/2, β1), rate ratios exp(β)."""
    beta, tau = np.array([1.0, 0.3]), 0.8
    X = covariate_rows()
    table = marginal_effects(posterior(beta, NAMES, [tau]), X, {"g": X[:, :1]},
                             get_family("poisson"))
    pa = table[table.effect == "population_averaged"]
    assert pa.estimate.to_numpy() == pytest.approx([1.0 + tau**2 / 2, 0.3])
    assert pa.rate_ratio.to_numpy() == pytest.approx(np.exp([1.0 + tau**2 / 2, 0.3]))


def test_identity_link_population_averaged_equals_subject_specific():
    draws = np.array([[1.0, 2.0], [1.5, 2.5]])
    X = covariate_rows()
    table = marginal_effects(posterior(draws, NAMES, [[1.0], [2.0]], sigma=[1.0, 1.0]), X,
                             {"g": X[:, :1]}, get_family("gaussian"))
    ss, pa = (table[table.effect == e].estimate.to_numpy()
              for e in ("subject_specific", "population_averaged"))
    assert pa == pytest.approx(ss) and ss == pytest.approx([1.25, 2.25])


def test_population_averaged_coefficients_match_a_direct_simulation_of_the_marginal_model():
    """Simulate 100 000 subjects from a logistic GLMM with correlated random intercepts and
    slopes in time, four visits each; with time as a factor the marginal logistic model is
    saturated, so its maximum-likelihood coefficients are the logit differences of the
    observed proportions by visit. β_PA from the posterior at the true values must agree,
    and differ clearly from the subject-specific β."""
    rng = np.random.default_rng(5)
    time = np.arange(4.0)
    X = np.column_stack([np.ones(4), np.eye(4)[:, 1:]])              # (Intercept), t1, t2, t3
    Z = np.column_stack([np.ones(4), time])
    beta = np.array([-1.0, 0.6, 1.1, 1.5])
    sd, rho = np.array([1.6, 0.5]), 0.3
    cov = np.outer(sd, sd) * np.array([[1.0, rho], [rho, 1.0]])
    b = rng.multivariate_normal(np.zeros(2), cov, size=100_000)
    y = rng.random((100_000, 4)) < special.expit(X @ beta + b @ Z.T)
    logit = special.logit(y.mean(axis=0))
    direct = np.concatenate([[logit[0]], logit[1:] - logit[0]])
    post = posterior(beta, ["(Intercept)", "t1", "t2", "t3"], sd,
                     np.array([[1.0, rho], [rho, 1.0]]), terms=("(Intercept)", "time"))
    rows = np.repeat(np.arange(4), [50, 30, 20, 10])                 # unbalanced visits
    table = marginal_effects(post, X[rows], {"g": Z[rows]}, get_family("bernoulli"),
                             samples=40_000)
    pa = table[table.effect == "population_averaged"].estimate.to_numpy()
    assert pa == pytest.approx(direct, abs=0.03)                     # ≈ 4 simulation SEs
    assert np.abs(pa - beta).max() > 0.2
    assert table.odds_ratio_low.to_numpy() == pytest.approx(np.exp(table.conf_low))


def test_latent_icc_by_link():
    """τ²/(τ² + π²/3) (logit), τ²/(τ² + 1) (probit), τ²/(τ² + π²/6) (cloglog)."""
    tau = 0.9
    post = posterior([0.0, 0.0], NAMES, [tau])
    groups = {"g": ("(Intercept)",)}
    for link, residual in [("logit", np.pi**2 / 3), ("probit", 1.0), ("cloglog", np.pi**2 / 6)]:
        fn = latent_residual_variance(get_family("bernoulli", link), post)
        row = icc(post, groups, residual=fn).iloc[0]
        assert row.estimate == pytest.approx(tau**2 / (tau**2 + residual))


def test_latent_icc_for_counts_uses_the_log_normal_approximation():
    """Poisson: σ²_ε = ln(1 + 1/λ), λ = exp(β̄0 + τ²/2); negative binomial adds 1/α."""
    tau, b0, alpha = 0.7, 1.2, 3.0
    post = posterior([b0, 0.0], NAMES, [tau], alpha=alpha)
    groups = {"g": ("(Intercept)",)}
    lam = np.exp(b0 + tau**2 / 2)
    fixed = np.full((1, 2), b0)
    pois = icc(post, groups, residual=latent_residual_variance(get_family("poisson"), post,
                                                                fixed)).estimate[0]
    assert pois == pytest.approx(tau**2 / (tau**2 + np.log(1 + 1 / lam)))
    nb = icc(post, groups, residual=latent_residual_variance(get_family("negbinomial"), post,
                                                              fixed)).estimate[0]
    assert nb == pytest.approx(tau**2 / (tau**2 + np.log(1 + 1 / lam + 1 / alpha)))
    with pytest.raises(ValueError, match="needs the fixed part"):
        latent_residual_variance(get_family("poisson"), post)


def test_summary_rows_of_a_negative_binomial_posterior():
    """No residual SD row; the dispersion α as ("ran_pars", "Residual", "alpha")."""
    post = posterior([1.0, 0.5], NAMES, [0.7], alpha=[2.0, 4.0])
    table = tidy_summary(post, {"g": ("(Intercept)",)})
    assert table[["effect", "group", "term"]].values.tolist()[-1] == ["ran_pars", "Residual",
                                                                      "alpha"]
    assert table.estimate.iloc[-1] == pytest.approx(3.0)
    assert "sd__Observation" not in set(table.term)
    assert variance_components(post, {"g": ("(Intercept)",)}).group.unique().tolist() == ["g"]
