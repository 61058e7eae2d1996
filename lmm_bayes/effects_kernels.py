"""The compiled kernels of :mod:`lmm_bayes.effects_system`: the blocked elimination of the
random-effects system, its log-likelihood with Fisher's-identity moments, the per-class
weighting of a sigma formula, exact draws of the effects, and the log posterior of θ with
nutpie's C log-density entry point, all reading the statistics packed by
:meth:`lmm_bayes.effects_system.EffectsSystem.buffer` (formulas in that module's docstring).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numba
import numpy as np

from .collapsed import cholesky
from .covariance import factor_chain, packed_terms
from .packing import (
    LOGP_SIGNATURE,
    buffer_at,
    field,
    int_field,
    store_whitened,
    whitened,
)
from .sigma_model import sigma_prior
from .tiny import backward, backward_rows, forward, forward_columns, small_cholesky

__all__ = ["Classes", "System", "covariance_score", "draw_at", "draws", "likelihood",
           "log_posterior", "logp_cfunc"]


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
def likelihood(a, c, inverse, log_det_sigma, rho, gradient):
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
def draw_at(a, c, inverse, rho, normals):
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
def covariance_score(inverse, A, n_levels):
    """∂ℓ/∂Σ_k = ½(Σ_k⁻¹A_kΣ_k⁻¹ − L_kΣ_k⁻¹) from Σ_k⁻¹, A_k = Σ_ℓ E(u_kℓu_kℓᵀ | y) and the
    number of levels L_k (Fisher's identity; :mod:`lmm_bayes.effects_system`)."""
    return 0.5 * (inverse @ A @ inverse - n_levels * inverse)


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
    value, A, d_rho = likelihood(a, classes, inverse, log_det, rho, gradient)
    if not np.isfinite(value):
        return -np.inf, grad
    d_prior = np.zeros(rho.shape[0])
    v = sigma_prior(field(buffer, _SIGMA_PRIOR).reshape((-1, 5)), classes.n.shape[0] > 0, rho,
                    d_prior)
    grad[c:] = d_prior + d_rho
    if gradient:
        for k in range(K):
            n = q[k]
            G = covariance_score(inverse[k, :n, :n], A[k, :n, :n], a.n_levels[k])
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


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _inverse_at(x, buffer):
    """Every Σ_k⁻¹ at θ = x (:func:`lmm_bayes.covariance.covariance_terms`)."""
    return packed_terms(x, buffer, _LAYOUT)[0]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def draws(thetas, buffer, normals):
    """One draw of the effects (:func:`_draw`) at each row of ``thetas``."""
    a, classes = _unpack(buffer), _unpack_classes(buffer)
    c = int_field(buffer, _LAYOUT)[a.q.shape[0]]
    out = np.empty(normals.shape)
    for i in range(thetas.shape[0]):
        out[i] = draw_at(a, classes, _inverse_at(thetas[i], buffer), thetas[i, c:],
                          normals[i])
    return out
