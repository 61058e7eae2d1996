"""Unit tests of the design stage (lmm_bayes.design, lmm_bayes.variables).

Expected matrices are written out by hand from the small data frames below, following R's
``model.matrix`` rules: treatment contrasts (first level dropped) for a categorical variable
when the term without it is empty or contained in a preceding term, indicator columns
(every level) otherwise; without an intercept, the first categorical variable gets every
level; in an interaction the first variable varies fastest.
"""

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lmm_bayes.design import build_design
from lmm_bayes.errors import DesignError
from lmm_bayes.formula import parse_formula
from lmm_bayes.variables import DataSchema, VariableEvaluator, level_label

DATA = Path(__file__).parents[3] / "shared" / "data"


def design(text, data, **kwargs):
    return build_design(parse_formula(text), data, **kwargs)


def design_error(text, data, **kwargs) -> str:
    with pytest.raises(DesignError) as info:
        design(text, data, **kwargs)
    return str(info.value)


def csv(name: str) -> pd.DataFrame:
    path = DATA / f"{name}.csv"
    if not path.is_file():
        pytest.skip(f"{path} not available")
    return pd.read_csv(path)


@pytest.fixture
def df():
    """Six rows: f = a b c a b c, g = u u u v v v, so (f, g) runs through every cell once."""
    return pd.DataFrame({
        "y": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        "f": list("abcabc"),
        "g": list("uuuvvv"),
        "x": [1.0, 2.0, 3.0, 5.0, 8.0, 13.0],
    })


# ----------------------------------------------------------------------------- fixed effects

X = np.array([1.0, 2.0, 3.0, 5.0, 8.0, 13.0])  # df.x
FA, FB, FC = (np.array([1.0, 0, 0, 1, 0, 0]), np.array([0.0, 1, 0, 0, 1, 0]),
              np.array([0.0, 0, 1, 0, 0, 1]))
GU, GV = np.array([1.0, 1, 1, 0, 0, 0]), np.array([0.0, 0, 0, 1, 1, 1])
ONE = np.ones(6)


@pytest.mark.parametrize(
    "text, names, columns",
    [
        ("y ~ x", ["(Intercept)", "x"], [ONE, X]),
        ("y ~ 0 + x", ["x"], [X]),
        ("y ~ f", ["(Intercept)", "fb", "fc"], [ONE, FB, FC]),
        ("y ~ 0 + f", ["fa", "fb", "fc"], [FA, FB, FC]),
        ("y ~ f - 1", ["fa", "fb", "fc"], [FA, FB, FC]),
        ("y ~ x:f", ["(Intercept)", "x:fa", "x:fb", "x:fc"], [ONE, X * FA, X * FB, X * FC]),
        ("y ~ f:x", ["(Intercept)", "fa:x", "fb:x", "fc:x"], [ONE, X * FA, X * FB, X * FC]),
        ("y ~ x*f", ["(Intercept)", "x", "fb", "fc", "x:fb", "x:fc"],
         [ONE, X, FB, FC, X * FB, X * FC]),
        ("y ~ x + x:f", ["(Intercept)", "x", "x:fb", "x:fc"], [ONE, X, X * FB, X * FC]),
        ("y ~ x + f:x", ["(Intercept)", "x", "x:fb", "x:fc"], [ONE, X, X * FB, X * FC]),
        ("y ~ g + f:x", ["(Intercept)", "gv", "fa:x", "fb:x", "fc:x"],
         [ONE, GV, X * FA, X * FB, X * FC]),
        ("y ~ f*g", ["(Intercept)", "fb", "fc", "gv", "fb:gv", "fc:gv"],
         [ONE, FB, FC, GV, FB * GV, FC * GV]),
        ("y ~ g*f", ["(Intercept)", "gv", "fb", "fc", "gv:fb", "gv:fc"],
         [ONE, GV, FB, FC, GV * FB, GV * FC]),
        ("y ~ 0 + f + g", ["fa", "fb", "fc", "gv"], [FA, FB, FC, GV]),
        ("y ~ 0 + x + f", ["x", "fa", "fb", "fc"], [X, FA, FB, FC]),
        ("y ~ 0 + g*f", ["gu", "gv", "fb", "fc", "gv:fb", "gv:fc"],
         [GU, GV, FB, FC, GV * FB, GV * FC]),
        ("y ~ I(x^2) + np.log(x)", ["(Intercept)", "I(x^2)", "np.log(x)"],
         [ONE, X**2, np.log(X)]),
    ],
)
def test_fixed_matrix(df, text, names, columns):
    d = design(text, df)
    assert d.fixed_names == tuple(names)
    np.testing.assert_array_equal(d.X, np.column_stack(columns))


