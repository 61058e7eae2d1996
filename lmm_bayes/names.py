"""The posterior's vocabulary: every public variable and dimension name, spelled once.

A fit's ``idata.posterior`` holds, whatever engine produced it:

* ``beta`` (dim ``fixed``): the fixed effects;
* ``cutpoints`` (dim ``cutpoint``, labels ``"1|2"``, ``"2|3"``... as ordinal::clmm names
  them, :func:`cutpoint_labels`): an ordinal (cumulative) model's ordered thresholds;
* ``sigma`` (Gaussian), ``alpha`` (negative binomial), ``phi`` (residual AR(1)/CAR(1)), or
  ``sigma_beta`` (dim ``sigma_fixed``) for a sigma formula;
* ``sigma`` (Gaussian, Student-t), ``nu`` (Student-t degrees of freedom), ``alpha``
  (negative binomial), ``phi`` (residual AR(1)/CAR(1)), or ``sigma_beta`` (dim
  ``sigma_fixed``) for a sigma formula;
* of a residual structure across visits: ``residual_corr`` (``us``, dim ``residual__pair``),
  ``rho`` (``cs``) or ``rho_lag`` (``toep``, dim ``residual__lag``), each with a leading dim
  ``residual__by`` when the structure has one correlation per arm;
* per grouping factor ``g``: ``sd_<g>`` (dim ``<g>__term``), ``corr_<g>`` (dim
  ``<g>__pair``) and ``b_<g>`` (dims ``<g>__level``, ``<g>__term``);
* in a multivariate model, ``sigma`` (dim ``outcome``) and ``rescor`` (dim
  ``outcome__pair``), and per random-effect block the grouping factor's names with the
  block in place of ``g``.

A correlation matrix is stored by its pairs, each once (:func:`pair_labels`: ``"a.b"``
for the terms a before b, as brms's ``cor_<g>__a__b``): its unit diagonal and its mirror
image are no parameters, and would give ArviZ constant draws (NaN R-hat, flat traces).

A joint model of a marker and an event (:mod:`lmm_bayes.jm`) has the marker's names above
and ``event_coef`` (dim ``event_fixed``: the survival formula's columns, with the Weibull
baseline's log scale as ``(Intercept)``, JM's layout), ``association`` (dim
``association_term``: ``value``, ``slope``, or per random-effect term for ``shared``),
``weibull_shape`` (Weibull) or ``log_baseline_hazard`` (dim ``baseline_interval``, labels
``"[0, 1.5)"``...) and ``baseline_smoothness`` (the SD of its random walk) for the
piecewise-constant baseline.

The observed (and replicated) response is ``y``, dim ``obs``; a multivariate model observes
``y__<outcome>`` or, per pattern of missing outcomes, ``y__<outcome>__<outcome>...``.

Engines write these names; summaries, prediction and checks read them, each through the
functions here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import pairwise
from typing import Literal

import numpy as np

__all__ = [
    "ALPHA",
    "ASSOCIATION",
    "ASSOCIATION_TERM",
    "BASELINE_INTERVAL",
    "BASELINE_SMOOTHNESS",
    "BETA",
    "CUTPOINT",
    "CUTPOINTS",
    "EVENT_COEF",
    "EVENT_FIXED",
    "FIXED",
    "INDIVIDUAL",
    "LOG_BASELINE_HAZARD",
    "NU",
    "OBS",
    "OUTCOME",
    "OUTCOME_PAIR",
    "PHI",
    "RESCOR",
    "RESIDUAL_BY",
    "RESIDUAL_CORR",
    "RESIDUAL_LAG",
    "RESIDUAL_PAIR",
    "RHO",
    "RHO_LAG",
    "SCALARS",
    "SIGMA",
    "SIGMA_BETA",
    "SIGMA_FIXED",
    "SURVIVAL",
    "WEIBULL_SHAPE",
    "baseline_interval_labels",
    "coords",
    "correlation",
    "correlation_matrices",
    "cutpoint_labels",
    "effects",
    "group_variable",
    "level_dim",
    "observed",
    "pair_dim",
    "pair_labels",
    "pair_positions",
    "pair_values",
    "pair_variables",
    "public",
    "sd",
    "sd_key",
    "term_dim",
]

BETA = "beta"
FIXED = "fixed"
SIGMA = "sigma"
SIGMA_BETA = "sigma_beta"
SIGMA_FIXED = "sigma_fixed"
ALPHA = "alpha"
NU = "nu"
#: an ordinal model's thresholds and their dimension
CUTPOINTS = "cutpoints"
CUTPOINT = "cutpoint"
PHI = "phi"
#: the correlation parameters of the residual structures across visits and their dims
RESIDUAL_CORR = "residual_corr"
RHO = "rho"
RHO_LAG = "rho_lag"
RESIDUAL_PAIR = "residual__pair"
RESIDUAL_LAG = "residual__lag"
RESIDUAL_BY = "residual__by"
#: the variables of the residual and of a family's extra parameters, in the order reported
SCALARS = (SIGMA, SIGMA_BETA, PHI, RHO, RHO_LAG, RESIDUAL_CORR, ALPHA, NU)
#: a multivariate model's residual correlation, its outcomes' dimension and its pairs'
RESCOR = "rescor"
OUTCOME = "outcome"
OUTCOME_PAIR = "outcome__pair"
#: the dimension of the observed rows
OBS = "obs"
#: the dimension of a residual structure's individuals (their log-likelihood, for LOO)
INDIVIDUAL = "individual"

#: a joint model's survival part (:mod:`lmm_bayes.jm`): coefficients of the survival
#: formula, association of the marker with the hazard, and the baseline hazard
EVENT_COEF = "event_coef"
EVENT_FIXED = "event_fixed"
ASSOCIATION = "association"
ASSOCIATION_TERM = "association_term"
WEIBULL_SHAPE = "weibull_shape"
LOG_BASELINE_HAZARD = "log_baseline_hazard"
BASELINE_INTERVAL = "baseline_interval"
BASELINE_SMOOTHNESS = "baseline_smoothness"
#: the survival part's variables, in the order reported
SURVIVAL = (EVENT_COEF, ASSOCIATION, WEIBULL_SHAPE, LOG_BASELINE_HAZARD, BASELINE_SMOOTHNESS)

_OBSERVED = "y"
_SD, _CORRELATION, _EFFECTS = "sd", "corr", "b"


def sd(group: str) -> str:
    """The SDs of ``group``'s varying terms: ``sd_<g>``."""
    return f"{_SD}_{group}"


