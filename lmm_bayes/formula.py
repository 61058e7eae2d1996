"""Parse lme4-style model formulas into fixed and random terms.

The parser is a small scanner → parser → term-algebra pipeline of our own (no data is
touched here). It follows R's formula semantics (Wilkinson & Rogers 1973; Chambers & Hastie
1992, ch. 2) and lme4's random-effect bars (Bates et al. 2015, *J. Stat. Softw.* 67(1)):

* ``a + b`` adds terms, ``a - b`` removes them, ``0 +`` / ``- 1`` drops the intercept;
* ``a:b`` is the interaction, ``a*b`` = ``a + b + a:b``, ``a/b`` = ``a + a:b``,
  ``(a + b)^2`` all interactions up to order two;
* ``(expr | g)`` random effects of ``expr`` (intercept implied) varying by ``g``, correlated;
  ``(expr || g)`` the same with independent effects; ``(expr | a/b)`` = ``(expr | a) + (expr | a:b)``;
  ``(expr | gr(g, by = arm))`` a separate covariance of the effects per level of ``arm``
  (brms's ``gr()``, Bürkner 2018);
* ``(expr |p| g)`` brms's ID syntax (Bürkner 2018, "Advanced Bayesian multilevel modeling
  with the R package brms"): every term with the same ID and grouping factor, in any formula
  of a multivariate model, shares one covariance matrix (:mod:`lmm_bayes.multivariate`);
* a variable is a column name, a backquoted name, or a call such as ``np.log(x)``,
  ``I(x^2)``, ``center(x)``, ``scale(x)`` or ``C(x)`` (treat ``x`` as categorical), kept here
  as text and checked and evaluated later, under an allow-list, by
  :mod:`lmm_bayes.expressions`;
* ``offset(expr)`` added to the fixed part: a known term of the linear predictor with
  coefficient 1, e.g. ``offset(log(exposure))`` (R's and lme4's ``offset()``); ``expr`` is any
  variable expression; several offsets are summed;
* ``y | cens(censored)`` or ``y | cens(censored, upper)`` on the left-hand side: a censored
  response (brms's ``cens()``, Bürkner 2017), the codes of each row's censoring in the column
  ``censored`` and, for interval-censored rows, the upper bound in ``upper``; checked against
  the data in :mod:`lmm_bayes.censoring`. No other addition is taken (weights are the
  ``weights=`` option).

Formulas are user input (a TOML spec, a saved fit), so the parser bounds its work: at most
:data:`MAX_TOKENS` tokens and :data:`MAX_NESTING` nested parentheses, exponents of at most
:data:`MAX_EXPONENT_DIGITS` digits (``(a + b)^k`` for ``k`` at least the number of terms is
their full interaction, as in R), and at most :data:`MAX_TERMS` terms from one expansion;
beyond these a :class:`SpecError` names the position.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import combinations
from math import comb

from .errors import SpecError
from .expressions import parse_expression
from .r_idioms import operator_hint

__all__ = ["NAME", "Censoring", "Formula", "RandomTerm", "Term", "parse_formula"]

INTERCEPT = "(Intercept)"
MAX_NESTING = 100
# the term algebra recurses once per term of a sum: 800 tokens (a sum of ~400 terms) stay
# within Python's default recursion limit of 1,000 frames
MAX_TOKENS = 800
MAX_EXPONENT_DIGITS = 4
MAX_TERMS = 10_000


@dataclass(frozen=True)
class Term:
    """One model term: a product of variables; the empty product is the intercept."""

    factors: tuple[str, ...]

    @property
    def label(self) -> str:
        """lme4's name of the term: ``(Intercept)``, ``Days``, ``zBase:Trt``."""
        return ":".join(self.factors) if self.factors else INTERCEPT

    @property
    def is_intercept(self) -> bool:
        return not self.factors


