"""The compiled GLMM densities against independent computations: each row's log-likelihood
against scipy's, the quadrature's marginal likelihood against brute-force numerical
integration, the full model's density against one written with scipy.stats, and every
gradient against finite differences."""

import numpy as np
import pandas as pd
import pytest
from conftest import central_differences
from scipy import integrate, special, stats

import lmm_bayes as lb
from lmm_bayes import glmm
from lmm_bayes.engines import Problem, choose
from lmm_bayes.joint import joint_density, level_information
from lmm_bayes.quadrature import (
    TOLERANCE,
    AdaptiveQuadrature,
    QuadraturePosterior,
    quadrature_posterior,
)

FAMILIES = ("bernoulli", "binomial", "poisson", "negbinomial")


def _data(family: str, levels: int = 12, rows: int = 6, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(levels), rows)
    x = rng.normal(size=len(g))
    eta = -0.3 + 0.6 * x + rng.normal(0, 0.8, levels)[g] + rng.normal(0, 0.4, levels)[g] * x
    frame = pd.DataFrame({"x": x, "g": g.astype(str), "h": (np.arange(len(g)) % 5).astype(str)})
    if family == "bernoulli":
        frame["y"] = (rng.random(len(g)) < special.expit(eta)).astype(float)
    elif family == "binomial":
        frame["n"] = rng.integers(1, 8, len(g))
        frame["y"] = rng.binomial(frame["n"], special.expit(eta))
        frame["f"] = frame["n"] - frame["y"]
    else:
        frame["y"] = rng.poisson(np.exp(eta + 1.0))
    frame["t"] = rng.uniform(0.5, 2.0, len(g))
    return frame


def _response(family: str) -> str:
    return "cbind(y, f)" if family == "binomial" else "y"


def _model(family: str, random: str = "(1 + x | g)", offset: bool = True):
    data = _data(family)
    extra = " + offset(log(t))" if offset and family in ("poisson", "negbinomial") else ""
    return lb.LMM(f"{_response(family)} ~ x{extra} + {random}", data, family=family)


def _log_likelihood(model, beta, sigma, alpha):
    """log p(y | β, Σ, α) of one factor by brute force: the trapezoidal rule on a fine
    fixed grid over ±8 SDs (rapidly convergent for smooth integrands that vanish at the
    ends), level by level, from scipy's distributions (constants included)."""
    design, family = model.design, model.family
    group = design.groups[0]
    offset = design.offset if design.offset is not None else 0.0
    eta0 = design.X @ beta + offset
    sds = np.sqrt(np.diag(sigma))
    axes = [np.linspace(-8 * sd, 8 * sd, 2001 if len(sds) == 1 else 401) for sd in sds]
    grid = np.stack([g.ravel() for g in np.meshgrid(*axes, indexing="ij")], axis=1)
    cell = np.prod([axis[1] - axis[0] for axis in axes])
    log_prior = stats.multivariate_normal(np.zeros(len(sds)), sigma).logpdf(grid)
    trials = design.trials if design.trials is not None else np.ones(design.n_obs)
    total = 0.0
    for level in range(group.n_levels):
        rows = group.index == level
        eta = eta0[rows][None, :] + grid @ group.Z[rows].T
        aux = {"trials": trials[rows][None, :], "alpha": alpha}
        log_f = family.logpdf(design.y[rows][None, :], family.inverse_link(eta), aux).sum(1)
        total += special.logsumexp(log_f + log_prior) + np.log(cell)
    return total


