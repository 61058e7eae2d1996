"""Write a fit's results to a folder: summary table, the saved fit and a self-contained report.

The report is one HTML file with every plot embedded as a base64 PNG, so it can be mailed or
archived alone. It is a sequence of sections (:data:`SECTIONS`), each a function of the fit
that returns an HTML fragment, or ``""`` where the section does not apply to the model (no
random slope: no trajectories); a new section is one function added to that tuple. A footer
states the package version, the date, the sampling time and the report's own build time.

Tables have one number of decimals per column (:func:`lmm_bayes.display.tidy`).
"""

from __future__ import annotations

import base64
import html
import io
import time
import warnings
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure

from . import names
from .api import Fit
from .display import html_table, icc_or_reason
from .errors import DesignError
from .jm.api import JointFit
from .multivariate_api import MultivariateFit
from .plots import plot_baseline_hazard, plot_conditional_effects, plot_rank, plot_shrinkage
from .summaries.trajectories import default_grid
from .variables import level_label
from .version import __version__

__all__ = ["MARKER_SECTIONS", "SECTIONS", "flag_pvalues", "footer", "joint_section",
           "report_html", "select_levels", "write_results"]

MAX_LEVELS_SHOWN = 30  # levels in the shrinkage plot of a grouping factor
MAX_PANELS = 12  # levels in the trajectories plot
PPC_EXTREME = 0.05  # p-values below it or above 1 − it are flagged
MAX_FIXED_RANKS = 4  # fixed effects in the rank plots
MAX_RANK_PANELS = 9


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


def _paragraph(text: str, css: str = "") -> str:
    return f'<p class="{css}">{html.escape(text)}</p>' if css else f"<p>{html.escape(text)}</p>"


# ----------------------------------------------------------------------------- levels shown


def _quotas(sizes: Sequence[int], total: int) -> list[int]:
    """``total`` slots dealt round-robin over strata of ``sizes`` (none beyond a size)."""
    quotas = [0] * len(sizes)
    while sum(quotas) < total and any(q < n for q, n in zip(quotas, sizes)):
        for k, size in enumerate(sizes):
            if quotas[k] < size and sum(quotas) < total:
                quotas[k] += 1
    return quotas


def _stratum_picks(part: pd.DataFrame, estimate: str, quota: int, by_rows: bool) -> list:
    """The stratum's extremes (largest and smallest ``estimate``, and with ``by_rows`` most
    and fewest rows), then levels evenly spaced in ``estimate`` order up to ``quota``."""
    by_estimate = part.sort_values(estimate, kind="stable")
    extremes = [by_estimate.index[-1], by_estimate.index[0]]
    if by_rows:
        rows = part.sort_values("n", kind="stable")
        extremes += [rows.index[-1], rows.index[0]]
    picks = list(dict.fromkeys(extremes))[:quota]
    rest = [level for level in by_estimate.index if level not in picks]
    spaced = np.linspace(0, len(rest) - 1, quota - len(picks)).round().astype(int)
    return picks + [rest[k] for k in dict.fromkeys(spaced)] if rest else picks


def select_levels(table: pd.DataFrame, *, estimate: str, strata: Sequence[str] = (),
                  n_max: int = MAX_PANELS, what: str = "estimate") -> tuple[list, str]:
    """The levels to show of a grouping factor, and a caption stating how they were chosen.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per level (index: level label) with the column ``estimate``, the rows ``n``
        of the level and the ``strata`` columns.
    estimate : str
        Column of the estimated effect whose extremes are shown.
    strata : sequence of str
        Columns constant within a level (e.g. the treatment arm): every combination of
        their values present is shown.
    n_max : int
    what : str
        The estimate in words, for the caption.

    Returns
    -------
    list, str
        Levels, by stratum and within it by decreasing ``estimate``; the caption, e.g.
        "12 of 192 levels shown: in each arm (placebo, active) …".
    """
    if len(table) <= n_max:
        return list(table.index), f"all {len(table)} levels shown"
    # categorical strata come in their category order (the reference level first)
    groups = list(table.groupby(list(strata), observed=True)) if strata else [((), table)]
    quotas = _quotas([len(part) for _, part in groups], n_max)
    by_rows = table["n"].nunique() > 1  # equal rows everywhere: no extremes to show
    chosen = []
    for (_, part), quota in zip(groups, quotas):
        picks = part.loc[_stratum_picks(part, estimate, quota, by_rows)]
        chosen += list(picks.sort_values(estimate, ascending=False).index)
    rows = ", the most and fewest rows" if by_rows else ""
    rule = f"the largest and smallest {what}{rows}, then levels evenly spaced by {what}"
    if strata:
        values = ", ".join("/".join(map(str, key if isinstance(key, tuple) else (key,)))
                           for key, _ in groups)
        rule = f"in each {' × '.join(strata)} ({values}) {rule}"
    return chosen, f"{len(chosen)} of {len(table)} levels shown: {rule}"


