"""Reference agreement: lme4's REML estimates set against a fit's posterior.

The reference values are those of ``../shared/data/README.md`` (lme4 1.1-31 on the
classic data sets); the validation tests and ``scripts/reference_table.py`` (which writes
``docs/reference_agreement.md``) share them from here.
"""

from __future__ import annotations

import pandas as pd

from .api import Fit

__all__ = ["REFERENCE_CASES", "agreement_markdown", "reference_agreement"]

# data set → (formula, {(group, term): lme4 REML value}); group "" marks a fixed effect
REFERENCE_CASES: dict[str, tuple[str, dict[tuple[str, str], float]]] = {
    "sleepstudy": ("Reaction ~ Days + (Days | Subject)", {
        ("", "(Intercept)"): 251.4051, ("", "Days"): 10.4673,
        ("Subject", "sd__(Intercept)"): 24.7407, ("Subject", "sd__Days"): 5.9221,
        ("Subject", "cor__(Intercept).Days"): 0.0656, ("Residual", "sd__Observation"): 25.5918}),
    "dyestuff": ("Yield ~ 1 + (1 | Batch)", {
        ("", "(Intercept)"): 1527.5, ("Batch", "sd__(Intercept)"): 42.0006,
        ("Residual", "sd__Observation"): 49.5101}),
    "penicillin": ("diameter ~ 1 + (1 | plate) + (1 | sample)", {
        ("", "(Intercept)"): 22.9722, ("plate", "sd__(Intercept)"): 0.8467,
        ("sample", "sd__(Intercept)"): 1.9316, ("Residual", "sd__Observation"): 0.5499}),
    "pastes": ("strength ~ 1 + (1 | batch/cask)", {
        ("", "(Intercept)"): 60.0533, ("batch:cask", "sd__(Intercept)"): 2.9041,
        ("batch", "sd__(Intercept)"): 1.2874, ("Residual", "sd__Observation"): 0.8234}),
}

AGREEMENT_COLUMNS = ["dataset", "group", "term", "lme4", "estimate", "std_error", "conf_low",
                     "conf_high", "z", "covered"]


def reference_agreement(name: str, fit: Fit, prob: float = 0.95) -> pd.DataFrame:
    """lme4's estimate of each parameter of data set ``name`` against ``fit``'s posterior.

    Parameters
    ----------
    name : str
        A key of :data:`REFERENCE_CASES`; ``fit`` must be of its formula.
    fit : Fit
    prob : float
        Mass of the central posterior interval.

    Returns
    -------
    pandas.DataFrame
        One row per reference value: ``dataset``, ``group``, ``term``, ``lme4``, the posterior
        ``estimate`` (mean), ``std_error`` (SD), ``conf_low``, ``conf_high``,
        ``z`` = (estimate − lme4)/std_error, and ``covered`` (the interval contains lme4's
        value).

    Notes
    -----
    The posterior mean of an SD sits above the REML estimate (a right-skewed posterior and a
    prior that keeps it off zero), so agreement means coverage, not equality: shared/data's
    criterion is every fixed effect within about one posterior SD (|z| < 1) and every
    variance parameter inside the central 90% interval.
    """
    table = fit.summary(prob=prob).set_index(["group", "term"])
    rows = []
    for (group, term), value in REFERENCE_CASES[name][1].items():
        row = table.loc[(group, term)]
        rows.append({"dataset": name, "group": group, "term": term, "lme4": value,
                     "estimate": row.estimate, "std_error": row.std_error,
                     "conf_low": row.conf_low, "conf_high": row.conf_high,
                     "z": (row.estimate - value) / row.std_error,
                     "covered": bool(row.conf_low < value < row.conf_high)})
    return pd.DataFrame(rows, columns=AGREEMENT_COLUMNS)


def agreement_markdown(table: pd.DataFrame, prob: float = 0.95) -> str:
    """The agreement table as a markdown table, numbers to four significant digits."""
    pct = f"{100 * prob:g}%"
    header = (f"| data set | group | term | lme4 | posterior mean | posterior SD | {pct} "
              "interval | z | covered |")
    lines = [header, "|---|---|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        lines.append(f"| {r.dataset} | {r.group or '(fixed)'} | {r.term} | {r.lme4:.4g} | "
                     f"{r.estimate:.4g} | {r.std_error:.3g} | {r.conf_low:.4g} – "
                     f"{r.conf_high:.4g} | {r.z:+.2f} | {'yes' if r.covered else '**no**'} |")
    return "\n".join(lines)
