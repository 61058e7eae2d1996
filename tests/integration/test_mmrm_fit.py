"""A short fit of a Toeplitz residual correlation per arm (the per-arm and vector-parameter
paths of the visit structures): summary rows per arm, prediction, checks, save and load."""

import warnings

import numpy as np
import pandas as pd
import pytest

import lmm_bayes as lb

TRUE_RHO = {"A": [0.6, 0.3, 0.1], "B": [0.2, 0.0, 0.0]}


def _trial(n=80, seed=4):
    """Two arms, four visits, Toeplitz correlations per arm, a visit missing at random."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        arm = "AB"[i % 2]
        r = np.r_[1.0, TRUE_RHO[arm]]
        R = r[np.abs(np.subtract.outer(np.arange(4), np.arange(4)))]
        u = np.linalg.cholesky(R) @ rng.normal(size=4)
        for k in range(4):
            rows.append({"id": f"p{i}", "arm": arm, "visit": f"V{k + 1}",
                         "y": 1.0 + 0.5 * k + (arm == "B") * 0.3 * k + 2.0 * u[k]})
    data = pd.DataFrame(rows)
    return data[rng.uniform(size=len(data)) > 0.15].reset_index(drop=True)


@pytest.fixture(scope="module")
def fit():
    model = lb.LMM("y ~ arm * visit", _trial(), residual="toep(visit | id, by = arm)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lb.SamplingWarning)
        return model.fit(draws=300, tune=300, chains=2, random_seed=2)


def test_summary_has_the_lags_per_arm(fit):
    rows = fit.summary().set_index(["group", "term"])
    lags = rows.loc[["Residual:A", "Residual:B"]]
    assert list(lags.index.get_level_values("term")) == ["rho__lag1", "rho__lag2", "rho__lag3"] * 2
    # arm A's lag-1 correlation is 0.6, arm B's 0.2: the intervals tell them apart
    assert rows.loc[("Residual:A", "rho__lag1"), "conf_low"] > 0.3
    assert rows.loc[("Residual:B", "rho__lag1"), "conf_high"] < 0.5


def test_prediction_checks_and_contrasts(fit):
    predicted = fit.predict(kind="response")
    assert len(predicted) == fit.model.design.n_obs
    assert np.isfinite(fit.ppc_pvalues()["p_value"]).all()
    with warnings.catch_warnings():  # 600 draws: Pareto k̂ above ArviZ's 0.64 for some
        warnings.filterwarnings("ignore", message="Estimated shape parameter of Pareto")
        loo = fit.loo(pointwise=True)  # by individual, the default with a residual structure
    assert len(loo.loo_i) == 80 and np.isfinite(loo.elpd_loo)
    contrasts = fit.mean_contrasts("arm", by="visit").set_index("visit")
    assert list(contrasts.index) == ["V1", "V2", "V3", "V4"]
    assert contrasts.at["V4", "conf_low"] < 0.9 < contrasts.at["V4", "conf_high"]


def test_save_and_load_keep_the_structure(fit, tmp_path):
    loaded = lb.load(fit.save(tmp_path / "toep.nc"))
    pd.testing.assert_frame_equal(loaded.summary(), fit.summary())
    assert loaded.model.residuals.serial.arm_labels == ("A", "B")
