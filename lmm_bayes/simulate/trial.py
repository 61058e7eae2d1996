"""A multicentre randomised clinical trial: repeated measures of patients within centres.

Patients are randomised 1:1 to placebo or active treatment within each centre (permuted
blocks) and their systolic blood pressure (mmHg) is measured at scheduled visits (weeks);
some patients leave the study early (monotone dropout, completely at random), so the data are
unbalanced. The generating model (Laird & Ware 1982, patients nested in centres) is

    sbp_ij = β0 + β1 week_ij + β2 active_i + β3 week_ij active_i + c_centre(i)
             + b0_i + b1_i week_ij + ε_ij,

c ~ N(0, τ_c²), (b0_i, b1_i) ~ N(0, Σ) with SDs τ0, τ1 and correlation ρ, ε ~ N(0, σ²).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .normal import correlated_pairs

__all__ = ["TRIAL_FORMULA", "TRIAL_TRUTH", "simulate_multicentre_trial"]

TRIAL_FORMULA = "sbp ~ week * arm + (week | patient) + (1 | centre)"

#: True values, keyed by (group, term) as the model's summary names them (placebo the
#: reference arm; week:armactive is the treatment effect on the weekly change).
TRIAL_TRUTH = {
    ("", "(Intercept)"): 150.0, ("", "week"): -0.2, ("", "armactive"): 0.0,
    ("", "week:armactive"): -0.6,
    ("patient", "sd__(Intercept)"): 10.0, ("patient", "sd__week"): 0.4,
    ("patient", "cor__(Intercept).week"): -0.3,
    ("centre", "sd__(Intercept)"): 4.0, ("Residual", "sd__Observation"): 6.0,
}


def simulate_multicentre_trial(n_centres: int = 12, patients_per_centre: int = 16, *,
                               weeks=(0, 2, 4, 8, 12), dropout: float = 0.08,
                               seed: int = 20240601) -> pd.DataFrame:
    """Simulate the trial from :data:`TRIAL_TRUTH`: one row per visit attended.

    Parameters
    ----------
    n_centres, patients_per_centre : int
        Patients per centre must be even (1:1 randomisation in each centre).
    weeks : sequence of float
        Scheduled visits, the first at baseline.
    dropout : float
        Probability of leaving the study after each visit but the last.
    seed : int

    Returns
    -------
    pandas.DataFrame
        Columns ``centre`` ("C01"...), ``patient`` ("C01-P01"..., unique across centres),
        ``arm`` ("placebo"/"active"), ``week``, ``sbp`` (to 0.1 mmHg).
    """
    if patients_per_centre % 2:
        raise ValueError("patients_per_centre must be even (1:1 randomisation per centre)")
    beta = [TRIAL_TRUTH[("", t)] for t in ("(Intercept)", "week", "armactive", "week:armactive")]
    rng = np.random.default_rng(seed)
    n = n_centres * patients_per_centre
    centre = np.repeat(np.arange(n_centres), patients_per_centre)
    active = np.concatenate([rng.permutation(np.arange(patients_per_centre) % 2)
                             for _ in range(n_centres)])
    c = rng.normal(0.0, TRIAL_TRUTH[("centre", "sd__(Intercept)")], n_centres)[centre]
    b = correlated_pairs(TRIAL_TRUTH[("patient", "sd__(Intercept)")],
                         TRIAL_TRUTH[("patient", "sd__week")],
                         TRIAL_TRUTH[("patient", "cor__(Intercept).week")], n, rng)
    weeks = np.asarray(weeks, dtype=float)
    # visits attended: the first, then each later one until the patient drops out
    stays = rng.random((n, len(weeks) - 1)) >= dropout
    attended = np.column_stack([np.ones(n, bool), np.cumprod(stays, axis=1).astype(bool)])
    patient, visit = np.nonzero(attended)
    week, arm = weeks[visit], active[patient]
    mean = (beta[0] + beta[1] * week + beta[2] * arm + beta[3] * week * arm + c[patient]
            + b[patient, 0] + b[patient, 1] * week)
    sigma = TRIAL_TRUTH[("Residual", "sd__Observation")]
    return pd.DataFrame({
        "centre": [f"C{k + 1:02d}" for k in centre[patient]],
        "patient": [f"C{centre[p] + 1:02d}-P{p % patients_per_centre + 1:02d}" for p in patient],
        "arm": np.where(arm == 1, "active", "placebo"),
        "week": week,
        "sbp": np.round(mean + rng.normal(0.0, sigma, len(week)), 1),
    })
