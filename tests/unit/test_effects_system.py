"""The blocked random-effects system (:mod:`lmm_bayes.effects_system`) and the covariance
coordinates (:mod:`lmm_bayes.covariance`) against dense linear algebra.

Every reference here is built without the Schur complement: the n × n covariance of y,
X S_β Xᵀ + Z Σ Zᵀ + σ²I with Z the dense (n × Σ_k L_k q_k) effects matrix, scipy's
multivariate normal, finite differences, and the dense joint conditional of all effects.
"""

import numpy as np
import pandas as pd
import pytest
from conftest import central_differences
from scipy import stats
from scipy.linalg import block_diag

import lmm_bayes as lb
from lmm_bayes.covariance import FactorCovariance, factor_covariances
from lmm_bayes.effects_system import EffectsSystem
from lmm_bayes.engines import base, blocked
from lmm_bayes.kernel import prior_rows


def _data(seed=0, n=150):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"s": rng.integers(0, 9, n).astype(str),
                          "i": rng.integers(0, 7, n).astype(str),
                          "site": rng.integers(0, 3, n).astype(str),
                          "x": rng.normal(size=n), "c": rng.integers(0, 2, n)})
    frame["arm"] = np.where(frame.s.astype(int) % 2 == 0, "A", "B")  # each s in one arm
    frame["y"] = 2 + 0.5 * frame.x + rng.normal(size=n)
    return frame


SHAPES = {
    "crossed correlated slopes": "y ~ x + c + (1 + x | s) + (1 + c | i)",
    "crossed independent slopes": "y ~ x + (1 + x || s) + (1 + x || i)",
    "three factors": "y ~ x + (1 + x | s) + (1 | i) + (1 | site)",
    "nested few levels": "y ~ x + (1 | site) + (1 | site:s)",
    "one factor, three terms": "y ~ x + c + (1 + x + c | s)",
    "gr by arm": "y ~ x + (1 + x | gr(s, by = arm)) + (1 | i)",
}


@pytest.fixture(scope="module", params=list(SHAPES), ids=list(SHAPES))
def model(request):
    return lb.LMM(SHAPES[request.param], _data())


def _point(model, seed=1):
    covariances = factor_covariances(model.design.groups, model.priors)
    rng = np.random.default_rng(seed)
    parts = [c.start(0.7) + 0.4 * rng.normal(size=c.n_dim) for c in covariances]
    return [c.covariance(p) for c, p in zip(covariances, parts)], np.array([0.1])


def _dense(model, sigmas, log_sigma):
    """The effects matrix W = [Z, X_c], their prior mean and covariance, and y's mean and
    covariance, built densely (priors on the centred columns, as lmm_bayes states them);
    ``log_sigma`` is one log σ or each row's."""
    design, priors = model.design, model.priors
    Z, blocks = [], []
    for g, sigma in zip(design.groups, sigmas):
        q = len(g.terms)
        z = np.zeros((design.n_obs, g.n_levels * q))
        for t in range(q):
            z[np.arange(design.n_obs), g.index * q + t] = g.Z[:, t]
        Z.append(z)
        blocks.append(np.kron(np.eye(g.n_levels), sigma))
    X = design.X - np.r_[0.0, design.X[:, 1:].mean(axis=0)]
    coef = [priors.intercept] + [priors.fixed[n] for n in design.fixed_names[1:]]
    W = np.hstack([*Z, X])
    mean = np.r_[np.zeros(W.shape[1] - X.shape[1]), [p.kwargs["mu"] for p in coef]]
    P = block_diag(*blocks, np.diag([p.kwargs["sigma"] ** 2 for p in coef]))
    return W, mean, P, W @ P @ W.T + np.diag(np.broadcast_to(np.exp(2 * log_sigma),
                                                             design.n_obs))


def test_log_likelihood_is_the_dense_normal(model):
    sigmas, rho = _point(model)
    W, mean, _, cov = _dense(model, sigmas, rho[0])
    ours = EffectsSystem(model.design, model.priors).log_likelihood(sigmas, rho)[0]
    dense = stats.multivariate_normal(W @ mean, cov).logpdf(model.design.y)
    np.testing.assert_allclose(ours, dense, rtol=1e-10)


