"""The posterior's vocabulary: every public variable and dimension name, spelled once.

A fit's ``idata.posterior`` holds, whatever engine produced it:

* ``beta`` (dim ``fixed``): the fixed effects;
* ``sigma`` (Gaussian), ``alpha`` (negative binomial), ``phi`` (residual AR(1)/CAR(1)), or
  ``sigma_beta`` (dim ``sigma_fixed``) for a sigma formula;
* per grouping factor ``g``: ``sd_<g>`` (dim ``<g>__term``), ``corr_<g>`` (dims
  ``<g>__term``, ``<g>__term_``) and ``b_<g>`` (dims ``<g>__level``, ``<g>__term``);
* in a multivariate model, ``sigma`` (dim ``outcome``) and ``rescor`` (dims ``outcome``,
  ``outcome_``), and per random-effect block the grouping factor's names with the block
  in place of ``g``.

The observed (and replicated) response is ``y``, dim ``obs``; a multivariate model observes
``y__<outcome>`` or, per pattern of missing outcomes, ``y__<outcome>__<outcome>...``.

Engines write these names; summaries, prediction and checks read them, each through the
functions here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

__all__ = [
    "ALPHA",
    "BETA",
    "FIXED",
    "OBS",
    "OUTCOME",
    "OUTCOME_PAIR",
    "PHI",
    "RESCOR",
    "SCALARS",
    "SIGMA",
    "SIGMA_BETA",
    "SIGMA_FIXED",
    "coords",
    "correlation",
    "effects",
    "group_variable",
    "level_dim",
    "observed",
    "pair_dim",
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
PHI = "phi"
#: the variables of the residual and of a family's extra parameters, in the order reported
SCALARS = (SIGMA, SIGMA_BETA, PHI, ALPHA)
#: a multivariate model's residual correlation, and its dimensions
RESCOR = "rescor"
OUTCOME = "outcome"
OUTCOME_PAIR = "outcome_"
#: the dimension of the observed rows
OBS = "obs"

_OBSERVED = "y"
_SD, _CORRELATION, _EFFECTS = "sd", "corr", "b"


def sd(group: str) -> str:
    """The SDs of ``group``'s varying terms: ``sd_<g>``."""
    return f"{_SD}_{group}"


def correlation(group: str) -> str:
    """The correlation matrix of ``group``'s varying terms: ``corr_<g>``."""
    return f"{_CORRELATION}_{group}"


def effects(group: str) -> str:
    """Each level's random effects: ``b_<g>``."""
    return f"{_EFFECTS}_{group}"


def term_dim(group: str) -> str:
    """The dimension of ``group``'s varying terms: ``<g>__term``."""
    return f"{group}__term"


def pair_dim(group: str) -> str:
    """The second dimension of ``corr_<g>``: ``<g>__term_``."""
    return f"{term_dim(group)}_"


def level_dim(group: str) -> str:
    """The dimension of ``group``'s levels: ``<g>__level``."""
    return f"{group}__level"


def coords(group: str, levels: Sequence[str], terms: Sequence[str]) -> dict[str, list[str]]:
    """The coordinates of ``group``'s three dimensions: its levels, and its terms twice
    (rows and columns of ``corr_<g>``)."""
    return {level_dim(group): list(levels), term_dim(group): list(terms),
            pair_dim(group): list(terms)}


def sd_key(group: str, term: str) -> str:
    """The prior key of one SD, ``sd_<g>__<term>`` (e.g. ``"sd_Subject__Days"``): the
    variable's name and the term's, as users type it in prior overrides."""
    return f"{sd(group)}__{term}"


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
    ``beta``, the :data:`SCALARS`, ``rescor``, then per grouping factor (or block), in
    the order of ``groups``, ``sd_<g>``, ``corr_<g>``, ``b_<g>``. An engine's internal
    variables (non-centred offsets, Cholesky factors) are left out."""
    names = [BETA, *SCALARS, RESCOR]
    for group in groups:
        names += [sd(group), correlation(group), effects(group)]
    present = set(present)
    return [name for name in names if name in present]
