"""Response families: links, log-densities and draws against hand formulas and scipy, the
PyMC likelihood against the numpy log-density, extra parameters and their default priors."""

import ast
import inspect

import numpy as np
import pytest
from scipy import integrate, special, stats

import lmm_bayes as lb
from lmm_bayes import families
from lmm_bayes.families import FAMILIES, extra_parameters, get_family

ETA = np.array([-2.0, -0.3, 0.0, 0.7, 1.9])


@pytest.mark.parametrize("name, link, expected", [
    ("bernoulli", "logit", 1 / (1 + np.exp(-ETA))),
    ("bernoulli", "probit", 0.5 * (1 + special.erf(ETA / np.sqrt(2)))),
    ("binomial", "cloglog", 1 - np.exp(-np.exp(ETA))),
    ("poisson", "log", np.exp(ETA)),
    ("gaussian", None, ETA),
])
def test_inverse_links_and_their_inverses(name, link, expected):
    family = get_family(name, link)
    assert family.inverse_link(ETA) == pytest.approx(expected, rel=1e-12)
    assert family.link_function(expected) == pytest.approx(ETA, rel=1e-9, abs=1e-12)


def test_default_links_and_parameters():
    assert [get_family(n).link for n in ("gaussian", "bernoulli", "binomial", "poisson",
                                         "negbinomial")] == ["identity", "logit", "logit",
                                                             "log", "log"]
    assert get_family("negbinomial").parameters == ("alpha",)
    assert get_family("poisson").parameters == ()
    assert get_family("gaussian").parameters == ("sigma",)


@pytest.mark.parametrize("name, link, message", [
    ("zip", None, "unknown family 'zip'"),
    ("poisson", "logit", r"the poisson family takes the link\(s\) \['log'\], not 'logit'"),
    ("bernoulli", "identity", "not 'identity'"),
])
def test_unknown_family_or_link(name, link, message):
    with pytest.raises(lb.SpecError, match=message):
        get_family(name, link)


def test_log_densities_match_the_formulas():
    y = np.array([0.0, 1.0, 3.0, 7.0])
    mu = np.array([0.4, 2.0, 3.5, 5.0])
    p = np.array([0.2, 0.5, 0.7, 0.9])
    n = np.array([1.0, 2.0, 5.0, 9.0])
    binary = np.array([0.0, 1.0, 1.0, 0.0])
    bern = get_family("bernoulli").logpdf(binary, p, {})
    assert bern == pytest.approx(binary * np.log(p) + (1 - binary) * np.log1p(-p))
    k = np.array([0.0, 1.0, 3.0, 7.0])
    binom = get_family("binomial").logpdf(k, p, {"trials": n})
    log_choose = special.gammaln(n + 1) - special.gammaln(k + 1) - special.gammaln(n - k + 1)
    assert binom == pytest.approx(log_choose + k * np.log(p) + (n - k) * np.log1p(-p))
    pois = get_family("poisson").logpdf(y, mu, {})
    assert pois == pytest.approx(y * np.log(mu) - mu - special.gammaln(y + 1))
    alpha = 2.5
    nb = get_family("negbinomial").logpdf(y, mu, {"alpha": alpha})
    hand = (special.gammaln(y + alpha) - special.gammaln(alpha) - special.gammaln(y + 1)
            + alpha * np.log(alpha / (alpha + mu)) + y * np.log(mu / (alpha + mu)))
    assert nb == pytest.approx(hand)


def test_draws_have_the_family_mean_and_variance():
    rng = np.random.default_rng(3)
    size = 200_000
    nb = get_family("negbinomial").draw(np.full(size, 4.0), {"alpha": 2.0}, rng)
    assert nb.mean() == pytest.approx(4.0, abs=0.03)
    assert nb.var() == pytest.approx(4.0 + 16.0 / 2.0, rel=0.03)  # μ + μ²/α
    binom = get_family("binomial").draw(np.full(size, 0.3), {"trials": 10}, rng)
    assert binom.mean() == pytest.approx(3.0, abs=0.02)
    assert binom.var() == pytest.approx(2.1, rel=0.03)
    bern = get_family("bernoulli").draw(np.full(size, 0.25), {}, rng)
    assert set(np.unique(bern)) == {0.0, 1.0} and bern.mean() == pytest.approx(0.25, abs=0.005)


# ------------------------------------------------------------------ one object per family

