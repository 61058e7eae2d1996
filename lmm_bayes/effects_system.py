"""The random-effects system of a Gaussian mixed model with any grouping factors, crossed or
nested, and any varying terms: every effect integrated out, by a blocked Cholesky.

With independent residuals ε ~ N(0, σ²I), all effects b = (u_1, …, u_K, β) are jointly normal
given the covariances Σ_k and σ: y = W b + ε, b ~ N(m, P), P = blockdiag(I_{L_k} ⊗ Σ_k,
diag(s_β²)), with β's normal prior N(m_β, diag(s_β²)) and u_kℓ ~ N(0, Σ_k). With
M = WᵀW + σ²P⁻¹ and h = Wᵀy + σ²P⁻¹m (Rue & Held 2005, *Gaussian Markov Random Fields*,
section 2.2; the same system as lme4's, Bates et al. 2015, *J. Stat. Softw.* 67(1), eq. 18),

.. math::

    \\log p(y \\mid \\Sigma, \\sigma) = -\\tfrac n2 \\log 2\\pi\\sigma^2 - \\tfrac12\\log|P|
    - \\tfrac12(\\log|M| - d\\log\\sigma^2)
    - \\frac{y^\\top y + \\sigma^2 m^\\top P^{-1} m - h^\\top M^{-1} h}{2\\sigma^2},
    \\qquad b \\mid y \\sim N(M^{-1}h, \\sigma^2 M^{-1}),

d the number of effects. The factor e with the most effects is eliminated first: its block
of M is block-diagonal, D_ℓ = Z_eℓᵀZ_eℓ + σ²Σ_e⁻¹ per level (MixedModels.jl's blocked
Cholesky; Bates et al., *MixedModels.jl* documentation, "the blocked Cholesky factor"), so
with M = [[D, B], [Bᵀ, T]] only the Schur complement S = T − BᵀD⁻¹B of the other factors'
effects and the fixed effects is factorised densely, and
log|M| = Σ_ℓ log|D_ℓ| + log|S|.

The gradient is Fisher's identity (Louis 1982, *JRSS B* 44: 226–233), the posterior mean of
the complete-data score: with A_k = Σ_ℓ E(u_kℓ u_kℓᵀ | y) = Σ_ℓ (m̂ m̂ᵀ + V)_kℓ,

.. math::

    \\frac{\\partial \\ell}{\\partial \\Sigma_k} = -\\tfrac{L_k}2 \\Sigma_k^{-1}
    + \\tfrac12 \\Sigma_k^{-1} A_k \\Sigma_k^{-1},\\qquad
    \\frac{\\partial \\ell}{\\partial \\log\\sigma} = -n
    + \\frac{\\lVert y - W\\hat b\\rVert^2 + \\operatorname{tr}(W^\\top W V)}{\\sigma^2},

where only the diagonal blocks of V = Cov(b | y) = σ²M⁻¹ are needed:
tr(WᵀWV) = σ²(d − tr(P⁻¹V)). The eliminated level's block is
σ²(D_ℓ⁻¹ + D_ℓ⁻¹B_ℓS⁻¹B_ℓᵀD_ℓ⁻¹).

With a sigma formula whose design takes few distinct rows (nlme's ``varIdent``, e.g.
``sigma = "~ condition"``), the rows fall into classes g with log σ_g = x_gᵀγ, and the
residual covariance is Ω⁻¹, Ω = diag(w), w_i = σ_g⁻² on class g's rows. Every statistic of
the system is kept per class (:class:`Classes`) and combined with the weights w_g at each
evaluation: with M = WᵀΩW + P⁻¹ and h = WᵀΩy + P⁻¹m, the formulas above at σ = 1, i.e.

.. math::

    \\log p(y \\mid \\Sigma, \\gamma) = -\\tfrac12\\sum_g n_g\\log 2\\pi\\sigma_g^2
    - \\tfrac12\\log|P| - \\tfrac12\\log|M|
    - \\tfrac12(y^\\top\\Omega y + m^\\top P^{-1}m - h^\\top M^{-1}h),
    \\qquad b \\mid y \\sim N(M^{-1}h, M^{-1}),

and Fisher's identity per class,

.. math::

    \\frac{\\partial\\ell}{\\partial\\log\\sigma_g} = -n_g + \\frac{\\lVert y_g - W_g\\hat b
    \\rVert^2 + \\operatorname{tr}(W_g^\\top W_g V)}{\\sigma_g^2},\\qquad
    \\frac{\\partial\\ell}{\\partial\\gamma} = \\sum_g x_g
    \\frac{\\partial\\ell}{\\partial\\log\\sigma_g},

where tr(W_gᵀW_gV) reads V on W_gᵀW_g's blocks: the eliminated levels' diagonal blocks,
the rest–rest block S⁻¹ and the cross blocks V_{ℓR} = −D_ℓ⁻¹B_ℓS⁻¹. γ, its prior and the
public ``sigma_beta`` are those of the PyMC graph (:mod:`lmm_bayes.sigma_model`). One σ
keeps the σ²-scaled system above.

The fixed-effect columns other than the intercept are centred and the response's mean taken
out (numerical accuracy; the intercept's prior is on the intercept at the column means, as
in :mod:`lmm_bayes.priors`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numba
import numpy as np
from scipy import sparse

from .collapsed import centred_columns, cholesky
from .covariance import CovarianceLayout, factor_chain, factor_covariances, packed_terms
from .design import Design
from .kernel import SCALE_PRIORS
from .marginal import gaussian_obstacle
from .packing import (
    EXPAND_SIGNATURE,
    LOGP_SIGNATURE,
    buffer_at,
    field,
    int_field,
    pack,
    store_whitened,
    whitened,
)
from .priors import INTERCEPT, PriorSet
from .sigma_model import (
    centred_sigma_design,
    sigma_prior,
    sigma_priors,
    sigma_start,
    sigma_variables,
)
from .tiny import backward, backward_rows, forward, forward_columns, small_cholesky

__all__ = ["EffectsSystem", "obstacle"]

MAX_REST = 2000  # effects left after the elimination: a dense Cholesky and inverse of this size
MAX_CLASSES = 8  # distinct rows of a sigma formula's design: statistics kept per class


def _effects(design: Design, k: int) -> int:
    g = design.groups[k]
    return g.n_levels * len(g.terms)


def _eliminated(design: Design) -> int:
    """The grouping factor with the most effects, eliminated level by level."""
    return int(np.argmax([_effects(design, k) for k in range(len(design.groups))]))


def _rest_size(design: Design) -> int:
    e = _eliminated(design)
    return sum(_effects(design, k) for k in range(len(design.groups)) if k != e) + len(
        design.fixed_names)


def _residual_obstacle(residuals) -> str | None:
    """What in ``residuals`` this system does not cover: a correlation structure, or a
    sigma formula whose design has more than :data:`MAX_CLASSES` distinct rows."""
    if residuals is None:
        return None
    if residuals.serial is not None:
        return "a residual correlation structure (with several grouping factors)"
    if len(np.unique(residuals.sigma.X, axis=0)) > MAX_CLASSES:
        return f"a sigma formula with more than {MAX_CLASSES} distinct rows"
    return None


def obstacle(design: Design, priors: PriorSet, family: str, residuals) -> str | None:
    """What keeps a model from this system, or None: a Gaussian model with independent
    residuals, at least one grouping factor, normal priors on the fixed effects, SD priors
    of the families :mod:`lmm_bayes.kernel` writes out, and at most :data:`MAX_REST`
    effects outside the factor with the most; a sigma formula is allowed when its design
    has at most :data:`MAX_CLASSES` distinct rows."""
    found = gaussian_obstacle(family, None) or _residual_obstacle(residuals)
    if found is not None:
        return found
    if not design.groups:
        return "no grouping factor"
    coefficients = [priors.intercept, *priors.fixed.values()]
    if any(p is not None and p.dist != "normal" for p in coefficients):
        return "a fixed effect's prior is not normal"
    own_sigma = [] if residuals is not None else [priors.sigma]
    scales = [*(p for g in design.groups for p in priors.sd[g.name].values()), *own_sigma]
    if any(p is None or p.dist not in SCALE_PRIORS for p in scales):
        return "an SD prior of a family the compiled density does not write out"
    if _rest_size(design) > MAX_REST:
        return (f"more than {MAX_REST} effects outside the grouping factor with the most "
                "effects")
    return None


class System(NamedTuple):
    """The statistics the compiled functions read; e is the eliminated factor, R = [the
    other factors' effect columns, the centred X], y centred.

    ZtZ, Zty : each eliminated level's Z_ℓᵀZ_ℓ (q_e × q_e) and Z_ℓᵀy.
    b_ptr, b_cols, b_vals : B = Z_eᵀR by level: level ℓ touches the columns
        b_cols[b_ptr[ℓ]:b_ptr[ℓ+1]] (c_ℓ of them) and its block, q_e × c_ℓ row by row,
        starts at q_e·b_ptr[ℓ] in b_vals.
    RtR, Rty : RᵀR (dense) and Rᵀy.
    rest_factor : each column's factor (−1 for a fixed effect); rest_first, rest_term: the
        first column of its level's block and its term.
    precision, mean : the fixed effects' prior precisions and means (0 for the others).
    n_levels, q : each factor's levels and terms.
    n, yty, e : observations, yᵀy and the eliminated factor.
    """

    ZtZ: np.ndarray
    Zty: np.ndarray
    b_ptr: np.ndarray
    b_cols: np.ndarray
    b_vals: np.ndarray
    RtR: np.ndarray
    Rty: np.ndarray
    rest_factor: np.ndarray
    rest_first: np.ndarray
    rest_term: np.ndarray
    precision: np.ndarray
    mean: np.ndarray
    n_levels: np.ndarray
    q: np.ndarray
    n: float
    yty: float
    e: int


class Classes(NamedTuple):
    """The statistics of :class:`System` per class g of rows sharing one row of the
    (centred) sigma design, log σ_g = x_gᵀγ: the system's are Σ_g w_g·(class g's) with
    w_g = σ_g⁻² (module docstring). Empty (G = 0) without a sigma formula.

    ZtZ (G, L_e, q_e, q_e), Zty (G, L_e, q_e), b_vals (G, len(b_vals)) on the system's
    column patterns, RtR (G, r, r), Rty (G, r), yty and n (G,), rows (G, k): x_g.
    """

    ZtZ: np.ndarray
    Zty: np.ndarray
    b_vals: np.ndarray
    RtR: np.ndarray
    Rty: np.ndarray
    yty: np.ndarray
    n: np.ndarray
    rows: np.ndarray


def _effect_columns(design: Design, k: int) -> sparse.csr_matrix:
    """The n × (L_k q_k) matrix of factor k's effects, column ℓ·q_k + t (indexed rows)."""
    g = design.groups[k]
    q = len(g.terms)
    rows = np.repeat(np.arange(design.n_obs), q)
    cols = (g.index[:, None] * q + np.arange(q)).ravel()
    return sparse.csr_matrix((g.Z.ravel(), (rows, cols)), shape=(design.n_obs, g.n_levels * q))


