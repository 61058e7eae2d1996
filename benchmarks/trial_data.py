"""The simulated longitudinal trial of the benchmarks (numpy and pandas only)."""

import numpy as np
import pandas as pd


def simulate_trial(n_patients=20_000, n_visits=10, seed=2026):
    """A longitudinal trial: by default 20k patients randomised 1:1, 10 visits each (200k rows), each
    patient with their own baseline and slope (SDs 10 and 1.5, correlation 0.3), a treatment
    effect of −1 per visit on the slope, residual SD 5."""
    rng = np.random.default_rng(seed)
    patient = np.repeat(np.arange(n_patients), n_visits)
    visit = np.tile(np.arange(n_visits, dtype=float), n_patients)
    active = np.repeat(rng.integers(0, 2, n_patients), n_visits)
    sd = np.array([10.0, 1.5])
    cov = np.outer(sd, sd) * np.array([[1.0, 0.3], [0.3, 1.0]])
    b = rng.multivariate_normal(np.zeros(2), cov, n_patients)[patient]
    y = (140 + 2 * active - 0.5 * visit - 1.0 * visit * active + b[:, 0] + b[:, 1] * visit
         + rng.normal(0, 5, len(patient)))
    return pd.DataFrame({"y": y, "visit": visit, "arm": np.where(active, "active", "control"),
                         "patient": patient.astype(str)})


def simulate_crossed_slopes(n_subjects=40, n_items=60, seed=2026):
    """Subjects crossed with items (40 × 60 = 2,400 rows), each seeing every item once in one
    of two conditions, counterbalanced (a Latin square: the condition alternates over items and
    subjects), so the condition varies within subjects and within items. ``cond`` is coded
    −0.5/+0.5; uncorrelated random intercepts and slopes by subject (SDs 40 and 20) and by item
    (SDs 30 and 15), intercept 600, effect 25, residual SD 60 (reaction times, ms)."""
    rng = np.random.default_rng(seed)
    subj = np.repeat(np.arange(n_subjects), n_items)
    item = np.tile(np.arange(n_items), n_subjects)
    cond = np.where((subj + item) % 2 == 0, -0.5, 0.5)
    s = rng.normal(0, [40.0, 20.0], (n_subjects, 2))[subj]
    i = rng.normal(0, [30.0, 15.0], (n_items, 2))[item]
    y = 600 + 25 * cond + s[:, 0] + i[:, 0] + (s[:, 1] + i[:, 1]) * cond + rng.normal(0, 60, len(subj))
    return pd.DataFrame({"y": y.round(1), "cond": cond, "subj": [f"s{k:02d}" for k in subj],
                         "item": [f"i{k:02d}" for k in item]})


#: the truth of :func:`simulate_binary_trial`: fixed effects on the logit scale (arm "control"
#: the reference) and the SDs of the uncorrelated random intercept and time slope
BINARY_TRUTH = {"(Intercept)": -0.5, "time": 1.0, "armactive": 0.3, "time:armactive": -0.8,
                "sd (Intercept)": 1.0, "sd time": 0.5}


def simulate_binary_trial(n_ids=1_000, n_visits=16, seed=2026):
    """A longitudinal trial with a binary outcome: ``n_ids`` individuals randomised 1:1, each
    seen at ``n_visits`` visits, ``time`` running from 0 to 1 (visit / (n_visits − 1)), so the
    coefficients do not depend on the number of visits. logit P(y = 1) = −0.5 + 1.0 time
    + 0.3 active − 0.8 time × active + b₀ + b₁ time, with independent b₀ ~ N(0, 1) and
    b₁ ~ N(0, 0.5²) per individual (:data:`BINARY_TRUTH`); the model is
    ``y ~ time * arm + (1 + time || id)``."""
    rng = np.random.default_rng(seed)
    ids = np.repeat(np.arange(n_ids), n_visits)
    time = np.tile(np.arange(n_visits) / (n_visits - 1), n_ids)
    active = np.repeat(rng.integers(0, 2, n_ids), n_visits)
    t = BINARY_TRUTH
    b = rng.normal(0, [t["sd (Intercept)"], t["sd time"]], (n_ids, 2))[ids]
    eta = (t["(Intercept)"] + t["time"] * time + t["armactive"] * active
           + t["time:armactive"] * time * active + b[:, 0] + b[:, 1] * time)
    y = (rng.random(len(ids)) < 1 / (1 + np.exp(-eta))).astype(int)
    return pd.DataFrame({"y": y, "time": time, "arm": np.where(active, "active", "control"),
                         "id": [f"p{k:05d}" for k in ids]})
