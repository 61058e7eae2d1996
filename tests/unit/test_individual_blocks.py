"""The individual-blocks algebra (one grouping factor, structured residuals) against dense
linear algebra.

Each check is independent of the per-level factorisations of
:mod:`lmm_bayes.individual_blocks`: scipy's dense multivariate normal of y with covariance
X S Xᵀ + Z Σ Zᵀ + R (n × n, R built from the data's times), central finite differences, the
dense Gaussian conditional of (β, b) given y, scipy's prior densities, and the PyMC graph's
log prior of the residual parameters.
"""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

import lmm_bayes as lb
from lmm_bayes import names
from lmm_bayes.builder import build_model
from lmm_bayes.engines import base, blocked
from lmm_bayes.individual_blocks import IndividualBlocks, obstacle
from lmm_bayes.priors import INTERCEPT


def _simulated(seed=0, levels=5):
    """Levels g of 5–8 rows, each of two serial individuals (id) with irregular times and
    whole-number visits, a covariate x and an arm for the sigma formula."""
    rng = np.random.default_rng(seed)
    rows = []
    for g in range(levels):
        arm = "AB"[g % 2]
        for half in range(2):
            n = int(rng.integers(2, 5))
            visits = np.sort(rng.choice(8, n, replace=False))
            times = np.sort(rng.uniform(0, 6, n))
            for v, t in zip(visits, times):
                rows.append({"g": f"g{g}", "id": f"g{g}i{half}", "visit": int(v),
                             "time": t, "arm": arm, "x": rng.normal()})
    data = pd.DataFrame(rows).sample(frac=1.0, random_state=seed).reset_index(drop=True)
    level = data.g.str[1:].astype(int).to_numpy()
    data["y"] = (1.0 + 0.5 * data.x + rng.normal(size=levels)[level]
                 + 0.3 * rng.normal(size=levels)[level] * data.time
                 + rng.normal(size=len(data)) * np.where(data.arm == "A", 0.5, 1.0))
    return data


DATA = _simulated()

CASES = {
    "ar1 intercept": {"formula": "y ~ x + (1 | g)", "residual": "ar1(visit | id)",
                      "time": "visit", "individual": "id"},
    "car1 slope": {"formula": "y ~ x + time + (time | g)", "residual": "car1(time | g)",
                   "time": "time", "individual": "g"},
    "sigma formula": {"formula": "y ~ x + (1 | g)", "sigma": "~ arm + x"},
    "sigma and car1": {"formula": "y ~ x + (1 + time || g)", "residual": "car1(time | id)",
                       "sigma": "~ arm", "time": "time", "individual": "id"},
    "plain sigma": {"formula": "y ~ x + (1 | g)"},
    "no fixed effects": {"formula": "y ~ 0 + (1 | g)", "residual": "car1(time | id)",
                         "time": "time", "individual": "id"},
}


def _model(case, priors=None):
    spec = CASES[case]
    return lb.LMM(spec["formula"], DATA, residual=spec.get("residual"),
                  sigma=spec.get("sigma"), priors=priors, likelihood="conditional")


def _algebra(case, priors=None):
    model = _model(case, priors)
    return model, IndividualBlocks(model.design, model.priors, model.residuals)


def _point(model, seed=1):
    """A random covariance Σ (q × q) and residual parameters ρ."""
    rng = np.random.default_rng(seed)
    q = len(model.design.groups[0].terms)
    root = rng.normal(size=(q, q)) * 0.5 + np.eye(q)
    sigma = root @ root.T * 0.6
    k = len(model.residuals.sigma.names) if model.residuals and model.residuals.sigma else 1
    has_phi = model.residuals is not None and model.residuals.serial is not None
    rho = np.concatenate([rng.normal(scale=0.3, size=k), rng.normal(scale=0.8, size=int(has_phi))])
    return sigma, rho


def _phi(model, rho):
    structure = model.residuals.serial.spec.structure
    low = -1.0 if structure.signed else 0.0
    return low + (1.0 - low) * special.expit(rho[-1])


