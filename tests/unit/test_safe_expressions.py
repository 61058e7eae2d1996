"""Formula terms are evaluated by lmm_bayes.expressions under an allow-list, never by eval.

Each hostile term below would create a sentinel file if it were executed (they all did,
through every route, before the evaluator was replaced); each must raise an lmm_bayes
error and leave no file. Allowed terms are checked against numpy computed by hand.
"""

import dataclasses
import json
import warnings

import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lmm_bayes as lb
from lmm_bayes import cli, io
from lmm_bayes.design import build_design, evaluate_covariates
from lmm_bayes.expressions import MAX_DEPTH, parse_expression
from lmm_bayes.formula import parse_formula
from lmm_bayes.spec import ModelSpec
from lmm_bayes.variables import VariableEvaluator, columns_used

X = np.array([1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 0.5, 4.0])


def frame() -> pd.DataFrame:
    """Eight rows, two subjects; ``odd (mg/L)`` is a column name that needs backquotes."""
    return pd.DataFrame({
        "Reaction": [250.0, 260, 275, 280, 240, 255, 262, 290],
        "Days": [0, 1, 2, 3, 0, 1, 2, 3],
        "Subject": list("aaaabbbb"),
        "x": X,
        "odd (mg/L)": X + 1,
    })


def payloads(sentinel) -> dict[str, str]:
    """Hostile pieces of a term, each creating ``sentinel`` if executed (no spaces: the
    formula scanner removes white space inside calls)."""
    touch = f"__import__('os').system('touch${{IFS}}{sentinel}')"
    return {
        "import": f"I({touch}+Days)",
        "np.log": f"np.log(Days+1+{touch})",
        "scale": f"scale({touch}+Days)",
        "getattr": f"I(getattr(__import__('os'),'system')('touch${{IFS}}{sentinel}')+Days)",
        "f-string": f"I(len(f'{{open(\"{sentinel}\",\"w\")}}')+Days)",
        "open": f"I(Days+len(str(open('{sentinel}','w'))))",
        "subclasses": "I(len(().__class__.__base__.__subclasses__())+Days)",
        "lambda": f"I((lambda:{touch})()+Days)",
        "eval": f"I(eval(\"{touch}\")+Days)",
        "np.f2py": f"I(np.f2py.os.system('touch${{IFS}}{sentinel}')+Days)",
        "C": f"C({touch}+Days)",
        "comprehension": f"I([{touch}for(_)in[1]][0]+Days)",
        "dunder name": "I(len(__builtins__)+Days)",
        "subscript": f"I(__import__('os').__dict__['system']('touch${{IFS}}{sentinel}')+Days)",
    }


def build(formula, data, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lb.IdentifiabilityWarning)
        return lb.LMM(formula, data, **options)


# ----------------------------------------------------------------------------- hostile terms


@pytest.mark.parametrize("name", sorted(payloads("s")))
def test_hostile_term_on_the_right_is_refused(tmp_path, name):
    sentinel = tmp_path / "pwned"
    with pytest.raises(lb.SpecError):
        build(f"Reaction ~ {payloads(sentinel)[name]} + (1 | Subject)", frame())
    assert not sentinel.exists()


@pytest.mark.parametrize("name", sorted(payloads("s")))
def test_hostile_term_on_the_response_side_is_refused(tmp_path, name):
    sentinel = tmp_path / "pwned"
    term = payloads(sentinel)[name]
    for formula in (f"{term} ~ Days", f"Reaction + {term} ~ Days"):
        with pytest.raises(lb.SpecError):
            build(formula, frame())
    assert not sentinel.exists()


@pytest.mark.parametrize("name", sorted(payloads("s")))
def test_hostile_sigma_formula_is_refused(tmp_path, name):
    sentinel = tmp_path / "pwned"
    with pytest.raises(lb.SpecError):
        build("Reaction ~ Days", frame(), sigma=f"~ {payloads(sentinel)[name]}")
    assert not sentinel.exists()


def test_refusals_are_spec_errors_naming_the_term_and_the_construct(tmp_path):
    touch = payloads(tmp_path / "pwned")["import"]
    with pytest.raises(lb.SpecError, match=r"I\(__import__.*uses the attribute access "
                                           r"\"__import__\('os'\).system\""):
        build(f"Reaction ~ {touch}", frame())


