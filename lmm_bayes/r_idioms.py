"""What to write instead of an R formula idiom that lmm_bayes does not take.

Users coming from R write ``relevel(x, ref = "b")``, ``ns(x, 3)``, ``x %in% g`` or
``as.numeric(x)``; a formula term that calls a function off the allow-list of
:mod:`lmm_bayes.expressions` is refused, and the refusal adds the hint below that names the
lmm_bayes spelling. Only text: nothing here is evaluated.
"""

from __future__ import annotations

__all__ = ["CALL_HINTS", "NAME_HINTS", "call_hint", "name_hint", "operator_hint"]

_SPLINES = ("splines are not supported; use a polynomial, poly(x, 3) (orthogonal, as R's) "
            "or I(x^2), or compute the basis columns in the data")
_AS_NUMBER = ("numeric columns are used as numbers already: write the column itself; to "
              "use the codes of a categorical column, convert it in the data (e.g. "
              "data[\"x\"].cat.codes)")

CALL_HINTS: dict[str, str] = {
    "relevel": "the reference level is an option: reference={\"x\": \"b\"} (TOML: "
               "reference = { x = \"b\" }) with x written plainly or as factor(x)",
    "ns": _SPLINES, "bs": _SPLINES, "s": _SPLINES, "te": _SPLINES, "pspline": _SPLINES,
    "as.numeric": _AS_NUMBER, "as.integer": _AS_NUMBER, "as.double": _AS_NUMBER,
    "as.character": "a text column is categorical already; a numeric one is made "
                    "categorical by factor(x) or C(x)",
    "interaction": "write the interaction of a and b as a:b",
    "cut": "cut a numeric column into bands in the data (pandas.cut) and use that column",
    "strata": "stratified terms are not supported; use a random effect (1 | g) or an "
              "interaction with g",
    "ifelse": "compute the column in the data; a condition such as I(x > 3) gives a 0/1 "
              "column",
    "pmin": "compute the column in the data", "pmax": "compute the column in the data",
    "contr.sum": "only treatment contrasts (and polynomial ones for ordered(x)) are "
                 "supported",
}
"""R functions a formula may call in R but not here, with what to write instead."""

NAME_HINTS: dict[str, str] = {
    ".": "the formula's '.' (every other column) is not supported; name the columns",
    "pi": "pi is a constant, not a column: use it inside an expression, e.g. sin(2*pi*t)",
    "TRUE": "TRUE is not a column; a 0/1 column of a condition is written I(x > 3)",
    "FALSE": "FALSE is not a column; a 0/1 column of a condition is written I(x > 3)",
}
"""Names that R users write as terms but that are no column, with what they mean here."""


def call_hint(name: str) -> str:
    """``"; <hint>"`` to append to the refusal of a call to ``name``, or ``""``."""
    hint = CALL_HINTS.get(name, "")
    return f"; {hint}" if hint else ""


def name_hint(name: str) -> str:
    """``"; <hint>"`` to append to the refusal of the bare name ``name``, or ``""``."""
    hint = NAME_HINTS.get(name, "")
    return f"; {hint}" if hint else ""


def operator_hint(text: str, pos: int) -> str:
    """``"; <hint>"`` for R's ``%in%`` or another ``%op%`` operator starting at ``pos`` of a
    formula, or ``""``."""
    if text.startswith("%in%", pos):
        return ("; R's a %in% g (a within g) is written g/a (g + g:a) or, for the nested "
                "term alone, g:a")
    if text.startswith("%", pos):
        return "; R's %op% operators are not supported in formulas"
    return ""
