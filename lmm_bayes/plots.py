"""Figures of the summaries: each function takes a summary table and returns a matplotlib
:class:`~matplotlib.figure.Figure`, created through pyplot as seaborn's and ArviZ's are, so
that whatever shows pyplot's figures shows these: a notebook's inline backend, ``plt.show()``
in a script, a GUI window. Save one with ``fig.savefig(path)``; ``plt.close(fig)`` frees it."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

__all__ = [
    "kde_grid",
    "plot_baseline_hazard",
    "plot_conditional_effects",
    "plot_dynamic",
    "plot_icc",
    "plot_ppc",
    "plot_random_effects",
    "plot_rank",
    "plot_shrinkage",
    "plot_trajectories",
    "plot_variance_components",
    "plot_volcano",
]

POINT = "#1f4e79"      # posterior estimates
BAND = "#6fa8dc"       # intervals
RAW = "#c0504d"        # data and no-pooling estimates
POPULATION = "#444444"  # fixed part / complete pooling


class _ShownOnceFigure(Figure):
    """A pyplot figure that a notebook shows once when it is a cell's value."""

    def _ipython_display_(self) -> None:
        # pyplot's inline backend shows every figure still open at the end of a cell, and
        # IPython would show the cell's value as well: two copies. So in a notebook the figure
        # is shown here and closed in pyplot. Elsewhere (a terminal's GUI window, a widget)
        # the backend shows it and IPython shows nothing more.
        if "inline" not in plt.get_backend():
            return
        from IPython.display import Image, display

        plt.close(self)
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", bbox_inches="tight")
        display(Image(data=buffer.getvalue(), format="png"))


def _figure(width: float, height: float) -> Figure:
    return plt.figure(figsize=(width, height), layout="constrained", FigureClass=_ShownOnceFigure)


def _rows_figure(n_rows: int, n_panels: int = 1, width: float = 5.5) -> Figure:
    fig = _figure(width * n_panels, 0.9 + 0.28 * max(n_rows, 3))
    fig.subplots(1, n_panels, sharey=True, squeeze=False)
    return fig


def _intervals(ax, labels, table: pd.DataFrame, *, label: str | None = None) -> None:
    """Posterior means as points and central intervals as lines, one row per label, top down."""
    y = np.arange(len(labels))[::-1]
    est = np.asarray(table["estimate"], dtype=float)
    # a mean can fall outside a central interval of very skewed draws: no negative bars
    err = np.clip([est - np.asarray(table["conf_low"]), np.asarray(table["conf_high"]) - est],
                  0, None)
    ax.errorbar(est, y, xerr=err, fmt="o", color=POINT, ecolor=BAND, elinewidth=2.2, ms=5,
                label=label)
    ax.set_yticks(y, labels)
    ax.set_ylim(-0.7, len(labels) - 0.3)
    ax.grid(axis="x", color="#e5e5e5")
    ax.set_axisbelow(True)


# A fixed corner: loc="best" searches every drawn point and warns when that takes over a
# second (the replicated data of a large data set on a slow machine).
LEGEND_CORNER = "upper right"


def _interval_legend(fig: Figure, prob: float) -> None:
    fig.legend(*fig.axes[0].get_legend_handles_labels(), loc="outside lower right",
               frameon=False, fontsize=9)


def plot_icc(table: pd.DataFrame, *, prob: float = 0.95) -> Figure:
    """Each factor's ICC (table of :func:`lmm_bayes.summaries.icc`) with its interval, the
    variances in its numerator written above it."""
    fig = _figure(6, 1.3 + 0.55 * len(table))
    ax = fig.add_subplot()
    _intervals(ax, list(table["group"]), table, label=f"posterior mean, {prob:.0%} interval")
    for y, numerator in enumerate(table["numerator"][::-1]):
        ax.annotate(f"{numerator} / total", (0.01, y), xycoords=("axes fraction", "data"),
                    xytext=(0, 5), textcoords="offset points", fontsize=8, color=POPULATION)
    ax.set_xlim(0, 1)
    at = table["at"].iloc[0] if len(table) else ""
    ax.set_title("Intraclass correlation" + (f" at {at}" if at else ""))
    ax.set_xlabel("correlation of two observations that share the level")
    _interval_legend(fig, prob)
    return fig


