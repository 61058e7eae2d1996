"""A cohort of 4,000 patients × 2 to 12 visits (about 28,000 rows) written as 9 Parquet
files whose boundaries split patients, fitted through a 2-worker local cluster
(lmm_bayes.distributed): every population parameter's 95% interval covers the
simulation's truth, the fit equals the in-memory fit of the same rows draw for draw (to
the last bit: the sums of lmm_bayes.sums do not depend on the partitioning), and
the effects drawn on demand for chosen patients cover theirs."""

import warnings

import numpy as np
import pandas as pd
import pytest

import lmm_bayes as lb

pytestmark = [pytest.mark.validation, pytest.mark.slow]

FORMULA = "y ~ years * arm + (years | patient)"
TRUTH = {"(Intercept)": 7.5, "years": 0.2, "armtreated": -0.4, "years:armtreated": -0.15,
         "sd__(Intercept)": 0.9, "sd__years": 0.25, "cor__(Intercept).years": -0.3,
         "sd__Observation": 0.5}


def cohort(n_patients: int = 4000, seed: int = 7) -> tuple[pd.DataFrame, np.ndarray]:
    """HbA1c-like visits: 2 to 12 per patient over 0 to 5.5 years; half the patients
    treated; correlated random intercepts and slopes. Also the patients' true effects."""
    rng = np.random.default_rng(seed)
    visits = rng.integers(2, 13, n_patients)
    ids = np.repeat(np.arange(n_patients), visits)
    years = np.concatenate([np.sort(rng.uniform(0, 5.5, v)) for v in visits])
    treated = (rng.random(n_patients) < 0.5)[ids]
    sd = np.array([TRUTH["sd__(Intercept)"], TRUTH["sd__years"]])
    corr = np.array([[1, TRUTH["cor__(Intercept).years"]], [TRUTH["cor__(Intercept).years"], 1]])
    effects = rng.multivariate_normal(np.zeros(2), corr * np.outer(sd, sd), n_patients)
    y = (TRUTH["(Intercept)"] + TRUTH["years"] * years + TRUTH["armtreated"] * treated
         + TRUTH["years:armtreated"] * years * treated + effects[ids, 0]
         + effects[ids, 1] * years + rng.normal(0, TRUTH["sd__Observation"], ids.size))
    frame = pd.DataFrame({"patient": np.char.add("P", ids.astype(str)), "years": years,
                          "arm": np.where(treated, "treated", "control"), "y": y})
    return frame, effects


@pytest.fixture(scope="module")
def fits(tmp_path_factory, client):
    data, effects = cohort()
    folder = tmp_path_factory.mktemp("cohort")
    for k, rows in enumerate(np.array_split(np.arange(len(data)), 9)):
        data.iloc[rows].to_parquet(folder / f"visits{k}.parquet")
    settings = {"draws": 500, "tune": 500, "chains": 2, "random_seed": 4}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lb.SamplingWarning)
        distributed = lb.fit(FORMULA, str(folder / "*.parquet"), client=client, **settings)
        memory = lb.fit(FORMULA, data, **settings)
    return distributed, memory, effects


def test_intervals_cover_the_truth(fits):
    distributed = fits[0]
    fixed = distributed.fixef()
    components = distributed.variance_components().set_index("term")
    for name, value in TRUTH.items():
        row = fixed.loc[name] if name in fixed.index else components.loc[name]
        assert row["conf_low"] < value < row["conf_high"], name


def test_the_same_draws_as_in_memory(fits):
    distributed, memory, _ = fits
    for name in ("beta", "sigma", "sd_patient", "corr_patient"):
        np.testing.assert_array_equal(distributed.posterior[name].values,
                                      memory.idata.posterior[name].values, err_msg=name)


def test_effects_on_demand_cover_the_patients_truth(fits):
    """Of 200 patients' intercepts and slopes, about 95% of the 95% intervals cover the
    truth (binomial: at least 180 of 200 with probability > 0.99)."""
    distributed, _, effects = fits
    chosen = np.arange(0, 4000, 20)
    draws = distributed.effects([f"P{k}" for k in chosen], random_seed=1)
    low = draws.quantile(0.025, ("chain", "draw")).values
    high = draws.quantile(0.975, ("chain", "draw")).values
    covered = (low < effects[chosen]) & (effects[chosen] < high)
    assert covered[:, 0].sum() >= 180 and covered[:, 1].sum() >= 180
