"""Variance components, ICC and re-centring on hand-made posteriors with known answers."""

import numpy as np
import pytest
import xarray as xr

from lmm_bayes.errors import DesignError
from lmm_bayes.summaries import icc, nesting, recenter, variance_components
from lmm_bayes.summaries.recenter import shift_matrix

SHAPE = (2, 3)  # chains × draws: enough for the sample dimensions, constant draws


def const(value, *trailing) -> np.ndarray:
    return np.broadcast_to(np.asarray(value, dtype=float), SHAPE + trailing).copy()


def posterior(groups: dict, sigma=4.0) -> xr.Dataset:
    """Constant draws: ``groups`` maps a factor to (terms, sds, correlation or None)."""
    data, coords = {"sigma": (("chain", "draw"), const(sigma))}, {}
    for g, (terms, sds, rho) in groups.items():
        dim = f"{g}__term"
        coords[dim] = list(terms)
        data[f"sd_{g}"] = (("chain", "draw", dim), const(sds, len(terms)))
        if rho is not None:
            coords[f"{g}__pair"] = [".".join(terms)]
            data[f"corr_{g}"] = (("chain", "draw", f"{g}__pair"), const([rho], 1))
    return xr.Dataset(data, coords=coords)


SLEEP = {"Subject": (("(Intercept)", "Days"), [3.0, 1.0], 0.5)}
TERMS = {"Subject": ("(Intercept)", "Days")}


def test_variance_components_of_a_correlated_block():
    """τ0 = 3, τ1 = 1, ρ = 0.5, σ = 4: variances 9 and 1, covariance ρτ0τ1 = 1.5, σ² = 16."""
    table = variance_components(posterior(SLEEP), TERMS).set_index(["group", "term"])
    assert list(table.index) == [
        ("Subject", "sd__(Intercept)"), ("Subject", "sd__Days"),
        ("Subject", "cor__(Intercept).Days"), ("Subject", "var__(Intercept)"),
        ("Subject", "var__Days"), ("Subject", "cov__(Intercept).Days"),
        ("Residual", "sd__Observation"), ("Residual", "var__Observation")]
    assert table.estimate.tolist() == pytest.approx([3, 1, 0.5, 9, 1, 1.5, 4, 16])
    assert table.std_error.tolist() == pytest.approx([0] * 8)


def test_variance_is_summarised_draw_by_draw():
    """sd draws 1, 2, ..., 1002: the mean variance is the mean of k², (1002+1)(2·1002+1)/6,
    not the square of the mean SD (501.5²)."""
    sd = np.arange(1.0, 1003).reshape(2, 501, 1)
    post = xr.Dataset({"sd_g": (("chain", "draw", "g__term"), sd),
                       "sigma": (("chain", "draw"), np.ones((2, 501)))},
                      coords={"g__term": ["(Intercept)"]})
    table = variance_components(post, {"g": ("(Intercept)",)}).set_index("term")
    assert table.loc["var__(Intercept)", "estimate"] == pytest.approx(1003 * 2005 / 6)
    assert table.loc["sd__(Intercept)", "estimate"] == pytest.approx(501.5)


def test_independent_effects_have_no_correlation_rows():
    post = posterior({"g": (("(Intercept)", "x"), [3.0, 2.0], None)})
    table = variance_components(post, {"g": ("(Intercept)", "x")})
    assert list(table.term) == ["sd__(Intercept)", "sd__x", "var__(Intercept)", "var__x",
                                "sd__Observation", "var__Observation"]


def test_icc_of_a_random_intercept():
    """τ = 3, σ = 4: 9 / (9 + 16) = 9/25."""
    post = posterior({"Batch": (("(Intercept)",), [3.0], None)})
    table = icc(post, {"Batch": ("(Intercept)",)})
    assert table.estimate.tolist() == pytest.approx([9 / 25])
    assert table.numerator.tolist() == ["var(Batch)"] and table["at"].tolist() == [""]


def test_icc_of_crossed_factors_shares_the_total():
    """τ_plate = 1, τ_sample = 2, σ = 2: total 1 + 4 + 4 = 9; ICCs 1/9 and 4/9."""
    post = posterior({"plate": (("(Intercept)",), [1.0], None),
                      "sample": (("(Intercept)",), [2.0], None)}, sigma=2.0)
    table = icc(post, {"plate": ("(Intercept)",), "sample": ("(Intercept)",)})
    assert table.estimate.tolist() == pytest.approx([1 / 9, 4 / 9])
    assert icc(post, {"plate": ("(Intercept)",), "sample": ("(Intercept)",)},
               group="sample").estimate.tolist() == pytest.approx([4 / 9])


def test_icc_with_a_random_slope_depends_on_the_covariate():
    """τ0 = 3, τ1 = 1, ρ = 0.5, σ = 4. At Days = 3 the subject variance is
    τ0² + 2·3·ρτ0τ1 + 9τ1² = 9 + 9 + 9 = 27, so ICC = 27 / (27 + 16) = 27/43.
    At the default Days = 0 it is τ0² / (τ0² + σ²) = 9/25."""
    table = icc(posterior(SLEEP), TERMS, at={"Days": 3})
    assert table.estimate.tolist() == pytest.approx([27 / 43])
    assert table["at"].tolist() == ["Days=3"]
    default = icc(posterior(SLEEP), TERMS)
    assert default.estimate.tolist() == pytest.approx([9 / 25])
    assert default["at"].tolist() == ["Days=0"]
    with pytest.raises(DesignError, match=r"\['Dayz'\] match no random slope"):
        icc(posterior(SLEEP), TERMS, at={"Dayz": 3})


