"""Data preparation for longitudinal models: lagged values and within/between decomposition.

* :func:`add_lags` adds each individual's value at the previous visit(s), ``x_lag1`` …, for
  cross-lagged models (a lag across a missed visit is missing, not the previous row);
* :func:`within_between` adds each individual's mean of a time-varying covariate,
  ``x_between``, and the deviation from it, ``x_within``, so that a model separates the
  within-person effect (does a patient's symptom score rise on days their IL-6 is higher
  than usual?) from the between-person one (do patients with higher IL-6 have more
  symptoms?).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .errors import DesignError

__all__ = ["add_lags", "within_between"]


def _columns(data: pd.DataFrame, columns: str | Sequence[str], *names: str) -> list[str]:
    """``columns`` as a list, checked (with the other named columns) against ``data``."""
    if not isinstance(data, pd.DataFrame):
        raise DesignError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    columns = [columns] if isinstance(columns, str) else list(columns)
    missing = [c for c in [*columns, *names] if c not in data.columns]
    if missing:
        raise DesignError(f"column(s) {missing} not found in the data "
                          f"(columns: {list(data.columns)})")
    return columns


def _visit_numbers(data: pd.DataFrame, group: str, time: str) -> np.ndarray:
    """The whole-number visit indices in ``time``, with (group, time) unique."""
    values = pd.to_numeric(data[time], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values) | (values != np.round(values))
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DesignError(f"time column {time!r} must hold whole-number visit indices; "
                          f"{int(bad.sum())} row(s) do not (first at row position {first}: "
                          f"{data[time].iloc[first]})")
    duplicated = pd.DataFrame({"g": data[group].to_numpy(), "t": values}).duplicated()
    if duplicated.any():
        first = int(np.flatnonzero(duplicated.to_numpy())[0])
        raise DesignError(f"{group} {str(data[group].iloc[first])!r} has more than one row "
                          f"at {time} = {data[time].iloc[first]} (row position {first}); each "
                          "individual needs one row per visit")
    return values.astype(np.int64)


def add_lags(data: pd.DataFrame, columns: str | Sequence[str], *, group: str, time: str,
             lags: int = 1) -> pd.DataFrame:
    """A copy of ``data`` with each individual's earlier values of ``columns``.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per individual and visit, in any order.
    columns : str or sequence of str
        The columns to lag.
    group : str
        The individual (``"id"``).
    time : str
        Whole-number visit indices (0, 1, 2, ...; gaps allowed).
    lags : int
        Adds ``<column>_lag1`` … ``<column>_lag<lags>``.

    Returns
    -------
    pandas.DataFrame
        ``data`` (same rows, same order, same index) with the lag columns added.

    Raises
    ------
    DesignError
        A column not in the data; ``time`` not whole numbers; two rows of one individual at
        the same visit; ``lags`` not a positive whole number.

    Notes
    -----
    ``x_lagk`` on the row of individual i at visit t is x of individual i at visit t − k,
    and missing (NaN) when that visit is absent: a lag never reaches across a gap to an
    older row, so a cross-lagged coefficient is always per the same interval (Hamaker et
    al. 2015, *Psychol. Methods* 20(1)).

    Examples
    --------
    >>> df = pd.DataFrame({"id": [1, 1, 1], "visit": [0, 1, 3], "x": [5.0, 6.0, 8.0]})
    >>> add_lags(df, "x", group="id", time="visit")["x_lag1"].tolist()
    [nan, 5.0, nan]
    """
    columns = _columns(data, columns, group, time)
    if isinstance(lags, bool) or not isinstance(lags, (int, np.integer)) or lags < 1:
        raise DesignError(f"lags must be a positive whole number, got {lags!r}")
    visit = _visit_numbers(data, group, time)
    individual = data[group].to_numpy()
    out = data.copy()
    for k in range(1, lags + 1):
        earlier = pd.MultiIndex.from_arrays([individual, visit - k])
        for column in columns:
            values = pd.Series(data[column].to_numpy(dtype=float),
                               index=pd.MultiIndex.from_arrays([individual, visit]))
            out[f"{column}_lag{k}"] = values.reindex(earlier).to_numpy()
    return out


def within_between(data: pd.DataFrame, columns: str | Sequence[str], *,
                   group: str) -> pd.DataFrame:
    """A copy of ``data`` with ``<column>_between`` (the individual's mean) and
    ``<column>_within`` (the deviation from it) for each of ``columns``.

    Parameters
    ----------
    data : pandas.DataFrame
    columns : str or sequence of str
        Time-varying numeric covariates.
    group : str
        The individual.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    DesignError
        A column not in the data, or a non-numeric one.

    Notes
    -----
    Person-mean centring: x̄_i = mean of individual i's non-missing x, x_within = x_ij − x̄_i,
    x_between = x̄_i. In ``y ~ x_within + x_between + (1 + x_within | id)`` the coefficient
    of ``x_within`` is the within-person effect, that of ``x_between`` the between-person
    effect, and the SD of the random slope of ``x_within`` how much the within-person
    effect (each person's sensitivity) varies; with x uncentred the two effects are
    conflated (Enders & Tofighi 2007, *Psychol. Methods* 12(2); Curran & Bauer 2011,
    *Annu. Rev. Psychol.* 62). A missing x stays missing in both columns.

    Examples
    --------
    >>> df = pd.DataFrame({"id": ["a", "a", "b"], "x": [1.0, 3.0, 5.0]})
    >>> within_between(df, "x", group="id")[["x_between", "x_within"]].values.tolist()
    [[2.0, -1.0], [2.0, 1.0], [5.0, 0.0]]
    """
    columns = _columns(data, columns, group)
    out = data.copy()
    for column in columns:
        if not pd.api.types.is_numeric_dtype(data[column]) or pd.api.types.is_bool_dtype(
                data[column]):
            raise DesignError(f"within_between needs numeric columns; {column!r} has dtype "
                              f"{data[column].dtype}")
        values = data[column].astype(float)
        mean = values.groupby(data[group].to_numpy()).transform("mean").to_numpy()
        out[f"{column}_between"] = np.where(values.isna(), np.nan, mean)
        out[f"{column}_within"] = values.to_numpy() - mean
    return out
