"""The report's own logic on hand-made tables and stand-in fits (no sampling): which levels
are shown and the caption saying so, flagged posterior predictive p-values, decimals per
table column and the footer."""

from datetime import UTC, datetime
from types import SimpleNamespace

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from lmm_bayes import report
from lmm_bayes.display import tidy
from lmm_bayes.version import __version__

matplotlib.use("Agg")


@pytest.fixture
def trial_levels() -> pd.DataFrame:
    """192 patients whose first 96 labels are all placebo (the old report's first 12 by
    label), estimates and row counts varying."""
    rng = np.random.default_rng(0)
    labels = [f"P{k:03d}" for k in range(192)]
    return pd.DataFrame({"partial_pooling": rng.normal(size=192),
                         "n": rng.integers(1, 6, size=192),
                         "arm": ["placebo"] * 96 + ["active"] * 96},
                        index=pd.Index(labels, name="patient"))


def test_levels_shown_cover_both_arms_and_the_extremes(trial_levels):
    levels, caption = report.select_levels(trial_levels, estimate="partial_pooling",
                                           strata=["arm"], n_max=12, what="estimated week")
    shown = trial_levels.loc[levels]
    assert len(levels) == len(set(levels)) == 12
    assert shown["arm"].value_counts().to_dict() == {"placebo": 6, "active": 6}
    for _, part in trial_levels.groupby("arm"):
        for column in ("partial_pooling", "n"):
            assert part[column].idxmax() in levels or part[column].max() in set(
                part.loc[part.index.isin(levels), column])
            assert part[column].idxmin() in levels or part[column].min() in set(
                part.loc[part.index.isin(levels), column])
    assert caption == ("12 of 192 levels shown: in each arm (active, placebo) the largest and "
                       "smallest estimated week, the most and fewest rows, then levels evenly "
                       "spaced by estimated week")


def test_levels_are_listed_by_stratum_then_by_decreasing_estimate(trial_levels):
    levels, _ = report.select_levels(trial_levels, estimate="partial_pooling",
                                     strata=["arm"], n_max=12)
    shown = trial_levels.loc[levels]
    assert list(shown["arm"]) == ["active"] * 6 + ["placebo"] * 6
    for _, part in shown.groupby("arm"):
        assert part["partial_pooling"].is_monotonic_decreasing


def test_all_levels_or_no_row_rule_when_rows_are_equal(trial_levels):
    few = trial_levels.iloc[:5]
    assert report.select_levels(few, estimate="partial_pooling", n_max=12) == (
        list(few.index), "all 5 levels shown")
    equal = trial_levels.assign(n=10)
    levels, caption = report.select_levels(equal, estimate="partial_pooling", n_max=7)
    assert len(levels) == 7 and "rows" not in caption
    assert {equal.partial_pooling.idxmax(), equal.partial_pooling.idxmin()} <= set(levels)


def test_extreme_pvalues_are_flagged_in_the_ppc_section():
    table = pd.DataFrame({"statistic": ["mean", "sd", "min", "max"],
                          "observed": [147.3, 12.4, 116.3, 182.5],
                          "replicated": [147.3, 12.4, 111.9, 184.9],
                          "conf_low": [146.7, 11.8, 105.7, 178.8],
                          "conf_high": [147.8, 12.9, 116.8, 191.7],
                          "p_value": [0.49, 0.5, 0.026, 0.97]})
    assert report.flag_pvalues(table).tolist() == [False, False, True, True]
    # the maximum of 0/1 data: every replicate ties with the observed 1, p = 1 by ties only
    tied = pd.DataFrame({"observed": [1.0], "conf_low": [1.0], "conf_high": [1.0],
                         "p_value": [1.0]})
    assert report.flag_pvalues(tied).tolist() == [False]
    fit = SimpleNamespace(ppc_pvalues=lambda: table, plot_ppc=lambda: Figure())
    page = report.ppc_section(fit)
    assert '<strong class="flag">0.026 ⚑</strong>' in page
    assert '<strong class="flag">0.970 ⚑</strong>' in page
    assert "<td>0.490</td>" in page and "(2 flagged)" in page


def test_each_column_has_one_number_of_decimals():
    table = pd.DataFrame({"term": ["a", "b", "c"], "estimate": [13.9, 7.101, 250.0],
                          "conf_low": [12.0, 0.5, 240.0], "conf_high": [15.0, 9.0, 260.0],
                          "std_error": [0.0123, 1.5, 2.0], "ess_bulk": [401.6, 1200.2, 99.0],
                          "r_hat": [1.0, 1.004, np.nan], "p_value": [0.5, 0.026, 1.0]})
    shown = tidy(table)
    # estimate and its interval share the decimals that give 0.5 four significant digits
    assert shown["estimate"].tolist() == ["13.900", "7.101", "250.000"]
    assert shown["conf_low"].tolist() == ["12.000", "0.500", "240.000"]
    assert shown["std_error"].tolist() == ["0.01230", "1.50000", "2.00000"]
    assert shown["ess_bulk"].tolist() == ["402", "1200", "99"]
    assert shown["r_hat"].tolist() == ["1.000", "1.004", "NaN"]
    assert shown["p_value"].tolist() == ["0.500", "0.026", "1.000"]
    assert shown["term"].tolist() == ["a", "b", "c"]


def test_footer_states_version_date_and_times():
    fit = SimpleNamespace(sampling_time=12.34,
                          config=SimpleNamespace(sampler="nutpie", chains=2, draws=300))
    when = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    text = report.footer(fit, 1.52, when)
    assert text == (f"<footer>lmm_bayes {__version__} · report built 2026-01-02 03:04 UTC in "
                    "1.5 s · sampling 12.3 s (nutpie, 2 chains × 300 draws)</footer>\n")
    fit.sampling_time = None
    assert "sampling not recorded" in report.footer(fit, 1.0, when)


def test_conditional_effects_hold_other_covariates_at_typical_values():
    """A numeric column coded as a factor is held at its most common level: its mean (2.25)
    would be a level the model never saw."""
    data = pd.DataFrame({"age": [40.0, 50, 60, 70], "dose": [1, 2, 3, 3],
                         "arm": ["A", "B", "B", "A"]})
    assert report._typical_row(data, {"dose": ("1", "2", "3"), "arm": ("A", "B")}) == {
        "age": 55.0, "dose": 3, "arm": "A"}
