"""R spellings in formulas: factor(x), ordered(x), poly(x, d), transforms of the response,
pi, and the messages that name the lmm_bayes spelling of an R idiom that stays unsupported.

The expected design matrices (names and values) are R's ``model.matrix`` on the frame
``D`` below, printed by ``scripts/r_spellings_golden.R`` (R 4.2): each constant says the
exact call.
"""

import numpy as np
import pandas as pd
import pytest

import lmm_bayes as lb
from lmm_bayes.design import build_design, evaluate_covariates
from lmm_bayes.formula import parse_formula
from lmm_bayes.polynomials import contr_poly, contrast_names, orthogonal_poly, predict_poly

# d <- data.frame(x = c(1, 2, 4, 7, 11, 2, 4, 7), f = c("a", "b", "c", "a", "b", "c", "a", "b"),
#                 t = c(0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4))
D = pd.DataFrame({"x": [1.0, 2, 4, 7, 11, 2, 4, 7], "f": list("abcabcab"),
                  "t": [0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4]})
D["y"] = np.arange(1.0, 9.0) ** 1.5

# formula: (R's colnames(model.matrix(~ rhs, d)), its values in R's column-major order)
GOLDEN = {
    "poly(x, 2)": (
        ["(Intercept)", "poly(x, 2)1", "poly(x, 2)2"],
        [1] * 8 + [-0.420579115569033, -0.308424684750624, -0.0841158231138066,
                   0.25234746934142, 0.700965192615056, -0.308424684750624,
                   -0.0841158231138066, 0.25234746934142, 0.452882938424742,
                   0.13209085704055, -0.287245197056434, -0.360629006523406,
                   0.578683754653837, 0.13209085704055, -0.287245197056434,
                   -0.360629006523406]),
    "poly(x, 3, raw = TRUE)": (
        ["(Intercept)", "poly(x, 3, raw = TRUE)1", "poly(x, 3, raw = TRUE)2",
         "poly(x, 3, raw = TRUE)3"],
        [1] * 8 + [1, 2, 4, 7, 11, 2, 4, 7, 1, 4, 16, 49, 121, 4, 16, 49,
                   1, 8, 64, 343, 1331, 8, 64, 343]),
    "factor(x)": (
        ["(Intercept)", "factor(x)2", "factor(x)4", "factor(x)7", "factor(x)11"],
        [1] * 8 + [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1,
                   0, 0, 0, 0, 1, 0, 0, 0]),
    "ordered(x)": (  # contr.poly(5) on the levels 1, 2, 4, 7, 11
        ["(Intercept)", "ordered(x).L", "ordered(x).Q", "ordered(x).C", "ordered(x)^4"],
        [1] * 8 + [-0.632455532033676, -0.316227766016838, -3.5108334685767e-17,
                   0.316227766016838, 0.632455532033676, -0.316227766016838,
                   -3.5108334685767e-17, 0.316227766016838, 0.534522483824849,
                   -0.267261241912424, -0.534522483824849, -0.267261241912424,
                   0.534522483824849, -0.267261241912424, -0.534522483824849,
                   -0.267261241912424, -0.316227766016838, 0.632455532033676,
                   1.75541673428835e-16, -0.632455532033676, 0.316227766016838,
                   0.632455532033676, 1.75541673428835e-16, -0.632455532033676,
                   0.119522860933439, -0.478091443733758, 0.717137165600636,
                   -0.478091443733757, 0.119522860933439, -0.478091443733758,
                   0.717137165600636, -0.478091443733757]),
    "poly(x, 2):f": (
        ["(Intercept)", "poly(x, 2)1:fa", "poly(x, 2)2:fa", "poly(x, 2)1:fb",
         "poly(x, 2)2:fb", "poly(x, 2)1:fc", "poly(x, 2)2:fc"],
        [1] * 8 + [-0.420579115569033, 0, 0, 0.25234746934142, 0, 0, -0.0841158231138066,
                   0, 0.452882938424742, 0, 0, -0.360629006523406, 0, 0,
                   -0.287245197056434, 0, 0, -0.308424684750624, 0, 0, 0.700965192615056,
                   0, 0, 0.25234746934142, 0, 0.13209085704055, 0, 0, 0.578683754653837,
                   0, 0, -0.360629006523406, 0, 0, -0.0841158231138066, 0, 0,
                   -0.308424684750624, 0, 0, 0, 0, -0.287245197056434, 0, 0,
                   0.13209085704055, 0, 0]),
    "ordered(f) * t": (
        ["(Intercept)", "ordered(f).L", "ordered(f).Q", "t", "ordered(f).L:t",
         "ordered(f).Q:t"],
        [1] * 8 + [-0.707106781186548, -7.85046229341888e-17, 0.707106781186548,
                   -0.707106781186548, -7.85046229341888e-17, 0.707106781186548,
                   -0.707106781186548, -7.85046229341888e-17, 0.408248290463863,
                   -0.816496580927726, 0.408248290463863, 0.408248290463863,
                   -0.816496580927726, 0.408248290463863, 0.408248290463863,
                   -0.816496580927726, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4,
                   -0.353553390593274, -7.85046229341888e-17, 1.06066017177982,
                   -1.4142135623731, -1.96261557335472e-16, 2.12132034355964,
                   -2.47487373415292, -3.14018491736755e-16, 0.204124145231932,
                   -0.816496580927726, 0.612372435695795, 0.816496580927726,
                   -2.04124145231932, 1.22474487139159, 1.42886901662352,
                   -3.2659863237109]),
    "0 + ordered(f)": (  # no intercept: indicators for every level, as R
        ["ordered(f)a", "ordered(f)b", "ordered(f)c"],
        [1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0]),
}


