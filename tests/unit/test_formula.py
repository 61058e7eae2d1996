"""Unit tests of the formula parser (lmm_bayes.formula): R / lme4 formula semantics.

Expected term lists follow R's ``terms()``: the intercept first, then terms by interaction
order, in order of appearance within an order; the variables of an interaction are listed
in the order the variables first appear in the formula (``y ~ x + f:x`` has ``x:f``).
"""

import sys
import time

import pytest

from lmm_bayes.errors import SpecError
from lmm_bayes.formula import (
    MAX_NESTING,
    MAX_TERMS,
    MAX_TOKENS,
    Formula,
    RandomTerm,
    Term,
    parse_formula,
)


def labels(text: str) -> list[str]:
    return [t.label for t in parse_formula(text).fixed]


def groups(text: str) -> list[tuple[str, tuple[str, ...], list[str], bool]]:
    return [(r.group, r.group_columns, [t.label for t in r.terms], r.correlated)
            for r in parse_formula(text).random]


# ----------------------------------------------------------------------------- fixed terms


@pytest.mark.parametrize(
    "text, expected",
    [
        ("y ~ x", ["(Intercept)", "x"]),
        ("y ~ 1", ["(Intercept)"]),
        ("y ~ 1 + x", ["(Intercept)", "x"]),
        ("y ~ x + 1", ["(Intercept)", "x"]),
        ("y ~ a + b", ["(Intercept)", "a", "b"]),
        ("y ~ a*b", ["(Intercept)", "a", "b", "a:b"]),
        ("y ~ a:b", ["(Intercept)", "a:b"]),
        ("y ~ a/b", ["(Intercept)", "a", "a:b"]),
        ("y ~ a/(b + c)", ["(Intercept)", "a", "a:b", "a:c"]),
        ("y ~ (a + b)/c", ["(Intercept)", "a", "b", "a:b:c"]),
        ("y ~ (a + b)^2", ["(Intercept)", "a", "b", "a:b"]),
        ("y ~ (a + b + c)^2", ["(Intercept)", "a", "b", "c", "a:b", "a:c", "b:c"]),
        ("y ~ (a + b + c)^3", ["(Intercept)", "a", "b", "c", "a:b", "a:c", "b:c", "a:b:c"]),
        ("y ~ a*b*c", ["(Intercept)", "a", "b", "c", "a:b", "a:c", "b:c", "a:b:c"]),
        ("y ~ (a + b)*(c + d)",
         ["(Intercept)", "a", "b", "c", "d", "a:c", "a:d", "b:c", "b:d"]),
        ("y ~ a:b + a", ["(Intercept)", "a", "a:b"]),  # main effects before interactions
        ("y ~ a*b - a", ["(Intercept)", "b", "a:b"]),
        ("y ~ a*b - a:b", ["(Intercept)", "a", "b"]),
        ("y ~ a + b - b", ["(Intercept)", "a"]),
        ("y ~ a + a", ["(Intercept)", "a"]),
        ("y ~ a:a", ["(Intercept)", "a"]),
    ],
)
def test_fixed_terms(text, expected):
    assert labels(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("y ~ x + f:x", ["(Intercept)", "x", "x:f"]),  # x is the first variable
        ("y ~ f:x + x", ["(Intercept)", "x", "f:x"]),  # f is the first variable
        ("y ~ b:a + a:b", ["(Intercept)", "b:a"]),  # one term, named in variable order
        ("y ~ a*b - b:a", ["(Intercept)", "a", "b"]),  # b:a is the term a:b
        ("y ~ b/a + a", ["(Intercept)", "b", "a", "b:a"]),
        ("y ~ (c + a)^2", ["(Intercept)", "c", "a", "c:a"]),
    ],
)
def test_interaction_variables_in_formula_order(text, expected):
    """R's terms() labels an interaction by the order of its variables in the formula's
    variable list (response first, then left to right), not as the term was written."""
    assert labels(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("y ~ 0 + x", ["x"]),
        ("y ~ x + 0", ["x"]),
        ("y ~ x - 1", ["x"]),
        ("y ~ -1 + x", ["x"]),
        ("y ~ 0 + a*b", ["a", "b", "a:b"]),
        ("y ~ 0", []),
        ("y ~ -1", []),
        ("y ~ 0 + x + 1", ["(Intercept)", "x"]),  # the last word on the intercept wins
        ("y ~ x - 0", ["(Intercept)", "x"]),  # removing "no intercept" keeps it
    ],
)
def test_intercept_removal(text, expected):
    assert labels(text) == expected