def _assert_gradients_match_finite_differences(system, sigmas, rho):
    """∂/∂Σ_k (contracted with random symmetric directions) and ∂/∂ρ of the likelihood
    against central finite differences."""
    _, d_sigmas, d_rho = system.log_likelihood(sigmas, rho)
    rng, h = np.random.default_rng(0), 1e-6
    for k, G in enumerate(d_sigmas):
        direction = rng.normal(size=G.shape)
        direction = direction + direction.T
        up = [s + h * direction if j == k else s for j, s in enumerate(sigmas)]
        down = [s - h * direction if j == k else s for j, s in enumerate(sigmas)]
        numeric = (system.log_likelihood(up, rho)[0]
                   - system.log_likelihood(down, rho)[0]) / (2 * h)
        np.testing.assert_allclose(np.sum(G * direction), numeric, rtol=1e-5, atol=1e-6)
    numeric = [(system.log_likelihood(sigmas, rho + h * e)[0]
                - system.log_likelihood(sigmas, rho - h * e)[0]) / (2 * h)
               for e in np.eye(len(rho))]
    np.testing.assert_allclose(d_rho, numeric, rtol=1e-5, atol=1e-6)


def test_gradients_match_finite_differences(model):
    system = EffectsSystem(model.design, model.priors)
    sigmas, rho = _point(model, seed=2)
    _assert_gradients_match_finite_differences(system, sigmas, rho)


def test_compiled_log_posterior_is_prior_plus_likelihood(model):
    """The compiled θ-density against its parts (covariance priors, σ's prior, the
    likelihood), and its gradient against finite differences of itself."""
    system = EffectsSystem(model.design, model.priors)
    target = blocked.ENGINE.build(base.Problem(model.design, model.priors))
    covariances = target.covariances
    x = target.mode + np.random.default_rng(3).normal(scale=0.2, size=target.n_dim)
    parts, rho = target.split(x)
    sigmas = [c.covariance(p) for c, p in zip(covariances, parts)]
    expected = (system.log_likelihood(sigmas, rho)[0] + system.residual_prior(rho)[0]
                + sum(c.log_prior(p)[0] for c, p in zip(covariances, parts)))
    _assert_compiled_posterior(system, target, x, expected)


