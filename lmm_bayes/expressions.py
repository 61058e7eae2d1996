"""Formula terms as safe expression trees, evaluated by the package's own small evaluator.

A term such as ``I(x^2)``, ``np.log(Days + 1)`` or ``scale(age)`` is user text, and a
formula can come from a file (a TOML spec, a saved fit), so it must never reach Python's
``eval``: there, ``__import__('os').system(...)`` or ``().__class__.__base__`` runs code.
Instead the text is parsed with :func:`ast.parse` (which only builds a tree, running
nothing), and the tree is translated, node by node, into the few node types below under a
strict allow-list; anything else is refused with a :class:`~lmm_bayes.errors.SpecError`
that names the term and the construct. The translated tree is evaluated here, on numpy
arrays.

Allowed:

* column names, backquoted names with any characters (```my col```), and numbers;
* ``+ - * /``, powers ``^`` and ``**``, unary ``-`` and ``+``;
* comparisons ``< <= > >= == !=``, giving 0/1 values;
* the functions of :data:`FUNCTIONS` (``log``, ``log2``, ``log10``, ``log1p``, ``exp``,
  ``expm1``, ``sqrt``, ``abs``, ``sin``, ``cos``, also written ``np.log`` and so on;
  ``center``, ``scale``, ``I``) and the constant ``pi`` (``np.pi``);
* around a whole term only: ``C(x)``, ``factor(x)`` or ``as.factor(x)`` (categorical),
  ``ordered(x)`` or ``as.ordered(x)`` (ordered: polynomial contrasts) and ``poly(x, d)``,
  ``poly(x, degree = d, raw = TRUE)`` (:class:`Poly`; ``TRUE``/``FALSE``, ``T``/``F`` or
  ``True``/``False`` for ``raw``). R's dotted names (``as.factor``) are read as one name.

A refused call to an R function that has an lmm_bayes spelling (``relevel``, ``ns``,
``as.numeric``...) says what to write instead (:mod:`lmm_bayes.r_idioms`).

Refused: attribute access other than ``np.<allowed name>``, subscripts, names starting with
``__``, strings, f-strings, lambdas, comprehensions, keyword or starred arguments, calls to
anything else, a wrong number of arguments, and terms longer than :data:`MAX_LENGTH`
characters or nested deeper than :data:`MAX_DEPTH` levels.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from .errors import DesignError, SpecError
from .r_idioms import CALL_HINTS, call_hint

__all__ = ["CATEGORICAL", "CONSTANTS", "FUNCTIONS", "MAX_DEPTH", "MAX_LENGTH", "ORDERED",
           "Binary", "Call", "Compare", "Environment", "Function", "Name", "Node", "Number",
           "Poly", "Unary", "column_names", "parse_expression"]

MAX_LENGTH = 2_000
MAX_DEPTH = 200
MAX_POLY_DEGREE = 20


# ----------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Function:
    """An allowed function.

    Attributes
    ----------
    arity : int
        How many arguments it takes.
    compute : callable
        ``compute(env, *args)``: the values, from the evaluated arguments and the
        :class:`Environment` (which ``center`` and ``scale`` need to remember constants).
    numpy : bool
        Whether it may also be written ``np.<name>``.
    """

    arity: int
    compute: Callable[..., np.ndarray]
    numpy: bool = False


def _ufunc(ufunc) -> Function:
    return Function(1, lambda env, x: ufunc(x), numpy=True)


def _whole_term(name: str, example: str) -> Callable[..., np.ndarray]:
    """The compute of a function that only a whole term may call (handled by the caller,
    at the top of the tree): refuse it inside an expression."""
    def refuse(env, *args):
        raise SpecError(f"in the formula term {env.label!r}, {name}() must enclose the whole "
                        f"term, e.g. {example}; it cannot be used inside an expression")
    return refuse


def _refuse_cbind(env, successes, failures):
    raise DesignError(f"the formula term {env.label!r}: cbind(successes, failures) is only "
                      "allowed as the response of a binomial model")


FUNCTIONS: dict[str, Function] = {
    "log": _ufunc(np.log),
    "log2": _ufunc(np.log2),
    "log10": _ufunc(np.log10),
    "log1p": _ufunc(np.log1p),
    "exp": _ufunc(np.exp),
    "expm1": _ufunc(np.expm1),
    "sqrt": _ufunc(np.sqrt),
    "abs": _ufunc(np.abs),
    "sin": _ufunc(np.sin),
    "cos": _ufunc(np.cos),
    "I": Function(1, lambda env, x: x),
    "center": Function(1, lambda env, x: env.standardise(x, scale=False)),
    "scale": Function(1, lambda env, x: env.standardise(x, scale=True)),
    # around a whole term, handled by the caller (lmm_bayes.variables): categorical,
    # ordered categorical (polynomial contrasts), orthogonal or raw polynomials
    "C": Function(1, _whole_term("C", "C(period)")),
    "factor": Function(1, _whole_term("factor", "factor(period)")),
    "as.factor": Function(1, _whole_term("as.factor", "as.factor(period)")),
    "ordered": Function(1, _whole_term("ordered", "ordered(dose)")),
    "as.ordered": Function(1, _whole_term("as.ordered", "as.ordered(dose)")),
    "cbind": Function(2, _refuse_cbind),  # the binomial response: split by response.py
}
"""The only functions a formula term may call, by name."""

_NUMPY_FUNCTIONS = {name for name, function in FUNCTIONS.items() if function.numpy}

CATEGORICAL = frozenset({"C", "factor", "as.factor"})
"""Calls that make a whole term categorical (treatment contrasts), R's ``factor(x)``."""