@dataclass(frozen=True)
class RandomTerm:
    """Random effects of ``terms`` varying over the levels of one grouping factor.

    Attributes
    ----------
    terms : tuple of Term
        The effects that vary by level, the intercept (if any) first.
    group : str
        Name of the grouping factor, e.g. ``"Subject"`` or ``"batch:cask"``.
    group_columns : tuple of str
        Data columns whose combination defines the levels, e.g. ``("batch", "cask")``.
    correlated : bool
        ``True`` for ``|`` (one covariance matrix with correlations), ``False`` for ``||``.
    by : str or None
        From ``gr(g, by = arm)``: the column whose levels each get their own covariance
        (grouping factors ``g:armA``, ``g:armB``...).
    id : str or None
        From ``(expr |p| g)``: the ID ``"p"`` that joins this term's covariance with the
        terms of other formulas with the same ID and grouping factor (multivariate models;
        a univariate model ignores it).
    """

    terms: tuple[Term, ...]
    group: str
    group_columns: tuple[str, ...]
    correlated: bool
    by: str | None = None
    id: str | None = None


@dataclass(frozen=True)
class Censoring:
    """brms's ``cens()`` on the response: ``y | cens(column)`` or ``y | cens(column, upper)``.

    Attributes
    ----------
    column : str
        The column of each row's censoring: ``"none"``, ``"left"``, ``"right"``,
        ``"interval"`` (or brms's codes 0, −1, 1, 2; a logical column is right-censoring,
        as in brms), read by :mod:`lmm_bayes.censoring`.
    upper : str or None
        The column of the upper bounds of the interval-censored rows (other rows may be
        missing there).
    """

    column: str
    upper: str | None = None


@dataclass(frozen=True)
class Formula:
    """A parsed formula: response, fixed terms and random terms, in lme4's order, the
    expressions of its ``offset()`` terms (``"log(exposure)"``), each once, in order, and the
    response's censoring (``y | cens(censored) ~ ...``), if any."""

    text: str
    response: str
    fixed: tuple[Term, ...]
    random: tuple[RandomTerm, ...]
    offsets: tuple[str, ...] = ()
    censoring: Censoring | None = None

    @property
    def has_intercept(self) -> bool:
        return bool(self.fixed) and self.fixed[0].is_intercept

    @property
    def variables(self) -> tuple[str, ...]:
        """Every variable the formula uses (response, censoring codes, predictors, offsets,
        grouping columns), once; not the upper bounds of ``cens()``, which only the
        interval-censored rows need."""
        found = [self.response, *([self.censoring.column] if self.censoring else [])]
        for term in self.fixed:
            found.extend(term.factors)
        found.extend(self.offsets)
        for rterm in self.random:
            for term in rterm.terms:
                found.extend(term.factors)
            found.extend(rterm.group_columns)
            found.extend([rterm.by] if rterm.by else [])
        return tuple(dict.fromkeys(found))


# ----------------------------------------------------------------------------- scanner

NAME = re.compile(r"[A-Za-z_.][A-Za-z0-9_.]*")
"""A variable name as the formula writes it without backquotes (R allows dots: ``log.dose``)."""

_TOKEN = re.compile(
    r"(?P<space>\s+)|(?P<bar2>\|\|)|(?P<op>[~+\-*/:^|(),])|(?P<number>\d+(\.\d*)?)"
    rf"|(?P<name>{NAME.pattern})|(?P<quoted>`[^`]+`)"
)


@dataclass(frozen=True)
class _Token:
    kind: str  # "op", "number", "name", "call", "end"
    text: str
    pos: int


def _fail(text: str, pos: int, message: str) -> SpecError:
    pointer = " " * pos + "^"
    return SpecError(f"{message} at position {pos} of the formula\n  {text}\n  {pointer}")


_CALL_PIECE = re.compile(r"`[^`]*`|[()]|[^`()]+|`")


def _call_end(text: str, open_pos: int) -> int:
    """Index just past the parenthesis that closes the one at ``open_pos`` (parentheses in
    backquoted names do not count)."""
    depth = 0
    for piece in _CALL_PIECE.finditer(text, open_pos):
        depth += {"(": 1, ")": -1}.get(piece.group(), 0)
        if depth == 0:
            return piece.end()
    raise _fail(text, open_pos, "unclosed '(' in function call")


def _without_spaces(call: str) -> str:
    """A call's text without white space, except inside backquoted names."""
    return re.sub(r"(`[^`]*`)|\s+", lambda m: m.group(1) or "", call)


