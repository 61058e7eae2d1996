"""The two passes over a distributed data set's partitions, and how their parts combine.

**First pass** (:func:`survey`, one task per partition): what needs the whole data before
any row can be coded: each categorical variable's distinct values (their order and
labels are fixed on the client exactly as :class:`~lmm_bayes.variables.VariableEvaluator`
fixes them in memory), the mean and SD of each ``center()``/``scale()`` argument, each
date variable's earliest date, the response's moments, and the missing values of the
used columns.

**Second pass** (:func:`part_statistics`): each partition's rows coded with the first
pass's :class:`~lmm_bayes.variables.DataSchema` (so as new data are coded for
prediction) and reduced to the per-level sums Z_ℓᵀZ_ℓ, Z_ℓᵀX_ℓ, Z_ℓᵀ(y_ℓ − c), the
row count, the least and largest value of each Z column for the levels present in it,
and the global Xᵀ X, Xᵀ(y − c), ‖y − c‖² and column moments; c is the response's mean
(when there is an intercept). A level's rows may lie in several partitions: the
partials are added by level code on the client (:func:`combine_statistics`).

Every sum, by level and overall, is carried as an order-independent pair
(:mod:`lmm_bayes.sums`), so the statistics equal those of the same rows in memory
(:func:`lmm_bayes.marginal.level_statistics`) to the last bit, and so do the draws.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import reduce

import numpy as np
import pandas as pd

from ..design import model_matrix, used_columns
from ..errors import DesignError, LMMError
from ..marginal import LevelStatistics, add_by_group, statistics_from_sums, sum_rows
from ..response import response_values
from ..spec import ModelSpec
from ..sums import Moments
from ..variables import DataSchema, VariableEvaluator, distinct_values

__all__ = ["Coded", "PartStatistics", "Statistics", "Survey", "code_rows",
           "combine_statistics", "in_partition", "kept_rows", "learnt_schema",
           "part_statistics", "survey", "total"]


def total(parts) -> Moments:
    """The moments of the union of the parts whose moments are ``parts`` (an iterable)."""
    return reduce(lambda a, b: a + b, parts)


def in_partition(err: LMMError, number: int) -> LMMError:
    """``err`` raised on partition ``number``, its message saying so."""
    return type(err)(*err.args, f" (in partition {number}; row positions are counted within "
                                "it)")


def kept_rows(part: pd.DataFrame, spec: ModelSpec) -> tuple[np.ndarray, pd.Series]:
    """The positions of the partition's rows without missing values in the used columns,
    and each used column's count of missing values."""
    used = used_columns(spec.formula, part)
    missing = part[used].isna()
    return np.flatnonzero(~missing.any(axis=1).to_numpy()), missing.sum()


# ----------------------------------------------------------------------------- first pass


@dataclass(frozen=True)
class Survey:
    """What the first pass learns from one partition.

    Attributes
    ----------
    rows : int
        Rows of the partition.
    missing : dict of column to count
        Missing values in each used column that has any.
    first_missing : int or None
        Position in the partition of the first row with one.
    values : dict of label to list
        Each categorical variable's distinct values.
    categories : dict of label to list
        The categories of those that are pandas Categoricals.
    numeric : dict of label to kind
    origins : dict of label to Timestamp
        Each date variable's earliest date.
    transforms : dict of ``"label#k"`` to (Moments, bool)
        Each ``center``/``scale`` argument's moments, and whether it is ``scale``.
    response : Moments
    """

    rows: int
    missing: dict[str, int]
    first_missing: int | None
    values: dict[str, list] = field(default_factory=dict)
    categories: dict[str, list] = field(default_factory=dict)
    numeric: dict[str, str] = field(default_factory=dict)
    origins: dict[str, pd.Timestamp] = field(default_factory=dict)
    transforms: dict[str, tuple[Moments, bool]] = field(default_factory=dict)
    response: Moments = field(default_factory=lambda: Moments.of(np.empty((0, 1))))


class _Surveyor(VariableEvaluator):
    """A :class:`VariableEvaluator` of one partition that records what needs the whole
    data (categorical values, ``center``/``scale`` arguments) instead of learning it from
    the partition alone."""

    def __init__(self, data: pd.DataFrame, spec: ModelSpec, positions: np.ndarray):
        super().__init__(data, factors=spec.factors, positions=positions,
                         polynomial=[c for c, kind in spec.contrasts.items() if kind == "poly"])
        self.values: dict[str, list] = {}
        self.categories: dict[str, list] = {}
        self.transforms: dict[str, tuple[Moments, bool]] = {}

    def _categorical(self, label, series, is_ordered=False):
        series = pd.Series(series).reset_index(drop=True)
        self.values[label] = list(series.dropna().unique())
        if isinstance(series.dtype, pd.CategoricalDtype):
            self.categories[label] = list(series.cat.categories)
        return super()._categorical(label, series, is_ordered)

    def _standardise(self, label, calls, x, *, scale):
        key = f"{label}#{next(calls)}"
        if not key.endswith("#0"):
            raise DesignError(f"the formula term {label!r} has more than one center() or "
                              "scale(); with a distributed data set each term may have one "
                              "(their constants are learnt from all partitions)")
        x = np.asarray(x, dtype=float)
        self.transforms[key] = (Moments.of(x[:, None]), scale)
        return x

    def _poly(self, label, tree):
        if not tree.raw:
            raise DesignError(f"the formula term {label!r}: orthogonal polynomials are learnt "
                              "from all rows at once; with a distributed data set add "
                              "raw = TRUE (powers of the variable)")
        return super()._poly(label, tree)


