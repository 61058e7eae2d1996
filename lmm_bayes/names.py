"""The posterior's vocabulary: every public variable and dimension name, spelled once.

A fit's ``idata.posterior`` holds, whatever engine produced it:

* ``beta`` (dim ``fixed``): the fixed effects;
* ``sigma`` (Gaussian), ``alpha`` (negative binomial), ``phi`` (residual AR(1)/CAR(1)), or
  ``sigma_beta`` (dim ``sigma_fixed``) for a sigma formula;
* per grouping factor ``g``: ``sd_<g>`` (dim ``<g>__term``), ``corr_<g>`` (dims
  ``<g>__term``, ``<g>__term_``) and ``b_<g>`` (dims ``<g>__level``, ``<g>__term``).

Engines write these names; summaries, prediction and checks read them, each through the
functions here.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "ALPHA",
    "BETA",
    "FIXED",
    "SCALARS",
    "correlation",
    "effects",
    "level_dim",
    "pair_dim",
    "public",
    "sd",
    "term_dim",
]

BETA = "beta"
FIXED = "fixed"
SIGMA = "sigma"
SIGMA_BETA = "sigma_beta"
SIGMA_FIXED = "sigma_fixed"
ALPHA = "alpha"
#: the variables of the residual and of a family's extra parameters, in the order reported
SCALARS = (SIGMA, SIGMA_BETA, "phi", ALPHA)


def sd(group: str) -> str:
    """The SDs of ``group``'s varying terms: ``sd_<g>``."""
    return f"sd_{group}"


def correlation(group: str) -> str:
    """The correlation matrix of ``group``'s varying terms: ``corr_<g>``."""
    return f"corr_{group}"


def effects(group: str) -> str:
    """Each level's random effects: ``b_<g>``."""
    return f"b_{group}"


def term_dim(group: str) -> str:
    """The dimension of ``group``'s varying terms: ``<g>__term``."""
    return f"{group}__term"


def pair_dim(group: str) -> str:
    """The second dimension of ``corr_<g>``: ``<g>__term_``."""
    return f"{term_dim(group)}_"


def level_dim(group: str) -> str:
    """The dimension of ``group``'s levels: ``<g>__level``."""
    return f"{group}__level"


def public(groups: Iterable[str], present: Iterable[str]) -> list[str]:
    """The documented posterior variables among ``present``, in the documented order; an
    engine's internal variables (non-centred offsets, Cholesky factors) are left out."""
    names = [BETA, *SCALARS]
    for group in groups:
        names += [sd(group), correlation(group), effects(group)]
    present = set(present)
    return [name for name in names if name in present]