def correlation(group: str) -> str:
    """The correlations of ``group``'s varying terms, one per pair: ``corr_<g>``."""
    return f"{_CORRELATION}_{group}"


def effects(group: str) -> str:
    """Each level's random effects: ``b_<g>``."""
    return f"{_EFFECTS}_{group}"


def term_dim(group: str) -> str:
    """The dimension of ``group``'s varying terms: ``<g>__term``."""
    return f"{group}__term"


def pair_dim(group: str) -> str:
    """The dimension of ``corr_<g>``, the pairs of ``group``'s terms: ``<g>__pair``."""
    return f"{group}__pair"


def pair_positions(n: int) -> tuple[list[int], list[int]]:
    """Rows and columns (i < j) of the pairs of n terms in their order along a pair
    dimension: the upper triangle row by row, (0, 1), (0, 2)..., (1, 2)..."""
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    return [i for i, _ in pairs], [j for _, j in pairs]


def pair_labels(labels: Sequence[str]) -> list[str]:
    """The coordinates of a pair dimension: ``"a.b"`` per pair of ``labels`` (e.g.
    ``"(Intercept).Days"``), in the order of :func:`pair_positions`."""
    rows, columns = pair_positions(len(labels))
    return [f"{labels[i]}.{labels[j]}" for i, j in zip(rows, columns)]