def _evaluate_all(ev: VariableEvaluator, spec: ModelSpec) -> np.ndarray:
    """Evaluate every variable of the formula on ``ev`` as the design does (raising its
    errors); the response."""
    formula = spec.formula
    y, _ = response_values(formula.response, ev, spec.family, ev.positions)
    for rterm in formula.random:
        for column in rterm.group_columns:
            ev.variable(column, categorical=True)
    for term in (*formula.fixed, *(t for r in formula.random for t in r.terms)):
        for factor in term.factors:
            ev.variable(factor)
    return y


def survey(part: pd.DataFrame, number: int, spec: ModelSpec) -> Survey:
    """The first pass over partition ``number``; an error names the partition."""
    try:
        return _survey(part, spec)
    except LMMError as err:
        raise in_partition(err, number) from None


def _survey(part: pd.DataFrame, spec: ModelSpec) -> Survey:
    keep, missing = kept_rows(part, spec)
    counts = {c: int(n) for c, n in missing.items() if n}
    dropped = np.ones(len(part), dtype=bool)
    dropped[keep] = False
    first = int(np.argmax(dropped)) if dropped.any() else None
    if first is not None and spec.na_action == "raise":
        return Survey(len(part), counts, first)  # the client raises, naming every partition's
    ev = _Surveyor(part.iloc[keep].reset_index(drop=True), spec, keep)
    y = _evaluate_all(ev, spec)
    return Survey(len(part), counts, first, ev.values, ev.categories, dict(ev.learnt_numeric),
                  dict(ev.learnt_origins), ev.transforms, Moments.of(y[:, None]))


def learnt_schema(surveys: Sequence[Survey], spec: ModelSpec) -> DataSchema:
    """The schema that the whole data would give in memory, from the partitions' surveys:
    levels in the same order with the same labels and reference, ``center``/``scale``
    constants of all rows, each date's earliest date."""
    namer = VariableEvaluator(pd.DataFrame(), reference=spec.reference)
    levels = {}
    for label in dict.fromkeys(k for s in surveys for k in s.values):
        present = set().union(*(s.values[label] for s in surveys if label in s.values))
        known = [s.categories[label] for s in surveys if label in s.categories]
        categories = list(dict.fromkeys(c for part in known for c in part))  # in order
        empty = (pd.Series(pd.Categorical([], categories=categories))
                 if known else pd.Series([], dtype=object))
        levels[label] = namer.levels_of(label, distinct_values(empty, present))
    transforms = {}
    for key in dict.fromkeys(k for s in surveys for k in s.transforms):
        parts = [s.transforms[key] for s in surveys if key in s.transforms]
        moments, scale = total(m for m, _ in parts), parts[0][1]
        sd = float(moments.sd[0]) if scale else 1.0
        if sd == 0:
            raise DesignError(f"scale() in {key.rsplit('#', 1)[0]!r} divides by a standard "
                              "deviation of zero")
        transforms[key] = (float(moments.mean[0]), sd)
    origins: dict[str, pd.Timestamp] = {}
    for s in surveys:
        for label, origin in s.origins.items():
            origins[label] = min(origins.get(label, origin), origin)
    numeric = {label: kind for s in surveys for label, kind in s.numeric.items()}
    polynomial = {c for c, kind in spec.contrasts.items() if kind == "poly"}
    return DataSchema(levels, transforms, numeric, origins, {},
                      tuple(label for label in levels if label in polynomial))


# ----------------------------------------------------------------------------- second pass


@dataclass(frozen=True)
class Coded:
    """Rows coded with the fitted schema: response, fixed-effect matrix and names, the
    one grouping factor's level codes, ``Z`` and terms."""

    y: np.ndarray
    X: np.ndarray
    fixed_names: tuple[str, ...]
    index: np.ndarray
    Z: np.ndarray
    terms: tuple[str, ...]