# μ on the response scale and the extra parameters (with the binomial's trials) at which
# each family is checked; every row a different point
MEANS = {"gaussian": np.array([-1.5, 0.2, 3.0]), "bernoulli": np.array([0.1, 0.5, 0.85]),
         "binomial": np.array([0.1, 0.5, 0.85]), "poisson": np.array([0.4, 2.0, 7.5]),
         "negbinomial": np.array([0.4, 2.0, 7.5]), "student": np.array([-1.5, 0.2, 3.0]),
         "cumulative": np.array([-0.8, 0.4, 2.1])}
AUX = {"gaussian": {"sigma": 1.7}, "bernoulli": {}, "binomial": {"trials": np.array([1, 4, 9])},
       "poisson": {}, "negbinomial": {"alpha": 2.5}, "student": {"sigma": 1.7, "nu": 9.0},
       "cumulative": {"cutpoints": np.array([-1.0, 0.3, 0.9, 2.5])}}
Y = {"gaussian": np.array([-0.3, 0.2, 5.1]), "bernoulli": np.array([0.0, 1.0, 1.0]),
     "binomial": np.array([0.0, 3.0, 6.0]), "poisson": np.array([0.0, 3.0, 11.0]),
     "negbinomial": np.array([0.0, 3.0, 11.0]), "student": np.array([-0.3, 0.2, 9.1]),
     "cumulative": np.array([1.0, 3.0, 5.0])}
LINKS = [(name, link) for name, family in FAMILIES.items() for link in family.links]


def _gamma_poisson_logpmf(y, mu, aux):
    """log ∫ Poisson(y; λ) Gamma(λ; α, scale μ/α) dλ by quadrature: NB(μ, α) from its
    definition as a mixture, independently of scipy's (n, p) parametrisation."""
    alpha = aux["alpha"]

    def density(lam, k, m):
        return stats.poisson.pmf(k, lam) * stats.gamma.pdf(lam, alpha, scale=m / alpha)
    return np.log([integrate.quad(density, 0, np.inf, args=(k, m))[0] for k, m in zip(y, mu)])


def _category_probabilities(mu, aux, cdf=stats.logistic.cdf):
    """P(y = k | η) = F(c_k − η) − F(c_(k−1) − η), c_0 = −∞, c_K = ∞, rows by η, columns
    by k = 1, …, K (McCullagh 1980)."""
    c = np.concatenate([[-np.inf], aux["cutpoints"], [np.inf]])
    return np.diff(cdf(c[None, :] - np.asarray(mu)[:, None]), axis=1)


def _category_moments(mu, aux):
    p = _category_probabilities(mu, aux)
    k = np.arange(1, p.shape[1] + 1)
    mean = p @ k
    return mean, p @ k**2 - mean**2


SCIPY_LOGPDF = {
    "gaussian": lambda y, mu, aux: stats.norm.logpdf(y, mu, aux["sigma"]),
    "bernoulli": lambda y, mu, aux: stats.binom.logpmf(y, 1, mu),
    "binomial": lambda y, mu, aux: stats.binom.logpmf(y, aux["trials"], mu),
    "poisson": lambda y, mu, aux: stats.poisson.logpmf(y, mu),
    "negbinomial": _gamma_poisson_logpmf,
    "student": lambda y, mu, aux: stats.t.logpdf(y, aux["nu"], mu, aux["sigma"]),
    "cumulative": lambda y, mu, aux: np.log(
        _category_probabilities(mu, aux)[np.arange(len(y)), y.astype(int) - 1]),
}


@pytest.mark.parametrize("name", list(FAMILIES))
def test_logpdf_matches_scipy(name):
    family = get_family(name)
    expected = SCIPY_LOGPDF[name](Y[name], MEANS[name], AUX[name])
    assert family.logpdf(Y[name], MEANS[name], AUX[name]) == pytest.approx(expected, rel=1e-7)


# mean and variance of y given μ and the extra parameters, from each family's definition
MOMENTS = {
    "gaussian": lambda mu, aux: (mu, aux["sigma"] ** 2),
    "bernoulli": lambda mu, aux: (mu, mu * (1 - mu)),
    "binomial": lambda mu, aux: (aux["trials"] * mu, aux["trials"] * mu * (1 - mu)),
    "poisson": lambda mu, aux: (mu, mu),
    "negbinomial": lambda mu, aux: (mu, mu + mu**2 / aux["alpha"]),
    "student": lambda mu, aux: (mu, aux["sigma"] ** 2 * aux["nu"] / (aux["nu"] - 2)),
    "cumulative": _category_moments,
}


