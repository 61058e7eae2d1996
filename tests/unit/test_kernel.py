"""The compiled marginal density: its value against scipy, its gradient, its constrained values."""

import numpy as np
import pytest
from scipy import stats

import lmm_bayes as lb
from lmm_bayes.names import correlation_matrices
from lmm_bayes.priors import Prior

FORMULAS = ["Reaction ~ Days + (Days | Subject)", "Reaction ~ Days + (Days || Subject)",
            "Reaction ~ Days + (1 | Subject)", "Reaction ~ 0 + Days + (Days | Subject)"]
PRIORS = {  # every prior family the density writes out, on each kind of parameter
    "default": {},
    "others": {"(Intercept)": Prior("student_t", nu=4, mu=250, sigma=60),
               "Days": Prior("normal", mu=5, sigma=20),
               "sd_Subject__(Intercept)": Prior("halfcauchy", beta=30),
               "sd_Subject__Days": Prior("halfcauchy", beta=5),
               "sigma": Prior("exponential", lam=0.05), "eta": 3.0},
    "half-normal": {"sd": Prior("halfnormal", sigma=30), "sigma": Prior("halfnormal", sigma=40)},
}


def _scipy_log_prior(prior: Prior, value: float) -> float:
    kw = prior.kwargs
    return {
        "normal": lambda: stats.norm.logpdf(value, kw.get("mu", 0), kw.get("sigma")),
        "student_t": lambda: stats.t.logpdf(value, kw.get("nu"), kw.get("mu"), kw.get("sigma")),
        "halfnormal": lambda: stats.halfnorm.logpdf(value, 0, kw.get("sigma")),
        "halfstudentt": lambda: stats.t.logpdf(value, kw.get("nu"), 0, kw.get("sigma")),
        "halfcauchy": lambda: stats.halfcauchy.logpdf(value, 0, kw.get("beta")),
        "exponential": lambda: stats.expon.logpdf(value, 0, 1 / kw.get("lam")),
    }[prior.dist]()


def _scipy_log_posterior(model: lb.LMM, x: np.ndarray, values: dict) -> float:
    """Dense multivariate normal per subject, scipy's prior densities, and the log-Jacobians
    of the log and tanh transforms; the LKJ(η) density of a 2 × 2 correlation ∝ (1−r²)^(η−1)."""
    design, priors = model.design, model.priors
    group = design.groups[0]
    beta, sd, sigma = values["beta"], values["sd_Subject"], float(values["sigma"])
    corr = (correlation_matrices(values["corr_Subject"], len(sd)) if "corr_Subject" in values
            else np.eye(len(sd)))
    cov = np.outer(sd, sd) * corr
    loglik = sum(
        stats.multivariate_normal(design.X[rows] @ beta, sigma**2 * np.eye(rows.sum())
                                  + group.Z[rows] @ cov @ group.Z[rows].T).logpdf(design.y[rows])
        for rows in (group.index == level for level in range(group.n_levels)))
    names = design.fixed_names
    coefficient_priors = ([priors.intercept] if "(Intercept)" in names else []) + [
        priors.fixed[n] for n in names if n != "(Intercept)"]
    logprior = sum(_scipy_log_prior(p, v) for p, v in zip(coefficient_priors, x))
    logprior += sum(_scipy_log_prior(priors.sd["Subject"][t], s) + np.log(s)
                    for t, s in zip(group.terms, sd))
    logprior += _scipy_log_prior(priors.sigma, sigma) + np.log(sigma)
    if "corr_Subject" in values:
        r = corr[0, 1]
        logprior += priors.eta["Subject"] * np.log1p(-r * r)   # LKJ and the tanh Jacobian
    return loglik + logprior


@pytest.fixture(scope="module", params=[(f, p) for f in FORMULAS for p in PRIORS])
def density(request, sleepstudy):
    formula, priors = request.param
    absent = {"(Intercept)"} if "0 +" in formula else set()
    absent |= {"sd_Subject__Days", "eta"} if "(1 |" in formula else set()
    chosen = {k: v for k, v in PRIORS[priors].items() if k not in absent}
    model = lb.LMM(formula, sleepstudy, priors=chosen)
    assert model.engine().engine == "marginal"
    return model, model.target("marginal")


