"""The response of a model and the checks its family puts on it.

A Gaussian response is any finite number; a Bernoulli one 0/1 (or logical); counts
(Poisson, negative binomial) are non-negative whole numbers. A binomial response is
written as lme4 writes it, ``cbind(successes, failures)``, each side a column or an
expression (``cbind(incidence, size - incidence)``): the design then holds the successes as
``y`` and successes + failures as the number of trials; a plain 0/1 response with the
binomial family is one trial per row. Every failed check raises :class:`DesignError`
naming the column and the first offending row (its position in the data given).
"""

from __future__ import annotations

import ast

import numpy as np
import pandas as pd

from .errors import DesignError, Setting
from .expressions import parse_expression
from .variables import VariableEvaluator

__all__ = ["cbind_parts", "response_values"]

BINARY = ("bernoulli", "binomial")
COUNTS = ("poisson", "negbinomial")


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
