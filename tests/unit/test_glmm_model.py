"""GLMM inputs: binomial cbind responses, response checks by family, link-scale default
priors, and each family's log-likelihood in the built model against a hand computation."""

import numpy as np
import pandas as pd
import pytensor
import pytest
from conftest import quiet_fit
from scipy import special, stats

import lmm_bayes as lb
from lmm_bayes.design import build_design
from lmm_bayes.formula import parse_formula
from lmm_bayes.priors import build_priors


def frame(seed=0, n=40):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "g": np.repeat([f"s{k}" for k in range(8)], n // 8),
        "x": rng.normal(size=n),
        "hit": rng.integers(0, 2, n),
        "k": rng.integers(0, 4, n),
        "count": rng.poisson(3.0, n),
    }).assign(n=lambda d: d.k + rng.integers(0, 3, n))


def design(text, data, family):
    return build_design(parse_formula(text), data, family=family)


def test_cbind_gives_successes_and_trials():
    data = frame()
    d = design("cbind(k, n - k) ~ x + (1 | g)", data, "binomial")
    assert d.y == pytest.approx(data.k)
    assert d.trials == pytest.approx(data.n)
    assert design("hit ~ x + (1 | g)", data, "binomial").trials == pytest.approx(np.ones(40))
    assert design("hit ~ x + (1 | g)", data, "bernoulli").trials is None


def test_logical_response_for_bernoulli():
    data = frame().assign(hit=lambda d: d.hit == 1)
    assert design("hit ~ x", data, "bernoulli").y == pytest.approx(data.hit.astype(float))


@pytest.mark.parametrize("text, family, change, message", [
    ("hit ~ x", "bernoulli", {"hit": (3, 2)},
     (r"'hit' must be 0 or 1 for the bernoulli family.*1 row\(s\) are not \(first at row "
     r"position 3\)")),
    ("count ~ x", "poisson", {"count": (5, 1.5)},
     r"'count' must be non-negative whole numbers for the poisson family.*position 5"),
    ("count ~ x", "negbinomial", {"count": (7, -1)}, r"'count' must be non-negative.*position 7"),
    ("cbind(k, n - k) ~ x", "binomial", {"n": (4, 0), "k": (4, 2)},
     (r"'n - k' must be non-negative whole numbers \(failures\); successes cannot exceed the "
     r"trials; 1 row\(s\) are not \(first at row position 4\)")),
    ("cbind(k, n - k) ~ x", "binomial", {"k": (6, 0.5)}, r"'k' must be non-negative whole.*6"),
    ("cbind(k, n - k) ~ x", "poisson", {}, r"is the binomial family's; set family='binomial'"),
    ("hit ~ x", "binomial", {"hit": (2, 3)}, r"use cbind\(successes, failures\)"),
])
def test_responses_outside_the_family_support(text, family, change, message):
    data = frame()
    for column, (row, value) in change.items():
        data[column] = data[column].astype(float)
        data.loc[row, column] = value
    with pytest.raises(lb.DesignError, match=message):
        design(text, data, family)


def test_cbind_with_one_argument_is_a_spec_error():
    with pytest.raises(lb.SpecError, match=r"cbind\(\) takes 2 arguments, not 1"):
        design("cbind(k) ~ x", frame(), "binomial")


def test_row_positions_refer_to_the_data_given_after_dropping_missing_rows():
    data = frame()
    data["x"] = data["x"].astype(float)
    data.loc[0, "x"] = np.nan
    data.loc[9, "hit"] = 2
    with pytest.raises(lb.DesignError, match="first at row position 9"):
        build_design(parse_formula("hit ~ x"), data, family="bernoulli", na_action="drop")