def plot_variance_components(table: pd.DataFrame, *, prob: float = 0.95) -> Figure:
    """SDs (top) and correlations (below, where any) of a variance-components table."""
    sd = table[table["term"].str.startswith("sd__")]
    cor = table[table["term"].str.startswith("cor__")]
    panels = [(sd, "standard deviation")] + ([(cor, "correlation")] if len(cor) else [])
    heights = [len(part) + 1.5 for part, _ in panels]
    fig = _figure(6, 0.9 + 0.3 * sum(heights))
    axes = fig.subplots(len(panels), 1, height_ratios=heights, squeeze=False).ravel()
    for ax, (part, title) in zip(axes, panels):
        names = [t.split("__", 1)[1].replace(".", " ~ ") for t in part["term"]]
        _intervals(ax, [f"{g}: {n}" for g, n in zip(part["group"], names)], part,
                   label=f"posterior mean, {prob:.0%} interval")
        ax.set_title(title, fontsize=10)
        if title == "correlation":
            ax.set_xlim(-1, 1)
            ax.axvline(0, color=POPULATION, lw=0.8)
        else:
            ax.set_xlim(left=0)
    fig.suptitle("Variance components")
    _interval_legend(fig, prob)
    return fig


def plot_random_effects(table: pd.DataFrame, *, prob: float = 0.95) -> Figure:
    """Caterpillar plot of one factor's random effects (table of
    :func:`lmm_bayes.summaries.random_effects_table`), a panel per term, levels sorted by
    the first term's posterior mean."""
    terms = list(dict.fromkeys(table["term"]))
    first = table[table["term"] == terms[0]].sort_values("estimate", ascending=False)
    order = list(first["level"])
    fig = _rows_figure(len(order), len(terms), width=3.6)
    for ax, term in zip(fig.axes, terms):
        part = table[table["term"] == term].set_index("level").loc[order]
        _intervals(ax, order, part, label=f"posterior mean, {prob:.0%} interval")
        ax.axvline(0, color=POPULATION, lw=0.8, ls="--")
        ax.set_title(term)
    fig.axes[0].set_ylabel(str(table["group"].iloc[0]))
    fig.suptitle(f"Random effects by {table['group'].iloc[0]} (deviation from the fixed effect)")
    _interval_legend(fig, prob)
    return fig


def plot_shrinkage(table: pd.DataFrame, *, term: str, prob: float = 0.95) -> Figure:
    """Each level's no-pooling estimate (open circle, area ∝ rows) with an arrow to its
    partial-pooling estimate (dot and interval), complete pooling as a dashed line; table
    of :func:`lmm_bayes.summaries.shrinkage`, levels sorted by their own estimate."""
    rows = table.assign(key=table["no_pooling"].fillna(table["partial_pooling"]))
    rows = rows.sort_values("key", ascending=False)
    fig = _rows_figure(len(rows), width=6.5)
    ax = fig.axes[0]
    stats = rows.rename(columns={"partial_pooling": "estimate"})
    _intervals(ax, [str(v) for v in rows.index], stats,
               label=f"partial pooling, {prob:.0%} interval")
    y = np.arange(len(rows))[::-1]
    sizes = 15 + 110 * rows["n"] / rows["n"].max()
    ax.scatter(rows["no_pooling"], y, s=sizes, facecolors="none", edgecolors=RAW, lw=1.4,
               label="no pooling (area ∝ n)", zorder=3)
    for yi, start, end in zip(y, rows["no_pooling"], rows["partial_pooling"]):
        if np.isfinite(start):
            ax.annotate("", (end, yi), (start, yi), arrowprops={
                "arrowstyle": "-|>", "color": RAW, "lw": 1.1, "shrinkA": 4, "shrinkB": 3})
    ax.axvline(rows["complete_pooling"].iloc[0], color=POPULATION, ls="--", lw=1,
               label="complete pooling")
    ax.set_xlabel(term)
    ax.set_ylabel(str(table.index.name or "level"))
    ax.set_title(f"Shrinkage of {term} by {table.index.name}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return fig


def plot_trajectories(traj: pd.DataFrame, observed: pd.DataFrame, *, group: str, time: str,
                      response: str, prob: float = 0.95,
                      titles: Mapping[str, str] | None = None) -> Figure:
    """A panel per level: its observations (``observed``: columns ``level``, ``time`` and
    ``response``), its expected trajectory with a band and the population curve (table of
    :func:`lmm_bayes.summaries.trajectories`); panel titles from ``titles`` by level, else
    "``group`` level"."""
    levels = list(dict.fromkeys(traj["level"]))
    ncols = min(6, math.ceil(math.sqrt(len(levels) * 1.5)))
    nrows = math.ceil(len(levels) / ncols)
    fig = _figure(2.1 * ncols + 0.6, 1.8 * nrows + 0.9)
    axes = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False).ravel()
    for ax, level in zip(axes, levels):
        own = traj[(traj["level"] == level) & (traj["curve"] == "individual")]
        pop = traj[(traj["level"] == level) & (traj["curve"] == "population")]
        ax.fill_between(own[time], own["conf_low"], own["conf_high"], color=BAND, alpha=0.35,
                        lw=0, label=f"individual, {prob:.0%} interval")
        ax.plot(own[time], own["estimate"], color=POINT, lw=1.6, label="individual mean")
        ax.plot(pop[time], pop["estimate"], color=POPULATION, ls="--", lw=1, label="population")
        points = observed[observed["level"] == level]
        ax.plot(points[time], points[response], "o", color=RAW, ms=3, label="observed")
        ax.set_title((titles or {}).get(level, f"{group} {level}"), fontsize=9, pad=3)
        ax.tick_params(labelsize=8)
    for ax in axes[len(levels):]:
        ax.set_visible(False)
    fig.supxlabel(time)
    fig.supylabel(response)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside upper center", ncols=4,
               frameon=False, fontsize=9)
    return fig


