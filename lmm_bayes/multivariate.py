"""The joint design and priors of a multivariate (multi-outcome) Gaussian mixed model.

K Gaussian outcomes are measured on the same rows (visits), each with its own formula:

.. math::

    y_{ki} = x_{ki}^\\top \\beta_k + \\sum_g z_{kgi}^\\top b_{kg,\\ell_g(i)} + \\varepsilon_{ki},
    \\qquad (\\varepsilon_{1i}, \\dots, \\varepsilon_{Ki}) \\sim N(0, \\Sigma_\\varepsilon).

Random-effect terms written with brms's ID syntax, ``(1 + time |p| id)``, join one
*block*: every term with ID ``p`` and grouping factor ``id``, across the formulas, has one
covariance matrix with an LKJ prior, so the correlation of, say, the IL-6 intercept with
the depression slope is a parameter. Terms without an ID form a block of their own outcome.
With ``rescor=True`` Σ_ε = diag(σ) R_ε diag(σ) has an LKJ prior on the residual correlation
R_ε; with ``rescor=False`` it is diagonal (Bürkner 2018, "Advanced Bayesian multilevel
modeling with the R package brms", *R Journal* 10(1), section 4; Fieuws & Verbeke 2006,
*Stat. Methods Med. Res.* 15(5)).

Missing outcomes: a row counts for every outcome observed on it. Each outcome has its own
:class:`~lmm_bayes.design.Design` on its observed rows; rows are grouped by the set of
outcomes observed on them (a :class:`MissingPattern`), and a row of pattern P contributes
the density of the observed outcomes, the marginal normal N(μ_P, Σ_ε[P, P]), which is the
likelihood of the observed data under ignorable (missing at random) missingness
(Little & Rubin 2019, *Statistical Analysis with Missing Data*, ch. 6).

This module only builds plain values; :func:`lmm_bayes.builder.build_multivariate_model`
makes the PyMC model.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from . import names
from .design import Design, GroupingFactor, build_design
from .errors import DesignError, PriorError, Setting, SpecError
from .formula import Formula
from .priors import DEFAULT_ETA, Prior, PriorSet, build_priors
from .variables import columns_used

__all__ = ["MissingPattern", "MultivariateDesign", "MultivariatePriors", "OutcomePart",
           "RandomBlock", "build_multivariate_design", "build_multivariate_priors"]

logger = logging.getLogger("lmm_bayes")


@dataclass(frozen=True)
class OutcomePart:
    """One outcome's share of a random-effect block.

    Attributes
    ----------
    outcome : int
        Position of the outcome among the model's responses.
    columns : tuple of int
        The block's terms (columns of ``b_<block>``) that act on this outcome.
    index : ndarray of int, shape (n_k,)
        Level (in the block's levels) of each of the outcome's rows.
    Z : ndarray, shape (n_k, len(columns))
        Covariate value of each of those terms on the outcome's rows.
    """

    outcome: int
    columns: tuple[int, ...]
    index: np.ndarray
    Z: np.ndarray


@dataclass(frozen=True)
class RandomBlock:
    """Random effects with one covariance matrix, possibly spanning several outcomes.

    Attributes
    ----------
    name : str
        Suffix of the posterior variables ``sd_<name>``, ``corr_<name>``, ``b_<name>``: the
        grouping factor (``"id"``) when it has one block, else ``"id__p"`` (ID ``p``) or
        ``"id__y2"`` (outcome ``y2``'s own terms).
    group : str
        The grouping factor.
    levels : tuple of str
        Its levels, in order of first appearance over the outcomes' designs.
    terms : tuple of str
        ``"<outcome>:<term>"``, e.g. ``("y1:(Intercept)", "y1:time", "y2:(Intercept)")``.
    correlated : bool
        One covariance with correlations (``|``, always for an ID block) or independent
        effects (``||``).
    parts : tuple of OutcomePart
    """

    name: str
    group: str
    levels: tuple[str, ...]
    terms: tuple[str, ...]
    correlated: bool
    parts: tuple[OutcomePart, ...]

    @property
    def n_levels(self) -> int:
        return len(self.levels)


@dataclass(frozen=True)
class MissingPattern:
    """The rows on which exactly the outcomes ``outcomes`` are observed.

    Attributes
    ----------
    outcomes : tuple of int
    positions : tuple of ndarray of int
        For each of ``outcomes``, the positions of these rows among that outcome's rows
        (in its design), aligned row by row.
    """

    outcomes: tuple[int, ...]
    positions: tuple[np.ndarray, ...]

    @property
    def n_rows(self) -> int:
        return len(self.positions[0])


@dataclass(frozen=True)
class MultivariateDesign:
    """The joint design of a multivariate model.

    Attributes
    ----------
    responses : tuple of str
        The outcomes (response column names), in the order of the formulas.
    designs : tuple of Design
        Each outcome's design on the rows where it is observed (and its predictors are).
    rows : tuple of ndarray of int
        For each outcome, the positions in the data given of its design's rows.
    blocks : tuple of RandomBlock
    patterns : tuple of MissingPattern
        One per distinct set of observed outcomes, largest sets first.
    n_rows_given : int
    """

    responses: tuple[str, ...]
    designs: tuple[Design, ...]
    rows: tuple[np.ndarray, ...]
    blocks: tuple[RandomBlock, ...]
    patterns: tuple[MissingPattern, ...]
    n_rows_given: int

    @property
    def fixed_names(self) -> tuple[str, ...]:
        """Every outcome's fixed effects, ``"<outcome>:<term>"``."""
        return tuple(f"{y}:{name}" for y, d in zip(self.responses, self.designs)
                     for name in d.fixed_names)

    def blocks_of(self, group: str) -> tuple[RandomBlock, ...]:
        """The blocks of grouping factor ``group``; DesignError naming the known ones."""
        found = tuple(b for b in self.blocks if b.group == group)
        if not found:
            known = sorted({b.group for b in self.blocks})
            raise DesignError(f"no grouping factor {group!r}; the model has {known}")
        return found


# ----------------------------------------------------------------------------- rows


def _observed(formulas: tuple[Formula, ...], data: pd.DataFrame) -> np.ndarray:
    """(n, K) mask of the observed outcomes; the responses must be numeric columns."""
    masks = []
    for formula in formulas:
        y = formula.response
        if y not in data.columns:
            raise DesignError(f"the response {y!r} of a multivariate model must be a column of "
                              f"the data (columns: {list(data.columns)})")
        if not pd.api.types.is_numeric_dtype(data[y]) or pd.api.types.is_bool_dtype(data[y]):
            raise DesignError(f"the response {y!r} is not numeric (dtype {data[y].dtype})")
        masks.append(data[y].notna().to_numpy())
    return np.column_stack(masks)


def _predictors_missing(formula: Formula, data: pd.DataFrame) -> pd.DataFrame:
    """Missingness (rows × columns) of the columns the formula uses besides its response."""
    labels = [v for v in formula.variables if v != formula.response]
    used = list(dict.fromkeys(c for label in labels for c in columns_used(label, data)))
    return data[used].isna()


def _usable_rows(formulas: tuple[Formula, ...], data: pd.DataFrame,
                 na_action: str) -> np.ndarray:
    """(n, K) mask of the cells that enter the model: outcome observed, its predictors too.

    A missing predictor raises (``na_action="raise"``) or removes the row for the outcomes
    whose formulas use it (``"drop"``, logged); so does a row with every outcome missing.
    """
    usable = _observed(formulas, data)
    for k, formula in enumerate(formulas):
        missing = _predictors_missing(formula, data)
        bad = missing.any(axis=1).to_numpy() & usable[:, k]
        if not bad.any():
            continue
        columns = [c for c in missing.columns if (missing[c].to_numpy() & usable[:, k]).any()]
        if na_action == "raise":
            raise DesignError(f"missing values (NaN) in {columns} on {int(bad.sum())} row(s) "
                              f"where {formula.response!r} is observed (first at row position "
                              f"{int(np.flatnonzero(bad)[0])}); remove them or set ",
                              Setting("na_action", "drop"))
        logger.warning("%s: dropped %d of %d rows with missing values in %s",
                       formula.response, int(bad.sum()), len(data), columns)
        usable[:, k] &= ~bad
    empty = ~usable.any(axis=1)
    if empty.any() and na_action == "raise":
        raise DesignError(f"{int(empty.sum())} row(s) have every outcome missing (first at row "
                          f"position {int(np.flatnonzero(empty)[0])}); remove them or set ",
                          Setting("na_action", "drop"))
    if empty.any():
        logger.warning("dropped %d of %d rows with every outcome missing", int(empty.sum()),
                       len(data))
    return usable


def _patterns(usable: np.ndarray) -> tuple[MissingPattern, ...]:
    """Group the rows by the set of outcomes used on them (largest sets first)."""
    position = np.cumsum(usable, axis=0) - 1  # row's position among each outcome's rows
    keys = [tuple(np.flatnonzero(row)) for row in usable]
    patterns = []
    for key in sorted(set(keys) - {()}, key=lambda k: (-len(k), k)):
        rows = np.array([i for i, k in enumerate(keys) if k == key])
        patterns.append(MissingPattern(tuple(int(k) for k in key),
                                       tuple(position[rows, k] for k in key)))
    return tuple(patterns)


# ----------------------------------------------------------------------------- blocks


def _block_key(formula: Formula, k: int, g: int) -> tuple:
    term = formula.random[g]
    return ("id", term.id, term.group) if term.id is not None else ("own", k, term.group)


def _block_name(key: tuple, n_on_group: int, responses: Sequence[str]) -> str:
    _, owner, group = key
    if n_on_group == 1:
        return group
    return f"{group}__{owner if key[0] == 'id' else responses[owner]}"


def _block(name: str, key: tuple, members: list[tuple[int, GroupingFactor]],
           responses: Sequence[str]) -> RandomBlock:
    levels = tuple(dict.fromkeys(level for _, grp in members for level in grp.levels))
    code = {level: i for i, level in enumerate(levels)}
    terms, parts = [], []
    for k, grp in members:
        columns = tuple(range(len(terms), len(terms) + len(grp.terms)))
        terms += [f"{responses[k]}:{t}" for t in grp.terms]
        remap = np.array([code[level] for level in grp.levels])
        parts.append(OutcomePart(k, columns, remap[grp.index], grp.Z))
    correlated = key[0] == "id" or members[0][1].correlated
    return RandomBlock(name, key[2], levels, tuple(terms), correlated, tuple(parts))


def _blocks(formulas: tuple[Formula, ...], designs: tuple[Design, ...],
            responses: Sequence[str]) -> tuple[RandomBlock, ...]:
    """Gather the grouping factors of every outcome into blocks (module docstring)."""
    members: dict[tuple, list[tuple[int, GroupingFactor]]] = {}
    for k, (formula, design) in enumerate(zip(formulas, designs)):
        for g, grp in enumerate(design.groups):
            members.setdefault(_block_key(formula, k, g), []).append((k, grp))
    per_group = pd.Series([key[2] for key in members]).value_counts()
    block_names = {key: _block_name(key, int(per_group[key[2]]), responses) for key in members}
    if len(set(block_names.values())) < len(block_names):
        raise SpecError(f"random-effect blocks {sorted(block_names.values())} clash; give IDs "
                        "that differ from the outcome names")
    return tuple(_block(block_names[key], key, found, responses)
                 for key, found in members.items())


def build_multivariate_design(formulas: Sequence[Formula], data: pd.DataFrame, *,
                              factors=(), reference=None,
                              na_action: Literal["raise", "drop"] = "raise"
                              ) -> MultivariateDesign:
    """Evaluate the formulas of a multivariate model on ``data`` (module docstring).

    Parameters
    ----------
    formulas : sequence of Formula
        From :func:`lmm_bayes.spec.parse_formulas`.
    data : pandas.DataFrame
        One row per occasion; an outcome may be missing (NaN) on some rows.
    factors, reference
        As in :func:`lmm_bayes.design.build_design`.
    na_action : {"raise", "drop"}
        For missing predictors and rows with every outcome missing; a missing outcome alone
        is never an error.

    Raises
    ------
    DesignError
        Non-numeric or absent responses, missing predictors or all-missing rows (with
        ``na_action="raise"``), and every error of :func:`~lmm_bayes.design.build_design`
        for an outcome's own design.
    """
    if na_action not in ("raise", "drop"):
        raise DesignError(f"na_action must be 'raise' or 'drop', not {na_action!r}")
    formulas = tuple(formulas)
    with_offset = [f.text for f in formulas if f.offsets]
    if with_offset:  # the joint likelihood has no place for them yet
        raise DesignError(f"offsets are not available in multivariate models (formula "
                          f"{with_offset[0]!r}); fit that outcome on its own")
    usable = _usable_rows(formulas, data, na_action)
    rows = tuple(np.flatnonzero(usable[:, k]) for k in range(len(formulas)))
    designs = tuple(build_design(f, data.iloc[r], factors=factors, reference=reference)
                    for f, r in zip(formulas, rows))
    responses = tuple(f.response for f in formulas)
    return MultivariateDesign(responses, designs, rows, _blocks(formulas, designs, responses),
                              _patterns(usable), len(data))


# ----------------------------------------------------------------------------- priors


@dataclass(frozen=True)
class MultivariatePriors:
    """The priors of a multivariate model.

    Attributes
    ----------
    outcomes : tuple of PriorSet
        Each outcome's priors as a univariate model would have them: its intercept, fixed
        effects and residual SD ``sigma`` (default HalfStudentT(3, sd(y_k))).
    sd : mapping of block name to a mapping of block term to Prior
        The random-effect SDs, each from its outcome's PriorSet.
    eta : mapping of block name to the LKJ shape (correlated blocks with 2+ terms)
    rescor_eta : float or None
        LKJ shape of the residual correlation; None without ``rescor``.
    """

    outcomes: tuple[PriorSet, ...]
    sd: Mapping[str, Mapping[str, Prior]]
    eta: Mapping[str, float]
    rescor_eta: float | None

    def table(self, responses: Sequence[str]) -> pd.DataFrame:
        """One row per parameter and its prior; outcome parameters as ``<outcome>:<name>``."""
        rows = []
        for y, priors in zip(responses, self.outcomes):
            table = priors.table()
            # the blocks' SDs and correlations are joint, listed once below
            own = ~table["parameter"].map(names.group_variable).isin(["sd", "corr"])
            rows += [(f"{y}:{p}", prior) for p, prior in table[own].itertuples(index=False)]
        for block, terms in self.sd.items():
            rows += [(names.sd_key(block, t), str(p)) for t, p in terms.items()]
        rows += [(names.correlation(block), f"lkj(eta={eta:g})")
                 for block, eta in self.eta.items()]
        if self.rescor_eta is not None:
            rows.append((names.RESCOR, f"lkj(eta={self.rescor_eta:g})"))
        return pd.DataFrame(rows, columns=["parameter", "prior"])


def _shape(key: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise PriorError(f"{key!r} is an LKJ shape and must be a positive number, got {value!r}")
    return float(value)


def _one_family(what: str, priors: Sequence[Prior]) -> None:
    families = sorted({p.dist for p in priors})
    if len(families) > 1:
        raise PriorError(f"the SDs of {what} share one LKJ prior and must use one family, "
                         f"got {families}")


def build_multivariate_priors(design: MultivariateDesign,
                              overrides: Mapping[str, object] | None = None, *,
                              rescor: bool = True) -> MultivariatePriors:
    """Default priors of each outcome (:func:`lmm_bayes.priors.build_priors`) and of the
    joint blocks, with ``overrides``.

    ``overrides`` maps an outcome name to that outcome's overrides, keyed as for a
    univariate model (``{"y1": {"time": lb.Prior("normal", mu=0, sigma=1),
    "sd_id__time": ...}}``); ``"eta_<block>"`` sets the LKJ shape of a block and
    ``"eta_rescor"`` that of the residual correlation (default 2 for both).

    Raises
    ------
    PriorError
        Unknown keys (naming the valid ones), and SDs of one correlated block (or the
        residual SDs with ``rescor``) from different families.
    """
    overrides = dict(overrides or {})
    joint = [b.name for b in design.blocks if len(b.parts) > 1]
    valid = [*design.responses, *(f"eta_{b}" for b in joint)]
    valid += ["eta_rescor"] if rescor else []
    unknown = [k for k in overrides if k not in valid]
    if unknown:
        raise PriorError(f"unknown prior key(s) {unknown}; valid keys: {valid}")
    outcomes = tuple(build_priors(d, overrides.get(y)) for y, d in zip(design.responses,
                                                                        design.designs))
    sd, eta = {}, {}
    for block in design.blocks:
        sd[block.name] = {
            block.terms[c]: outcomes[part.outcome].sd[block.group][
                block.terms[c][len(design.responses[part.outcome]) + 1:]]
            for part in block.parts for c in part.columns}
        if not (block.correlated and len(block.terms) > 1):
            continue
        if len(block.parts) == 1:  # one outcome's own block: its univariate LKJ shape
            eta[block.name] = outcomes[block.parts[0].outcome].eta[block.group]
            continue
        _one_family(f"block {block.name!r}", list(sd[block.name].values()))
        eta[block.name] = _shape(f"eta_{block.name}",
                                 overrides.get(f"eta_{block.name}", DEFAULT_ETA))
    if rescor:
        _one_family("the outcomes' residuals", [p.sigma for p in outcomes])
    rescor_eta = _shape("eta_rescor", overrides.get("eta_rescor", DEFAULT_ETA)) if rescor else None
    return MultivariatePriors(outcomes, sd, eta, rescor_eta)
