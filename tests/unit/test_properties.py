"""Property-based tests (hypothesis) of the formula parser and the design builder: any
formula and any data frame either work or raise lmm_bayes's own errors, and a design
evaluated again on its own rows gives the same matrices."""

import warnings

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import lmm_bayes as lb
from lmm_bayes.design import evaluate_covariates

FAST = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

VARIABLES = ["x", "z", "f", "h", "log(x)", "I(x^2)", "C(h)", "center(z)", "scale(x)",
             "np.exp(z)", "`x`", "nope", "0", "1"]
GROUPS = ["g", "f", "g/f", "g:f", "nope", "x"]


@st.composite
def terms(draw, depth=0):
    """A right-hand-side expression from R's formula grammar."""
    if depth > 2 or draw(st.booleans()):
        return draw(st.sampled_from(VARIABLES))
    op = draw(st.sampled_from(["+", "-", "*", "/", ":", "^"]))
    left = draw(terms(depth + 1))
    if op == "^":
        return f"({left} + {draw(terms(depth + 1))})^{draw(st.integers(0, 3))}"
    return f"{left} {op} {draw(terms(depth + 1))}"


@st.composite
def formulas(draw):
    rhs = draw(terms())
    for _ in range(draw(st.integers(0, 2))):
        bar = draw(st.sampled_from(["|", "||"]))
        rhs += f" + ({draw(terms())} {bar} {draw(st.sampled_from(GROUPS))})"
    return f"{draw(st.sampled_from(['y', 'log(y)', 'f', 'nope']))} ~ {rhs}"


TOKENS = ["y", "x", "g", "~", "+", "-", "*", "/", ":", "^", "|", "||", "(", ")", "1", "0",
          "2.5", "log(", "I(x^2)", "`", ",", "@", " "]


@st.composite
def data_frames(draw):
    """Small frames with awkward values: NaN, inf, constants, one level, numbers as text."""
    n = draw(st.integers(2, 12))
    floats = st.floats(allow_nan=True, allow_infinity=True, width=32)
    column = lambda elements: draw(st.lists(elements, min_size=n, max_size=n))
    return pd.DataFrame({
        "y": column(st.one_of(floats, st.floats(-5, 5))),
        "x": column(st.floats(-3, 3) | floats),
        "z": column(st.integers(-2, 2)),
        "f": column(st.sampled_from(["a", "b", "01", "1"])),
        "h": column(st.integers(0, 2)),
        "g": column(st.sampled_from(["s1", "s2", "s3"])),
    })


def construct(formula, data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lb.IdentifiabilityWarning)
        return lb.LMM(formula, data)


@FAST
@given(st.lists(st.sampled_from(TOKENS), max_size=12).map("".join))
def test_token_soup_parses_or_raises_spec_error(text):
    try:
        lb.parse_formula(text)
    except lb.SpecError:
        pass


@FAST
@given(formulas(), data_frames())
def test_any_formula_on_any_data_works_or_raises_our_error(formula, data):
    try:
        model = construct(formula, data)
    except lb.LMMError:
        return
    assert model.design.X.shape == (model.design.n_obs, len(model.design.fixed_names))
    assert np.isfinite(model.design.X).all() and np.isfinite(model.design.y).all()


@st.composite
def clean_data(draw):
    n = draw(st.integers(8, 30))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return pd.DataFrame({
        "y": rng.normal(size=n), "x": rng.normal(size=n), "z": rng.integers(0, 4, n),
        "f": rng.choice(["a", "b", "01", "1"], n), "h": rng.integers(0, 3, n),
        "g": rng.choice(["s1", "s2", "s3", "s4"], n),
    })


ROUND_TRIP_EXAMPLE = pd.DataFrame({
    "y": np.sin(np.arange(24.0)), "x": np.cos(np.arange(24.0)), "z": np.arange(24) % 5,
    "f": ["a", "b", "01", "1"] * 6, "h": np.arange(24) % 3, "g": ["s1", "s2", "s3"] * 8})


@FAST
@example("y ~ x * f + scale(z) + C(h) + (x || g)", ROUND_TRIP_EXAMPLE)
@given(formulas(), clean_data())
def test_design_round_trips_through_evaluate_covariates(formula, data):
    try:
        model = construct(formula, data)
    except lb.LMMError:
        return
    design = model.design
    if formula.startswith("y ~ x * f + scale(z)"):  # the explicit example must build
        assert design.fixed_names[-3:] == ("x:f1", "x:fa", "x:fb") and design.groups[0].terms == ("(Intercept)", "x")
    X, Z = evaluate_covariates(design, data.iloc[design.rows])
    np.testing.assert_allclose(X, design.X, rtol=1e-12, atol=1e-12)
    for group in design.groups:
        np.testing.assert_allclose(Z[group.name], group.Z, rtol=1e-12, atol=1e-12)
