"""The response of a model and the checks its family puts on it.

A Gaussian response is any finite number; a Bernoulli one 0/1 (or logical); counts
(Poisson, negative binomial) are non-negative whole numbers. A binomial response is
written as lme4 writes it, ``cbind(successes, failures)``, each side a column or an
expression (``cbind(incidence, size - incidence)``): the design then holds the successes as
``y`` and successes + failures as the number of trials; a plain 0/1 response with the
binomial family is one trial per row. Every failed check raises :class:`DesignError`
naming the column and the first offending row (its position in the data given).

An ordinal response (the cumulative family, :func:`ordinal_response`) is a pandas ordered
Categorical, whose categories in their order are the outcome's (every one observed), or
whole numbers, whose distinct values in increasing order are (a value no row has is no
category: 1, 2, 4 are three categories); text, logicals and unordered Categoricals are
refused, since their order is not known. The design holds each row's category position
1, …, K as ``y`` and the labels as its categories.
"""

from __future__ import annotations

import ast

import numpy as np
import pandas as pd

from .errors import DesignError, Setting
from .expressions import parse_expression
from .variables import VariableEvaluator, level_label

__all__ = ["cbind_parts", "ordinal_response", "response_values"]

BINARY = ("bernoulli", "binomial")
COUNTS = ("poisson", "negbinomial")
ORDINAL = ("cumulative",)


def cbind_parts(label: str) -> tuple[str, str] | None:
    """The two expressions of ``cbind(a, b)``, or None when ``label`` is not a cbind call."""
    if not label.replace(" ", "").startswith("cbind("):
        return None
    parse_expression(label)  # refuses what is off the allow-list, or too deep to parse
    try:
        call = ast.parse(label, mode="eval").body
    except SyntaxError:  # backquoted names: not supported inside cbind
        call = None
    if not isinstance(call, ast.Call) or len(call.args) != 2 or call.keywords:
        raise DesignError(f"the response {label!r} must be cbind(successes, failures), "
                          "two columns or expressions")
    return ast.unparse(call.args[0]), ast.unparse(call.args[1])


def _numeric(label: str, ev: VariableEvaluator, family: str) -> np.ndarray:
    dtype = ev.data[label].dtype if label in ev.data.columns else None
    if family == "bernoulli" and dtype is not None and pd.api.types.is_bool_dtype(dtype):
        return ev.data[label].to_numpy(dtype=float)
    if dtype is not None and (not pd.api.types.is_numeric_dtype(dtype)
                              or pd.api.types.is_bool_dtype(dtype)):
        raise DesignError(f"the response {label!r} is not numeric (dtype {dtype}); "
                          f"a {family.capitalize()} model needs numbers")
    var = ev.variable(label)
    if var.is_categorical:
        raise DesignError(f"the response {label!r} is not numeric")
    if var.columns is not None:
        raise DesignError(f"the response {label!r} has {len(var.columns)} columns; poly() "
                          "is for predictors")
    return var.values


def _require(bad: np.ndarray, label: str, rows: np.ndarray, what: str) -> None:
    """Raise when any row is ``bad``, naming the column, the count and the first row."""
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DesignError(f"{label!r} must be {what}; {int(bad.sum())} row(s) are not "
                          f"(first at row position {int(rows[first])})")


def _whole(values: np.ndarray) -> np.ndarray:
    return (values < 0) | (values != np.round(values))