def test_hostile_term_in_new_data_for_prediction_is_refused(tmp_path):
    """A design whose formula was tampered with (as a crafted file could) meets the same
    evaluator when covariates of new data are computed."""
    sentinel = tmp_path / "pwned"
    design = build_design(parse_formula("Reaction ~ Days"), frame())
    tampered = dataclasses.replace(
        design, formula=parse_formula(f"Reaction ~ {payloads(sentinel)['import']}"))
    with pytest.raises(lb.SpecError):
        evaluate_covariates(tampered, frame())
    assert not sentinel.exists()


def test_hostile_formula_in_a_spec_file_is_refused_by_check(tmp_path, capsys):
    sentinel = tmp_path / "pwned"
    frame().to_csv(tmp_path / "d.csv", index=False)
    formula = f"Reaction ~ {payloads(sentinel)['open']}"
    (tmp_path / "m.toml").write_text(
        f"[model]\nformula = {json.dumps(formula)}\n[data]\npath = \"d.csv\"\n")
    assert cli.main(["check", str(tmp_path / "m.toml")]) == 2
    assert "not allowed" in capsys.readouterr().err
    assert not sentinel.exists()


def test_hostile_formula_in_a_saved_fit_is_refused_by_load(tmp_path):
    """A crafted .nc: the lmm_bayes group with a stored spec whose formula is hostile."""
    sentinel = tmp_path / "pwned"
    spec = ModelSpec.from_formula(f"Reaction ~ {payloads(sentinel)['import']}")
    data = {f"col{k}": io._data_variable(frame()[column], {})
            for k, column in enumerate(["Reaction", "Days"])}
    attrs = {"format": io.FORMAT, "format_version": io.FORMAT_VERSION,
             "spec": io._spec_json(spec), "sampler": "{}", "fingerprints": "{}"}
    posterior = xr.Dataset({"sigma": (("chain", "draw"), np.ones((1, 2)))})
    idata = az.InferenceData(posterior=posterior)
    idata.add_groups({io.GROUP: xr.Dataset(data, attrs=attrs)})
    idata.to_netcdf(str(tmp_path / "fit.nc"))
    with pytest.raises(lb.LoadError, match="not allowed"):
        lb.load(tmp_path / "fit.nc")
    assert not sentinel.exists()


@pytest.mark.parametrize("term, refused", [
    ("I(x[0])", "a subscript [...]"),
    ("I(x.real)", "the attribute access 'x.real'"),
    ("I(np.linalg.inv(x))", "the attribute access 'np.linalg.inv'"),
    ("I(__x)", "the name '__x'"),
    ("I(lambda:1)", "a lambda"),
    ("I(f'{x}')", "an f-string"),
    ("I('x')", "the string 'x'"),
    ("I([v for v in x])", "a comprehension"),
    ("I(x if x else 1)", "an 'if' expression"),
    ("I(x and 1)", "'and'/'or'"),
    ("I(x // 2)", "the operator in 'x // 2'"),
    ("I(~x)", "the operator in '~x'"),
    ("I(True)", "the constant True"),
    ("I(None)", "the constant None"),
    ("I(1j)", "the constant 1j"),
    ("print(x)", "a call to 'print'"),
    ("x.sum()", "the attribute access 'x.sum'"),
    ("log(x, base=2)", "keyword arguments in log()"),
    ("log(*x)", "a starred argument in log()"),
    ("np.I(x)", "the attribute access 'np.I'"),
    ("I(np.log)", "the attribute access 'np.log'"),
])
def test_constructs_off_the_allow_list(term, refused):
    with pytest.raises(lb.SpecError) as info:
        parse_expression(term)
    assert str(info.value).startswith(f"the formula term {term!r} uses {refused}")
    assert "not allowed" in str(info.value)


@pytest.mark.parametrize("term, message", [
    ("log(x,2)", "log() takes 1 argument, not 2"),
    ("I()", "I() takes 1 argument, not 0"),
    ("cbind(x)", "cbind() takes 2 arguments, not 1"),
    ("I(C(x))", "C() must enclose the whole term"),
])
def test_wrong_use_of_an_allowed_function(term, message):
    with pytest.raises(lb.SpecError) as info:
        VariableEvaluator(frame()).variable(term)
    assert f"the formula term {term!r}, {message}" in str(info.value)


@pytest.mark.parametrize("text", [
    "I(" + "(" * 5000 + "x" + ")" * 5000 + ")",
    "I(" + "(" * (MAX_DEPTH + 5) + "x" + ")" * (MAX_DEPTH + 5) + ")",
    "I(" + "-" * 1500 + "x)",
    "I(x" + "**x" * 1500 + ")",
    "I(x" + "+x" * 600 + ")",
])
def test_deep_nesting_is_a_spec_error(text):
    with pytest.raises(lb.SpecError, match="nested too deeply|characters long|cannot read"):
        VariableEvaluator(frame()).variable(text)