def _level_of_rows(fit: Fit, group: str) -> np.ndarray:
    grp = fit.model.design.group(group)
    return np.asarray(grp.levels)[grp.index]


def level_strata(fit: Fit, group: str) -> list[str]:
    """Categorical fixed-effect covariates (data columns) constant within every level of
    ``group``, e.g. the arm of a patient."""
    design, data = fit.model.design, fit._data
    used = dict.fromkeys(v for term in design.formula.fixed for v in term.factors)
    rows = _level_of_rows(fit, group)
    return [v for v in used if v in design.schema.levels and v in data.columns
            and (data[v].groupby(rows).nunique(dropna=False) <= 1).all()]


def level_covariates(fit: Fit, group: str) -> pd.DataFrame:
    """Each level's value of the :func:`level_strata` columns (index: level label), as
    categoricals in the model's level order (reference first)."""
    levels = fit.model.design.schema.levels
    per_level = fit._data[level_strata(fit, group)].groupby(_level_of_rows(fit, group)).first()
    return per_level.apply(lambda col: pd.Categorical(
        col.map(level_label), categories=levels[col.name], ordered=True))


def _levels_shown(fit: Fit, group: str, term: str, table: pd.DataFrame,
                  n_max: int) -> tuple[list, str, dict[str, str]]:
    """:func:`select_levels` on ``fit.shrinkage(group, term)``'s ``table`` and ``group``'s
    strata, and each level's label with its strata values (``C01-P04 (active)``)."""
    per_level = level_covariates(fit, group)
    levels, caption = select_levels(table.join(per_level), estimate="partial_pooling",
                                    strata=list(per_level.columns), n_max=n_max,
                                    what=f"estimated {term}")
    labels = {lv: lv + "".join(f" ({v})" for v in per_level.loc[lv]) for lv in levels}
    return levels, caption, labels


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
        f"<p>Family {html.escape(model.spec.family)}; {design.n_obs} observations"
        f"{_weighted(model.spec.weights)} "
        f"({design.n_dropped} dropped for missing values); {len(design.fixed_names)} fixed "
        f"effects; {model.likelihood} likelihood.</p>",
        *([(f"<p>Censored response: {design.censoring.describe()}; predictions are of "
            "the uncensored value.</p>")] if design.censoring is not None else []),
        f"<ul>{groups}</ul>")


def _weighted(weights: str | None) -> str:
    """Which column weighs the observations, for the model section."""
    return f", weighted by <code>{html.escape(weights)}</code>" if weights else ""


def priors_section(fit: Fit) -> str:
    """The prior of every parameter."""
    return _section("Priors", html_table(fit.model.priors.table()))


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
    _, reason = fit.engine   # the reason starts with the engine's name
    return _section(
        "Sampling", f"<p>{html.escape(method)}, seed {config.random_seed}.</p>",
        f"<p>Engine {html.escape(reason)}.</p>",
        f"<ul class=\"diagnostics\">{items}</ul>")


def fixed_effects_section(fit: Fit) -> str:
    """Posterior of the fixed effects (and of an ordinal model's cutpoints)."""
    table = fit.summary()
    return _section("Fixed effects",
                    html_table(table[table["effect"].isin(["fixed", "cutpoint"])]))


