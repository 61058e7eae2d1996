"""Write a fit's results to a folder: summary table, posterior and a self-contained report."""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from .api import Fit

__all__ = ["format_summary", "write_results"]


def format_summary(table: pd.DataFrame) -> str:
    """The tidy summary as aligned text, numbers to four significant digits."""
    shown = table.copy()
    for col in ("ess_bulk", "ess_tail"):
        shown[col] = shown[col].round().astype("Int64")
    return shown.to_string(index=False, float_format=lambda v: f"{v:.4g}")


def _report_html(fit: Fit, table: pd.DataFrame) -> str:
    model, config = fit.model, fit.config
    problems = fit.diagnostics()
    diagnostics = ("".join(f"<li>{html.escape(p)}</li>" for p in problems)
                   or "<li>no divergences; R-hat ≤ 1.01 and ESS ≥ 400 for every parameter</li>")
    groups = "".join(f"<li>{html.escape(g.name)}: {g.n_levels} levels, effects "
                     f"{html.escape(', '.join(g.terms))}</li>" for g in model.design.groups)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>lmm_bayes report</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}
table{{border-collapse:collapse}}td,th{{padding:2px 8px;border-bottom:1px solid #ddd}}</style>
</head><body>
<h1>{html.escape(model.spec.formula.text)}</h1>
<p>Family {model.spec.family}; {model.design.n_obs} observations
({model.design.n_dropped} dropped for missing values).</p>
<ul>{groups}</ul>
<h2>Priors</h2>{model.priors.table().to_html(index=False)}
<h2>Sampling</h2>
<p>{config.sampler}: {config.chains} chains × {config.draws} draws after {config.tune} warm-up,
seed {config.random_seed}.</p><ul>{diagnostics}</ul>
<h2>Fixed effects and variance parameters</h2>
{table.to_html(index=False, float_format=lambda v: f"{v:.4g}")}
</body></html>
"""


def write_results(fit: Fit, out: str | Path) -> dict[str, Path]:
    """Write ``summary.csv``, ``posterior.nc`` and ``report.html`` into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table = fit.summary()
    paths = {"summary": out / "summary.csv", "posterior": out / "posterior.nc",
             "report": out / "report.html"}
    table.to_csv(paths["summary"], index=False)
    fit.idata.to_netcdf(paths["posterior"])
    paths["report"].write_text(_report_html(fit, table))
    return paths
