"""Individual trajectories: each level's expected outcome over a grid of times, with the
population-average curve beside it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from ..design import Design, evaluate_covariates, evaluate_offset
from ..errors import DesignError
from ..posterior import PosteriorDraws
from ..variables import columns_used, level_label
from .draws import interval_columns
from .icc import nesting

__all__ = ["default_grid", "trajectories"]

GRID_POINTS = 30
CHUNK = 500  # rows per block of the (draws × rows) linear predictor


def default_grid(values: np.ndarray) -> np.ndarray:
    """The observed times when there are at most 30 distinct ones, else 30 evenly spaced
    from the smallest to the largest."""
    distinct = np.unique(values)
    if len(distinct) <= GRID_POINTS:
        return distinct
    return np.linspace(distinct[0], distinct[-1], GRID_POINTS)


def _chosen_levels(all_levels: Sequence[str], levels, group: str) -> list[str]:
    if levels is None:
        return list(all_levels)
    chosen = [level_label(v) for v in levels]
    unknown = [v for v in chosen if v not in all_levels]
    if unknown:
        raise DesignError(f"levels {unknown} are not levels of {group!r}")
    return chosen


def _grid_rows(data: pd.DataFrame, design: Design, group: str, time: str, grid, levels):
    """New rows: each chosen level's first row repeated over the grid with ``time`` replaced,
    and the position of that first row in the design."""
    grp = design.group(group)
    firsts = [int(np.flatnonzero(grp.index == grp.levels.index(lv))[0]) for lv in levels]
    rows = data.iloc[np.repeat(firsts, len(grid))].reset_index(drop=True)
    rows[time] = np.tile(np.asarray(grid, dtype=float), len(levels))
    return rows, np.repeat(firsts, len(grid))


def _blocks(posterior: xr.Dataset, X: np.ndarray, random, offset: np.ndarray):
    """Draws (chain·draw, rows) of the fixed part x β + o and of x β + o + Σ_h z_hᵀ b_h[level]
    over the ``random`` list of (factor, Z, level index per row), a block of rows at a
    time (o the rows' offset)."""
    draws = PosteriorDraws(posterior)
    for start in range(0, len(X), CHUNK):
        rows = slice(start, start + CHUNK)
        block = [(name, Z[rows], index[rows]) for name, Z, index in random]
        yield (draws.linear_predictor(X[rows]) + offset[rows],
               draws.linear_predictor(X[rows], block) + offset[rows])


def _curves(posterior: xr.Dataset, X: np.ndarray, random, prob: float,
            offset: np.ndarray) -> dict[str, dict]:
    """Posterior summaries of the individual and population curves, row by row."""
    parts: dict[str, list] = {"individual": [], "population": []}
    for fixed, total in _blocks(posterior, X, random, offset):
        parts["individual"].append(interval_columns(total, prob, axis=0))
        parts["population"].append(interval_columns(fixed, prob, axis=0))
    return {curve: {k: np.concatenate([p[k] for p in blocks]) for k in blocks[0]}
            for curve, blocks in parts.items()}


def trajectories(posterior: xr.Dataset, design: Design, data: pd.DataFrame, group: str,
                 time: str, *, grid=None, levels=None, prob: float = 0.95) -> pd.DataFrame:
    """Each level's expected outcome over a time grid, and the population-average curve.

    Parameters
    ----------
    posterior : xarray.Dataset
        With ``beta`` and ``b_<h>`` of every factor.
    design : Design
    data : pandas.DataFrame
        The rows the model was fitted to, in the order of the design.
    group : str
        The grouping factor whose levels are the individuals.
    time : str
        A numeric column of ``data`` that the formula uses (plain or transformed).
    grid : sequence of float, optional
        Times to evaluate at; default :func:`default_grid` of the observed times.
    levels : sequence, optional
        The levels to show (default all), by label.
    prob : float
        Mass of the central interval.

    Returns
    -------
    pandas.DataFrame
        Long: ``level``, ``<time>``, ``curve`` (``"individual"`` or ``"population"``),
        ``estimate`` (posterior mean), ``std_error``, ``conf_low``, ``conf_high``; per level
        the individual rows over the grid, then the population rows.

    Notes
    -----
    Every other covariate is held at the level's own value on its first row. The individual
    curve is the expected outcome x(t)ᵀβ + o + z_g(t)ᵀ b_g,ℓ + Σ_h z_h(t)ᵀ b_h,ℓ_h (o the
    offset on the level's first row, the time replaced) with h the
    factors that ``group`` is nested in (a patient's centre, see
    :func:`~lmm_bayes.summaries.icc.nesting`); the effects of crossed factors
    are left at their mean of zero. The population curve is x(t)ᵀβ, the mean over
    individuals with those covariates (for a Gaussian model the population-average and the
    random-effects-at-zero curves coincide; Fitzmaurice, Laird & Ware 2011, ch. 8).
    """
    if time not in data.columns or not pd.api.types.is_numeric_dtype(data[time]):
        raise DesignError(f"time {time!r} must be a numeric column of the data")
    predictors = [v for v in design.formula.variables if v != design.formula.response]
    if not any(time in columns_used(v, data) for v in predictors):
        raise DesignError(f"time {time!r} is not used by the formula {design.formula.text!r}")
    grp = design.group(group)
    levels = _chosen_levels(grp.levels, levels, group)
    grid = default_grid(data[time].to_numpy(float)) if grid is None else np.asarray(grid, float)
    rows, firsts = _grid_rows(data, design, group, time, grid, levels)
    X, Z = evaluate_covariates(design, rows)
    offset = evaluate_offset(design, rows)
    offset = np.zeros(len(X)) if offset is None else offset
    outer = nesting({h.name: h.index for h in design.groups})[group]
    random = [(h.name, Z[h.name], h.index[firsts])
              for h in (grp, *(design.group(name) for name in outer))]
    frames = [pd.DataFrame({"level": np.repeat(levels, len(grid)), time: rows[time],
                            "curve": curve, **stats})
              for curve, stats in _curves(posterior, X, random, prob, offset).items()]
    both = pd.concat(frames, ignore_index=True)
    position = {level: k for k, level in enumerate(levels)}
    order = np.lexsort((both["curve"] != "individual", both["level"].map(position)))
    return both.iloc[order].reset_index(drop=True)