def test_interaction_first_factor_varies_fastest(df):
    """Rows of df run through (a,u) (b,u) (c,u) (a,v) (b,v) (c,v): with f varying fastest
    in R's column order, the indicator matrix of f:g is the identity."""
    d = design("y ~ 0 + f:g", df)
    assert d.fixed_names == ("fa:gu", "fb:gu", "fc:gu", "fa:gv", "fb:gv", "fc:gv")
    np.testing.assert_array_equal(d.X, np.eye(6))


def test_margin_in_a_preceding_term_gives_contrasts():
    """``0 + a:b + a:c`` with 2-level factors. Term a:b: a gets indicators (no intercept,
    first factor), b too ({a} is in no preceding term). Term a:c: a gets indicators ({c} is
    in no preceding term), c gets contrasts ({a} is contained in the preceding a:b)."""
    data = pd.DataFrame({
        "y": np.arange(8.0),
        "a": list("pqpqpqpq"), "b": list("rrssrrss"), "c": list("ttttuuuu"),
    })
    d = design("y ~ 0 + a:b + a:c", data)
    assert d.fixed_names == ("ap:br", "aq:br", "ap:bs", "aq:bs", "ap:cu", "aq:cu")
    np.testing.assert_array_equal(d.X, np.array([
        [1, 0, 0, 0, 0, 0],
        [0, 1, 0, 0, 0, 0],
        [0, 0, 1, 0, 0, 0],
        [0, 0, 0, 1, 0, 0],
        [1, 0, 0, 0, 1, 0],
        [0, 1, 0, 0, 0, 1],
        [0, 0, 1, 0, 1, 0],
        [0, 0, 0, 1, 0, 1],
    ], dtype=float))


def test_response_and_counts(df):
    d = design("y ~ x", df)
    np.testing.assert_array_equal(d.y, [1, 2, 3, 4, 5, 6])
    assert (d.n_obs, d.n_rows_given, d.n_dropped) == (6, 6, 0)
    np.testing.assert_array_equal(d.rows, np.arange(6))
    assert d.groups == ()


def test_response_expression(df):
    np.testing.assert_allclose(design("np.log(y) ~ x", df).y, np.log([1, 2, 3, 4, 5, 6]))


def test_backquoted_column_names():
    data = pd.DataFrame({"my y": [1.0, 2, 3, 4], "my x": [0.0, 1, 0, 2]})
    d = design("`my y` ~ `my x`", data)
    assert d.fixed_names == ("(Intercept)", "my x")
    np.testing.assert_array_equal(d.X[:, 1], [0, 1, 0, 2])


@pytest.mark.parametrize(
    "kwargs, names, ref_column",
    [
        ({}, ("(Intercept)", "SexMale"), [1, 0, 1, 0]),  # Female < Male: Female is reference
        ({"reference": {"Sex": "Male"}}, ("(Intercept)", "SexFemale"), [0, 1, 0, 1]),
    ],
)
def test_reference_level(kwargs, names, ref_column):
    data = pd.DataFrame({"y": [1.0, 2, 3, 4], "Sex": ["Male", "Female", "Male", "Female"]})
    d = design("y ~ Sex", data, **kwargs)
    assert d.fixed_names == names
    np.testing.assert_array_equal(d.X[:, 1], ref_column)


def test_reference_level_puts_it_first(df):
    d = design("y ~ f", df, reference={"f": "c"})
    assert d.fixed_names == ("(Intercept)", "fa", "fb")
    assert d.schema.levels["f"] == ("c", "a", "b")


def test_unknown_reference_level(df):
    assert design_error("y ~ f", df, reference={"f": "z"}) == (
        "reference level 'z' of 'f' is not in the data; levels are ['a', 'b', 'c']"
    )