def variance_components_section(fit: Fit) -> str:
    """SDs, correlations, variances of the random effects and the residual, and their plot."""
    return _section("Variance components", html_table(fit.variance_components()),
                    _image(fit.plot_variance_components(), "variance components"))


def icc_section(fit: Fit) -> str:
    """Intraclass correlation of each grouping factor (or why it is not defined)."""
    table = icc_or_reason(fit)
    if isinstance(table, str):
        return _section("Intraclass correlation", f"<p>{html.escape(table)}</p>")
    note = ("<p>With random slopes the ICC depends on the covariates; it is given at the "
            "values in the <code>at</code> column.</p>" if table["at"].astype(bool).any() else "")
    return _section("Intraclass correlation", html_table(table), note,
                    _image(fit.plot_icc(), "intraclass correlation"))


def _shrinkage_part(fit: Fit, group: str, term: str) -> list[str]:
    """Heading, caption and plot of ``term``'s shrinkage in ``group``."""
    title = f"{term} by {group}"
    try:
        table = fit.shrinkage(group, term)
    except DesignError as err:
        return [f"<h3>{html.escape(title)}</h3>", _paragraph(f"not available: {err}")]
    levels, caption, labels = _levels_shown(fit, group, term, table, MAX_LEVELS_SHOWN)
    shown = table.loc[levels].rename(index=labels)
    return [f"<h3>{html.escape(title)}</h3>", _paragraph(caption, "caption"),
            _image(plot_shrinkage(shown, term=term), f"shrinkage of {title}")]


def shrinkage_section(fit: Fit) -> str:
    """Each grouping factor's no-pooling, partial-pooling and complete-pooling estimates of
    each varying effect (intercept and slopes), at most :data:`MAX_LEVELS_SHOWN` levels
    chosen by :func:`select_levels`."""
    parts = [part for group in fit.model.design.groups for term in group.terms
             for part in _shrinkage_part(fit, group.name, term)]
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
    """Expected trajectories of at most :data:`MAX_PANELS` levels, chosen by
    :func:`select_levels` on the estimated slope, over the covariate that has a random slope
    (see :func:`trajectory_axis`); nothing without one."""
    axis = trajectory_axis(fit)
    if axis is None:
        return ""
    group, time_ = axis
    family = fit.model.spec.family
    if family != "gaussian":  # as Fit.trajectories; said here, before the levels are chosen
        return _section(f"Trajectories over {time_} by {group}", _paragraph(
            f"not available: trajectories are computed for Gaussian models only; this "
            f"model's family is {family!r}"))
    slopes = fit.shrinkage(group, time_)
    levels, caption, labels = _levels_shown(fit, group, time_, slopes, MAX_PANELS)
    titles = {lv: f"{group} {label}" for lv, label in labels.items()}
    return _section(f"Trajectories over {time_} by {group}", _paragraph(caption, "caption"),
                    _image(fit.plot_trajectories(group, time_, levels=levels, titles=titles),
                           f"trajectories over {time_} by {group}"))


def conditional_axes(fit: Fit) -> tuple[str, str | None] | None:
    """The covariate of the conditional-effects plot, the first with a random slope
    (:func:`trajectory_axis`) or else the first numeric fixed-effect data column, and the
    first categorical data column that interacts with it in a fixed term (None if none);
    None when the model has no numeric covariate."""
    design, data = fit.model.design, fit._data
    axis = trajectory_axis(fit)
    numeric = [v for t in design.formula.fixed if len(t.factors) == 1 for v in t.factors
               if v in data.columns and pd.api.types.is_numeric_dtype(data[v])
               and not pd.api.types.is_bool_dtype(data[v]) and v not in design.schema.levels]
    x = axis[1] if axis else (numeric[0] if numeric else None)
    if x is None:
        return None
    partners = [v for t in design.formula.fixed if x in t.factors for v in t.factors
                if v != x and v in design.schema.levels and v in data.columns]
    return x, (partners[0] if partners else None)


