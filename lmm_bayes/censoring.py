"""Censored responses (limits of detection): codes, checks, log-likelihood and replicates.

A formula ``y | cens(censored) ~ ...`` (or ``cens(censored, upper)``; brms's ``cens()``,
Bürkner 2017, *J. Stat. Softw.* 80(1)) says, per row, what ``y`` is:

=============  ==========  =================================  ==========================
code           brms        the true value y*                  log-likelihood (Gaussian)
=============  ==========  =================================  ==========================
``"none"``     0, False    y* = y                             log φ((y − μ)/σ) − log σ
``"left"``     −1          y* ≤ y (below a detection limit)   log Φ((y − μ)/σ)
``"right"``    1, True     y* ≥ y                             log(1 − Φ((y − μ)/σ))
``"interval"`` 2           y < y* ≤ upper                     log(Φ((u − μ)/σ) − Φ((y − μ)/σ))
=============  ==========  =================================  ==========================

This is the Tobit model (Tobin 1958, *Econometrica* 26(1)) with a mixed model's mean; a
logical column means right-censored where True, as in brms. Codes are text (any case),
the numbers −1, 0, 1, 2, or logical; the upper bounds (column ``upper``) are needed on the
interval-censored rows only and may be missing elsewhere.

Predictions are of the latent (uncensored) y*. Replicated data (:func:`censor`) are drawn
as y* and then censored as each row was: a left-censored row's replicate is max(y*, y), a
right-censored row's min(y*, y), an interval-censored row's y when y < y* ≤ u (how the row
was recorded) and y* otherwise; uncensored rows are replicated uncensored, since the data
do not say where their limits would have been.

numpy and scipy only; the PyMC likelihood is :func:`lmm_bayes.builder.censored_normal_logp`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from .errors import DesignError
from .formula import Censoring

__all__ = ["CODES", "INTERVAL", "LEFT", "NONE", "RIGHT", "CensoredResponse", "censor",
           "censored_logpdf", "censored_response", "interval_bounds"]

NONE, LEFT, RIGHT, INTERVAL = 0, -1, 1, 2
#: the codes of a censoring column by their text (brms's names), lower case
CODES = {"none": NONE, "left": LEFT, "right": RIGHT, "interval": INTERVAL}


@dataclass(frozen=True)
class CensoredResponse:
    """Each row's censoring.

    Attributes
    ----------
    kind : ndarray of int, shape (n,)
        :data:`NONE` (0), :data:`LEFT` (−1), :data:`RIGHT` (1) or :data:`INTERVAL` (2).
    upper : ndarray, shape (n,)
        The upper bound of each interval-censored row; NaN on the other rows.
    """

    kind: np.ndarray
    upper: np.ndarray

    def counts(self) -> dict[str, int]:
        """Rows by code: ``{"none": 240, "left": 120, "right": 0, "interval": 0}``."""
        return {name: int((self.kind == code).sum()) for name, code in CODES.items()}

    def describe(self) -> str:
        """One line for summaries: ``"120 of 360 rows censored (120 left)"``."""
        counts = self.counts()
        parts = ", ".join(f"{n} {name}" for name, n in counts.items() if name != "none" and n)
        return (f"{len(self.kind) - counts['none']} of {len(self.kind)} rows censored"
                + (f" ({parts})" if parts else ""))


def _codes(values: pd.Series, column: str, rows: np.ndarray) -> np.ndarray:
    """The censoring codes of ``values``; DesignError naming the first unknown value."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return np.where(values.to_numpy(dtype=bool), RIGHT, NONE)
    if pd.api.types.is_numeric_dtype(values.dtype):
        codes = values.to_numpy(dtype=float)
        known = np.isin(codes, list(CODES.values()))
    else:
        text = values.astype(str).str.strip().str.lower()
        known = text.isin(list(CODES)).to_numpy()
        codes = text.map(CODES).to_numpy(dtype=float, na_value=np.nan)
    if not known.all():
        first = int(np.flatnonzero(~known)[0])
        raise DesignError(f"the censoring column {column!r} has the unknown code "
                          f"{values.iloc[first]!r} at row position {int(rows[first])} "
                          f"({int((~known).sum())} row(s) in all); use 'none', 'left', "
                          "'right', 'interval' (or brms's 0, -1, 1, 2; true/false for "
                          "right-censored or not)")
    return codes.astype(int)