def _level_blocks(B: sparse.csr_matrix, q: int, n_levels: int):
    """B's rows grouped by level (q rows each): each level's column pattern and its dense
    q × c_ℓ block, packed as in :class:`System`."""
    B = B.tocsr()
    columns = [np.unique(B[lev * q:(lev + 1) * q].indices) for lev in range(n_levels)]
    pointers = np.concatenate([[0], np.cumsum([len(c) for c in columns])]).astype(np.int64)
    return pointers, np.concatenate(columns).astype(np.int64), _block_values(B, q, columns)


def _block_values(B: sparse.csr_matrix, q: int, columns: list[np.ndarray]) -> np.ndarray:
    """B's level blocks on the column patterns ``columns`` (one per level), packed."""
    B = B.tocsr()
    return np.concatenate([B[lev * q:(lev + 1) * q][:, cols].toarray().ravel()
                           for lev, cols in enumerate(columns)])


def _gram(Z: np.ndarray, index: np.ndarray, n_levels: int, y: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray]:
    """Each level's Z_ℓᵀZ_ℓ and Z_ℓᵀy (rows of level ``index``)."""
    ZtZ = np.zeros((n_levels, Z.shape[1], Z.shape[1]))
    np.add.at(ZtZ, index, Z[:, :, None] * Z[:, None, :])
    Zty = np.zeros((n_levels, Z.shape[1]))
    np.add.at(Zty, index, Z * y[:, None])
    return ZtZ, Zty


