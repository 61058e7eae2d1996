"""The random effects integrated out: per-level sufficient statistics and exact conditional draws.

For a Gaussian model with one grouping factor, the rows of level ℓ are jointly normal given
the fixed effects β, the random-effect covariance Σ = L Lᵀ and the residual SD σ:

.. math::

    y_\\ell \\sim N(X_\\ell\\beta,\\; \\sigma^2 (I + Z_\\ell \\theta\\theta^\\top Z_\\ell^\\top)),
    \\qquad \\theta = L/\\sigma,

so the random effects need not be sampled. With :math:`A_\\ell = I_q + \\theta^\\top
Z_\\ell^\\top Z_\\ell\\theta`, :math:`w_\\ell = Z_\\ell^\\top (y_\\ell - X_\\ell\\beta)` and
:math:`u_\\ell = \\theta^\\top w_\\ell`, the matrix determinant lemma and the Woodbury identity
give (Bates et al. 2015, *J. Stat. Softw.* 67(1), section 3; Pinheiro & Bates 2000, ch. 2)

.. math::

    \\log p(y \\mid \\beta, \\theta, \\sigma) = -\\tfrac{n}{2}\\log 2\\pi - n\\log\\sigma
    - \\tfrac12\\sum_\\ell \\log|A_\\ell|
    - \\frac{1}{2\\sigma^2}\\Big(\\lVert y - X\\beta\\rVert^2 - \\sum_\\ell u_\\ell^\\top
    A_\\ell^{-1} u_\\ell\\Big),

which needs only the per-level statistics :math:`Z_\\ell^\\top Z_\\ell`,
:math:`Z_\\ell^\\top X_\\ell`, :math:`Z_\\ell^\\top y_\\ell` and the global
:math:`X^\\top X`, :math:`X^\\top y`, :math:`y^\\top y`, computed once: a gradient costs
O(levels), not O(rows). Given a posterior draw, each level's effects are exactly normal,

.. math::

    b_\\ell \\mid \\beta, \\theta, \\sigma, y \\sim N\\big(\\theta A_\\ell^{-1} u_\\ell,\\;
    \\sigma^2 \\theta A_\\ell^{-1}\\theta^\\top\\big),

and are drawn after sampling (:func:`conditional_effects`). numpy, and numba for the draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import xarray as xr

from . import names
from .design import Design, GroupingFactor
from .posterior import PosteriorDraws, covariance_draws
from .sums import pair_value

__all__ = [
    "LevelStatistics",
    "add_by_group",
    "can_marginalize",
    "conditional_effects",
    "gaussian_conditional",
    "gaussian_obstacle",
    "level_loglik",
    "level_obstacle",
    "level_statistics",
    "obstacle",
    "random_effects_draws",
    "row_products",
    "statistics_from_sums",
    "sum_rows",
    "with_effects",
]


@dataclass(frozen=True)
class LevelStatistics:
    """Sufficient statistics of a Gaussian model with one grouping factor.

    Attributes
    ----------
    ZtZ : ndarray (L, q, q)
    ZtX : ndarray (L, q, p)
    Zty : ndarray (L, q)
    XtX : ndarray (p, p)
    Xty : ndarray (p,)
    yty : float
    n : int
    """

    ZtZ: np.ndarray
    ZtX: np.ndarray
    Zty: np.ndarray
    XtX: np.ndarray
    Xty: np.ndarray
    yty: float
    n: int


MAX_MARGINAL_TERMS = 2


def gaussian_obstacle(design: Design, family: str, residuals=None) -> str | None:
    """What keeps y from being normal given the random effects with independent
    homoscedastic residuals (``residuals`` None: no
    :class:`~lmm_bayes.residuals.ResidualDesign`) and mean Xβ + Zb, or None: the condition
    of every closed form that integrates random effects out (here, in
    :mod:`lmm_bayes.collapsed`, :mod:`lmm_bayes.effects_system` and
    :mod:`lmm_bayes.individual_blocks`). Their statistics are of y itself, so an offset
    would be silently left out, and a censored response's rows are not normal, and
    observation weights would be left out too: such a model goes to the graph engine."""
    if family != "gaussian":
        return (f"the {family} family (effects integrate out in closed form under normal "
                "residuals)")
    if design.offset is not None:
        return "an offset"
    if design.censoring is not None:
        return "a censored response (cens())"
    if design.weights is not None:
        return "observation weights"
    if residuals is not None:
        return "a residual structure or sigma formula"
    return None


def level_obstacle(design: Design, family: str, residuals=None) -> str | None:
    """What keeps each level's likelihood, its effects integrated out, from being normal in
    closed form (:func:`level_loglik`), or None: it is for a model with one grouping factor
    that :func:`gaussian_obstacle` lets through."""
    found = gaussian_obstacle(design, family, residuals)
    if found is not None:
        return found
    if len(design.groups) != 1:
        return f"{len(design.groups)} grouping factors, not one"
    return None


def obstacle(design: Design, family: str, residuals=None) -> str | None:
    """What keeps the random effects from being integrated out in the sampled density, or
    None: :func:`level_obstacle`, and at most two varying terms (closed-form 1×1 and 2×2
    determinants)."""
    found = level_obstacle(design, family, residuals)
    if found is not None:
        return found
    terms = design.groups[0].terms
    if len(terms) > MAX_MARGINAL_TERMS:
        return f"{len(terms)} varying terms, more than {MAX_MARGINAL_TERMS}"
    return None


def can_marginalize(design: Design, family: str, residuals=None) -> bool:
    """Whether the random effects can be integrated out here (:func:`obstacle` is None)."""
    return obstacle(design, family, residuals) is None


def _sum_by_level(values: np.ndarray, index: np.ndarray, n_levels: int) -> np.ndarray:
    """Σ over the rows of each level of ``values`` (rows first, any trailing shape)."""
    out = np.zeros((n_levels,) + values.shape[1:])
    np.add.at(out, index, values)
    return out


ROWS_AT_ONCE = 1 << 18  # rows whose products are formed at a time


@numba.njit(cache=True, nogil=True)
def _accumulate(index, hi, lo, out):
    """Add the pairs (hi, lo) (rows first) by group into the pairs ``out`` (groups, m, 2),
    each addition's error recovered by TwoSum (:mod:`lmm_bayes.sums`)."""
    n, m = hi.shape
    for i in range(n):
        g = index[i]
        for j in range(m):
            a, b = out[g, j, 0], hi[i, j]
            s = a + b
            bb = s - a
            out[g, j, 1] += (a - (s - bb)) + (b - bb) + lo[i, j]
            out[g, j, 0] = s


