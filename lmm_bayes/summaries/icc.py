"""Intraclass correlations (variance partition coefficients), with random slopes and nesting;
on the latent scale for generalized linear mixed models."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import DesignError
from ..families import Family, ResidualVariance, get_family
from .draws import check_number, interval_columns
from .variance import covariance_draws

__all__ = ["icc", "latent_residual_variance", "nesting", "term_values"]

INTERCEPT = "(Intercept)"
COLUMNS = ["group", "numerator", "at", "estimate", "std_error", "conf_low", "conf_high"]


def nesting(indices: Mapping[str, np.ndarray]) -> dict[str, tuple[str, ...]]:
    """For each grouping factor, the factors it is nested in.

    ``g`` is nested in ``h`` when every level of ``g`` occurs with a single level of ``h``
    and ``h`` has fewer levels (casks within batches: each cask belongs to one batch).

    Parameters
    ----------
    indices : mapping of factor name to the level index of every row
    """
    found: dict[str, tuple[str, ...]] = {}
    for g, gi in indices.items():
        outer = []
        for h, hi in indices.items():
            if h == g or len(np.unique(hi)) >= len(np.unique(gi)):
                continue
            pairs = np.unique(np.column_stack([gi, hi]), axis=0)
            if len(pairs) == len(np.unique(gi)):  # one h level per g level
                outer.append(h)
        found[g] = tuple(outer)
    return found


def term_values(terms, at: Mapping[str, float]) -> np.ndarray:
    """Covariate value z_k of each varying term: 1 for ``(Intercept)``; ``at[term]`` if given;
    else the product of ``at`` over the term's ``:``-separated parts, a missing part being 0."""
    values = []
    for term in terms:
        if term == INTERCEPT:
            values.append(1.0)
        elif term in at:
            values.append(float(at[term]))
        else:
            values.append(float(np.prod([at.get(part, 0.0) for part in term.split(":")])))
    return np.array(values)


def _check_at(groups: Mapping[str, tuple[str, ...]], at: Mapping[str, float]) -> None:
    """DesignError for an ``at`` key that matches no random slope or a value that is not a
    finite number (NaN would give a NaN ICC without a word)."""
    known = {name for terms in groups.values() for t in terms if t != INTERCEPT
             for name in (t, *t.split(":"))}
    unknown = sorted(set(at) - known)
    if unknown:
        raise DesignError(f"at={dict(at)}: {unknown} match no random slope; the varying terms "
                          f"are {sorted({t for ts in groups.values() for t in ts})}")
    for name, value in at.items():
        check_number(f"at[{name!r}]", value)


def _at_label(groups: Mapping[str, tuple[str, ...]], at: Mapping[str, float]) -> str:
    slopes = dict.fromkeys(t for terms in groups.values() for t in terms if t != INTERCEPT)
    return ", ".join(f"{t}={term_values([t], at)[0]:g}" for t in slopes)


def latent_residual_variance(family: Family, posterior: xr.Dataset,
                             fixed_mean: np.ndarray | None = None) -> ResidualVariance:
    """The observation-level variance σ²_ε in the ICC's denominator, by family and link.

    Parameters
    ----------
    family : Family
    posterior : xarray.Dataset
        With the family's extra parameters (``sigma`` of the Gaussian, ``alpha`` of the
        negative binomial).
    fixed_mean : ndarray, shape (chain, draw), optional
        The fixed part of the linear predictor at which the count families' variance is
        taken: the mean of x_iᵀβ over the data rows (needed for poisson and negbinomial).

    Returns
    -------
    callable
        From the random-effect variance Σ_k v_k, shape (chain, draw), to σ²_ε per draw.

    Notes
    -----
    Each family states its own (:meth:`lmm_bayes.families.Family.latent_residual_variance`).
    Gaussian: σ². Binary and binomial responses on the latent scale of their link
    (y = 1 when a latent η + ε > 0): ε logistic, σ²_ε = π²/3 (logit); ε normal, σ²_ε = 1
    (probit); ε extreme-value, σ²_ε = π²/6 (cloglog) (Snijders & Bosker 2012, §17.3;
    Nakagawa, Johnson & Schielzeth 2017, *J. R. Soc. Interface* 14: 20170213, Table 1).
    Counts with the log link, the log-normal approximation (Nakagawa et al. 2017, Table 1;
    Nakagawa & Schielzeth 2010, *Biol. Rev.* 85, 935–956): σ²_ε = ln(1 + 1/λ) (Poisson) and
    ln(1 + 1/λ + 1/α) (negative binomial, Var = μ + μ²/α), with λ = exp(β̄₀ + Σ_k v_k / 2)
    the mean count, β̄₀ = ``fixed_mean``. Ordinal (cumulative) responses on the latent scale
    of their link, as binary ones: π²/3 (logit), 1 (probit).
    """
    parameters = {name: posterior[name].transpose("chain", "draw", ...).values
                  for name in family.parameters}
    return family.latent_residual_variance(parameters, fixed_mean)