def test_density_differences_equal_scipy(density):
    """log p(x₁) − log p(x₂) from the compiled density equals the dense scipy computation
    (the normalising constants, which the density drops, cancel)."""
    model, dens = density
    rng = np.random.default_rng(5)
    points = [dens.start + rng.normal(0, 0.3, dens.n_dim) for _ in range(2)]
    ours = [dens.log_density(x)[0] for x in points]
    reference = [_scipy_log_posterior(model, x, dens.expand(x)) for x in points]
    assert ours[0] - ours[1] == pytest.approx(reference[0] - reference[1], abs=1e-7)


def test_gradient_equals_finite_differences(density):
    _, dens = density
    x = dens.start + np.random.default_rng(6).normal(0, 0.3, dens.n_dim)
    _, gradient = dens.log_density(x)
    h = 1e-6
    numeric = [(dens.log_density(x + h * e)[0] - dens.log_density(x - h * e)[0]) / (2 * h)
               for e in np.eye(dens.n_dim)]
    np.testing.assert_allclose(gradient, numeric, rtol=1e-5, atol=1e-5)


def test_start_is_the_posterior_mode(density):
    _, dens = density
    assert np.max(np.abs(dens.log_density(dens.start)[1])) < 1e-2


def test_expand_gives_the_reported_intercept_and_bounded_values(density):
    model, dens = density
    x = dens.start + 0.2
    values = dens.expand(x)
    p = len(model.design.fixed_names)
    if "(Intercept)" in model.design.fixed_names:   # α is the intercept at the mean of Days
        xbar = model.design.X[:, 1:].mean(axis=0)
        assert values["beta"][0] == pytest.approx(x[0] - xbar @ x[1:p])
    np.testing.assert_allclose(values["sd_Subject"], np.exp(x[p:p + len(values["sd_Subject"])]))
    assert float(values["sigma"]) == pytest.approx(np.exp(x[-1]))
    if "corr_Subject" in values:
        assert values["corr_Subject"][0] == pytest.approx(np.tanh(x[-2]))


def test_large_response_offsets_do_not_lose_precision(sleepstudy):
    """The response's mean is taken out before the cross-products: shifting y by 10⁷ moves
    the intercept and nothing else."""
    shifted = sleepstudy.assign(Reaction=sleepstudy.Reaction + 1e7)
    priors = {"(Intercept)": Prior("normal", mu=0, sigma=1e8)}
    dens = {name: lb.LMM("Reaction ~ Days + (Days | Subject)", data, priors=priors)
            .target("marginal") for name, data in [("plain", sleepstudy), ("shifted", shifted)]}
    x = dens["plain"].start
    moved = x.copy()
    moved[0] += 1e7
    value, gradient = dens["plain"].log_density(x)
    value_s, gradient_s = dens["shifted"].log_density(moved)
    np.testing.assert_allclose(gradient_s[1:], gradient[1:], rtol=1e-6, atol=1e-8)
    # only the intercept's prior term differs
    prior = stats.norm(0, 1e8)
    assert value_s - value == pytest.approx(prior.logpdf(moved[0]) - prior.logpdf(x[0]),
                                            abs=1e-6)


def test_applies_only_to_marginal_models(sleepstudy):
    crossed = sleepstudy.assign(Day=sleepstudy.Days.astype(str))
    assert lb.LMM("Reaction ~ Days + (1 | Subject) + (1 | Day)", crossed
                  ).engine("auto", "nutpie").engine != "marginal"
    model = lb.LMM("Reaction ~ Days + (Days | Subject)", sleepstudy)
    assert model.engine("auto", "nutpie").engine == "marginal"
    assert model.engine("auto", "pymc").engine == "graph"
    assert lb.LMM("Reaction ~ Days + (Days | Subject)", sleepstudy,
                  likelihood="conditional").engine("auto", "nutpie").engine == "graph"


def test_a_density_cannot_take_another_response(sleepstudy):
    model = lb.LMM("Reaction ~ Days + (Days | Subject)", sleepstudy)
    config = lb.sampling.SamplerConfig(draws=10, tune=10, chains=1)
    with pytest.raises(lb.SamplingError, match="holds its own response"):
        model.fit_with(config, target=model.target("marginal"))
