"""Write a fit's results to a folder: summary table, the saved fit and a self-contained report.

The report is one HTML file with every plot embedded as a base64 PNG, so it can be mailed or
archived alone. It is a sequence of sections (:data:`SECTIONS`), each a function of the fit
that returns an HTML fragment, or ``""`` where the section does not apply to the model (no
random slope: no trajectories); a new section is one function added to that tuple.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from .api import Fit
from .errors import DesignError
from .multivariate_api import MultivariateFit
from .plots import plot_shrinkage

__all__ = ["SECTIONS", "format_table", "icc_or_reason", "report_html", "write_results"]

MAX_LEVELS_SHOWN = 30  # levels in the shrinkage plot of a grouping factor
MAX_PANELS = 12  # levels in the trajectories plot


def format_table(table: pd.DataFrame) -> str:
    """A summary table as aligned text, numbers to four significant digits."""
    shown = table.copy()
    for col in ("ess_bulk", "ess_tail", "n"):
        if col in shown:
            shown[col] = shown[col].round().astype("Int64")
    return shown.to_string(index=False, float_format=lambda v: f"{v:.4g}")


def _html_table(table: pd.DataFrame) -> str:
    return table.to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0)


def _image(fig: Figure, alt: str) -> str:
    """The figure as an inline PNG ``<img>``; the figure is closed (pyplot keeps every figure
    it made until closed, and a report makes many)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _section(title: str, *parts: str) -> str:
    return f"<section><h2>{html.escape(title)}</h2>\n" + "\n".join(parts) + "</section>\n"


# ----------------------------------------------------------------------------- sections


def model_section(fit: Fit) -> str:
    """The formula, family, data size and grouping factors."""
    model = fit.model
    design = model.design
    groups = "".join(f"<li>{html.escape(g.name)}: {g.n_levels} levels, varying "
                     f"{html.escape(', '.join(g.terms))}"
                     f"{' (correlated)' if g.correlated and len(g.terms) > 1 else ''}</li>"
                     for g in design.groups)
    return _section(
        "Model",
        f"<p><code>{html.escape(model.spec.formula.text)}</code></p>",
        f"<p>Family {html.escape(model.spec.family)}; {design.n_obs} observations "
        f"({design.n_dropped} dropped for missing values); {len(design.fixed_names)} fixed "
        f"effects; {model.likelihood} likelihood.</p>",
        f"<ul>{groups}</ul>")


def priors_section(fit: Fit) -> str:
    """The prior of every parameter."""
    return _section("Priors", _html_table(fit.model.priors.table()))


def sampling_section(fit: Fit) -> str:
    """Sampler settings and diagnostics (divergences, R-hat, ESS)."""
    config = fit.config
    problems = fit.diagnostics()
    items = ("".join(f"<li>{html.escape(p)}</li>" for p in problems)
             or "<li>no divergences; R-hat ≤ 1.01 and ESS ≥ 400 for every parameter</li>")
    if config.sampler == "imh":
        stats = fit.idata.sample_stats
        method = (f"independence Metropolis–Hastings on the collapsed model (every effect "
                  f"integrated out): {config.chains} chains × {config.draws} draws, no "
                  f"warm-up, acceptance {float(stats['accepted'].mean()):.0%}, Pareto k̂ of "
                  f"the proposal {stats.attrs['pareto_k']:.2f}")
    else:
        method = (f"{config.sampler} (NUTS): {config.chains} chains × {config.draws} draws "
                  f"after {config.tune} warm-up, target_accept {config.target_accept:g}")
    engine, reason = fit.engine
    return _section(
        "Sampling", f"<p>{html.escape(method)}, seed {config.random_seed}.</p>",
        f"<p>Engine {html.escape(engine)}: {html.escape(reason)}.</p>",
        f"<ul class=\"diagnostics\">{items}</ul>")


def fixed_effects_section(fit: Fit) -> str:
    """Posterior of the fixed effects."""
    table = fit.summary()
    return _section("Fixed effects", _html_table(table[table["effect"] == "fixed"]))


def variance_components_section(fit: Fit) -> str:
    """SDs, correlations, variances of the random effects and the residual, and their plot."""
    return _section("Variance components", _html_table(fit.variance_components()),
                    _image(fit.plot_variance_components(), "variance components"))


def icc_or_reason(fit: Fit) -> pd.DataFrame | str:
    """The fit's ICC table, or why it is not defined for this model (a sigma formula gives no
    single residual SD; ``gr(g, by = ...)`` factors do not cover every row)."""
    try:
        return fit.icc()
    except DesignError as err:
        return f"not defined for this model: {err}"