ORDERED = frozenset({"ordered", "as.ordered"})
"""Calls that make a whole term an ordered factor (R's ``contr.poly`` contrasts)."""

_POLY_KEYWORDS = ("degree", "raw")
_LOGICAL = {"TRUE": True, "T": True, "True": True, "FALSE": False, "F": False, "False": False}

CONSTANTS: dict[str, float] = {"pi": float(np.pi)}
"""Named constants (also ``np.<name>``); a column of the same name takes precedence."""

_BINARY = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply,
           ast.Div: np.true_divide, ast.Pow: np.power}
_UNARY = {ast.USub: np.negative, ast.UAdd: np.positive}
_COMPARE = {ast.Lt: np.less, ast.LtE: np.less_equal, ast.Gt: np.greater,
            ast.GtE: np.greater_equal, ast.Eq: np.equal, ast.NotEq: np.not_equal}

_REFUSED = {  # how a refused construct is named in the error message
    ast.Subscript: "a subscript [...]", ast.Lambda: "a lambda", ast.JoinedStr: "an f-string",
    ast.FormattedValue: "an f-string", ast.Starred: "a starred argument",
    ast.ListComp: "a comprehension", ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension", ast.GeneratorExp: "a comprehension",
    ast.List: "a list", ast.Tuple: "a tuple", ast.Dict: "a dict", ast.Set: "a set",
    ast.BoolOp: "'and'/'or'", ast.IfExp: "an 'if' expression", ast.NamedExpr: "':='",
    ast.Await: "'await'", ast.Yield: "'yield'", ast.YieldFrom: "'yield'",
    ast.Slice: "a slice",
}


# ----------------------------------------------------------------------------- tree
# Each node evaluates itself on an Environment; ``children`` serves walks over the tree.


@dataclass(frozen=True)
class Environment:
    """What evaluating one term needs.

    Attributes
    ----------
    label : str
        The term, for error messages.
    data : pandas.DataFrame
        The columns its names refer to.
    standardise : callable
        ``standardise(x, scale=bool)``: ``center`` (``scale=False``) or ``scale`` of ``x``,
        remembering (or reusing) the constants of the term's next such call.
    """

    label: str
    data: pd.DataFrame
    standardise: Callable[..., np.ndarray]


@dataclass(frozen=True)
class Name:
    """A column, or failing that a constant of :data:`CONSTANTS`."""

    name: str
    children = ()

    def evaluate(self, env: Environment):
        if self.name in env.data.columns:
            return env.data[self.name].to_numpy()
        if self.name in CONSTANTS:
            return CONSTANTS[self.name]
        raise DesignError(f"the formula term {env.label!r} refers to {self.name!r}, which is "
                          f"not a column of the data (columns: {list(env.data.columns)})")


@dataclass(frozen=True)
class Number:
    value: float
    children = ()

    def evaluate(self, env: Environment) -> float:
        return self.value