def test_factors_option_codes_numbers_as_levels():
    """period 1..3 (stored as floats) treated as categorical: columns period2, period3,
    levels sorted numerically (10 after 2) and labelled without '.0'."""
    data = pd.DataFrame({"y": np.arange(6.0), "period": [1.0, 2.0, 10.0, 1.0, 2.0, 10.0]})
    d = design("y ~ period", data, factors=["period"])
    assert d.fixed_names == ("(Intercept)", "period2", "period10")
    np.testing.assert_array_equal(d.X[:, 1:], [[0, 0], [1, 0], [0, 1], [0, 0], [1, 0], [0, 1]])
    d = design("y ~ period", data, factors=["period"], reference={"period": 10})
    assert d.fixed_names == ("(Intercept)", "period1", "period2")


def test_numeric_column_without_factors_is_a_slope():
    data = pd.DataFrame({"y": np.arange(4.0), "period": [1, 2, 3, 4]})
    assert design("y ~ period", data).fixed_names == ("(Intercept)", "period")


def test_C_makes_a_factor():
    data = pd.DataFrame({"y": np.arange(6.0), "p": [1, 2, 3, 1, 2, 3]})
    d = design("y ~ C(p)", data)
    assert d.fixed_names == ("(Intercept)", "C(p)2", "C(p)3")
    np.testing.assert_array_equal(d.X[:, 1:], [[0, 0], [1, 0], [0, 1], [0, 0], [1, 0], [0, 1]])


def test_unknown_factors_column(df):
    assert design_error("y ~ x", df, factors=["nope"]) == (
        "factors ['nope'] are not columns of the data"
    )


def test_categorical_category_order_respected():
    """Categories low < mid < high (not alphabetical high < low < mid); the unused
    category 'none' is dropped."""
    dose = pd.Categorical(["high", "low", "mid", "low"],
                          categories=["none", "low", "mid", "high"])
    data = pd.DataFrame({"y": [1.0, 2, 3, 4], "dose": dose})
    d = design("y ~ dose", data)
    assert d.fixed_names == ("(Intercept)", "dosemid", "dosehigh")
    np.testing.assert_array_equal(d.X[:, 1:], [[0, 1], [0, 0], [1, 0], [0, 0]])


def test_boolean_column_is_categorical():
    """R codes a logical column as a factor with levels FALSE < TRUE: column flagTRUE."""
    data = pd.DataFrame({"y": [1.0, 2, 3, 4], "flag": [True, False, True, False]})
    d = design("y ~ flag", data)
    assert d.fixed_names == ("(Intercept)", "flagTRUE")
    np.testing.assert_array_equal(d.X[:, 1], [1, 0, 1, 0])


# ----------------------------------------------------------------------------- transforms


def test_center_and_scale_values_and_schema():
    """x = 0, 2, 4, 6: mean 3, sd (n - 1 divisor, as R's scale) sqrt(20/3)."""
    data = pd.DataFrame({"y": [1.0, 2, 3, 5], "x": [0.0, 2, 4, 6]})
    sd = np.sqrt(20 / 3)
    d = design("y ~ center(x)", data)
    np.testing.assert_allclose(d.X[:, 1], [-3, -1, 1, 3])
    assert d.schema.transforms == {"center(x)#0": (3.0, 1.0)}
    d = design("y ~ scale(x)", data)
    np.testing.assert_allclose(d.X[:, 1], np.array([-3, -1, 1, 3]) / sd)
    assert d.schema.transforms["scale(x)#0"] == pytest.approx((3.0, sd))


def test_two_transforms_in_one_term_are_numbered():
    """I(center(x) * scale(z)): the k-th call in the term is stored under '#k'.
    x = 1, 2, 3: mean 2; z = 0, 2, 4: mean 2, sd 2."""
    data = pd.DataFrame({"x": [1.0, 2, 3], "z": [0.0, 2, 4]})
    ev = VariableEvaluator(data)
    var = ev.variable("I(center(x)*scale(z))")
    np.testing.assert_allclose(var.values, [1.0, 0.0, 1.0])
    assert ev.learnt_schema().transforms == {"I(center(x)*scale(z))#0": (2.0, 1.0),
                                            "I(center(x)*scale(z))#1": (2.0, 2.0)}


