"""Calibration table and time-dependent AUC of dynamic predictions against hand computations."""

import numpy as np
import pandas as pd
import pytest

import lmm_bayes as lb
from lmm_bayes.summaries import calibration_table, time_dependent_auc

# landmark s = 1, window Δt = 2 (end 3). A: event before s (left out); B, D: cases;
# C: censored in the window (neither); E, F: controls (event-free at 3).
#                      A    B    C    D    E    F
PROBABILITY = np.array([0.7, 0.6, 0.9, 0.4, 0.5, 0.2])
EVENT_TIME = np.array([0.5, 1.5, 2.0, 2.5, 4.0, 5.0])
EVENT = np.array([1, 1, 0, 1, 0, 1])


def test_auc_weights_cases_by_inverse_probability_of_censoring():
    # censoring KM from s: C censored at 2.0 with 4 at risk (C, D, E, F): G(2.5−) = 3/4.
    # B (w = 1) beats E and F; D (w = 4/3) beats F only:
    # (1·2 + 4/3·1) / ((1 + 4/3)·2) = 5/7
    assert time_dependent_auc(PROBABILITY, EVENT_TIME, EVENT, 1.0, 2.0) == pytest.approx(5 / 7)


def test_auc_without_censoring_is_the_share_of_concordant_pairs():
    event = np.array([1, 1, 1, 1, 0, 1])     # C an event: cases B, C, D vs controls E, F
    # B: 2, C: 2, D: 1 of 6 pairs
    assert time_dependent_auc(PROBABILITY, EVENT_TIME, event, 1.0, 2.0) == pytest.approx(5 / 6)


@pytest.mark.parametrize(("probability", "expected"), [
    ([0.9, 0.8, 0.2, 0.1], 1.0), ([0.1, 0.2, 0.8, 0.9], 0.0), ([0.5] * 4, 0.5),
    ([0.9, 0.3, 0.3, 0.1], 0.875),            # one tie among 4 pairs: (3 + 0.5) / 4
])
def test_auc_of_perfect_reversed_and_tied_rankings(probability, expected):
    # two cases (times 1, 2) and two controls (event-free at 3), landmark 0, window 3
    auc = time_dependent_auc(probability, [1.0, 2.0, 4.0, 5.0], [1, 1, 0, 1], 0.0, 3.0)
    assert auc == pytest.approx(expected)


def test_calibration_table_by_hand():
    table = calibration_table(PROBABILITY, EVENT_TIME, EVENT, 1.0, 2.0, bins=2)
    # at risk at s: B, C, D, E, F; by prediction: (F .2, D .4, E .5) and (B .6, C .9).
    # group 1: D's event at 2.5 with 3 at risk: 1 − 2/3; group 2: B's at 1.5 with 2 at
    # risk, then C censored: 1 − 1/2 (the share with an event would be the same, 1/2)
    expected = pd.DataFrame({"bin": [1, 2], "n": [3, 2], "events": [1, 1], "censored": [0, 1],
                             "predicted": [1.1 / 3, 0.75], "observed": [1 / 3, 0.5]})
    pd.testing.assert_frame_equal(table, expected)


def test_calibration_kaplan_meier_differs_from_the_share_when_censored_early():
    # one bin: events at 1.5 (5 at risk) and 2.5 (3 at risk, after a censoring at 2.0):
    # 1 − (4/5)(2/3) = 7/15, not 2/5
    table = calibration_table(PROBABILITY, EVENT_TIME, EVENT, 1.0, 2.0, bins=1)
    assert table.observed[0] == pytest.approx(7 / 15)
    assert table.predicted[0] == pytest.approx(2.6 / 5)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"probability": [0.1, 0.2]}, "one value per individual"),
    ({"probability": [1.2] * 6}, r"\[0, 1\]"),
    ({"event": [2] * 6}, "1 \\(event\\) or 0"),
    ({"landmark": 10.0}, "no individual is event-free"),
    ({"horizon": 0.0}, "horizon must be positive"),
    ({"horizon": "2"}, "horizon must be a finite number"),
    ({"event_time": [np.nan] * 6}, "event_time has missing"),
])
def test_bad_input_is_named(kwargs, message):
    args = {"probability": PROBABILITY, "event_time": EVENT_TIME, "event": EVENT,
            "landmark": 1.0, "horizon": 2.0} | kwargs
    with pytest.raises(lb.DesignError, match=message):
        time_dependent_auc(**args)
    with pytest.raises(lb.DesignError, match=message):
        calibration_table(**args)


def test_auc_needs_cases_and_controls_and_the_table_enough_individuals():
    with pytest.raises(lb.DesignError, match="cases .* and controls"):
        time_dependent_auc(PROBABILITY, EVENT_TIME, EVENT, 1.0, 10.0)
    with pytest.raises(lb.DesignError, match="use fewer bins"):
        calibration_table(PROBABILITY, EVENT_TIME, EVENT, 1.0, 2.0, bins=6)
    with pytest.raises(lb.DesignError, match="bins must be"):
        calibration_table(PROBABILITY, EVENT_TIME, EVENT, 1.0, 2.0, bins=0)
