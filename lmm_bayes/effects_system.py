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

import numpy as np
from scipy import sparse

from .collapsed import centred_columns
from .covariance import CovarianceLayout, factor_covariances
from .design import Design
from .effects_kernels import (
    Classes,
    System,
    covariance_score,
    draw_at,
    draws,
    likelihood,
    log_posterior,
    logp_cfunc,
)
from .kernel import integrated_prior_obstacle
from .marginal import gaussian_obstacle
from .packing import pack
from .priors import INTERCEPT, PriorSet
from .sigma_model import (
    centred_sigma_design,
    sigma_prior,
    sigma_priors,
    sigma_start,
    sigma_variables,
)

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
    found = gaussian_obstacle(design, family, None) or _residual_obstacle(residuals)
    if found is not None:
        return found
    if not design.groups:
        return "no grouping factor"
    found = integrated_prior_obstacle(design, priors)
    if found is not None:
        return found
    if _rest_size(design) > MAX_REST:
        return (f"more than {MAX_REST} effects outside the grouping factor with the most "
                "effects")
    return None


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
        R = sparse.hstack([*(groups[k].effects_matrix() for k in others),
                           sparse.csr_matrix(Xc)]).tocsr()
        Ze = groups[e].effects_matrix()
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

    #: nutpie's C entry point of the log density in the whitened coordinates of :meth:`buffer`
    logp_cfunc = logp_cfunc

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
        value, A, d_rho = likelihood(self.system, self.classes, inverse, log_det_sigma,
                                      np.asarray(rho, dtype=float), gradient)
        if not np.isfinite(value):
            return failed
        if not gradient:
            return value, failed[1], failed[2]
        d_sigmas = [covariance_score(inverse[k, :len(s), :len(s)], A[k, :len(s), :len(s)],
                                     float(g.n_levels))
                    for k, (s, g) in enumerate(zip(sigmas, self.factors))]
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
        effects = draw_at(self.system, self.classes, inverse, np.asarray(rho, dtype=float),
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
        return self._split(draws(np.ascontiguousarray(thetas), self._buffer, normals))

    def residual_variables(self, rho: np.ndarray):
        """``sigma``, or ``sigma_beta`` over ``sigma_fixed``, at draws of ρ
        (:func:`lmm_bayes.sigma_model.sigma_variables`)."""
        return sigma_variables(self._sigma_model, np.asarray(rho, dtype=float))