def test_schema_reuses_constants_on_new_data():
    """Constants from x = 0, 2, 4 (mean 2, sd 2), applied to new x = 6, 0: center gives
    4, -2 and scale gives 2, -1 (not the new data's own mean 3 and sd)."""
    fitting = VariableEvaluator(pd.DataFrame({"x": [0.0, 2, 4], "f": ["b", "a", "c"]}))
    fitting.variable("center(x)")
    fitting.variable("scale(x)")
    fitting.variable("f")
    schema = fitting.learnt_schema()
    assert schema == DataSchema({"f": ("a", "b", "c")},
                                {"center(x)#0": (2.0, 1.0), "scale(x)#0": (2.0, 2.0)},
                                {"center(x)": "number", "scale(x)": "number"})
    new = VariableEvaluator(pd.DataFrame({"x": [6.0, 0.0], "f": ["c", "a"]}), schema=schema)
    np.testing.assert_allclose(new.variable("center(x)").values, [4.0, -2.0])
    np.testing.assert_allclose(new.variable("scale(x)").values, [2.0, -1.0])
    f = new.variable("f")
    assert f.levels == ("a", "b", "c")
    np.testing.assert_array_equal(f.values, [2, 0])
    assert new.learnt_schema().transforms == schema.transforms
    unseen = VariableEvaluator(pd.DataFrame({"f": ["c", "z"]}), schema=schema)
    with pytest.raises(DesignError, match=r"'f' has level\(s\) \['z'\] that were not in the fitted"):
        unseen.variable("f")


def test_scale_of_a_constant(df):
    assert design_error("y ~ scale(c)", df.assign(c=2.0)) == (
        "scale() in 'scale(c)' divides by a standard deviation of zero"
    )


@pytest.mark.parametrize(
    "term, count, first",
    [("np.log(x - 1)", 1, 0),  # x = 1 at position 0: log(0)
     ("np.sqrt(x - 4)", 3, 0),  # x = 1, 2, 3: sqrt of a negative number
     ("I(1 / (x - 8))", 1, 4)],  # x = 8 at position 4
)
def test_non_finite_transform_names_the_term(df, term, count, first):
    label = term.replace(" ", "")
    assert design_error(f"y ~ {term}", df) == (
        f"the formula term {label!r} is not finite in {count} row(s) (first at position {first})"
    )


def test_expression_with_unknown_name(df):
    assert design_error("y ~ I(x*w)", df) == (
        "the formula term 'I(x*w)' refers to 'w', which is not a column of the data "
        "(columns: ['y', 'f', 'g', 'x'])"
    )


# ----------------------------------------------------------------------------- data checks


@pytest.mark.parametrize(
    "text, missing",
    [("y ~ z", "z"), ("z ~ x", "z"), ("y ~ x + (1 | h)", "h"), ("y ~ x + (1 + z | g)", "z"),
     ("y ~ x + (1 | g/h)", "h")],
)
def test_missing_column(df, text, missing):
    assert design_error(text, df) == (
        f"column {missing!r} not found in the data (columns: ['y', 'f', 'g', 'x'])"
    )


@pytest.fixture
def holes(df):
    """df with NaN: y at row 1, x at row 4, f at row 5 (None), g at rows 4 and 5."""
    data = df.copy()
    data.loc[1, "y"] = np.nan
    data.loc[4, "x"] = np.nan
    data.loc[5, "f"] = None
    data.loc[[4, 5], "g"] = np.nan
    return data


@pytest.mark.parametrize(
    "text, counts, first",
    [
        ("y ~ 1", "'y': 1", 1),
        ("x ~ 1", "'x': 1", 4),
        ("y ~ x", "'y': 1, 'x': 1", 1),
        ("x ~ f", "'x': 1, 'f': 1", 4),
        ("x ~ 1 + (1 | g)", "'x': 1, 'g': 2", 4),
        ("y ~ f + (1 | g)", "'y': 1, 'f': 1, 'g': 2", 1),
        ("y ~ np.log(x)", "'y': 1, 'x': 1", 1),
    ],
)
def test_missing_values_named_and_counted(holes, text, counts, first):
    assert design_error(text, holes) == (
        f"missing values (NaN) in the data: {counts} (first at row position {first}); "
        "remove them or set na_action='drop'"
    )