@pytest.mark.parametrize("text, has", [("y ~ x", True), ("y ~ 0 + x", False), ("y ~ x - 1", False)])
def test_has_intercept(text, has):
    assert parse_formula(text).has_intercept is has


@pytest.mark.parametrize(
    "text, expected",
    [
        ("y ~ I(x^2)", ["(Intercept)", "I(x^2)"]),
        ("y ~ np.log(x)", ["(Intercept)", "np.log(x)"]),
        ("y ~ np.log( x + 1 )", ["(Intercept)", "np.log(x+1)"]),  # spaces removed in calls
        ("y ~ center(x) + scale(z)", ["(Intercept)", "center(x)", "scale(z)"]),
        ("y ~ C(period)", ["(Intercept)", "C(period)"]),
        ("y ~ x + I(x^2) + I(x^3)", ["(Intercept)", "x", "I(x^2)", "I(x^3)"]),
        ("y ~ np.log(x):f", ["(Intercept)", "np.log(x):f"]),
        ("y ~ `my var` + `2nd`", ["(Intercept)", "my var", "2nd"]),
        ("y ~ x.1 + x_2", ["(Intercept)", "x.1", "x_2"]),
    ],
)
def test_variables_and_calls(text, expected):
    assert labels(text) == expected


def test_response_and_text():
    f = parse_formula("log(Reaction) ~ Days")
    assert f.response == "log(Reaction)"
    assert f.text == "log(Reaction) ~ Days"
    assert parse_formula("`my y` ~ x").response == "my y"


def test_parse_result_is_plain_data():
    f = parse_formula("Reaction ~ Days + (Days | Subject)")
    assert f == Formula(
        "Reaction ~ Days + (Days | Subject)",
        "Reaction",
        (Term(()), Term(("Days",))),
        (RandomTerm((Term(()), Term(("Days",))), "Subject", ("Subject",), True),),
    )


def test_variables_in_order_of_use():
    f = parse_formula("y ~ x*f + (1 + z | g/h) + (1 | x)")
    assert f.variables == ("y", "x", "f", "z", "g", "h")


# ----------------------------------------------------------------------------- random terms


@pytest.mark.parametrize(
    "text, expected",
    [
        ("y ~ (1 | g)", [("g", ("g",), ["(Intercept)"], True)]),
        ("y ~ (x | g)", [("g", ("g",), ["(Intercept)", "x"], True)]),
        ("y ~ (1 + x | g)", [("g", ("g",), ["(Intercept)", "x"], True)]),
        ("y ~ (0 + x | g)", [("g", ("g",), ["x"], True)]),
        ("y ~ (x - 1 | g)", [("g", ("g",), ["x"], True)]),
        ("y ~ (-1 + x | g)", [("g", ("g",), ["x"], True)]),
        ("y ~ (1 + x || g)", [("g", ("g",), ["(Intercept)", "x"], False)]),
        ("y ~ (x || g)", [("g", ("g",), ["(Intercept)", "x"], False)]),
        ("y ~ (x + z | g)", [("g", ("g",), ["(Intercept)", "x", "z"], True)]),
        ("y ~ (x*z | g)", [("g", ("g",), ["(Intercept)", "x", "z", "x:z"], True)]),
        ("y ~ (1 | a:b)", [("a:b", ("a", "b"), ["(Intercept)"], True)]),
        ("y ~ (1 | a/b)", [("a", ("a",), ["(Intercept)"], True),
                           ("a:b", ("a", "b"), ["(Intercept)"], True)]),
        ("y ~ (1 | a/b/c)", [("a", ("a",), ["(Intercept)"], True),
                             ("a:b", ("a", "b"), ["(Intercept)"], True),
                             ("a:b:c", ("a", "b", "c"), ["(Intercept)"], True)]),
        ("y ~ (x | a/b)", [("a", ("a",), ["(Intercept)", "x"], True),
                           ("a:b", ("a", "b"), ["(Intercept)", "x"], True)]),
        ("y ~ (1 | a) + (1 | b)", [("a", ("a",), ["(Intercept)"], True),
                                   ("b", ("b",), ["(Intercept)"], True)]),
        ("y ~ (1 | a) + (1 | b) + (1 | a:b)", [("a", ("a",), ["(Intercept)"], True),
                                               ("b", ("b",), ["(Intercept)"], True),
                                               ("a:b", ("a", "b"), ["(Intercept)"], True)]),
        ("y ~ (1 | `my group`)", [("my group", ("my group",), ["(Intercept)"], True)]),
    ],
)
def test_random_terms(text, expected):
    assert groups(text) == expected


