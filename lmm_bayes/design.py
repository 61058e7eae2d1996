"""Build the design of a mixed model from a parsed formula and a data frame.

The fixed-effect design is a dense matrix ``X`` (n × p). Random effects are *indexed*: for
each grouping factor the design holds the level index of every row and the few covariate
columns whose effects vary by level (``Z``, n × q with q the number of varying terms), so the
random part of the linear predictor is ``sum_k Z[i, k] * b[level[i], k]`` and no n × (levels·q)
matrix is ever formed.

Categorical variables are coded as in R's ``model.matrix`` (Chambers & Hastie 1992, ch. 2):
treatment contrasts (first level as reference) when the term without that variable is also
in the model, indicator columns otherwise; columns are named as lme4 names them
(``SexFemale``, ``period2``, ``zBase:Trt1``). An ordered factor (``ordered(dose)``) gets R's
polynomial contrasts instead (``contr.poly``: columns ``.L``, ``.Q``, ``.C``, ``^4``...), and
``poly(x, 2)`` its columns ``poly(x, 2)1``, ``poly(x, 2)2``, as R's ``model.matrix``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from itertools import product
from typing import Literal

import numpy as np
import pandas as pd

from .censoring import CensoredResponse, censored_response
from .errors import DesignError, Setting
from .formula import Formula, RandomTerm, Term
from .polynomials import contr_poly, contrast_names
from .r_idioms import name_hint
from .response import ORDINAL, ordinal_response, response_values
from .variables import DataSchema, VariableEvaluator, columns_used
from .weights import check_weights_column, observation_weights

__all__ = ["Design", "GroupingFactor", "build_design", "evaluate_covariates", "evaluate_offset",
           "observation_level_obstacle"]

logger = logging.getLogger("lmm_bayes")

MIN_LEVELS_FOR_SLOPE = 3
MIN_ROWS = 2  # one row says nothing about the spread of the response
# Variances and sums of squares are squares of values and SDs: keeping those within 1e±100
# keeps the squares far inside float64's range (about 1e±308), so no prior, likelihood or
# gradient overflows or underflows.
LARGEST_VALUE, SMALLEST_SD = 1e100, 1e-100


@dataclass(frozen=True)
class GroupingFactor:
    """The random-effect design of one grouping factor.

    Attributes
    ----------
    name : str
        ``"Subject"``, or ``"batch:cask"`` for a nested or interaction factor.
    levels : tuple of str
        Level labels, in the order of the columns of ``b_<name>``.
    index : ndarray of int, shape (n,)
        Level of each row.
    terms : tuple of str
        Names of the varying effects: ``("(Intercept)", "Days")``.
    Z : ndarray, shape (n, q)
        Covariate value of each varying effect on each row (1 for the intercept).
    correlated : bool
        Whether the effects share one covariance matrix with correlations (``|``) or are
        independent (``||``).
    member : ndarray of bool, shape (n,), or None
        For one level of ``gr(g, by = arm)`` (factor ``g:armA``): the rows of that arm.
        Other rows have ``Z`` = 0 (and index 0); None when the factor covers every row.
    """

    name: str
    levels: tuple[str, ...]
    index: np.ndarray
    terms: tuple[str, ...]
    Z: np.ndarray
    correlated: bool
    member: np.ndarray | None = None

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    def effects_matrix(self):
        """The sparse n × (levels · terms) matrix of this factor's effects: column ℓ·q + t
        holds ``Z[:, t]`` on the rows of level ℓ, for the engines that integrate the effects
        out (sparse, so a factor of many levels costs n·q entries)."""
        from scipy import sparse  # not needed to build a model

        n, q = self.Z.shape
        rows = np.repeat(np.arange(n), q)
        cols = (self.index[:, None] * q + np.arange(q)).ravel()
        return sparse.csr_matrix((self.Z.ravel(), (rows, cols)), shape=(n, self.n_levels * q))


@dataclass(frozen=True)
class Design:
    """Everything the model needs from the data, as plain arrays.

    Attributes
    ----------
    formula : Formula
    y : ndarray, shape (n,)
        The response.
    X : ndarray, shape (n, p)
        The fixed-effect design matrix.
    fixed_names : tuple of str
        Names of the columns of ``X`` (lme4 names).
    groups : tuple of GroupingFactor
    rows : ndarray of int
        Positions, in the data given, of the rows used (all of them unless NaN rows were dropped).
    schema : DataSchema
        Levels and transform constants, to evaluate new data the same way.
    n_rows_given : int
        Rows in the data given, before any rows with missing values were dropped.
    trials : ndarray, shape (n,), or None
        Number of trials of each row of a binomial response (``cbind(successes, failures)``:
        successes + failures; 1 for a 0/1 response); None for other families.
    offset : ndarray, shape (n,), or None
        The sum of the formula's ``offset()`` terms on each row: a part of the linear
        predictor with coefficient 1, η = Xβ + Zb + offset; None when it has none.
    categories : tuple of str, or None
        An ordinal response's categories in order (:func:`lmm_bayes.response.ordinal_response`),
        ``y`` holding each row's position 1, …, K among them; None for other families.
    censoring : CensoredResponse or None
        Each row's censoring from the formula's ``y | cens(...)`` (:mod:`lmm_bayes.censoring`);
        None for a response without ``cens()``.
    weights : ndarray, shape (n,), or None
        Each row's observation weight (the ``weights`` column): a precision weight for the
        Gaussian family, a prior weight on the log-likelihood for the others
        (:mod:`lmm_bayes.weights`); None without weights.
    """

    formula: Formula
    y: np.ndarray
    X: np.ndarray
    fixed_names: tuple[str, ...]
    groups: tuple[GroupingFactor, ...]
    rows: np.ndarray
    schema: DataSchema
    n_rows_given: int
    trials: np.ndarray | None = None
    offset: np.ndarray | None = None
    categories: tuple[str, ...] | None = None
    censoring: CensoredResponse | None = None
    weights: np.ndarray | None = None

    @property
    def n_obs(self) -> int:
        return len(self.y)

    @property
    def n_dropped(self) -> int:
        """Rows of the data that were dropped for missing values (``na_action="drop"``)."""
        return self.n_rows_given - len(self.rows)

    def least_squares(self) -> tuple[np.ndarray, np.ndarray]:
        """The fixed effects' least-squares coefficients and residuals, random effects
        ignored (of y less the offset): starting values and moment estimates for the
        samplers."""
        y = self.y if self.offset is None else self.y - self.offset
        beta = np.linalg.lstsq(self.X, y, rcond=None)[0]
        return beta, y - self.X @ beta

    def group(self, name: str) -> GroupingFactor:
        """The grouping factor called ``name``; :class:`DesignError` naming the known ones."""
        for grp in self.groups:
            if grp.name == name:
                return grp
        raise DesignError(f"no grouping factor {name!r}; the model has {[g.name for g in self.groups]}")


# ----------------------------------------------------------------------------- coding


def _term_columns(term: Term, indicator: set[str], ev: VariableEvaluator):
    """Columns of one term: products of numeric values and dummies of its categorical
    variables, indicators (every level) for those in ``indicator``, contrasts otherwise."""
    parts = []
    for factor in term.factors:
        var = ev.variable(factor)
        if var.columns is not None:  # poly(x, 2): several numeric columns
            parts.append(list(zip(var.columns, var.values.T)))
        elif not var.is_categorical:
            parts.append([(factor, var.values)])
        elif var.ordered and factor not in indicator:
            parts.append(_polynomial_contrasts(factor, var))
        else:
            first = 0 if factor in indicator else 1
            parts.append([(f"{factor}{level}", (var.values == k).astype(float))
                          for k, level in enumerate(var.levels) if k >= first])
    # R varies the first variable fastest: iterate the product over the reversed list
    columns = []
    for combo in product(*reversed(parts)):
        combo = combo[::-1]
        columns.append((":".join(name for name, _ in combo), np.prod([v for _, v in combo], axis=0)))
    return columns


def _polynomial_contrasts(factor: str, var) -> list[tuple[str, np.ndarray]]:
    """The columns of an ordered factor in R's ``contr.poly`` coding, named as R names them
    (``dose.L``, ``dose.Q``, ``dose.C``, ``dose^4``)."""
    n = len(var.levels)
    coding = contr_poly(n)[var.values]
    return [(f"{factor}{suffix}", coding[:, k]) for k, suffix in enumerate(contrast_names(n))]


def _indicator_coded(term: Term, preceding: list[frozenset], ev: VariableEvaluator) -> set[str]:
    """Categorical variables of ``term`` that R codes by indicators rather than contrasts.

    R's rule (``TermCode`` in R's model.c; Chambers & Hastie 1992, p. 38): a variable gets
    contrasts when the term without it is empty or is contained in a preceding term, and
    indicators otherwise.
    """
    found = set()
    for factor in term.factors:
        margin = frozenset(term.factors) - {factor}
        if margin and not any(margin <= earlier for earlier in preceding):
            found.add(factor)
    return {f for f in found if ev.variable(f).is_categorical}


def model_matrix(terms: tuple[Term, ...], ev: VariableEvaluator, n: int):
    # Without an intercept, R codes the first categorical variable of the first term that
    # has one by indicators (``y ~ 0 + f + g``: every level of f, contrasts for g).
    needs_indicator = not any(t.is_intercept for t in terms)
    preceding: list[frozenset] = []
    names, columns, sources = [], [], []
    for term in terms:
        if term.is_intercept:
            names.append(term.label)
            columns.append(np.ones(n))
            sources.append("the intercept")
            continue
        indicator = _indicator_coded(term, preceding, ev)
        if needs_indicator:
            categorical = [f for f in term.factors if ev.variable(f).is_categorical]
            if categorical:
                indicator.add(categorical[0])
                needs_indicator = False
        preceding.append(frozenset(term.factors))
        for name, values in _term_columns(term, indicator, ev):
            names.append(name)
            columns.append(np.asarray(values, dtype=float))
            sources.append(_describe(term))
    _check_unique_names(names, sources)
    matrix = np.column_stack(columns) if columns else np.empty((n, 0))
    return tuple(names), matrix


# ----------------------------------------------------------------------------- checks


def _check_columns(data: pd.DataFrame) -> None:
    """Raise naming the column names that occur more than once (``data[name]`` would be a
    frame rather than a column)."""
    repeated = data.columns[data.columns.duplicated()].unique().tolist()
    if repeated:
        raise DesignError(f"the data have more than one column named {repeated}; "
                          "give every column its own name")


def _describe(term: Term) -> str:
    if len(term.factors) == 1:
        return f"the variable {term.factors[0]!r}"
    return "the interaction of " + " and ".join(repr(f) for f in term.factors)


def _check_rows(n_used: int, n_given: int) -> None:
    if n_used < MIN_ROWS:
        dropped = (f" (of {n_given} given, after dropping rows with missing values)"
                   if n_used < n_given else "")
        raise DesignError(f"the data have {n_used} row(s){dropped}; a model needs at least "
                          f"{MIN_ROWS}")


def _spread(values: np.ndarray, largest: float) -> float:
    """The SD of finite ``values`` whose largest magnitude is ``largest``, computed on the
    values divided by it so that squaring them cannot overflow or underflow."""
    if largest == 0:
        return 0.0
    return largest * float(np.std(values / largest, ddof=1))


def _check_scale(values: np.ndarray, what: str) -> None:
    """Raise when ``values`` are too large, or vary too little, for floating point."""
    largest = float(np.max(np.abs(values)))
    check_scale(largest, lambda: _spread(values, largest), what)


def check_scale(largest: float, spread: Callable[[], float], what: str) -> None:
    """Raise when values whose largest magnitude is ``largest`` and whose SD is
    ``spread()`` (asked only when they are not too large) are too large, or vary too
    little, for floating point."""
    if largest > LARGEST_VALUE:
        problem, scale = f"values as large as {largest:.3g}", largest
    else:
        sd = spread()
        if sd == 0 or sd >= SMALLEST_SD:
            return
        problem, scale = f"a standard deviation of {sd:.3g}", sd
    example = (f", e.g. multiply it by {10.0 ** -np.round(np.log10(scale)):g}"
               if np.isfinite(scale) else "")
    raise DesignError(f"{what} has {problem}, outside what the model can compute with in "
                      f"floating point (values up to {LARGEST_VALUE:g}, standard deviations of "
                      f"at least {SMALLEST_SD:g}); rescale it (a change of units){example}")


def _check_unique_names(names: list[str], sources: list[str]) -> None:
    """Raise when two effects get one name, e.g. a data column literally called ``a:b``
    beside the interaction ``a:b``: their draws could not be told apart."""
    seen: dict[str, str] = {}
    for name, source in zip(names, sources):
        if name in seen:
            raise DesignError(f"two effects are both named {name!r}: {seen[name]} and "
                              f"{source}; rename the column")
        seen[name] = source


def used_columns(formula: Formula, data: pd.DataFrame, also_used=()) -> list[str]:
    """The data columns that the formula's variables (and ``also_used``) read; DesignError
    naming a variable that is not a column of ``data``."""
    used = []
    for label in formula.variables + tuple(also_used):
        cols = columns_used(label, data)
        if not cols and label not in data.columns:
            raise DesignError(f"column {label!r} not found in the data "
                              f"(columns: {list(data.columns)}){name_hint(label)}")
        used.extend(cols)
    return list(dict.fromkeys(used))


def missing_values_error(counts: dict[str, int], first: int, where: str = "") -> DesignError:
    """The error for missing values in the used columns, ``counts`` by column, the first at
    row position ``first``; ``where`` adds to that position (a partition's)."""
    listed = ", ".join(f"{c!r}: {n}" for c, n in counts.items())
    return DesignError(f"missing values (NaN) in the data: {listed} (first at row position "
                       f"{first}{where}); remove them or set ", Setting("na_action", "drop"))


def _missing_rows(formula: Formula, data: pd.DataFrame, na_action: str,
                  also_used=()) -> np.ndarray:
    """Positions of the rows to keep; raise or drop (and say so) where a used column is NaN."""
    used = used_columns(formula, data, also_used)
    missing = data[used].isna()
    bad_rows = missing.any(axis=1).to_numpy()
    if not bad_rows.any():
        return np.arange(len(data))
    if na_action == "drop":
        logger.warning("dropped %d of %d rows with missing values in %s", int(bad_rows.sum()),
                       len(data), [c for c in used if missing[c].any()])
        return np.flatnonzero(~bad_rows)
    counts = {c: int(missing[c].sum()) for c in used if missing[c].any()}
    raise missing_values_error(counts, int(np.flatnonzero(bad_rows)[0]))


def _check_nonzero(norms: np.ndarray, names: tuple[str, ...]) -> None:
    zero = [names[j] for j in np.flatnonzero(norms == 0)]
    if zero:
        raise DesignError(f"fixed-effect column(s) {zero} are zero in every row")


def _collinear(names: tuple[str, ...], null: np.ndarray) -> DesignError:
    involved = [names[j] for j in np.flatnonzero(np.abs(null) > 1e-6)]
    return DesignError(
        f"the fixed effects are collinear: columns {involved} are linearly dependent "
        "(one is a combination of the others); remove one of them from the formula"
    )


def check_full_rank_gram(XtX: np.ndarray, names: tuple[str, ...], n: int) -> None:
    """:func:`check_full_rank` from XᵀX alone (a data set never held in memory): the
    columns scaled to unit norm, XᵀX's smallest eigenvalue below max(n, p)·10ε times its
    largest marks a dependence. An eigenvalue is a squared singular value of X, so this
    tolerance is the square root of :func:`check_full_rank`'s relative one: it sees
    exact dependences (dummies that sum to another column) as that does, and refuses
    near-dependences somewhat sooner."""
    if XtX.shape[0] == 0:
        return
    norms = np.sqrt(np.diag(XtX))
    _check_nonzero(norms, names)
    values, vectors = np.linalg.eigh(XtX / np.outer(norms, norms))
    if values[0] > values[-1] * max(n, len(names)) * np.finfo(float).eps * 10:
        return
    raise _collinear(names, vectors[:, 0])


def check_full_rank(X: np.ndarray, names: tuple[str, ...]) -> None:
    """Raise naming the fixed-effect columns that are linearly dependent."""
    if X.shape[1] == 0:
        return
    norms = np.linalg.norm(X, axis=0)
    _check_nonzero(norms, names)
    scaled = X / norms
    if scaled.shape[1] > scaled.shape[0]:  # more columns than rows: zero rows keep the SVD square
        scaled = np.vstack([scaled, np.zeros((scaled.shape[1] - scaled.shape[0], scaled.shape[1]))])
    _, singular, vt = np.linalg.svd(scaled, full_matrices=False)
    tol = singular.max() * max(X.shape) * np.finfo(float).eps * 10
    if singular.min() > tol:
        return
    raise _collinear(names, vt[-1])


def observation_level_obstacle(family: str, trials: np.ndarray | None) -> str | None:
    """Why a random intercept with a level per row (an observation-level random effect,
    ``(1 | obs)``) is not identified for ``family``, or None where it is.

    Notes
    -----
    An observation-level effect u_i ~ N(0, τ²) on the linear predictor models
    overdispersion: a Poisson-lognormal count, or a logit-normal binomial proportion of
    more than one trial (Elston et al. 2001, *Parasitology* 122; Harrison 2014, *PeerJ*
    2:e616; Browne et al. 2005, *JRSS A* 168). It is not identified where the family has
    no room for it: a Gaussian's u_i and ε_i are both N(0, ·) per row, so only τ² + σ² is
    informed; a 0/1 response (Bernoulli, or binomial with one trial in every row) carries
    no information on a row's extra variation; the negative binomial's α already is such
    an extra variation per row (gamma rather than log-normal), which u_i would duplicate.
    """
    if family == "poisson" or (family == "binomial" and trials is not None
                               and trials.max() > 1):
        return None
    if family == "gaussian":
        return ("with the Gaussian family a level per observation is not identifiable: its "
                "random intercept and the residual are both one normal deviation per row, so "
                "only their summed variance is informed")
    if family in ("bernoulli", "binomial"):
        return ("a 0/1 response (one trial per row) carries no information about each row's "
                "extra variation, so an observation-level effect is not identified")
    return (f"the {family} family's own dispersion parameter already models each row's "
            "extra variation; an observation-level effect would duplicate it (use "
            "family='poisson' with the observation-level effect, or drop it)")


def _check_grouping(group: GroupingFactor, n: int, per_row: str | None = "") -> None:
    """The checks of a grouping factor on its ``n`` rows; ``per_row`` says why a level per
    row is not identified (:func:`observation_level_obstacle`), None where it is."""
    def varying(k: int) -> int:
        frame = pd.DataFrame({"level": group.index, "x": group.Z[:, k]})
        return int((frame.groupby("level")["x"].nunique() > 1).sum())

    check_factor(group.name, group.levels, group.terms, n, varying, per_row)


def check_factor(name: str, levels: tuple[str, ...], terms: tuple[str, ...], n: int,
                 varying: Callable[[int], int], per_row: str | None = "") -> None:
    """The checks of a grouping factor ``name`` with ``levels`` and varying ``terms`` on
    ``n`` rows, ``varying(k)`` counting the levels whose rows take two or more distinct
    values of term k: at least two levels, fewer levels than rows for a random intercept
    (``per_row`` as :func:`_check_grouping` takes it), and slopes that vary within levels."""
    if len(levels) < 2:
        raise DesignError(f"grouping factor {name!r} has only one level "
                          f"({levels[0]!r}); a variance needs two or more groups")
    if "(Intercept)" in terms and len(levels) >= n and per_row is not None:
        raise DesignError(f"grouping factor {name!r} has {len(levels)} levels for {n} "
                          "observations; a random intercept needs fewer levels than "
                          f"observations{'; ' + per_row if per_row else ''}")
    if "(Intercept)" not in terms:
        return
    for k, term in enumerate(terms):
        if term == "(Intercept)":
            continue
        count = varying(k)
        if count == 0:
            raise DesignError(
                f"random slope of {term!r} by {name!r}: {term!r} is constant within every "
                f"level of {name!r}, so its effect cannot vary by level; drop it from the "
                "random term"
            )
        if count < MIN_LEVELS_FOR_SLOPE:
            raise DesignError(
                f"random slope of {term!r} by {name!r}: only {count} of {len(levels)} "
                f"levels have two or more distinct values of {term!r}; a slope variance needs at "
                f"least {MIN_LEVELS_FOR_SLOPE}"
            )


# ----------------------------------------------------------------------------- build


def _without_intercept(formula: Formula, names: tuple[str, ...], X: np.ndarray
                       ) -> tuple[tuple[str, ...], np.ndarray]:
    """The fixed effects of an ordinal model, whose cutpoints take the intercept's place:
    the columns coded with the intercept (treatment contrasts, as ordinal::clm codes them),
    less the intercept's."""
    if "(Intercept)" not in names:
        raise DesignError(f"the formula {formula.text!r} has no intercept, but the cumulative "
                          "family's cutpoints take the intercept's place and the fixed part "
                          "is coded as with one; leave out the '0 +' or '- 1'")
    keep = [j for j, name in enumerate(names) if name != "(Intercept)"]
    return tuple(names[j] for j in keep), X[:, keep]



def _offset(formula: Formula, ev: VariableEvaluator) -> np.ndarray | None:
    """The sum of the formula's offsets evaluated by ``ev``, or None without any; a
    non-finite value (log(0)) is the evaluator's DesignError naming the term and row."""
    if not formula.offsets:
        return None
    total = np.zeros(len(ev.data))
    for label in formula.offsets:
        var = ev.variable(label)
        if var.columns is not None:
            raise DesignError(f"the offset {label!r} has {len(var.columns)} columns; an offset "
                              "is one number per row, added to the linear predictor")
        if var.is_categorical:
            raise DesignError(f"the offset {label!r} is not numeric (levels {list(var.levels)[:5]}); "
                              "an offset is added to the linear predictor")
        total += var.values
    return total


def _grouping_factors(rterm: RandomTerm, ev: VariableEvaluator, n: int,
                      per_row: str | None = ""):
    """The factor of a random term; one per level of ``by`` for ``gr(g, by = arm)``;
    ``per_row`` as :func:`_check_grouping` takes it."""
    if rterm.by is None:
        return [_grouping_factor(rterm, ev, n, per_row=per_row)]
    whole = _grouping_factor(rterm, ev, n, check=False)
    by = ev.variable(rterm.by, categorical=True)
    arms = pd.Series(by.values).groupby(whole.index).nunique()
    if (arms > 1).any():
        level = whole.levels[int(arms.index[np.argmax(arms.to_numpy() > 1)])]
        raise DesignError(f"gr({rterm.group}, by = {rterm.by}): level {level!r} of "
                          f"{rterm.group!r} has rows in more than one level of {rterm.by!r}; "
                          "each level must belong to one")
    return [_by_level_factor(whole, by.values == k, f"{rterm.group}:{rterm.by}{label}",
                             per_row)
            for k, label in enumerate(by.levels) if (by.values == k).any()]


def _by_level_factor(whole: GroupingFactor, member: np.ndarray, name: str,
                     per_row: str | None = "") -> GroupingFactor:
    """The part of ``whole`` on the rows of one ``by`` level, over every row (Z = 0 and
    index 0 elsewhere), checked on its own rows."""
    present = np.unique(whole.index[member])
    index = np.zeros(len(member), dtype=int)
    index[member] = np.searchsorted(present, whole.index[member])
    levels = tuple(whole.levels[k] for k in present)
    Z = np.where(member[:, None], whole.Z, 0.0)
    _check_grouping(GroupingFactor(name, levels, index[member], whole.terms, Z[member],
                                   whole.correlated), int(member.sum()), per_row)
    return GroupingFactor(name, levels, index, whole.terms, Z, whole.correlated, member)


def _grouping_factor(rterm: RandomTerm, ev: VariableEvaluator, n: int,
                     check: bool = True, per_row: str | None = "") -> GroupingFactor:
    parts = [ev.variable(col, categorical=True) for col in rterm.group_columns]
    if len(parts) == 1:
        index, levels = parts[0].values, parts[0].levels
    else:
        codes = pd.DataFrame({i: p.values for i, p in enumerate(parts)})
        index = codes.groupby(list(codes.columns), sort=True).ngroup().to_numpy()
        combos = codes.drop_duplicates().sort_values(list(codes.columns)).to_numpy()
        levels = tuple(":".join(p.levels[c] for p, c in zip(parts, row)) for row in combos)
    terms, Z = model_matrix(rterm.terms, ev, n)
    group = GroupingFactor(rterm.group, tuple(levels), np.asarray(index), terms, Z,
                           rterm.correlated)
    if check:
        _check_grouping(group, n, per_row)
    return group


def build_design(
    formula: Formula,
    data: pd.DataFrame,
    *,
    factors=(),
    reference=None,
    na_action: Literal["raise", "drop"] = "raise",
    also_used=(),
    family: str = "gaussian",
    contrasts=None,
    weights: str | None = None,
) -> Design:
    """Evaluate ``formula`` on ``data``: response, fixed-effect matrix, grouping factors.

    Parameters
    ----------
    formula : Formula
    data : pandas.DataFrame
    factors : collection of str
        Numeric columns to treat as categorical.
    reference : mapping of column to level, optional
        Reference level of categorical columns (default: the first in sorted order, or the
        first category of a pandas Categorical).
    na_action : {"raise", "drop"}
        Missing values in used columns (offsets' included) raise :class:`DesignError`
        (default) or drop the rows, logging how many.
    also_used : collection of str
        Variables used elsewhere in the model (the residual options), checked for presence
        and missing values like the formula's.
    family : str
        The response family, whose support the response is checked against
        (:func:`lmm_bayes.response.response_values`); for the cumulative family
        (:func:`lmm_bayes.response.ordinal_response`) the fixed part is coded with its
        intercept, whose column is then dropped (the cutpoints take its place).
    contrasts : mapping of column to ``"poly"`` or ``"treatment"``, optional
        ``"poly"``: code the column as an ordered factor, by R's polynomial contrasts.
    weights : str, optional
        The column of observation weights (:mod:`lmm_bayes.weights`), whose missing values
        count as the formula's.

    Raises
    ------
    DesignError
        For a missing column, NaN (with ``na_action="raise"``), a non-numeric response or
        one outside the family's support, a non-finite value of a term or offset (log(0)),
        censoring codes or bounds that :func:`lmm_bayes.censoring.censored_response`
        refuses, collinear fixed effects, a grouping factor with one level, or a random slope
        that the data cannot inform; a weights column that is absent, not numeric or has a
        weight that is not positive.
    """
    if na_action not in ("raise", "drop"):
        raise DesignError(f"na_action must be 'raise' or 'drop', not {na_action!r}")
    _check_columns(data)
    unknown = [f for f in factors if f not in data.columns]
    if unknown:
        raise DesignError(f"factors {unknown} are not columns of the data")
    contrasts = dict(contrasts or {})
    unknown = [c for c in contrasts if c not in data.columns and c not in formula.variables]
    if unknown:
        raise DesignError(f"contrasts are given for {unknown}, which are neither columns of "
                          "the data nor variables of the formula")
    if weights is not None:
        check_weights_column(data, weights)
        also_used = (*also_used, weights)
    rows = _missing_rows(formula, data, na_action, also_used)
    _check_rows(len(rows), len(data))
    used = data.iloc[rows].reset_index(drop=True)
    ev = VariableEvaluator(used, factors=factors, reference=reference, positions=rows,
                           polynomial=[c for c, kind in contrasts.items() if kind == "poly"])
    categories = None
    if family in ORDINAL:
        (y, categories), trials = ordinal_response(formula.response, ev, rows), None
    else:
        y, trials = response_values(formula.response, ev, family, rows)
    _check_scale(y, f"the response {formula.response!r}")
    censoring = (None if formula.censoring is None
                 else censored_response(formula.censoring, used, y, rows))
    fixed_names, X = model_matrix(formula.fixed, ev, len(used))
    for name, column in zip(fixed_names, X.T):
        _check_scale(column, f"the fixed-effect column {name!r}")
    check_full_rank(X, fixed_names)
    if family in ORDINAL:
        fixed_names, X = _without_intercept(formula, fixed_names, X)
    per_row = observation_level_obstacle(family, trials)
    groups = tuple(g for r in formula.random
                   for g in _grouping_factors(r, ev, len(used), per_row))
    offset = _offset(formula, ev)
    w = None if weights is None else observation_weights(used, weights, rows)
    return Design(formula, y, X, fixed_names, groups, rows, ev.learnt_schema(), len(data),
                  trials, offset, categories, censoring, w)


def evaluate_covariates(design: Design,
                        data: pd.DataFrame) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The fixed-effect matrix and each grouping factor's ``Z`` on new rows, coded as the
    fitting data were (same levels, reference levels and ``center``/``scale`` constants,
    from ``design.schema``); the response and grouping columns are not needed.

    Returns
    -------
    X : ndarray, shape (m, p)
        Columns in the order of ``design.fixed_names``.
    Z : dict of grouping factor name to ndarray, shape (m, q)
        Columns in the order of that factor's ``terms``; for ``gr(g, by = arm)`` one entry
        per arm (``g:armA``), zero on the rows of other arms (the ``by`` column is needed).
    """
    _check_columns(data)
    data = data.reset_index(drop=True)
    ev = VariableEvaluator(data, factors=design.schema.levels, schema=design.schema)
    coded, X = model_matrix(design.formula.fixed, ev, len(data))
    if coded != design.fixed_names:  # an ordinal model's, without the intercept
        X = X[:, [coded.index(name) for name in design.fixed_names]]
    Z = {}
    for rterm in design.formula.random:
        z = model_matrix(rterm.terms, ev, len(data))[1]
        if rterm.by is None:
            Z[rterm.group] = z
            continue
        by = ev.variable(rterm.by, categorical=True)  # gr(g, by = arm): zero outside each arm
        for k, label in enumerate(by.levels):
            Z[f"{rterm.group}:{rterm.by}{label}"] = np.where((by.values == k)[:, None], z, 0.0)
    return X, Z


def evaluate_offset(design: Design, data: pd.DataFrame) -> np.ndarray | None:
    """The offset of new rows (m,), evaluated as on the fitting data (``center``/``scale``
    constants from ``design.schema``); None for a model without offsets."""
    if design.offset is None:
        return None
    data = data.reset_index(drop=True)
    return _offset(design.formula, VariableEvaluator(data, factors=design.schema.levels,
                                                     schema=design.schema))
