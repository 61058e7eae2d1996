"""A Poisson GLMM with an exposure offset recovers the simulated rates (short sampling)."""

import warnings

import numpy as np
import pandas as pd
import pytest

import lmm_bayes as lb

TRUTH = {"(Intercept)": -1.0, "x": 0.5}
FORMULA = "y ~ x + offset(log(t)) + (1 | g)"


@pytest.fixture(scope="module")
def counts():
    """40 groups × 10 rows; exposures from 1 to 30, so log t spans 0 to 3.4."""
    rng = np.random.default_rng(11)
    g = np.repeat(np.arange(40), 10)
    x = rng.normal(size=len(g))
    t = rng.uniform(1, 30, len(g))
    eta = TRUTH["(Intercept)"] + TRUTH["x"] * x + rng.normal(0, 0.4, 40)[g] + np.log(t)
    return pd.DataFrame({"y": rng.poisson(np.exp(eta)), "x": x, "t": t, "g": g})


def fit(formula, data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lb.SamplingWarning)
        return lb.fit(formula, data, family="poisson", draws=300, tune=300, chains=2,
                      random_seed=4)


@pytest.fixture(scope="module")
def offset_fit(counts):
    return fit(FORMULA, counts)


def test_offset_recovers_the_rate_coefficients(offset_fit):
    assert offset_fit.engine[0] == "glmm"
    beta = offset_fit.idata.posterior["beta"].mean(("chain", "draw"))
    assert float(beta.sel(fixed="(Intercept)")) == pytest.approx(TRUTH["(Intercept)"], abs=0.25)
    assert float(beta.sel(fixed="x")) == pytest.approx(TRUTH["x"], abs=0.1)


def test_without_the_offset_the_intercept_is_the_count_not_the_rate(counts, offset_fit):
    plain = fit("y ~ x + (1 | g)", counts)
    intercept = float(plain.idata.posterior["beta"].sel(fixed="(Intercept)").mean())
    assert intercept > TRUTH["(Intercept)"] + 1.5       # log of the mean exposure ≈ 2.7


def test_fitted_means_and_checks_include_the_offset(counts, offset_fit):
    fitted = offset_fit.predict()["estimate"].to_numpy()
    assert np.corrcoef(fitted, counts.y)[0, 1] > 0.8
    assert fitted.mean() == pytest.approx(counts.y.mean(), rel=0.1)
    table = offset_fit.ppc_pvalues(stats=("mean", "sd")).set_index("statistic")
    assert 0.02 < table.loc["mean", "p_value"] < 0.98
    assert 0.02 < table.loc["sd", "p_value"] < 0.98
    new = pd.DataFrame({"x": [0.0, 0.0], "t": [1.0, 10.0], "g": [0, 0]})
    ten = offset_fit.predict(new, groups="conditional")["estimate"].to_numpy()
    assert ten[1] == pytest.approx(10 * ten[0])          # the mean is proportional to t