def response_values(label: str, ev: VariableEvaluator, family: str,
                    rows: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """The response ``y`` and, for the binomial, the number of trials of each row.

    Parameters
    ----------
    label : str
        The formula's left-hand side.
    ev : VariableEvaluator
        On the rows used.
    family : str
    rows : ndarray of int
        Positions in the data given of the rows used, for error messages.

    Raises
    ------
    DesignError
        A non-numeric response; a value outside the family's support; ``cbind`` with a
        family other than the binomial; successes or failures that are not non-negative
        whole numbers (successes > trials shows as negative failures).
    """
    parts = cbind_parts(label)
    if parts is not None:
        if family != "binomial":
            raise DesignError(f"the response {label!r} (cbind) is the binomial family's; set ",
                              Setting("family", "binomial"), f", not {family!r}")
        successes, failures = (_numeric(part, ev, family) for part in parts)
        _require(_whole(successes), parts[0], rows, "non-negative whole numbers (successes)")
        _require(_whole(failures), parts[1], rows,
                 "non-negative whole numbers (failures); successes cannot exceed the trials")
        return successes, successes + failures
    y = _numeric(label, ev, family)
    if family in BINARY:
        _require(~np.isin(y, (0.0, 1.0)), label, rows,
                 f"0 or 1 for the {family} family (use cbind(successes, failures) for counts "
                 "of successes)")
        return y, (np.ones_like(y) if family == "binomial" else None)
    if family in COUNTS:
        _require(_whole(y), label, rows, f"non-negative whole numbers for the {family} family")
    return y, None


def _ordered_categories(label: str, column: pd.Series) -> tuple[np.ndarray, tuple[str, ...]]:
    """Positions 1, …, K and labels of an ordered Categorical column, every category seen."""
    if not column.cat.ordered:
        raise DesignError(f"the response {label!r} is an unordered Categorical, whose order "
                          "the ordinal model cannot know; make it ordered, e.g. "
                          f"data[{label!r}] = pd.Categorical(data[{label!r}], categories=[...], "
                          "ordered=True)")
    categories = tuple(level_label(c) for c in column.cat.categories)
    codes = column.cat.codes.to_numpy()
    unseen = [c for k, c in enumerate(categories) if not (codes == k).any()]
    if unseen:
        raise DesignError(f"the response {label!r} has no rows in its categor(y/ies) "
                          f"{unseen}, so the cutpoints beside them are not identified; drop "
                          f"them (data[{label!r}].cat.remove_unused_categories()) or add data")
    return codes + 1.0, categories


def _whole_number_categories(label: str, ev: VariableEvaluator, rows: np.ndarray
                             ) -> tuple[np.ndarray, tuple[str, ...]]:
    """Positions 1, …, K and labels of whole numbers, the distinct values in order."""
    dtype = ev.data[label].dtype if label in ev.data.columns else None
    if dtype is not None and (not pd.api.types.is_numeric_dtype(dtype)
                              or pd.api.types.is_bool_dtype(dtype)):
        raise DesignError(f"the response {label!r} ({dtype}) has no known order of its "
                          "values; an ordinal model needs a pandas ordered Categorical "
                          "(pd.Categorical(values, categories=[...], ordered=True)) or "
                          "whole numbers")
    var = ev.variable(label)
    if var.is_categorical:
        raise DesignError(f"the response {label!r} must be an ordered Categorical or whole "
                          "numbers for an ordinal model")
    values = var.values
    _require(values != np.round(values), label, rows,
             "whole numbers (or an ordered Categorical) for the cumulative family")
    distinct, position = np.unique(values, return_inverse=True)
    return position + 1.0, tuple(level_label(v) for v in distinct)


def ordinal_response(label: str, ev: VariableEvaluator, rows: np.ndarray
                     ) -> tuple[np.ndarray, tuple[str, ...]]:
    """Each row's category position 1, …, K and the K category labels in order (see the
    module docstring).

    Raises
    ------
    DesignError
        An unordered Categorical, text or logicals; numbers that are not whole; an ordered
        Categorical with a category that no row has; fewer than two categories.
    """
    column = ev.data[label] if label in ev.data.columns else None
    if column is not None and isinstance(column.dtype, pd.CategoricalDtype):
        y, categories = _ordered_categories(label, column)
    else:
        y, categories = _whole_number_categories(label, ev, rows)
    if len(categories) < 2:
        raise DesignError(f"the response {label!r} has one category ({categories[0]!r}) "
                          "in the rows used; an ordinal model needs at least two")
    return y, categories