def code_rows(rows: pd.DataFrame, spec: ModelSpec, schema: DataSchema,
              positions: np.ndarray) -> Coded:
    """Code ``rows`` (no missing values) as the design codes the fitting data, with the
    levels and constants of ``schema``; ``positions`` name the rows in errors."""
    ev = VariableEvaluator(rows.reset_index(drop=True), factors=schema.levels, schema=schema,
                           positions=positions)
    formula, rterm = spec.formula, spec.formula.random[0]
    y, _ = response_values(formula.response, ev, spec.family, positions)
    fixed_names, X = model_matrix(formula.fixed, ev, len(rows))
    terms, Z = model_matrix(rterm.terms, ev, len(rows))
    index = ev.variable(rterm.group_columns[0], categorical=True).values
    return Coded(y, X, fixed_names, index, Z, terms)


@dataclass(frozen=True)
class PartStatistics:
    """One partition's per-level sums for the levels present in it, and its global sums.

    Attributes
    ----------
    codes : ndarray (k,)
        The level codes present, increasing.
    sums : ndarray (k, m, 2)
        Per level, as pairs: the row count, Z_ℓᵀZ_ℓ (q·q), Z_ℓᵀX_ℓ (q·p), Z_ℓᵀ(y_ℓ − c) (q)
        (:func:`lmm_bayes.marginal.row_products`).
    low, high : ndarray (k, q)
        Least and largest value of each Z column in the level's rows.
    whole : ndarray (m', 2)
        XᵀX, Xᵀ(y − c) and ‖y − c‖², as pairs.
    X, Z : Moments
        Of the columns of X and Z.
    fixed_names, terms : tuple of str
    """

    codes: np.ndarray
    sums: np.ndarray
    low: np.ndarray
    high: np.ndarray
    whole: np.ndarray
    X: Moments
    Z: Moments
    fixed_names: tuple[str, ...]
    terms: tuple[str, ...]


def _segments(index: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The row order that sorts ``index`` (stably, so each level keeps its row order),
    the distinct codes and where each starts in that order."""
    order = np.argsort(index, kind="stable")
    ordered = index[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    return order, ordered[starts], starts


def part_statistics(part: pd.DataFrame, number: int, spec: ModelSpec, schema: DataSchema,
                    shift: float) -> PartStatistics:
    """The second pass over partition ``number``: its rows coded with ``schema`` and
    reduced to per-level and global sums of y − ``shift``; an error names the partition."""
    try:
        keep, _ = kept_rows(part, spec)
        coded = code_rows(part.iloc[keep], spec, schema, keep)
    except LMMError as err:
        raise in_partition(err, number) from None
    q = coded.Z.shape[1]
    if len(keep) == 0:
        codes, local = np.empty(0, dtype=int), np.empty(0, dtype=int)
        low = high = np.empty((0, q))
    else:
        order, codes, starts = _segments(coded.index)
        local = np.searchsorted(codes, coded.index)
        low = np.minimum.reduceat(coded.Z[order], starts, axis=0)
        high = np.maximum.reduceat(coded.Z[order], starts, axis=0)
    sums, whole = sum_rows(coded.y - shift, coded.X, coded.Z, local, len(codes))
    return PartStatistics(codes, sums, low, high, whole, Moments.of(coded.X),
                          Moments.of(coded.Z), coded.fixed_names, coded.terms)


@dataclass(frozen=True)
class Statistics:
    """The whole data set's statistics, combined from its partitions.

    Attributes
    ----------
    level : LevelStatistics
        Of y − c, every level of the factor.
    counts : ndarray (L,)
        Rows per level.
    varying : ndarray (q,)
        For each term, how many levels' rows take two or more distinct values of it.
    X, Z : Moments
    fixed_names, terms : tuple of str
    """

    level: LevelStatistics
    counts: np.ndarray
    varying: np.ndarray
    X: Moments
    Z: Moments
    fixed_names: tuple[str, ...]
    terms: tuple[str, ...]


def combine_statistics(parts: Sequence[PartStatistics], n_levels: int) -> Statistics:
    """Add the partitions' partial sums by level code (a level's rows may lie in several
    partitions), and their global sums (on the client)."""
    first = parts[0]
    q, p = len(first.terms), len(first.fixed_names)
    codes = np.concatenate([part.codes for part in parts])
    by_level = add_by_group(np.zeros((n_levels, first.sums.shape[1], 2)), codes,
                            np.concatenate([part.sums for part in parts]))
    whole = add_by_group(np.zeros((1, *first.whole.shape)), np.zeros(len(parts), dtype=int),
                         np.stack([part.whole for part in parts]))[0]
    order, _, starts = _segments(codes)
    low = np.minimum.reduceat(np.concatenate([part.low for part in parts])[order], starts, axis=0)
    high = np.maximum.reduceat(np.concatenate([part.high for part in parts])[order], starts,
                               axis=0)
    level, counts = statistics_from_sums(by_level, whole, q, p)
    return Statistics(level, counts, (high > low).sum(axis=0),
                      total(part.X for part in parts), total(part.Z for part in parts),
                      first.fixed_names, first.terms)
