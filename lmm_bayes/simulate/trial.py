"""A multicentre randomised clinical trial: repeated measures of patients within centres.

Patients are randomised 1:1 to placebo or active treatment within each centre (permuted
blocks) and their systolic blood pressure is measured at scheduled visits; some patients
leave the study early (monotone dropout, completely at random), so the data are unbalanced.
The model it is made for::

    sbp ~ week * arm + (week | patient) + (1 | centre)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["TrialTruth", "multicentre_trial"]


@dataclass(frozen=True)
class TrialTruth:
    """The parameters of :func:`multicentre_trial` (blood pressure in mmHg, time in weeks).

    Attributes
    ----------
    intercept : mean systolic blood pressure at baseline on placebo
    week : change per week on placebo
    active : baseline difference of the active arm (0: randomised)
    week_active : additional change per week on active treatment (the treatment effect)
    sd_centre : SD of the centres' intercepts
    sd_patient, sd_patient_week, corr_patient : SDs and correlation of the patients'
        intercepts and weekly slopes
    sigma : residual SD (visit-to-visit variation)
    """

    intercept: float = 150.0
    week: float = -0.2
    active: float = 0.0
    week_active: float = -0.6
    sd_centre: float = 4.0
    sd_patient: float = 10.0
    sd_patient_week: float = 0.4
    corr_patient: float = -0.3
    sigma: float = 6.0

    def patient_covariance(self) -> np.ndarray:
        """Σ = diag(s) R diag(s) of a patient's (intercept, slope)."""
        s = np.array([self.sd_patient, self.sd_patient_week])
        corr = np.array([[1.0, self.corr_patient], [self.corr_patient, 1.0]])
        return corr * np.outer(s, s)


def multicentre_trial(n_centres: int = 10, patients_per_centre: int = 12, *,
                      weeks=(0, 2, 4, 8, 12), dropout: float = 0.08,
                      truth: TrialTruth = TrialTruth(),
                      random_seed: int = 20240601) -> pd.DataFrame:
    """Simulate the trial: one row per visit attended.

    Parameters
    ----------
    n_centres, patients_per_centre : int
        Patients per centre must be even (1:1 randomisation in each centre).
    weeks : sequence of float
        Scheduled visits, the first at baseline.
    dropout : float
        Probability of leaving the study after each visit but the last.
    truth : TrialTruth
    random_seed : int

    Returns
    -------
    pandas.DataFrame
        Columns ``centre`` ("C01"...), ``patient`` ("C01-P01"..., unique across centres),
        ``arm`` ("placebo"/"active"), ``week``, ``sbp``.

    Notes
    -----
    sbp_ij = β0 + β1 week_ij + β2 active_i + β3 week_ij active_i + c_centre(i)
    + b0_i + b1_i week_ij + ε_ij, with c ~ N(0, sd_centre²), (b0_i, b1_i) ~ N(0, Σ)
    (:meth:`TrialTruth.patient_covariance`) and ε ~ N(0, σ²); the random-intercept-and-slope
    model of Laird & Ware (1982) with patients nested in centres.
    """
    if patients_per_centre % 2:
        raise ValueError("patients_per_centre must be even (1:1 randomisation per centre)")
    rng = np.random.default_rng(random_seed)
    n = n_centres * patients_per_centre
    centre = np.repeat(np.arange(n_centres), patients_per_centre)
    active = np.concatenate([rng.permutation(np.arange(patients_per_centre) % 2)
                             for _ in range(n_centres)])
    c = rng.normal(0.0, truth.sd_centre, n_centres)[centre]
    b = rng.multivariate_normal(np.zeros(2), truth.patient_covariance(), size=n)
    weeks = np.asarray(weeks, dtype=float)
    # visits attended: the first, then each later one until the patient drops out
    stays = rng.random((n, len(weeks) - 1)) >= dropout
    attended = np.column_stack([np.ones(n, bool), np.cumprod(stays, axis=1).astype(bool)])
    patient, visit = np.nonzero(attended)
    week = weeks[visit]
    arm = active[patient]
    mean = (truth.intercept + truth.week * week + truth.active * arm
            + truth.week_active * week * arm + c[patient]
            + b[patient, 0] + b[patient, 1] * week)
    return pd.DataFrame({
        "centre": [f"C{k + 1:02d}" for k in centre[patient]],
        "patient": [f"C{centre[p] + 1:02d}-P{p % patients_per_centre + 1:02d}" for p in patient],
        "arm": np.where(arm == 1, "active", "placebo"),
        "week": week,
        "sbp": np.round(mean + rng.normal(0.0, truth.sigma, len(week)), 1),
    })