def _upper(censoring: Censoring, data: pd.DataFrame, y: np.ndarray, interval: np.ndarray,
           rows: np.ndarray) -> np.ndarray:
    """The upper bounds of the interval-censored rows (NaN elsewhere), checked."""
    upper = np.full(len(y), np.nan)
    if not interval.any():
        return upper
    first = int(rows[np.flatnonzero(interval)[0]])
    if censoring.upper is None:
        raise DesignError(f"{int(interval.sum())} row(s) of {censoring.column!r} are "
                          f"interval-censored (first at row position {first}) but the formula "
                          f"gives no upper bound; write cens({censoring.column}, upper) with "
                          "the column of upper bounds")
    if censoring.upper not in data.columns:
        raise DesignError(f"the upper-bound column {censoring.upper!r} of cens() is not in "
                          f"the data (columns: {list(data.columns)})")
    column = data[censoring.upper]
    if not pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_bool_dtype(column):
        raise DesignError(f"the upper-bound column {censoring.upper!r} is not numeric "
                          f"(dtype {column.dtype})")
    upper[interval] = column.to_numpy(dtype=float)[interval]
    bad = interval & ~(upper > y)          # NaN, or not above the lower bound y
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise DesignError(f"interval-censored row at row position {int(rows[k])} needs an upper "
                          f"bound above its response: {censoring.upper!r} is {float(upper[k])!r}, "
                          f"the response {float(y[k])!r} ({int(bad.sum())} such row(s))")
    return upper


def censored_response(censoring: Censoring, data: pd.DataFrame, y: np.ndarray,
                      rows: np.ndarray) -> CensoredResponse:
    """Each row's censoring, read from ``data`` and checked against ``y``.

    Parameters
    ----------
    censoring : Censoring
        The formula's ``cens()``.
    data : pandas.DataFrame
        The rows used (missing values of the code column already dropped or refused).
    y : ndarray (n,)
        The response on those rows.
    rows : ndarray of int
        Their positions in the data given, for error messages.

    Raises
    ------
    DesignError
        An unknown code (naming the value and row); interval-censored rows without an upper
        column, with an upper column missing from the data or not numeric, or with an upper
        bound that is missing or not above the response (naming the row).
    """
    kind = _codes(data[censoring.column], censoring.column, rows)
    upper = _upper(censoring, data, y, kind == INTERVAL, rows)
    return CensoredResponse(kind, upper)


def interval_bounds(z_low: np.ndarray, z_high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) with Φ(b) − Φ(a) = Φ(z_high) − Φ(z_low) and (a + b)/2 ≤ 0: an interval in the
    upper half is reflected, Φ(h) − Φ(l) = Φ(−l) − Φ(−h), so that log Φ(a) and log Φ(b)
    stay apart and their difference is accurate. Works on numpy and PyTensor values."""
    reflect = z_low + z_high > 0
    a = reflect * -z_high + (1 - reflect) * z_low
    b = reflect * -z_low + (1 - reflect) * z_high
    return a, b


def censored_logpdf(y: np.ndarray, mean: np.ndarray, sigma: np.ndarray, kind: np.ndarray,
                    upper: np.ndarray) -> np.ndarray:
    """Each row's log-likelihood under a censored normal, elementwise with broadcasting.

    Notes
    -----
    With z = (y − μ)/σ and z_u = (u − μ)/σ: log φ(z) − log σ (uncensored), log Φ(z) (left),
    log Φ(−z) (right), log(Φ(z_u) − Φ(z)) (interval), computed as
    log Φ(b) + log(1 − exp(log Φ(a) − log Φ(b))) with (a, b) of :func:`interval_bounds`
    (Tobin 1958; brms's ``cens()``).
    """
    y, mean, sigma, kind, upper = np.broadcast_arrays(y, mean, sigma, kind, upper)
    z = (y - mean) / sigma
    out = special.log_ndtr(z)                                            # left (and default)
    plain = kind == NONE
    out[plain] = -0.5 * z[plain] ** 2 - 0.5 * np.log(2 * np.pi) - np.log(sigma[plain])
    right = kind == RIGHT
    out[right] = special.log_ndtr(-z[right])
    interval = kind == INTERVAL
    a, b = interval_bounds(z[interval], (upper[interval] - mean[interval]) / sigma[interval])
    log_b = special.log_ndtr(b)
    out[interval] = log_b + np.log(-np.expm1(special.log_ndtr(a) - log_b))
    return out


def censor(latent: np.ndarray, y: np.ndarray, kind: np.ndarray,
           upper: np.ndarray) -> np.ndarray:
    """Latent draws (…, n) censored as each row was recorded (module docstring): replicated
    data that look like the observed data."""
    out = np.array(latent, dtype=float)
    left, right = kind == LEFT, kind == RIGHT
    out[..., left] = np.maximum(out[..., left], y[left])
    out[..., right] = np.minimum(out[..., right], y[right])
    interval = kind == INTERVAL
    inside = (out[..., interval] > y[interval]) & (out[..., interval] <= upper[interval])
    out[..., interval] = np.where(inside, y[interval], out[..., interval])
    return out