def _dense(case, model, sigma, rho):
    """Everything of the model as dense matrices: centred X with the prior mean and
    covariance of (α, β₁), Z over all levels with the block-diagonal covariance of b, and R."""
    design, priors, residuals = model.design, model.priors, model.residuals
    X = design.X.copy()
    intercept = INTERCEPT in design.fixed_names          # the first column when there
    xbar = X[:, 1:].mean(axis=0) if intercept else np.zeros(0)
    X[:, 1:] -= xbar
    coefficients = [priors.intercept if n == INTERCEPT else priors.fixed[n]
                    for n in design.fixed_names]
    m = np.array([c.kwargs["mu"] for c in coefficients])
    S = np.diag([c.kwargs["sigma"] ** 2 for c in coefficients])
    group = design.groups[0]
    L, q = group.n_levels, len(group.terms)
    Z = np.zeros((design.n_obs, L * q))
    for k in range(q):
        Z[np.arange(design.n_obs), group.index * q + k] = group.Z[:, k]
    cov_b = np.kron(np.eye(L), sigma)
    if residuals is not None and residuals.sigma is not None:
        Xs = residuals.sigma.X
        gamma = rho[:Xs.shape[1]].copy()
        gamma[0] -= Xs[:, 1:].mean(axis=0) @ gamma[1:]      # the user's intercept
        sd = np.exp(Xs @ gamma)
    else:
        sd = np.full(design.n_obs, np.exp(rho[0]))
    C = np.eye(design.n_obs)
    if residuals is not None and residuals.serial is not None:
        spec = CASES[case]
        used = DATA.iloc[design.rows]
        t = used[spec["time"]].to_numpy(float)
        same = used[spec["individual"]].to_numpy()[:, None] == used[spec["individual"]].to_numpy()
        lag = np.abs(t[:, None] - t[None, :])
        phi = _phi(model, rho)
        C = np.where(same, np.sign(phi) ** np.round(lag) * np.abs(phi) ** lag, 0.0)
    R = sd[:, None] * C * sd[None, :]
    return X, xbar, m, S, Z, cov_b, R


@pytest.mark.parametrize("case", CASES)
def test_log_likelihood_equals_the_dense_normal(case):
    model, algebra = _algebra(case)
    for seed in (1, 2):                                  # φ > 0, then φ < 0 for ar1
        sigma, rho = _point(model, seed)
        X, _, m, S, Z, cov_b, R = _dense(case, model, sigma, rho)
        expected = stats.multivariate_normal(X @ m, X @ S @ X.T + Z @ cov_b @ Z.T + R).logpdf(
            model.design.y)
        value, _, _ = algebra.log_likelihood([sigma], rho)
        assert value == pytest.approx(expected, rel=1e-8)


def test_log_likelihood_is_minus_infinity_off_the_positive_definite():
    model, algebra = _algebra("sigma and car1")
    sigma, rho = _point(model)
    for bad_sigma, bad_rho in [(-50.0 * sigma, rho), (sigma, rho + [800.0, 0.0, 0.0])]:
        value, (G,), d_rho = algebra.log_likelihood([bad_sigma], bad_rho)
        assert value == -np.inf
        assert not G.any() and not d_rho.any() and G.shape == sigma.shape


@pytest.mark.parametrize("case", CASES)
def test_gradient_equals_finite_differences(case):
    """At a random point and at the start (φ = 0 for ar1)."""
    model, algebra = _algebra(case)
    sigma, rho = _point(model, seed=2)
    rng = np.random.default_rng(3)
    step = 1e-5
    for at in (rho, algebra.residual_start()):
        _, (G,), d_rho = algebra.log_likelihood([sigma], at)
        np.testing.assert_allclose(G, G.T)
        for _ in range(3):
            D = rng.normal(size=sigma.shape)
            D = D + D.T
            difference = (algebra.log_likelihood([sigma + step * D], at)[0]
                          - algebra.log_likelihood([sigma - step * D], at)[0]) / (2 * step)
            assert np.sum(G * D) == pytest.approx(difference, rel=1e-5, abs=1e-7)
        for j, unit in enumerate(np.eye(len(at))):
            difference = (algebra.log_likelihood([sigma], at + step * unit)[0]
                          - algebra.log_likelihood([sigma], at - step * unit)[0]) / (2 * step)
            assert d_rho[j] == pytest.approx(difference, rel=1e-5, abs=1e-7)


def test_threads_give_the_same_answers():
    """Chains call the algebra from several threads at once."""
    model, algebra = _algebra("car1 slope")
    points = [_point(model, seed) for seed in range(8)]
    alone = [algebra.log_likelihood([sigma], rho) for sigma, rho in points]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda point: algebra.log_likelihood([point[0]], point[1]),
                                 points * 4))
    for (value, (G,), d_rho), (expected, (G0,), d_rho0) in zip(together, alone * 4):
        assert value == pytest.approx(expected, rel=1e-12)
        np.testing.assert_allclose(G, G0, rtol=1e-10)
        np.testing.assert_allclose(d_rho, d_rho0, rtol=1e-10)