def test_missing_values_in_unused_columns_are_ignored(holes):
    d = design("y ~ 1", holes.drop(index=1).reset_index(drop=True))
    assert d.n_obs == 5


@pytest.mark.parametrize(
    "text, kept",
    [
        ("y ~ 1", [0, 2, 3, 4, 5]),
        ("y ~ x", [0, 2, 3, 5]),
        ("y ~ x + f", [0, 2, 3]),
        ("y ~ 1 + (1 | g)", [0, 2, 3]),
        ("x ~ 1 + (1 | f)", [0, 1, 2, 3]),
    ],
)
def test_drop_rows_with_missing_values(holes, text, kept):
    d = design(text, holes, na_action="drop")
    np.testing.assert_array_equal(d.rows, kept)
    assert (d.n_obs, d.n_rows_given, d.n_dropped) == (len(kept), 6, 6 - len(kept))
    y_column = parse_formula(text).response
    np.testing.assert_array_equal(d.y, holes[y_column].to_numpy()[kept])


def test_drop_recomputes_levels_and_index(holes, caplog):
    """Keeping rows 0, 2, 3 (f = a c a, g = u u v): level b of f disappears."""
    with caplog.at_level(logging.WARNING, logger="lmm_bayes"):
        d = design("y ~ x + (1 | f)", holes, na_action="drop")
    np.testing.assert_array_equal(d.rows, [0, 2, 3])
    grp = d.group("f")
    assert grp.levels == ("a", "c")
    np.testing.assert_array_equal(grp.index, [0, 1, 0])
    np.testing.assert_array_equal(d.X, [[1, 1], [1, 3], [1, 5]])
    assert "dropped 3 of 6 rows with missing values in ['y', 'x', 'f']" in caplog.text


def test_bad_na_action(df):
    assert design_error("y ~ x", df, na_action="omit") == (
        "na_action must be 'raise' or 'drop', not 'omit'"
    )


@pytest.mark.parametrize(
    "response, dtype", [(list("abcdef"), "object"), ([True, False] * 3, "bool")]
)
def test_non_numeric_response(df, response, dtype):
    data = df.assign(r=pd.Series(response, dtype=dtype))
    message = design_error("r ~ x", data)
    assert message.startswith("the response 'r' is not numeric (dtype ")
    assert message.endswith("); a Gaussian model needs numbers")


def test_collinear_fixed_effects_named(df):
    message = design_error("y ~ x + I(2*x)", df)
    assert message == (
        "the fixed effects are collinear: columns ['x', 'I(2*x)'] are linearly dependent "
        "(one is a combination of the others); remove one of them from the formula"
    )


def test_collinear_with_intercept(df):
    """w = 1 - x/13 is a combination of the intercept and x; f is not involved."""
    message = design_error("y ~ x + f + w", df.assign(w=1 - df.x / 13))
    assert "columns ['(Intercept)', 'x', 'w'] are linearly dependent" in message


def test_more_fixed_columns_than_rows():
    """Three rows cannot support four columns: (Intercept), x, z, v."""
    data = pd.DataFrame({"y": [1.0, 2, 3], "x": [0.0, 1, 5], "z": [2.0, 0, 1],
                         "v": [1.0, 7, 1]})
    assert "are linearly dependent" in design_error("y ~ x + z + v", data)


def test_full_rank_passes():
    data = pd.DataFrame({"y": [1.0, 2, 3], "x": [0.0, 1, 5], "z": [2.0, 0, 1]})
    assert design("y ~ x + z", data).X.shape == (3, 3)


def test_zero_column(df):
    assert design_error("y ~ x + z", df.assign(z=0.0)) == (
        "fixed-effect column(s) ['z'] are zero in every row"
    )


# ----------------------------------------------------------------------------- grouping factors


@pytest.fixture
def panel():
    """Nine rows: three subjects s = p, q, r, each seen at f = a, b, c and x = 1, 2, 4 (+ the
    subject's number 0, 10, 20)."""
    return pd.DataFrame({
        "y": np.arange(9.0), "f": list("abcabcabc"), "s": list("pppqqqrrr"),
        "x": [1.0, 2, 4, 11, 12, 14, 21, 22, 24],
    })


