"""Singular fits: variance components whose posterior piles up at zero."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import xarray as xr

__all__ = ["PILED_AT_ZERO", "singular_components"]

PILED_AT_ZERO = 0.25


def singular_components(posterior: xr.Dataset, groups: Mapping[str, tuple[str, ...]],
                        ratio: float = PILED_AT_ZERO) -> list[str]:
    """Random-effect SDs whose posterior has its mode at zero, one sentence each.

    Parameters
    ----------
    posterior : xarray.Dataset
        With ``sd_<g>`` (dims chain, draw, ``<g>__term``) for each grouping factor.
    groups : mapping of grouping factor to its term names
    ratio : float
        An SD is flagged when its 10% posterior quantile is below ``ratio`` times its median.

    Returns
    -------
    list of str
        Empty when no component is singular.

    Notes
    -----
    lme4 calls a fit singular when a variance estimate lies on the boundary, zero (Bates et
    al. 2015, *J. Stat. Softw.* 67(1), sec. 3.1; ``?isSingular``). The Bayesian counterpart is
    a posterior mode at zero. If the posterior density of an SD s is non-increasing on
    [0, ∞), its distribution function F is concave with F(0) = 0, so F(c·m) ≥ c·F(m) = c/2
    for the median m and 0 ≤ c ≤ 1; with c = 1/5, F(m/5) ≥ 0.1, i.e.

    .. math:: q_{0.10}(s) \\le m/5 .

    A posterior with its mode well inside (0, ∞) has q₁₀ close to m (for a normal-shaped
    posterior with coefficient of variation 0.3, q₁₀ ≈ 0.62 m). The default threshold
    q₁₀ < m/4 leaves room for Monte Carlo error in the 10% quantile. It is scale-free:
    the same data in other units give the same verdict.
    """
    found = []
    for group, terms in groups.items():
        draws = posterior[f"sd_{group}"].transpose("chain", "draw", f"{group}__term").values
        q10, median = np.quantile(draws.reshape(-1, len(terms)), [0.1, 0.5], axis=0)
        for term, low, mid in zip(terms, q10, median):
            if low < ratio * mid:
                found.append(
                    f"the posterior SD of the random effect {term!r} by {group!r} piles up at "
                    f"zero (10% quantile {low:.3g} < {ratio:g} × median {mid:.3g}): the data "
                    "cannot tell this variance component from zero (the Bayesian counterpart "
                    "of lme4's singular fit); the fit is returned, but consider dropping the "
                    "term or a tighter prior"
                )
    return found