def test_digamma_and_row_terms_agree_with_scipy():
    x = np.array([1e-3, 0.4, 1.0, 5.5, 6.0, 40.0, 1e4])
    np.testing.assert_allclose([glmm.digamma(v) for v in x], special.digamma(x), rtol=1e-11,
                               atol=1e-12)
    y, n, eta, alpha = 3.0, 7.0, 0.4, 2.5
    mu = special.expit(eta)
    value, score, information, _ = glmm.row_terms(glmm.BINOMIAL, y, n, eta, alpha)
    constant = np.log(special.comb(n, y))
    assert value + constant == pytest.approx(stats.binom.logpmf(y, n, mu))
    assert score == pytest.approx(y - n * mu) and information == pytest.approx(n * mu * (1 - mu))
    value, *_ = glmm.row_terms(glmm.POISSON, y, 1.0, eta, alpha)
    assert value - special.gammaln(y + 1) == pytest.approx(stats.poisson.logpmf(y, np.exp(eta)))
    value, score, information, shape = glmm.row_terms(glmm.NEGATIVE_BINOMIAL, y, 1.0, eta, alpha)

    def nb(e, a):
        m = np.exp(e)
        return stats.nbinom.logpmf(y, a, a / (a + m))
    assert value - special.gammaln(y + 1) == pytest.approx(nb(eta, alpha))
    h = 1e-5
    assert score == pytest.approx((nb(eta + h, alpha) - nb(eta - h, alpha)) / (2 * h), rel=1e-6)
    second = (nb(eta + h, alpha) - 2 * nb(eta, alpha) + nb(eta - h, alpha)) / h**2
    assert information == pytest.approx(-second, rel=1e-4)
    log_a = np.log(alpha)
    assert shape == pytest.approx((nb(eta, np.exp(log_a + h)) - nb(eta, np.exp(log_a - h)))
                                  / (2 * h), rel=1e-6)


def _theta(posterior, alpha=1.7):
    """A point away from the mode: SDs 0.9 and 0.5, correlation 0.3, coefficients (−0.2,
    0.5), α."""
    covariance = posterior.covariances[0]
    x = [np.log(0.9), np.log(0.5), np.arctanh(0.3)][:covariance.n_dim]
    rho = [-0.2, 0.5] + ([np.log(alpha)] if posterior.algebra.fixed.has_shape else [])
    return np.array(x + rho)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("random", ["(1 | g)", "(1 + x | g)"])
def test_quadrature_likelihood_is_the_integral(family, random):
    """Differences of log p(θ | y) between two points equal those of the brute-force
    marginal likelihood plus the priors, to the quadrature's tolerance."""
    model = _model(family, random)
    posterior = quadrature_posterior(model.design, model.priors, family, None)
    assert posterior.algebra.points >= 3
    first = _theta(posterior)
    second = first + 0.15
    values = []
    for x in (first, second):
        sigmas = posterior.sigmas(x)
        fixed = posterior.algebra.fixed
        rho = x[posterior.covariances[0].n_dim:]
        alpha = np.exp(rho[-1]) if fixed.has_shape else 1.0
        prior = posterior.covariances[0].log_prior(x[:posterior.covariances[0].n_dim])[0]
        prior += glmm.fixed_log_prior(rho, fixed.kinds, fixed.params, fixed.p, fixed.has_shape,
                                      np.zeros(len(rho)))
        values.append((posterior.log_density(x),
                       _log_likelihood(model, fixed.coefficients(rho), sigmas[0], alpha) + prior))
    (quad_a, brute_a), (quad_b, brute_b) = values
    assert quad_b - quad_a == pytest.approx(brute_b - brute_a, abs=TOLERANCE)


@pytest.mark.parametrize("family", FAMILIES)
def test_quadrature_gradient_matches_finite_differences(family):
    """The Fisher-identity gradient on the nodes against central differences of the
    density: they differ by the quadrature's error only, small with 9 points."""
    model = _model(family)
    posterior = quadrature_posterior(model.design, model.priors, family, None)
    algebra = posterior.algebra.refined(9, posterior.algebra.modes)
    x = _theta(posterior)
    _, gradient = algebra.log_posterior(x)
    numeric = central_differences(lambda v: algebra.log_posterior(v, False)[0], x, 1e-5)
    np.testing.assert_allclose(gradient, numeric, rtol=2e-3, atol=2e-3)


def test_the_points_chosen_hold_the_posterior_to_the_tolerance():
    """Differences of log p(θ | y) between the mode and two Laplace SDs out along each
    coordinate, with the points chosen and with 15 per dimension (the reference), agree
    within twice the tolerance (the change from m to m + 2 that chose m bounds the error up
    to the quadrature's geometric convergence); the Laplace approximation (one point) is
    measurably off."""
    model = _model("bernoulli")
    posterior = quadrature_posterior(model.design, model.priors, "bernoulli", None)
    algebra = posterior.algebra
    sds = np.sqrt(np.diag(posterior.covariance))
    far = [posterior.mode + sign * 2 * sd * unit
           for sd, unit in zip(sds, np.eye(len(sds))) for sign in (-1, 1)]

    def differences(found):
        at_mode = found.log_posterior(posterior.mode, False)[0]
        return np.array([found.log_posterior(x, False)[0] - at_mode for x in far])
    ours = differences(algebra)
    reference = differences(algebra.refined(15, algebra.modes))
    assert np.max(np.abs(ours - reference)) < 2 * TOLERANCE
    laplace = differences(algebra.refined(1, algebra.modes))
    assert np.max(np.abs(laplace - reference)) > 1e-3


