"""Reading a fit's posterior by its public names (:mod:`lmm_bayes.names`): the quantities
that engines, summaries, prediction and checks all derive from the draws."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from . import names
from .errors import DesignError
from .families import Family
from .residuals import residual_sd_draws

__all__ = ["PosteriorDraws", "covariance_draws", "level_positions", "select_levels"]


def covariance_draws(posterior: xr.Dataset, group: str) -> np.ndarray:
    """Draws of the covariance matrix Σ_g of one grouping factor's random effects.

    Returns
    -------
    ndarray, shape (chain, draw, q, q)
        Σ_ij = s_i s_j R_ij from ``sd_<g>`` and ``corr_<g>``; diagonal (R = I) for a factor
        with independent effects (``||``), which has no ``corr_<g>``.
    """
    term = names.term_dim(group)
    sd = posterior[names.sd(group)].transpose("chain", "draw", term).values
    if names.correlation(group) in posterior:
        pairs = posterior[names.correlation(group)].transpose(
            "chain", "draw", names.pair_dim(group)).values
        corr = names.correlation_matrices(pairs, sd.shape[-1])
    else:
        corr = np.eye(sd.shape[-1])
    return sd[..., :, None] * sd[..., None, :] * corr


def level_positions(known, group: str, levels) -> np.ndarray:
    """The positions among ``known`` (a factor's level labels, in order) of the labels
    ``levels`` (a label or a list; labels are compared as text, so ``308`` finds
    ``"308"``); :class:`DesignError` naming those that are not levels of ``group``. A
    ``pandas.Index`` of ``known`` is used as it is, so its hash table, built on its first
    look-up, serves every later one (millions of levels, partition after partition)."""
    wanted = [str(level) for level in ([levels] if isinstance(levels, (str, int)) else levels)]
    where = (known if isinstance(known, pd.Index) else pd.Index(known)).get_indexer(wanted)
    if (where < 0).any():
        unknown = [label for label, k in zip(wanted, where) if k < 0]
        raise DesignError(f"{unknown} are not levels of {group!r} "
                          f"({len(known)} levels, e.g. {list(known[:5])})")
    return where


def select_levels(effects: xr.DataArray, group: str, levels) -> xr.DataArray:
    """The draws of ``b_<g>`` (``effects``) for the chosen ``levels`` of ``group``, in the
    order given (:func:`level_positions`)."""
    dim = names.level_dim(group)
    known = [str(v) for v in effects[dim].values]
    return effects.isel({dim: level_positions(known, group, levels)})


@dataclass(frozen=True)
class PosteriorDraws:
    """The posterior flattened over chains: S = chains × draws along the first axis."""

    posterior: xr.Dataset

    @property
    def shape(self) -> tuple[int, int]:
        return self.posterior.sizes["chain"], self.posterior.sizes["draw"]

    def get(self, name: str, *dims: str) -> np.ndarray:
        """``name`` as an array (S, *dims); a dimension may be empty."""
        values = self.posterior[name].transpose("chain", "draw", *dims).values
        return values.reshape(values.shape[0] * values.shape[1], *values.shape[2:])

    def effects(self, group: str) -> np.ndarray:
        """``b_<g>`` as (S, levels, terms)."""
        return self.get(names.effects(group), names.level_dim(group), names.term_dim(group))

    def cholesky(self, group: str) -> np.ndarray:
        """Lower Cholesky factor of Σ_g per draw (S, q, q); zero-variance terms allowed."""
        cov = covariance_draws(self.posterior, group)
        cov = cov.reshape(-1, *cov.shape[2:])
        jitter = 1e-12 * np.eye(cov.shape[-1]) * np.trace(cov, axis1=1, axis2=2)[:, None, None]
        return np.linalg.cholesky(cov + jitter)

    def linear_predictor(self, X: np.ndarray,
                         random: Iterable[tuple[str, np.ndarray, np.ndarray]] = ()
                         ) -> np.ndarray:
        """The linear predictor of m rows per draw, (S, m).

        Parameters
        ----------
        X : ndarray (m, p)
            The rows' fixed-effect covariates.
        random : iterable of (str, ndarray (m, q), ndarray (m,) of int)
            Per grouping factor to include: its name, the rows' random-effect covariates
            Z_g and each row's level code ℓ_g(i), the level's position among the fitted
            levels. A code of −1 (a level the fit has not seen) adds nothing: the caller
            decides what an unseen level's effects are.

        Notes
        -----
        η⁽ˢ⁾_i = x_iᵀ β⁽ˢ⁾ + Σ_g z_{g,i}ᵀ b⁽ˢ⁾_{g,ℓ_g(i)} (Laird & Ware 1982, *Biometrics*
        38), the random effects indexed by level rather than multiplied through a dense Z.
        """
        eta = self.get(names.BETA, names.FIXED) @ X.T
        for group, Z, codes in random:
            known = codes >= 0
            b = self.effects(group)[:, codes[known]]
            eta[:, known] += np.einsum("smq,mq->sm", b, Z[known])
        return eta

    def family_parameters(self, family: Family, sigma_X: np.ndarray | None = None
                          ) -> dict[str, np.ndarray]:
        """The family's extra parameters (``sigma``...) per draw, shaped (S, 1) to broadcast
        over rows, a vector parameter (S, 1, length) (the cumulative family's cutpoints);
        with a sigma model (``sigma_X``, the rows' log-σ design) σ per draw and row, (S, m)
        (:func:`lmm_bayes.residuals.residual_sd_draws`)."""
        aux = {p.name: self.get(p.name, *([p.dim] if p.dim else []))[:, None]
               for p in family.extra if p.name in self.posterior}
        if sigma_X is not None:
            aux["sigma"] = residual_sd_draws(self.posterior, sigma_X).reshape(-1, len(sigma_X))
        return aux
