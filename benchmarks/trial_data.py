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
