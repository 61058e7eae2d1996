"""The plots render summary tables to PNG and show what the tables hold (pyplot figures, on
the Agg backend that conftest.py sets)."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from lmm_bayes import plots


def interval_table(estimates, **columns) -> pd.DataFrame:
    est = np.asarray(estimates, dtype=float)
    return pd.DataFrame({**columns, "estimate": est, "std_error": 0.1, "conf_low": est - 1,
                         "conf_high": est + 1})


def saved(fig: Figure, path) -> int:
    fig.savefig(path, dpi=60)
    return path.stat().st_size


def test_shrinkage_plot_draws_an_arrow_per_estimable_level(tmp_path):
    table = pd.DataFrame({
        "n": [10, 2, 5], "no_pooling": [12.0, 2.0, np.nan], "complete_pooling": 8.0,
        "partial_pooling": [11.0, 6.0, 7.5], "std_error": 1.0, "conf_low": [9.0, 3, 5],
        "conf_high": [13.0, 9, 10], "shrinkage": [0.25, 2 / 3, np.nan],
        "reason": ["", "", "1 observation(s) for 2 coefficients"],
    }, index=pd.Index(["a", "b", "c"], name="Subject"))
    fig = plots.plot_shrinkage(table, term="(Intercept)")
    ax = fig.axes[0]
    assert len(ax.texts) == 2  # arrows (annotations) for a and b, none for c (no estimate)
    # top down by the level's own estimate (c, with none, by its partial pooling 7.5)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "c", "b"]
    assert ax.get_title() == "Shrinkage of (Intercept) by Subject"
    assert saved(fig, tmp_path / "shrinkage.png") > 5_000


def test_trajectory_panels(tmp_path):
    grid = [0.0, 5.0]
    traj = pd.concat([interval_table([1, 2], level=lv, t=grid, curve=c)
                      for lv in ("p", "q", "r") for c in ("individual", "population")])
    observed = pd.DataFrame({"level": ["p", "q"], "t": [1.0, 2.0], "y": [1.5, 1.7]})
    fig = plots.plot_trajectories(traj, observed, group="id", time="t", response="y")
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["id p", "id q", "id r"]
    assert saved(fig, tmp_path / "trajectories.png") > 5_000


def test_icc_plot_axis_is_the_unit_interval(tmp_path):
    table = interval_table([0.2, 0.6], group=["batch", "batch:cask"], at="",
                           numerator=["var(batch)", "var(batch) + var(batch:cask)"])
    fig = plots.plot_icc(table)
    assert fig.axes[0].get_xlim() == (0, 1)
    assert [t.get_text() for t in fig.axes[0].texts] == ["var(batch) + var(batch:cask) / total",
                                                         "var(batch) / total"]
    assert saved(fig, tmp_path / "icc.png") > 3_000


def test_random_effects_panels_per_term_sorted_by_intercept(tmp_path):
    table = interval_table([1, 0.1, -3, 0.2, 5, 0.3], group="g", level=list("aabbcc"),
                           term=["(Intercept)", "x"] * 3)
    fig = plots.plot_random_effects(table)
    assert [ax.get_title() for ax in fig.axes] == ["(Intercept)", "x"]
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["c", "a", "b"]
    assert saved(fig, tmp_path / "random_effects.png") > 3_000


@pytest.mark.parametrize("with_cor", [True, False])
def test_variance_components_panels(tmp_path, with_cor):
    terms = ["sd__(Intercept)", "sd__Days", "cor__(Intercept).Days", "var__(Intercept)"]
    table = interval_table([20, 5, 0.1, 400], group="Subject", term=terms)
    if not with_cor:
        table = table[table.term != "cor__(Intercept).Days"]
    fig = plots.plot_variance_components(table)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == (["standard deviation", "correlation"] if with_cor
                      else ["standard deviation"])
    assert saved(fig, tmp_path / "variance.png") > 3_000


def test_kde_grid_is_a_density_close_to_the_normal():
    rng = np.random.default_rng(1)
    values = rng.normal(size=5000)
    grid = np.linspace(-5, 5, 256)
    density = plots.kde_grid(values, grid, plots.silverman_bandwidth(values))
    assert np.trapezoid(density, grid) == pytest.approx(1, abs=0.01)
    normal = np.exp(-grid**2 / 2) / np.sqrt(2 * np.pi)
    assert np.max(np.abs(density - normal)) < 0.03


def test_ppc_draws_density_lines_or_bars_for_a_discrete_response():
    rng = np.random.default_rng(2)
    continuous = plots.plot_ppc(rng.normal(size=200), rng.normal(size=(100, 200)),
                                n_replicates=50)
    assert len(continuous.axes[0].lines) == 51  # 50 replicates and the observed
    counts = plots.plot_ppc(rng.poisson(3, 200).astype(float), rng.poisson(3, (100, 200)))
    ax = counts.axes[0]
    assert len(ax.patches) >= 8 and not [ln for ln in ax.lines if len(ln.get_xdata()) > 50]
    assert plots.is_discrete(np.array([0.0, 1, 1, 0])) and not plots.is_discrete(
        np.array([0.5, 1.0]))


def test_conditional_effects_draw_a_band_per_level():
    x = np.tile(np.arange(5.0), 2)
    table = pd.DataFrame({"week": x, "arm": np.repeat(["placebo", "active"], 5),
                          "estimate": x, "conf_low": x - 1, "conf_high": x + 1})
    fig = plots.plot_conditional_effects(table, x="week", by="arm", response="sbp")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "arm = placebo, 95%", "arm = active, 95%"]
    assert len(ax.collections) == 2


def test_figures_are_pyplot_figures_that_a_notebook_shows_once(monkeypatch):
    table = interval_table([0.2], group=["batch"], at="", numerator=["var(batch)"])
    fig = plots.plot_icc(table)
    assert fig in map(plt.figure, plt.get_fignums())  # so plt.show() and inline backends see it
    shown = []
    monkeypatch.setattr("IPython.display.display", shown.append)
    monkeypatch.setattr(plt, "get_backend", lambda: "module://matplotlib_inline.backend_inline")
    fig._ipython_display_()  # IPython's call for a cell's value
    # one PNG, and closed in pyplot so that the inline backend does not show a second copy
    assert [image.data[:4] for image in shown] == [b"\x89PNG"]
    assert not plt.get_fignums()