def _typical_row(data: pd.DataFrame, categorical) -> dict:
    """Each column at its mean, or its most common value if it is in ``categorical`` (a
    numeric column coded as a factor: its mean would be an unseen level) or not numeric."""
    def numeric(c):
        return (c not in categorical and pd.api.types.is_numeric_dtype(data[c])
                and not pd.api.types.is_bool_dtype(data[c]))
    return {c: data[c].mean() if numeric(c) else data[c].mode().iloc[0] for c in data.columns}


def conditional_grid(fit: Fit, x: str, by: str | None) -> pd.DataFrame:
    """New rows: ``x`` over :func:`~lmm_bayes.summaries.trajectories.default_grid` for each
    level of ``by`` (reference first), every other column at its typical value."""
    data = fit._data
    grid = default_grid(data[x].to_numpy(float))
    levels = [None]
    if by is not None:
        order = list(fit.model.design.schema.levels[by])
        levels = sorted(pd.unique(data[by]), key=lambda v: order.index(level_label(v)))
    typical = _typical_row(data, fit.model.design.schema.levels)
    rows = pd.DataFrame([typical] * (len(grid) * len(levels)))
    rows[x] = np.tile(grid, len(levels))
    if by is not None:
        rows[by] = np.repeat(levels, len(grid))
    return rows


def conditional_effects_section(fit: Fit) -> str:
    """The expected outcome over the covariate of :func:`conditional_axes` for each level of
    the covariate interacting with it, with its posterior band: the fixed part g⁻¹(xᵀβ) of
    each draw (``fit.predict(..., groups="population")``), other covariates at their mean
    or most common value."""
    axes = conditional_axes(fit)
    if axes is None:
        return ""
    x, by = axes
    grid = conditional_grid(fit, x, by)
    table = grid.join(fit.predict(grid, groups="population"))
    response = fit.model.spec.formula.response
    observed = fit._data.assign(**{response: fit.model.design.y})
    others = ("random effects at zero" + ("" if fit.family.link == "identity" else
              " (the typical level, not the population average, on this link)")
              + "; other covariates at their mean or most common value")
    return _section(
        f"Conditional effects of {x}" + (f" by {by}" if by else ""),
        _paragraph(f"Expected {response} over {x}" + (f" in each level of {by}" if by else "")
                   + f", 95% posterior bands; {others}."),
        _image(plot_conditional_effects(table, x=x, by=by, response=response,
                                        observed=observed),
               f"conditional effects of {x}"))


def flag_pvalues(table: pd.DataFrame) -> np.ndarray:
    """Rows whose posterior predictive p-value is below :data:`PPC_EXTREME` or above
    1 − :data:`PPC_EXTREME`: a feature of the data the replicates rarely reproduce. Not
    flagged: a statistic whose replicates all equal the observed value (the maximum of 0/1
    data), whose p-value of 1 comes from ties alone."""
    p = table["p_value"].to_numpy(float)
    tied = ((table["conf_low"] == table["observed"])
            & (table["conf_high"] == table["observed"])).to_numpy()
    return ((p < PPC_EXTREME) | (p > 1 - PPC_EXTREME)) & ~tied


def ppc_section(fit: Fit) -> str:
    """Posterior predictive check: the observed density over replicated ones, and the
    posterior predictive p-values of the mean, SD, minimum and maximum, extreme ones flagged
    (Gelman et al. 2013, *Bayesian Data Analysis*, 3rd ed., ch. 6)."""
    title = "Posterior predictive check"
    try:
        table = fit.ppc_pvalues()
    except DesignError as err:
        return _section(title, _paragraph(f"not available: {err}"))
    flags = flag_pvalues(table)
    note = (f"⚑ p < {PPC_EXTREME:g} or p > {1 - PPC_EXTREME:g}: the replicated data rarely "
            f"reach the observed value; the model misses this feature of the data "
            f"({int(flags.sum())} flagged).")
    return _section(title, html_table(table, {"p_value": flags}), _paragraph(note, "note"),
                    _image(fit.plot_ppc(), "posterior predictive check"))


