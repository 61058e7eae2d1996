"""Prediction validated on a simulated HbA1c cohort with known parameters.

One fit on 240 patients with each patient's last visit held out; 60 further patients are
never seen and are predicted from their own earlier visits (dynamic prediction).
"""

import numpy as np
import pandas as pd
import pytest
from conftest import quiet_fit

import lmm_bayes as lb
from lmm_bayes.simulate import simulate_hba1c

pytestmark = pytest.mark.validation

N_FITTED = 240


@pytest.fixture(scope="module")
def cohort():
    data = simulate_hba1c(300, seed=7)
    number = data["patient"].str[1:].astype(int)
    last = data.groupby("patient")["visit"].transform("max") == data["visit"]
    fitted = number <= N_FITTED
    return {"train": data[fitted & ~last], "held_out": data[fitted & last],
            "new_history": data[~fitted & ~last], "new_last": data[~fitted & last],
            "formula": data.attrs["formula"]}


@pytest.fixture(scope="module")
def cohort_fit(cohort):
    model = lb.LMM(cohort["formula"], cohort["train"])
    return quiet_fit(model, draws=500, tune=500, chains=2, random_seed=3)


def test_predictive_intervals_cover_their_nominal_share(cohort, cohort_fit):
    held = cohort["held_out"]
    table = cohort_fit.predict(held, kind="response", groups="conditional", prob=0.9,
                               random_seed=1)
    inside = (held["hba1c"] >= table["conf_low"]) & (held["hba1c"] <= table["conf_high"])
    # 240 held-out visits: binomial SD of the coverage ≈ 0.019
    assert 0.84 <= inside.mean() <= 0.96


def test_exceedance_probabilities_are_calibrated(cohort, cohort_fit):
    held = cohort["held_out"]
    p = cohort_fit.exceedance(held, 7.0, random_seed=2)["probability"].to_numpy()
    observed = (held["hba1c"] > 7.0).to_numpy().astype(float)
    # calibration in the large, and Spiegelhalter's (1986) z test of calibration
    assert abs(observed.mean() - p.mean()) < 0.06
    z = ((observed - p) * (1 - 2 * p)).sum() / np.sqrt(((1 - 2 * p) ** 2 * p * (1 - p)).sum())
    assert abs(z) < 3
    # binned: each fifth of the predicted risks within 0.15 of its observed frequency
    bins = pd.qcut(p, 5, labels=False, duplicates="drop")
    for k in np.unique(bins):
        assert abs(observed[bins == k].mean() - p[bins == k].mean()) < 0.15


def test_dynamic_prediction_beats_the_population_line(cohort, cohort_fit):
    history, last = cohort["new_history"], cohort["new_last"]
    dynamic = cohort_fit.predict(last, history=history, random_seed=4)["estimate"]
    population = cohort_fit.predict(last, groups="population")["estimate"]
    rmse = {name: float(np.sqrt(((last["hba1c"] - pred) ** 2).mean()))
            for name, pred in (("dynamic", dynamic), ("population", population))}
    # between-patient SD ≈ 1 %, residual SD 0.35 %: conditioning should remove most of it
    assert rmse["dynamic"] < 0.6 * rmse["population"]


def test_predictions_sharpen_as_visits_accumulate(cohort, cohort_fit):
    history = cohort["new_history"]
    first = history[history["patient"] == history["patient"].iloc[0]]
    target = cohort["new_last"][cohort["new_last"]["patient"] == first["patient"].iloc[0]]
    spread = [cohort_fit.predict(target, history=first.iloc[:k], random_seed=5)["std_error"]
              .iloc[0] for k in (1, 3, len(first))]
    assert spread[0] > spread[1] > spread[2]


def test_fit_recovers_the_generating_values(cohort_fit):
    table = cohort_fit.summary(prob=0.99).set_index("term")
    truth = simulate_hba1c(10).attrs["truth"]
    for term in ("years", "years:treatmentintensive", "sd__(Intercept)", "sd__Observation"):
        assert table.loc[term, "conf_low"] < truth[term] < table.loc[term, "conf_high"], term