def test_deep_nesting_inside_a_call_of_a_formula_is_a_spec_error():
    depth = 5000
    with pytest.raises(lb.SpecError, match="is nested too deeply"):
        build("Reaction ~ I(" + "(" * depth + "Days" + ")" * depth + ")", frame())


def test_unknown_name_is_a_design_error_listing_the_columns():
    with pytest.raises(lb.DesignError) as info:
        VariableEvaluator(frame()).variable("I(x*dose)")
    assert str(info.value) == (
        "the formula term 'I(x*dose)' refers to 'dose', which is not a column of the data "
        "(columns: ['Reaction', 'Days', 'Subject', 'x', 'odd (mg/L)'])")


def test_missing_dotted_column_is_a_design_error_not_an_attribute_access():
    """R allows dots in names: a missing ``log.dose`` is a missing column."""
    with pytest.raises(lb.DesignError, match=r"column 'log.dose' not found in the data"):
        build_design(parse_formula("Reaction ~ log.dose"), frame())
    d = build_design(parse_formula("Reaction ~ log.dose"), frame().assign(**{"log.dose": X}))
    np.testing.assert_allclose(d.X[:, 1], X)


def test_text_column_in_arithmetic_is_a_design_error():
    with pytest.raises(lb.DesignError, match=r"cannot evaluate the formula term 'log\(Subject\)'"):
        VariableEvaluator(frame()).variable("log(Subject)")


# ----------------------------------------------------------------------------- allowed terms


@pytest.mark.parametrize("term, expected", [
    ("I(x^2)", X**2),
    ("I(x**2)", X**2),
    ("I(-x^2)", -(X**2)),
    ("I(+x/2-1)", X / 2 - 1),
    ("np.log(x+1)", np.log(X + 1)),
    ("log(x)", np.log(X)),
    ("exp(x/10)", np.exp(X / 10)),
    ("np.exp(x/10)", np.exp(X / 10)),
    ("sqrt(x)", np.sqrt(X)),
    ("np.sqrt(x)", np.sqrt(X)),
    ("abs(x-4)", np.abs(X - 4)),
    ("np.abs(x-4)", np.abs(X - 4)),
    ("sin(2*pi*x)", np.sin(2 * np.pi * X)),
    ("np.sin(2*np.pi*x)", np.sin(2 * np.pi * X)),
    ("cos(x)", np.cos(X)),
    ("np.cos(x)", np.cos(X)),
    ("center(x)", X - X.mean()),
    ("scale(x)", (X - X.mean()) / X.std(ddof=1)),
    ("I(x>3)", (X > 3).astype(float)),
    ("I(x<=3)", (X <= 3).astype(float)),
    ("I(x==5)", (X == 5).astype(float)),
    ("I(x!=5)", (X != 5).astype(float)),
    ("I(1<x<=5)", ((X > 1) & (X <= 5)).astype(float)),
    ("I(`odd (mg/L)`^2)", (X + 1) ** 2),
    ("I(2)", np.full(8, 2.0)),
    ("I(pi)", np.full(8, np.pi)),
])
def test_allowed_terms_match_numpy(term, expected):
    values = VariableEvaluator(frame()).variable(term).values
    np.testing.assert_allclose(values, expected, rtol=1e-12)


def test_c_makes_a_numeric_column_categorical():
    var = VariableEvaluator(frame()).variable("C(Days)")
    assert var.levels == ("0", "1", "2", "3")
    np.testing.assert_array_equal(var.values, [0, 1, 2, 3, 0, 1, 2, 3])


def test_a_column_named_pi_comes_before_the_constant():
    data = frame().assign(pi=1.0)
    np.testing.assert_allclose(VariableEvaluator(data).variable("I(2*pi)").values, 2.0)


def test_log_of_zero_is_reported_by_row():
    with pytest.raises(lb.DesignError, match=r"'log\(Days\)' is not finite in 2 row\(s\) "
                                             r"\(first at position 0\)"):
        VariableEvaluator(frame()).variable("log(Days)")


def test_backquoted_names_in_a_formula_through_the_design():
    d = build_design(parse_formula("Reaction ~ `odd (mg/L)` + I( `odd (mg/L)` ^ 2 )"), frame())
    assert d.fixed_names == ("(Intercept)", "odd (mg/L)", "I(`odd (mg/L)`^2)")
    np.testing.assert_allclose(d.X[:, 2], (X + 1) ** 2)


