"""The simulated studies of the multivariate examples: reproducible, and shaped as stated."""

import numpy as np
import pandas as pd

import lmm_bayes as lb
from lmm_bayes.simulate import simulate_crosslag, simulate_daily_symptoms, simulate_symptoms_il6


def test_fixed_seeds_give_the_same_studies_through_load_dataset():
    pd.testing.assert_frame_equal(lb.load_dataset("crosslag"), simulate_crosslag())
    assert not simulate_crosslag(seed=1).equals(simulate_crosslag())


def test_symptoms_il6_misses_cells_but_never_a_whole_row():
    data = simulate_symptoms_il6(n_patients=2000)
    missing = data[["depression", "il6"]].isna()
    assert not missing.all(axis=1).any()
    # P(missing | row kept) = 0.15 · 0.85 / (1 − 0.15²) for each outcome
    np.testing.assert_allclose(missing.mean(), 0.15 * 0.85 / (1 - 0.15**2), atol=0.01)


def test_crosslag_baseline_always_seen_and_follow_ups_missed_at_the_rate():
    data = simulate_crosslag(n_people=1000)
    per_visit = data.groupby("visit").size() / 1000
    assert per_visit[0] == 1.0
    np.testing.assert_allclose(per_visit[1:], 0.9, atol=0.03)


def test_daily_symptoms_il6_splits_into_the_stated_sds():
    data = lb.within_between(simulate_daily_symptoms(n_patients=2000), "il6", group="id")
    people = data.drop_duplicates("id")
    np.testing.assert_allclose(people["il6_between"].std(), 0.7, rtol=0.05)
    np.testing.assert_allclose(data["il6_within"].std(), 1.0 * np.sqrt(13 / 14), rtol=0.03)
