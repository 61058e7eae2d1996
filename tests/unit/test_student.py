"""The Student-t family (``family="student"``): its log-density and draws against the
t distribution, its ν prior, names and summary term, its ICC variance, the engines that
refuse it, the residual options it takes, and its PyMC model."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import special, stats

import lmm_bayes as lb
from lmm_bayes import names
from lmm_bayes.engines import ENGINES, Problem
from lmm_bayes.families import extra_parameters, get_family
from lmm_bayes.summaries import icc, latent_residual_variance

STUDENT = get_family("student")


def _data(seed=0, levels=12, rows=6):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(levels), rows)
    x = rng.normal(size=len(g))
    y = 1.0 + 2.0 * x + rng.normal(0, 0.8, levels)[g] + 0.5 * rng.standard_t(4, len(g))
    return pd.DataFrame({"y": y, "x": x, "g": g.astype(str),
                         "arm": np.where(g % 2, "A", "B"), "visit": np.tile(np.arange(rows), levels)})


def test_logpdf_is_the_t_density():
    """log Γ((ν+1)/2) − log Γ(ν/2) − ½ log(νπ) − log σ − (ν+1)/2 · log(1 + z²/ν), z = (y − μ)/σ,
    by hand and by scipy.stats.t, at several ν including the Cauchy (ν = 1)."""
    y = np.array([-3.0, 0.1, 0.5, 12.0])
    mu = np.array([0.0, 0.0, 1.0, 2.0])
    for nu, sigma in ((1.0, 0.5), (4.0, 2.0), (30.0, 1.3)):
        z = (y - mu) / sigma
        hand = (special.gammaln((nu + 1) / 2) - special.gammaln(nu / 2)
                - 0.5 * np.log(nu * np.pi) - np.log(sigma)
                - (nu + 1) / 2 * np.log1p(z**2 / nu))
        value = STUDENT.logpdf(y, mu, {"sigma": sigma, "nu": nu})
        assert value == pytest.approx(hand, rel=1e-10)
        assert value == pytest.approx(stats.t.logpdf(y, nu, mu, sigma), rel=1e-10)


def test_heavy_tails_cost_an_outlier_less_than_the_normal():
    """Ten σ out, the t with ν = 4 gives log density log Γ(5/2) − ½ log 4π − (5/2) log 26
    = −9.13, the normal −½ log 2π − 50 = −50.92."""
    at = {"sigma": 1.0, "nu": 4.0}
    assert STUDENT.logpdf(10.0, 0.0, at) == pytest.approx(-9.126, abs=0.001)
    assert get_family("gaussian").logpdf(10.0, 0.0, at) == pytest.approx(-50.919, abs=0.001)


def test_draws_follow_the_t_distribution():
    """50,000 draws at ν = 3 (infinite fourth moment), location 2, scale 0.5: the
    Kolmogorov–Smirnov distance to scipy's t(3, 2, 0.5) is below its 0.1% critical value
    1.95/√n, while the normal of the same variance is far off."""
    n = 50_000
    y = STUDENT.draw(np.full(n, 2.0), {"sigma": 0.5, "nu": 3.0}, np.random.default_rng(11))
    critical = 1.95 / np.sqrt(n)
    assert stats.kstest(y, stats.t(3.0, 2.0, 0.5).cdf).statistic < critical
    same_variance = stats.norm(2.0, 0.5 * np.sqrt(3.0))
    assert stats.kstest(y, same_variance.cdf).statistic > 5 * critical


def test_draws_broadcast_per_draw_parameters_over_rows():
    """(S, 1) parameters against (S, m) means, as prediction passes them."""
    mean = np.zeros((3, 5))
    aux = {"sigma": np.array([[1e-9], [1.0], [1.0]]), "nu": np.array([[5.0], [5.0], [50.0]])}
    y = STUDENT.draw(mean, aux, np.random.default_rng(0))
    assert y.shape == (3, 5) and np.abs(y[0]).max() < 1e-7 and np.abs(y[1:]).min() > 0


def test_parameters_priors_and_names():
    assert (STUDENT.link, STUDENT.parameters) == ("identity", ("sigma", "nu"))
    sigma, nu = STUDENT.extra
    assert sigma is get_family("gaussian").extra[0]       # one name, one term, one default
    assert (nu.name, nu.term) == (names.NU, "nu") == ("nu", "nu")
    assert nu.default_prior(123.0) == lb.Prior("gamma", alpha=2.0, beta=0.1)
    assert extra_parameters()["nu"] is nu
    assert names.public([], ["nu", "beta", "sigma"]) == ["beta", "sigma", "nu"]


def test_gamma_prior_is_pymc_shape_and_rate():
    """Gamma(2, rate 0.1): mean 20, the prior mass below 1 is 1 − e^{−0.1}·1.1 = 0.0047."""
    pm = pytest.importorskip("pymc")
    from lmm_bayes.builder import _scalar

    with pm.Model():
        nu = _scalar("nu", lb.Prior("gamma", alpha=2.0, beta=0.1))
    assert pm.draw(nu, 20_000, random_seed=1).mean() == pytest.approx(20.0, rel=0.03)
    logp = pm.logp(nu, 1.0).eval()
    assert logp == pytest.approx(stats.gamma(2.0, scale=10.0).logpdf(1.0), rel=1e-10)
    assert 1 - np.exp(-0.1) * 1.1 == pytest.approx(stats.gamma(2.0, scale=10.0).cdf(1.0))


def test_default_priors_and_overrides():
    data = _data()
    model = lb.LMM("y ~ x + (1 | g)", data, family="student")
    sd_y = float(np.std(model.design.y, ddof=1))
    assert model.priors.auxiliary == {
        "sigma": lb.Prior("halfstudentt", nu=3.0, sigma=sd_y),
        "nu": lb.Prior("gamma", alpha=2.0, beta=0.1)}
    table = model.priors.table().set_index("parameter")["prior"]
    assert table["nu"] == "gamma(alpha=2, beta=0.1)"
    stiff = lb.LMM("y ~ x + (1 | g)", data, family="student",
                   priors={"nu": lb.Prior("gamma", alpha=20.0, beta=1.0)})
    assert stiff.priors.auxiliary["nu"] == lb.Prior("gamma", alpha=20.0, beta=1.0)
    with pytest.raises(lb.PriorError, match="prior 'nu' is for a standard deviation.*not normal"):
        lb.LMM("y ~ x + (1 | g)", data, family="student",
               priors={"nu": lb.Prior("normal", mu=5.0, sigma=1.0)})
    with pytest.raises(lb.PriorError, match=r"unknown prior key\(s\) \['nu'\]"):
        lb.LMM("y ~ x + (1 | g)", data, priors={"nu": lb.Prior("gamma", alpha=2, beta=0.1)})
    with pytest.raises(lb.PriorError, match="gamma prior takes parameters"):
        lb.Prior("gamma", alpha=2.0, rate=0.1)


def test_every_fast_engine_refuses_it_with_a_reason():
    model = lb.LMM("y ~ x + (1 | g)", _data(), family="student")
    choice = model.engine()
    assert choice.engine == "graph" and choice.likelihood == "conditional"
    for name in ("collapsed", "marginal", "blocked"):
        assert (f"not {name}: the student family (effects integrate out in closed form "
                "under normal residuals)") in choice.reason
    assert ("not glmm: the student family (the compiled GLMM densities write out "
            "['bernoulli', 'binomial', 'negbinomial', 'poisson'])") in choice.reason
    with pytest.raises(lb.SamplingError, match="cannot fit this model with the marginal "
                                               "engine: the student family"):
        model.engine("marginal")
    with pytest.raises(lb.DesignError, match="likelihood='marginal'"):
        lb.LMM("y ~ x + (1 | g)", _data(), family="student", likelihood="marginal")
    problem = Problem(model.design, model.priors, "student")
    assert not ENGINES["glmm"].assess(problem).applies


def test_residual_structures_are_refused_and_sigma_formulas_taken():
    data = _data()
    with pytest.raises(lb.SpecError, match="a residual correlation structure needs the "
                                           "gaussian family .* not the student family"):
        lb.LMM("y ~ x + (1 | g)", data, family="student", residual="ar1(visit | g)")
    with pytest.raises(lb.SpecError, match=r"the poisson family does not have; families "
                                           r"with one: \['gaussian', 'student'\]"):
        lb.LMM("y ~ x + (1 | g)", data.assign(y=1), family="poisson", sigma="~ arm")
    model = lb.LMM("y ~ x + (1 | g)", data, family="student", sigma="~ arm")
    assert set(model.priors.auxiliary) == {"nu"} and model.priors.has_sigma_model
    assert model.engine().engine == "graph"


def test_the_pymc_model_matches_the_numpy_density():
    """At a random point the graph's log-likelihood equals Σ_i log t_ν(y_i; x_iβ + b_g, σ)
    by scipy, with one σ and with σ_i = exp(γ₀ + γ₁·[arm B]) from a sigma formula."""
    pytensor = pytest.importorskip("pytensor")
    data = _data()
    rng = np.random.default_rng(2)
    for sigma_formula, scale in ((None, "sigma"), ("~ arm", "sigma_beta")):
        model = lb.LMM("y ~ x + (1 | g)", data, family="student", sigma=sigma_formula)
        pm_model = model.pymc_model
        assert type(pm_model["y"].owner.op).__name__ == "StudentTRV"
        point = pm_model.initial_point()
        values = [point[v.name] + rng.normal(scale=0.3, size=np.shape(point[v.name]))
                  for v in pm_model.value_vars]
        wanted = [pm_model[n] for n in ("beta", "b_g", "nu", scale)]
        wanted.append(pm_model.logp(vars=[pm_model["y"]], sum=True))
        beta, b, nu, sigma, loglik = pytensor.function(
            pm_model.value_vars, pm_model.replace_rvs_by_values(wanted),
            on_unused_input="ignore")(*values)
        if sigma_formula is not None:
            sigma = np.exp(model.residuals.sigma.X @ sigma)
        mu = model.design.X @ beta + b[model.design.groups[0].index, 0]
        assert loglik == pytest.approx(stats.t.logpdf(model.design.y, nu, mu, sigma).sum(),
                                       rel=1e-8)


def _posterior(sigma, nu, sd_g):
    shape = (1, len(nu))
    return xr.Dataset({"sigma": (("chain", "draw"), np.reshape(sigma, shape)),
                       "nu": (("chain", "draw"), np.reshape(nu, shape)),
                       "sd_g": (("chain", "draw", "g__term"), np.reshape(sd_g, (*shape, 1)))},
                      coords={"g__term": ["(Intercept)"]})


def test_icc_uses_the_t_residual_variance():
    """σ²_ε = σ² ν/(ν − 2): with σ = 1 and τ = 1, ν = 4 gives σ²_ε = 2 and ICC 1/3, ν = 12
    gives 1.2 and ICC 1/2.2; ν ≤ 2 (infinite variance) gives ICC 0."""
    post = _posterior([1.0, 1.0, 1.0, 1.0], [4.0, 12.0, 2.0, 1.5], [1.0, 1.0, 1.0, 1.0])
    residual = latent_residual_variance(STUDENT, post)(np.ones((1, 4)))
    assert residual[0, :2] == pytest.approx([2.0, 1.2])
    assert np.isinf(residual[0, 2:]).all()
    table = icc(post, {"g": ("(Intercept)",)}, residual=latent_residual_variance(STUDENT, post))
    assert table.estimate.iloc[0] == pytest.approx((1 / 3 + 1 / 2.2 + 0 + 0) / 4)


def test_prior_predictive_draws_nu_from_its_gamma_prior():
    """2,000 prior draws of ν: mean 20 (Gamma(2, rate 0.1)) within 4 standard errors
    (SD √2/0.1 = 14.1); the replicated y has the data's rows."""
    prior = lb.LMM("y ~ x + (1 | g)", _data(), family="student").prior_predictive(
        2000, random_seed=3)
    assert list(prior.prior.data_vars) == ["beta", "sigma", "nu", "sd_g", "b_g"]
    assert abs(float(prior.prior["nu"].mean()) - 20.0) < 4 * 14.14 / np.sqrt(2000)
    assert prior.prior_predictive["y"].shape == (1, 2000, 72)