def design(rhs, data=D, **options):
    return build_design(parse_formula(f"y ~ {rhs}"), data, **options)


@pytest.mark.parametrize("rhs", GOLDEN)
def test_design_matrices_match_r_model_matrix(rhs):
    names, values = GOLDEN[rhs]
    got = design(rhs)
    assert list(got.fixed_names) == names
    expected = np.asarray(values, dtype=float).reshape((len(D), len(names)), order="F")
    np.testing.assert_allclose(got.X, expected, atol=1e-12)


def test_poly_coefficients_match_r():
    # attr(poly(d$x, 2), "coefs"): alpha 4.75 6.91037735849057, norm2 1 8 79.5 728.830188679245
    coefs = design("poly(x, 2)").schema.polys["poly(x,2)"]
    np.testing.assert_allclose(coefs.alpha, [4.75, 6.91037735849057], rtol=1e-13)
    np.testing.assert_allclose(coefs.norm2, [1, 8, 79.5, 728.830188679245], rtol=1e-13)


def test_new_data_use_the_fitting_datas_polynomials_as_r_predict():
    # tt <- delete.response(terms(lm(t ~ poly(x, 2) + ordered(f), d)))
    # new <- data.frame(x = c(0, 3, 12), f = c("c", "a", "b"))
    # model.matrix(tt, model.frame(tt, new))
    expected = np.array([[1, -0.532733546387442, 0.847757722699401, 0.707106781186548,
                          0.408248290463863],
                         [1, -0.196270253932216, -0.114618521453175, -0.707106781186548,
                          0.408248290463863],
                         [1, 0.813119623433464, 0.998718702174315, -7.85046229341888e-17,
                          -0.816496580927726]])
    fitted = design("poly(x, 2) + ordered(f)")
    new = pd.DataFrame({"x": [0.0, 3, 12], "f": ["c", "a", "b"]})
    X, _ = evaluate_covariates(fitted, new)
    np.testing.assert_allclose(X, expected, atol=1e-12)