@pytest.mark.parametrize(
    "text, fixed",
    [
        ("y ~ x + (x | g)", ["(Intercept)", "x"]),
        ("y ~ (x | g) + x", ["(Intercept)", "x"]),
        ("y ~ (x | g)", ["(Intercept)"]),  # random terms leave the fixed intercept alone
        ("y ~ 0 + (x | g)", []),
        ("y ~ (1 | g) - 1", []),
        ("y ~ x + (1 | g) + f", ["(Intercept)", "x", "f"]),
        ("y ~ x + ((1 | g))", ["(Intercept)", "x"]),
    ],
)
def test_random_terms_leave_fixed_part(text, fixed):
    assert labels(text) == fixed
    assert [r.group for r in parse_formula(text).random] == ["g"]


def test_bar_equivalences():
    one = parse_formula("y ~ (x | g)").random
    assert one == parse_formula("y ~ (1 + x | g)").random
    assert one == parse_formula("y ~ (x + 1 | g)").random
    assert parse_formula("y ~ (1 + x || g)").random[0].correlated is False


# ----------------------------------------------------------------------------- errors


def error_of(text) -> str:
    with pytest.raises(SpecError) as info:
        parse_formula(text)
    return str(info.value)


@pytest.mark.parametrize(
    "text, message, pos, char",
    [
        ("y ~ x + + z", "expected a variable, number or '(', found '+'", 8, "+"),
        ("y ~ x +", "expected a variable, number or '(', found end of formula", 7, None),
        ("y ~ (x", "expected ')', found end of formula", 6, None),
        ("y ~ (x + z", "expected ')', found end of formula", 10, None),
        ("y ~ x)", "unexpected ')'", 5, ")"),
        ("y ~ x ~ z", "unexpected '~'", 6, "~"),
        ("y ~ x $ z", "unexpected character '$'", 6, "$"),
        ("y ~ f(x", "unclosed '(' in function call", 5, "("),
        ("~ x", "the formula needs a response before '~'", 0, "~"),
        ("y + z ~ x", "the response must be a single variable or expression", 0, "y"),
        ("y ~ x^a", "'^' needs a whole number of 1 or more", 6, "a"),
        ("y ~ x^1.5", "'^' needs a whole number of 1 or more", 6, "1"),
        ("y ~ (a + b)^0", "'^' needs a whole number of 1 or more", 12, "0"),
        ("y ~ 2 + x", "a number in a formula must be 0 or 1, not 2", 4, "2"),
        ("y ~ x + 1.0", "a number in a formula must be 0 or 1, not 1.0", 8, "1"),
        ("y ~ (2 + x | g)", "a number in a formula must be 0 or 1, not 2", 5, "2"),
        ("y ~ x*(1 | g)", "a random-effect term (... | g) must stand alone", 9, "|"),
        ("y ~ x:(1 | g)", "a random-effect term (... | g) must stand alone", 9, "|"),
        ("y ~ x - (1 | g)", "a random-effect term cannot be subtracted", 11, "|"),
        ("y ~ (0 | g)", "a random-effect term needs at least one effect before '|'", 7, "|"),
        ("y ~ (1 | log(g))", "a grouping factor must be a column name, not log(g)", 9, "l"),
        ("y ~ (1 | g + h)", "a grouping factor must be a column name, a:b or a/b", 11, "+"),
        ("y ~ (1 | (1 | g))", ("a random-effect term (... | g) cannot be part of a grouping "
         "factor"), 12, "|"),
        ("y ~ (1 | g:(1 | h))", ("a random-effect term (... | g) cannot be part of a grouping "
         "factor"), 14, "|"),
        ("y ~ (a + b)^99999999999999999999", ("the exponent 99999999999999999999 is too large "
         "(at most 4 digits)"), 12, "9"),
        ("y ~ (a + b + c)^1000000", "the exponent 1000000 is too large (at most 4 digits)",
         16, "1"),
    ],
)
def test_syntax_errors_name_position_and_point_at_it(text, message, pos, char):
    """Positions counted by hand (0-based character index into the formula); ``char`` is
    the character the caret should sit under (None: just past the end)."""
    lines = error_of(text).split("\n")
    assert lines[0].startswith(message)
    assert lines[0].endswith(f" at position {pos} of the formula")
    assert lines[1] == f"  {text}"
    assert lines[2] == "  " + " " * pos + "^"
    assert (text[pos] if pos < len(text) else None) == char


