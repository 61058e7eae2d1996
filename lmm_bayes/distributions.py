"""The distributions a prior can take: :class:`Prior`, a distribution's name and parameters.

Its own module so that the response families (:mod:`lmm_bayes.families`), which carry the
default priors of their extra parameters, and :mod:`lmm_bayes.priors`, which asks them for
those defaults, both import it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Real

import numpy as np

from .errors import PriorError

__all__ = ["Prior"]

_PARAMS = {
    "normal": ("mu", "sigma"),
    "student_t": ("nu", "mu", "sigma"),
    "halfnormal": ("sigma",),
    "halfstudentt": ("nu", "sigma"),
    "halfcauchy": ("beta",),
    "exponential": ("lam",),
    "lkj": ("eta",),
    "beta": ("alpha", "beta"),
    "gamma": ("alpha", "beta"),
}
_POSITIVE = {"halfnormal", "halfstudentt", "halfcauchy", "exponential", "gamma"}
_SCALE_PARAMS = {"sigma", "nu", "beta", "lam", "alpha", "eta"}
_REAL = {"normal", "student_t"}


@dataclass(frozen=True)
class Prior:
    """A prior distribution: a family name and its parameters.

    Parameters
    ----------
    dist : {"normal", "student_t", "halfnormal", "halfstudentt", "halfcauchy", "exponential", \
            "beta", "gamma", "lkj"}
    **params : float
        The family's parameters, named as in PyMC (``mu``, ``sigma``, ``nu``, ``beta``, ``lam``,
        ``eta``); ``gamma`` takes the shape ``alpha`` and the rate ``beta``; ``"lkj"`` is the
        LKJ prior of a correlation matrix (its shape ``eta``).

    Examples
    --------
    >>> Prior("normal", mu=0, sigma=10)
    Prior('normal', mu=0.0, sigma=10.0)
    """

    dist: str
    params: tuple[tuple[str, float], ...]

    def __init__(self, dist: str, **params: float):
        if not isinstance(dist, str) or dist not in _PARAMS:
            raise PriorError(f"unknown prior family {dist!r}; choose one of {sorted(_PARAMS)}")
        expected = _PARAMS[dist]
        if set(params) != set(expected):
            raise PriorError(f"a {dist} prior takes parameters {list(expected)}, "
                             f"got {sorted(params)}")
        for name, value in params.items():
            if isinstance(value, bool) or not isinstance(value, Real):
                raise PriorError(f"parameter {name}={value!r} of the {dist} prior must be a "
                                 f"number, not {type(value).__name__}")
            if not np.isfinite(value) or (name in _SCALE_PARAMS and value <= 0):
                raise PriorError(f"parameter {name}={value!r} of the {dist} prior must be "
                                 f"{'positive' if name in _SCALE_PARAMS else 'finite'}")
        object.__setattr__(self, "dist", dist)
        object.__setattr__(self, "params", tuple((k, float(params[k])) for k in expected))

    @property
    def kwargs(self) -> dict[str, float]:
        return dict(self.params)

    @property
    def is_positive(self) -> bool:
        """Whether the family lives on the positive reals (usable for an SD)."""
        return self.dist in _POSITIVE

    @property
    def is_real(self) -> bool:
        """Whether the family lives on the whole real line (usable for a coefficient)."""
        return self.dist in _REAL

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params)
        return f"Prior({self.dist!r}, {args})"

    def __str__(self) -> str:
        args = ", ".join(f"{k}={v:.4g}" for k, v in self.params)
        return f"{self.dist}({args})"