@dataclass(frozen=True)
class Unary:
    op: np.ufunc
    operand: Node

    @property
    def children(self) -> tuple[Node, ...]:
        return (self.operand,)

    def evaluate(self, env: Environment):
        return self.op(self.operand.evaluate(env))


@dataclass(frozen=True)
class Binary:
    op: np.ufunc
    left: Node
    right: Node

    @property
    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)

    def evaluate(self, env: Environment):
        return self.op(self.left.evaluate(env), self.right.evaluate(env))


@dataclass(frozen=True)
class Compare:
    """``a < b``, or a chain ``a < b <= c`` (true where every comparison holds): 0/1."""

    ops: tuple[np.ufunc, ...]
    operands: tuple[Node, ...]

    @property
    def children(self) -> tuple[Node, ...]:
        return self.operands

    def evaluate(self, env: Environment) -> np.ndarray:
        values = [node.evaluate(env) for node in self.operands]
        holds = [op(a, b) for op, a, b in zip(self.ops, values, values[1:])]
        return np.logical_and.reduce(holds).astype(float)


@dataclass(frozen=True)
class Call:
    """A call of a function of :data:`FUNCTIONS`."""

    name: str
    args: tuple[Node, ...]

    @property
    def children(self) -> tuple[Node, ...]:
        return self.args

    def evaluate(self, env: Environment):
        # arguments first, so that center/scale calls are numbered inner to outer, left to
        # right (the keys of their constants in DataSchema.transforms)
        values = [node.evaluate(env) for node in self.args]
        return FUNCTIONS[self.name].compute(env, *values)


@dataclass(frozen=True)
class Poly:
    """``poly(x, degree)`` or ``poly(x, degree, raw = TRUE)``, around a whole term: columns
    of orthogonal (:mod:`lmm_bayes.polynomials`) or raw powers of ``x``, evaluated by
    :mod:`lmm_bayes.variables`.

    Attributes
    ----------
    x : Node
    degree : int
    raw : bool
    text : str
        The call as R deparses it, ``poly(x, 2)`` or ``poly(x, 2, raw = TRUE)``: the stem of
        its columns' names (``poly(x, 2)1``, ``poly(x, 2)2``).
    """

    x: Node
    degree: int
    raw: bool
    text: str

    @property
    def children(self) -> tuple[Node, ...]:
        return (self.x,)

    def evaluate(self, env: Environment):
        raise SpecError(f"in the formula term {env.label!r}, poly() must enclose the whole "
                        "term, e.g. poly(x, 2); it cannot be used inside an expression")


Node = Name | Number | Unary | Binary | Compare | Call | Poly


# ----------------------------------------------------------------------------- parsing


def _refuse(label: str, what: str) -> SpecError:
    return SpecError(f"the formula term {label!r} uses {what}, which is not allowed; a term "
                     f"may use columns, numbers, + - * / ^, comparisons, pi and the "
                     f"functions {sorted([*FUNCTIONS, 'poly'])}")


def _check_size(label: str) -> None:
    """Refuse text too deeply bracketed or too long to parse safely (the parser recurses)."""
    depth = 0
    for pos, char in enumerate(label):
        depth += (char in "([{") - (char in ")]}")
        if depth > MAX_DEPTH:
            raise SpecError(f"the formula term {label[:40]!r}... is nested too deeply (more "
                            f"than {MAX_DEPTH} brackets, at position {pos})")
    if len(label) > MAX_LENGTH:
        raise SpecError(f"the formula term {label[:40]!r}... is {len(label)} characters long; "
                        f"the limit is {MAX_LENGTH}")


def _python_source(label: str) -> tuple[str, dict[str, str]]:
    """Python text for ``label``: ``^`` as ``**``, each backquoted name, and each called R
    function with a dot in its name (``as.factor(``), replaced by a placeholder identifier;
    returns the text and the placeholder → name mapping."""
    prefix = "_bq"
    while prefix in label:  # placeholders must not clash with the user's names
        prefix += "_"
    quoted: dict[str, str] = {}

    def placeholder(match: re.Match) -> str:
        if match.group() == "^":
            return "**"
        dotted = match.group(1) is None  # shown without backquotes (_Translator.text)
        key = f"{prefix}{'r' * dotted}{len(quoted)}"
        quoted[key] = match.group(2) if dotted else match.group(1)
        return key

    if label.count("`") % 2:
        raise SpecError(f"the formula term {label!r} has an unclosed backquote")
    return re.sub(_PLACEHOLDERS, placeholder, label), quoted


