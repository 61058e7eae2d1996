"""Awkward data at the design stage: level names that look like numbers, levels absent from
new data, unknown levels, values that clash as labels, dates and durations (no sampling)."""

import numpy as np
import pandas as pd
import pytest

import lmm_bayes as lb
from lmm_bayes.design import evaluate_covariates


@pytest.fixture(scope="module")
def coded():
    """A factor whose level names are numbers written differently: '01', '1', '001'."""
    data = pd.DataFrame({"y": np.arange(12.0) ** 1.3, "f": ["01", "1", "001"] * 4,
                         "g": ["a", "b", "c", "d"] * 3, "x": np.linspace(0, 1, 12)})
    return data, lb.LMM("y ~ x + f + (1 | g)", data)


def test_number_like_levels_stay_distinct(coded):
    data, model = coded
    # text sorts '001' < '01' < '1'; '001' is the reference level
    assert model.design.fixed_names == ("(Intercept)", "x", "f01", "f1")
    X = model.design.X
    np.testing.assert_array_equal(X[:, 2], (data.f == "01").to_numpy(float))
    np.testing.assert_array_equal(X[:, 3], (data.f == "1").to_numpy(float))


def test_number_like_grouping_levels_keep_their_labels():
    data = pd.DataFrame({"y": np.arange(8.0) ** 1.5, "g": ["01", "1", "10", "010"] * 2})
    group = lb.LMM("y ~ 1 + (1 | g)", data).design.group("g")
    assert group.levels == ("01", "010", "1", "10")
    assert [group.levels[i] for i in group.index] == list(data.g)


def test_levels_absent_from_new_data_keep_their_columns(coded):
    _, model = coded
    new = pd.DataFrame({"x": [0.5, 0.25], "f": ["1", "1"]})  # '01' and '001' absent
    X, Z = evaluate_covariates(model.design, new)
    np.testing.assert_array_equal(X, [[1, 0.5, 0, 1], [1, 0.25, 0, 1]])
    np.testing.assert_array_equal(Z["g"], [[1.0], [1.0]])


def test_unknown_level_in_new_data_is_an_error_not_the_reference(coded):
    _, model = coded
    with pytest.raises(lb.DesignError, match=r"'f' has level\(s\) \['2'\] that were not in the "
                       r"fitted data, in 1 row\(s\) \(first at row position 1\); known levels: "
                       r"\['001', '01', '1'\]"):
        evaluate_covariates(model.design, pd.DataFrame({"x": [0.0, 0.0], "f": ["1", "2"]}))


def test_number_and_text_of_one_label_clash():
    data = pd.DataFrame({"y": np.arange(6.0) ** 1.2, "f": [1, "1", "2"] * 2,
                         "g": ["a", "b", "c"] * 2})
    with pytest.raises(lb.DesignError, match=r"'f' mixes values that read as the same level \['1'\]"):
        lb.LMM("y ~ f + (1 | g)", data)


# ----------------------------------------------------------------------------- dates and durations

VISITS = pd.DataFrame({
    "y": [1.0, 2.5, 2.0, 4.0, 3.5, 5.0],
    "when": pd.to_datetime(["2024-03-03", "2024-03-01", "2024-03-05 12:00", "2024-03-02",
                            "2024-03-04", "2024-03-07"], format="ISO8601"),
    "gap": pd.to_timedelta([6, 12, 18, 24, 36, 48], unit="h"),
    "g": ["a", "a", "b", "b", "c", "c"],
})


@pytest.fixture(scope="module")
def dated():
    return lb.LMM("y ~ when + gap + (1 | g)", VISITS)


def test_dates_count_days_from_the_earliest_fitting_date(dated):
    design = dated.design
    assert design.fixed_names == ("(Intercept)", "when", "gap")   # one slope, not a dummy per date
    np.testing.assert_allclose(design.X[:, 1], [2, 0, 4.5, 1, 3, 6])
    np.testing.assert_allclose(design.X[:, 2], [0.25, 0.5, 0.75, 1, 1.5, 2])
    assert design.schema.origins == {"when": pd.Timestamp("2024-03-01")}
    assert design.schema.numeric["when"] == "datetime"


def test_new_dates_are_counted_from_the_fitting_origin(dated):
    """Not from the new data's own earliest date; a zoned date is taken in UTC."""
    new = pd.DataFrame({"when": pd.to_datetime(["2024-03-11 00:00"]).tz_localize("Europe/Paris"),
                        "gap": pd.to_timedelta(["1 day"])})
    X, _ = evaluate_covariates(dated.design, new)
    np.testing.assert_allclose(X, [[1.0, 9 + 23 / 24, 1.0]])  # Paris midnight is 23:00 UTC


@pytest.mark.parametrize("column, value, message", [
    ("when", "2024-03-11", (r"'when' was a date in the fitted data but is text in the new data "
                           r"\(row 0: '2024-03-11'\)")),
    ("gap", 1.0, r"'gap' was a duration in the fitted data but is numeric in the new data"),
])
def test_dates_and_durations_of_another_type_in_new_data_are_refused(dated, column, value,
                                                                      message):
    new = pd.DataFrame({"when": pd.to_datetime(["2024-03-11"]), "gap": pd.to_timedelta(["1h"])})
    with pytest.raises(lb.DesignError, match=message):
        evaluate_covariates(dated.design, new.assign(**{column: [value]}))


def test_dates_listed_as_factors_stay_categories():
    design = lb.LMM("y ~ when + (1 | g)", VISITS.iloc[:4], factors=["when"]).design
    assert design.fixed_names == ("(Intercept)", "when2024-03-02 00:00:00",
                                  "when2024-03-03 00:00:00", "when2024-03-05 12:00:00")