def test_grouping_factor_index_levels_Z(panel):
    grp = design("y ~ x + (x | s)", panel).group("s")
    assert (grp.name, grp.levels, grp.terms, grp.correlated) == (
        "s", ("p", "q", "r"), ("(Intercept)", "x"), True)
    np.testing.assert_array_equal(grp.index, [0, 0, 0, 1, 1, 1, 2, 2, 2])
    np.testing.assert_array_equal(grp.Z, [[1, 1], [1, 2], [1, 4], [1, 11], [1, 12], [1, 14],
                                          [1, 21], [1, 22], [1, 24]])
    assert grp.n_levels == 3


def test_uncorrelated_and_no_intercept_terms(panel):
    assert design("y ~ (x || s)", panel).groups[0].correlated is False
    grp = design("y ~ (0 + x | s)", panel).groups[0]
    assert grp.terms == ("x",)
    np.testing.assert_array_equal(grp.Z, panel[["x"]].to_numpy())


def test_Z_for_categorical_slopes_by_group(panel):
    """(0 + f | s): indicators of every level of f; (f | s): intercept and contrasts."""
    fa, fb, fc = np.tile(np.eye(3), (3, 1)).T
    grp = design("y ~ f + (0 + f | s)", panel).groups[0]
    assert grp.terms == ("fa", "fb", "fc")
    np.testing.assert_array_equal(grp.Z, np.column_stack([fa, fb, fc]))
    grp = design("y ~ f + (f | s)", panel).groups[0]
    assert grp.terms == ("(Intercept)", "fb", "fc")
    np.testing.assert_array_equal(grp.Z, np.column_stack([np.ones(9), fb, fc]))
    grp = design("y ~ f + (0 + f + x | s)", panel).groups[0]
    assert grp.terms == ("fa", "fb", "fc", "x")


def test_numeric_grouping_labels():
    """308.0 (float, e.g. after NaN in the column) is labelled '308'; levels sort
    numerically (99 before 308)."""
    data = pd.DataFrame({"y": np.arange(6.0), "s": [308.0, 308.0, 99.0, 99.0, 310.0, 310.0]})
    grp = design("y ~ 1 + (1 | s)", data).groups[0]
    assert grp.levels == ("99", "308", "310")
    np.testing.assert_array_equal(grp.index, [1, 1, 0, 0, 2, 2])


def test_categorical_grouping_order():
    s = pd.Categorical(list("ppqqrr"), categories=["r", "q", "p"])
    grp = design("y ~ 1 + (1 | s)", pd.DataFrame({"y": np.arange(6.0), "s": s})).groups[0]
    assert grp.levels == ("r", "q", "p")
    np.testing.assert_array_equal(grp.index, [2, 2, 1, 1, 0, 0])


def test_nested_and_interaction_groups(df):
    """12 rows (df twice): f:g cells in row order a:u b:u c:u a:v b:v c:v; levels sorted by
    f then g: a:u a:v b:u b:v c:u c:v."""
    data = pd.concat([df, df], ignore_index=True)
    d = design("y ~ 1 + (1 | g/f)", data)
    assert [grp.name for grp in d.groups] == ["g", "g:f"]
    inner = d.group("g:f")
    assert inner.levels == ("u:a", "u:b", "u:c", "v:a", "v:b", "v:c")
    np.testing.assert_array_equal(inner.index, [0, 1, 2, 3, 4, 5] * 2)
    cross = design("y ~ 1 + (1 | f:g)", data).group("f:g")
    assert cross.levels == ("a:u", "a:v", "b:u", "b:v", "c:u", "c:v")
    np.testing.assert_array_equal(cross.index, [0, 2, 4, 1, 3, 5] * 2)


def test_crossed_groups(df):
    d = design("y ~ 1 + (1 | f) + (1 | g)", df)
    assert [(grp.name, grp.levels) for grp in d.groups] == [("f", ("a", "b", "c")),
                                                           ("g", ("u", "v"))]
    np.testing.assert_array_equal(d.group("f").index, [0, 1, 2, 0, 1, 2])
    np.testing.assert_array_equal(d.group("g").index, [0, 0, 0, 1, 1, 1])
    assert d.schema.levels == {"f": ("a", "b", "c"), "g": ("u", "v")}


