"""Evaluate the variables of a formula on a data frame.

A variable is a column name (``Days``), or an expression over columns: ``np.log(x)``,
``log(x)``, ``I(x^2)`` (``^`` is a power, as in R), ``sin(2*pi*x)``, ``I(x > 3)`` (0/1),
``center(x)``, ``scale(x)``, ``C(x)`` or R's ``factor(x)`` (treat ``x`` as categorical),
``ordered(x)`` (an ordered factor, coded by R's polynomial contrasts) or ``poly(x, 2)``
(R's orthogonal polynomials, several columns; ``raw = TRUE`` for powers). Expressions are parsed
and evaluated by :mod:`lmm_bayes.expressions` under an allow-list, never by Python's
``eval``. ``center`` and ``scale`` remember the mean and standard deviation of the data they
were first evaluated on, in a :class:`DataSchema`, so that new data (prediction) are
transformed the same way; categorical variables remember their levels, and ``poly`` its
recurrence coefficients (R's ``predict.poly``).

Dates and durations are numeric: a datetime variable counts the days (with fractions for
times of day) since the earliest date in the fitting data, and new data are counted from
that same origin; a timezone-aware one is first converted to UTC. A timedelta counts
days. New data must give each numeric variable the type it had in the fitting data
(numbers, dates or durations): numbers written as text are an error, not a factor.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache, partial
from itertools import count

import numpy as np
import pandas as pd

from .errors import DesignError, LMMError
from .expressions import (
    CATEGORICAL,
    ORDERED,
    Call,
    Environment,
    Name,
    Poly,
    column_names,
    parse_expression,
)
from .formula import NAME
from .polynomials import PolyCoefs, orthogonal_poly, predict_poly
from .sums import Moments

__all__ = ["DataSchema", "Variable", "VariableEvaluator", "columns_used", "distinct_values",
           "level_label"]


def level_label(value) -> str:
    """The label of a level as users write it: ``308`` rather than ``308.0``; ``TRUE`` and
    ``FALSE`` for logical values, as R names them (``flagTRUE``)."""
    if isinstance(value, (bool, np.bool_)):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True)
class Variable:
    """A variable evaluated on the data: numeric values, or categorical codes and levels.

    ``columns`` names the columns of a variable of several (``poly(x, 2)1``,
    ``poly(x, 2)2``), whose ``values`` are then n × k; ``ordered`` marks an ordered factor,
    coded by polynomial contrasts (:func:`lmm_bayes.polynomials.contr_poly`)."""

    label: str
    values: np.ndarray  # float values (numeric) or integer codes into ``levels`` (categorical)
    levels: tuple[str, ...] | None = None
    columns: tuple[str, ...] | None = None
    ordered: bool = False

    @property
    def is_categorical(self) -> bool:
        return self.levels is not None


@dataclass(frozen=True)
class DataSchema:
    """What was learnt from the fitting data, to evaluate new data the same way.

    Attributes
    ----------
    levels : mapping of variable label to its levels (reference level first)
    transforms : mapping of ``"label#k"`` to the constant of the k-th ``center``/``scale`` call
    numeric : mapping of variable label to its kind, ``"number"``, ``"datetime"`` or
        ``"timedelta"``, for every variable evaluated as numeric
    origins : mapping of datetime variable label to the date its days are counted from
    polys : mapping of ``poly(...)`` label to its :class:`~lmm_bayes.polynomials.PolyCoefs`
    polynomial : labels of the variables coded as ordered factors because the ``contrasts``
        option asked for it (``ordered(x)`` says so itself)
    """

    levels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    transforms: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    numeric: Mapping[str, str] = field(default_factory=dict)
    origins: Mapping[str, pd.Timestamp] = field(default_factory=dict)
    polys: Mapping[str, PolyCoefs] = field(default_factory=dict)
    polynomial: tuple[str, ...] = ()


def _is_categorical_dtype(series: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)


def _kind(series) -> str:
    """``"datetime"``, ``"timedelta"``, ``"number"`` or ``"categorical"`` (text, logical
    and categorical values)."""
    if pd.api.types.is_datetime64_any_dtype(series):
        return "datetime"
    if pd.api.types.is_timedelta64_dtype(series):
        return "timedelta"
    return "categorical" if _is_categorical_dtype(series) else "number"


_KIND_WORDS = {"number": "numeric", "datetime": "a date", "timedelta": "a duration"}


def _reads_as_number(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _first_non_number(values: pd.Series) -> int | None:
    """Position of the entry to name in a column that should hold numbers, or None if all
    are numbers: the first that does not even read as one (the "9,5" that made a CSV
    column text), else the first that is not a number."""
    entries = values.tolist()
    wrong = [k for k, v in enumerate(entries)
             if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float))]
    unreadable = [k for k in wrong if not _reads_as_number(entries[k])]
    return (unreadable or wrong or [None])[0]


def _describe(kind: str, value) -> str:
    """How an error message names a variable's type, from its kind and one value."""
    if kind != "categorical":
        return _KIND_WORDS[kind]
    if isinstance(value, str):
        return "text"
    return "logical" if isinstance(value, (bool, np.bool_)) else "categorical"