def test_importance_resampled_effects_follow_the_conditional():
    """At one θ, the resampled draws of a level's effect have the conditional mean and
    variance computed by numerical integration."""
    model = _model("bernoulli", "(1 | g)")
    posterior = QuadraturePosterior(AdaptiveQuadrature(model.design, model.priors, "bernoulli",
                                                       None, posterior_covariance(model), 5))
    x = np.array([np.log(1.2), -0.2, 0.5])
    seeds = np.random.default_rng(5).integers(2**31, size=4000)
    _, (b,) = posterior.algebra.effect_draws(np.tile(x, (4000, 1)), seeds)
    design = model.design
    rows = design.groups[0].index == 0
    eta0 = design.X[rows] @ posterior.algebra.fixed.coefficients(x[1:])

    def density(v):
        p = special.expit(eta0 + v)
        return np.exp(stats.bernoulli.logpmf(design.y[rows], p).sum()) * stats.norm.pdf(v, 0, 1.2)
    mass = integrate.quad(density, -10, 10)[0]
    mean = integrate.quad(lambda v: v * density(v), -10, 10)[0] / mass
    var = integrate.quad(lambda v: (v - mean) ** 2 * density(v), -10, 10)[0] / mass
    draws = b[:, 0, 0]
    assert draws.mean() == pytest.approx(mean, abs=4 * np.sqrt(var / 4000))
    assert draws.var() == pytest.approx(var, rel=0.1)


def posterior_covariance(model):
    from lmm_bayes.covariance import factor_covariances

    return factor_covariances(model.design.groups, model.priors)[0]


def _reference_joint(model, density, x):
    """log p(β, α, θ, b | y) with scipy.stats, for factors of intercepts and one correlated
    pair: coordinates mapped back to (β, α, s, r, b), plus the log-Jacobians."""
    design, priors = model.design, model.priors
    fixed = glmm.fixed_effects(design, priors, model.family.name)
    p = fixed.p
    a = x[:p]
    at = p
    alpha = 1.0
    total = 0.0
    for j, name in enumerate(design.fixed_names):
        prior = priors.intercept if name == "(Intercept)" else priors.fixed[name]
        total += stats.norm.logpdf(a[j], prior.kwargs["mu"], prior.kwargs["sigma"])
    if fixed.has_shape:
        alpha = np.exp(x[at])
        total += stats.expon.logpdf(alpha, scale=1 / priors.auxiliary["alpha"].kwargs["lam"])
        total += x[at]
        at += 1
    eta = fixed.X @ a + (design.offset if design.offset is not None else 0.0)
    sections = []
    for g in design.groups:
        q = len(g.terms)
        n_dim = q + (1 if q == 2 else 0)
        sections.append((g, x[at:at + n_dim]))
        at += n_dim
    for (g, theta), centred in zip(sections, density.centred):
        q = len(g.terms)
        s = np.exp(theta[:q])
        r = np.tanh(theta[q]) if q == 2 else 0.0
        for t, term in enumerate(g.terms):
            prior = priors.sd[g.name][term]
            total += stats.t.logpdf(s[t], prior.kwargs["nu"], 0, prior.kwargs["sigma"])
            total += np.log(2) + theta[t]
        omega = np.array([[1.0, r], [r, 1.0]])[:q, :q]
        sigma = np.outer(s, s) * omega
        if q == 2:
            total += priors.eta[g.name] * np.log(1 - r * r)   # LKJ and the tanh Jacobian
        values = x[at:at + g.n_levels * q].reshape(g.n_levels, q)
        at += g.n_levels * q
        if centred:
            b = values
            total += stats.multivariate_normal(np.zeros(q), sigma).logpdf(b).sum()
        else:
            b = values @ np.linalg.cholesky(sigma).T
            total += stats.norm.logpdf(values).sum()
        eta = eta + (g.Z * b[g.index]).sum(axis=1)
    family = model.family
    aux = {"trials": design.trials if design.trials is not None else 1, "alpha": alpha}
    return total + family.logpdf(design.y, family.inverse_link(eta), aux).sum()


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("parametrization", ["centered", "non-centered"])
def test_joint_density_is_the_model_written_with_scipy(family, parametrization):
    model = _model(family, "(1 + x | g) + (1 | h)")
    density = joint_density(model.design, model.priors, family, None, parametrization)
    rng = np.random.default_rng(2)
    first = density.start + rng.normal(0, 0.3, density.n_dim)
    second = first + rng.normal(0, 0.1, density.n_dim)
    difference = density.log_density(second)[0] - density.log_density(first)[0]
    reference = (_reference_joint(model, density, second)
                 - _reference_joint(model, density, first))
    assert difference == pytest.approx(reference, rel=1e-9, abs=1e-8)
    _, gradient = density.log_density(first)
    numeric = central_differences(lambda v: density.log_density(v)[0], first, 1e-6)
    np.testing.assert_allclose(gradient, numeric, rtol=1e-5, atol=1e-5)