def _rank_draws(fit: Fit) -> xr.Dataset:
    """The first :data:`MAX_FIXED_RANKS` fixed effects, the random-effect SDs and σ, at most
    :data:`MAX_RANK_PANELS` scalars."""
    post = fit.idata.posterior
    chosen = {term: post[names.BETA].sel({names.FIXED: term})
              for term in fit.model.design.fixed_names[:MAX_FIXED_RANKS]}
    for group in fit.model.design.groups:
        for term in group.terms:
            chosen[f"sd {group.name}: {term}"] = post[names.sd(group.name)].sel(
                {names.term_dim(group.name): term})
    if names.SIGMA in post:
        chosen[names.SIGMA] = post[names.SIGMA]
    return xr.Dataset({k: v.drop_vars(list(v.coords.keys() - {"chain", "draw"}))
                       for k, v in list(chosen.items())[:MAX_RANK_PANELS]})


def loo_table(fit: Fit) -> pd.DataFrame | str:
    """PSIS-LOO (Vehtari, Gelman & Gabry 2017, *Statistics and Computing* 27): elpd_loo, its
    SE, p_loo and the count of rows by Pareto k̂ (reliable up to ArviZ's sample-size
    threshold, at most 0.7; unreliable above); or why it is not available."""
    try:
        with warnings.catch_warnings():  # the high-k̂ warning: counted in the table instead
            warnings.simplefilter("ignore")
            loo = fit.loo(pointwise=True)
    except (DesignError, ValueError) as err:
        return f"LOO not available for this model: {err}"
    k = np.asarray(loo.pareto_k)
    good = float(getattr(loo, "good_k", 0.7))
    return pd.DataFrame({"elpd_loo": [loo.elpd_loo], "se": [loo.se], "p_loo": [loo.p_loo],
                         "rows": [k.size], f"k ≤ {good:.2f}": [int((k <= good).sum())],
                         f"{good:.2f} < k ≤ 1": [int(((k > good) & (k <= 1)).sum())],
                         "k > 1": [int((k > 1).sum())]})


def diagnostics_section(fit: Fit) -> str:
    """Rank plots of the fixed effects, SDs and σ, and the PSIS-LOO table."""
    loo = loo_table(fit)
    loo_part = (_paragraph(loo) if isinstance(loo, str) else html_table(loo)
                + _paragraph("Leave-one-out given each row's level effects. Rows with k above "
                             "the first threshold have an unreliable LOO estimate."))
    return _section("Diagnostics", _image(plot_rank(_rank_draws(fit)), "rank plots"),
                    "<h3>PSIS-LOO</h3>", loo_part)


Section = Callable[[Fit], str]
SECTIONS: tuple[Section, ...] = (model_section, priors_section, sampling_section,
                                 fixed_effects_section, variance_components_section,
                                 icc_section, conditional_effects_section, shrinkage_section,
                                 trajectories_section, ppc_section, diagnostics_section)

#: a joint model's sections of its marker (``fit.longitudinal``); not the predictive check
#: or PSIS-LOO, which would leave the event out of the model they judge
MARKER_SECTIONS: tuple[Section, ...] = (model_section, sampling_section, fixed_effects_section,
                                        variance_components_section, icc_section,
                                        trajectories_section)


def joint_section(fit: JointFit) -> str:
    """A joint model's survival part: its formula and association, the survival rows of
    the summary, the hazard ratios, the baseline hazard with its band, the priors of both
    parts and the diagnostics of the survival parameters."""
    spec = fit.model.spec
    summary = fit.summary()
    survival = summary[summary["effect"].isin(["survival", "association", "baseline"])]
    problems = [p for p in fit.diagnostics() if p not in fit.longitudinal.diagnostics()]
    items = "".join(f"<li>{html.escape(p)}</li>" for p in problems)
    return _section(
        "Joint model: time to event",
        f"<p><code>{html.escape(spec.survival.text)}</code>; association "
        f"<code>{html.escape(spec.association)}</code>, {html.escape(spec.baseline)} "
        f"baseline hazard; {fit.model.joint.n} individuals, "
        f"{int(fit.model.joint.event.sum())} events.</p>",
        html_table(survival), "<h3>Hazard ratios</h3>", html_table(fit.hazard_ratios()),
        "<h3>Baseline hazard</h3>",
        _image(plot_baseline_hazard(fit.baseline_hazard(), time=spec.time), "baseline hazard"),
        "<h3>Priors</h3>", html_table(fit.model.priors.table()),
        f"<ul class=\"diagnostics\">{items}</ul>" if items else "")