# placeholder of an R dotted name: the prefix, "r", a number
NAME_DOTTED = re.compile(r"_bq_*r\d+")
# R's dotted function names, allowed or with a hint (others are Python attribute access)
_R_DOTTED = sorted(name for name in [*FUNCTIONS, *CALL_HINTS] if "." in name)
# a backquoted name; an R dotted function name called; a power
_PLACEHOLDERS = re.compile(r"`([^`]*)`|(?<![\w.])("
                           + "|".join(map(re.escape, _R_DOTTED)) + r")(?=\s*\()|\^")


@lru_cache(maxsize=4096)
def parse_expression(label: str) -> Node:
    """The expression tree of a formula term.

    Parameters
    ----------
    label : str
        The term as the formula writes it, e.g. ``"I(x^2)"`` or ``"np.log(Days+1)"``.

    Returns
    -------
    Node
        The root of the tree (immutable, so parses are cached); ``root.evaluate(env)`` gives
        the values on an :class:`Environment`: an array, or a number for a constant term.
        A name that is neither a column nor a constant raises :class:`DesignError` there,
        naming it and listing the columns.

    Raises
    ------
    SpecError
        Unreadable text, or a construct off the allow-list, naming the term and the construct.
    """
    _check_size(label)
    source, quoted = _python_source(label.strip())
    try:
        tree = ast.parse(source, mode="eval")
    except (SyntaxError, ValueError) as err:
        raise SpecError(f"cannot read the formula term {label!r}: "
                        f"{getattr(err, 'msg', err)}") from None
    except (RecursionError, MemoryError):  # how CPython's parser reports deep nesting
        raise SpecError(f"the formula term {label[:40]!r}... is nested too deeply") from None
    return _Translator(label, source, quoted).node(tree.body, 0)