@pytest.mark.parametrize("case", CASES)
def test_draws_follow_the_dense_conditional(case):
    """A draw is linear in the normals: with normals 0 it is the posterior mean, and its
    change per unit normal gives the columns of a square root of the covariance."""
    model, algebra = _algebra(case)
    sigma, rho = _point(model, seed=4)
    X, xbar, m, S, Z, cov_b, R = _dense(case, model, sigma, rho)
    W = np.hstack([X, Z])
    prior_precision = np.linalg.inv(np.block([[S, np.zeros((len(S), len(cov_b)))],
                                              [np.zeros((len(cov_b), len(S))), cov_b]]))
    R_inv = np.linalg.inv(R)
    covariance = np.linalg.inv(prior_precision + W.T @ R_inv @ W)
    prior_mean = np.concatenate([m, np.zeros(len(cov_b))])
    mean = covariance @ (prior_precision @ prior_mean + W.T @ R_inv @ model.design.y)
    T = np.eye(len(mean))                                # (α, β₁) → (β₀, β₁)
    T[0, 1:len(m)] = -xbar
    mean, covariance = T @ mean, T @ covariance @ T.T

    def flat(normals):
        beta, (b,) = algebra.draw([sigma], rho, normals)
        assert b.shape == (model.design.groups[0].n_levels, sigma.shape[0])
        return np.concatenate([beta, b.ravel()])

    assert algebra.n_normals == len(mean)
    centre = flat(np.zeros(algebra.n_normals))
    np.testing.assert_allclose(centre, mean, rtol=1e-8, atol=1e-10)
    root = np.column_stack([flat(unit) - centre for unit in np.eye(algebra.n_normals)])
    np.testing.assert_allclose(root @ root.T, covariance, rtol=1e-7, atol=1e-10)


PRIORS = {"sigma": lb.Prior("exponential", lam=2.0), "phi": lb.Prior("beta", alpha=2.0, beta=3.0),
          "sigma_armB": lb.Prior("student_t", nu=4.0, mu=0.2, sigma=0.7)}


@pytest.mark.parametrize("case", CASES)
def test_residual_prior_is_scipy_with_the_jacobian(case):
    model = _model(case)
    keys = {"sigma": model.priors.sigma is not None, "phi": model.priors.phi is not None,
            "sigma_armB": "armB" in model.priors.sigma_fixed}
    model, algebra = _algebra(case, {k: p for k, p in PRIORS.items() if keys[k]})
    priors = model.priors
    _, rho = _point(model, seed=5)
    expected = 0.0
    if priors.sigma is not None:
        expected += stats.expon(scale=0.5).logpdf(np.exp(rho[0])) + rho[0]
    else:
        sigma_names = model.residuals.sigma.names
        coefficient = [priors.sigma_intercept] + [priors.sigma_fixed[n] for n in sigma_names[1:]]
        for value, prior in zip(rho, coefficient):
            kw = prior.kwargs
            expected += (stats.t(kw["nu"], kw["mu"], kw["sigma"]).logpdf(value)
                         if prior.dist == "student_t"
                         else stats.norm(kw["mu"], kw["sigma"]).logpdf(value))
    if priors.phi is not None:
        u = special.expit(rho[-1])
        expected += stats.beta(2.0, 3.0).logpdf(u) + np.log(u * (1 - u))
    value, gradient = algebra.residual_prior(rho)
    assert value == pytest.approx(expected, rel=1e-10)
    step = 1e-6
    for j, unit in enumerate(np.eye(len(rho))):
        difference = (algebra.residual_prior(rho + step * unit)[0]
                      - algebra.residual_prior(rho - step * unit)[0]) / (2 * step)
        assert gradient[j] == pytest.approx(difference, rel=1e-6, abs=1e-8)
    assert len(algebra.residual_start()) == algebra.n_residual == len(rho)


@pytest.mark.parametrize("case", ["ar1 intercept", "sigma and car1", "plain sigma"])
def test_residual_parameters_are_the_pymc_graphs(case):
    """ρ is the PyMC graph's unconstrained residual parameters: the same log prior (with
    the transforms' Jacobians), and the same public variables, dims and coords."""
    model, algebra = _algebra(case)
    _, rho = _point(model, seed=6)
    graph = build_model(model.design, model.priors, residuals=model.residuals)
    free = {v.name: v for v in graph.free_RVs}
    order = ([n for n in ("sigma_intercept_c", "sigma_beta_slopes", "sigma") if n in free]
             + [n for n in ("phi_unit", "phi") if n in free])
    values = [graph.rvs_to_values[free[n]] for n in order]
    point = graph.initial_point()
    at = 0
    for value in values:
        size = int(np.prod(point[value.name].shape))
        point[value.name] = rho[at:at + size].reshape(point[value.name].shape)
        at += size
    log_prior = graph.compile_fn(graph.logp(vars=[free[n] for n in order], jacobian=True),
                                 inputs=values, on_unused_input="ignore")
    expected = float(log_prior({v.name: point[v.name] for v in values}))
    # PyTensor's normalising constants agree with scipy's to about 1e-8
    assert algebra.residual_prior(rho)[0] == pytest.approx(expected, rel=1e-7)

    variables, coords = algebra.residual_variables(np.stack([rho, rho + 0.1]))
    public = [n for n in names.SCALARS if n in graph.named_vars]
    assert list(variables) == public
    deterministic = graph.compile_fn(graph.replace_rvs_by_values([graph[n] for n in public]),
                                     inputs=values,
                                     on_unused_input="ignore")
    for name, found in zip(public, deterministic({v.name: point[v.name] for v in values})):
        array, dims = variables[name]
        assert dims == tuple(graph.named_vars_to_dims.get(name, ()))
        np.testing.assert_allclose(array[0], found, rtol=1e-12)
        for dim in dims:
            assert coords[dim] == list(graph.coords[dim])