def _days(stamps: pd.Series, origin: pd.Timestamp | None) -> tuple[np.ndarray, pd.Timestamp]:
    """Days since ``origin`` (default: the earliest date) and the origin used."""
    if stamps.dt.tz is not None:  # in UTC, so that data in different zones compare
        stamps = stamps.dt.tz_convert(None)
    if origin is None:
        origin = stamps.min()
    return ((stamps - origin) / pd.Timedelta(days=1)).to_numpy(float), origin


def columns_used(label: str, data: pd.DataFrame) -> list[str]:
    """Data columns that a variable label refers to (itself, or the names in its expression).

    Raises
    ------
    SpecError
        When the label is an expression off the allow-list of :mod:`lmm_bayes.expressions`.
    """
    if label in data.columns:
        return [label]
    if NAME.fullmatch(label):  # a plain name (R allows ``log.dose``) missing from the data
        return []
    return [name for name in column_names(parse_expression(label)) if name in data.columns]


class VariableEvaluator:
    """Evaluate variable labels on one data frame, learning (or reusing) a :class:`DataSchema`.

    Parameters
    ----------
    data : pandas.DataFrame
    factors : collection of str
        Numeric columns to treat as categorical (e.g. a ``period`` coded 1..4).
    reference : mapping of column to level
        Reference (first) level of a categorical column; default: the first level in order.
    schema : DataSchema, optional
        Levels and transform constants from the fitting data; given for new data.
    positions : ndarray of int, optional
        Position of each row of ``data`` in the data the user gave (rows with missing
        values may have been dropped), so that errors name the user's row.
    polynomial : collection of str
        Variables to code as ordered factors (polynomial contrasts), categorical whatever
        their type; with a schema, its own are added.
    """

    def __init__(self, data: pd.DataFrame, *, factors=(), reference=None, schema=None,
                 positions=None, polynomial=()):
        self.data = data
        self.positions = np.arange(len(data)) if positions is None else np.asarray(positions)
        self.factors = set(factors)
        self.reference = dict(reference or {})
        self.schema = schema
        self.polynomial = set(polynomial) | set(schema.polynomial if schema else ())
        self.learnt_levels: dict[str, tuple[str, ...]] = {}
        self.learnt_transforms: dict[str, tuple[float, float]] = {}
        self.learnt_numeric: dict[str, str] = {}
        self.learnt_origins: dict[str, pd.Timestamp] = {}
        self.learnt_polys: dict[str, PolyCoefs] = {}
        self._cache: dict[tuple[str, bool], Variable] = {}

    def learnt_schema(self) -> DataSchema:
        return DataSchema(dict(self.learnt_levels), dict(self.learnt_transforms),
                          dict(self.learnt_numeric), dict(self.learnt_origins),
                          dict(self.learnt_polys),
                          tuple(p for p in self.learnt_levels if p in self.polynomial))

    def variable(self, label: str, *, categorical: bool = False) -> Variable:
        """Evaluate ``label``; ``categorical=True`` forces categorical treatment (grouping)."""
        key = (label, categorical)
        if key not in self._cache:
            self._cache[key] = self._evaluate(label, categorical)
        return self._cache[key]

    def _evaluate(self, label: str, categorical: bool) -> Variable:
        ordered = label in self.polynomial
        if label in self.data.columns:
            series = self.data[label]
        else:
            tree = parse_expression(label)
            if isinstance(tree, Poly) and not categorical:
                return self._poly(label, tree)
            wrapped = isinstance(tree, Call) and tree.name in CATEGORICAL | ORDERED
            ordered = ordered or (wrapped and tree.name in ORDERED)
            inner = tree.args[0] if wrapped else tree
            series = (self.data[inner.name]  # as it is: a pandas Categorical keeps its order
                      if isinstance(inner, Name) and inner.name in self.data.columns
                      else self._expression(label, inner))
            categorical = categorical or wrapped
        if categorical or ordered or label in self.factors:
            return self._categorical(label, series, ordered)
        kind = self._fitted_kind(label, series)
        if kind == "categorical":
            return self._categorical(label, series)
        values = self._finite(label, self._numbers(label, series, kind))
        self.learnt_numeric[label] = kind
        return Variable(label, values)

    def _fitted_kind(self, label: str, series) -> str:
        """The kind (:func:`_kind`) of ``series``; with a schema (new data), DesignError
        naming the column and first offending row unless it is the kind ``label`` had in
        the fitting data. Numbers stored as Python objects pass; numbers written as text
        do not (a CSV cell such as "9,5" makes the whole column text)."""
        kind = _kind(series)
        fitted = self.schema.numeric.get(label) if self.schema is not None else None
        if fitted is None or kind == fitted:
            return kind
        values = pd.Series(series)
        row = _first_non_number(values) if kind == "categorical" else 0
        if row is None and fitted == "number":
            return fitted  # numbers held as Python objects: what the fitting data had
        row = row or 0
        value = values.tolist()[row]
        raise DesignError(f"{label!r} was {_KIND_WORDS[fitted]} in the fitted data but is "
                          f"{_describe(kind, value)} in the new data (row {row}: {value!r})")

    def _numbers(self, label: str, series, kind: str) -> np.ndarray:
        """Float values of a numeric variable: dates as days since the fitting data's
        earliest date (its origin, learnt here or reused from the schema), durations in
        days."""
        if kind == "datetime":
            known = self.schema.origins if self.schema is not None else {}
            values, self.learnt_origins[label] = _days(pd.Series(series), known.get(label))
            return values
        if kind == "timedelta":
            return (pd.Series(series) / pd.Timedelta(days=1)).to_numpy(float)
        return np.asarray(series, dtype=float)

    def _finite(self, label: str, values: np.ndarray) -> np.ndarray:
        """``values``, or DesignError naming ``label`` and the first row not finite."""
        bad = ~np.isfinite(values)
        if bad.any():
            raise DesignError(
                f"the formula term {label!r} is not finite in {int(bad.sum())} row(s) "
                f"(first at position {int(self.positions[np.flatnonzero(bad)[0]])})"
            )
        return values

    def _poly(self, label: str, tree: Poly) -> Variable:
        """``poly(x, d)``: R's orthogonal polynomials, learnt on the fitting data (their
        coefficients kept in the schema) and evaluated from those on new data; with
        ``raw = TRUE`` the powers x, x², ..., x^d."""
        x = self._finite(label, np.asarray(self._expression(label, tree.x), dtype=float))
        columns = tuple(f"{tree.text}{k}" for k in range(1, tree.degree + 1))
        if tree.raw:
            return Variable(label, x[:, None] ** np.arange(1, tree.degree + 1), columns=columns)
        if self.schema is not None and label in self.schema.polys:
            coefs = self.schema.polys[label]
            values = predict_poly(x, coefs)
        else:
            distinct = np.unique(x).size
            if tree.degree >= distinct:
                raise DesignError(f"the formula term {label!r}: the degree of poly() must be "
                                  f"less than the number of distinct values of its variable "
                                  f"({distinct})")
            values, coefs = orthogonal_poly(x, tree.degree)
        self.learnt_polys[label] = coefs
        return Variable(label, values, columns=columns)

    def _categorical(self, label: str, series, is_ordered: bool = False) -> Variable:
        series = pd.Series(series).reset_index(drop=True)
        ordered = distinct_values(series)
        labels = _labels(label, ordered)
        if self.schema is not None and label in self.schema.levels:
            levels = self.schema.levels[label]
        else:
            levels = self.levels_of(label, ordered)
        codes_of = _codes_of(tuple(levels))
        value_codes = np.array([codes_of.get(lab, -1) for lab in labels] + [-1], dtype=int)
        codes = value_codes[_positions(ordered, series)]
        if self.schema is not None and (codes < 0).any():  # new data with unknown levels
            unseen = sorted({lab for lab in labels if lab not in codes_of})
            rows = np.flatnonzero(codes < 0)
            raise DesignError(f"{label!r} has level(s) {unseen} that were not in the fitted "
                              f"data, in {rows.size} row(s) (first at row position {rows[0]}); "
                              f"known levels: {list(levels)}")
        self.learnt_levels[label] = tuple(levels)
        return Variable(label, codes, tuple(levels), ordered=is_ordered)

    def levels_of(self, label: str, ordered) -> tuple[str, ...]:
        """The levels of the categorical variable ``label`` whose distinct values are
        ``ordered`` (:func:`distinct_values`): their labels, the reference level first;
        DesignError where two values read as one label."""
        return tuple(self._with_reference(label, _labels(label, ordered)))

    def _reference_of(self, label: str):
        """The reference level given for ``label``, or for the column ``x`` of a
        ``factor(x)`` / ``C(x)`` term; None when none is."""
        if label in self.reference:
            return self.reference[label]
        tree = parse_expression(label) if not NAME.fullmatch(label) else None
        if (isinstance(tree, Call) and tree.name in CATEGORICAL
                and isinstance(tree.args[0], Name)):
            return self.reference.get(tree.args[0].name)
        return None

    def _with_reference(self, label: str, labels: list[str]) -> list[str]:
        given = self._reference_of(label)
        if given is None:
            return labels
        ref = level_label(given)
        if ref not in labels:
            raise DesignError(f"reference level {ref!r} of {label!r} is not in the data; "
                              f"levels are {labels}")
        return [ref] + [lab for lab in labels if lab != ref]

    def _expression(self, label: str, tree) -> np.ndarray:
        """The values of the expression ``tree`` of the term ``label``."""
        env = Environment(label, self.data, partial(self._standardise, label, count()))
        try:
            # log(0) and the like give inf or nan, which the caller reports by row
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                values = tree.evaluate(env)
        except LMMError:  # already naming the term
            raise
        except (TypeError, ValueError, ArithmeticError) as err:  # e.g. log of text
            raise DesignError(f"cannot evaluate the formula term {label!r}: {err}") from None
        if np.ndim(values) == 0:  # a constant term (I(1), pi): one value per row
            values = np.full(len(self.data), values)
        return values

    def _standardise(self, label: str, calls: Iterator[int], x, *, scale: bool) -> np.ndarray:
        """``center`` (``scale=False``) or ``scale`` of ``x``, the ``next(calls)``-th such
        call in ``label``; its constants are remembered, or reused from the schema."""
        x = np.asarray(x, dtype=float)
        key = f"{label}#{next(calls)}"
        if self.schema is not None and key in self.schema.transforms:
            mean, sd = self.schema.transforms[key]
        else:  # the sums of lmm_bayes.sums: the same when learnt by partition
            moments = Moments.of(x[:, None])
            mean, sd = float(moments.mean[0]), float(moments.sd[0]) if scale else 1.0
        if sd == 0:
            raise DesignError(f"scale() in {label!r} divides by a standard deviation of zero")
        self.learnt_transforms[key] = (mean, sd)
        return (x - mean) / sd


