"""Response families on the numpy side: inverse link, log-density and draws of the response.

The builder writes each family's likelihood in PyMC; prediction, predictive checks and
pointwise log-likelihoods (for LOO) use these numpy counterparts on posterior draws, so
they never build a PyMC model. A family maps the linear predictor η = Xβ + Σ Z b to the
mean μ = g⁻¹(η); its other parameters (the Gaussian's residual SD σ, the negative
binomial's dispersion α, the binomial's number of trials) come in a mapping ``aux`` keyed
by name, arrays that broadcast against the mean.

=============  ==============  ==================  =============================  =========
family         default link    other links         mean μ                         ``aux``
=============  ==============  ==================  =============================  =========
gaussian       identity                            E[y]                           sigma
bernoulli      logit           probit, cloglog     P(y = 1)                       (none)
binomial       logit           probit, cloglog     P(success) in each trial       trials
poisson        log                                 E[y]                           (none)
negbinomial    log                                 E[y]; Var y = μ + μ²/α         alpha
=============  ==============  ==================  =============================  =========

For the binomial the mean is the success probability, not the expected count (lme4's
``fitted()`` on the response scale); ``trials`` comes from the data
(``cbind(successes, failures)``), not from the posterior, so it is not in ``parameters``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from scipy import special, stats

from .errors import SpecError

__all__ = ["DEFAULT_LINKS", "FAMILIES", "Family", "get_family"]


def _identity(eta: np.ndarray) -> np.ndarray:
    return eta


def _cloglog_inverse(eta: np.ndarray) -> np.ndarray:
    """1 − exp(−exp(η)), the complementary log-log's inverse."""
    return -np.expm1(-np.exp(eta))


INVERSE_LINKS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "identity": _identity,
    "logit": special.expit,
    "probit": special.ndtr,
    "cloglog": _cloglog_inverse,
    "log": np.exp,
}

LINKS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "identity": _identity,
    "logit": special.logit,
    "probit": special.ndtri,
    "cloglog": lambda mu: np.log(-np.log1p(-mu)),
    "log": np.log,
}


def _gaussian_logpdf(y, mean, aux):
    return stats.norm.logpdf(y, loc=mean, scale=aux["sigma"])


def _gaussian_draw(mean, aux, rng: np.random.Generator):
    return rng.normal(mean, aux["sigma"])


def _bernoulli_logpdf(y, mean, aux):
    return stats.bernoulli.logpmf(y, mean)


def _bernoulli_draw(mean, aux, rng: np.random.Generator):
    return (rng.random(np.shape(mean)) < mean).astype(float)


def _binomial_logpdf(y, mean, aux):
    return stats.binom.logpmf(y, aux["trials"], mean)


def _binomial_draw(mean, aux, rng: np.random.Generator):
    trials = np.broadcast_to(aux["trials"], np.shape(mean)).astype(np.int64)
    return rng.binomial(trials, mean).astype(float)


def _poisson_logpdf(y, mean, aux):
    return stats.poisson.logpmf(y, mean)


def _poisson_draw(mean, aux, rng: np.random.Generator):
    return rng.poisson(mean).astype(float)


def _negbinomial_logpdf(y, mean, aux):
    """NB(μ, α): scipy's (n, p) with n = α, p = α/(α + μ), so Var y = μ + μ²/α."""
    alpha = aux["alpha"]
    return stats.nbinom.logpmf(y, alpha, alpha / (alpha + mean))


def _negbinomial_draw(mean, aux, rng: np.random.Generator):
    """Gamma–Poisson mixture: λ ~ Gamma(α, scale μ/α), y ~ Poisson(λ)."""
    alpha = aux["alpha"]
    return rng.poisson(rng.gamma(alpha, np.asarray(mean) / alpha)).astype(float)


@dataclass(frozen=True)
class Family:
    """A response distribution and its link.

    Attributes
    ----------
    name : str
    link : str
        Name of the link g, with μ = g⁻¹(η).
    parameters : tuple of str
        Posterior variables the family needs besides the mean (``("sigma",)`` for the
        Gaussian, ``("alpha",)`` for the negative binomial), passed in ``aux`` under the same
        names.
    logpdf : callable (y, mean, aux) -> ndarray
        Log-density (or log-mass) of y given the mean, elementwise with broadcasting.
    draw : callable (mean, aux, rng) -> ndarray
        Draws of the response given the mean.
    links : tuple of str
        The links this family accepts, the default first.
    """

    name: str
    link: str
    parameters: tuple[str, ...]
    logpdf: Callable
    draw: Callable
    links: tuple[str, ...] = ()

    def inverse_link(self, eta: np.ndarray) -> np.ndarray:
        """μ = g⁻¹(η)."""
        return INVERSE_LINKS[self.link](eta)

    def link_function(self, mu: np.ndarray) -> np.ndarray:
        """η = g(μ)."""
        return LINKS[self.link](mu)


_BINARY_LINKS = ("logit", "probit", "cloglog")

FAMILIES: dict[str, Family] = {
    "gaussian": Family("gaussian", "identity", ("sigma",), _gaussian_logpdf, _gaussian_draw,
                       ("identity",)),
    "bernoulli": Family("bernoulli", "logit", (), _bernoulli_logpdf, _bernoulli_draw,
                        _BINARY_LINKS),
    "binomial": Family("binomial", "logit", (), _binomial_logpdf, _binomial_draw,
                       _BINARY_LINKS),
    "poisson": Family("poisson", "log", (), _poisson_logpdf, _poisson_draw, ("log",)),
    "negbinomial": Family("negbinomial", "log", ("alpha",), _negbinomial_logpdf,
                          _negbinomial_draw, ("log",)),
}

DEFAULT_LINKS = {name: family.link for name, family in FAMILIES.items()}


def get_family(name: str, link: str | None = None) -> Family:
    """The family called ``name`` with ``link`` (its default link when None).

    Raises
    ------
    SpecError
        For an unknown family (listing the choices) or a link the family does not take.
    """
    if name not in FAMILIES:
        raise SpecError(f"unknown family {name!r}; available: {list(FAMILIES)}")
    family = FAMILIES[name]
    if link is None or link == family.link:
        return family
    if link not in family.links:
        raise SpecError(f"the {name} family takes the link(s) {list(family.links)}, "
                        f"not {link!r}")
    return replace(family, link=link)
