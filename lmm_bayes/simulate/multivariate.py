"""Simulated studies for multivariate models and time-varying covariates.

* :func:`simulate_symptoms_il6`: depressive symptoms and IL-6 measured at the same visits,
  with random intercepts and slopes correlated across the two outcomes, correlated
  residuals and missing measurements (:data:`SYMPTOMS_IL6_TRUTH`);
* :func:`simulate_daily_symptoms`: a time-varying biomarker whose within-person and
  between-person effects differ, with a person-specific sensitivity
  (:data:`DAILY_SYMPTOMS_TRUTH`);
* :func:`simulate_dose_egfr`: a drug level whose dose response depends on baseline kidney
  function, a cross-level interaction (:data:`DOSE_EGFR_TRUTH`).

Truth dictionaries are keyed as the summaries name the parameters.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .normal import correlated_pairs

__all__ = ["DAILY_SYMPTOMS_TRUTH", "DOSE_EGFR_TRUTH", "SYMPTOMS_IL6_TRUTH",
           "simulate_daily_symptoms", "simulate_dose_egfr", "simulate_symptoms_il6"]

_TERMS = ("depression:(Intercept)", "depression:months", "il6:(Intercept)", "il6:months")

#: Fixed effects, the SDs and cross-outcome correlations of the four random effects (the
#: others are 0), residual SDs and correlation.
SYMPTOMS_IL6_TRUTH = {
    "depression:(Intercept)": 12.0, "depression:months": -0.3, "il6:(Intercept)": 3.0,
    "il6:months": -0.05, "sd__depression:(Intercept)": 4.0, "sd__depression:months": 0.4,
    "sd__il6:(Intercept)": 1.0, "sd__il6:months": 0.1,
    "cor__depression:(Intercept).il6:(Intercept)": 0.5,
    "cor__depression:months.il6:months": 0.6,
    "sd__depression:Observation": 2.0, "sd__il6:Observation": 0.5,
    "rescor__depression.il6": 0.4,
}


def _people(n: int, width: int = 3) -> list[str]:
    return [f"P{i + 1:0{width}d}" for i in range(n)]


def _random_effects(truth: dict, terms, correlations: dict, n: int, rng) -> np.ndarray:
    sd = np.array([truth[f"sd__{t}"] for t in terms])
    corr = np.eye(len(terms))
    for (a, b), value in correlations.items():
        corr[a, b] = corr[b, a] = value
    return rng.multivariate_normal(np.zeros(len(terms)), corr * np.outer(sd, sd), size=n)


def simulate_symptoms_il6(n_patients: int = 120, *, visits: int = 7, missing: float = 0.15,
                          seed: int = 11) -> pd.DataFrame:
    """Depression score and IL-6 (pg/mL) every two months.

    Parameters
    ----------
    n_patients : int
    visits : int
        Visits at months 0, 2, 4, ...
    missing : float
        Probability that one outcome is missing at a visit (independently for each
        outcome; a visit with both missing is not recorded).
    seed : int

    Returns
    -------
    pandas.DataFrame
        ``id``, ``months``, ``depression``, ``il6`` (NaN where missing);
        ``attrs["truth"]`` holds :data:`SYMPTOMS_IL6_TRUTH`.
    """
    rng = np.random.default_rng(seed)
    t = SYMPTOMS_IL6_TRUTH
    b = _random_effects(t, _TERMS, {(0, 2): t["cor__depression:(Intercept).il6:(Intercept)"],
                                    (1, 3): t["cor__depression:months.il6:months"]},
                        n_patients, rng)
    person = np.repeat(np.arange(n_patients), visits)
    months = np.tile(np.arange(visits) * 2.0, n_patients)
    e = correlated_pairs(t["sd__depression:Observation"], t["sd__il6:Observation"],
                         t["rescor__depression.il6"], len(person), rng)
    outcomes = {}
    for k, y in enumerate(("depression", "il6")):
        mean = (t[f"{y}:(Intercept)"] + b[person, 2 * k]
                + (t[f"{y}:months"] + b[person, 2 * k + 1]) * months)
        value = (mean + e[:, k]).round(3)
        outcomes[y] = np.where(rng.random(len(person)) < missing, np.nan, value)
    frame = pd.DataFrame({"id": np.array(_people(n_patients))[person], "months": months,
                          **outcomes})
    frame = frame[frame[["depression", "il6"]].notna().any(axis=1)].reset_index(drop=True)
    frame.attrs["truth"] = dict(SYMPTOMS_IL6_TRUTH)
    return frame


#: Within-person effect, between-person effect, SDs of the random intercept and of each
#: patient's sensitivity, residual SD.
DAILY_SYMPTOMS_TRUTH = {
    "(Intercept)": 10.0, "il6_within": 1.5, "il6_between": 3.0, "sd__(Intercept)": 1.5,
    "sd__il6_within": 0.8, "sd__Observation": 1.0,
}


def simulate_daily_symptoms(n_patients: int = 80, *, days: int = 14,
                            seed: int = 5) -> pd.DataFrame:
    """Daily symptom score and IL-6 of each patient.

    IL-6 varies around each patient's own mean m_i (between-person SD 0.7, within 1.0);
    symptoms_ij = β_0 + β_B m_i + (β_W + u_i)(il6_ij − m_i) + b_i + ε_ij, with β_W the
    within-person effect, β_B the between-person one and u_i the patient's sensitivity.

    Returns
    -------
    pandas.DataFrame
        ``id``, ``day``, ``il6``, ``symptoms``; ``attrs["truth"]``:
        :data:`DAILY_SYMPTOMS_TRUTH` (for the person-mean-centred model).
    """
    rng = np.random.default_rng(seed)
    t = DAILY_SYMPTOMS_TRUTH
    person = np.repeat(np.arange(n_patients), days)
    mean_il6 = rng.normal(2.0, 0.7, n_patients)
    deviation = rng.normal(0.0, 1.0, len(person))
    deviation -= pd.Series(deviation).groupby(person).transform("mean").to_numpy()
    b = _random_effects(t, ("(Intercept)", "il6_within"), {}, n_patients, rng)
    symptoms = (t["(Intercept)"] + t["il6_between"] * mean_il6[person] + b[person, 0]
                + (t["il6_within"] + b[person, 1]) * deviation
                + rng.normal(0.0, t["sd__Observation"], len(person)))
    frame = pd.DataFrame({"id": np.array(_people(n_patients))[person],
                          "day": np.tile(np.arange(days), n_patients),
                          "il6": mean_il6[person] + deviation, "symptoms": symptoms})
    frame.attrs["truth"] = dict(DAILY_SYMPTOMS_TRUTH)
    return frame


#: Fixed effects (eGFR in mL/min/1.73 m², dose in mg), random-effect SDs, residual SD.
DOSE_EGFR_TRUTH = {
    "(Intercept)": 5.0, "dose": 3.0, "egfr_baseline": -0.01, "dose:egfr_baseline": -0.03,
    "sd__(Intercept)": 1.0, "sd__dose": 0.3, "sd__Observation": 0.5,
}


def simulate_dose_egfr(n_patients: int = 80, *, days: int = 8, seed: int = 3) -> pd.DataFrame:
    """Daily drug level at a daily dose that changes within patients (0–3 mg), whose dose
    response falls with baseline eGFR (faster clearance):
    level_ij = β_0 + (β_d + β_de egfr_i + u_i) dose_ij + β_e egfr_i + b_i + ε_ij.

    Returns
    -------
    pandas.DataFrame
        ``id``, ``day``, ``dose``, ``egfr_baseline``, ``level``; ``attrs["truth"]``:
        :data:`DOSE_EGFR_TRUTH`.
    """
    rng = np.random.default_rng(seed)
    t = DOSE_EGFR_TRUTH
    person = np.repeat(np.arange(n_patients), days)
    egfr = rng.normal(60.0, 15.0, n_patients).round()
    dose = rng.integers(0, 4, len(person)).astype(float)
    b = _random_effects(t, ("(Intercept)", "dose"), {}, n_patients, rng)
    level = (t["(Intercept)"] + b[person, 0] + t["egfr_baseline"] * egfr[person]
             + (t["dose"] + t["dose:egfr_baseline"] * egfr[person] + b[person, 1]) * dose
             + rng.normal(0.0, t["sd__Observation"], len(person)))
    frame = pd.DataFrame({"id": np.array(_people(n_patients))[person],
                          "day": np.tile(np.arange(days), n_patients), "dose": dose,
                          "egfr_baseline": egfr[person], "level": level})
    frame.attrs["truth"] = dict(DOSE_EGFR_TRUTH)
    return frame
