"""Shrinkage: each level's own estimate, the population's, and the posterior between them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from .. import names
from ..design import Design, GroupingFactor
from ..errors import DesignError
from .draws import interval_columns

__all__ = ["no_pooling", "shrinkage"]

COLUMNS = ["n", "no_pooling", "complete_pooling", "partial_pooling", "std_error", "conf_low",
           "conf_high", "shrinkage", "reason"]


def _fixed_means(posterior: xr.Dataset, terms) -> np.ndarray:
    """Posterior means of the fixed effects ``terms``; 0 for a term with no fixed effect."""
    beta = posterior[names.BETA].mean(("chain", "draw"))
    fixed = set(beta[names.FIXED].values.astype(str))
    return np.array([float(beta.sel({names.FIXED: t})) if t in fixed else 0.0 for t in terms])


def _other_random(posterior: xr.Dataset, design: Design, group: str) -> np.ndarray:
    """Σ_h z_hᵀ b̂_h on every row, over the factors h other than ``group`` (posterior means)."""
    total = np.zeros(design.n_obs)
    for other in design.groups:
        if other.name == group:
            continue
        b = posterior[names.effects(other.name)].mean(("chain", "draw"))
        b = b.transpose(names.level_dim(other.name), names.term_dim(other.name)).values
        total += (other.Z * b[other.index]).sum(axis=1)
    return total


def partial_residual(posterior: xr.Dataset, design: Design, group: str) -> np.ndarray:
    """r = y − X β̂ − o − Σ_{h≠g} Z_h b̂_h + Z_g β̂_g (o the offset): the response less every
    known or estimated part of the model except the coefficients of g's varying terms (β̂_g:
    the fixed effects of those terms, 0 where a term has none)."""
    grp = design.group(group)
    own = grp.Z @ _fixed_means(posterior, grp.terms)
    fixed = design.X @ _fixed_means(posterior, design.fixed_names)
    if design.offset is not None:
        fixed = fixed + design.offset
    return design.y - fixed - _other_random(posterior, design, group) + own


def _level_fit(Z: np.ndarray, r: np.ndarray, terms) -> tuple[np.ndarray, str]:
    """Least squares of r on Z, or NaN and the reason when Z has too little information."""
    q = Z.shape[1]
    if len(r) < q:
        return np.full(q, np.nan), f"{len(r)} observation(s) for {q} coefficients"
    if np.linalg.matrix_rank(Z) < q:
        flat = [t for k, t in enumerate(terms) if np.ptp(Z[:, k]) == 0 and t != "(Intercept)"]
        why = f"{', '.join(flat)} constant in this level" if flat else "collinear columns"
        return np.full(q, np.nan), why
    return np.linalg.lstsq(Z, r, rcond=None)[0], ""


def no_pooling(posterior: xr.Dataset, design: Design, group: str
               ) -> tuple[np.ndarray, list[str]]:
    """Each level's own least-squares coefficients of the factor's varying terms.

    Returns
    -------
    coef : ndarray, shape (levels, q)
        NaN for a level whose rows cannot determine all q coefficients.
    reasons : list of str
        Why a level's row is NaN; empty strings elsewhere.
    """
    grp: GroupingFactor = design.group(group)
    r = partial_residual(posterior, design, group)
    coef = np.full((grp.n_levels, len(grp.terms)), np.nan)
    reasons = [""] * grp.n_levels
    for level in range(grp.n_levels):
        rows = grp.index == level
        coef[level], reasons[level] = _level_fit(grp.Z[rows], r[rows], grp.terms)
    return coef, reasons


def shrinkage(posterior: xr.Dataset, design: Design, group: str, term: str = "(Intercept)",
              prob: float = 0.95) -> pd.DataFrame:
    """No, complete and partial pooling of one varying coefficient, level by level.

    Parameters
    ----------
    posterior : xarray.Dataset
        With ``beta`` and ``b_<g>`` of every factor.
    design : Design
        The fitted model's design (response, X, Z and level of every row).
    group, term : str
        The grouping factor and one of its varying terms.
    prob : float
        Mass of the central interval of the partial-pooling estimate.

    Returns
    -------
    pandas.DataFrame
        Indexed by level label: ``n`` (rows), ``no_pooling``, ``complete_pooling``,
        ``partial_pooling`` (posterior mean of β_term + b_level,term), its ``std_error``,
        ``conf_low``, ``conf_high``, ``shrinkage`` and ``reason`` (why ``no_pooling`` is NaN;
        empty otherwise).

    Notes
    -----
    The three estimates of level ℓ's coefficient (Gelman & Hill 2007, ch. 12):

    - no pooling: the least-squares coefficient from regressing the level's partial
      residuals r = y − X β̂ − Σ_{h≠g} Z_h b̂_h + Z_g β̂_g on the level's Z_g columns
      (all of g's varying terms together), β̂ and b̂ being posterior means and β̂_g the fixed
      effects of g's varying terms. The model's fixed structure stays at its estimate and
      only this factor's coefficients are fitted to the level alone. NaN (with a reason)
      when the level has fewer rows than terms or a varying covariate takes one value in it.
    - complete pooling: the posterior mean of the fixed effect β_term (0 without one).
    - partial pooling: the posterior mean of β_term + b_ℓ,term.

    shrinkage = (no − partial) / (no − complete): the fraction of the way from the level's
    own estimate to the population's that the posterior moves (0 none, 1 all). It is not
    clipped: a coefficient correlated with the level's other effects can move past the
    population value or away from it, and the ratio is erratic for a level whose own
    estimate is close to the population's (a small denominator). For a random intercept
    with known variances the posterior mean is complete + (1 − B)(ȳ_ℓ − complete) with
    B = σ² / (n_ℓ τ² + σ²), so shrinkage = B: levels with fewer rows shrink more
    (e.g. τ = 3, σ = 4: B = 16/25 for one row, 16/160 for sixteen).
    """
    grp = design.group(group)
    if term not in grp.terms:
        raise DesignError(f"{term!r} is not a varying term of {group!r}; its terms are "
                          f"{list(grp.terms)}")
    k = grp.terms.index(term)
    coef, reasons = no_pooling(posterior, design, group)
    complete = float(_fixed_means(posterior, [term])[0])
    draws = posterior[names.effects(group)].sel({names.term_dim(group): term})
    draws = draws.transpose("chain", "draw", names.level_dim(group)).values
    beta = posterior[names.BETA]
    if term in set(beta[names.FIXED].values.astype(str)):
        beta = beta.sel({names.FIXED: term}).transpose("chain", "draw").values
        draws = draws + beta[..., None]
    stats = interval_columns(draws, prob)
    no_pool = coef[:, k]
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = (no_pool - stats["estimate"]) / (no_pool - complete)
    frame = pd.DataFrame({
        "n": np.bincount(grp.index, minlength=grp.n_levels), "no_pooling": no_pool,
        "complete_pooling": complete, "partial_pooling": stats["estimate"],
        "std_error": stats["std_error"], "conf_low": stats["conf_low"],
        "conf_high": stats["conf_high"], "shrinkage": fraction, "reason": reasons,
    }, index=pd.Index(list(grp.levels), name=group))
    return frame[COLUMNS]
