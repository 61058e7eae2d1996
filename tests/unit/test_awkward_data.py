"""Awkward data at the design stage: level names that look like numbers, levels absent from
new data, unknown levels, and values that clash as labels (no sampling)."""

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
