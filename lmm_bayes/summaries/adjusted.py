"""Adjusted (estimated marginal) means and their contrasts, emmeans-style.

The adjusted mean of a cell (an arm at a visit, say) is the model's population mean
x̄ᵀβ at a reference grid (Searle, Speed & Milliken 1980, *Am. Stat.* 34; Lenth's
``emmeans``): every combination of the levels of the factors asked for, each other factor
of the fixed part averaged over its levels with equal weights, each numeric covariate at
its mean over the fitting rows. x̄ is the average of the grid rows' fixed-effect rows, so
the mean is linear in β and its posterior is that of x̄ᵀβ per draw. A contrast is the
difference of two cells' means per draw, e.g. the treatment difference at the last visit,
the estimand of a trial's mixed model for repeated measures.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import product

import numpy as np
import pandas as pd
import xarray as xr

from .. import names
from ..design import Design, evaluate_covariates
from ..errors import DesignError
from .draws import interval_columns

__all__ = ["adjusted_means", "mean_contrasts", "reference_grid"]


def _variables(design: Design) -> list[str]:
    """The fixed part's variables, each once, in order of appearance."""
    return list(dict.fromkeys(f for term in design.formula.fixed for f in term.factors))


def reference_grid(design: Design, data: pd.DataFrame,
                   cells: Sequence[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """The cells of ``cells`` (every combination of their levels) and each cell's averaged
    fixed-effect row x̄ (see the module docstring).

    Parameters
    ----------
    design : Design
    data : pandas.DataFrame
        The fitting rows (numeric covariates are set to their mean over these).
    cells : sequence of str
        Categorical columns of the fixed part.

    Returns
    -------
    grid : pandas.DataFrame
        One row per cell, a column per name in ``cells``.
    L : ndarray, shape (cells, p)

    Raises
    ------
    DesignError
        For a name of ``cells`` that is not a categorical column of the fixed part, or a
        fixed-part variable that is an expression rather than a column.
    """
    variables = _variables(design)
    for name in cells:
        if name not in variables or name not in design.schema.levels:
            raise DesignError(f"{name!r} is not a categorical column of the fixed part "
                              f"(its categorical columns: "
                              f"{[v for v in variables if v in design.schema.levels]})")
    expressions = [v for v in variables if v not in data.columns]
    if expressions:
        raise DesignError(f"adjusted means need the fixed part's variables as columns; "
                          f"{expressions[0]!r} is an expression: add it to the data as a column")
    levels = {v: design.schema.levels[v] for v in variables if v in design.schema.levels}
    factors = list(cells) + [v for v in levels if v not in cells]
    rows = pd.DataFrame(list(product(*(levels[v] for v in factors))), columns=factors)
    for v in variables:
        if v not in levels:
            rows[v] = float(pd.to_numeric(data[v]).mean())
    X = evaluate_covariates(design, rows)[0]
    key = rows[list(cells)].astype(str).agg("\x1f".join, axis=1)
    order = pd.unique(key)
    L = np.stack([X[(key == k).to_numpy()].mean(axis=0) for k in order])
    grid = rows.loc[~key.duplicated(), list(cells)].reset_index(drop=True)
    return grid, L


def _cell_draws(posterior: xr.Dataset, L: np.ndarray) -> np.ndarray:
    """x̄ᵀβ per draw and cell, (chain, draw, cells)."""
    beta = posterior[names.BETA].transpose("chain", "draw", names.FIXED).values
    return np.einsum("cdp,kp->cdk", beta, L)


def adjusted_means(posterior: xr.Dataset, design: Design, data: pd.DataFrame,
                   over: str, by: str | None = None, prob: float = 0.95) -> pd.DataFrame:
    """The adjusted mean of each level of ``over`` (within each level of ``by``).

    Returns
    -------
    pandas.DataFrame
        Columns ``by`` (if given), ``over``, ``estimate`` (posterior mean), ``std_error``,
        ``conf_low``, ``conf_high`` (central ``prob`` interval).

    Notes
    -----
    The mean of a cell is x̄ᵀβ on the scale of the linear predictor (see the module
    docstring); for a Gaussian model, the response's.
    """
    cells = [by, over] if by else [over]
    grid, L = reference_grid(design, data, cells)
    stats = interval_columns(_cell_draws(posterior, L), prob)
    return pd.concat([grid, pd.DataFrame(stats)], axis=1)


def mean_contrasts(posterior: xr.Dataset, design: Design, data: pd.DataFrame,
                   over: str, by: str | None = None, reference: str | None = None,
                   prob: float = 0.95) -> pd.DataFrame:
    """Each level of ``over`` less the ``reference`` level (default: the first), within each
    level of ``by``: e.g. treatment less placebo at each visit.

    Returns
    -------
    pandas.DataFrame
        Columns ``by`` (if given), ``contrast`` (``"TRT - PBO"``), ``estimate``,
        ``std_error``, ``conf_low``, ``conf_high`` and ``prob_above`` (the posterior
        probability that the difference is above 0).

    Raises
    ------
    DesignError
        For a ``reference`` that is not a level of ``over``.
    """
    cells = [by, over] if by else [over]
    grid, L = reference_grid(design, data, cells)
    levels = design.schema.levels[over]
    reference = levels[0] if reference is None else str(reference)
    if reference not in levels:
        raise DesignError(f"reference {reference!r} is not a level of {over!r}; its levels: "
                          f"{list(levels)}")
    draws = _cell_draws(posterior, L)
    base = grid[over].astype(str) == reference
    rows, differences = [], []
    for k in np.flatnonzero(~base.to_numpy()):
        same = base & ((grid[by] == grid.at[k, by]) if by else True)
        differences.append(draws[..., k] - draws[..., int(np.flatnonzero(same)[0])])
        rows.append({**({by: grid.at[k, by]} if by else {}),
                     "contrast": f"{grid.at[k, over]} - {reference}"})
    stacked = np.stack(differences, axis=-1)
    stats = interval_columns(stacked, prob)
    stats["prob_above"] = (stacked > 0).mean(axis=(0, 1))
    return pd.concat([pd.DataFrame(rows), pd.DataFrame(stats)], axis=1)