def test_centring_follows_the_information_on_the_levels():
    """Many rows per level of a factor with spread: centred; few: not."""
    rng = np.random.default_rng(0)
    wide = np.repeat(np.arange(10), 200)
    narrow = np.tile(np.arange(500), 4)
    eta = rng.normal(0, 1.5, 10)[wide] + rng.normal(0, 0.3, 500)[narrow]
    data = pd.DataFrame({"y": (rng.random(len(eta)) < special.expit(eta)).astype(float),
                         "a": wide.astype(str), "b": narrow.astype(str)})
    model = lb.LMM("y ~ 1 + (1 | a) + (1 | b)", data, family="bernoulli")
    wide_information, narrow_information = level_information(model.design, glmm.BINOMIAL)
    assert wide_information > 10 and narrow_information < 1
    assert joint_density(model.design, model.priors, "bernoulli", None).centred == (True, False)


def test_the_glmm_engine_is_chosen_for_glmms_and_says_how():
    one = _model("poisson")
    choice = choose(Problem(one.design, one.priors, "poisson"))
    assert choice.engine == "glmm" and "quadrature" in choice.reason
    crossed = _model("bernoulli", "(1 | g) + (1 | h)")
    choice = choose(Problem(crossed.design, crossed.priors, "bernoulli"))
    assert choice.engine == "glmm" and "full model" in choice.reason
    assert choice.sampler == "nutpie"
    probit = lb.LMM("y ~ x + (1 | g)", _data("bernoulli"), family="bernoulli", link="probit")
    choice = choose(Problem(probit.design, probit.priors, "bernoulli", link="probit"))
    assert choice.engine == "graph" and "probit" in choice.reason


def test_a_factor_nested_in_another_is_not_credited_with_its_spread():
    """Counts whose spread is all between 8 parents: their 40 nested children carry none of
    it once the parents' means are taken out (backfitting), so only the parents are centred."""
    rng = np.random.default_rng(1)
    child = np.repeat(np.arange(40), 20)
    parent = child // 5
    eta = 2.0 + rng.normal(0, 1.0, 8)[parent]
    data = pd.DataFrame({"y": rng.poisson(np.exp(eta)), "p": parent.astype(str),
                         "c": child.astype(str)})
    model = lb.LMM("y ~ 1 + (1 | p) + (1 | c)", data, family="poisson")
    parents, children = level_information(model.design, glmm.POISSON)
    assert parents > 100 and children < 1


def test_effect_draws_do_not_depend_on_the_threads():
    """Each draw of θ has its own seed, so one thread or two give the same effects."""
    model = _model("poisson", "(1 | g)")
    posterior = quadrature_posterior(model.design, model.priors, "poisson", None)
    draws = np.tile(posterior.mode, (6, 1)) + 0.01 * np.arange(6)[:, None]
    one = posterior.effects(draws, np.random.default_rng(3), cores=1)
    two = posterior.effects(draws, np.random.default_rng(3), cores=2)
    np.testing.assert_array_equal(one[1][0], two[1][0])
    assert np.ptp(one[1][0][:, 0, 0]) > 0      # the rows are distinct draws


def test_a_centred_factors_sd_beyond_floating_point_has_no_density():
    """exp of a log-SD past 709 is inf: the density is −inf there (a rejected point), not
    an error from inverting the covariance's factor."""
    model = _model("poisson", "(1 | g) + (1 | h)")
    density = joint_density(model.design, model.priors, "poisson", None, "centered")
    assert density.log_density(np.full(density.n_dim, 800.0))[0] == -np.inf