def _check_size(text: str, tokens: list[_Token]) -> None:
    """Refuse more than MAX_NESTING nested parentheses or MAX_TOKENS tokens: the parser and
    the term algebra recurse, a few stack frames per parenthesis and per operator."""
    depth = 0
    for tok in tokens:
        if tok.kind == "op" and tok.text in "()":
            depth += 1 if tok.text == "(" else -1
            if depth > MAX_NESTING:
                raise _fail(text, tok.pos, f"the formula is nested too deeply (more than "
                            f"{MAX_NESTING} parentheses)")
    if len(tokens) > MAX_TOKENS:
        raise _fail(text, tokens[MAX_TOKENS].pos, f"the formula is too long (more than "
                    f"{MAX_TOKENS} tokens)")


def _scan(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise _fail(text, pos, f"unexpected character {text[pos]!r}"
                        f"{operator_hint(text, pos)}")
        kind, value = match.lastgroup, match.group()
        if kind == "name" and match.end() < len(text) and text[match.end()] == "(":
            end = _call_end(text, match.end())
            tokens.append(_Token("call", _without_spaces(text[pos:end]), pos))
            pos = end
            continue
        if kind == "quoted":
            tokens.append(_Token("name", value[1:-1], pos))
        elif kind == "bar2":
            tokens.append(_Token("op", "||", pos))
        elif kind != "space":
            tokens.append(_Token(kind, value, pos))
        pos = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


# ----------------------------------------------------------------------------- parser
# AST nodes are tuples: ("var", label, pos), ("num", text, pos), ("bin", op, left, right, pos),
# ("bar", lhs, group, correlated, pos, id), ("offset", expression, pos).

_BINARY_LEVELS = (("+", "-"), ("*", "/"), (":",))
_OFFSET = "offset("


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = _scan(text)
        _check_size(text, self.tokens)
        self.i = 0

    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def take(self, op: str) -> _Token:
        if self.tok.kind != "op" or self.tok.text != op:
            found = repr(self.tok.text) if self.tok.kind != "end" else "end of formula"
            raise _fail(self.text, self.tok.pos, f"expected {op!r}, found {found}")
        self.i += 1
        return self.tokens[self.i - 1]

    def at_op(self, *ops: str) -> bool:
        return self.tok.kind == "op" and self.tok.text in ops

    def formula(self):
        if self.at_op("~"):
            raise _fail(self.text, self.tok.pos, "the formula needs a response before '~'")
        lhs = self.binary(0)
        censoring = self.additions() if self.at_op("|") else None
        self.take("~")
        rhs = self.binary(0)
        if self.tok.kind != "end":
            raise _fail(self.text, self.tok.pos, f"unexpected {self.tok.text!r}")
        return lhs, censoring, rhs

    def additions(self) -> Censoring:
        """brms's additions after ``y |``: ``cens(...)``, once (the only one taken)."""
        self.take("|")
        found = None
        while True:
            if self.tok.kind != "call":
                raise _fail(self.text, self.tok.pos, f"expected an addition such as "
                            f"cens(censored) after '|'; {_SUPPORTED_ADDITIONS}")
            addition = _addition(self.text, self.tok)
            if found is not None:
                raise _fail(self.text, self.tok.pos, "cens() can be given once")
            found = addition
            self.i += 1
            if not self.at_op("+"):
                return found
            self.take("+")

    def binary(self, level: int):
        if level == len(_BINARY_LEVELS):
            return self.power()
        if level == 0 and self.at_op("-", "+"):  # leading "-1" or "+x"
            op = self.take(self.tok.text)
            node = ("bin", op.text, ("empty",), self.binary(1), op.pos)
        else:
            node = self.binary(level + 1)
        while self.at_op(*_BINARY_LEVELS[level]):
            op = self.take(self.tok.text)
            node = ("bin", op.text, node, self.binary(level + 1), op.pos)
        return node

    def power(self):
        node = self.atom()
        if self.at_op("^"):
            op = self.take("^")
            digits = self.tok.text.lstrip("0") if self.tok.kind == "number" else "."
            if len(digits) > MAX_EXPONENT_DIGITS and digits.isdigit():  # before int(): cheap
                raise _fail(self.text, self.tok.pos, f"the exponent {self.tok.text[:20]} is "
                            f"too large (at most {MAX_EXPONENT_DIGITS} digits)")
            if not digits.isdigit():  # a fraction, 0 or not a number
                raise _fail(self.text, self.tok.pos, "'^' needs a whole number of 1 or more")
            node = ("bin", "^", node, ("num", digits, self.tok.pos), op.pos)
            self.i += 1
        return node

    def term_id(self, bar: _Token) -> str | None:
        """The ID of brms's ``(expr |p| g)`` after the first bar, or None for ``(expr | g)``."""
        following = self.tokens[self.i + 1]
        if self.tok.kind != "name" or following.kind != "op" or following.text not in ("|", "||"):
            return None
        if bar.text == "||" or following.text == "||":
            raise _fail(self.text, bar.pos, "an ID term is written (expr |p| g), with single "
                        "bars; its effects are correlated")
        term_id = self.tok.text
        self.i += 2
        return term_id

    def atom(self):
        tok = self.tok
        if tok.kind == "call" and tok.text.startswith(_OFFSET):
            self.i += 1
            return ("offset", tok.text[len(_OFFSET):-1], tok.pos)
        if tok.kind in ("name", "call"):
            self.i += 1
            return ("var", tok.text, tok.pos)
        if tok.kind == "number":
            self.i += 1
            return ("num", tok.text, tok.pos)
        if self.at_op("("):
            self.take("(")
            inner = self.binary(0)
            if self.at_op("|", "||"):
                bar = self.take(self.tok.text)
                term_id = self.term_id(bar)
                group = self.binary(0)
                self.take(")")
                return ("bar", inner, group, bar.text == "|", bar.pos, term_id)
            self.take(")")
            return inner
        found = repr(tok.text) if tok.kind != "end" else "end of formula"
        raise _fail(self.text, tok.pos, f"expected a variable, number or '(', found {found}")


_SUPPORTED_ADDITIONS = ("the response takes cens(censored) or cens(censored, upper) (a "
                        "censored response); weights are the weights= option, e.g. "
                        "weights=\"w\"")
_ARGUMENT = re.compile(rf"^(?:y2=)?({NAME.pattern}|`[^`]+`)$")


def _addition(text: str, tok: _Token) -> Censoring:
    """The :class:`Censoring` of a ``cens(column)`` or ``cens(column, upper)`` call (brms's
    ``cens(x, y2)``; ``y2 = upper`` also); SpecError for any other addition."""
    name, _, inner = tok.text.partition("(")
    if name == "weights":
        raise _fail(text, tok.pos, f"weights are not written in the formula: give the "
                    f"option weights=\"{inner[:-1]}\" instead of {tok.text}")
    if name != "cens":
        raise _fail(text, tok.pos, f"{name}() is not a supported addition to the response; "
                    f"{_SUPPORTED_ADDITIONS}")
    arguments = [_ARGUMENT.match(part) for part in re.findall(r"`[^`]*`|[^,]+", inner[:-1])]
    if not 1 <= len(arguments) <= 2 or not all(arguments):
        raise _fail(text, tok.pos, "cens() takes one or two column names: cens(censored) or "
                    "cens(censored, upper)")
    columns = [m.group(1).strip("`") for m in arguments]
    return Censoring(*columns)


# ----------------------------------------------------------------------------- term algebra


def _merge(*parts: tuple[str, ...]) -> tuple[str, ...]:
    """The product of terms: their variables, each once, in order of appearance."""
    return tuple(dict.fromkeys(f for part in parts for f in part))


def _unique(terms) -> list[tuple[str, ...]]:
    return list(dict.fromkeys(terms))


def _variable_order(node, order: dict[str, int]) -> dict[str, int]:
    """Number the variables of ``node`` by first appearance, not entering random terms.

    As in R's ``terms()``, the variables of an interaction are listed in this order whatever
    order they were written in: ``y ~ x + f:x`` has the term ``x:f``, and ``a:b`` and ``b:a``
    are one term.
    """
    if node[0] == "var":
        order.setdefault(node[1], len(order))
    elif node[0] == "bin":
        _variable_order(node[2], order)
        _variable_order(node[3], order)
    return order


class _TermAlgebra:
    """Evaluate an AST into ``(terms, intercept)``: terms without the intercept, and the
    intercept flag (``None`` unspecified, ``True`` added by ``1``, ``False`` removed)."""

    def __init__(self, text: str, order: dict[str, int], random: bool = False):
        self.text = text
        self.order = order
        self.random = random  # the left side of a random term, for the offset's message

    def merge(self, *parts: tuple[str, ...]) -> tuple[str, ...]:
        """The product of terms, its variables in the formula's variable order."""
        return tuple(sorted(_merge(*parts), key=self.order.__getitem__))

    def eval(self, node):
        kind = node[0]
        if kind == "empty":
            return [], None
        if kind == "var":
            return [(node[1],)], None
        if kind == "num":
            if node[1] not in ("0", "1"):
                raise _fail(self.text, node[2], f"a number in a formula must be 0 or 1, not {node[1]}")
            return [], node[1] == "1"
        if kind == "bar":
            raise _fail(self.text, node[4], "a random-effect term (... | g) must stand alone, "
                        "added to the rest of the formula")
        if kind == "offset":
            where = ("cannot be part of a random-effect term (... | g)" if self.random
                     else "must stand alone, added to the rest of the formula")
            raise _fail(self.text, node[2], f"an offset {where}, e.g. y ~ x + "
                        "offset(log(exposure)) + (1 | g)")
        return self.binary(node)

    def check_count(self, count: int, pos: int) -> None:
        """Refuse an expansion into more than MAX_TERMS terms before computing it."""
        if count > MAX_TERMS:
            raise _fail(self.text, pos, f"this would expand into {count} terms; at most "
                        f"{MAX_TERMS} are allowed")

    def power(self, node):
        """``(a + b + ...)^k``: every product of up to ``k`` of the terms; for ``k`` at least
        the number of terms that is every product (R's semantics), so ``k`` is capped there."""
        _, _, left, right, pos = node
        terms, _ = self.eval(left)
        order = min(int(right[1]), len(terms))
        self.check_count(sum(comb(len(terms), k) for k in range(1, order + 1)), pos)
        products = (self.merge(*combo) for k in range(1, order + 1)
                    for combo in combinations(terms, k))
        return _unique(products), None

    def binary(self, node):
        _, op, left, right, pos = node
        if op == "^":
            return self.power(node)
        lterms, lflag = self.eval(left)
        rterms, rflag = self.eval(right)
        if op in (":", "*"):
            self.check_count(len(lterms) * len(rterms), pos)
        if op == "+":
            return _unique(lterms + rterms), rflag if rflag is not None else lflag
        if op == "-":
            flag = (not rflag) if rflag is not None else lflag
            return [t for t in lterms if t not in rterms], flag
        inter = _unique(self.merge(a, b) for a in lterms for b in rterms)
        if op == ":":
            return inter, None
        if op == "*":
            return _unique(lterms + rterms + inter), None
        nested = _unique(self.merge(tuple(f for t in lterms for f in t), b) for b in rterms)
        return _unique(lterms + nested), None  # op == "/"


def _ordered_terms(terms: list[tuple[str, ...]], intercept: bool) -> tuple[Term, ...]:
    """R's order: the intercept, then terms by interaction order, then by appearance."""
    ranked = sorted(terms, key=len)
    return ((Term(()),) if intercept else ()) + tuple(Term(t) for t in ranked)


def _split_sum(node, sign: int = 1) -> list[tuple[int, tuple]]:
    """The top-level summands of the right-hand side with their signs (random terms live
    only there)."""
    if node[0] == "bin" and node[1] in ("+", "-"):
        right_sign = sign if node[1] == "+" else -sign
        return _split_sum(node[2], sign) + _split_sum(node[3], right_sign)
    return [(sign, node)]


_GR_CALL = re.compile(r"^gr\(([\w.]+(?::[\w.]+)*)(?:,by=([\w.]+))?\)$")


def _gr_call(node, text: str) -> tuple[tuple[str, ...], str | None] | None:
    """``gr(g, by = arm)`` → ((g,), "arm"); None for anything else than a ``gr`` call."""
    if node[0] != "var" or not node[1].startswith("gr("):
        return None
    match = _GR_CALL.match(node[1])
    if match is None:
        raise _fail(text, node[2], "expected gr(g) or gr(g, by = column)")
    return tuple(match.group(1).split(":")), match.group(2)


def _grouping_factors(node, text: str) -> list[tuple[str, ...]]:
    """Grouping factors of a bar's right side: ``g``, ``a:b``, ``a/b`` (→ a, a:b)."""
    kind = node[0]
    if kind == "bar":
        raise _fail(text, node[4], "a random-effect term (... | g) cannot be part of a "
                    "grouping factor")
    if kind == "var":
        if "(" in node[1]:
            raise _fail(text, node[2], f"a grouping factor must be a column name, not {node[1]}")
        return [(node[1],)]
    if kind == "bin" and node[1] in (":", "/"):
        left = _grouping_factors(node[2], text)
        right = _grouping_factors(node[3], text)
        if node[1] == ":":
            return [_merge(a, b) for a in left for b in right]
        outer = tuple(f for g in left for f in g)
        return left + [_merge(outer, b) for b in right]
    pos = node[-1]
    raise _fail(text, pos, "a grouping factor must be a column name, a:b or a/b")


def _random_terms(node, text: str) -> list[RandomTerm]:
    _, lhs, group, correlated, pos, term_id = node
    algebra = _TermAlgebra(text, _variable_order(lhs, {}), random=True)
    terms, flag = algebra.eval(lhs)
    effects = _ordered_terms(terms, flag is not False)
    if not effects:
        raise _fail(text, pos, "a random-effect term needs at least one effect before '|'")
    gr = _gr_call(group, text)
    if gr is not None:
        if term_id is not None:
            raise _fail(text, pos, "an ID term (expr |p| g) cannot use gr(g, by = ...)")
        return [RandomTerm(effects, ":".join(gr[0]), gr[0], correlated, gr[1])]
    return [
        RandomTerm(effects, ":".join(factors), factors, correlated, id=term_id)
        for factors in _grouping_factors(group, text)
    ]


def _offset(node, sign: int, text: str) -> str:
    """The expression of a top-level ``offset(expr)``, checked against the allow-list of
    :mod:`lmm_bayes.expressions` here, so that the error can point at it."""
    _, expression, pos = node
    if sign < 0:
        raise _fail(text, pos, "an offset cannot be subtracted")
    if not expression:
        raise _fail(text, pos, "offset() needs an expression, e.g. offset(log(exposure))")
    try:
        parse_expression(expression)
    except SpecError as err:
        raise _fail(text, pos, f"offset({expression}) is not a valid expression ({err})") from None
    return expression


def parse_formula(text: str) -> Formula:
    """Parse an lme4-style formula.

    Parameters
    ----------
    text : str
        For example ``"Reaction ~ Days + (Days | Subject)"``.

    Returns
    -------
    Formula
        Response, fixed terms (intercept first, then by order), random terms and offsets
        (each once, as R keeps each variable once).

    Raises
    ------
    SpecError
        On a syntax error, with the position and a caret under it.

    Examples
    --------
    >>> f = parse_formula("y ~ a*b + (1 | g/h)")
    >>> [t.label for t in f.fixed]
    ['(Intercept)', 'a', 'b', 'a:b']
    >>> [r.group for r in f.random]
    ['g', 'g:h']
    """
    if not isinstance(text, str) or not text.strip():
        raise SpecError("the formula is empty; expected something like 'y ~ x + (1 | g)'")
    if "~" not in text:
        raise SpecError(f"the formula {text!r} has no '~' between response and predictors")
    lhs, censoring, rhs = _Parser(text).formula()
    if lhs[0] != "var":
        raise _fail(text, 0, "the response must be a single variable or expression")
    random: list[RandomTerm] = []
    offsets: list[str] = []
    terms: list[tuple[str, ...]] = []
    flag = None
    algebra = _TermAlgebra(text, _variable_order(rhs, {lhs[1]: 0}))
    for sign, node in _split_sum(rhs):
        if node[0] == "bar":
            if sign < 0:
                raise _fail(text, node[4], "a random-effect term cannot be subtracted")
            random.extend(_random_terms(node, text))
            continue
        if node[0] == "offset":
            offsets.append(_offset(node, sign, text))
            continue
        node_terms, node_flag = algebra.eval(node)
        if sign > 0:
            terms = _unique(terms + node_terms)
            flag = node_flag if node_flag is not None else flag
        else:
            terms = [t for t in terms if t not in node_terms]
            flag = (not node_flag) if node_flag is not None else flag
    fixed = _ordered_terms(terms, flag is not False)
    groups = [r.group for r in random]
    duplicated = {g for g in groups if groups.count(g) > 1}
    if duplicated:
        raise SpecError(
            f"grouping factor(s) {sorted(duplicated)} appear in more than one random term; "
            "put all effects of one grouping factor in one term, e.g. (1 + x | g), or use || "
            "for independent effects"
        )
    return Formula(text, lhs[1], fixed, tuple(random), tuple(dict.fromkeys(offsets)),
                   censoring)
