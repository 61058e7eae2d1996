"""No, complete and partial pooling on small designs with hand-made posteriors."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from lmm_bayes import parse_formula
from lmm_bayes.design import build_design
from lmm_bayes.summaries import shrinkage
from lmm_bayes.summaries.shrinkage import no_pooling

# symmetric offsets with mean exactly 0: draws = mean + OFFSET keep the posterior mean
OFFSET = (np.arange(1002.0) - 500.5).reshape(2, 501) / 1000


def design_of(formula: str, frame: pd.DataFrame):
    return build_design(parse_formula(formula), frame)


def effects(design, group: str, means: np.ndarray) -> tuple:
    """``b_<group>`` draws centred on ``means`` (levels × terms), as a Dataset entry."""
    grp = design.group(group)
    draws = means[None, None] + OFFSET[..., None, None]
    return ((f"{group}__level", grp.levels), (f"{group}__term", grp.terms),
            (("chain", "draw", f"{group}__level", f"{group}__term"), draws))


def posterior(design, beta, b: dict) -> xr.Dataset:
    """Constant fixed effects ``beta``; ``b`` maps a factor to the means of its effects."""
    coords = {"fixed": list(design.fixed_names)}
    beta = np.broadcast_to(beta, OFFSET.shape + (len(beta),))
    data = {"beta": (("chain", "draw", "fixed"), beta)}
    for group, means in b.items():
        (level_dim, levels), (term_dim, terms), var = effects(design, group, np.asarray(means))
        coords.update({level_dim: list(levels), term_dim: list(terms)})
        data[f"b_{group}"] = var
    return xr.Dataset(data, coords=coords)


def unbalanced() -> pd.DataFrame:
    """Level A: one row, y = 110; B: 16 rows, mean 105; C: 4 rows, mean 90."""
    y = [110.0] + [105 + d for d in [-3, 3] * 8] + [90 + d for d in [-1, 1, -2, 2]]
    return pd.DataFrame({"y": y, "g": ["A"] + ["B"] * 16 + ["C"] * 4})


def test_fewer_observations_shrink_more():
    """Random intercept, β0 = 100, τ = 3, σ = 4. With known variances the posterior mean of a
    level's intercept is 100 + (1 − B)(ȳ − 100), B = σ²/(nτ² + σ²) (Gelman & Hill 2007,
    §12.2): A (n = 1): B = 16/25, partial 100 + 0.36·10 = 103.6; B (n = 16): B = 16/160 = 0.1,
    partial 104.5; C (n = 4): B = 16/52, partial 100 − (36/52)·10. The shrinkage fraction
    recovers B exactly, and the one-row level shrinks most."""
    design = design_of("y ~ 1 + (1 | g)", unbalanced())
    B = 16 / (9 * np.array([1, 16, 4]) + 16)
    partial = 100 + (1 - B) * (np.array([110, 105, 90]) - 100)
    post = posterior(design, [100.0], {"g": (partial - 100)[:, None]})
    table = shrinkage(post, design, "g")
    assert table.index.tolist() == ["A", "B", "C"] and table.n.tolist() == [1, 16, 4]
    assert table.no_pooling.tolist() == pytest.approx([110, 105, 90])
    assert table.complete_pooling.tolist() == pytest.approx([100] * 3)
    assert table.partial_pooling.tolist() == pytest.approx(partial)
    assert table.shrinkage.tolist() == pytest.approx(B)
    assert table.shrinkage.idxmax() == "A" and table.shrinkage.idxmin() == "B"
    # the draws are partial + OFFSET, OFFSET spanning ±0.5005: a 90 % interval 0.9 × 1.001 wide
    narrow = shrinkage(post, design, "g", prob=0.9)
    assert (narrow.conf_high - narrow.conf_low).tolist() == pytest.approx([0.9 * 1.001] * 3)


def test_no_pooling_removes_the_fixed_part_of_other_terms():
    """y = 2x + c_g exactly with β̂ = (β0, 2): the partial residual y − β0 − 2x + β0 = c_g, so
    each level's own intercept is c_g (here 5, 7, 11), whatever β0 is."""
    x = np.tile([0.0, 1.0, 2.0], 3)
    c = np.repeat([5.0, 7.0, 11.0], 3)
    frame = pd.DataFrame({"y": 2 * x + c, "x": x, "g": np.repeat(["a", "b", "c"], 3)})
    design = design_of("y ~ x + (1 | g)", frame)
    post = posterior(design, [50.0, 2.0], {"g": np.zeros((3, 1))})
    coef, reasons = no_pooling(post, design, "g")
    assert coef[:, 0].tolist() == pytest.approx([5, 7, 11]) and reasons == [""] * 3


def test_no_pooling_subtracts_other_factors_estimated_effects():
    """Crossed factors g and h, y = 10 + u_g + v_h with b̂_h = v exactly: g's own intercepts
    are 10 + u = (9, 12), the h effects (±3) having been taken out."""
    g = np.array(["p", "p", "q", "q"])
    h = np.array(["r", "s", "r", "s"])
    u = {"p": -1.0, "q": 2.0}
    v = {"r": 3.0, "s": -3.0}
    frame = pd.DataFrame({"y": [10 + u[a] + v[b] for a, b in zip(g, h)], "g": g, "h": h})
    design = design_of("y ~ 1 + (1 | g) + (1 | h)", frame)
    post = posterior(design, [10.0], {"g": np.zeros((2, 1)), "h": np.array([[3.0], [-3.0]])})
    coef, _ = no_pooling(post, design, "g")
    assert coef[:, 0].tolist() == pytest.approx([9, 12])


def slopes_frame() -> pd.DataFrame:
    """Levels a, b, c on exact lines y = α + γt; d has one row; e has t constant."""
    rows = [(lv, t, a + s * t) for lv, a, s in [("a", 1, 2), ("b", 3, -1), ("c", 0, 5)]
            for t in (0.0, 1.0, 2.0)]
    rows += [("d", 1.0, 4.0), ("e", 2.0, 1.0), ("e", 2.0, 3.0)]
    return pd.DataFrame(rows, columns=["g", "t", "y"])


def test_no_pooling_of_slopes_and_levels_that_cannot_have_one():
    design = design_of("y ~ t + (t | g)", slopes_frame())
    post = posterior(design, [0.0, 0.0], {"g": np.zeros((5, 2))})
    table = shrinkage(post, design, "g", term="t")
    assert table.no_pooling.iloc[:3].tolist() == pytest.approx([2, -1, 5])
    assert table.no_pooling.iloc[3:].isna().all()
    assert table.reason.tolist() == ["", "", "", "1 observation(s) for 2 coefficients",
                                     "t constant in this level"]
    assert table.shrinkage.iloc[3:].isna().all()


def test_unknown_term_is_named():
    design = design_of("y ~ t + (t | g)", slopes_frame())
    post = posterior(design, [0.0, 0.0], {"g": np.zeros((5, 2))})
    message = r"'x' is not a varying term of 'g'.*\['\(Intercept\)', 't'\]"
    with pytest.raises(ValueError, match=message):
        shrinkage(post, design, "g", term="x")