class _Translator:
    """Translate a Python AST into the tree above, refusing what is not allowed."""

    def __init__(self, label: str, source: str, quoted: dict[str, str]):
        self.label = label
        self.source = source
        self.quoted = quoted

    def text(self, node: ast.AST) -> str:
        """The text of ``node`` as written (for messages; unlike ast.unparse, no recursion)."""
        text = ast.get_source_segment(self.source, node) or ""
        for key, name in sorted(self.quoted.items(), key=lambda item: -len(item[0])):
            text = text.replace(key, name if NAME_DOTTED.fullmatch(key) else f"`{name}`")
        return text

    def node(self, node: ast.AST, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise SpecError(f"the formula term {self.label[:40]!r}... is nested too deeply "
                            f"(more than {MAX_DEPTH} levels)")
        depth += 1
        if isinstance(node, ast.Constant):
            return self.number(node.value)
        if isinstance(node, ast.Name):
            return Name(self.name(node.id))
        if isinstance(node, ast.Attribute):
            return Name(self.numpy_name(node, CONSTANTS))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return Unary(_UNARY[type(node.op)], self.node(node.operand, depth))
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return Binary(_BINARY[type(node.op)], self.node(node.left, depth),
                          self.node(node.right, depth))
        if isinstance(node, ast.Compare) and all(type(op) in _COMPARE for op in node.ops):
            operands = [node.left, *node.comparators]
            return Compare(tuple(_COMPARE[type(op)] for op in node.ops),
                           tuple(self.node(operand, depth) for operand in operands))
        if isinstance(node, ast.Call) and self.call_name(node) == "poly":
            return self.poly(node, depth)
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        if isinstance(node, (ast.UnaryOp, ast.BinOp, ast.Compare)):
            raise _refuse(self.label, f"the operator in {self.text(node)!r}")
        raise _refuse(self.label, _REFUSED.get(type(node), f"a {type(node).__name__} node"))

    def number(self, value) -> Number:
        if isinstance(value, str):
            raise _refuse(self.label, f"the string {value!r}")
        if type(value) not in (int, float):  # bool is an int: excluded by the exact type
            raise _refuse(self.label, f"the constant {value!r}")
        try:
            return Number(float(value))
        except OverflowError:
            raise _refuse(self.label, "a number too large for a float") from None

    def name(self, identifier: str) -> str:
        if identifier in self.quoted:
            return self.quoted[identifier]
        if identifier.startswith("__"):
            raise _refuse(self.label, f"the name {identifier!r} (names starting with '__')")
        return identifier

    def numpy_name(self, node: ast.Attribute, allowed) -> str:
        """``np.<name>`` for a name in ``allowed``; any other attribute access is refused."""
        if (isinstance(node.value, ast.Name) and node.value.id == "np"
                and node.attr in allowed):
            return node.attr
        raise _refuse(self.label, f"the attribute access {self.text(node)!r} (only "
                                  f"np.<function> and np.pi; backquote a column name with "
                                  f"dots, e.g. `a.b`)")

    def call_name(self, node: ast.Call) -> str | None:
        """The name a call is written with (an R dotted name as written), if a plain name."""
        if isinstance(node.func, ast.Name):
            return self.quoted.get(node.func.id, node.func.id)
        return None

    def call(self, node: ast.Call, depth: int) -> Call:
        written = self.call_name(node)
        if isinstance(node.func, ast.Attribute):
            name = self.numpy_name(node.func, _NUMPY_FUNCTIONS)
        elif written in FUNCTIONS:
            name = written
        else:
            raise SpecError(str(_refuse(self.label, f"a call to {self.text(node.func)!r}"))
                            + call_hint(written or ""))
        if node.keywords and name == "scale":
            raise SpecError(f"in the formula term {self.label!r}: scale() takes no options; "
                            "R's scale(x, scale = FALSE) is center(x), scale(x) divides by "
                            "the SD as well")
        if node.keywords:
            raise _refuse(self.label, f"keyword arguments in {name}()")
        if any(isinstance(arg, ast.Starred) for arg in node.args):
            raise _refuse(self.label, f"a starred argument in {name}()")
        arity = FUNCTIONS[name].arity
        if len(node.args) != arity:
            base = (" (R's log(x, base): write log2(x), log10(x) or log(x)/log(b))"
                    if name == "log" else "")
            raise SpecError(f"in the formula term {self.label!r}, {name}() takes {arity} "
                            f"argument{'s' * (arity != 1)}, not {len(node.args)}{base}")
        return Call(name, tuple(self.node(arg, depth) for arg in node.args))

    def poly(self, node: ast.Call, depth: int) -> Poly:
        """``poly(x)``, ``poly(x, d)``, ``poly(x, degree = d)``, with ``raw = TRUE/FALSE``."""
        usage = ("poly() takes a variable and a degree, poly(x, 2), and optionally "
                 "raw = TRUE")
        options = {k.arg: k.value for k in node.keywords}
        if (not 1 <= len(node.args) <= 2 or None in options
                or set(options) - set(_POLY_KEYWORDS)
                or (len(node.args) == 2 and "degree" in options)):
            raise SpecError(f"in the formula term {self.label!r}: {usage}")
        given = node.args[1] if len(node.args) == 2 else options.get("degree")
        degree = 1 if given is None else self.poly_degree(given)
        raw = self.logical(options["raw"]) if "raw" in options else False
        written = [self.text(arg) for arg in node.args]
        written += [f"{k.arg} = {self.text(k.value)}" for k in node.keywords]
        return Poly(self.node(node.args[0], depth), degree, raw, f"poly({', '.join(written)})")

    def poly_degree(self, node: ast.AST) -> int:
        if (isinstance(node, ast.Constant) and type(node.value) is int
                and 1 <= node.value <= MAX_POLY_DEGREE):
            return node.value
        raise SpecError(f"in the formula term {self.label!r}, the degree of poly() must be a "
                        f"whole number from 1 to {MAX_POLY_DEGREE}, not {self.text(node)!r}")

    def logical(self, node: ast.AST) -> bool:
        if isinstance(node, ast.Name) and node.id in _LOGICAL:
            return _LOGICAL[node.id]
        if isinstance(node, ast.Constant) and type(node.value) is bool:
            return node.value
        raise SpecError(f"in the formula term {self.label!r}, raw = must be TRUE or FALSE, "
                        f"not {self.text(node)!r}")


# ----------------------------------------------------------------------------- walks


def _walk(node: Node) -> Iterator[Node]:
    yield node
    for child in node.children:
        yield from _walk(child)


def column_names(tree: Node) -> list[str]:
    """The names a tree refers to (columns, or constants such as ``pi``), once, in order."""
    return list(dict.fromkeys(n.name for n in _walk(tree) if isinstance(n, Name)))