def _classes(sigma_design, design: Design, R: sparse.csr_matrix, Ze: sparse.csr_matrix,
             y: np.ndarray, columns: list[np.ndarray]) -> Classes:
    """The :class:`Classes` of the distinct rows of the centred sigma design (none without
    one)."""
    ge = design.groups[_eliminated(design)]
    if sigma_design is None:
        q, r = len(ge.terms), R.shape[1]
        return Classes(np.zeros((0, ge.n_levels, q, q)), np.zeros((0, ge.n_levels, q)),
                       np.zeros((0, sum(len(c) for c in columns) * q)), np.zeros((0, r, r)),
                       np.zeros((0, r)), np.zeros(0), np.zeros(0), np.zeros((0, 1)))
    rows, label = np.unique(centred_sigma_design(sigma_design, len(y)), axis=0,
                            return_inverse=True)
    parts = []
    for g in range(len(rows)):
        mask = label.ravel() == g
        yg = y * mask
        Rg = sparse.diags(mask.astype(float)) @ R
        ZtZ, Zty = _gram(ge.Z * mask[:, None], ge.index, ge.n_levels, yg)
        parts.append((ZtZ, Zty, _block_values(Ze.T @ Rg, len(ge.terms), columns),
                      (Rg.T @ Rg).toarray(), Rg.T @ yg, yg @ yg, float(mask.sum())))
    return Classes(*(np.array(list(field)) for field in zip(*parts)), rows)


def _columns_by_level(b_ptr: np.ndarray, b_cols: np.ndarray) -> list[np.ndarray]:
    """Each eliminated level's column pattern in R."""
    return [b_cols[b_ptr[lev]:b_ptr[lev + 1]] for lev in range(len(b_ptr) - 1)]


def _rest_layout(design: Design, others: list[int]) -> tuple[np.ndarray, ...]:
    """Each column of R: its factor (−1 fixed), its level block's first column, its term."""
    factor, first, term = [], [], []
    at = 0
    for k in others:
        g = design.groups[k]
        q = len(g.terms)
        factor += [k] * (g.n_levels * q)
        first += list(np.repeat(at + q * np.arange(g.n_levels), q))
        term += list(np.tile(np.arange(q), g.n_levels))
        at += g.n_levels * q
    p = len(design.fixed_names)
    factor += [-1] * p
    first += list(range(at, at + p))
    term += [0] * p
    return tuple(np.array(a, dtype=np.int64) for a in (factor, first, term))