def _labels(label: str, ordered) -> list[str]:
    """The level labels of the distinct values ``ordered`` of ``label``; DesignError where
    two values read as one label."""
    labels = [level_label(v) for v in ordered]
    if len(set(labels)) < len(labels):
        clash = sorted({lab for lab in labels if labels.count(lab) > 1})
        raise DesignError(f"{label!r} mixes values that read as the same level {clash} "
                          f"(e.g. the number 1 and the text '1'); give the column one type")
    return labels


@lru_cache(maxsize=4)
def _codes_of(levels: tuple[str, ...]) -> dict[str, int]:
    """Each level's position among ``levels``; kept for the few level sets in use, so that
    a schema's factor of millions of levels that codes partition after partition of a
    distributed data set is indexed once per process, not once per partition (the tuple's
    hash is a fraction of the dictionary's cost). Not to be modified."""
    return {label: k for k, label in enumerate(levels)}


def _positions(ordered: list, series: pd.Series) -> np.ndarray:
    """The position of each value of ``series`` among the distinct values ``ordered``
    (one past the end for a missing value), by a hash look-up rather than a row loop."""
    found = pd.Index(ordered, dtype=object).get_indexer(series.astype(object))
    return np.where(found < 0, len(ordered), found)


def distinct_values(series: pd.Series, present=None) -> list:
    """The distinct values of a categorical variable in level order: a pandas
    Categorical's categories that occur (in ``present``, when given: the values seen in
    all parts of a data set), else the values sorted, numbers first (:func:`_sort_key`)."""
    seen = set(series.dropna().unique()) if present is None else set(present)
    if isinstance(series.dtype, pd.CategoricalDtype):
        return [c for c in series.cat.categories if c in seen]
    return sorted(seen, key=_sort_key)


def _sort_key(value):
    """Sort numbers numerically and everything else as text, numbers first."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, str(value))
