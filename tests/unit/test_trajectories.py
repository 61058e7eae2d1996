"""Individual trajectories on small designs with hand-made posteriors."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from lmm_bayes import DesignError, parse_formula
from lmm_bayes.design import build_design, evaluate_covariates
from lmm_bayes.summaries import trajectories
from lmm_bayes.summaries.trajectories import default_grid

GRID = np.arange(1002.0).reshape(2, 501)  # draws 0..1001: mean 500.5, 90 % from 50.05 to 950.95


def frame() -> pd.DataFrame:
    """Three subjects A, B, C seen at t = 0, 2, 4, each with a group label (A, B in arm x)."""
    return pd.DataFrame({"y": np.arange(9.0) ** 1.5, "t": np.tile([0.0, 2.0, 4.0], 3),
                         "s": np.repeat(["A", "B", "C"], 3), "arm": np.repeat(["x", "x", "z"], 3)})


def posterior(design, beta, b_means) -> xr.Dataset:
    """Constant beta; b_<s> constant at ``b_means`` except A's intercept, drawn as GRID/100."""
    grp = design.group("s")
    b = np.broadcast_to(np.asarray(b_means, float), GRID.shape + np.shape(b_means)).copy()
    b[..., 0, 0] = GRID / 100
    return xr.Dataset({
        "beta": (("chain", "draw", "fixed"), np.broadcast_to(beta, GRID.shape + (len(beta),))),
        "b_s": (("chain", "draw", "s__level", "s__term"), b),
    }, coords={"fixed": list(design.fixed_names), "s__level": list(grp.levels),
               "s__term": list(grp.terms)})


def test_individual_and_population_lines():
    """β = (10, 2); b_B = (−1, 0.5), b_C = (3, −1), b_A = (GRID/100, 0), mean (5.005, 0).
    B at t: 9 + 2.5t; C: 13 + t; A: 15.005 + 2t, with A's 90 % interval at t = 0 from
    10 + 0.5005 to 10 + 9.5095; population 10 + 2t for everyone."""
    design = build_design(parse_formula("y ~ t + (t | s)"), frame())
    post = posterior(design, [10.0, 2.0], [[0, 0], [-1, 0.5], [3, -1]])
    table = trajectories(post, design, frame(), "s", "t", grid=[0, 1, 5], prob=0.9)
    assert list(table.columns) == ["level", "t", "curve", "estimate", "std_error", "conf_low",
                                   "conf_high"]
    own = table[table.curve == "individual"].set_index(["level", "t"]).estimate
    assert own.loc["B"].tolist() == pytest.approx([9, 11.5, 21.5])
    assert own.loc["C"].tolist() == pytest.approx([13, 14, 18])
    assert own.loc["A"].tolist() == pytest.approx([15.005, 17.005, 25.005])
    first = table.iloc[0]
    assert (first.level, first.t, first.curve) == ("A", 0.0, "individual")
    assert (first.conf_low, first.conf_high) == pytest.approx((10.5005, 19.5095))
    pop = table[table.curve == "population"]
    assert pop.estimate.tolist() == pytest.approx([10, 12, 20] * 3)
    assert pop.std_error.tolist() == pytest.approx([0] * 9)


def test_long_grids_are_computed_in_blocks():
    """600 grid points for B (more than one block of rows): still 9 + 2.5t everywhere."""
    design = build_design(parse_formula("y ~ t + (t | s)"), frame())
    post = posterior(design, [10.0, 2.0], [[0, 0], [-1, 0.5], [3, -1]])
    grid = np.linspace(0, 5, 600)
    table = trajectories(post, design, frame(), "s", "t", grid=grid, levels=["B"])
    assert table.estimate.iloc[:600].tolist() == pytest.approx((9 + 2.5 * grid).tolist())


def test_levels_grid_and_other_covariates():
    """``y ~ t * arm + (1 | s)``: C is in arm z, so its curve uses the arm-z columns.
    β = (1, 2, 3, 4) for (Intercept), t, armz, t:armz; b_C = 0.5: C at t = 1 is
    1 + 2 + 3 + 4 + 0.5 = 10.5. The default grid is the observed times 0, 2, 4."""
    design = build_design(parse_formula("y ~ t * arm + (1 | s)"), frame())
    post = posterior(design, [1.0, 2.0, 3.0, 4.0], [[0.0], [0.0], [0.5]])
    table = trajectories(post, design, frame(), "s", "t", levels=["C"])
    assert table.level.unique().tolist() == ["C"] and table.t.tolist() == [0, 2, 4] * 2
    one = trajectories(post, design, frame(), "s", "t", grid=[1.0], levels=["C"])
    assert one.estimate.tolist() == pytest.approx([10.5, 10.0])


def test_nested_factor_effects_enter_the_individual_curve():
    """``(1 | arm/s)``: a subject's curve carries its arm's effect too (b_arm = 7 for x),
    but the population curve does not."""
    design = build_design(parse_formula("y ~ t + (1 | arm/s)"), frame())
    dims = ("chain", "draw", "{}__level", "{}__term")
    post = xr.Dataset({
        "beta": (("chain", "draw", "fixed"), np.broadcast_to([1.0, 0.0], (2, 3, 2))),
        "b_arm": (tuple(d.format("arm") for d in dims),
                  np.broadcast_to([[7.0], [0.0]], (2, 3, 2, 1))),
        "b_arm:s": (tuple(d.format("arm:s") for d in dims), np.ones((2, 3, 3, 1))),
    }, coords={"fixed": ["(Intercept)", "t"], "arm__level": ["x", "z"],
               "arm__term": ["(Intercept)"], "arm:s__level": ["x:A", "x:B", "z:C"],
               "arm:s__term": ["(Intercept)"]})
    table = trajectories(post, design, frame(), "arm:s", "t", grid=[0.0])
    assert table.estimate.tolist() == pytest.approx([9, 1, 9, 1, 2, 1])


def test_default_grid():
    assert default_grid(np.array([3.0, 1, 1, 2])).tolist() == [1, 2, 3]
    dense = default_grid(np.linspace(0, 10, 101))
    assert len(dense) == 30 and (dense[0], dense[-1]) == (0, 10)


def test_errors_name_the_problem():
    design = build_design(parse_formula("y ~ t + (1 | s)"), frame())
    post = posterior(design, [1.0, 2.0], [[0.0], [0.0], [0.0]])
    with pytest.raises(DesignError, match="levels \\['D'\\] are not levels of 's'"):
        trajectories(post, design, frame(), "s", "t", levels=["D"])
    with pytest.raises(DesignError, match="time 'y' is not used by the formula"):
        trajectories(post, design, frame(), "s", "y")
    with pytest.raises(DesignError, match="time 'arm' must be a numeric column"):
        trajectories(post, design, frame(), "s", "arm")


def test_evaluate_covariates_reuses_the_fitted_coding():
    """New rows are coded with the fitting data's levels and centring constant: one row in
    arm z at t = 4 gives (1, 4 − mean(t) = 2, armz = 1), even though z is its only arm."""
    design = build_design(parse_formula("y ~ center(t) + arm + (t | s)"), frame())
    X, Z = evaluate_covariates(design, pd.DataFrame({"t": [4.0], "arm": ["z"], "s": ["C"]}))
    assert X.tolist() == [[1.0, 2.0, 1.0]] and Z["s"].tolist() == [[1.0, 4.0]]