def icc_section(fit: Fit) -> str:
    """Intraclass correlation of each grouping factor (or why it is not defined)."""
    table = icc_or_reason(fit)
    if isinstance(table, str):
        return _section("Intraclass correlation", f"<p>{html.escape(table)}</p>")
    note = ("<p>With random slopes the ICC depends on the covariates; it is given at the "
            "values in the <code>at</code> column.</p>" if table["at"].astype(bool).any() else "")
    return _section("Intraclass correlation", _html_table(table), note,
                    _image(fit.plot_icc(), "intraclass correlation"))


def shrinkage_section(fit: Fit) -> str:
    """Each grouping factor's no-pooling, partial-pooling and complete-pooling estimates of
    its first varying effect (at most :data:`MAX_LEVELS_SHOWN` levels)."""
    parts = []
    for group in fit.model.design.groups:
        term = group.terms[0]
        table = fit.shrinkage(group.name, term).iloc[:MAX_LEVELS_SHOWN]
        shown = (f" (the first {MAX_LEVELS_SHOWN} of {group.n_levels} levels)"
                 if group.n_levels > MAX_LEVELS_SHOWN else "")
        parts.append(f"<h3>{html.escape(term)} by {html.escape(group.name)}{shown}</h3>")
        parts.append(_image(plot_shrinkage(table, term=term),
                            f"shrinkage of {term} by {group.name}"))
    return _section("Shrinkage", *parts)


def trajectory_axis(fit: Fit) -> tuple[str, str] | None:
    """The first grouping factor with a random slope on a numeric data column, and that
    column (the time-like covariate); None when the model has no such slope."""
    data = fit.model.data
    for group in fit.model.design.groups:
        for term in group.terms[1:]:
            if term in data.columns and pd.api.types.is_numeric_dtype(data[term]) \
                    and not pd.api.types.is_bool_dtype(data[term]):
                return group.name, term
    return None


def trajectories_section(fit: Fit) -> str:
    """Expected trajectories of the first :data:`MAX_PANELS` levels over the covariate that
    has a random slope (see :func:`trajectory_axis`); nothing without one."""
    axis = trajectory_axis(fit)
    if axis is None:
        return ""
    group, time = axis
    levels = list(fit.model.design.group(group).levels[:MAX_PANELS])
    return _section(f"Trajectories over {time} by {group}",
                    _image(fit.plot_trajectories(group, time, levels=levels),
                           f"trajectories over {time} by {group}"))


def ppc_section(fit: Fit) -> str:
    """Posterior predictive check: the observed density over replicated ones, and the
    posterior predictive p-values of the mean, SD, minimum and maximum (Gelman et al. 2013,
    *Bayesian Data Analysis*, 3rd ed., ch. 6)."""
    return _section("Posterior predictive check", _html_table(fit.ppc_pvalues()),
                    _image(fit.plot_ppc(), "posterior predictive check"))


Section = Callable[[Fit], str]
SECTIONS: tuple[Section, ...] = (model_section, priors_section, sampling_section,
                                 fixed_effects_section, variance_components_section,
                                 icc_section, shrinkage_section, trajectories_section,
                                 ppc_section)

_STYLE = """body{font-family:sans-serif;max-width:64em;margin:2em auto;padding:0 1em}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:2px 8px;border-bottom:1px solid #ddd;
text-align:right}img{max-width:100%;display:block;margin:.5em 0}code{font-size:1.1em}"""


def report_html(fit: Fit, sections: tuple[Section, ...] = SECTIONS) -> str:
    """The report: one HTML page with the given sections, plots inline."""
    body = "".join(section(fit) for section in sections)
    title = html.escape(fit.model.spec.formula.text)
    return (f"<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>lmm_bayes: {title}"
            f"</title>\n<style>{_STYLE}</style></head><body>\n<h1>lmm_bayes report</h1>\n"
            f"{body}</body></html>\n")


def write_results(fit: Fit | MultivariateFit, out: str | Path) -> dict[str, Path]:
    """Write ``summary.csv`` (the tidy summary), ``fit.nc`` (the saved fit, see
    :mod:`lmm_bayes.io`) and, for a model with one outcome, ``report.html`` into ``out``;
    returns the paths written by kind."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"summary": out / "summary.csv", "fit": out / "fit.nc"}
    fit.summary().to_csv(paths["summary"], index=False)
    fit.save(paths["fit"])
    if isinstance(fit, Fit):  # the sections (ICC, shrinkage, ppc...) are univariate
        paths["report"] = out / "report.html"
        paths["report"].write_text(report_html(fit), encoding="utf-8")
    return paths
