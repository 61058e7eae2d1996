"""Random intercepts on crossed or nested grouping factors, every effect integrated out.

For a Gaussian model whose random effects are intercepts on K ≥ 2 grouping factors, crossed
(``(1 | s) + (1 | d)``) or nested (``(1 | batch) + (1 | batch:cask)``), and whose fixed
effects have normal priors, all effects b = (u_1, …, u_K, β) are jointly normal given the
variance parameters θ = (τ_1, …, τ_K, σ):

.. math::

    y = W b + \\varepsilon,\\quad b \\sim N(m, P),\\quad \\varepsilon \\sim N(0, \\sigma^2 I),
    \\quad P = \\mathrm{diag}(\\tau_1^2 I, \\dots, \\tau_K^2 I, s_1^2, \\dots, s_p^2),

so that, with the posterior precision :math:`C = W^\\top W/\\sigma^2 + P^{-1}` and
:math:`h = W^\\top y/\\sigma^2 + P^{-1}m` (Rue & Held 2005, *Gaussian Markov Random Fields*,
section 2.2),

.. math::

    \\log p(y \\mid \\theta) = -\\tfrac{n}{2}\\log 2\\pi\\sigma^2 - \\tfrac12\\log|P|
    - \\tfrac12\\log|C| - \\tfrac12\\big(y^\\top y/\\sigma^2 + m^\\top P^{-1}m
    - h^\\top C^{-1}h\\big),\\qquad b \\mid \\theta, y \\sim N(C^{-1}h, C^{-1}).

The posterior of θ has only K + 1 coordinates; :mod:`lmm_bayes.imh` samples it and every
draw of θ comes with one exact draw of b.

Each row belongs to one level of the factor with the most levels (factor e), so its block of
M = σ²C is diagonal, D = diag(n_ℓ + λ_e) with λ_k = σ²/τ_k², and it is eliminated exactly:
with M = [[D, B], [Bᵀ, T]],

.. math::

    S = T - B^\\top D^{-1} B,\\qquad \\log|M| = \\sum_\\ell \\log D_\\ell + \\log|S|,

and only S, of the size of the other factors' levels plus the fixed effects, is factorised
(a dense Cholesky; lme4 eliminates with a sparse one, Bates et al. 2015, *J. Stat. Softw.*
67(1), section 3). :math:`B^\\top D^{-1}B = \\sum_\\ell B_\\ell B_\\ell^\\top/(n_\\ell + \\lambda_e)`
depends on θ only through :math:`1/(n_c + \\lambda_e)` for the distinct level sizes
:math:`n_c`, so its entries are a fixed sparse matrix (entry × level size) times that vector.
The fixed effects are handled with the other columns centred (``(Intercept)`` is the
intercept at the column means, as its prior is; :mod:`lmm_bayes.priors`) and the response's
mean taken out, for numerical accuracy.

The gradient (used to find the mode) is Fisher's identity, the posterior mean of the
complete-data score (Louis 1982, *JRSS B* 44: 226–233): with :math:`\\hat b = E(b \\mid y)`
and :math:`V_k = \\mathrm{tr}\\,\\mathrm{Cov}(u_k \\mid y)`,

.. math::

    \\frac{\\partial \\log p(y\\mid\\theta)}{\\partial \\log\\tau_k} = -L_k +
    \\frac{\\lVert\\hat u_k\\rVert^2 + V_k}{\\tau_k^2},\\qquad
    \\frac{\\partial \\log p(y\\mid\\theta)}{\\partial \\log\\sigma} = -n +
    \\frac{\\lVert y - W\\hat b\\rVert^2 + \\mathrm{tr}(W^\\top W C^{-1})}{\\sigma^2}.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numba
import numpy as np
from numba.np.linalg import _LAPACK
from scipy import optimize, sparse
from scipy.linalg import lapack

from .design import Design
from .imh import laplace_covariance
from .kernel import integrated_prior_obstacle, prior_rows, prior_term
from .marginal import gaussian_obstacle
from .priors import INTERCEPT, PriorSet

__all__ = ["CollapsedModel", "collapsed_model", "near_normal", "obstacle"]

MAX_DENSE = 3000  # effects left after the elimination: a dense Cholesky of this size
MIN_LEVELS = 20


def obstacle(design: Design, priors: PriorSet, family: str, residuals) -> str | None:
    """What keeps a model from being collapsed here, or None: it is collapsed when Gaussian
    with independent residuals, random intercepts only on two or more grouping factors,
    normal priors on the fixed effects, SD priors of the families :mod:`lmm_bayes.kernel`
    writes out, and at most :data:`MAX_DENSE` effects outside the largest factor."""
    groups = design.groups
    found = gaussian_obstacle(design, family, residuals)
    if found is not None:
        return found
    if len(groups) < 2:
        return f"{len(groups)} grouping factor{'s' if len(groups) != 1 else ''}, not several"
    for g in groups:
        if g.terms != (INTERCEPT,) or g.member is not None:
            return f"{g.name} has more than a random intercept, or a gr(..., by = ...) split"
    found = integrated_prior_obstacle(design, priors)
    if found is not None:
        return found
    if _rest_size(design) > MAX_DENSE:
        return f"more than {MAX_DENSE} effects outside the largest factor"
    return None


def near_normal(design: Design) -> bool:
    """Whether every grouping factor has at least :data:`MIN_LEVELS` levels: each log-SD's
    posterior is then close to normal (an SD estimated from m levels has relative error
    about 1/√(2m)), and the Laplace fit of :func:`laplace` is a good proposal for the
    independence sampler (:mod:`lmm_bayes.imh`). With fewer levels (pastes' 10 batches)
    the posterior of log τ has a long tail towards 0 that the proposal misses."""
    return min(g.n_levels for g in design.groups) >= MIN_LEVELS


def _eliminated(design: Design) -> int:
    """The grouping factor with the most levels, eliminated in closed form."""
    return int(np.argmax([g.n_levels for g in design.groups]))


def _rest_size(design: Design) -> int:
    """Effects left after the elimination: the other factors' levels and the fixed effects."""
    e = _eliminated(design)
    return sum(g.n_levels for k, g in enumerate(design.groups) if k != e) + len(
        design.fixed_names)


class Statistics(NamedTuple):
    """What the compiled functions read (numba takes a named tuple of arrays). Factor e is
    the eliminated one; R = [the other factors' indicators, the centred X]; y is centred.

    counts, zty : the eliminated levels' row counts n_ℓ and Zₑᵀy.
    level_size, sizes : each eliminated level's size class, and the distinct sizes n_c.
    b_ptr, b_idx, b_val : B = ZₑᵀR (CSR).
    k_ptr, k_idx, k_val, rows, cols : the products of :func:`_schur_products` (CSR) and
        the entries (row ≥ column) of S they go to.
    RtR, Rty : RᵀR and Rᵀy.
    rest_factor : the factor of each column of R, −1 for a fixed effect.
    precision, mean : the fixed effects' prior precisions and means (0 for the others).
    n_levels : each factor's number of levels.
    kinds, params : the SD and σ priors (:func:`lmm_bayes.kernel.prior_rows`).
    n, yty, e : observations, yᵀy and the eliminated factor.
    """

    counts: np.ndarray
    zty: np.ndarray
    level_size: np.ndarray
    sizes: np.ndarray
    b_ptr: np.ndarray
    b_idx: np.ndarray
    b_val: np.ndarray
    k_ptr: np.ndarray
    k_idx: np.ndarray
    k_val: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    RtR: np.ndarray
    Rty: np.ndarray
    rest_factor: np.ndarray
    precision: np.ndarray
    mean: np.ndarray
    n_levels: np.ndarray
    kinds: np.ndarray
    params: np.ndarray
    n: float
    yty: float
    e: int


@dataclass(frozen=True)
class CollapsedModel:
    """The statistics and priors of a collapsed model, and its Laplace approximation.

    Attributes
    ----------
    factors : tuple of str
        The grouping factors, in the formula's order; x = (log τ_1, …, log τ_K, log σ).
    levels : tuple of tuple of str
        Each factor's level labels.
    fixed_names : tuple of str
    eliminated : int
        Position of the factor eliminated in closed form (the one with the most levels).
    arrays : Statistics
        What :func:`log_posterior` reads (packed by :func:`collapsed_model`).
    xbar : ndarray
        Means of the fixed-effect columns (0 for the intercept); the columns are centred.
    shift : float
        The response's mean, taken out of y (0 without an intercept).
    mode, covariance : ndarray
        The posterior mode of x and the inverse Hessian of −log p(x | y) there.
    """

    factors: tuple[str, ...]
    levels: tuple[tuple[str, ...], ...]
    fixed_names: tuple[str, ...]
    eliminated: int
    arrays: Statistics
    xbar: np.ndarray
    shift: float
    mode: np.ndarray
    covariance: np.ndarray

    @property
    def n_dim(self) -> int:
        return len(self.factors) + 1

    @property
    def n_effects(self) -> int:
        """Length of one draw of all effects (:meth:`draw`)."""
        return self.arrays.counts.shape[0] + self.arrays.RtR.shape[0]

    def log_density(self, x: np.ndarray) -> float:
        """log p(x | y) up to a constant (priors and log-Jacobians included)."""
        return log_posterior(np.asarray(x, dtype=float), self.arrays, np.empty(0),
                             self.workspace())

    def gradient(self, x: np.ndarray) -> np.ndarray:
        """∂ log p(x | y)/∂x (Fisher's identity, module docstring)."""
        return value_and_gradient(np.asarray(x, dtype=float), self.arrays)[1]

    def workspace(self) -> np.ndarray:
        """Scratch memory for one evaluation (the matrix S); one per thread."""
        return np.empty(self.arrays.RtR.shape)

    def draw(self, x: np.ndarray, normals: np.ndarray, workspace: np.ndarray) -> float:
        """Overwrite ``normals`` (standard normal, length :attr:`n_effects`) with one draw of
        the effects given x, and return log p(x | y); see :meth:`effects`."""
        return log_posterior(np.asarray(x, dtype=float), self.arrays, normals, workspace)

    def effects(self, draws: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Split draws (…, :attr:`n_effects`) of :meth:`draw` into each factor's random
        effects (…, levels) and the fixed effects β (…, p) on the data's scale."""
        e = self.eliminated
        sizes = [len(levels) for k, levels in enumerate(self.levels) if k != e]
        first = len(self.levels[e])
        ends = first + np.cumsum(sizes)
        found = {self.factors[e]: draws[..., :first]}
        others = [f for k, f in enumerate(self.factors) if k != e]
        for name, start, end in zip(others, [first, *ends[:-1]], ends):
            found[name] = draws[..., start:end]
        beta = draws[..., ends[-1]:].copy()
        if INTERCEPT in self.fixed_names:                # α → β₀ = α − x̄ᵀβ₁ + ȳ
            beta[..., 0] += self.shift - beta[..., 1:] @ self.xbar[1:]
        return {f: found[f] for f in self.factors}, beta


def centred_columns(design: Design) -> tuple[np.ndarray, np.ndarray, float]:
    """X with its non-intercept columns centred (when there is an intercept), their means,
    and the response's mean taken out."""
    if INTERCEPT not in design.fixed_names:
        return design.X, np.zeros(len(design.fixed_names)), 0.0
    xbar = np.concatenate([[0.0], design.X[:, 1:].mean(axis=0)])
    return design.X - xbar, xbar, float(design.y.mean())


def collapsed_model(design: Design, priors: PriorSet) -> CollapsedModel:
    """Pack ``design`` and ``priors`` (:func:`applies` must hold), find the posterior mode
    and the Laplace covariance."""
    groups, e = design.groups, _eliminated(design)
    Xc, xbar, shift = centred_columns(design)
    y = design.y - shift
    others = [k for k in range(len(groups)) if k != e]
    R = sparse.hstack([*(groups[k].effects_matrix() for k in others),
                       sparse.csr_matrix(Xc)]).tocsr()
    Z = groups[e].effects_matrix()
    B = (Z.T @ R).tocsr()
    B.sort_indices()
    counts = np.bincount(groups[e].index, minlength=groups[e].n_levels).astype(float)
    sizes, level_class = np.unique(counts, return_inverse=True)
    K, rows, cols = _schur_products(B, level_class, len(sizes))
    K.indices = K.indices.astype(np.int32)                 # less memory traffic per step
    p = len(design.fixed_names)
    rest_factor = np.concatenate([*(np.full(groups[k].n_levels, k) for k in others),
                                  np.full(p, -1)]).astype(np.int64)
    coefficient_priors = ([priors.intercept] if INTERCEPT in design.fixed_names else []) + [
        priors.fixed[name] for name in design.fixed_names if name != INTERCEPT]
    precision = np.zeros(R.shape[1])
    mean = np.zeros(R.shape[1])
    precision[-p:] = [1.0 / q.kwargs["sigma"] ** 2 for q in coefficient_priors]
    mean[-p:] = [q.kwargs["mu"] for q in coefficient_priors]
    if shift:
        mean[-p] -= shift                                   # the intercept of centred y
    kinds, params = prior_rows([*(priors.sd[g.name][INTERCEPT] for g in groups), priors.sigma])
    arrays = Statistics(
        counts, Z.T @ y, level_class.astype(np.int64), sizes,
        B.indptr.astype(np.int64), B.indices.astype(np.int64), B.data,
        K.indptr.astype(np.int64), K.indices, K.data, rows, cols,
        np.ascontiguousarray((R.T @ R).toarray()), R.T @ y, rest_factor, precision, mean,
        np.array([g.n_levels for g in groups], dtype=float), kinds, params,
        float(len(y)), float(y @ y), e)
    mode, covariance = laplace(arrays, _start(design))
    return CollapsedModel(tuple(g.name for g in groups), tuple(g.levels for g in groups),
                          design.fixed_names, e, arrays, xbar, shift, mode, covariance)


def _schur_products(B: sparse.csr_matrix, level_class: np.ndarray, n_classes: int):
    """The entries (i ≥ j) of Σ_ℓ B_ℓ B_ℓᵀ/(n_ℓ + λ) as a sparse matrix K (entry × level
    size) with the entries' rows and columns, so that the sum is K @ (1/(n_c + λ))."""
    position, size, value = _pairs(B.indptr, B.indices, B.data, level_class, B.shape[1])
    unique, entry = np.unique(position, return_inverse=True)
    K = sparse.csr_matrix((value, (entry, size)), shape=(len(unique), n_classes))
    K.sum_duplicates()
    return K, unique // B.shape[1], unique % B.shape[1]


@numba.njit(cache=True)
def _pairs(indptr, indices, data, level_class, r):
    """Every product B_ℓi B_ℓj (i ≥ j) of a level's nonzero entries, with its entry i·r + j
    and its level's size class."""
    total = 0
    for lev in range(indptr.shape[0] - 1):
        m = indptr[lev + 1] - indptr[lev]
        total += m * (m + 1) // 2
    position = np.empty(total, np.int64)
    size = np.empty(total, np.int64)
    value = np.empty(total)
    k = 0
    for lev in range(indptr.shape[0] - 1):
        for a in range(indptr[lev], indptr[lev + 1]):
            for b in range(indptr[lev], a + 1):
                position[k] = indices[a] * r + indices[b]
                size[k] = level_class[lev]
                value[k] = data[a] * data[b]
                k += 1
    return position, size, value


def _start(design: Design) -> np.ndarray:
    """Every SD at half the least-squares residual SD, σ at that SD (log scale)."""
    sd = max(float(np.std(design.least_squares()[1])), 1e-8)
    return np.concatenate([np.full(len(design.groups), np.log(sd / 2)), [np.log(sd)]])


def laplace(arrays: Statistics, start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The posterior mode of x (BFGS with the exact gradient) and the inverse of the
    Hessian of −log p(x | y) there (:func:`lmm_bayes.imh.laplace_covariance`).

    BFGS starts from the posterior SDs of a log-SD with informative data, 1/√(2m) for m
    levels (observations for σ): a log-variance estimated from m normal values has
    variance 2/m (the delta method on the χ²), and a log-SD a quarter of that."""
    scale = 1.0 / np.sqrt(2.0 * np.append(arrays.n_levels, arrays.n))
    def objective(x):
        value, gradient = value_and_gradient(x, arrays)
        return -value, -gradient

    mode = optimize.minimize(objective, start, jac=True, method="BFGS",
                             options={"hess_inv0": np.diag(scale ** 2)}).x
    return mode, laplace_covariance(lambda x: value_and_gradient(x, arrays)[1], mode)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _schur(x, arrays, S):
    """Write S (lower triangle; the upper one is RᵀR's) into ``S``; return g = the right-hand side of the remaining
    effects, the eliminated levels' weights 1/(n_ℓ + λ_e), λ and σ² at x."""
    a = arrays
    s2 = math.exp(2.0 * x[-1])
    lam = s2 * np.exp(-2.0 * x[:-1])
    w_size = 1.0 / (a.sizes + lam[a.e])
    S[:] = a.RtR        # whole: OpenBLAS's dpotrf may multiply the unused triangle by 0
    for entry in range(a.rows.shape[0]):
        total = 0.0
        for k in range(a.k_ptr[entry], a.k_ptr[entry + 1]):
            total += a.k_val[k] * w_size[a.k_idx[k]]
        S[a.rows[entry], a.cols[entry]] -= total
    g = a.Rty + s2 * a.precision * a.mean
    for i in range(S.shape[0]):
        f = a.rest_factor[i]
        S[i, i] += lam[f] if f >= 0 else s2 * a.precision[i]
    w = w_size[a.level_size]
    for lev in range(w.shape[0]):
        scaled = w[lev] * a.zty[lev]
        for k in range(a.b_ptr[lev], a.b_ptr[lev + 1]):
            g[a.b_idx[k]] -= a.b_val[k] * scaled
    return g, w, lam, s2


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _forward(L, v):
    """L⁻¹v for lower-triangular L."""
    out = v.copy()
    for i in range(L.shape[0]):
        out[i] = (out[i] - np.dot(L[i, :i], out[:i])) / L[i, i]
    return out


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _backward(L, v):
    """L⁻ᵀv for lower-triangular L."""
    out = v.copy()
    for i in range(L.shape[0] - 1, -1, -1):          # column by column: rows of L
        out[i] /= L[i, i]
        out[:i] -= L[i, :i] * out[i]
    return out


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _priors(x, kinds, params):
    """Σ log p(τ_k) + log p(σ) with the log-Jacobians of the log transforms, and its
    gradient."""
    lp = 0.0
    grad = np.zeros(x.shape[0])
    for j in range(x.shape[0]):
        value = math.exp(x[j])
        v, dv = prior_term(value, kinds[j], params[j, 0], params[j, 1], params[j, 2])
        lp += v + x[j]
        grad[j] = dv * value + 1.0
    return lp, grad


_POTRF = _LAPACK().numba_xxpotrf(numba.float64)  # LAPACK dpotrf as numba binds it


@numba.njit(cache=True, nogil=True, error_model="numpy")
def cholesky(S):
    """Overwrite the lower triangle of S (C order) with its Cholesky factor L (LAPACK
    dpotrf on the Fortran-order upper triangle, the same numbers, without a copy); False if
    S is not numerically positive definite. The upper triangle must be finite."""
    return _POTRF(ord("d"), ord("U"), S.shape[0], S.ctypes, S.shape[0]) == 0


@numba.njit(cache=True, nogil=True, error_model="numpy")
def log_posterior(x, arrays, normals, L):
    """log p(x | y) up to a constant (module docstring). When ``normals`` (standard normal,
    eliminated levels first, then the other effects) is not empty it is overwritten with a
    draw of the effects from b | x, y (``L``: workspace for S and its factor): b_R = L⁻ᵀ(L⁻¹g + σ z_R) with S = LLᵀ, then
    u_e = w ⊙ (Zᵀy − B b_R) + σ √w ⊙ z_e."""
    a = arrays
    g, w, lam, s2 = _schur(x, arrays, L)
    if not cholesky(L):
        return -np.inf
    z = _forward(L, g)
    lp = _log_density(x, arrays, 2.0 * np.sum(np.log(np.diag(L))), np.dot(z, z), w, lam, s2)
    if normals.shape[0]:
        sigma = math.sqrt(s2)
        L0 = a.counts.shape[0]
        rest = _backward(L, z + sigma * normals[L0:])
        normals[L0:] = rest
        normals[:L0] = _eliminated_mean(a, rest, w) + sigma * np.sqrt(w) * normals[:L0]
    return lp


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _eliminated_mean(arrays, rest, w):
    """E(u_e | b_R, y) = w ⊙ (Zₑᵀy − B b_R), the eliminated levels' conditional mean."""
    a = arrays
    u = np.empty(a.counts.shape[0])
    for lev in range(u.shape[0]):
        total = a.zty[lev]
        for k in range(a.b_ptr[lev], a.b_ptr[lev + 1]):
            total -= a.b_val[k] * rest[a.b_idx[k]]
        u[lev] = w[lev] * total
    return u


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _log_density(x, arrays, log_det_S, gSg, w, lam, s2):
    """log p(x | y) up to a constant from log|S| and gᵀS⁻¹g (module docstring)."""
    a = arrays
    d = a.counts.shape[0] + a.RtR.shape[0]
    log_det = np.sum(np.log(a.counts + lam[a.e])) + log_det_S - d * 2.0 * x[-1]
    quad = (a.yty - np.sum(w * a.zty * a.zty) - gSg) / s2
    return (-a.n * x[-1] - np.dot(a.n_levels, x[:-1]) - 0.5 * log_det - 0.5 * quad
            + _priors(x, a.kinds, a.params)[0])


def value_and_gradient(x: np.ndarray, arrays: Statistics) -> tuple[float, np.ndarray]:
    """log p(x | y) and its gradient by Fisher's identity (module docstring), with
    Cov(b | y) from the inverse of S (LAPACK dpotrf and dpotri)."""
    S = np.empty(arrays.RtR.shape)
    g, w, lam, s2 = _schur(x, arrays, S)
    factor, info = lapack.dpotrf(S.T, lower=0, clean=0, overwrite_a=1)  # S.T: Fortran order
    if info:
        return -np.inf, np.full(len(x), np.nan)
    log_det_S = 2.0 * np.sum(np.log(np.diag(factor)))
    rest, _ = lapack.dpotrs(factor, g, lower=0)                # E(b_R | y) = S⁻¹g
    inverse, _ = lapack.dpotri(factor, lower=0, overwrite_c=1)  # its upper triangle
    value = _log_density(x, arrays, log_det_S, g @ rest, w, lam, s2)
    return value, _score(x, arrays, inverse, rest, w, lam, s2)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _score(x, arrays, S_inv, rest, w, lam, s2):
    """The gradient from S⁻¹ (its upper triangle), E(b_R | y) = S⁻¹g and the pieces of
    :func:`_schur` at x."""
    a = arrays
    u = _eliminated_mean(a, rest, w)                     # E(u_e | y)
    K = a.n_levels.shape[0]
    squares, traces = np.zeros(K), np.zeros(K)
    squares[a.e] = np.dot(u, u)
    traces[a.e] = s2 * np.sum(w)
    w_size2 = (1.0 / (a.sizes + lam[a.e])) ** 2
    for entry in range(a.rows.shape[0]):                 # Σ_ℓ w_ℓ² B_ℓᵀ S⁻¹ B_ℓ
        total = 0.0
        for k in range(a.k_ptr[entry], a.k_ptr[entry + 1]):
            total += a.k_val[k] * w_size2[a.k_idx[k]]
        both = 1.0 if a.rows[entry] == a.cols[entry] else 2.0
        traces[a.e] += s2 * both * total * S_inv[a.cols[entry], a.rows[entry]]
    beta_terms = 0.0                                     # Σ_j π_j Var(β_j | y)
    fit_terms = 0.0                                      # σ² Σ_j π_j (μ_j − β̂_j) β̂_j
    for i in range(S_inv.shape[0]):
        f = a.rest_factor[i]
        if f >= 0:
            squares[f] += rest[i] * rest[i]
            traces[f] += s2 * S_inv[i, i]
        else:
            beta_terms += a.precision[i] * (s2 * S_inv[i, i])
            fit_terms += s2 * a.precision[i] * (a.mean[i] * rest[i] - rest[i] * rest[i])
    tau2 = np.exp(2.0 * x[:-1])
    grad = np.empty(K + 1)
    grad[:K] = -a.n_levels + (squares + traces) / tau2
    d = a.counts.shape[0] + S_inv.shape[0]
    rss = (a.yty - np.dot(u, a.zty) - np.dot(rest, a.Rty) + fit_terms - np.dot(lam, squares))
    trace_wtw = s2 * (d - np.sum(traces / tau2) - beta_terms)
    grad[K] = -a.n + (rss + trace_wtw) / s2
    return grad + _priors(x, a.kinds, a.params)[1]