def icc(posterior: xr.Dataset, groups: Mapping[str, tuple[str, ...]], *,
        at: Mapping[str, float] | None = None,
        nested_in: Mapping[str, tuple[str, ...]] | None = None,
        group: str | None = None, prob: float = 0.95,
        residual: ResidualVariance | None = None) -> pd.DataFrame:
    """Intraclass correlation of each grouping factor, with a posterior interval.

    Parameters
    ----------
    posterior : xarray.Dataset
        With ``sd_<g>``, ``corr_<g>`` and ``sigma``.
    groups : mapping of grouping factor name to its term names
    at : mapping of covariate (term) name to value, optional
        Where to evaluate the variances when effects have random slopes; terms not given are
        evaluated at 0 (the intercept's variance).
    nested_in : mapping of factor name to the factors it is nested in (see :func:`nesting`)
    group : str, optional
        Only this factor's row.
    prob : float
        Mass of the central interval.
    residual : callable, optional
        σ²_ε per draw from the random-effect variance (see
        :func:`latent_residual_variance`); default σ² from ``sigma`` (Gaussian).

    Returns
    -------
    pandas.DataFrame
        One row per factor: ``group``, ``numerator`` (the variances summed above the line),
        ``at`` (covariate values used, e.g. ``"Days=3"``; empty without random slopes),
        ``estimate``, ``std_error``, ``conf_low``, ``conf_high``.

    Notes
    -----
    With covariate values z (``z_g`` the values of factor g's varying terms, 1 for the
    intercept), factor g contributes the variance v_g(z) = z_gᵀ Σ_g z_g to an observation,
    and the ICC of g is the correlation of two observations at z that share the level of g
    (and of the factors g is nested in) but no other factor's level:

        ICC_g(z) = (v_g(z) + Σ_{h ⊃ g} v_h(z)) / (Σ_k v_k(z) + σ²).

    With random intercepts only this is τ²_g / (Σ_k τ²_k + σ²) (Snijders & Bosker 2012,
    ch. 3); with random slopes it depends on z, e.g. for ``(Days | Subject)`` at Days = t,
    (τ0² + 2tρτ0τ1 + t²τ1²) / (that + σ²) (Goldstein, Browne & Rasbash 2002, "Partitioning
    variation in multilevel models"). For ``(1 | batch/cask)`` the ``batch`` row is the
    correlation within a batch across casks, the ``batch:cask`` row the correlation within
    a cask, τ²_b + τ²_c over the total. For a generalized linear mixed model σ² is the
    latent-scale variance of :func:`latent_residual_variance`. Computed draw by draw, then
    summarised.
    """
    at = dict(at or {})
    nested_in = nested_in or {}
    _check_at(groups, at)
    part = {}
    for name, terms in groups.items():
        z = term_values(terms, at)
        part[name] = np.einsum("...i,...ij,...j->...", z, covariance_draws(posterior, name), z)
    random = sum(part.values())
    if residual is None:
        residual = latent_residual_variance(get_family("gaussian"), posterior)
    total = random + residual(random)
    label = _at_label(groups, at)
    rows = []
    for name in groups if group is None else [group]:
        shared = [*nested_in.get(name, ()), name]
        stats = interval_columns(sum(part[h] for h in shared) / total, prob)
        rows.append({"group": name, "numerator": " + ".join(f"var({h})" for h in shared),
                     "at": label, **{k: float(v) for k, v in stats.items()}})
    return pd.DataFrame.from_records(rows, columns=COLUMNS)