def add_by_group(out: np.ndarray, index: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Add ``values`` (n, m), or pairs (n, m, 2) already summed, by group into the pairs
    ``out`` (groups, m, 2) (:mod:`lmm_bayes.sums`: the result does not depend on the order
    of the rows), ``index`` (n,) giving each row's group; returns ``out``."""
    values = np.asarray(values, dtype=float)
    hi, lo = (values[..., 0], values[..., 1]) if values.ndim == 3 else (values,
                                                                        np.zeros_like(values))
    _accumulate(np.ascontiguousarray(index, dtype=np.int64), np.ascontiguousarray(hi),
                np.ascontiguousarray(lo), out)
    return out


def row_products(y: np.ndarray, X: np.ndarray, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's terms of the statistics: by level [1, z zᵀ, z xᵀ, z y] (n, 1 + q² + qp + q),
    and global [x xᵀ, x y, y²] (n, p² + p + 1), flattened."""
    n, q, p = len(y), Z.shape[1], X.shape[1]
    level = np.concatenate([np.ones((n, 1)), (Z[:, :, None] * Z[:, None, :]).reshape(n, q * q),
                            (Z[:, :, None] * X[:, None, :]).reshape(n, q * p),
                            Z * y[:, None]], axis=1)
    whole = np.concatenate([(X[:, :, None] * X[:, None, :]).reshape(n, p * p),
                            X * y[:, None], (y * y)[:, None]], axis=1)
    return level, whole


def sum_rows(y: np.ndarray, X: np.ndarray, Z: np.ndarray, index: np.ndarray, n_levels: int
             ) -> tuple[np.ndarray, np.ndarray]:
    """The sums of :func:`row_products` by level (n_levels, m, 2) and over all rows (m', 2),
    as order-independent pairs (:mod:`lmm_bayes.sums`), a block of rows at a time."""
    q, p = Z.shape[1], X.shape[1]
    by_level = np.zeros((n_levels, 1 + q * q + q * p + q, 2))
    whole = np.zeros((1, p * p + p + 1, 2))
    for start in range(0, len(y), ROWS_AT_ONCE):
        rows = slice(start, start + ROWS_AT_ONCE)
        level, total = row_products(y[rows], X[rows], Z[rows])
        add_by_group(by_level, index[rows], level)
        add_by_group(whole, np.zeros(len(total), dtype=np.int64), total)
    return by_level, whole[0]


def statistics_from_sums(by_level: np.ndarray, whole: np.ndarray, q: int, p: int
                         ) -> tuple[LevelStatistics, np.ndarray]:
    """The :class:`LevelStatistics` and the rows per level of the sums of :func:`sum_rows`."""
    level, total = pair_value(by_level), pair_value(whole)
    L = len(level)
    at = np.cumsum([1, q * q, q * p, q])
    counts = np.rint(level[:, 0]).astype(np.int64)
    return LevelStatistics(
        ZtZ=level[:, at[0]:at[1]].reshape(L, q, q), ZtX=level[:, at[1]:at[2]].reshape(L, q, p),
        Zty=level[:, at[2]:at[3]], XtX=total[:p * p].reshape(p, p),
        Xty=total[p * p:p * p + p], yty=float(total[-1]), n=int(counts.sum()),
    ), counts


def level_statistics(design: Design, group: GroupingFactor) -> LevelStatistics:
    """The per-level and global cross-products of the response and the designs, summed in
    an order-independent way (:func:`sum_rows`), so that the same rows held in partitions
    (:mod:`lmm_bayes.distributed`) give the same numbers."""
    q, p = group.Z.shape[1], design.X.shape[1]
    by_level, whole = sum_rows(design.y, design.X, group.Z, group.index, group.n_levels)
    return statistics_from_sums(by_level, whole, q, p)[0]


def gaussian_conditional(scores: np.ndarray, ZtZ: np.ndarray, chol: np.ndarray,
                         sigma: np.ndarray, rng: np.random.Generator | None,
                         eps: np.ndarray | None = None) -> np.ndarray:
    """One draw per posterior draw of each level's effects from their Gaussian conditional.

    Parameters
    ----------
    scores : ndarray (D, L, q)
        w_ℓ = Z_ℓᵀ (y_ℓ − o_ℓ) per draw, o the rest of the linear predictor.
    ZtZ : ndarray (L, q, q)
    chol : ndarray (D, q, q)
        Lower Cholesky factor L of the random-effect covariance, per draw.
    sigma : ndarray (D,)
        Residual SD per draw.
    rng : numpy.random.Generator
        Draws ε, unless ``eps`` gives them.
    eps : ndarray (D, L, q), optional
        The standard normal draws ε, drawn elsewhere (e.g. each level from its own
        generator: :meth:`lmm_bayes.distributed.DistributedFit.effects`).

    Returns
    -------
    ndarray (D, L, q)
        b_ℓ = θ (A_ℓ⁻¹ u_ℓ + σ R_ℓ⁻ᵀ ε), θ = L/σ, u_ℓ = θᵀ w_ℓ, A_ℓ = I + θᵀ Z_ℓᵀZ_ℓ θ with
        Cholesky factor R_ℓ and ε ~ N(0, I), so that b_ℓ ~ N(θ A_ℓ⁻¹ u_ℓ, σ² θ A_ℓ⁻¹ θᵀ)
        (see the module docstring).
    """
    eps = rng.standard_normal(scores.shape) if eps is None else eps
    return _conditional_draws(np.ascontiguousarray(scores, dtype=float),
                              np.ascontiguousarray(ZtZ, dtype=float),
                              np.ascontiguousarray(chol, dtype=float),
                              np.ascontiguousarray(sigma, dtype=float),
                              np.ascontiguousarray(eps, dtype=float))


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _conditional_draws(scores, ZtZ, chol, sigma, eps):
    """:func:`gaussian_conditional` with the standard normal draws ``eps`` given; a loop over
    draws and levels with q × q Cholesky factors and triangular solves written out."""
    n_draws, n_levels, q = scores.shape
    out = np.empty_like(scores)
    A, R, St = np.empty((q, q)), np.empty((q, q)), np.empty((q, q))
    u, m, x = np.empty(q), np.empty(q), np.empty(q)
    for d in range(n_draws):
        theta = chol[d] / sigma[d]
        for lev in range(n_levels):
            for i in range(q):                       # u = θᵀw, Sθ
                u[i] = 0.0
                for k in range(q):
                    u[i] += theta[k, i] * scores[d, lev, k]
                    St[i, k] = 0.0
                    for r in range(q):
                        St[i, k] += ZtZ[lev, i, r] * theta[r, k]
            for i in range(q):                       # A = I + θᵀSθ
                for k in range(q):
                    A[i, k] = 1.0 if i == k else 0.0
                    for r in range(q):
                        A[i, k] += theta[r, i] * St[r, k]
            for j in range(q):                       # A = R Rᵀ
                for i in range(j, q):
                    total = A[i, j]
                    for k in range(j):
                        total -= R[i, k] * R[j, k]
                    R[i, j] = np.sqrt(total) if i == j else total / R[j, j]
            for i in range(q):                       # R m = u
                m[i] = u[i]
                for k in range(i):
                    m[i] -= R[i, k] * m[k]
                m[i] /= R[i, i]
            for i in range(q - 1, -1, -1):           # Rᵀ x = m + σ ε: mean A⁻¹u, cov σ²A⁻¹
                x[i] = m[i] + sigma[d] * eps[d, lev, i]
                for k in range(i + 1, q):
                    x[i] -= R[k, i] * x[k]
                x[i] /= R[i, i]
            for i in range(q):                       # b = θx
                out[d, lev, i] = 0.0
                for k in range(q):
                    out[d, lev, i] += theta[i, k] * x[k]
    return out


def conditional_effects(stats: LevelStatistics, beta: np.ndarray, chol: np.ndarray,
                        sigma: np.ndarray, rng: np.random.Generator,
                        chunk_elements: int = 2_000_000) -> np.ndarray:
    """Draw every level's random effects from their exact conditional, one per posterior draw
    (:func:`gaussian_conditional` with w_ℓ = Z_ℓᵀ(y_ℓ − X_ℓβ)).

    Parameters
    ----------
    stats : LevelStatistics
    beta : ndarray (D, p)
        Fixed effects of D posterior draws.
    chol : ndarray (D, q, q)
        Lower Cholesky factor L of the random-effect covariance, per draw.
    sigma : ndarray (D,)
        Residual SD per draw.
    rng : numpy.random.Generator
    chunk_elements : int
        Draws are processed in chunks of about this many (draw × level × q × q) numbers.

    Returns
    -------
    ndarray (D, L, q)
    """
    n_draws = beta.shape[0]
    L, q = stats.Zty.shape
    out = np.empty((n_draws, L, q))
    step = max(1, chunk_elements // max(1, L * q * q))
    for start in range(0, n_draws, step):
        part = slice(start, min(start + step, n_draws))
        w = stats.Zty[None] - np.einsum("lqp,dp->dlq", stats.ZtX, beta[part])
        out[part] = gaussian_conditional(w, stats.ZtZ, chol[part], sigma[part], rng)
    return out


def with_effects(posterior: xr.Dataset, design: Design,
                 random_seed: int | None) -> xr.Dataset:
    """The posterior of a marginal fit with each level's effects ``b_<g>`` added, drawn
    from their exact conditional (:func:`random_effects_draws`)."""
    group = design.groups[0]
    draws = random_effects_draws(posterior, level_statistics(design, group), group,
                                 random_seed)
    return posterior.assign({names.effects(group.name): draws})


def random_effects_draws(posterior, stats: LevelStatistics, group: GroupingFactor,
                         random_seed: int | None) -> xr.DataArray:
    """``b_<g>`` for every posterior draw of a marginal fit, drawn from its exact conditional
    (:func:`conditional_effects`), with the fit's dims and level labels."""
    n_chains, n_draws = posterior.sizes["chain"], posterior.sizes["draw"]

    def flat(draws: np.ndarray) -> np.ndarray:  # (chain, draw, ...) → (chain·draw, ...)
        return draws.reshape(n_chains * n_draws, *draws.shape[2:])

    beta = flat(posterior[names.BETA].transpose("chain", "draw", names.FIXED).values)
    sigma = flat(posterior[names.SIGMA].transpose("chain", "draw").values)
    chol = np.linalg.cholesky(flat(covariance_draws(posterior, group.name)))
    b = conditional_effects(stats, beta, chol, sigma, np.random.default_rng(random_seed))
    level, term = names.level_dim(group.name), names.term_dim(group.name)
    coords = {"chain": posterior["chain"], "draw": posterior["draw"],
              level: list(group.levels), term: list(group.terms)}
    return xr.DataArray(b.reshape(n_chains, n_draws, *b.shape[1:]),
                        dims=("chain", "draw", level, term), coords=coords)


def level_loglik(posterior: xr.Dataset, design: Design,
                 chunk_elements: int = 2_000_000) -> np.ndarray:
    """log p(y_ℓ | β, Σ, σ) per draw and level of the one grouping factor, its effects
    integrated out, for leave-one-level-out PSIS-LOO.

    Parameters
    ----------
    posterior : xarray.Dataset
        With ``beta``, ``sigma``, ``sd_<g>`` (and ``corr_<g>``).
    design : Design
        Gaussian with one grouping factor (:func:`level_obstacle` is None).
    chunk_elements : int
        Draws are processed in chunks of about this many (draw × row) numbers.

    Returns
    -------
    ndarray (S, L)
        S = chains × draws.

    Notes
    -----
    y_ℓ ~ N(X_ℓβ, Z_ℓΣZ_ℓᵀ + σ²I) with, by the determinant lemma and the Woodbury identity
    (module docstring; Bates et al. 2015, *J. Stat. Softw.* 67(1), section 3),

    log p(y_ℓ) = −(n_ℓ/2) log 2π − n_ℓ log σ − ½ log|A_ℓ| − (‖r_ℓ‖² − u_ℓᵀA_ℓ⁻¹u_ℓ)/(2σ²),

    r_ℓ = y_ℓ − X_ℓβ, θ = L/σ (Σ = LLᵀ), A_ℓ = I + θᵀZ_ℓᵀZ_ℓθ, u_ℓ = θᵀZ_ℓᵀr_ℓ. Leaving
    out a level's whole data predicts a new level, which is what a mixed model claims to do
    (Vehtari, Gelman & Gabry 2017, *Statistics and Computing* 27, section 4.1; Merkle,
    Furr & Rabe-Hesketh 2019, *Psychometrika* 84, "Bayesian comparison of latent variable
    models: conditional versus marginal likelihoods").
    """
    group = design.groups[0]
    draws = PosteriorDraws(posterior)
    beta, sigma = draws.get(names.BETA, names.FIXED), draws.get(names.SIGMA)
    chol = draws.cholesky(group.name)
    ZtZ = level_statistics(design, group).ZtZ
    counts = np.bincount(group.index, minlength=group.n_levels)
    out = np.empty((len(sigma), group.n_levels))
    step = max(1, chunk_elements // max(1, design.n_obs))
    for start in range(0, len(sigma), step):
        part = slice(start, start + step)
        rss, scores = _residual_statistics(design, group, beta[part])
        theta = chol[part] / sigma[part, None, None]
        A = np.eye(ZtZ.shape[-1]) + np.einsum("sri,lrc,scj->slij", theta, ZtZ, theta)
        u = np.einsum("sri,slr->sli", theta, scores)
        quad = np.einsum("sli,sli->sl", u, np.linalg.solve(A, u[..., None])[..., 0])
        out[part] = (-0.5 * counts * np.log(2 * np.pi) - counts * np.log(sigma[part, None])
                     - 0.5 * np.linalg.slogdet(A)[1]
                     - (rss - quad) / (2 * sigma[part, None] ** 2))
    return out


def _residual_statistics(design: Design, group: GroupingFactor, beta: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Per draw and level, ‖r_ℓ‖² (S, L) and Z_ℓᵀr_ℓ (S, L, q), r = y − Xβ; from the
    residuals themselves rather than expanded cross-products, which cancel badly for a
    response far from 0."""
    residuals = design.y[None] - beta @ design.X.T
    rss = _sum_by_level((residuals ** 2).T, group.index, group.n_levels).T
    scores = _sum_by_level(residuals.T[:, :, None] * group.Z[:, None, :], group.index,
                           group.n_levels)
    return rss, scores.transpose(1, 0, 2)
