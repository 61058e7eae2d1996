"""Response families on the numpy side: inverse link, log-density and draws of the response.

The builder writes each family's likelihood in PyMC; prediction, predictive checks and
pointwise log-likelihoods (for LOO) use these numpy counterparts on posterior draws, so
they never build a PyMC model. A family maps the linear predictor η = Xβ + Σ Z b to the
mean μ = g⁻¹(η) and has at most one extra parameter (the residual SD σ of the Gaussian).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

from .errors import SpecError

__all__ = ["FAMILIES", "Family", "get_family"]


def _identity(eta: np.ndarray) -> np.ndarray:
    return eta


INVERSE_LINKS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"identity": _identity}


def _gaussian_logpdf(y, mean, sigma):
    return stats.norm.logpdf(y, loc=mean, scale=sigma)


def _gaussian_draw(mean, sigma, rng: np.random.Generator):
    return rng.normal(mean, sigma)


@dataclass(frozen=True)
class Family:
    """A response distribution and its link.

    Attributes
    ----------
    name : str
    link : str
        Name of the link g, with μ = g⁻¹(η).
    has_sigma : bool
        Whether the family has a residual SD ``sigma`` in the posterior.
    logpdf : callable (y, mean, sigma) -> ndarray
        Log-density (or log-mass) of y given the mean, elementwise with broadcasting.
    draw : callable (mean, sigma, rng) -> ndarray
        Draws of the response given the mean.
    """

    name: str
    link: str
    has_sigma: bool
    logpdf: Callable
    draw: Callable

    def inverse_link(self, eta: np.ndarray) -> np.ndarray:
        """μ = g⁻¹(η)."""
        return INVERSE_LINKS[self.link](eta)


FAMILIES: dict[str, Family] = {
    "gaussian": Family("gaussian", "identity", True, _gaussian_logpdf, _gaussian_draw),
}


def get_family(name: str) -> Family:
    """The family called ``name``; :class:`~lmm_bayes.SpecError` listing the choices if
    there is none."""
    if name not in FAMILIES:
        raise SpecError(f"unknown family {name!r}; available: {list(FAMILIES)}")
    return FAMILIES[name]
