"""Simulated longitudinal trials with known residual structures, for recovery tests.

Residuals are drawn per individual from the dense multivariate normal with covariance
σ_j σ_k φ^|t_j − t_k| (numpy's ``multivariate_normal``), independently of the package's
innovations-form code.
"""

import numpy as np
import pandas as pd


def serial_residuals(rng, time, individual, phi, sd):
    """Residuals with Cov = diag(sd) φ^|Δt| diag(sd) within each individual."""
    out = np.empty(len(time))
    for key in np.unique(individual):
        rows = np.flatnonzero(individual == key)
        lag = np.abs(time[rows][:, None] - time[rows][None, :])
        cov = np.outer(sd[rows], sd[rows]) * np.power(phi, lag)
        out[rows] = rng.multivariate_normal(np.zeros(len(rows)), cov)
    return out


AR1_TRUTH = {"(Intercept)": 10.0, "visit": 1.0, "sd__(Intercept)": 2.0,
             "sd__Observation": 1.5, "phi": 0.6}


def ar1_trial(seed, n_subjects=40, n_visits=8) -> pd.DataFrame:
    """Equally spaced visits 0..n−1, random intercepts, AR(1) residuals."""
    rng = np.random.default_rng(seed)
    t = AR1_TRUTH
    subject = np.repeat(np.arange(n_subjects), n_visits)
    visit = np.tile(np.arange(n_visits, dtype=float), n_subjects)
    e = serial_residuals(rng, visit, subject, t["phi"], np.full(len(visit),
                                                                 t["sd__Observation"]))
    y = (t["(Intercept)"] + t["visit"] * visit
         + rng.normal(0, t["sd__(Intercept)"], n_subjects)[subject] + e)
    return pd.DataFrame({"y": y, "visit": visit, "subject": [f"s{k}" for k in subject]})


CAR1_TRUTH = {"(Intercept)": 5.0, "time": -0.5, "sd__(Intercept)": 2.0, "phi": 0.5,
              "sigma_(Intercept)": 0.0, "sigma_armB": np.log(2.0)}


def car1_trial(seed, n_subjects=40) -> pd.DataFrame:
    """Irregular visit times (4–9 per subject, uniform on [0, 8]), random intercepts,
    CAR(1) residuals with SD 1 in arm A and 2 in arm B (a sigma model ``~ arm``)."""
    rng = np.random.default_rng(seed)
    t = CAR1_TRUTH
    counts = rng.integers(4, 10, n_subjects)
    subject = np.repeat(np.arange(n_subjects), counts)
    time = np.concatenate([np.sort(rng.uniform(0, 8, k)) for k in counts])
    arm = np.where(subject % 2 == 0, "A", "B")
    sd = np.exp(t["sigma_(Intercept)"] + t["sigma_armB"] * (arm == "B"))
    e = serial_residuals(rng, time, subject, t["phi"], sd)
    y = (t["(Intercept)"] + t["time"] * time
         + rng.normal(0, t["sd__(Intercept)"], n_subjects)[subject] + e)
    return pd.DataFrame({"y": y, "time": time, "arm": arm,
                         "subject": [f"s{k}" for k in subject]})


BY_ARM_TRUTH = {"A": {"sd__(Intercept)": 2.0, "sd__time": 0.5},
                "B": {"sd__(Intercept)": 2.0, "sd__time": 1.5},
                "ratio": 3.0, "sd__Observation": 1.0}


def by_arm_trial(seed, n_per_arm=30, n_visits=6) -> pd.DataFrame:
    """Random intercepts and time slopes (independent) whose slope SD differs by arm."""
    rng = np.random.default_rng(seed)
    n = 2 * n_per_arm
    subject = np.repeat(np.arange(n), n_visits)
    time = np.tile(np.arange(n_visits, dtype=float), n)
    arm = np.where(subject < n_per_arm, "A", "B")
    slope_sd = np.where(np.arange(n) < n_per_arm, BY_ARM_TRUTH["A"]["sd__time"],
                        BY_ARM_TRUTH["B"]["sd__time"])
    b0 = rng.normal(0, 2.0, n)
    b1 = rng.normal(0, 1.0, n) * slope_sd
    y = (20 + 1.0 * time + b0[subject] + b1[subject] * time
         + rng.normal(0, BY_ARM_TRUTH["sd__Observation"], len(time)))
    return pd.DataFrame({"y": y, "time": time, "arm": arm,
                         "subject": [f"s{k}" for k in subject]})


THREE_LEVEL_TRUTH = {"(Intercept)": 50.0, "time": 2.0, "sd_centre": 3.0, "sd_patient": 4.0,
                     "phi": 0.7, "sigma_(Intercept)": 0.0, "sigma_time": 0.15}


def three_level_trial(seed, n_centres=12, per_centre=10, n_visits=8) -> pd.DataFrame:
    """Measurements in patients in centres: centre and patient intercepts, AR(1) residuals
    over visits, log σ = 0 + 0.15·time (the residual SD grows with time)."""
    rng = np.random.default_rng(seed)
    t = THREE_LEVEL_TRUTH
    n_patients = n_centres * per_centre
    patient = np.repeat(np.arange(n_patients), n_visits)
    centre = patient // per_centre
    time = np.tile(np.arange(n_visits, dtype=float), n_patients)
    sd = np.exp(t["sigma_(Intercept)"] + t["sigma_time"] * time)
    e = serial_residuals(rng, time, patient, t["phi"], sd)
    y = (t["(Intercept)"] + t["time"] * time + rng.normal(0, t["sd_centre"], n_centres)[centre]
         + rng.normal(0, t["sd_patient"], n_patients)[patient] + e)
    return pd.DataFrame({"y": y, "time": time, "centre": [f"c{k}" for k in centre],
                         "patient": [f"p{k % per_centre}" for k in patient]})