class EffectsSystem:
    """The algebra (contract of :mod:`lmm_bayes.engines.blocked`) of a Gaussian model with
    independent residuals: log p(y | Σ_1, …, Σ_K, ρ) and its gradient, and exact draws of
    every effect.

    Parameters
    ----------
    design : Design
    priors : PriorSet
    residuals : ResidualDesign, optional
        A sigma formula with few distinct design rows (:func:`obstacle`); None for one σ.

    Attributes
    ----------
    n_residual : int
        Length of ρ: 1 (log σ), or the sigma formula's coefficients γ (centred columns,
        :mod:`lmm_bayes.sigma_model`).
    """

    def __init__(self, design: Design, priors: PriorSet, residuals=None):
        groups = design.groups
        e = _eliminated(design)
        others = [k for k in range(len(groups)) if k != e]
        intercept = INTERCEPT in design.fixed_names
        Xc, self.xbar, self.shift = centred_columns(design)
        y = design.y - self.shift
        R = sparse.hstack([*(_effect_columns(design, k) for k in others),
                           sparse.csr_matrix(Xc)]).tocsr()
        Ze = _effect_columns(design, e)
        ge = groups[e]
        qe = len(ge.terms)
        ZtZ, Zty = _gram(ge.Z, ge.index, ge.n_levels, y)
        b_ptr, b_cols, b_vals = _level_blocks(Ze.T @ R, qe, ge.n_levels)
        self._sigma_model = residuals.sigma if residuals is not None else None
        self.classes = _classes(self._sigma_model, design, R, Ze, y,
                                _columns_by_level(b_ptr, b_cols))
        factor, first, term = _rest_layout(design, others)
        p = len(design.fixed_names)
        coefficient_priors = ([priors.intercept] if intercept else []) + [
            priors.fixed[name] for name in design.fixed_names if name != INTERCEPT]
        precision, mean = np.zeros(R.shape[1]), np.zeros(R.shape[1])
        precision[R.shape[1] - p:] = [1.0 / q.kwargs["sigma"] ** 2 for q in coefficient_priors]
        mean[R.shape[1] - p:] = [q.kwargs["mu"] for q in coefficient_priors]
        if intercept:
            mean[R.shape[1] - p] -= self.shift              # the intercept of centred y
        self.system = System(
            ZtZ, Zty, b_ptr, b_cols, b_vals, np.ascontiguousarray((R.T @ R).toarray()),
            R.T @ y, factor, first, term, precision, mean,
            np.array([g.n_levels for g in groups], dtype=float),
            np.array([len(g.terms) for g in groups], dtype=np.int64),
            float(len(y)), float(y @ y), e)
        self.factors = groups
        self.eliminated = e
        self.others = others
        self.fixed_names = design.fixed_names
        self.n_normals = ge.n_levels * qe + R.shape[1]
        self.sigma_prior = sigma_priors(self._sigma_model, priors)
        self._log_sd_design = centred_sigma_design(self._sigma_model, len(y))
        self.n_residual = self._log_sd_design.shape[1]
        self.residual_sd = max(float(np.std(design.least_squares()[1])), 1e-8)
        self.layout = CovarianceLayout.of(factor_covariances(groups, priors))
        self.n_dim = int(self.layout.offsets[-1]) + self.n_residual
        self._buffer = self.buffer()

    def buffer(self, mode: np.ndarray | None = None, factor: np.ndarray | None = None
               ) -> np.ndarray:
        """The system, covariance layout, ρ's priors and the classes packed for
        :func:`log_posterior`, with the whitening θ = mode + factor·z of the nutpie entry
        points (default: none)."""
        a = self.system
        scalars = np.array([a.n, a.yty, a.e, a.ZtZ.shape[0], a.ZtZ.shape[1], a.RtR.shape[0],
                            len(self.classes.n), self.n_residual])
        mode = np.zeros(self.n_dim) if mode is None else mode
        factor = np.eye(self.n_dim) if factor is None else factor
        return pack([*a[:14], scalars, *self.layout.fields(), self.sigma_prior, *self.classes,
                     mode, factor])

    @property
    def entry_points(self) -> tuple[object, object]:
        """nutpie's C entry points for :meth:`buffer` (log density and expand)."""
        return logp_cfunc, expand_cfunc

    def log_posterior(self, x: np.ndarray, gradient: bool = True) -> tuple[float, np.ndarray]:
        """log p(θ | y) up to a constant, θ = (each factor's covariance coordinates, ρ),
        and its gradient (compiled; :mod:`lmm_bayes.integrated`)."""
        return log_posterior(np.ascontiguousarray(x, dtype=float), self._buffer, gradient)

    def _inverses(self, sigmas: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Each Σ_k⁻¹, padded to the largest q, and Σ_k L_k log|Σ_k|."""
        q_max = max(len(s) for s in sigmas)
        inverse = np.zeros((len(sigmas), q_max, q_max))
        log_det = 0.0
        for k, (s, g) in enumerate(zip(sigmas, self.factors)):
            sign, value = np.linalg.slogdet(s)
            if sign <= 0:
                return inverse, -np.inf
            inverse[k, :len(s), :len(s)] = np.linalg.inv(s)
            log_det += g.n_levels * value
        return inverse, log_det

    def log_likelihood(self, sigmas: list[np.ndarray], rho: np.ndarray, gradient: bool = True
                       ) -> tuple[float, list[np.ndarray], np.ndarray]:
        """log p(y | Σ, ρ) with every effect integrated out, ∂/∂Σ_k and ∂/∂ρ (module
        docstring; zeros when ``gradient`` is false, which saves the inverse of S)."""
        inverse, log_det_sigma = self._inverses(sigmas)
        failed = (-np.inf, [np.zeros_like(s) for s in sigmas], np.zeros(self.n_residual))
        if not np.isfinite(log_det_sigma):
            return failed
        value, A, d_rho = _likelihood(self.system, self.classes, inverse, log_det_sigma,
                                      np.asarray(rho, dtype=float), gradient)
        if not np.isfinite(value):
            return failed
        if not gradient:
            return value, failed[1], failed[2]
        d_sigmas = []
        for k, s in enumerate(sigmas):
            q = len(s)
            inv = inverse[k, :q, :q]
            d_sigmas.append(0.5 * (inv @ A[k, :q, :q] @ inv - self.factors[k].n_levels * inv))
        return value, d_sigmas, d_rho

    def residual_prior(self, rho: np.ndarray) -> tuple[float, np.ndarray]:
        """log p(ρ) as the graph has it (:func:`lmm_bayes.sigma_model.sigma_prior`) and its
        gradient."""
        gradient = np.zeros(self.n_residual)
        value = sigma_prior(self.sigma_prior, self._sigma_model is not None,
                            np.asarray(rho, dtype=float), gradient)
        return value, gradient

    def residual_start(self) -> np.ndarray:
        """Every row's σ at the least-squares residual SD."""
        return sigma_start(self._log_sd_design, self.residual_sd)

    def draw(self, sigmas: list[np.ndarray], rho: np.ndarray, normals: np.ndarray
             ) -> tuple[np.ndarray, list[np.ndarray]]:
        """One draw of (β, [b_k]) from their conditional given y, Σ and ρ, made from
        ``normals``: b_R = L⁻ᵀ(L⁻¹g + σz_R) with S = LLᵀ, then each eliminated level's
        u_ℓ = D_ℓ⁻¹(h_ℓ − B_ℓb_R) + σL_D⁻ᵀz_ℓ with D_ℓ = L_D L_Dᵀ (σ = 1 in the weighted
        system of a sigma formula)."""
        inverse, _ = self._inverses(sigmas)
        effects = _draw_at(self.system, self.classes, inverse, np.asarray(rho, dtype=float),
                           np.asarray(normals, dtype=float))
        return self._split(effects)

    def _split(self, effects: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """β on the data's scale and each factor's (levels, terms) effects from flat draws
        (..., eliminated levels first, then R's columns)."""
        groups, e = self.factors, self.eliminated
        lead = effects.shape[:-1]
        at = groups[e].n_levels * len(groups[e].terms)
        found = {e: effects[..., :at].reshape(lead + (groups[e].n_levels, -1))}
        for k in self.others:
            size = groups[k].n_levels * len(groups[k].terms)
            found[k] = effects[..., at:at + size].reshape(lead + (groups[k].n_levels, -1))
            at += size
        beta = effects[..., at:].copy()
        if INTERCEPT in self.fixed_names:                # α → β₀ = α − x̄ᵀβ₁ + ȳ
            beta[..., 0] += self.shift - beta[..., 1:] @ self.xbar[1:]
        return beta, [found[k] for k in range(len(groups))]

    def effect_draws(self, thetas: np.ndarray, normals: np.ndarray
                     ) -> tuple[np.ndarray, list[np.ndarray]]:
        """:meth:`draw` at each row of ``thetas`` (m, n_dim) with the normals' rows, in
        compiled code (θ as in :meth:`log_posterior`)."""
        return self._split(_draws(np.ascontiguousarray(thetas), self._buffer, normals))

    def log_posteriors(self, thetas: np.ndarray) -> np.ndarray:
        """:meth:`log_posterior` without the gradient at each row of ``thetas``."""
        return _log_posteriors(np.ascontiguousarray(thetas), self._buffer)

    def residual_variables(self, rho: np.ndarray):
        """``sigma``, or ``sigma_beta`` over ``sigma_fixed``, at draws of ρ
        (:func:`lmm_bayes.sigma_model.sigma_variables`)."""
        return sigma_variables(self._sigma_model, np.asarray(rho, dtype=float))


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _factorise(a, inverse, s2):
    """Eliminate factor e's levels: S (the lower triangle; the upper one is RᵀR plus the
    priors), g, Σ log|D_ℓ|, Σ fᵀf, and per level L_D, f = L_D⁻¹h_ℓ and F = L_D⁻¹B_ℓ (packed
    like b_vals)."""
    qe = a.ZtZ.shape[1]
    e = a.e
    S = a.RtR.copy()
    g = a.Rty + s2 * a.precision * a.mean
    for i in range(S.shape[0]):
        k = a.rest_factor[i]
        if k < 0:
            S[i, i] += s2 * a.precision[i]
            continue
        for u in range(a.q[k]):
            S[i, a.rest_first[i] + u] += s2 * inverse[k, a.rest_term[i], u]
    L_D = np.zeros(a.ZtZ.shape)
    f = a.Zty.copy()
    F = a.b_vals.copy()
    log_det_D, quad_D = 0.0, 0.0
    D = np.empty((qe, qe))
    for lev in range(a.ZtZ.shape[0]):
        for i in range(qe):
            for j in range(qe):
                D[i, j] = a.ZtZ[lev, i, j] + s2 * inverse[e, i, j]
        if not small_cholesky(D, L_D[lev]):
            return S, g, -np.inf, 0.0, L_D, f, F
        start, stop = a.b_ptr[lev], a.b_ptr[lev + 1]
        c = stop - start
        block = F[qe * start:qe * stop].reshape((qe, c))
        forward_columns(L_D[lev], block)
        forward_columns(L_D[lev], f[lev].reshape((qe, 1)))
        for i in range(qe):
            log_det_D += 2.0 * math.log(L_D[lev, i, i])
            quad_D += f[lev, i] * f[lev, i]
        cols = a.b_cols[start:stop]
        for x in range(c):
            total = 0.0
            for t in range(qe):
                total += block[t, x] * f[lev, t]
            g[cols[x]] -= total
            for y in range(x + 1):                 # columns ascending: the lower triangle
                total = 0.0
                for t in range(qe):
                    total += block[t, x] * block[t, y]
                S[cols[x], cols[y]] -= total
    return S, g, log_det_D, quad_D, L_D, f, F


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _eliminated_mean(a, L_D, f, F, rest):
    """E(u_eℓ | b_R, y) = D_ℓ⁻¹(h_ℓ − B_ℓ b_R) = L_D⁻ᵀ(f − F b_R) for every level."""
    qe = a.ZtZ.shape[1]
    u = f.copy()
    for lev in range(a.ZtZ.shape[0]):
        start, stop = a.b_ptr[lev], a.b_ptr[lev + 1]
        block = F[qe * start:qe * stop].reshape((qe, stop - start))
        cols = a.b_cols[start:stop]
        for t in range(qe):
            for x in range(stop - start):
                u[lev, t] -= block[t, x] * rest[cols[x]]
        backward(L_D[lev], u[lev])
    return u


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _eliminated_covariance(L, F, cols, S_inv, T, V):
    """V ← Cov(u_ℓ | y)/σ² = L_D⁻ᵀ(I + F S⁻¹_cc Fᵀ)L_D⁻¹ (module docstring) with T as
    scratch (q × c): F S⁻¹_cc, then the sandwich by two triangular solves."""
    q, c = F.shape
    for i in range(q):
        for y in range(c):
            total = 0.0
            for x in range(c):
                total += F[i, x] * S_inv[cols[x], cols[y]]
            T[i, y] = total
    for i in range(q):
        for j in range(q):
            total = 1.0 if i == j else 0.0
            for y in range(c):
                total += T[i, y] * F[j, y]
            V[i, j] = total
    for j in range(q):                            # V ← L⁻ᵀ V (columns)
        backward(L, V[:, j])
    for i in range(q):                            # V ← V L⁻¹ = (L⁻ᵀ Vᵀ)ᵀ (rows)
        backward(L, V[i])


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _log_likelihood(a, inverse, log_det_sigma, log_sigma, gradient, cross):
    """log p(y | Σ, σ) and, when ``gradient``, the A_k = Σ_ℓ E(u_kℓu_kℓᵀ | y) (padded),
    ∂/∂log σ and the moments the classes' gradient reads: E(b_R | y), S⁻¹ (Cov(b_R | y)/σ²),
    E(u_ℓ | y), each eliminated level's E(u_ℓu_ℓᵀ | y) and, when ``cross``, E(u_ℓ b_Rᵀ | y) on B_ℓ's
    columns (packed like b_vals): u_ℓ b̂_Rᵀ − σ² D_ℓ⁻¹B_ℓS⁻¹."""
    K = a.q.shape[0]
    q_max = inverse.shape[1]
    A = np.zeros((K, q_max, q_max))
    levels, qe, r = a.ZtZ.shape[0], a.ZtZ.shape[1], a.RtR.shape[0]
    Eu = np.zeros((levels if gradient else 0, qe, qe))
    Ec = np.zeros(a.b_vals.shape[0] if cross and gradient else 0)
    rest, u, S_inv = np.zeros(r), np.zeros((0, qe)), np.zeros((0, 0))
    s2 = math.exp(2.0 * log_sigma)
    S, g, log_det_D, quad_D, L_D, f, F = _factorise(a, inverse, s2)
    if not np.isfinite(log_det_D):
        return -np.inf, A, 0.0, (rest, u, S_inv, Eu, Ec)
    S_copy = S.copy() if gradient else S[:0, :0]
    if not cholesky(S):
        return -np.inf, A, 0.0, (rest, u, S_inv, Eu, Ec)
    r = S.shape[0]
    z = forward(S, g)
    log_det_S = 0.0
    for i in range(r):
        log_det_S += 2.0 * math.log(S[i, i])
    d = a.ZtZ.shape[0] * a.ZtZ.shape[1] + r
    log_det_P = log_det_sigma
    for i in range(r):
        if a.rest_factor[i] < 0:
            log_det_P -= math.log(a.precision[i])
    quad_prior = np.sum(a.precision * a.mean * a.mean)
    value = (-0.5 * a.n * (math.log(2.0 * math.pi) + 2.0 * log_sigma) - 0.5 * log_det_P
             - 0.5 * (log_det_D + log_det_S - d * 2.0 * log_sigma)
             - 0.5 * (a.yty + s2 * quad_prior - quad_D - np.sum(z * z)) / s2)
    if not gradient:
        return value, A, 0.0, (rest, u, S_inv, Eu, Ec)
    rest = z.copy()
    backward(S, rest)                                 # E(b_R | y) = S⁻¹g
    for i in range(r):                                 # S_copy's lower triangle, mirrored
        for j in range(i):
            S_copy[j, i] = S_copy[i, j]
    S_inv = np.linalg.inv(S_copy)
    u = _eliminated_mean(a, L_D, f, F, rest)
    fitted = np.sum(rest * a.Rty)                      # b̂ᵀWᵀy
    # σ²·trace_prior = Σ_k tr(Σ_k⁻¹A_k) + Σ_j π_j V_jj = tr(P⁻¹V) + b̂_uᵀP⁻¹b̂_u, and
    # fit_prior = Σ_j π_j(β̂_j m_j − β̂_j²) over the fixed effects, so that
    # ‖y − Wb̂‖² + tr(WᵀWV) = yᵀy − b̂ᵀWᵀy + σ²fit_prior + σ²d − σ⁴trace_prior
    trace_prior = 0.0
    fit_prior = 0.0
    for i in range(r):
        k = a.rest_factor[i]
        if k < 0:
            trace_prior += a.precision[i] * S_inv[i, i]
            fit_prior += a.precision[i] * (rest[i] * a.mean[i] - rest[i] * rest[i])
            continue
        t, first = a.rest_term[i], a.rest_first[i]
        for v in range(a.q[k]):
            j = first + v
            A[k, t, v] += rest[i] * rest[j] + s2 * S_inv[i, j]
    e, qe = a.e, a.ZtZ.shape[1]
    widest = np.max(a.b_ptr[1:] - a.b_ptr[:-1])
    T = np.empty((qe, widest))
    V = np.empty((qe, qe))
    for lev in range(a.ZtZ.shape[0]):
        start, stop = a.b_ptr[lev], a.b_ptr[lev + 1]
        c = stop - start
        cols = a.b_cols[start:stop]
        _eliminated_covariance(L_D[lev], F[qe * start:qe * stop].reshape((qe, c)), cols,
                               S_inv, T, V)
        for i in range(qe):
            fitted += u[lev, i] * a.Zty[lev, i]
            for j in range(qe):
                Eu[lev, i, j] = u[lev, i] * u[lev, j] + s2 * V[i, j]
                A[e, i, j] += Eu[lev, i, j]
        if cross:                                     # T ← L_D⁻ᵀT = D_ℓ⁻¹B_ℓS⁻¹ on cols
            backward_rows(L_D[lev], T[:, :c])
            for t in range(qe):
                for x in range(c):
                    Ec[qe * start + t * c + x] = u[lev, t] * rest[cols[x]] - s2 * T[t, x]
    for k in range(K):
        q = a.q[k]
        for i in range(q):
            for j in range(q):
                trace_prior += inverse[k, i, j] * A[k, j, i] / s2
    rss = a.yty - fitted + s2 * fit_prior
    d_log_sigma = -a.n + (rss + s2 * (d - s2 * trace_prior)) / s2
    return value, A, d_log_sigma, (rest, u, S_inv, Eu, Ec)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _weighted(a, c, w):
    """The :class:`System` of the classes' statistics weighted by w_g = σ_g⁻²."""
    ZtZ, Zty, b_vals = w[0] * c.ZtZ[0], w[0] * c.Zty[0], w[0] * c.b_vals[0]
    RtR, Rty, yty = w[0] * c.RtR[0], w[0] * c.Rty[0], w[0] * c.yty[0]
    for g in range(1, w.shape[0]):
        ZtZ += w[g] * c.ZtZ[g]
        Zty += w[g] * c.Zty[g]
        b_vals += w[g] * c.b_vals[g]
        RtR += w[g] * c.RtR[g]
        Rty += w[g] * c.Rty[g]
        yty += w[g] * c.yty[g]
    return System(ZtZ, Zty, a.b_ptr, a.b_cols, b_vals, RtR, Rty, a.rest_factor,
                  a.rest_first, a.rest_term, a.precision, a.mean, a.n_levels, a.q, a.n,
                  yty, a.e)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _class_weights(c, rho):
    """Each class's log σ_g = x_gᵀγ and w_g = σ_g⁻²."""
    log_sd = np.zeros(c.rows.shape[0])
    for g in range(log_sd.shape[0]):
        for j in range(c.rows.shape[1]):
            log_sd[g] += c.rows[g, j] * rho[j]
    return log_sd, np.exp(-2.0 * log_sd)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _class_score(c, g, moments):
    """‖y_g − W_g b̂‖² + tr(W_gᵀW_g V) = y_gᵀy_g − 2b̂ᵀW_gᵀy_g + tr(W_gᵀW_g E(bbᵀ | y))
    of class g, with E(bbᵀ | y) on W_gᵀW_g's blocks (the moments of
    :func:`_log_likelihood`: eliminated levels, their cross blocks with R, and R's)."""
    rest, u, S_inv, Eu, Ec = moments
    total = c.yty[g] - 2.0 * (np.sum(rest * c.Rty[g]) + np.sum(u * c.Zty[g]))
    total += np.sum(c.ZtZ[g] * Eu) + 2.0 * np.sum(c.b_vals[g] * Ec)
    r = rest.shape[0]
    RtR = c.RtR[g]
    for i in range(r):
        for j in range(r):
            total += RtR[i, j] * (rest[i] * rest[j] + S_inv[i, j])
    return total


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _class_log_likelihood(a, c, inverse, log_det_sigma, rho, gradient):
    """log p(y | Σ, γ) with Ω = diag(σ_g⁻²): the weighted system at σ = 1, less
    Σ_g n_g log σ_g; ∂/∂γ = Σ_g x_g(−n_g + w_g·(class g's score)) (module docstring)."""
    log_sd, w = _class_weights(c, rho)
    value, A, _, moments = _log_likelihood(_weighted(a, c, w), inverse, log_det_sigma, 0.0,
                                           gradient, True)
    value -= np.sum(c.n * log_sd)
    d_rho = np.zeros(rho.shape[0])
    if not gradient or not np.isfinite(value):
        return value, A, d_rho
    for g in range(w.shape[0]):
        d_rho += c.rows[g] * (-c.n[g] + w[g] * _class_score(c, g, moments))
    return value, A, d_rho


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _likelihood(a, c, inverse, log_det_sigma, rho, gradient):
    """log p(y | Σ, ρ), the A_k and ∂/∂ρ: one σ (ρ = log σ) or the classes of a sigma
    formula."""
    if c.n.shape[0] > 0:
        return _class_log_likelihood(a, c, inverse, log_det_sigma, rho, gradient)
    found = _log_likelihood(a, inverse, log_det_sigma, rho[0], gradient, False)
    d_rho = np.zeros(1)
    d_rho[0] = found[2]
    return found[0], found[1], d_rho


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _draw(a, inverse, log_sigma, normals):
    """The effects' draw of :meth:`EffectsSystem.draw`, eliminated levels first."""
    s2 = math.exp(2.0 * log_sigma)
    sigma = math.sqrt(s2)
    S, g, log_det_D, _, L_D, f, F = _factorise(a, inverse, s2)
    out = np.full(normals.shape[0], np.nan)
    if not np.isfinite(log_det_D) or not cholesky(S):
        return out
    r = S.shape[0]
    first = normals.shape[0] - r
    rest = forward(S, g) + sigma * normals[first:]
    backward(S, rest)
    u = _eliminated_mean(a, L_D, f, F, rest)
    qe = a.ZtZ.shape[1]
    for lev in range(u.shape[0]):
        z = normals[lev * qe:(lev + 1) * qe].copy()
        backward(L_D[lev], z)
        for t in range(qe):
            out[lev * qe + t] = u[lev, t] + sigma * z[t]
    out[first:] = rest
    return out


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _draw_at(a, c, inverse, rho, normals):
    """:func:`_draw` at ρ: σ = e^ρ₀, or the classes' weighted system at σ = 1."""
    if c.n.shape[0] > 0:
        return _draw(_weighted(a, c, _class_weights(c, rho)[1]), inverse, 0.0, normals)
    return _draw(a, inverse, rho[0], normals)


_SCALARS, _LAYOUT, _SIGMA_PRIOR, _CLASSES = 14, 15, 22, 23  # then the mode and the factor


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _unpack(buffer):
    """The :class:`System` packed by :meth:`EffectsSystem.buffer`."""
    scalars = field(buffer, _SCALARS)
    levels, qe, r = int(scalars[3]), int(scalars[4]), int(scalars[5])
    return System(field(buffer, 0).reshape((levels, qe, qe)),
                  field(buffer, 1).reshape((levels, qe)), int_field(buffer, 2),
                  int_field(buffer, 3), field(buffer, 4), field(buffer, 5).reshape((r, r)),
                  field(buffer, 6), int_field(buffer, 7), int_field(buffer, 8),
                  int_field(buffer, 9), field(buffer, 10), field(buffer, 11),
                  field(buffer, 12), int_field(buffer, 13), scalars[0], scalars[1],
                  int(scalars[2]))


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _unpack_classes(buffer):
    """The :class:`Classes` packed by :meth:`EffectsSystem.buffer`."""
    scalars = field(buffer, _SCALARS)
    levels, qe, r = int(scalars[3]), int(scalars[4]), int(scalars[5])
    G, k = int(scalars[6]), int(scalars[7])
    b = _CLASSES
    return Classes(field(buffer, b).reshape((G, levels, qe, qe)),
                   field(buffer, b + 1).reshape((G, levels, qe)),
                   field(buffer, b + 2).reshape((G, field(buffer, 4).shape[0])),
                   field(buffer, b + 3).reshape((G, r, r)), field(buffer, b + 4).reshape((G, r)),
                   field(buffer, b + 5), field(buffer, b + 6),
                   field(buffer, b + 7).reshape((G, k)))


@numba.njit(cache=True, nogil=True, error_model="numpy")
def log_posterior(x, buffer, gradient):
    """log p(θ | y) and its gradient: the covariances' and ρ's priors with their
    log-Jacobians (:mod:`lmm_bayes.covariance`), the integrated likelihood, and the chain
    rule from ∂ℓ/∂Σ_k (module docstring)."""
    a = _unpack(buffer)
    offsets, q, eta = int_field(buffer, _LAYOUT), int_field(buffer, _LAYOUT + 1), field(
        buffer, _LAYOUT + 2)
    K = q.shape[0]
    inverse, log_det, log_prior, grad = packed_terms(x, buffer, _LAYOUT)
    c = offsets[K]
    if not np.isfinite(log_det):
        return -np.inf, grad
    classes = _unpack_classes(buffer)
    rho = x[c:]
    value, A, d_rho = _likelihood(a, classes, inverse, log_det, rho, gradient)
    if not np.isfinite(value):
        return -np.inf, grad
    d_prior = np.zeros(rho.shape[0])
    v = sigma_prior(field(buffer, _SIGMA_PRIOR).reshape((-1, 5)), classes.n.shape[0] > 0, rho,
                    d_prior)
    grad[c:] = d_prior + d_rho
    if gradient:
        for k in range(K):
            n = q[k]
            inv = inverse[k, :n, :n]
            G = 0.5 * (inv @ A[k, :n, :n] @ inv - a.n_levels[k] * inv)
            grad[offsets[k]:offsets[k + 1]] += factor_chain(x[offsets[k]:offsets[k + 1]], n,
                                                            eta[k] > 0.0, G)
    return value + log_prior + v, grad


@numba.cfunc(LOGP_SIGNATURE, cache=True, error_model="numpy")
def logp_cfunc(dim, z_, gradient_, logp_, buffer_):
    """nutpie's C entry point: log p(θ | y) in the whitened coordinates z
    (:func:`lmm_bayes.packing.store_whitened`)."""
    buffer = buffer_at(buffer_)
    lp, grad = log_posterior(whitened(numba.carray(z_, (dim,)), buffer), buffer, True)
    return store_whitened(lp, grad, gradient_, logp_, buffer)


@numba.cfunc(EXPAND_SIGNATURE, cache=True, error_model="numpy")
def expand_cfunc(dim, n_expanded, z_, out_, buffer_):
    """nutpie's C entry point for θ at a draw of z."""
    numba.carray(out_, (n_expanded,))[:] = whitened(numba.carray(z_, (dim,)), buffer_at(buffer_))
    return 0


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _inverse_at(x, buffer):
    """Every Σ_k⁻¹ at θ = x (:func:`lmm_bayes.covariance.covariance_terms`)."""
    return packed_terms(x, buffer, _LAYOUT)[0]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _draws(thetas, buffer, normals):
    """One draw of the effects (:func:`_draw`) at each row of ``thetas``."""
    a, classes = _unpack(buffer), _unpack_classes(buffer)
    c = int_field(buffer, _LAYOUT)[a.q.shape[0]]
    out = np.empty(normals.shape)
    for i in range(thetas.shape[0]):
        out[i] = _draw_at(a, classes, _inverse_at(thetas[i], buffer), thetas[i, c:],
                          normals[i])
    return out


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _log_posteriors(thetas, buffer):
    """log p(θ | y) at each row of ``thetas``."""
    out = np.empty(thetas.shape[0])
    for i in range(thetas.shape[0]):
        out[i] = log_posterior(thetas[i], buffer, False)[0]
    return out