def _assert_compiled_posterior(system, target, x, expected):
    """The compiled log posterior at ``x`` is ``expected``, its gradient the central
    differences', and it vanishes at the target's mode."""
    value, gradient = system.log_posterior(x)
    np.testing.assert_allclose(value, expected, rtol=1e-10)
    numeric = central_differences(lambda v: system.log_posterior(v)[0], x, 1e-6)
    np.testing.assert_allclose(gradient, numeric, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(target.value_and_gradient(target.mode)[1], 0, atol=1e-3)


def test_draws_have_the_dense_conditional_moments(model):
    """A draw is affine in the normals: at zero it is the conditional mean, and its
    columns give the conditional covariance σ²(WᵀW + σ²P⁻¹)⁻¹ exactly."""
    system = EffectsSystem(model.design, model.priors)
    sigmas, rho = _point(model, seed=4)
    W, mean, P, _ = _dense(model, sigmas, rho[0])
    design = model.design
    s2 = np.exp(2 * rho[0])
    precision = W.T @ W / s2 + np.linalg.inv(P)
    covariance = np.linalg.inv(precision)
    centred = design.y - design.y.mean()
    prior_mean = mean.copy()
    prior_mean[-design.X.shape[1]] -= design.y.mean()   # the intercept of centred y
    expected = covariance @ (W.T @ centred / s2 + np.linalg.solve(P, prior_mean))

    def flat(normals):
        beta, random = system.draw(sigmas, rho, normals)
        alpha = beta[0] - design.y.mean() + beta[1:] @ design.X[:, 1:].mean(axis=0)
        return np.concatenate([*(b.ravel() for b in random), [alpha], beta[1:]])

    at_zero = flat(np.zeros(system.n_normals))
    np.testing.assert_allclose(at_zero, expected, rtol=1e-8, atol=1e-8)
    columns = np.array([flat(e) - at_zero for e in np.eye(system.n_normals)])
    np.testing.assert_allclose(columns.T @ columns, covariance, rtol=1e-7, atol=1e-9)


def test_factor_coordinates_chain_rule_and_lkj_density():
    """∂/∂x of tr(GΣ(x)) and of the log prior against finite differences; the LKJ part of
    the prior against det(Ω)^(η−1) times the Jacobian |∂Ω/∂z| computed numerically."""
    kinds, params = prior_rows([lb.Prior("halfstudentt", nu=3, sigma=2.0)] * 4)
    factor = FactorCovariance("g", tuple("abcd"), 2.0, kinds, params, 10)
    rng = np.random.default_rng(1)
    x = 0.7 * rng.normal(size=factor.n_dim)
    G = rng.normal(size=(4, 4))
    G = G + G.T
    h, unit = 1e-6, np.eye(factor.n_dim)
    numeric = [(np.sum(G * factor.covariance(x + h * e)) - np.sum(G * factor.covariance(x - h * e)))
               / (2 * h) for e in unit]
    np.testing.assert_allclose(factor.chain(x, G), numeric, rtol=1e-6, atol=1e-7)
    numeric = [(factor.log_prior(x + h * e)[0] - factor.log_prior(x - h * e)[0]) / (2 * h)
               for e in unit]
    np.testing.assert_allclose(factor.log_prior(x)[1], numeric, rtol=1e-6, atol=1e-7)

    def off_diagonal(z):
        L = factor.correlation_factor(np.r_[np.zeros(4), z])
        return (L @ L.T)[np.tril_indices(4, -1)]

    def reference(z):
        omega = off_diagonal(z)
        full = np.eye(4)
        full[np.tril_indices(4, -1)] = omega
        full = full + np.tril(full, -1).T
        jacobian = np.array([(off_diagonal(z + h * e) - off_diagonal(z - h * e)) / (2 * h)
                             for e in np.eye(6)])
        return (2.0 - 1) * np.linalg.slogdet(full)[1] + np.linalg.slogdet(jacobian)[1]

    z1, z2 = 0.5 * rng.normal(size=6), 0.5 * rng.normal(size=6)
    ours = [factor.log_prior(np.r_[np.zeros(4), z])[0] for z in (z1, z2)]
    np.testing.assert_allclose(ours[0] - ours[1], reference(z1) - reference(z2), rtol=1e-6)
    sigma = factor.covariance(x)
    sd = np.sqrt(np.diag(sigma))
    public = factor.public(x[None])
    np.testing.assert_allclose(public["sd_g"][0], sd)
    rows, columns = np.triu_indices(4, 1)
    np.testing.assert_allclose(public["corr_g"][0], (sigma / np.outer(sd, sd))[rows, columns])


def test_auto_takes_the_blocked_engine_for_every_independent_gaussian_shape(model):
    choice = model.engine()
    if len(model.design.groups) == 1 and len(model.design.groups[0].terms) <= 2:
        assert choice.engine == "marginal"
    else:
        assert (choice.engine, choice.likelihood) == ("blocked", "marginal")
        assert choice.reason.startswith("blocked: every effect integrated out")


def test_what_the_blocked_engine_cannot_fit_says_why():
    data = _data()
    binary = data.assign(y=(data.y > data.y.median()).astype(int))
    model = lb.LMM("y ~ x + (1 | s) + (1 | i)", binary, family="bernoulli")
    assert "not blocked: the bernoulli family" in model.engine().reason
    robust = lb.LMM("y ~ x + (1 | s) + (1 | i)", data,
                    priors={"x": lb.Prior("student_t", nu=3, mu=0, sigma=1)})
    assert "not blocked: a fixed effect's prior is not normal" in robust.engine().reason


SIGMA_SHAPES = {
    "crossed, sigma by arm": ("y ~ x + c + (1 + x | s) + (1 + c | i)", "~ arm"),
    "nested, sigma by site": ("y ~ x + (1 | site) + (1 | site:s)", "~ site"),
    "three factors, sigma by arm and c": ("y ~ x + (1 + x | s) + (1 | i) + (1 | site)",
                                          "~ arm + c"),
}


@pytest.fixture(scope="module", params=list(SIGMA_SHAPES), ids=list(SIGMA_SHAPES))
def varident(request):
    """A model with a few-valued sigma formula, its system and a point (Σ, γ)."""
    formula, sigma = SIGMA_SHAPES[request.param]
    model = lb.LMM(formula, _data(), sigma=sigma)
    system = EffectsSystem(model.design, model.priors, model.residuals)
    sigmas, _ = _point(model, seed=5)
    gamma = np.random.default_rng(6).normal(scale=0.3, size=system.n_residual)
    return model, system, sigmas, gamma


def _row_log_sd(model, gamma):
    """Each row's log σ_i = x_σ,iᵀγ (the centred sigma design)."""
    X = model.residuals.sigma.X
    return (X - np.r_[0.0, X[:, 1:].mean(axis=0)]) @ gamma


def test_sigma_formula_log_likelihood_is_the_dense_normal(varident):
    model, system, sigmas, gamma = varident
    assert 2 <= len(system.classes.n) <= 4 and system.n_residual == len(gamma)
    W, mean, _, cov = _dense(model, sigmas, _row_log_sd(model, gamma))
    dense = stats.multivariate_normal(W @ mean, cov).logpdf(model.design.y)
    np.testing.assert_allclose(system.log_likelihood(sigmas, gamma)[0], dense, rtol=1e-10)


def test_sigma_formula_gradients_match_finite_differences(varident):
    _, system, sigmas, gamma = varident
    _assert_gradients_match_finite_differences(system, sigmas, gamma)


def test_sigma_formula_log_posterior_is_prior_plus_likelihood(varident):
    """The compiled θ-density against its parts, with the graph's priors on γ (scipy's
    densities), and its gradient against finite differences."""
    model, system, _, _ = varident
    target = blocked.ENGINE.build(model.problem)
    assert isinstance(target.algebra, EffectsSystem)
    x = target.mode + np.random.default_rng(3).normal(scale=0.2, size=target.n_dim)
    parts, rho = target.split(x)
    sigmas = [c.covariance(p) for c, p in zip(target.covariances, parts)]
    priors = model.priors
    coefficient = [priors.sigma_intercept if n == "(Intercept)" else priors.sigma_fixed[n]
                   for n in model.residuals.sigma.names]
    assert all(p.dist == "normal" for p in coefficient)
    log_prior = sum(stats.norm(p.kwargs["mu"], p.kwargs["sigma"]).logpdf(r)
                    for p, r in zip(coefficient, rho))
    np.testing.assert_allclose(system.residual_prior(rho)[0], log_prior, rtol=1e-10)
    expected = (system.log_likelihood(sigmas, rho)[0] + log_prior
                + sum(c.log_prior(p)[0] for c, p in zip(target.covariances, parts)))
    _assert_compiled_posterior(system, target, x, expected)


def test_sigma_formula_draws_have_the_dense_conditional_moments(varident):
    """At zero normals a draw is the dense conditional mean; its columns give the
    conditional covariance (WᵀΩW + P⁻¹)⁻¹, Ω = diag(σ_i⁻²); compiled draws agree."""
    model, system, sigmas, gamma = varident
    W, mean, P, _ = _dense(model, sigmas, 0.0)
    design = model.design
    omega = np.exp(-2 * _row_log_sd(model, gamma))
    covariance = np.linalg.inv(W.T @ (omega[:, None] * W) + np.linalg.inv(P))
    prior_mean = mean.copy()
    prior_mean[-design.X.shape[1]] -= design.y.mean()   # the intercept of centred y
    expected = covariance @ (W.T @ (omega * (design.y - design.y.mean()))
                             + np.linalg.solve(P, prior_mean))

    def flat(beta, random):
        alpha = beta[0] - design.y.mean() + beta[1:] @ design.X[:, 1:].mean(axis=0)
        return np.concatenate([*(b.ravel() for b in random), [alpha], beta[1:]])

    at_zero = flat(*system.draw(sigmas, gamma, np.zeros(system.n_normals)))
    np.testing.assert_allclose(at_zero, expected, rtol=1e-8, atol=1e-8)
    columns = np.array([flat(*system.draw(sigmas, gamma, e)) - at_zero
                        for e in np.eye(system.n_normals)])
    np.testing.assert_allclose(columns.T @ columns, covariance, rtol=1e-7, atol=1e-9)
    target = blocked.ENGINE.build(model.problem)
    theta = target.mode
    parts, rho = target.split(theta)
    normals = np.random.default_rng(7).normal(size=(1, system.n_normals))
    beta, random = system.effect_draws(theta[None], normals)
    one = system.draw([c.covariance(p) for c, p in zip(target.covariances, parts)], rho,
                      normals[0])
    np.testing.assert_allclose(beta[0], one[0], rtol=1e-10)
    for compiled, direct in zip(random, one[1]):
        np.testing.assert_allclose(compiled[0], direct, rtol=1e-10, atol=1e-12)


def test_sigma_formula_variables_and_start(varident):
    """sigma_beta on the user's scale (γ₀ − x̄ᵀγ₁), and the start at one σ everywhere."""
    model, system, _, gamma = varident
    variables, coords = system.residual_variables(gamma[None])
    beta = variables["sigma_beta"][0][0]
    np.testing.assert_allclose(model.residuals.sigma.X @ beta, _row_log_sd(model, gamma))
    assert coords["sigma_fixed"] == list(model.residuals.sigma.names)
    np.testing.assert_allclose(_row_log_sd(model, system.residual_start()),
                               np.log(system.residual_sd))


def test_the_eeg_study_takes_the_blocked_engine():
    model = lb.LMM("amplitude ~ condition + (1 + condition | subject) + (1 | stimulus)",
                   lb.load_dataset("eeg"), sigma="~ condition")
    choice = model.engine()
    assert (choice.engine, choice.likelihood) == ("blocked", "marginal")
    assert "random-effects system" in choice.reason
    many = lb.LMM("y ~ x + (1 | s) + (1 | i)", _data(), sigma="~ x")
    assert "more than 8 distinct rows" in blocked.ENGINE.assess(many.problem).objection
    serial = lb.LMM("y ~ x + (1 | s) + (1 | i)", _data().assign(t=np.arange(150)),
                    residual="ar1(t | s)")
    assert blocked.ENGINE.assess(serial.problem).objection


def test_sigma_formula_agrees_with_the_per_individual_algebra():
    """One factor with a sigma formula, which IndividualBlocks also covers: the same θ, the
    same log p(θ | y) and gradient, and the same public residual variables."""
    from lmm_bayes.individual_blocks import IndividualBlocks

    model = lb.LMM("y ~ x + c + (1 + x | s)", _data(), sigma="~ arm + c")
    ours = EffectsSystem(model.design, model.priors, model.residuals)
    theirs = IndividualBlocks(model.design, model.priors, model.residuals)
    assert ours.n_dim == theirs.n_dim
    x = np.random.default_rng(8).normal(scale=0.3, size=ours.n_dim)
    np.testing.assert_allclose(ours.log_posterior(x)[0], theirs.log_posterior(x)[0], rtol=1e-10)
    np.testing.assert_allclose(ours.log_posterior(x)[1], theirs.log_posterior(x)[1],
                               rtol=1e-7, atol=1e-8)
    rho = x[None, -ours.n_residual:]
    np.testing.assert_allclose(ours.residual_variables(rho)[0]["sigma_beta"][0],
                               theirs.residual_variables(rho)[0]["sigma_beta"][0])
    np.testing.assert_allclose(ours.residual_start(), theirs.residual_start(), atol=1e-12)