def test_obstacle_says_why():
    crossed = lb.LMM("y ~ x + (1 | g) + (1 | arm)", DATA)
    assert obstacle(crossed.design, crossed.priors, "gaussian", None) == (
        "2 grouping factors, not one")
    counts = DATA.assign(y=np.arange(len(DATA)) % 4)
    poisson = lb.LMM("y ~ x + (1 | g)", counts, family="poisson")
    assert obstacle(poisson.design, poisson.priors, "poisson", None).startswith("the poisson family")
    split = lb.LMM("y ~ x + (1 | gr(g, by = arm))", DATA)
    assert obstacle(split.design, split.priors, "gaussian", None) == (
        "the gr(..., by = ...) factor g:armA")
    spans = lb.LMM("y ~ x + (1 | id)", DATA, residual="car1(time | g)")
    assert obstacle(spans.design, spans.priors, "gaussian", spans.residuals) == (
        "serial individuals spanning several levels of id")
    for case in CASES:
        model = _model(case)
        assert obstacle(model.design, model.priors, "gaussian", model.residuals) is None


def _theta(model, algebra, seed=7):
    """A point θ = (the factor's covariance coordinates, ρ) and the target's covariances."""
    target = blocked.ENGINE.build(base.Problem(model.design, model.priors,
                                               residuals=model.residuals))
    rng = np.random.default_rng(seed)
    x = target.mode + rng.normal(scale=0.2, size=target.n_dim)
    assert algebra.n_dim == target.n_dim
    return target, x


@pytest.mark.parametrize("case", CASES)
def test_compiled_log_posterior_is_prior_plus_likelihood(case):
    """The compiled θ-density against its parts (the covariance's prior, the residual
    prior, the likelihood), and its gradient against finite differences of itself."""
    model, algebra = _algebra(case)
    target, x = _theta(model, algebra)
    parts, rho = target.split(x)
    sigmas = [c.covariance(p) for c, p in zip(target.covariances, parts)]
    expected = (algebra.log_likelihood(sigmas, rho)[0] + algebra.residual_prior(rho)[0]
                + sum(c.log_prior(p)[0] for c, p in zip(target.covariances, parts)))
    value, gradient = algebra.log_posterior(x)
    np.testing.assert_allclose(value, expected, rtol=1e-10)
    assert algebra.log_posterior(x, gradient=False)[0] == pytest.approx(value, rel=1e-12)
    h = 1e-6
    numeric = [(algebra.log_posterior(x + h * e)[0] - algebra.log_posterior(x - h * e)[0])
               / (2 * h) for e in np.eye(len(x))]
    np.testing.assert_allclose(gradient, numeric, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(target.value_and_gradient(target.mode)[1], 0, atol=1e-3)


@pytest.mark.parametrize("case", ["ar1 intercept", "car1 slope", "no fixed effects"])
def test_batched_draws_and_densities_are_the_single_ones(case):
    """effect_draws equals draw for the same normals; the target's batched densities equal
    the compiled log posterior."""
    model, algebra = _algebra(case)
    target, x = _theta(model, algebra)
    rng = np.random.default_rng(8)
    thetas = x + rng.normal(scale=0.1, size=(4, len(x)))
    normals = rng.standard_normal((4, algebra.n_normals))
    beta, (b,) = algebra.effect_draws(thetas, normals)
    assert beta.shape == (4, len(model.design.fixed_names))
    assert b.shape == (4, model.design.groups[0].n_levels, len(model.design.groups[0].terms))
    for i, theta in enumerate(thetas):
        one_beta, (one_b,) = algebra.draw(target.sigmas(theta), target.split(theta)[1],
                                          normals[i])
        np.testing.assert_allclose(beta[i], one_beta, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(b[i], one_b, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(target.log_densities(thetas, cores=2),
                               [algebra.log_posterior(t)[0] for t in thetas], rtol=1e-12)