def test_orthogonal_poly_at_the_fitting_values_is_its_recurrence():
    x = D.x.to_numpy()
    Z, coefs = orthogonal_poly(x, 3)
    np.testing.assert_allclose(predict_poly(x, coefs), Z, atol=1e-12)
    np.testing.assert_allclose(Z.T @ Z, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(Z.sum(axis=0), 0, atol=1e-12)


def test_contr_poly_matches_r():
    # contr.poly(3): .L -7.07106781186548e-01 0 7.07e-01; .Q 0.408248290463863 -0.816... 0.408...
    np.testing.assert_allclose(contr_poly(3), [[-0.707106781186548, 0.408248290463863],
                                               [0, -0.816496580927726],
                                               [0.707106781186548, 0.408248290463863]],
                               atol=1e-12)
    assert contrast_names(6) == (".L", ".Q", ".C", "^4", "^5")


def test_as_factor_and_c_are_factor():
    expected = design("factor(x)").X
    np.testing.assert_array_equal(design("as.factor(x)").X, expected)
    np.testing.assert_array_equal(design("C(x)").X, expected)
    assert design("as.factor(x)").fixed_names[1] == "as.factor(x)2"
    assert design("as.ordered(f)").fixed_names[1:] == ("as.ordered(f).L", "as.ordered(f).Q")


def test_reference_of_the_column_applies_to_factor_of_it():
    assert design("factor(x)", reference={"x": 4}).fixed_names[1:] == (
        "factor(x)1", "factor(x)2", "factor(x)7", "factor(x)11")


def test_ordered_follows_the_categories_of_a_pandas_categorical():
    data = D.assign(f=pd.Categorical(D.f, categories=["c", "a", "b"], ordered=True))
    got = design("ordered(f)", data)
    assert got.schema.levels["ordered(f)"] == ("c", "a", "b")
    np.testing.assert_allclose(got.X[:3, 1], [0, 0.707106781186548, -0.707106781186548],
                               atol=1e-12)


def test_a_pandas_ordered_categorical_keeps_treatment_contrasts():
    """Existing fits keep their columns: polynomial contrasts are asked for by ordered()."""
    data = D.assign(f=pd.Categorical(D.f, ordered=True))
    assert design("f", data).fixed_names == ("(Intercept)", "fb", "fc")


def test_transformed_responses():
    np.testing.assert_allclose(design("x").y, D.y)
    for lhs, transform in [("log(y)", np.log), ("np.log(y)", np.log), ("sqrt(y)", np.sqrt),
                           ("log10(y)", np.log10), ("log1p(y)", np.log1p)]:
        got = build_design(parse_formula(f"{lhs} ~ x"), D)
        np.testing.assert_allclose(got.y, transform(D.y))


def test_pi_sin_and_cos():
    got = design("sin(2*pi*t) + cos(2*np.pi*t/12)")
    assert got.fixed_names[1:] == ("sin(2*pi*t)", "cos(2*np.pi*t/12)")
    np.testing.assert_allclose(got.X[:, 1], np.sin(2 * np.pi * D.t))
    np.testing.assert_allclose(got.X[:, 2], np.cos(2 * np.pi * D.t / 12))


@pytest.mark.parametrize("formula, error, message", [
    ("y ~ poly(x, 5)", lb.DesignError,
     "the degree of poly() must be less than the number of distinct values of its variable (5)"),
    ("y ~ log(poly(x, 2))", lb.SpecError, "poly() must enclose the whole term"),
    ("y ~ I(factor(x))", lb.SpecError, "factor() must enclose the whole term"),
    ("poly(y, 2) ~ x", lb.DesignError, "poly() is for predictors"),
    ("y ~ x + offset(poly(t, 2))", lb.DesignError, "has 2 columns; an offset is one number"),
    ("y ~ poly(x, 2, TRUE)", lb.SpecError, "poly() takes a variable and a degree"),
    ("y ~ poly(x, 0)", lb.SpecError, "the degree of poly() must be a whole number from 1"),
    ("y ~ poly(x, raw = yes)", lb.SpecError, "raw = must be TRUE or FALSE, not 'yes'"),
    # R idioms that stay unsupported name what to write instead
    ("y ~ relevel(f, ref = 'b')", lb.SpecError, "reference={\"x\": \"b\"}"),
    ("y ~ ns(x, 3)", lb.SpecError, "splines are not supported; use a polynomial, poly(x, 3)"),
    ("y ~ bs(x)", lb.SpecError, "splines are not supported"),
    ("y ~ s(x)", lb.SpecError, "splines are not supported"),
    ("y ~ x %in% f", lb.SpecError, "is written g/a (g + g:a)"),
    ("y ~ x %/% f", lb.SpecError, "%op% operators are not supported"),
    ("y ~ as.numeric(x)", lb.SpecError, "numeric columns are used as numbers already"),
    ("y ~ as.integer(x)", lb.SpecError, "numeric columns are used as numbers already"),
    ("y ~ as.character(x)", lb.SpecError, "made categorical by factor(x) or C(x)"),
    ("y ~ interaction(x, f)", lb.SpecError, "interaction of a and b as a:b"),
    ("y ~ cut(x, 3)", lb.SpecError, "pandas.cut"),
    ("y ~ log(x, 2)", lb.SpecError, "write log2(x), log10(x) or log(x)/log(b)"),
    ("y ~ scale(x, scale = FALSE)", lb.SpecError, "scale(x, scale = FALSE) is center(x)"),
    ("y ~ pi", lb.DesignError, "pi is a constant, not a column: use it inside an expression"),
    ("y ~ .", lb.DesignError, "'.' (every other column) is not supported; name the columns"),
    ("y ~ TRUE", lb.DesignError, "a 0/1 column of a condition is written I(x > 3)"),
])
def test_messages_name_the_lmm_bayes_spelling(formula, error, message):
    with pytest.raises(error) as info:
        build_design(parse_formula(formula), D)
    assert message in str(info.value)


def test_dotted_python_attribute_calls_stay_attribute_access():
    with pytest.raises(lb.SpecError, match="attribute access 'x.sum'"):
        design("I(x.sum())")


def test_exp_and_the_new_log_bases_are_allowed():
    got = design("exp(t) + log2(x)")
    np.testing.assert_allclose(got.X[:, 1:], np.column_stack([np.exp(D.t), np.log2(D.x)]))
    np.testing.assert_allclose(design("expm1(t)").X[:, 1], np.expm1(D.t))


# ----------------------------------------------------------------------------- contrasts option


def test_contrasts_option_codes_a_column_by_r_polynomial_contrasts():
    """lme4's ``contrasts = list(x = "contr.poly")``: R's columns x.L ... x^4 of the numeric
    x as an ordered factor, the values of GOLDEN's ordered(x)."""
    values = GOLDEN["ordered(x)"][1]
    got = design("x", contrasts={"x": "poly"})
    assert got.fixed_names == ("(Intercept)", "x.L", "x.Q", "x.C", "x^4")
    np.testing.assert_allclose(got.X, np.reshape(values, (8, 5), order="F"), atol=1e-12)
    assert got.schema.polynomial == ("x",)


def test_contrasts_option_on_a_pandas_ordered_categorical_and_new_data():
    data = D.assign(f=pd.Categorical(D.f, categories=["c", "a", "b"], ordered=True))
    got = design("f", data, contrasts={"f": "poly"})
    assert got.fixed_names == ("(Intercept)", "f.L", "f.Q")
    X, _ = evaluate_covariates(got, pd.DataFrame({"f": ["b", "c"]}))
    np.testing.assert_allclose(X[:, 1:], contr_poly(3)[[2, 0]], atol=1e-12)


def test_contrasts_option_through_lmm_and_its_spec():
    model = lb.LMM("y ~ f + (1 | x)", D, contrasts={"f": "contr.poly"})
    assert model.spec.contrasts == {"f": "poly"}
    assert model.design.fixed_names == ("(Intercept)", "f.L", "f.Q")
    treatment = lb.LMM("y ~ f + (1 | x)", D, contrasts={"f": "contr.treatment"})
    assert treatment.design.fixed_names == ("(Intercept)", "fb", "fc")


@pytest.mark.parametrize("contrasts, error, message", [
    ({"f": "sum"}, lb.SpecError, "contrasts must map column names to one of ['poly',"),
    (["f"], lb.SpecError, "contrasts must map column names to a coding"),
    ({"dose": "poly"}, lb.DesignError, "contrasts are given for ['dose'], which are neither"),
])
def test_bad_contrasts_are_refused(contrasts, error, message):
    with pytest.raises(error) as info:
        lb.LMM("y ~ f + (1 | x)", D, contrasts=contrasts)
    assert message in str(info.value)
