"""Response families (numpy side): links, log-densities and draws against hand formulas."""

import numpy as np
import pytest
from scipy import special

import lmm_bayes as lb
from lmm_bayes.families import get_family

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
