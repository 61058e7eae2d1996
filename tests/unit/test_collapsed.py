"""The collapsed model (every effect integrated out) against dense linear algebra.

Each check is independent of the Schur complement and the sparse products of
:mod:`lmm_bayes.collapsed`: scipy's dense multivariate normal of y with covariance
σ²I + Σ τ_k² Z_k Z_kᵀ + X S_β Xᵀ, finite differences, and the dense posterior of all effects.
"""

import numpy as np
import pytest
from conftest import crossed_data
from scipy import stats

import lmm_bayes as lb
from lmm_bayes import collapsed

PRIOR_SETS = {
    "default": {},
    "other families": {"sd_a": lb.Prior("halfnormal", sigma=3.0),
                       "sd_b": lb.Prior("exponential", lam=0.5),
                       "sigma": lb.Prior("halfcauchy", beta=2.0),
                       "x": lb.Prior("normal", mu=1.0, sigma=0.7)},
}


def _log_prior(prior, value):
    kw = prior.kwargs
    return {"halfstudentt": lambda: stats.t(kw.get("nu"), 0, kw.get("sigma")).logpdf(value),
            "halfnormal": lambda: stats.norm(0, kw.get("sigma")).logpdf(value),
            "halfcauchy": lambda: stats.cauchy(0, kw.get("beta")).logpdf(value),
            "exponential": lambda: stats.expon(scale=1 / kw.get("lam", 1)).logpdf(value),
            }[prior.dist]()


def dense_log_posterior(model, x):
    """log p(x | y) with every effect integrated out by brute force (n × n covariance)."""
    design, priors = model.design, model.priors
    X = design.X.copy()
    X[:, 1:] -= X[:, 1:].mean(axis=0)                    # priors on the centred columns
    names = design.fixed_names
    coef = [priors.intercept] + [priors.fixed[n] for n in names[1:]]
    mean = np.array([p.kwargs["mu"] for p in coef])
    var = np.array([p.kwargs["sigma"] ** 2 for p in coef])
    Z = [np.eye(g.n_levels)[g.index] for g in design.groups]
    tau, sigma = np.exp(x[:-1]), np.exp(x[-1])
    cov = (sigma**2 * np.eye(design.n_obs) + sum(t**2 * z @ z.T for t, z in zip(tau, Z))
           + X @ np.diag(var) @ X.T)
    value = stats.multivariate_normal(X @ mean, cov).logpdf(design.y)
    scales = [priors.sd[g.name]["(Intercept)"] for g in design.groups] + [priors.sigma]
    return value + sum(_log_prior(p, v) + np.log(v) for p, v in zip(scales, np.exp(x)))


@pytest.fixture(scope="module", params=[False, True], ids=["crossed", "nested"])
def data(request):
    return crossed_data(nested=request.param)


@pytest.mark.parametrize("prior_set", PRIOR_SETS)
def test_log_density_differences_match_the_dense_normal(data, prior_set):
    model = lb.LMM("y ~ x + arm + (1 | a) + (1 | b)", data, priors=PRIOR_SETS[prior_set],
                   likelihood="marginal")
    density = model.target("collapsed")
    points = density.mode + np.array([[0.0, 0, 0], [0.4, -0.3, 0.2], [-0.5, 0.6, -0.1]])
    ours = [density.log_density(p) for p in points]
    dense = [dense_log_posterior(model, p) for p in points]
    np.testing.assert_allclose(np.diff(ours), np.diff(dense), rtol=1e-9, atol=1e-8)


def test_gradient_matches_finite_differences(data):
    model = lb.LMM("y ~ x + arm + (1 | a) + (1 | b)", data, likelihood="marginal")
    density = model.target("collapsed")
    for point in (density.mode + [0.3, -0.4, 0.2], density.mode - [0.5, 0.1, 0.3]):
        step = 1e-5
        numeric = [(density.log_density(point + step * e) - density.log_density(point - step * e))
                   / (2 * step) for e in np.eye(3)]
        np.testing.assert_allclose(density.gradient(point), numeric, rtol=1e-5, atol=1e-5)


def test_mode_and_laplace_covariance():
    model = lb.LMM("y ~ x + arm + (1 | a) + (1 | b)", crossed_data(seed=3),
                   likelihood="marginal")
    density = model.target("collapsed")
    np.testing.assert_allclose(density.gradient(density.mode), 0, atol=1e-3)
    # the Hessian from second differences of the density itself (not of its gradient)
    h, f = 1e-3, density.log_density
    eye = np.eye(3) * h
    hessian = np.array([[(f(density.mode + a + b) - f(density.mode + a - b)
                          - f(density.mode - a + b) + f(density.mode - a - b)) / (4 * h * h)
                         for b in eye] for a in eye])
    np.testing.assert_allclose(density.covariance, np.linalg.inv(-hessian), rtol=1e-3)


