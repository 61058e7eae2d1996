"""Simulated studies with known parameters, for examples, specs and validation.

Each study has a generator ``simulate_<name>`` whose default seed is fixed, so
``lb.load_dataset("<name>")`` and ``[data] dataset = "<name>"`` in a spec file give the same
data on every machine; ``<NAME>_TRUTH`` holds the values it simulates from.
"""

from .crosslag import CROSSLAG_TRUTH, simulate_crosslag
from .eeg import EEG_FORMULA, EEG_SIGMA, EEG_TRUTH, simulate_eeg
from .eqtl import EQTL_FORMULA, simulate_eqtl
from .hba1c import HBA1C_FORMULA, HBA1C_TRUTH, simulate_hba1c
from .joint import (
    JOINT_LONGITUDINAL_FORMULA,
    JOINT_SURVIVAL_FORMULA,
    JOINT_TRUTH,
    simulate_joint_cohort,
)
from .multivariate import (
    DAILY_SYMPTOMS_TRUTH,
    DOSE_EGFR_TRUTH,
    SYMPTOMS_IL6_TRUTH,
    simulate_daily_symptoms,
    simulate_dose_egfr,
    simulate_symptoms_il6,
)
from .trial import TRIAL_FORMULA, TRIAL_TRUTH, simulate_multicentre_trial

__all__ = ["CROSSLAG_TRUTH", "DAILY_SYMPTOMS_TRUTH", "DOSE_EGFR_TRUTH", "EEG_FORMULA",
           "EEG_SIGMA", "EEG_TRUTH", "EQTL_FORMULA", "HBA1C_FORMULA", "HBA1C_TRUTH",
           "JOINT_LONGITUDINAL_FORMULA", "JOINT_SURVIVAL_FORMULA", "JOINT_TRUTH",
           "SYMPTOMS_IL6_TRUTH", "TRIAL_FORMULA", "TRIAL_TRUTH",
           "simulate_crosslag", "simulate_daily_symptoms", "simulate_dose_egfr", "simulate_eeg",
           "simulate_eqtl", "simulate_hba1c", "simulate_joint_cohort",
           "simulate_multicentre_trial", "simulate_symptoms_il6"]
