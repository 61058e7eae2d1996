"""Posterior summaries of one quantity's draws: mean, SD, central interval, ESS, R-hat."""

from __future__ import annotations

import math
import warnings
from numbers import Real

import numpy as np

from ..errors import DesignError

__all__ = ["check_number", "check_prob", "interval_columns", "summarise"]


def check_number(name: str, value) -> float:
    """``value`` as a float; DesignError naming ``name`` unless it is a finite number (a
    string such as ``"7"``, a bool or NaN would compare silently wrong)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real) \
            or not math.isfinite(value):
        raise DesignError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def check_prob(prob) -> float:
    """``prob`` as a float; DesignError unless it is a number in (0, 1)."""
    if not 0 < check_number("prob", prob) < 1:
        raise DesignError(f"prob must lie in (0, 1), got {prob!r}")
    return float(prob)


def interval_columns(draws: np.ndarray, prob: float, axis=(0, 1)) -> dict[str, np.ndarray]:
    """Posterior mean, SD and central ``prob`` interval over the ``axis`` dimensions.

    Parameters
    ----------
    draws : ndarray
        Draws with the sample dimensions (chain, draw) on ``axis``.
    prob : float
        Mass of the central interval: its ends are the (1 - prob)/2 and (1 + prob)/2
        quantiles.
    """
    tail = (1 - check_prob(prob)) / 2
    low, high = np.quantile(draws, [tail, 1 - tail], axis=axis)
    return {"estimate": draws.mean(axis=axis), "std_error": draws.std(axis=axis, ddof=1),
            "conf_low": low, "conf_high": high}


def summarise(draws: np.ndarray, prob: float) -> dict[str, float]:
    """Summary of a scalar's (chain, draw) draws, with bulk/tail ESS and rank-normalised R-hat
    (Vehtari et al. 2021); R-hat is NaN for a single chain."""
    import arviz as az  # seconds at import: only once there are draws to summarise

    row = {k: float(v) for k, v in interval_columns(draws, prob).items()}
    with warnings.catch_warnings():  # constant draws have no ESS or R-hat: NaN, not a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        row["ess_bulk"] = float(az.ess(draws, method="bulk"))
        row["ess_tail"] = float(az.ess(draws, method="tail"))
        row["r_hat"] = float(az.rhat(draws)) if draws.shape[0] > 1 else float("nan")
    return row
