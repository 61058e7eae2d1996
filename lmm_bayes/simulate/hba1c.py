"""A simulated HbA1c cohort: quarterly visits of people with type 2 diabetes under usual care
("control") or intensive treatment, for the prediction and individual-risk examples.

The generating model is a linear mixed model with correlated random intercepts and slopes,

.. math::

    \\mathrm{HbA1c}_{ij} = \\beta_0 + \\beta_a\\,\\mathrm{age}_i + \\beta_m\\,\\mathrm{bmi}_i
    + \\beta_t t_{ij} + \\beta_x x_i + \\beta_{tx} t_{ij} x_i + b_{0i} + b_{1i} t_{ij}
    + \\varepsilon_{ij},

with t in years since baseline, x = 1 for intensive treatment (randomised 1:1),
(b_0, b_1) ~ N(0, Σ) and ε ~ N(0, σ²). Its values are of the order reported for HbA1c
trajectories in type 2 diabetes (baseline mean about 8%, between-person SD about 1%,
visit-to-visit SD about 0.3–0.4%; e.g. UKPDS 33, *Lancet* 1998).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .normal import correlated_pairs

__all__ = ["HBA1C_FORMULA", "HBA1C_TRUTH", "simulate_hba1c"]

HBA1C_FORMULA = "hba1c ~ years * treatment + age + bmi + (1 + years | patient)"

#: True values, named as the model's summary names them.
HBA1C_TRUTH = {
    "(Intercept)": 7.9, "years": 0.10, "treatmentintensive": 0.0, "age": -0.01, "bmi": 0.03,
    "years:treatmentintensive": -0.45, "sd__(Intercept)": 0.9, "sd__years": 0.35,
    "cor__(Intercept).years": 0.3, "sd__Observation": 0.35,
}


def simulate_hba1c(n_patients: int = 200, *, visits: int = 9, missed: float = 0.15,
                   seed: int = 2024) -> pd.DataFrame:
    """Simulate the cohort.

    Parameters
    ----------
    n_patients : int
    visits : int
        Scheduled visits, every 3 months from baseline (9: two years).
    missed : float
        Probability that a scheduled follow-up visit is missed (baseline is always seen).
    seed : int

    Returns
    -------
    pandas.DataFrame
        One row per attended visit: ``patient`` ("P001"...), ``visit`` (0, 1, ...),
        ``months``, ``years``, ``treatment`` ("control"/"intensive"), ``age`` (years),
        ``bmi`` (kg/m²), ``hba1c`` (%). ``attrs["truth"]`` holds :data:`HBA1C_TRUTH` and
        ``attrs["formula"]`` the matching formula.
    """
    rng = np.random.default_rng(seed)
    t = HBA1C_TRUTH
    patient = np.repeat(np.arange(n_patients), visits)
    visit = np.tile(np.arange(visits), n_patients)
    years = visit * 0.25
    treated = rng.permutation(np.arange(n_patients) % 2)
    age = rng.normal(58, 9, n_patients).round()
    bmi = rng.normal(30, 5, n_patients).round(1)
    b = correlated_pairs(t["sd__(Intercept)"], t["sd__years"], t["cor__(Intercept).years"],
                         n_patients, rng)
    x = treated[patient]
    mean = (t["(Intercept)"] + t["age"] * age[patient] + t["bmi"] * bmi[patient]
            + t["years"] * years + t["treatmentintensive"] * x
            + t["years:treatmentintensive"] * years * x
            + b[patient, 0] + b[patient, 1] * years)
    hba1c = mean + rng.normal(0, t["sd__Observation"], len(mean))
    seen = (visit == 0) | (rng.random(len(mean)) > missed)
    frame = pd.DataFrame({
        "patient": [f"P{p + 1:03d}" for p in patient], "visit": visit, "months": visit * 3,
        "years": years, "treatment": np.where(x == 1, "intensive", "control"),
        "age": age[patient], "bmi": bmi[patient], "hba1c": hba1c.round(2),
    })[seen].reset_index(drop=True)
    frame.attrs.update(truth=dict(HBA1C_TRUTH), formula=HBA1C_FORMULA)
    return frame
