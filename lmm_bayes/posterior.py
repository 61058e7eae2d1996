"""Reading a fit's posterior by its public names (:mod:`lmm_bayes.names`): the quantities
that engines, summaries and prediction all derive from the draws."""

from __future__ import annotations

import numpy as np
import xarray as xr

from . import names

__all__ = ["covariance_draws"]


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
        corr = posterior[names.correlation(group)].transpose(
            "chain", "draw", term, names.pair_dim(group)).values
    else:
        corr = np.eye(sd.shape[-1])
    return sd[..., :, None] * sd[..., None, :] * corr
