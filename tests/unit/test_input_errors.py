"""Malformed input at construction: each raises the package's own error naming the column,
term, option or prior at fault, never a pandas, numpy or xarray error (no sampling)."""

import numpy as np
import pandas as pd
import pytest

import lmm_bayes as lb
from lmm_bayes.design import evaluate_covariates

RNG = np.random.default_rng(0)
DATA = pd.DataFrame({"y": RNG.normal(50, 5, 24), "x": RNG.normal(size=24),
                     "a": RNG.normal(size=24), "b": RNG.normal(size=24),
                     "g": np.repeat(list("abcdef"), 4), "period": np.tile([1, 2, 3, 4], 6)})


def test_duplicated_column_names_are_named():
    data = pd.concat([DATA, DATA[["x", "g"]]], axis=1)
    with pytest.raises(lb.DesignError, match=r"more than one column named \['x', 'g'\]"):
        lb.LMM("y ~ x + (1 | g)", data)


def test_duplicated_columns_in_new_data_are_named():
    model = lb.LMM("y ~ x + (1 | g)", DATA)
    with pytest.raises(lb.DesignError, match=r"more than one column named \['x'\]"):
        evaluate_covariates(model.design, pd.concat([DATA, DATA[["x"]]], axis=1))


def test_column_named_like_an_interaction_clashes_with_it():
    data = DATA.assign(**{"a:b": RNG.normal(size=24)})
    with pytest.raises(lb.DesignError, match="two effects are both named 'a:b': the variable "
                       "'a:b' and the interaction of 'a' and 'b'; rename the column"):
        lb.LMM("y ~ `a:b` + a*b + (1 | g)", data)


def test_column_named_like_a_level_clashes_with_it():
    data = DATA.assign(arm=np.tile(["A", "B"], 12), armB=RNG.normal(size=24))
    with pytest.raises(lb.DesignError, match="two effects are both named 'armB'"):
        lb.LMM("y ~ arm + armB + (1 | g)", data)


@pytest.mark.parametrize("rows, na_action, message", [
    (1, "raise", r"the data have 1 row\(s\); a model needs at least 2"),
    (3, "drop", (r"the data have 1 row\(s\) \(of 3 given, after dropping rows with missing "
                 r"values\); a model needs at least 2")),
])
def test_too_few_rows(rows, na_action, message):
    data = DATA.iloc[:rows].copy()
    data.loc[1:, "y"] = np.nan
    with pytest.raises(lb.DesignError, match=message):
        lb.LMM("y ~ x", data, na_action=na_action)


@pytest.mark.parametrize("column, factor, message", [
    ("y", 1e300, (r"the response 'y' has values as large as \d\.\d+e\+301, .* rescale it \(a "
                  r"change of units\), e.g. multiply it by 1e-30[12]")),
    ("y", 1e-300, (r"the response 'y' has a standard deviation of \d\.\d+e-300, .* multiply "
                   r"it by 1e\+(299|300)$")),
    ("x", 1e200, r"the fixed-effect column 'x' has values as large as"),
])
def test_values_beyond_floating_point_name_the_column_and_scale(column, factor, message):
    data = DATA.assign(**{column: DATA[column] * factor})
    with pytest.raises(lb.DesignError, match=message):
        lb.LMM("y ~ x + (1 | g)", data)


def test_factors_may_be_one_name():
    model = lb.LMM("y ~ period + (1 | g)", DATA, factors="period")
    assert model.spec.factors == ("period",)
    assert model.design.fixed_names == ("(Intercept)", "period2", "period3", "period4")


@pytest.mark.parametrize("options, error, message", [
    ({"factors": "perod"}, lb.DesignError, r"factors \['perod'\] are not columns"),
    ({"factors": 5}, lb.SpecError, "factors must be a column name or a list of them, not 5"),
    ({"factors": ["period", 2]}, lb.SpecError, r"factors must be column names \(text\); \[2\]"),
    ({"reference": "x"}, lb.SpecError, ("reference must map column names to their reference "
                                        "level, e.g. {'arm': 'placebo'}, not 'x'")),
    ({"reference": {"g": [1]}}, lb.SpecError, r"reference must map .*\{'g': \[1\]\} do not"),
    ({"priors": "sigma"}, lb.PriorError, "priors must map keys to priors"),
    ({"na_action": "skip"}, lb.SpecError, (r"na_action must be one of \['raise', 'drop'\], "
                                           "not 'skip'")),
])
def test_options_of_the_wrong_type(options, error, message):
    with pytest.raises(error, match=message):
        lb.LMM("y ~ period + (1 | g)", DATA, **options)


def test_formula_that_is_not_text():
    with pytest.raises(lb.SpecError, match=r"the formula must be text, not int \(5\)"):
        lb.LMM(5, DATA)


@pytest.mark.parametrize("params, message", [
    ({"mu": "a", "sigma": 1}, "parameter mu='a' of the normal prior must be a number, not str"),
    ({"mu": True, "sigma": 1}, "parameter mu=True of the normal prior must be a number"),
    ({"mu": 0, "sigma": [1]}, r"parameter sigma=\[1\] of the normal prior must be a number"),
])
def test_prior_parameters_must_be_numbers(params, message):
    with pytest.raises(lb.PriorError, match=message):
        lb.Prior("normal", **params)


def test_prior_family_must_be_a_name():
    with pytest.raises(lb.PriorError, match=r"unknown prior family \['normal'\]"):
        lb.Prior(["normal"], mu=0, sigma=1)
