"""Recovery of known correlated random intercepts and slopes from simulated data."""

import numpy as np
import pandas as pd
import pytest

import lmm_bayes as lb

pytestmark = pytest.mark.validation

TRUTH = {"(Intercept)": 50.0, "time": -2.0, "sd__(Intercept)": 8.0, "sd__time": 1.5,
         "cor__(Intercept).time": -0.5, "sd__Observation": 3.0}


def simulate(n_subjects=60, n_visits=6, seed=123) -> pd.DataFrame:
    """Longitudinal study: subject-specific lines with correlated intercepts and slopes."""
    rng = np.random.default_rng(seed)
    sd = np.array([TRUTH["sd__(Intercept)"], TRUTH["sd__time"]])
    corr = np.array([[1, TRUTH["cor__(Intercept).time"]], [TRUTH["cor__(Intercept).time"], 1]])
    b = rng.multivariate_normal([0, 0], np.outer(sd, sd) * corr, size=n_subjects)
    subject = np.repeat(np.arange(n_subjects), n_visits)
    time = np.tile(np.arange(n_visits, dtype=float), n_subjects)
    y = (TRUTH["(Intercept)"] + b[subject, 0] + (TRUTH["time"] + b[subject, 1]) * time
         + rng.normal(0, TRUTH["sd__Observation"], size=subject.size))
    return pd.DataFrame({"y": y, "time": time, "subject": [f"s{k:02d}" for k in subject]})


def test_correlated_slopes_recovered():
    fit = lb.LMM("y ~ time + (time | subject)", simulate()).fit(
        draws=1000, tune=1000, chains=4, random_seed=5)
    table = fit.summary(prob=0.95).set_index("term")
    for term, value in TRUTH.items():
        row = table.loc[term]
        assert row.conf_low < value < row.conf_high, (term, row.conf_low, row.conf_high)