def test_link_scale_default_priors():
    """Intercept centre g((Σy + ½)/(Σn + 1)), coefficient scale 2.5/sd(x), SD scale 1, no
    sigma; alpha ~ Exponential(1) for the negative binomial (worked out here by hand)."""
    data = frame()
    d = design("cbind(k, n - k) ~ x + (x | g)", data, "binomial")
    priors = build_priors(d, family="binomial")
    p = (data.k.sum() + 0.5) / (data.n.sum() + 1)
    assert priors.intercept.kwargs == pytest.approx({"mu": np.log(p / (1 - p)), "sigma": 2.5})
    assert priors.fixed["x"].kwargs["sigma"] == pytest.approx(2.5 / data.x.std())
    assert priors.sd["g"]["(Intercept)"].kwargs == {"nu": 3.0, "sigma": 1.0}
    assert priors.sd["g"]["x"].kwargs["sigma"] == pytest.approx(1 / data.x.std())
    assert priors.sigma is None and "alpha" not in priors.auxiliary
    assert "sigma" not in set(priors.table().parameter)
    probit = build_priors(d, family="binomial", link="probit").intercept.kwargs["mu"]
    assert probit == pytest.approx(stats.norm.ppf(p))
    counts = design("count ~ x + (1 | g)", data, "negbinomial")
    nb = build_priors(counts, {"alpha": lb.Prior("halfnormal", sigma=5)}, family="negbinomial")
    assert nb.intercept.kwargs["mu"] == pytest.approx(
        np.log((data["count"].sum() + 0.5) / (len(data) + 1)))
    assert nb.auxiliary["alpha"] == lb.Prior("halfnormal", sigma=5)
    assert list(nb.table().parameter)[-1] == "alpha"
    with pytest.raises(lb.PriorError, match="unknown prior key"):
        build_priors(counts, {"sigma": lb.Prior("halfnormal", sigma=1)}, family="poisson")


def _hand_loglik(family, link, y, eta, trials, alpha):
    if family == "bernoulli":
        p = {"logit": special.expit, "probit": stats.norm.cdf,
             "cloglog": lambda e: 1 - np.exp(-np.exp(e))}[link](eta)
        return np.sum(y * np.log(p) + (1 - y) * np.log1p(-p))
    if family == "binomial":
        return stats.binom.logpmf(y, trials, special.expit(eta)).sum()
    if family == "poisson":
        return stats.poisson.logpmf(y, np.exp(eta)).sum()
    mu = np.exp(eta)
    return stats.nbinom.logpmf(y, alpha, alpha / (alpha + mu)).sum()


@pytest.mark.parametrize("text, family, link", [
    ("hit ~ x + (x | g)", "bernoulli", "logit"),
    ("hit ~ x + (1 | g)", "bernoulli", "probit"),
    ("hit ~ x + (1 | g)", "bernoulli", "cloglog"),
    ("cbind(k, n - k) ~ x + (1 | g)", "binomial", "logit"),
    ("count ~ x + (x || g)", "poisson", "log"),
    ("count ~ x + (1 | g)", "negbinomial", "log"),
])
def test_likelihood_matches_hand_computation(text, family, link):
    """At a random point, log p(y | β, b, α) of the built model equals the family's
    log-mass summed over rows with η = β0 + β1 x + b0[g] + b1[g] x, by scipy."""
    data = frame(1)
    model = lb.LMM(text, data, family=family, link=link)
    pm_model = model.pymc_model
    assert "sigma" not in pm_model.named_vars
    rng = np.random.default_rng(2)
    point = pm_model.initial_point()
    values = [point[v.name] + rng.normal(scale=0.3, size=np.shape(point[v.name]))
              for v in pm_model.value_vars]
    wanted = [pm_model["beta"], pm_model["b_g"]]
    if family == "negbinomial":
        wanted.append(pm_model["alpha"])
    wanted.append(pm_model.logp(vars=[pm_model["y"]], sum=True))
    outputs = pytensor.function(pm_model.value_vars, pm_model.replace_rvs_by_values(wanted),
                                on_unused_input="ignore")(*values)
    beta, b, loglik = outputs[0], outputs[1], outputs[-1]
    alpha = outputs[2] if family == "negbinomial" else None
    idx = data.g.str[1:].astype(int).to_numpy()
    x = data.x.to_numpy()
    eta = beta[0] + beta[1] * x + b[idx, 0] + (b[idx, 1] * x if b.shape[1] > 1 else 0)
    y = model.design.y
    expected = _hand_loglik(family, link, y, eta, model.design.trials, alpha)
    assert loglik == pytest.approx(expected, rel=1e-8)


def test_correlated_block_beside_another_factor_starts_sampling():
    """(x | g) next to (1 | h), both SDs half-t: nutpie's initial point used to fail
    ("Failed to generate a new initial position") until the LKJ block got an explicit
    initial value. Ten draws; what is checked is that sampling starts and names the levels."""
    data = frame(3).assign(h=lambda d: np.tile(list("pqrst"), 8))
    model = lb.LMM("hit ~ x + (x | g) + (1 | h)", data, family="bernoulli")
    fit = quiet_fit(model, draws=10, tune=10, chains=1, random_seed=1)
    assert list(fit.idata.posterior["b_h"]["h__level"].values) == list("pqrst")