@pytest.mark.parametrize("text", ["", "   ", None])
def test_empty_formula(text):
    assert error_of(text) == "the formula is empty; expected something like 'y ~ x + (1 | g)'"


def test_missing_tilde():
    assert error_of("y x + z") == (
        "the formula 'y x + z' has no '~' between response and predictors"
    )


@pytest.mark.parametrize(
    "text, duplicated",
    [
        ("y ~ (1 | g) + (0 + x | g)", "['g']"),
        ("y ~ (1 | g) + (1 | g)", "['g']"),
        ("y ~ (1 | a/b) + (1 | a)", "['a']"),
        ("y ~ (1 | a/b) + (x | a:b) + (1 | h) + (1 | h)", "['a:b', 'h']"),
    ],
)
def test_same_grouping_factor_twice(text, duplicated):
    assert error_of(text).startswith(
        f"grouping factor(s) {duplicated} appear in more than one random term"
    )


def test_errors_are_value_errors():
    """SpecError derives from ValueError, so callers catching ValueError see it too."""
    with pytest.raises(ValueError):
        parse_formula("y ~ 3")


# ----------------------------------------------------------------------------- bounded work


@pytest.mark.parametrize("text", ["y ~ (a + b)^99999999999999999999",
                                  "y ~ (a + b)^" + "9" * 5000, "y ~ (a + b + c)^1000000"])
def test_absurd_exponents_are_refused_at_once(text):
    start = time.perf_counter()
    assert "is too large (at most 4 digits)" in error_of(text)
    assert time.perf_counter() - start < 1


@pytest.mark.parametrize("text, expected", [
    ("y ~ (a + b)^9999", ["(Intercept)", "a", "b", "a:b"]),
    ("y ~ (a + b + c)^3", ["(Intercept)", "a", "b", "c", "a:b", "a:c", "b:c", "a:b:c"]),
    ("y ~ (a + b)^0002", ["(Intercept)", "a", "b", "a:b"]),
])
def test_an_exponent_beyond_the_number_of_terms_is_the_full_interaction(text, expected):
    """R: (a + b)^k for k at least the number of terms equals a*b."""
    start = time.perf_counter()
    assert labels(text) == expected
    assert time.perf_counter() - start < 1


@pytest.mark.parametrize("text", [
    "y ~ (" + " + ".join(f"x{i}" for i in range(16)) + ")^16",
    "y ~ " + " * ".join(f"x{i}" for i in range(15)),
])
def test_expansions_beyond_the_term_limit_are_refused(text):
    assert f"at most {MAX_TERMS} are allowed" in error_of(text)


@pytest.mark.parametrize("depth", [MAX_NESTING + 1, 5000])
def test_deeply_nested_parentheses_are_a_spec_error(depth):
    message = error_of("y ~ " + "(" * depth + "x" + ")" * depth)
    assert message.startswith(f"the formula is nested too deeply (more than {MAX_NESTING} "
                              "parentheses)")


def test_nesting_up_to_the_limit_parses():
    assert labels("y ~ " + "(" * MAX_NESTING + "x" + ")" * MAX_NESTING) == ["(Intercept)", "x"]


def test_backquoted_names_keep_their_spaces_and_parentheses_inside_calls():
    assert labels("y ~ I( `dose (mg)` ^ 2 ) + log( `a b` )") == [
        "(Intercept)", "I(`dose (mg)`^2)", "log(`a b`)"]


def test_long_sums_parse_up_to_the_token_limit():
    summands = [f"x{i}" for i in range(MAX_TOKENS // 2 - 2)]
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1_000)   # Python's default (importing PyTensor raises it)
    try:
        assert len(labels("y ~ (" + " + ".join(summands) + ")")) == len(summands) + 1
    finally:
        sys.setrecursionlimit(limit)
    too_long = "y ~ (" + " + ".join(summands + ["a", "b", "c"]) + ")"
    assert f"the formula is too long (more than {MAX_TOKENS} tokens)" in error_of(too_long)