def plot_baseline_hazard(table: pd.DataFrame, *, time: str, prob: float = 0.95) -> Figure:
    """A joint model's baseline hazard h_0(t) and cumulative hazard H_0(t) with their bands
    (the table of :meth:`lmm_bayes.JointFit.baseline_hazard`)."""
    fig = _figure(9, 3.2)
    for ax, kind, label in zip(fig.subplots(1, 2), ("hazard", "cumulative"),
                               ("baseline hazard h0(t)", "cumulative hazard H0(t)")):
        ax.fill_between(table["time"], table[f"{kind}_low"], table[f"{kind}_high"], color=BAND,
                        alpha=0.35, lw=0, label=f"{prob:.0%} interval")
        ax.plot(table["time"], table[kind], color=POINT, lw=1.6, label="posterior mean")
        ax.set_xlabel(time)
        ax.set_ylabel(label)
    fig.axes[0].legend(frameon=False, fontsize=8)
    return fig


def plot_dynamic(visit_times: np.ndarray, visits: np.ndarray, grid: np.ndarray,
                 marker: np.ndarray, marker_low: np.ndarray, marker_high: np.ndarray,
                 times: np.ndarray, survival: np.ndarray, survival_low: np.ndarray,
                 survival_high: np.ndarray, *, label: str, response: str, time: str,
                 prob: float = 0.95) -> Figure:
    """A joint model's dynamic prediction of one individual: left, the visits and the true
    marker trajectory m_i(t) with its band up to the landmark; right, the event-free
    probability P(T > t | T > s, history) from the landmark s on, with its band
    (:meth:`lmm_bayes.JointFit.plot_dynamic`)."""
    fig = _figure(9, 3.4)
    left, right = fig.subplots(1, 2, width_ratios=[1.3, 1])
    left.fill_between(grid, marker_low, marker_high, color=BAND, alpha=0.35, lw=0,
                      label=f"{prob:.0%} interval")
    left.plot(grid, marker, color=POINT, lw=1.6, label="true marker")
    left.plot(visit_times, visits, "o", color=RAW, ms=4, label="visits")
    left.set_xlabel(time)
    left.set_ylabel(response)
    left.legend(frameon=False, fontsize=8)
    right.fill_between(times, survival_low, survival_high, color=BAND, alpha=0.35, lw=0)
    right.plot(times, survival, color=POINT, lw=1.6)
    right.set_ylim(0, 1.02)
    right.set_xlabel(time)
    right.set_ylabel(f"P(event-free | alive at {times[0]:g})")
    fig.suptitle(label, fontsize=10)
    return fig


GRID_POINTS = 256  # points of the common density grid of the predictive check
MAX_DISCRETE_VALUES = 30  # whole-number responses with at most this many values: bars