def test_center_and_scale_constants_are_reused_on_new_data():
    fitting = VariableEvaluator(frame())
    fitting.variable("I(center(x)+scale(Days))")
    schema = fitting.learnt_schema()
    days_sd = np.std(frame().Days, ddof=1)
    assert schema.transforms == {"I(center(x)+scale(Days))#0": (X.mean(), 1.0),
                                 "I(center(x)+scale(Days))#1": (1.5, days_sd)}
    new = VariableEvaluator(pd.DataFrame({"x": [X.mean()], "Days": [1.5]}), schema=schema)
    np.testing.assert_allclose(new.variable("I(center(x)+scale(Days))").values, [0.0])


def test_columns_used_reads_the_safe_tree():
    data = frame()
    assert columns_used("I(x*Days+pi)", data) == ["x", "Days"]
    assert columns_used("I(`odd (mg/L)`/x)", data) == ["odd (mg/L)", "x"]
    assert columns_used("cbind(Days, x-Days)", data) == ["Days", "x"]
    assert columns_used("odd (mg/L)", data) == ["odd (mg/L)"]
    with pytest.raises(lb.SpecError):
        columns_used("I(__import__('os'))", data)


# ----------------------------------------------------------------------------- properties


@pytest.fixture(scope="module")
def sentinel(tmp_path_factory):
    return tmp_path_factory.mktemp("sentinel") / "pwned"


HOSTILE = ["__import__('os').system('touch${{IFS}}{s}')", "open('{s}','w')", "'text'",
           "x.real", "x[0]", "().__class__", "__builtins__", "lambda:0", "[v for v in x]",
           "f'{{x}}'", "*x", "x.__class__.__mro__", "getattr", "np.os", "True", "None",
           "{{}}", "(1,2)", "..."]
ATOMS = ["x", "Days", "Subject", "`odd (mg/L)`", "pi", "np.pi", "1", "2.5", "0", "1e400",
         "nope"]
FUNCTIONS = ["log", "np.log", "exp", "sqrt", "abs", "np.abs", "sin", "cos", "np.cos",
             "center", "scale", "C", "I", "cbind", "eval", "open", "os.system", "print",
             "np.linalg.inv", "__import__"]
OPERATORS = ["+", "-", "*", "/", "^", "**", "<", "<=", ">", ">=", "==", "!=", "%", "//", "&",
             " and ", " if x else "]


@st.composite
def expressions(draw, sentinel, depth=0):
    """A term from a grammar mixing allowed and hostile pieces."""
    if depth > 3 or draw(st.integers(0, 3)) == 0:
        pool = ATOMS + [h.format(s=sentinel) for h in HOSTILE]
        return draw(st.sampled_from(pool))
    kind = draw(st.sampled_from(["unary", "binary", "call", "paren"]))
    inner = lambda: draw(expressions(sentinel, depth + 1))
    if kind == "unary":
        return f"{draw(st.sampled_from(['-', '+', '~', 'not ']))}{inner()}"
    if kind == "binary":
        return f"{inner()}{draw(st.sampled_from(OPERATORS))}{inner()}"
    if kind == "paren":
        return f"({inner()})"
    args = [inner() for _ in range(draw(st.integers(0, 3)))]
    if draw(st.booleans()) and args:
        args[-1] = f"base={args[-1]}"
    return f"{draw(st.sampled_from(FUNCTIONS))}({','.join(args)})"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_terms_evaluate_or_raise_our_errors_and_touch_nothing(sentinel, data):
    term = data.draw(expressions(str(sentinel)))
    try:
        columns_used(term, frame())
        VariableEvaluator(frame()).variable(term)
    except lb.LMMError:
        pass
    assert not sentinel.exists()


FORMULA_TOKENS = ["y", "x", "g", "h", "~", "+", "-", "*", "/", ":", "^", "|", "||", "(", ")",
                  "1", "0", "2", "2.5", "99999999999999999999", "log(", "I(x^2)", "`", "`a b`",
                  ",", "@", " ", "gr(", "by=", "p", "((((((((((", "))))))))))", "(1|g)",
                  "__import__('os')", "'", "\n", "\x00"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(FORMULA_TOKENS), max_size=30).map("".join))
def test_formula_token_soup_raises_only_spec_error(text):
    try:
        parse_formula(text)
    except lb.SpecError:
        pass
