"""Summaries of a multivariate posterior on a hand-made posterior with known draws."""

import numpy as np
import pytest
import xarray as xr

from lmm_bayes.summaries.multivariate import multivariate_components, multivariate_summary

RESPONSES = ("y1", "y2")
BLOCKS = {"id__p": ("y1:(Intercept)", "y2:(Intercept)"), "id__y2": ("y2:time",)}
GROUPS = {"id__p": "id", "id__y2": "id"}


@pytest.fixture(scope="module")
def posterior() -> xr.Dataset:
    rng = np.random.default_rng(0)
    shape = (2, 500)
    sd_p = np.abs(rng.normal([1.0, 2.0], 0.1, shape + (2,)))
    r = np.clip(rng.normal(0.5, 0.05, shape), -0.99, 0.99)
    sigma = np.abs(rng.normal([0.5, 3.0], 0.05, shape + (2,)))
    rho = rng.normal(-0.3, 0.05, shape)
    return xr.Dataset({
        "beta": (("chain", "draw", "fixed"), rng.normal(size=shape + (3,))),
        "sd_id__p": (("chain", "draw", "id__p__term"), sd_p),
        "corr_id__p": (("chain", "draw", "id__p__pair"), r[..., None]),
        "sd_id__y2": (("chain", "draw", "id__y2__term"), np.abs(rng.normal(0.2, 0.01, shape + (1,)))),
        "sigma": (("chain", "draw", "outcome"), sigma),
        "rescor": (("chain", "draw", "outcome__pair"), rho[..., None]),
    }, coords={"fixed": ["y1:(Intercept)", "y2:(Intercept)", "y2:time"],
               "id__p__term": list(BLOCKS["id__p"]), "id__p__pair": [".".join(BLOCKS["id__p"])],
               "id__y2__term": ["y2:time"], "outcome": list(RESPONSES),
               "outcome__pair": [".".join(RESPONSES)]})


def test_summary_names_the_outcome_and_the_grouping_factor(posterior):
    table = multivariate_summary(posterior, BLOCKS, GROUPS, RESPONSES)
    assert list(zip(table["effect"], table["group"], table["term"])) == [
        ("fixed", "", "y1:(Intercept)"), ("fixed", "", "y2:(Intercept)"),
        ("fixed", "", "y2:time"),
        ("ran_pars", "id", "sd__y1:(Intercept)"), ("ran_pars", "id", "sd__y2:(Intercept)"),
        ("ran_pars", "id", "cor__y1:(Intercept).y2:(Intercept)"),
        ("ran_pars", "id", "sd__y2:time"),
        ("ran_pars", "Residual", "sd__y1:Observation"),
        ("ran_pars", "Residual", "sd__y2:Observation"),
        ("ran_pars", "Residual", "rescor__y1.y2"),
    ]
    rows = table.set_index("term")
    rho = posterior["rescor"].values[..., 0]
    assert rows.loc["rescor__y1.y2", "estimate"] == pytest.approx(rho.mean())
    assert rows.loc["rescor__y1.y2", "conf_low"] == pytest.approx(np.quantile(rho, 0.025))
    sigma2 = posterior["sigma"].values[..., 1]
    assert rows.loc["sd__y2:Observation", "std_error"] == pytest.approx(sigma2.std(ddof=1))


def test_components_add_variances_per_outcome(posterior):
    table = multivariate_components(posterior, BLOCKS, GROUPS, RESPONSES).set_index("term")
    sigma1 = posterior["sigma"].values[..., 0]
    assert table.loc["var__y1:Observation", "estimate"] == pytest.approx((sigma1**2).mean())
    sd = posterior["sd_id__p"].values
    cov = sd[..., 0] * sd[..., 1] * posterior["corr_id__p"].values[..., 0]
    assert table.loc["cov__y1:(Intercept).y2:(Intercept)", "estimate"] == pytest.approx(cov.mean())
    assert set(table.loc[table["group"] == "Residual"].index) == {
        "sd__y1:Observation", "var__y1:Observation", "sd__y2:Observation",
        "var__y2:Observation", "rescor__y1.y2"}


def test_without_rescor_there_is_no_rescor_row(posterior):
    table = multivariate_summary(posterior.drop_vars("rescor"), BLOCKS, GROUPS, RESPONSES)
    assert not table["term"].str.startswith("rescor").any()