def kde_grid(values: np.ndarray, grid: np.ndarray, bandwidth: float) -> np.ndarray:
    """Gaussian kernel density of ``values`` on the evenly spaced ``grid``, binned.

    f̂(x) = (1/(n h)) Σ_i φ((x − x_i)/h), with the values first counted into the grid's
    cells and the counts convolved with the kernel (binned KDE; Wand 1994, *J. Comput.
    Graph. Stat.* 3(4)): O(n + grid²) whatever n. Mass beyond the grid is dropped.
    """
    step = grid[1] - grid[0]
    edges = np.append(grid - step / 2, grid[-1] + step / 2)
    counts = np.histogram(values, edges)[0]
    offsets = np.arange(-(len(grid) - 1), len(grid)) * step
    kernel = np.exp(-0.5 * (offsets / bandwidth) ** 2) / (bandwidth * np.sqrt(2 * np.pi))
    return np.convolve(counts, kernel, mode="valid") / len(values)


def silverman_bandwidth(values: np.ndarray) -> float:
    """h = 0.9 min(SD, IQR/1.34) n^(−1/5) (Silverman 1986, *Density Estimation*, eq. 3.31);
    a positive fallback for constant data."""
    spread = min(np.std(values, ddof=1), np.subtract(*np.percentile(values, [75, 25])) / 1.34)
    spread = spread if spread > 0 else max(np.std(values), abs(np.mean(values)), 1.0)
    return 0.9 * spread * len(values) ** -0.2


def is_discrete(y: np.ndarray) -> bool:
    """Whole numbers taking at most :data:`MAX_DISCRETE_VALUES` values (counts, 0/1)."""
    return bool(np.all(y == np.round(y))) and len(np.unique(y)) <= MAX_DISCRETE_VALUES


def _ppc_densities(ax, y: np.ndarray, replicates: np.ndarray, response: str) -> None:
    """Observed KDE as a line over the replicates' KDEs (thin, translucent), one common grid
    and the observed data's bandwidth for all, so the curves differ only by the data."""
    low, high = np.percentile(np.concatenate([y, replicates.ravel()]), [0.1, 99.9])
    bandwidth = silverman_bandwidth(y)
    grid = np.linspace(low - 2 * bandwidth, high + 2 * bandwidth, GRID_POINTS)
    for k, rep in enumerate(replicates):
        ax.plot(grid, kde_grid(rep, grid, bandwidth), color=BAND, lw=0.7, alpha=0.35,
                label=f"replicated ({len(replicates)})" if k == 0 else None)
    ax.plot(grid, kde_grid(y, grid, bandwidth), color=RAW, lw=2.2, label="observed")
    ax.set_xlabel(response)
    ax.set_ylabel("density")
    ax.set_ylim(bottom=0)


def _ppc_bars(ax, y: np.ndarray, replicates: np.ndarray, response: str) -> None:
    """Observed frequency of each value as bars; the replicates' median frequency with a
    90% interval as points (bayesplot's ``ppc_bars``)."""
    values = np.union1d(np.unique(y), np.unique(replicates))
    shares = np.stack([(replicates == v).mean(axis=1) for v in values], axis=1)
    low, mid, high = np.percentile(shares, [5, 50, 95], axis=0)
    ax.bar(values, [(y == v).mean() for v in values], width=0.8, color=RAW, alpha=0.45,
           label="observed")
    ax.errorbar(values, mid, yerr=[mid - low, high - mid], fmt="o", color=POINT, ms=4,
                label=f"replicated ({len(replicates)}): median, 90%")
    if len(values) <= MAX_DISCRETE_VALUES // 2:  # a tick per value while they fit
        ax.set_xticks(values)
    ax.set_xlabel(response)
    ax.set_ylabel("share of rows")


def plot_ppc(y: np.ndarray, y_rep: np.ndarray, *, stat: str | None = None,
             index: np.ndarray | None = None, n_replicates: int = 50,
             response: str = "y") -> Figure:
    """Posterior predictive check: with ``stat=None`` the observed distribution of ``y`` over
    those of ``n_replicates`` replicated data sets from ``y_rep`` (S, n): kernel densities
    (:func:`kde_grid`), or for a discrete response (:func:`is_discrete`) the frequency of
    each value; with a statistic name (:data:`lmm_bayes.ppc.STATISTICS`) a histogram of the
    statistic over all replicates, the observed value and the p-value."""
    from .ppc import statistic

    fig = _figure(6.5, 3.6)
    ax = fig.add_subplot()
    if stat is None:
        y = np.asarray(y, float)
        picks = np.linspace(0, len(y_rep) - 1, min(n_replicates, len(y_rep))).astype(int)
        draw = _ppc_bars if is_discrete(y) else _ppc_densities
        draw(ax, y, np.asarray(y_rep, float)[picks], response)
        ax.set_title("Posterior predictive check")
    else:
        replicated = statistic(y_rep, stat, index)
        observed = float(statistic(y, stat, index))
        ax.hist(replicated, bins=40, color=BAND, label=f"{stat} of replicated data")
        ax.axvline(observed, color=RAW, lw=2, label=f"observed {stat}")
        p_value = float((replicated >= observed).mean())
        ax.set_xlabel(f"{stat}({response})")
        ax.set_title(f"Posterior predictive check of the {stat}: p = {p_value:.2f}")
    ax.legend(frameon=False, fontsize=9, loc=LEGEND_CORNER)
    return fig