@pytest.mark.parametrize("name", list(FAMILIES))
def test_draws_match_the_family_mean_and_variance(name):
    """Sample mean and variance of 100,000 draws at each point within 4.5 Monte Carlo
    standard errors of the formulas: SE(mean) = √(v/n), SE(variance) = √((m₄ − v²)/n)
    with m₄ the fourth central moment (from the draws)."""
    family, size = get_family(name), 100_000
    mu = np.repeat(MEANS[name][None, :], size, axis=0)
    aux = {k: np.broadcast_to(v, mu.shape) if k == "trials" else v
           for k, v in AUX[name].items()}
    y = family.draw(mu, aux, np.random.default_rng(7))
    mean, variance = MOMENTS[name](MEANS[name], AUX[name])
    m4 = ((y - y.mean(axis=0)) ** 4).mean(axis=0)
    assert np.all(np.abs(y.mean(axis=0) - mean) <= 4.5 * np.sqrt(variance / size))
    assert np.all(np.abs(y.var(axis=0, ddof=1) - variance)
                  <= 4.5 * np.sqrt((m4 - variance**2) / size))


@pytest.mark.parametrize("name, link", LINKS)
def test_pymc_likelihood_equals_the_numpy_logpdf(name, link):
    """The two halves of a family agree: log p(y | η, extra parameters) of the PyMC
    likelihood, row by row, equals the numpy log-density at μ = g⁻¹(η)."""
    pm = pytest.importorskip("pymc")
    family = get_family(name, link)
    y, aux = Y[name], AUX[name]
    eta = family.link_function(MEANS[name])
    with pm.Model(coords={"obs": np.arange(len(y))}) as model:
        parameters = {p: pm.Data(p, aux[p]) for p in family.parameters}
        observed = pm.Data("y_obs", y, dims="obs")
        family.likelihood(eta, observed, parameters, aux.get("trials"))
    logp = model.compile_logp(vars=[model["y"]], sum=False)({})[0]
    assert logp == pytest.approx(family.logpdf(y, MEANS[name], aux), rel=1e-6)


def test_extra_parameters_default_priors_and_summary_terms():
    """σ ~ HalfStudentT(3, s) with s the response scale, reported as sd__Observation;
    α ~ Exponential(1) whatever the scale, reported as alpha; the Student-t's σ is the
    Gaussian's (tests/unit/test_student.py checks its ν); the cumulative family's
    ordered cutpoints Student-t(3, 0, 2.5) (brms), rows of effect "cutpoint"; no other
    family has one."""
    (sigma,) = get_family("gaussian").extra
    assert (sigma.name, sigma.term) == ("sigma", "sd__Observation")
    assert sigma.default_prior(4.2) == lb.Prior("halfstudentt", nu=3.0, sigma=4.2)
    (alpha,) = get_family("negbinomial").extra
    assert (alpha.name, alpha.term) == ("alpha", "alpha")
    assert alpha.default_prior(4.2) == lb.Prior("exponential", lam=1.0)
    (cutpoints,) = get_family("cumulative").extra
    assert (cutpoints.name, cutpoints.term, cutpoints.dim) == ("cutpoints", "cutpoint", "cutpoint")
    assert cutpoints.default_prior(4.2) == lb.Prior("student_t", nu=3.0, mu=0.0, sigma=2.5)
    assert not cutpoints.positive and cutpoints.ordered
    assert [n for n, f in FAMILIES.items() if f.extra] == ["gaussian", "negbinomial",
                                                          "student", "cumulative"]


def test_a_parameter_name_means_one_summary_term():
    """The tidy summary finds a family's parameters by name in any posterior, so two
    families sharing a name must report it alike."""
    for family in FAMILIES.values():
        assert family.link == family.links[0]
        for parameter in family.extra:
            assert extra_parameters()[parameter.name].term == parameter.term


def test_pymc_is_imported_only_inside_the_likelihoods():
    """Summaries and prediction use families with numpy alone."""
    tree = ast.parse(inspect.getsource(families))
    imported = {alias.name.split(".")[0] for node in tree.body
                if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in tree.body
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert not imported & {"pymc", "pytensor"}