def test_effect_draws_have_the_dense_conditional_moments(data):
    """b | θ, y ~ N(C⁻¹h, C⁻¹) with C = WᵀW/σ² + P⁻¹ on the data's scale: every factor's
    effects and β (intercept back on the uncentred columns)."""
    model = lb.LMM("y ~ x + arm + (1 | a) + (1 | b)", data, likelihood="marginal")
    density, design, priors = model.target("collapsed"), model.design, model.priors
    x = density.mode + np.array([0.2, -0.1, 0.1])
    rng = np.random.default_rng(5)
    draws = rng.standard_normal((6000, density.n_effects))
    work = density.workspace()
    for row in draws:
        density.draw(x, row, work)
    random, beta = density.effects(draws)
    # dense posterior on the uncentred coefficients: the prior is on the centred intercept
    X, xbar = design.X, design.X[:, 1:].mean(axis=0)
    A = np.eye(X.shape[1])
    A[0, 1:] = xbar                                      # α = β₀ + x̄ᵀβ₁
    coef = [priors.intercept] + [priors.fixed[n] for n in design.fixed_names[1:]]
    prior_prec = A.T @ np.diag([1 / p.kwargs["sigma"] ** 2 for p in coef]) @ A
    prior_mean = np.linalg.solve(A, [p.kwargs["mu"] for p in coef])
    W = np.hstack([np.eye(g.n_levels)[g.index] for g in design.groups] + [X])
    tau, sigma = np.exp(x[:-1]), np.exp(x[-1])
    P_inv = np.zeros((W.shape[1],) * 2)
    sizes = [g.n_levels for g in design.groups]
    P_inv[:sum(sizes), :sum(sizes)] = np.diag(np.repeat(1 / tau**2, sizes))
    P_inv[sum(sizes):, sum(sizes):] = prior_prec
    C = W.T @ W / sigma**2 + P_inv
    h = W.T @ design.y / sigma**2 + P_inv[:, sum(sizes):] @ prior_mean
    cov = np.linalg.inv(C)
    mean = cov @ h
    ours = np.hstack([random["a"], random["b"], beta])
    se = np.sqrt(np.diag(cov) / len(draws))
    assert np.all(np.abs(ours.mean(axis=0) - mean) < 4.5 * se)
    np.testing.assert_allclose(np.cov(ours.T), cov, atol=0.06 * np.sqrt(
        np.outer(np.diag(cov), np.diag(cov))).max())
    np.testing.assert_allclose(np.var(ours, axis=0), np.diag(cov), rtol=0.08)


def test_which_models_are_collapsed(data):
    def applies(formula, **kw):
        model = lb.LMM(formula, data, **kw)
        return collapsed.obstacle(model.design, model.priors, model.spec.family,
                                  model.residuals) is None

    assert applies("y ~ x + (1 | a) + (1 | b)")
    assert not applies("y ~ x + (1 | a)")                      # one factor: lmm_bayes.kernel
    assert not applies("y ~ x + (x | a) + (1 | b)")            # a random slope
    assert not applies("y ~ x + (1 | a) + (1 | b)", sigma="~ arm")
    assert not applies("y ~ x + (1 | a) + (1 | b)",
                       priors={"x": lb.Prior("student_t", nu=3, mu=0, sigma=1)})
    binary = data.assign(y=(data.y > data.y.median()).astype(int))
    model = lb.LMM("y ~ x + (1 | a) + (1 | b)", binary, family="bernoulli")
    assert collapsed.obstacle(model.design, model.priors, "bernoulli", None).startswith(
        "the bernoulli family")


def test_auto_collapses_only_factors_with_many_levels():
    few = lb.LMM("y ~ x + (1 | a) + (1 | b)", crossed_data())            # 12 × 8 levels
    many = lb.LMM("y ~ x + (1 | a) + (1 | b)", crossed_data(rows=(30, 20), reps=1))
    assert (few.engine().engine, few.likelihood, few.engine().sampler) == (
        "blocked", "marginal", "nutpie")
    assert (many.engine().engine, many.likelihood, many.engine().sampler) == (
        "collapsed", "marginal", "imh")
    assert many.engine("auto", "nutpie").engine == "blocked"   # NUTS on the same θ
    assert few.engine("auto", "imh").engine == "blocked"       # forced: k̂ checks it
    assert "b_a" in many.pymc_model.named_vars                  # the plain path samples b
