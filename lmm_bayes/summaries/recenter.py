"""Variance components re-expressed with time measured from another origin."""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import pandas as pd
import xarray as xr

from .. import names
from ..errors import DesignError
from .draws import check_number
from .variance import COLUMNS, component_rows, covariance_draws, residual_rows

__all__ = ["recenter", "shift_matrix"]

INTERCEPT = "(Intercept)"


def _mentions(part: str, time: str) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(time)}(?![\w.])", part) is not None


def shift_matrix(terms, time: str, at: float, group: str = "") -> np.ndarray:
    """The matrix A with b' = A b for the effects ``terms`` when time t becomes t − ``at``.

    A term ``time`` (or ``time:x``) keeps its coefficient and adds ``at`` times it to the
    coefficient of the term without ``time`` (``(Intercept)``, or ``x``).

    Raises
    ------
    DesignError
        When a term involves ``time`` other than as a plain factor (``I(Days^2)``), or the
        term without ``time`` is not among ``terms`` (a random slope without its intercept:
        the shift would create an effect the model does not have).
    """
    A = np.eye(len(terms))
    for k, term in enumerate(terms):
        parts = term.split(":")
        if time not in parts:
            if any(_mentions(p, time) for p in parts):
                raise DesignError(f"recenter needs terms linear in {time!r}; {term!r} of "
                                  f"{group!r} is not: shift the variable and refit instead")
            continue
        rest = ":".join(p for p in parts if p != time) or INTERCEPT
        if rest not in terms:
            raise DesignError(f"shifting {time!r} moves part of the effect {term!r} of {group!r} "
                              f"into {rest!r}, which does not vary by {group!r} in this model")
        A[terms.index(rest), k] = at
    return A


def recenter(posterior: xr.Dataset, groups: Mapping[str, tuple[str, ...]], time: str,
             at: float, prob: float = 0.95) -> pd.DataFrame:
    """Variance components of the same model with ``time`` measured from ``at``.

    Parameters
    ----------
    posterior : xarray.Dataset
        With ``sd_<g>``, ``corr_<g>`` and ``sigma``.
    groups : mapping of grouping factor name to its term names
    time : str
        The covariate as it appears in the term names (``"Days"``).
    at : float
        The new origin: effects are re-expressed for t' = t − at.
    prob : float
        Mass of the central interval.

    Returns
    -------
    pandas.DataFrame
        The layout of :func:`~lmm_bayes.summaries.variance.variance_components`; a factor
        whose effects involve ``time`` gets correlation and covariance rows even when its
        effects were independent (``||``), since a shift of origin correlates them.

    Notes
    -----
    With t = t' + c the random part b0 + b1 t becomes (b0 + c b1) + b1 t', so b' = A b with
    A the identity plus c in the (intercept, slope) entry, and Σ' = A Σ Aᵀ (Raudenbush &
    Bryk 2002, ch. 6; Biesanz et al. 2004, "The role of coding time in estimating and
    interpreting growth curve models"). For (Days | Subject):

        var(b0') = τ0² + 2cρτ0τ1 + c²τ1²,  cov(b0', b1) = ρτ0τ1 + cτ1²,

    so the intercept variance and the intercept-slope correlation change with the origin,
    sometimes in sign; the slope variance and σ do not. Applied draw by draw, this is the
    posterior of the refitted model with the shifted variable, up to the prior, which is
    set on the original parameters.
    """
    rows, shifted = [], False
    for group, terms in groups.items():
        A = shift_matrix(list(terms), time, check_number("at", at), group)
        moved = any(time in t.split(":") for t in terms)
        shifted |= moved
        cov = A @ covariance_draws(posterior, group) @ A.T
        correlated = moved or names.correlation(group) in posterior
        rows += component_rows(group, terms, cov, prob, correlated)
    if not shifted:
        raise DesignError(f"no random effect varies with {time!r}; the variance components "
                          "do not depend on its origin")
    rows += residual_rows(posterior, prob)
    return pd.DataFrame.from_records(rows, columns=COLUMNS)
