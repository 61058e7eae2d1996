"""Tables for people: tidy number formatting, and a fit's summary as text and HTML.

One formatting rule serves every printed table (``print(fit)``, a notebook's
``fit._repr_html_()``, the command line, the report): each float column gets one number of
decimals, so that its numbers line up (13.900 beside 7.101, not 13.9 beside 7.101), enough
to show the column's smallest value to :data:`SIGNIFICANT` significant digits, but at most
:data:`SPREAD` more than its largest value needs (one near-zero correlation or SD does not
stretch a column of hundreds to seven decimals). An estimate and its interval share their
decimals; p-values and R-hat have three; counts (ESS, n) are whole numbers. The data frames
the API returns keep full precision; only their display is rounded.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .errors import DesignError

__all__ = ["fit_tables", "format_table", "html_table", "icc_or_reason", "summary_html",
           "summary_text", "tidy"]

SIGNIFICANT = 4
SPREAD = 2
COUNTS = ("ess_bulk", "ess_tail", "n")
FIXED_DECIMALS = {"p_value": 3, "r_hat": 3}  # whatever their size
SAME_SCALE = ("estimate", "conf_low", "conf_high", "observed", "replicated")

Tables = Sequence[tuple[str, "pd.DataFrame | str"]]


def _decimals_for(magnitude: float) -> int:
    """Decimals that show ``magnitude`` to :data:`SIGNIFICANT` significant digits."""
    return max(0, SIGNIFICANT - 1 - int(np.floor(np.log10(magnitude))))


def decimals(values: np.ndarray) -> int:
    """The number of decimals of a column of floats (see the module docstring)."""
    magnitudes = np.abs(values[np.isfinite(values)])
    magnitudes = magnitudes[magnitudes > 0]
    if magnitudes.size == 0:
        return 0
    return min(_decimals_for(magnitudes.min()), _decimals_for(magnitudes.max()) + SPREAD)


def _places(table: pd.DataFrame, name: str) -> int:
    """The decimals of float column ``name`` (see the module docstring)."""
    if name in COUNTS:
        return 0
    if name in FIXED_DECIMALS:
        return FIXED_DECIMALS[name]
    scale = [c for c in SAME_SCALE if c in table] if name in SAME_SCALE else [name]
    return decimals(table[scale].to_numpy(dtype=float).ravel())


def tidy(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with its float columns as text, rounded by the module's rule."""
    shown = table.copy()
    for name in shown.columns:
        if pd.api.types.is_float_dtype(shown[name]):
            places = _places(table, name)
            shown[name] = shown[name].map(lambda v, k=places: "NaN" if pd.isna(v)
                                          else f"{v:.{k}f}")
    return shown


def format_table(table: pd.DataFrame) -> str:
    """A table as aligned text, numbers tidied (:func:`tidy`)."""
    return tidy(table).to_string(index=False)


def html_table(table: pd.DataFrame, marks: Mapping[str, np.ndarray] | None = None) -> str:
    """A table as an HTML ``<table>``, numbers tidied (:func:`tidy`); cells where
    ``marks[column]`` is true are flagged (bold, red, ⚑)."""
    shown = tidy(table).map(lambda v: html.escape(str(v)))
    for name, mask in (marks or {}).items():
        shown[name] = [f'<strong class="flag">{v} ⚑</strong>' if m else v
                       for v, m in zip(shown[name], mask)]
    return shown.to_html(index=False, border=0, escape=False)


def icc_or_reason(fit) -> pd.DataFrame | str:
    """The fit's ICC table, or why it is not defined for this model (a sigma formula gives no
    single residual SD; ``gr(g, by = ...)`` factors do not cover every row)."""
    try:
        return fit.icc()
    except DesignError as err:
        return f"not defined for this model: {err}"


def fit_tables(fit) -> list[tuple[str, pd.DataFrame | str]]:
    """The titled tables of a fit's printed summary: fixed effects, an ordinal model's
    cutpoints, variance components and,
    for a fit that has one (a model with one outcome), the ICC or why it is undefined."""
    summary = fit.summary()
    fixed = summary[summary["effect"] == "fixed"].drop(columns=["effect", "group"])
    cutpoints = summary[summary["effect"] == "cutpoint"].drop(columns=["effect", "group"])
    tables = [("Fixed effects", fixed)] + ([("Cutpoints", cutpoints)] if len(cutpoints) else [])
    tables += [("Variance components",
                fit.variance_components().drop(columns=["effect"], errors="ignore"))]
    if hasattr(fit, "icc"):
        tables.append(("Intraclass correlation", icc_or_reason(fit)))
    return tables


def summary_text(header: Sequence[str], tables: Tables) -> str:
    """Header lines, then each table under its title (a text stands for a table that does
    not apply, saying why)."""
    parts = ["\n".join(header)]
    for title, table in tables:
        shown = table if isinstance(table, str) else format_table(table)
        parts.append(f"{title}\n{shown}")
    return "\n\n".join(parts)


def summary_html(header: Sequence[str], tables: Tables) -> str:
    """:func:`summary_text` as an HTML fragment (for notebooks)."""
    parts = ["<p>" + "<br>".join(html.escape(line) for line in header) + "</p>"]
    for title, table in tables:
        shown = (f"<p>{html.escape(table)}</p>" if isinstance(table, str)
                 else html_table(table))
        parts.append(f"<h4>{html.escape(title)}</h4>\n{shown}")
    return '<div class="lmm-bayes-fit">\n' + "\n".join(parts) + "\n</div>"