def plot_conditional_effects(table: pd.DataFrame, *, x: str, by: str | None, response: str,
                             observed: pd.DataFrame | None = None,
                             prob: float = 0.95) -> Figure:
    """Expected outcome over ``x`` (table: columns ``x``, ``by`` where given, ``estimate``,
    ``conf_low``, ``conf_high``), a line with its band per level of ``by``; the observed
    rows (columns ``x``, ``by``, ``response``) as faint points behind."""
    fig = Figure(figsize=(6.5, 4), layout="constrained")
    ax = fig.add_subplot()
    parts = table.groupby(by, sort=False) if by else [(None, table)]
    colours = matplotlib.colormaps["tab10"].colors
    for k, (level, part) in enumerate(parts):
        colour = colours[k % len(colours)]
        label = f"{by} = {level}" if by else "population"
        if observed is not None:
            rows = observed[observed[by] == level] if by else observed
            ax.plot(rows[x], rows[response], ".", color=colour, alpha=0.15, ms=3)
        ax.fill_between(part[x], part["conf_low"], part["conf_high"], color=colour,
                        alpha=0.25, lw=0)
        ax.plot(part[x], part["estimate"], color=colour, lw=2, label=f"{label}, {prob:.0%}")
    ax.set_xlabel(x)
    ax.set_ylabel(f"expected {response}")
    ax.set_title(f"Conditional effect of {x}" + (f" by {by}" if by else ""))
    ax.legend(frameon=False, fontsize=9, loc=LEGEND_CORNER)
    return fig


def plot_rank(draws, *, ncols: int = 3) -> Figure:
    """Rank plots (Vehtari et al. 2021, *Bayesian Analysis* 16(2)): for each variable of
    ``draws`` (an xarray Dataset of scalars over chain and draw), the histogram of each
    chain's ranks among all draws; near uniform when the chains mix (``arviz.plot_rank``)."""
    import arviz as az

    n = len(draws.data_vars)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(3.2 * ncols, 2.2 * nrows + 0.4), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    az.plot_rank(draws, ax=axes[:n])
    for ax in axes:  # ArviZ sizes its labels for a figure of its own
        ax.title.set_fontsize(9)
        ax.xaxis.label.set_fontsize(8)
        ax.yaxis.label.set_fontsize(8)
        ax.tick_params(labelsize=8)
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.suptitle("Rank plots (one row of bars per chain; uniform when the chains agree)")
    return fig


def plot_volcano(table: pd.DataFrame, *, term: str, threshold: float = 0.05,
                 n_draws: int = 1000) -> Figure:
    """Volcano plot over genes (table of :meth:`lmm_bayes.many.ManyFits.lfsr`): the posterior
    mean of ``term`` against −log₁₀ lfsr, an lfsr of 0 drawn at 1/``n_draws`` (the smallest
    share the draws resolve), genes below ``threshold`` highlighted."""
    fig = _figure(6, 4.2)
    ax = fig.add_subplot()
    height = -np.log10(np.maximum(table["lfsr"].to_numpy(float), 1.0 / n_draws))
    hit = table["lfsr"].to_numpy(float) < threshold
    ax.scatter(table["estimate"][~hit], height[~hit], s=12, color=POPULATION, alpha=0.6,
               label=f"lfsr ≥ {threshold:g}")
    ax.scatter(table["estimate"][hit], height[hit], s=14, color=RAW,
               label=f"lfsr < {threshold:g} ({int(hit.sum())})")
    ax.axhline(-np.log10(threshold), color=BAND, ls="--", lw=1)
    ax.axvline(0, color=POPULATION, lw=0.8)
    ax.set_xlabel(f"{term} (posterior mean)")
    ax.set_ylabel("−log₁₀ lfsr")
    ax.set_title(f"{term} across {len(table)} fits")
    ax.legend(frameon=False, fontsize=9, loc=LEGEND_CORNER)
    return fig