def test_unknown_group_name(df):
    d = design("y ~ 1 + (1 | g)", df)
    with pytest.raises(DesignError, match=r"no grouping factor 'h'; the model has \['g'\]"):
        d.group("h")


def test_grouping_factor_with_one_level(df):
    assert design_error("y ~ x + (1 | c)", df.assign(c="k")) == (
        "grouping factor 'c' has only one level ('k'); a variance needs two or more groups"
    )


def test_more_levels_than_observations(df):
    assert design_error("y ~ 1 + (1 | id)", df.assign(id=range(6))) == (
        "grouping factor 'id' has 6 levels for 6 observations; "
        "a random intercept needs fewer levels than observations; with the Gaussian family "
        "a level per observation is not identifiable: its random intercept and the residual "
        "are both one normal deviation per row, so only their summed variance is informed"
    )


@pytest.fixture
def slopes():
    """Four groups of two rows; t varies in every group, x in none, u in two (a, b),
    w in three (a, b, c)."""
    return pd.DataFrame({
        "y": np.arange(8.0), "g": list("aabbccdd"),
        "t": [0.0, 1, 0, 1, 0, 1, 0, 1], "x": [1.0, 1, 2, 2, 3, 3, 4, 4],
        "u": [0.0, 1, 0, 1, 0, 0, 0, 0], "w": [0.0, 1, 0, 1, 0, 1, 0, 0],
    })


def test_random_slope_constant_within_groups(slopes):
    assert design_error("y ~ x + (x | g)", slopes) == (
        "random slope of 'x' by 'g': 'x' is constant within every level of 'g', so its "
        "effect cannot vary by level; drop it from the random term"
    )


@pytest.mark.parametrize("bar", ["|", "||"])
def test_random_slope_varying_in_two_groups(slopes, bar):
    assert design_error(f"y ~ u + (u {bar} g)", slopes) == (
        "random slope of 'u' by 'g': only 2 of 4 levels have two or more distinct values of "
        "'u'; a slope variance needs at least 3"
    )


@pytest.mark.parametrize("slope", ["w", "t"])
def test_random_slope_varying_in_three_or_more_groups_passes(slopes, slope):
    grp = design(f"y ~ {slope} + ({slope} | g)", slopes).group("g")
    assert grp.terms == ("(Intercept)", slope)
    np.testing.assert_array_equal(grp.Z[:, 1], slopes[slope].to_numpy())


# ----------------------------------------------------------------------------- labels


@pytest.mark.parametrize(
    "value, label",
    [(308.0, "308"), (np.float64(2.0), "2"), (2.5, "2.5"), (np.int64(7), "7"), ("A", "A"),
     (-1.0, "-1"), (True, "TRUE"), (np.bool_(False), "FALSE")],
)
def test_level_label(value, label):
    assert level_label(value) == label


# ----------------------------------------------------------------------------- reference data


def test_sleepstudy():
    data = csv("sleepstudy")
    d = design("Reaction ~ Days + (Days | Subject)", data)
    assert d.fixed_names == ("(Intercept)", "Days")
    assert d.X.shape == (180, 2)
    grp = d.group("Subject")
    assert grp.n_levels == 18
    assert grp.levels[:3] == ("308", "309", "310") and grp.levels[-1] == "372"
    np.testing.assert_array_equal(grp.index, np.repeat(np.arange(18), 10))
    np.testing.assert_array_equal(grp.Z[:, 1], data["Days"].to_numpy())
    np.testing.assert_array_equal(d.y, data["Reaction"].to_numpy())


def test_pastes_nested():
    data = csv("pastes")
    d = design("strength ~ 1 + (1 | batch/cask)", data)
    batch, cask = d.groups
    assert (batch.name, batch.n_levels) == ("batch", 10)
    assert batch.levels == tuple("ABCDEFGHIJ")
    assert (cask.name, cask.n_levels) == ("batch:cask", 30)
    assert cask.levels[:4] == ("A:a", "A:b", "A:c", "B:a")
    # pastes.csv has a column `sample` = batch:cask, written independently of our code
    labels = np.array(cask.levels)[cask.index]
    np.testing.assert_array_equal(labels, data["sample"].to_numpy())
