"""A trial-level EEG study: N400 amplitudes of subjects reading sentences whose final word is
expected ("congruent") or unexpected ("incongruent").

Every subject reads every sentence (stimulus); each stimulus belongs to one condition, so
subjects and stimuli are crossed and stimuli are nested in conditions. Artefact rejection
(blinks, muscle activity) removes a share of each subject's trials that differs between
subjects, so subjects keep very different numbers of trials. The generating model is the
crossed trial-level model of Baayen, Davidson & Bates (2008) with a residual SD per
condition (nlme's ``varIdent``),

.. math::

    y_{sw} = \\beta_0 + \\beta_1 x_w + u_{0s} + u_{1s} x_w + v_w + \\varepsilon_{sw},
    \\qquad \\varepsilon_{sw} \\sim N(0, \\sigma_{x_w}^2),

with x_w = 1 when stimulus w is incongruent, (u_0, u_1) ~ N(0, Σ_subject) with SDs τ0, τ1 and
correlation ρ, v ~ N(0, τ_w²). The values are of the order reported for the N400 in the
centro-parietal 300–500 ms window (Kutas & Federmeier 2011, *Annu. Rev. Psychol.* 62:621):
an effect of a few µV against single-trial noise of 5–10 µV.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .normal import correlated_pairs

__all__ = ["EEG_FORMULA", "EEG_SIGMA", "EEG_TRUTH", "simulate_eeg"]

EEG_FORMULA = "amplitude ~ condition + (1 + condition | subject) + (1 | stimulus)"
EEG_SIGMA = "~ condition"

#: True values (µV), keyed by (group, term) as the model's summary and variance components
#: name them (congruent the reference condition).
EEG_TRUTH = {
    ("", "(Intercept)"): 2.0, ("", "conditionincongruent"): -3.0,
    ("subject", "sd__(Intercept)"): 3.0, ("subject", "sd__conditionincongruent"): 1.5,
    ("subject", "cor__(Intercept).conditionincongruent"): -0.3,
    ("stimulus", "sd__(Intercept)"): 2.0,
    ("Residual", "sd__Observation[condition=congruent]"): 7.0,
    ("Residual", "sd__Observation[condition=incongruent]"): 9.0,
}

CONDITIONS = ("congruent", "incongruent")


def _subject_effects(rng: np.random.Generator, n: int, truth) -> np.ndarray:
    """(u_0, u_1) of ``n`` subjects from N(0, diag(τ) R diag(τ))."""
    return correlated_pairs(truth[("subject", "sd__(Intercept)")],
                            truth[("subject", "sd__conditionincongruent")],
                            truth[("subject", "cor__(Intercept).conditionincongruent")], n, rng)


def simulate_eeg(n_subjects: int = 24, stimuli_per_condition: int = 40, *,
                 rejection: tuple[float, float] = (2.0, 4.0), truth=None,
                 seed: int = 1) -> pd.DataFrame:
    """Simulate the study from :data:`EEG_TRUTH`: one row per trial kept after artefact
    rejection.

    Parameters
    ----------
    n_subjects, stimuli_per_condition : int
        Every subject sees every stimulus once, in a random order.
    rejection : tuple of float
        Beta(a, b) distribution of each subject's share of rejected trials (the default has
        mean 1/3 and puts subjects anywhere between a few and about 70 %); trials are
        rejected independently of their amplitude.
    truth : mapping, optional
        Values replacing entries of :data:`EEG_TRUTH` (same keys), e.g. a null effect
        ``{("", "conditionincongruent"): 0.0}``.
    seed : int

    Returns
    -------
    pandas.DataFrame
        Columns ``subject`` ("s01"...), ``stimulus`` ("w01"..., the first half congruent),
        ``condition`` ("congruent"/"incongruent"), ``trial`` (position in the subject's
        presentation order, from 1), ``amplitude`` (µV, to 0.01). ``attrs["truth"]`` holds
        the values used, ``attrs["formula"]`` and ``attrs["sigma"]`` the matching model.
    """
    truth = {**EEG_TRUTH, **(truth or {})}
    unknown = set(truth) - set(EEG_TRUTH)
    if unknown:
        raise ValueError(f"truth: unknown key(s) {sorted(unknown)}; keys are those of EEG_TRUTH")
    rng = np.random.default_rng(seed)
    n_stimuli = 2 * stimuli_per_condition
    incongruent = np.repeat([0, 1], stimuli_per_condition)
    subject = np.repeat(np.arange(n_subjects), n_stimuli)
    stimulus = np.concatenate([rng.permutation(n_stimuli) for _ in range(n_subjects)])
    trial = np.tile(np.arange(1, n_stimuli + 1), n_subjects)
    u = _subject_effects(rng, n_subjects, truth)
    v = rng.normal(0.0, truth[("stimulus", "sd__(Intercept)")], n_stimuli)
    x = incongruent[stimulus]
    sigma = np.array([truth[("Residual", f"sd__Observation[condition={c}]")]
                      for c in CONDITIONS])[x]
    mean = (truth[("", "(Intercept)")] + truth[("", "conditionincongruent")] * x
            + u[subject, 0] + u[subject, 1] * x + v[stimulus])
    amplitude = mean + rng.normal(0.0, 1.0, len(mean)) * sigma
    kept = rng.random(len(mean)) >= rng.beta(*rejection, n_subjects)[subject]
    frame = pd.DataFrame({
        "subject": [f"s{s + 1:02d}" for s in subject],
        "stimulus": [f"w{w + 1:02d}" for w in stimulus],
        "condition": np.asarray(CONDITIONS)[x],
        "trial": trial,
        "amplitude": amplitude.round(2),
    })[kept].reset_index(drop=True)
    frame.attrs.update(truth=truth, formula=EEG_FORMULA, sigma=EEG_SIGMA)
    return frame
