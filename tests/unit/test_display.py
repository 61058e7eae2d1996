"""Tidy number formatting of printed tables, and error settings spelled per front end."""

import numpy as np
import pandas as pd

from lmm_bayes.cli import _spelled
from lmm_bayes.display import format_table, tidy
from lmm_bayes.errors import DesignError, Setting


def test_a_column_gets_one_number_of_decimals():
    shown = tidy(pd.DataFrame({"estimate": [13.9, 7.101, -251.40531]}))
    assert shown["estimate"].tolist() == ["13.900", "7.101", "-251.405"]


def test_a_near_zero_value_does_not_stretch_the_column():
    """Four significant digits of the smallest value, but at most two decimals more than
    the largest value needs: a correlation among variances."""
    shown = tidy(pd.DataFrame({"estimate": [655.123456, 0.0712345, 24.7]}))
    assert shown["estimate"].tolist() == ["655.123", "0.071", "24.700"]
    assert tidy(pd.DataFrame({"x": [1.234e-5, 3.1e-5]}))["x"].tolist() == [
        "0.00001234", "0.00003100"]


def test_counts_whole_text_kept_missing_shown():
    table = pd.DataFrame({"term": ["a", "b"], "ess_bulk": [412.6, 1033.2],
                          "r_hat": [1.0012, np.nan], "n": [3, 4]})
    shown = tidy(table)
    assert shown["ess_bulk"].tolist() == ["413", "1033"]
    assert shown["r_hat"].tolist() == ["1.001", "NaN"]
    assert shown["term"].tolist() == ["a", "b"] and shown["n"].tolist() == [3, 4]
    assert format_table(table).splitlines()[1].split() == ["a", "413", "1.001", "3"]


def test_zero_and_empty_columns():
    assert tidy(pd.DataFrame({"x": [0.0, 0.0]}))["x"].tolist() == ["0", "0"]
    assert tidy(pd.DataFrame({"x": [np.nan]}))["x"].tolist() == ["NaN"]


def test_settings_in_messages_are_python_keywords_for_the_api_toml_or_flags_for_the_cli():
    err = DesignError("missing values; remove them or set ", Setting("na_action", "drop"))
    assert str(err) == "missing values; remove them or set na_action='drop'"
    assert err.spelled(_spelled) == 'missing values; remove them or set na_action = "drop" in [model]'
    err = DesignError("unseen levels; set ", Setting("groups", "new"))
    assert err.spelled(_spelled) == "unseen levels; set --groups new"
    assert str(DesignError("no settings {here}")) == "no settings {here}"
