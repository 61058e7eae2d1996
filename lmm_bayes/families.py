"""Response families on the numpy side: inverse link, log-density and draws of the response.

The builder writes each family's likelihood in PyMC; prediction, predictive checks and
pointwise log-likelihoods (for LOO) use these numpy counterparts on posterior draws, so
they never build a PyMC model. A family maps the linear predictor η = Xβ + Σ Z b to the
mean μ = g⁻¹(η); its other parameters (the Gaussian's residual SD σ, a number of trials)
come in a mapping ``aux`` keyed by name, arrays that broadcast against the mean.
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


def _gaussian_logpdf(y, mean, aux):
    return stats.norm.logpdf(y, loc=mean, scale=aux["sigma"])


def _gaussian_draw(mean, aux, rng: np.random.Generator):
    return rng.normal(mean, aux["sigma"])


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
        Gaussian), passed in ``aux`` under the same names.
    logpdf : callable (y, mean, aux) -> ndarray
        Log-density (or log-mass) of y given the mean, elementwise with broadcasting.
    draw : callable (mean, aux, rng) -> ndarray
        Draws of the response given the mean.
    """

    name: str
    link: str
    parameters: tuple[str, ...]
    logpdf: Callable
    draw: Callable

    def inverse_link(self, eta: np.ndarray) -> np.ndarray:
        """μ = g⁻¹(η)."""
        return INVERSE_LINKS[self.link](eta)


FAMILIES: dict[str, Family] = {
    "gaussian": Family("gaussian", "identity", ("sigma",), _gaussian_logpdf, _gaussian_draw),
}


def get_family(name: str) -> Family:
    """The family called ``name``; :class:`~lmm_bayes.SpecError` listing the choices if
    there is none."""
    if name not in FAMILIES:
        raise SpecError(f"unknown family {name!r}; available: {list(FAMILIES)}")
    return FAMILIES[name]
