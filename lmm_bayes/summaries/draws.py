"""Posterior summaries of one quantity's draws: mean, SD, central interval, ESS, R-hat."""

from __future__ import annotations

import warnings

import arviz as az
import numpy as np

__all__ = ["interval_columns", "summarise"]


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
    if not 0 < prob < 1:
        raise ValueError(f"prob must lie in (0, 1), got {prob}")
    tail = (1 - prob) / 2
    low, high = np.quantile(draws, [tail, 1 - tail], axis=axis)
    return {"estimate": draws.mean(axis=axis), "std_error": draws.std(axis=axis, ddof=1),
            "conf_low": low, "conf_high": high}


def summarise(draws: np.ndarray, prob: float) -> dict[str, float]:
    """Summary of a scalar's (chain, draw) draws, with bulk/tail ESS and rank-normalised R-hat
    (Vehtari et al. 2021); R-hat is NaN for a single chain."""
    row = {k: float(v) for k, v in interval_columns(draws, prob).items()}
    with warnings.catch_warnings():  # constant draws have no ESS or R-hat: NaN, not a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        row["ess_bulk"] = float(az.ess(draws, method="bulk"))
        row["ess_tail"] = float(az.ess(draws, method="tail"))
        row["r_hat"] = float(az.rhat(draws)) if draws.shape[0] > 1 else float("nan")
    return row
