"""Unit tests of lmm_bayes.longitudinal: lags aware of missed visits, person-mean centring."""

import numpy as np
import pandas as pd
import pytest

import lmm_bayes as lb
from lmm_bayes.errors import DesignError


@pytest.fixture()
def visits() -> pd.DataFrame:
    """Two people, rows shuffled; person a misses visit 2, person b starts at visit 1."""
    return pd.DataFrame({
        "id": ["b", "a", "a", "b", "a", "a"],
        "visit": [2, 3, 0, 1, 1, 4],
        "x": [20.0, 13.0, 10.0, 21.0, 11.0, 14.0],
        "y": [1.0, 2.0, 3.0, np.nan, 5.0, 6.0],
    }, index=[10, 11, 12, 13, 14, 15])


def test_lag_is_the_same_persons_value_one_visit_earlier(visits):
    out = lb.add_lags(visits, ["x", "y"], group="id", time="visit")
    # by hand: a has visits 0, 1, 3, 4 (x 10, 11, 13, 14); b has 1, 2 (x 21, 20)
    expected_x = {10: 21.0, 11: np.nan, 12: np.nan, 13: np.nan, 14: 10.0, 15: 13.0}
    np.testing.assert_array_equal(out["x_lag1"], pd.Series(expected_x)[out.index])
    # y of b at visit 1 is missing, so b's visit-2 lag of y is missing too
    assert np.isnan(out.loc[10, "y_lag1"]) and out.loc[14, "y_lag1"] == 3.0
    pd.testing.assert_frame_equal(out[visits.columns], visits)  # rows, order and index kept


def test_second_lag_reaches_two_visits_back_not_two_rows(visits):
    out = lb.add_lags(visits, "x", group="id", time="visit", lags=2)
    assert list(out.columns[-2:]) == ["x_lag1", "x_lag2"]
    # a at visit 3: visit 1 exists (11); a at visit 4: visit 2 is missed -> NaN
    assert out.loc[11, "x_lag2"] == 11.0 and np.isnan(out.loc[15, "x_lag2"])
    assert np.isnan(out.loc[10, "x_lag2"])  # b at visit 2: visit 0 not in the data


def test_add_lags_does_not_change_its_input(visits):
    before = visits.copy()
    lb.add_lags(visits, "x", group="id", time="visit")
    pd.testing.assert_frame_equal(visits, before)


@pytest.mark.parametrize("change, message", [
    (lambda d: d.assign(visit=d["visit"] + 0.5), r"whole-number.*6 row.*position 0: 2.5"),
    (lambda d: d.assign(visit=[2, 3, 0, 2, 1, 4]),
     r"id 'b' has more than one row at visit = 2 \(row position 3\)"),
    (lambda d: d.drop(columns="x"), r"\['x'\] not found"),
])
def test_add_lags_errors_name_the_problem(visits, change, message):
    with pytest.raises(DesignError, match=message):
        lb.add_lags(change(visits), "x", group="id", time="visit")


def test_add_lags_needs_a_positive_number_of_lags(visits):
    with pytest.raises(DesignError, match="lags must be a positive whole number"):
        lb.add_lags(visits, "x", group="id", time="visit", lags=0)
    with pytest.raises(DesignError, match=r"\['day'\] not found"):
        lb.add_lags(visits, "x", group="id", time="day")


def test_within_between_splits_into_person_mean_and_deviation(visits):
    out = lb.within_between(visits, ["x", "y"], group="id")
    # a: x 13, 10, 11, 14 -> mean 12; b: 20, 21 -> 20.5
    np.testing.assert_allclose(out["x_between"], [20.5, 12, 12, 20.5, 12, 12])
    np.testing.assert_allclose(out["x_within"], [-0.5, 1, -2, 0.5, -1, 2])
    # the missing y of b stays missing; b's mean is its one observed y
    assert np.isnan(out.loc[13, "y_within"]) and np.isnan(out.loc[13, "y_between"])
    assert out.loc[10, "y_between"] == 1.0 and out.loc[10, "y_within"] == 0.0
    np.testing.assert_allclose(out["x_between"] + out["x_within"], visits["x"])


def test_within_between_refuses_text_columns(visits):
    with pytest.raises(DesignError, match="numeric columns; 'id'"):
        lb.within_between(visits, "id", group="id")