def correlation_matrices(pairs: np.ndarray, n: int) -> np.ndarray:
    """Correlation matrices (..., n, n) from their pairs (..., n(n − 1)/2) in the order of
    :func:`pair_positions`: R_ij = R_ji = the pair's value, R_ii = 1."""
    rows, columns = pair_positions(n)
    matrix = np.broadcast_to(np.eye(n), (*pairs.shape[:-1], n, n)).copy()
    matrix[..., rows, columns] = pairs
    matrix[..., columns, rows] = pairs
    return matrix


def pair_values(matrices: np.ndarray) -> np.ndarray:
    """The pairs (..., n(n − 1)/2) of correlation matrices (..., n, n): the inverse of
    :func:`correlation_matrices`."""
    rows, columns = pair_positions(matrices.shape[-1])
    return matrices[..., rows, columns]


def pair_variables(present: Iterable[str]) -> dict[str, str]:
    """The correlation variables among ``present`` (``corr_<g>``, ``rescor``), each with its
    pair dimension."""
    found = {}
    for name in present:
        if name == RESCOR:
            found[name] = OUTCOME_PAIR
        elif group_variable(name) == "corr":
            found[name] = pair_dim(name.partition("_")[2])
    return found


def level_dim(group: str) -> str:
    """The dimension of ``group``'s levels: ``<g>__level``."""
    return f"{group}__level"


def coords(group: str, levels: Sequence[str], terms: Sequence[str]) -> dict[str, list[str]]:
    """The coordinates of ``group``'s three dimensions: its levels, its terms and the
    pairs of its terms (those of ``corr_<g>``)."""
    return {level_dim(group): list(levels), term_dim(group): list(terms),
            pair_dim(group): pair_labels(terms)}


def baseline_interval_labels(cuts: Sequence[float]) -> list[str]:
    """The coordinates of ``baseline_interval``: ``"[a, b)"`` for each interval between
    0, the cut points and infinity (``"[4.2, Inf)"`` last)."""
    edges = [0.0, *cuts, np.inf]
    return [f"[{a:g}, {'Inf' if np.isinf(b) else f'{b:g}'})" for a, b in pairwise(edges)]


def sd_key(group: str, term: str) -> str:
    """The prior key of one SD, ``sd_<g>__<term>`` (e.g. ``"sd_Subject__Days"``): the
    variable's name and the term's, as users type it in prior overrides."""
    return f"{sd(group)}__{term}"


def cutpoint_labels(categories: Sequence[str]) -> list[str]:
    """The coordinates of ``cutpoint``: ``"a|b"`` between each pair of adjacent ordered
    categories (``"1|2"``, ``"2|3"``...), ordinal::clm's names of the thresholds."""
    return [f"{low}|{high}" for low, high in pairwise(categories)]


def observed(*outcomes: str) -> str:
    """The observed variable: ``y``, or ``y__<outcome>__...`` for the outcomes observed
    together in a multivariate model."""
    return "__".join((_OBSERVED, *outcomes))


def group_variable(name: str) -> Literal["sd", "corr", "b"] | None:
    """Which per-grouping-factor variable ``name`` is: ``"sd"`` (``sd_<g>``), ``"corr"``
    (``corr_<g>``) or ``"b"`` (``b_<g>``); None for any other name."""
    kind, _, group = name.partition("_")
    return kind if kind in (_SD, _CORRELATION, _EFFECTS) and group else None


def public(groups: Iterable[str], present: Iterable[str]) -> list[str]:
    """The documented posterior variables among ``present``, in the documented order:
    ``beta``, ``cutpoints``, the :data:`SCALARS`, ``rescor``, then per grouping factor (or block), in
    the order of ``groups``, ``sd_<g>``, ``corr_<g>``, ``b_<g>``. An engine's internal
    variables (non-centred offsets, Cholesky factors) are left out."""
    names = [BETA, CUTPOINTS, *SCALARS, RESCOR]
    for group in groups:
        names += [sd(group), correlation(group), effects(group)]
    present = set(present)
    return [name for name in names if name in present]