@pytest.mark.parametrize("value", [np.nan, np.inf, "3", None])
def test_icc_at_must_be_a_finite_number(value):
    """NaN used to give a row of NaN; the error names the covariate."""
    with pytest.raises(DesignError, match=r"at\['Days'\] must be a finite number, got"):
        icc(posterior(SLEEP), TERMS, at={"Days": value})


def test_nested_icc_gives_within_batch_and_within_cask_correlations():
    """batch τ = 1, cask-in-batch τ = 2, σ = 2: total 9. Two tests from one batch but
    different casks correlate 1/9; two from one cask (so one batch) (1 + 4)/9 = 5/9."""
    post = posterior({"batch": (("(Intercept)",), [1.0], None),
                      "batch:cask": (("(Intercept)",), [2.0], None)}, sigma=2.0)
    groups = {"batch": ("(Intercept)",), "batch:cask": ("(Intercept)",)}
    table = icc(post, groups, nested_in={"batch:cask": ("batch",), "batch": ()})
    assert table.estimate.tolist() == pytest.approx([1 / 9, 5 / 9])
    assert table.numerator.tolist() == ["var(batch)", "var(batch) + var(batch:cask)"]


def test_nesting_detected_from_level_indices():
    batch = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    cask = np.array([0, 0, 1, 1, 2, 2, 3, 3])   # each cask in one batch
    crossed = np.array([0, 1, 0, 1, 0, 1, 0, 1])  # every level with both batches
    assert nesting({"batch": batch, "cask": cask, "sample": crossed}) == {
        "batch": (), "cask": ("batch",), "sample": ()}


def test_recenter_moves_the_intercept_variance_and_correlation():
    """τ0 = 3, τ1 = 1, ρ = 0.5 and time measured from c = 3: var(b0') = τ0² + 2cρτ0τ1 +
    c²τ1² = 27, cov(b0', b1) = ρτ0τ1 + cτ1² = 4.5, cor = 4.5/√27; slope and σ unchanged."""
    table = recenter(posterior(SLEEP), TERMS, "Days", 3).set_index("term")
    assert table.loc["var__(Intercept)", "estimate"] == pytest.approx(27)
    assert table.loc["sd__(Intercept)", "estimate"] == pytest.approx(np.sqrt(27))
    assert table.loc["cov__(Intercept).Days", "estimate"] == pytest.approx(4.5)
    assert table.loc["cor__(Intercept).Days", "estimate"] == pytest.approx(4.5 / np.sqrt(27))
    assert table.loc["var__Days", "estimate"] == pytest.approx(1)
    assert table.loc["sd__Observation", "estimate"] == pytest.approx(4)


def test_recenter_can_flip_the_sign_of_the_correlation():
    """c = −3: var = 9 − 9 + 9 = 9, cov = 1.5 − 3 = −1.5, cor = −1.5/(3·1) = −0.5."""
    table = recenter(posterior(SLEEP), TERMS, "Days", -3).set_index("term")
    assert table.loc["cor__(Intercept).Days", "estimate"] == pytest.approx(-0.5)
    same = recenter(posterior(SLEEP), TERMS, "Days", 0)
    assert same.estimate.tolist() == pytest.approx(
        variance_components(posterior(SLEEP), TERMS).estimate.tolist())


def test_recenter_correlates_independent_effects():
    """(1 + x || g) with τ0 = 3, τ1 = 2, shifted by c = 2: cov = cτ1² = 8, var = 9 + 16 = 25,
    cor = 8 / (5·2) = 0.8, and the correlation rows appear."""
    post = posterior({"g": (("(Intercept)", "x"), [3.0, 2.0], None)})
    table = recenter(post, {"g": ("(Intercept)", "x")}, "x", 2).set_index("term")
    assert table.loc["var__(Intercept)", "estimate"] == pytest.approx(25)
    assert table.loc["cor__(Intercept).x", "estimate"] == pytest.approx(0.8)


def test_shift_matrix_with_an_interaction():
    """Terms 1, t, a, t:a and t → t − 5: b1 gets 5·b_t added, b_a gets 5·b_{t:a} added."""
    A = shift_matrix(["(Intercept)", "t", "a", "t:a"], "t", 5.0)
    expected = np.eye(4)
    expected[0, 1] = expected[2, 3] = 5.0
    np.testing.assert_array_equal(A, expected)


@pytest.mark.parametrize(("terms", "message"), [
    (["(Intercept)", "I(Days^2)"], "terms linear in 'Days'"),
    (["Days"], "into '\\(Intercept\\)', which does not vary"),
])
def test_shift_matrix_refuses_what_it_cannot_shift(terms, message):
    with pytest.raises(DesignError, match=message):
        shift_matrix(terms, "Days", 1.0, "Subject")


def test_recenter_of_a_variable_no_effect_varies_with():
    with pytest.raises(DesignError, match="no random effect varies with 'Dayz'"):
        recenter(posterior(SLEEP), TERMS, "Dayz", 1)
    with pytest.raises(DesignError, match="at must be a finite number, got nan"):
        recenter(posterior(SLEEP), TERMS, "Days", np.nan)
