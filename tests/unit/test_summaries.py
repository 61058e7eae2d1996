"""Summaries on hand-made posteriors whose answers are known exactly."""

import numpy as np
import pytest
import xarray as xr

from lmm_bayes.errors import DesignError
from lmm_bayes.ppc import ppc_pvalues
from lmm_bayes.summaries import random_effects_table, tidy_summary
from lmm_bayes.summaries.draws import interval_columns

TERMS = ["(Intercept)", "Days"]
# 2 chains × 501 draws of 0, 1, ..., 1001 (interleaved): mean 500.5, quantiles on a grid
GRID = np.arange(1002.0).reshape(2, 501)


def posterior() -> xr.Dataset:
    """beta = (GRID, 2·GRID), sd = (GRID+1, 7), corr off-diagonal = 0.25, sigma = 3."""
    shape = GRID.shape
    corr = np.full(shape + (1,), 0.25)
    b = np.zeros(shape + (3, 2))
    b[..., 1, 1] = GRID  # level "B", term "Days"
    coords = {"fixed": TERMS, "Subject__term": TERMS, "Subject__pair": [".".join(TERMS)],
              "Subject__level": ["A", "B", "C"]}
    return xr.Dataset({
        "beta": (("chain", "draw", "fixed"), np.stack([GRID, 2 * GRID], axis=-1)),
        "sd_Subject": (("chain", "draw", "Subject__term"), np.stack([GRID + 1, np.full(shape, 7.0)], -1)),
        "corr_Subject": (("chain", "draw", "Subject__pair"), corr),
        "b_Subject": (("chain", "draw", "Subject__level", "Subject__term"), b),
        "sigma": (("chain", "draw"), np.full(shape, 3.0)),
    }, coords=coords)


def test_interval_of_an_evenly_spaced_grid():
    stats = interval_columns(GRID, 0.9)
    # numpy's linear quantile of 0..1001 at 0.05 is 0.05 × 1001 = 50.05
    assert stats["estimate"] == pytest.approx(500.5)
    assert stats["conf_low"] == pytest.approx(50.05)
    assert stats["conf_high"] == pytest.approx(950.95)
    assert stats["std_error"] == pytest.approx(np.sqrt((1002**2 - 1) / 12 * 1002 / 1001))


def test_tidy_layout_terms_and_values():
    table = tidy_summary(posterior(), {"Subject": tuple(TERMS)}, prob=0.9)
    assert list(table.columns) == ["effect", "group", "term", "estimate", "std_error",
                                   "conf_low", "conf_high", "ess_bulk", "ess_tail", "r_hat"]
    assert list(zip(table.effect, table.group, table.term)) == [
        ("fixed", "", "(Intercept)"), ("fixed", "", "Days"),
        ("ran_pars", "Subject", "sd__(Intercept)"), ("ran_pars", "Subject", "sd__Days"),
        ("ran_pars", "Subject", "cor__(Intercept).Days"),
        ("ran_pars", "Residual", "sd__Observation"),
    ]
    assert list(table.estimate) == pytest.approx([500.5, 1001.0, 501.5, 7.0, 0.25, 3.0])
    assert table.conf_high[1] == pytest.approx(2 * 950.95)


def test_random_effects_rows_by_level_and_term():
    table = random_effects_table(posterior(), "Subject", prob=0.9)
    assert list(table.level) == ["A", "A", "B", "B", "C", "C"]
    assert list(table.term) == TERMS * 3
    assert table.estimate.tolist() == pytest.approx([0, 0, 0, 500.5, 0, 0])
    assert table.conf_low[3] == pytest.approx(50.05)


@pytest.mark.parametrize("prob, message", [
    (1.5, r"prob must lie in \(0, 1\), got 1.5"), (1.0, "prob must lie in"),
    (0, "prob must lie in"), (-0.1, "prob must lie in"),
    (np.nan, "prob must be a finite number, got nan"),
    ("0.9", "prob must be a finite number, got '0.9'"),
])
def test_bad_prob_raises(prob, message):
    """Every summary's interval goes through interval_columns (tidy, icc, variance,
    shrinkage, trajectories, predictions); ppc_pvalues checks the same way."""
    with pytest.raises(DesignError, match=message):
        interval_columns(GRID, prob)
    with pytest.raises(DesignError, match=message):
        tidy_summary(posterior(), {"Subject": tuple(TERMS)}, prob)
    with pytest.raises(DesignError, match=message):
        ppc_pvalues(np.zeros(3), np.zeros((4, 3)), prob=prob)