_STYLE = """body{font-family:sans-serif;max-width:64em;margin:2em auto;padding:0 1em}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:2px 8px;border-bottom:1px solid #ddd;
text-align:right;font-variant-numeric:tabular-nums}img{max-width:100%;display:block;
margin:.5em 0}code{font-size:1.1em}.caption,.note{color:#555;font-size:.9em}
.flag{color:#b00000}footer{margin-top:2em;border-top:1px solid #ccc;color:#555;
font-size:.85em;padding-top:.5em}"""


def footer(fit: Fit, build_seconds: float, now: datetime) -> str:
    """The package version, the date (UTC), the sampling wall time
    (:attr:`Fit.sampling_time`) and the report's build time."""
    seconds = fit.sampling_time
    sampling = "not recorded" if seconds is None else f"{seconds:.1f} s"
    return (f"<footer>lmm_bayes {html.escape(__version__)} · report built "
            f"{now:%Y-%m-%d %H:%M} UTC in {build_seconds:.1f} s · sampling {sampling} "
            f"({html.escape(fit.config.sampler)}, {fit.config.chains} chains × "
            f"{fit.config.draws} draws)</footer>\n")


def report_html(fit: Fit, sections: tuple[Section, ...] = SECTIONS, *,
                appended: Sequence[Callable[[], str]] = ()) -> str:
    """The report: one HTML page with the given sections, then the ``appended`` ones (e.g.
    a joint model's survival part), plots inline, and the footer."""
    start = time.perf_counter()
    body = "".join(section(fit) for section in sections) + "".join(part() for part in appended)
    end = footer(fit, time.perf_counter() - start, datetime.now(UTC))
    title = html.escape(fit.model.spec.formula.text)
    return (f"<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>lmm_bayes: {title}"
            f"</title>\n<style>{_STYLE}</style></head><body>\n<h1>lmm_bayes report</h1>\n"
            f"{body}{end}</body></html>\n")


def write_results(fit: Fit | MultivariateFit | JointFit, out: str | Path) -> dict[str, Path]:
    """Write ``summary.csv`` (the tidy summary), ``fit.nc`` (the saved fit, see
    :mod:`lmm_bayes.io`) and, for a model with one outcome, ``report.html`` into ``out``;
    returns the paths written by kind. A joint model's fit, which ``lmm_bayes.io`` cannot
    save (two data frames), writes its draws as ``posterior.nc`` (ArviZ's netCDF) instead
    of ``fit.nc``, and a report of its marker and survival parts."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if isinstance(fit, JointFit):
        paths = {"summary": out / "summary.csv", "draws": out / "posterior.nc",
                 "report": out / "report.html"}
        fit.summary().to_csv(paths["summary"], index=False)
        fit.idata.to_netcdf(str(paths["draws"]))
        paths["report"].write_text(report_html(fit.longitudinal, MARKER_SECTIONS,
                                               appended=[lambda: joint_section(fit)]),
                                   encoding="utf-8")
        return paths
    paths = {"summary": out / "summary.csv", "fit": out / "fit.nc"}
    fit.summary().to_csv(paths["summary"], index=False)
    fit.save(paths["fit"])
    if isinstance(fit, Fit):  # the sections (ICC, shrinkage, ppc...) are univariate
        paths["report"] = out / "report.html"
        paths["report"].write_text(report_html(fit), encoding="utf-8")
    return paths
