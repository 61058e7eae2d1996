"""Simulated studies: reproducible with their seed, and their moments match the truth."""

import numpy as np
import pandas as pd
import pytest

import lmm_bayes as lb
from lmm_bayes.simulate import EEG_TRUTH, TRIAL_TRUTH, simulate_eeg, simulate_multicentre_trial

WEEKS = (0, 2, 4, 8, 12)


@pytest.fixture(scope="module")
def big_trial() -> pd.DataFrame:
    return simulate_multicentre_trial(400, 20, seed=5)


def test_fixed_seed_gives_the_same_study():
    shipped = lb.load_dataset("multicentre_trial")
    pd.testing.assert_frame_equal(shipped, simulate_multicentre_trial())
    assert not simulate_multicentre_trial(seed=1).equals(shipped)


def test_design_randomised_within_centres_with_monotone_dropout():
    data = simulate_multicentre_trial()
    assert data.centre.nunique() == 12 and data.patient.nunique() == 192
    arms = data.drop_duplicates("patient").groupby(["centre", "arm"]).size()
    assert (arms == 8).all() and len(arms) == 24  # 8 placebo and 8 active in every centre
    visits = data.groupby("patient").week.apply(tuple)
    assert all(v == WEEKS[:len(v)] for v in visits)  # every patient's visits are a prefix
    assert data.groupby("patient").centre.nunique().max() == 1  # nested in one centre


def test_dropout_rate(big_trial):
    """P(stays for all 5 visits) = 0.92⁴ = 0.7164; 8000 patients: SE 0.005."""
    complete = (big_trial.groupby("patient").size() == len(WEEKS)).mean()
    assert complete == pytest.approx(0.92 ** 4, abs=0.02)


def test_baseline_mean_and_variance(big_trial):
    """At week 0: mean β0 = 150, variance sd_centre² + sd_patient² + σ² = 16 + 100 + 36 = 152."""
    baseline = big_trial[big_trial.week == 0].sbp
    assert baseline.mean() == pytest.approx(150, abs=0.8)  # SE ≈ sqrt(16/400 + 136/8000) = 0.24
    assert baseline.var() == pytest.approx(152, rel=0.07)


def test_mean_slopes_per_arm(big_trial):
    """Least-squares slopes of patients with every visit: mean β1 = -0.2 on placebo and
    β1 + β3 = -0.8 on active (SE ≈ 0.74 / sqrt(2800) = 0.014)."""
    complete = big_trial.groupby("patient").filter(lambda d: len(d) == len(WEEKS))
    weeks = np.array(WEEKS, dtype=float) - np.mean(WEEKS)
    y = complete.sbp.to_numpy().reshape(-1, len(WEEKS))  # rows are in visit order
    slopes = pd.Series(y @ weeks / (weeks @ weeks), index=complete.arm.iloc[::len(WEEKS)])
    means = slopes.groupby(level=0).mean()
    week, extra = TRIAL_TRUTH[("", "week")], TRIAL_TRUTH[("", "week:armactive")]
    assert means["placebo"] == pytest.approx(week, abs=0.06)
    assert means["active"] == pytest.approx(week + extra, abs=0.06)


def test_unknown_data_set_lists_both_kinds():
    with pytest.raises(lb.SpecError, match=r"shipped: \[.*'pastes'.*\], simulated: "
                                           r"\[.*'eeg', 'eqtl', 'hba1c', 'multicentre_trial'.*\]"):
        lb.load_dataset("trial")


# ----------------------------------------------------------------------------- EEG study

NO_RANDOM_EFFECTS = {k: 0.0 for k in EEG_TRUTH if k[1].startswith("sd__(") or
                     k[1] == "sd__conditionincongruent"}


def test_eeg_fixed_seed_and_crossed_design():
    data = lb.load_dataset("eeg")
    pd.testing.assert_frame_equal(data, simulate_eeg())
    assert not simulate_eeg(seed=2).equals(data)
    assert data.subject.nunique() == 24 and data.stimulus.nunique() == 80
    assert (data.groupby("stimulus").condition.nunique() == 1).all()  # stimuli in one condition
    assert data.drop_duplicates("stimulus").condition.value_counts().tolist() == [40, 40]
    assert not data.duplicated(["subject", "stimulus"]).any()  # each stimulus seen once
    assert not data.duplicated(["subject", "trial"]).any() and data.trial.between(1, 80).all()
    kept = data.groupby("subject").size()
    assert kept.max() > 2 * kept.min()  # artefact rejection leaves unbalanced trial counts


def test_eeg_rejection_share_per_subject():
    """Each subject's rejected share is Beta(2, 4): mean 1/3, SD sqrt(8 / (36·7)) = 0.178;
    1000 subjects × 80 trials (SE of the mean share ≈ 0.006)."""
    kept = simulate_eeg(1000, seed=3).groupby("subject").size() / 80
    assert 1 - kept.mean() == pytest.approx(1 / 3, abs=0.02)
    assert kept.std() == pytest.approx(np.sqrt(8 / 252), abs=0.02)


def test_eeg_residual_sd_by_condition():
    """Without random effects each condition's amplitudes are N(β, σ_c²): congruent
    N(2, 7²), incongruent N(2 − 3, 9²); about 13 000 trials per condition."""
    data = simulate_eeg(400, 50, truth=NO_RANDOM_EFFECTS, seed=4)
    stats = data.groupby("condition").amplitude.agg(["mean", "std"])
    assert stats.loc["congruent"].tolist() == pytest.approx([2.0, 7.0], abs=0.15)
    assert stats.loc["incongruent"].tolist() == pytest.approx([-1.0, 9.0], abs=0.2)


def test_eeg_total_variance_by_condition():
    """Var y = τ0² + τ_w² + σ² = 9 + 4 + 49 = 62 (congruent) and τ0² + 2ρτ0τ1 + τ1² + τ_w²
    + σ² = 9 − 2.7 + 2.25 + 4 + 81 = 93.55 (incongruent); 2000 subjects, 200 stimuli per
    condition."""
    variance = simulate_eeg(2000, 200, seed=5).groupby("condition").amplitude.var()
    assert variance["congruent"] == pytest.approx(62.0, rel=0.05)
    assert variance["incongruent"] == pytest.approx(93.55, rel=0.05)


def test_eeg_unknown_truth_key_raises():
    with pytest.raises(ValueError, match="unknown key"):
        simulate_eeg(truth={("", "condition"): 0.0})
