"""Summary rows of residual structures, sigma models and per-arm covariances, on hand-made
posteriors whose answers are worked out by hand."""

import numpy as np
import pytest
import xarray as xr

from lmm_bayes.errors import DesignError
from lmm_bayes.summaries import tidy_summary, variance_components, variance_contrast

SHAPE = (2, 500)
GRID = np.linspace(0.0, 1.0, 1000).reshape(SHAPE)  # draws evenly spread over [0, 1]


def posterior() -> xr.Dataset:
    """β = 10; log σ = GRID + 1·armB; φ = GRID; sd of subject:armA = (2, 1 + GRID), of
    subject:armB = (2, 3 + 3·GRID), uncorrelated."""
    terms = ["(Intercept)", "time"]
    data = {
        "beta": (("chain", "draw", "fixed"), np.full(SHAPE + (1,), 10.0)),
        "sigma_beta": (("chain", "draw", "sigma_fixed"), np.stack([GRID, np.ones(SHAPE)], -1)),
        "phi": (("chain", "draw"), GRID),
    }
    coords = {"fixed": ["(Intercept)"], "sigma_fixed": ["(Intercept)", "armB"]}
    for arm, slope in (("A", 1 + GRID), ("B", 3 + 3 * GRID)):
        g = f"subject:arm{arm}"
        data[f"sd_{g}"] = ((("chain", "draw", f"{g}__term")),
                           np.stack([np.full(SHAPE, 2.0), slope], -1))
        data[f"corr_{g}"] = (("chain", "draw", f"{g}__pair"), np.zeros(SHAPE + (1,)))
        coords |= {f"{g}__term": terms, f"{g}__pair": [".".join(terms)]}
    return xr.Dataset(data, coords=coords)


GROUPS = {"subject:armA": ("(Intercept)", "time"), "subject:armB": ("(Intercept)", "time")}


def test_tidy_rows_for_sigma_coefficients_and_phi():
    table = tidy_summary(posterior(), GROUPS, prob=0.9)
    sigma = table[table.effect == "sigma"]
    assert list(sigma.term) == ["(Intercept)", "armB"] and set(sigma.group) == {""}
    assert sigma.estimate.tolist() == pytest.approx([0.5, 1.0])
    phi = table[table.term == "phi"].iloc[0]
    assert (phi.effect, phi.group) == ("ran_pars", "Residual")
    assert (phi.conf_low, phi.conf_high) == pytest.approx((0.05, 0.95))
    assert "sd__Observation" not in set(table.term)
    assert list(table.group[table.effect == "ran_pars"])[:3] == ["subject:armA"] * 3


def test_residual_sd_per_level_on_the_natural_scale():
    """σ_A = exp(GRID): mean ∫₀¹ eˣ dx = e − 1; σ_B = e·σ_A; var_A mean (e² − 1)/2."""
    table = variance_components(posterior(), GROUPS, sigma_levels={
        "arm=A": np.array([1.0, 0.0]), "arm=B": np.array([1.0, 1.0])}).set_index("term")
    assert table.loc["sd__Observation[arm=A]", "estimate"] == pytest.approx(np.e - 1, rel=1e-3)
    assert table.loc["sd__Observation[arm=B]", "estimate"] == pytest.approx(np.e * (np.e - 1),
                                                                           rel=1e-3)
    assert table.loc["var__Observation[arm=A]", "estimate"] == pytest.approx((np.e**2 - 1) / 2,
                                                                            rel=1e-3)
    assert table.loc["sd__Observation[arm=A]", "group"] == "Residual"


def test_variance_contrast_ratio_and_difference():
    """sd__time of B over A is 3 in every draw; B − A = 2 + 2·GRID, mean 3; the
    difference of the intercept SDs is 0, never above 0."""
    post = posterior()
    ratio = variance_contrast(post, GROUPS, "sd__time", "subject:armB", "subject:armA").iloc[0]
    assert ratio.contrast == "subject:armB / subject:armA"
    assert (ratio.estimate, ratio.std_error, ratio.prob_above) == pytest.approx((3.0, 0.0, 1.0))
    diff = variance_contrast(post, GROUPS, "var__time", "subject:armB", "subject:armA",
                             kind="difference", prob=0.9).iloc[0]
    # var_B − var_A = 9(1+x)² − (1+x)² = 8(1+x)², mean 8 ∫₀¹ (1+x)² dx = 56/3
    assert diff.estimate == pytest.approx(56 / 3, rel=1e-3)
    same = variance_contrast(post, GROUPS, "sd__(Intercept)", "subject:armB", "subject:armA",
                             kind="difference").iloc[0]
    assert (same.estimate, same.prob_above) == (0.0, 0.0)
    with pytest.raises(DesignError, match=r"no component 'sd__Days'; it has \['sd__\(Intercept\)'"):
        variance_contrast(post, GROUPS, "sd__Days", "subject:armB", "subject:armA")
