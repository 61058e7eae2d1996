"""Evaluate the variables of a formula on a data frame.

A variable is a column name (``Days``), or an expression over columns: ``np.log(x)``,
``log(x)``, ``I(x^2)`` (``^`` is a power, as in R), ``sin(2*pi*x)``, ``I(x > 3)`` (0/1),
``center(x)``, ``scale(x)`` or ``C(x)`` (treat ``x`` as categorical). Expressions are parsed
and evaluated by :mod:`lmm_bayes.expressions` under an allow-list, never by Python's
``eval``. ``center`` and ``scale`` remember the mean and standard deviation of the data they
were first evaluated on, in a :class:`DataSchema`, so that new data (prediction) are
transformed the same way; categorical variables remember their levels.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from itertools import count

import numpy as np
import pandas as pd

from .errors import DesignError, LMMError
from .expressions import Call, Environment, column_names, parse_expression
from .formula import NAME

__all__ = ["DataSchema", "Variable", "VariableEvaluator", "columns_used", "level_label"]


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
    """A variable evaluated on the data: numeric values, or categorical codes and levels."""

    label: str
    values: np.ndarray  # float values (numeric) or integer codes into ``levels`` (categorical)
    levels: tuple[str, ...] | None = None

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
    """

    levels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    transforms: Mapping[str, tuple[float, float]] = field(default_factory=dict)


def _is_categorical_dtype(series: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)


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
    """

    def __init__(self, data: pd.DataFrame, *, factors=(), reference=None, schema=None):
        self.data = data
        self.factors = set(factors)
        self.reference = dict(reference or {})
        self.schema = schema
        self.learnt_levels: dict[str, tuple[str, ...]] = {}
        self.learnt_transforms: dict[str, tuple[float, float]] = {}
        self._cache: dict[tuple[str, bool], Variable] = {}

    def learnt_schema(self) -> DataSchema:
        return DataSchema(dict(self.learnt_levels), dict(self.learnt_transforms))

    def variable(self, label: str, *, categorical: bool = False) -> Variable:
        """Evaluate ``label``; ``categorical=True`` forces categorical treatment (grouping)."""
        key = (label, categorical)
        if key not in self._cache:
            self._cache[key] = self._evaluate(label, categorical)
        return self._cache[key]

    def _evaluate(self, label: str, categorical: bool) -> Variable:
        if label in self.data.columns:
            series = self.data[label]
        else:
            series, categorical_call = self._expression(label)
            categorical = categorical or categorical_call
        if categorical or label in self.factors or _is_categorical_dtype(series):
            return self._categorical(label, series)
        values = np.asarray(series, dtype=float)
        bad = ~np.isfinite(values)
        if bad.any():
            raise DesignError(
                f"the formula term {label!r} is not finite in {int(bad.sum())} row(s) "
                f"(first at position {int(np.flatnonzero(bad)[0])})"
            )
        return Variable(label, values)

    def _categorical(self, label: str, series) -> Variable:
        series = pd.Series(series).reset_index(drop=True)
        if isinstance(series.dtype, pd.CategoricalDtype):
            present = set(series.dropna().unique())
            ordered = [c for c in series.cat.categories if c in present]
        else:
            ordered = sorted(series.dropna().unique(), key=_sort_key)
        labels = [level_label(v) for v in ordered]
        if len(set(labels)) < len(labels):
            clash = sorted({lab for lab in labels if labels.count(lab) > 1})
            raise DesignError(f"{label!r} mixes values that read as the same level {clash} "
                              f"(e.g. the number 1 and the text '1'); give the column one type")
        if self.schema is not None and label in self.schema.levels:
            levels = self.schema.levels[label]
        else:
            levels = self._with_reference(label, labels)
        codes_of = {lab: i for i, lab in enumerate(levels)}
        value_label = dict(zip(ordered, labels))
        codes = np.array([codes_of.get(value_label[v], -1) for v in series], dtype=int)
        if self.schema is not None and (codes < 0).any():  # new data with unknown levels
            unseen = sorted({lab for lab in labels if lab not in codes_of})
            rows = np.flatnonzero(codes < 0)
            raise DesignError(f"{label!r} has level(s) {unseen} that were not in the fitted "
                              f"data, in {rows.size} row(s) (first at row position {rows[0]}); "
                              f"known levels: {list(levels)}")
        self.learnt_levels[label] = tuple(levels)
        return Variable(label, codes, tuple(levels))

    def _with_reference(self, label: str, labels: list[str]) -> list[str]:
        if label not in self.reference:
            return labels
        ref = level_label(self.reference[label])
        if ref not in labels:
            raise DesignError(f"reference level {ref!r} of {label!r} is not in the data; "
                              f"levels are {labels}")
        return [ref] + [lab for lab in labels if lab != ref]

    def _expression(self, label: str) -> tuple[np.ndarray, bool]:
        """The values of an expression term, and whether it is categorical (``C(...)``)."""
        tree = parse_expression(label)
        categorical = isinstance(tree, Call) and tree.name == "C"
        if categorical:
            tree = tree.args[0]
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
        return values, categorical

    def _standardise(self, label: str, calls: Iterator[int], x, *, scale: bool) -> np.ndarray:
        """``center`` (``scale=False``) or ``scale`` of ``x``, the ``next(calls)``-th such
        call in ``label``; its constants are remembered, or reused from the schema."""
        x = np.asarray(x, dtype=float)
        key = f"{label}#{next(calls)}"
        if self.schema is not None and key in self.schema.transforms:
            mean, sd = self.schema.transforms[key]
        else:
            mean, sd = float(np.mean(x)), float(np.std(x, ddof=1)) if scale else 1.0
        if sd == 0:
            raise DesignError(f"scale() in {label!r} divides by a standard deviation of zero")
        self.learnt_transforms[key] = (mean, sd)
        return (x - mean) / sd


def _sort_key(value):
    """Sort numbers numerically and everything else as text, numbers first."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, str(value))
