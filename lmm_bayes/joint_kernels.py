"""Compiled log density of a GLMM over all its parameters, effects included
(:mod:`lmm_bayes.joint`), and nutpie's C entry points. The data are packed by
:meth:`lmm_bayes.joint.JointDensity.buffer` (fields in :func:`_unpack`'s order).

Coordinates x = (coefficients, log α, each factor's covariance coordinates, each factor's
effects), the effects of factor k as L_k × q_k values, level by level: b itself when the
factor is centred, u with b = C_k u (C_k = diag(s) L_Ω, the covariance's Cholesky factor)
when it is not.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .covariance import cholesky_chain, correlation_factor, factor_chain, factor_log_prior
from .glmm import fixed_log_prior, row_terms
from .packing import EXPAND_SIGNATURE, LOGP_SIGNATURE, buffer_at, field, int_field, store

__all__ = ["expand_cfunc", "log_density", "logp_cfunc"]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _unpack(buffer):
    s = field(buffer, 0)
    family, p, has_shape, K = int(s[0]), int(s[1]), s[2] > 0.0, int(s[3])
    n = field(buffer, 1).shape[0]
    meta = int_field(buffer, 5).reshape((K, 6))
    q_total = 0
    for k in range(K):
        q_total += meta[k, 0]
    return (family, p, has_shape, K, field(buffer, 1), field(buffer, 2), field(buffer, 3),
            field(buffer, 4).reshape((n, p)), meta, field(buffer, 6),
            int_field(buffer, 7).reshape((n, K)), field(buffer, 8).reshape((n, q_total)),
            int_field(buffer, 9), field(buffer, 10).reshape((-1, 3)), int_field(buffer, 11),
            field(buffer, 12).reshape((-1, 3)))


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _factor_effects(x, meta_k, eta_k):
    """Factor k's covariance coordinates, its Cholesky factor C, its sampled effect
    coordinates (L × q: b, or u with b = Cu) and b."""
    q, levels, coordinates, effects = meta_k[0], meta_k[1], meta_k[2], meta_k[3]
    n_dim = q + (q * (q - 1) // 2 if eta_k > 0.0 else 0)
    theta = x[coordinates:coordinates + n_dim]
    C = correlation_factor(theta, q, eta_k > 0.0)
    for i in range(q):
        C[i] *= math.exp(theta[i])
    values = x[effects:effects + levels * q].reshape((levels, q))
    if meta_k[4] > 0:
        return theta, C, values, values.copy()
    b = np.zeros((levels, q))
    for level in range(levels):
        for i in range(q):
            for j in range(i + 1):
                b[level, i] += C[i, j] * values[level, j]
    return theta, C, values, b


@numba.njit(cache=True, nogil=True, error_model="numpy")
def log_density(x, buffer):
    """log p(β, α, θ, b | y) up to a constant and its gradient (:mod:`lmm_bayes.joint`)."""
    (family, p, has_shape, K, y, trials, offset, X, meta, eta, index, Z, kinds, params,
     cov_kinds, cov_params) = _unpack(buffer)
    grad = np.zeros(x.shape[0])
    alpha = math.exp(x[p]) if has_shape else 0.0
    linear = X @ x[:p] + offset
    effects = []
    for k in range(K):
        effects.append(_factor_effects(x, meta[k], eta[k]))
    total = 0.0
    score = np.zeros(y.shape[0])
    shape_score = 0.0
    scores = [np.zeros_like(e[3]) for e in effects]
    for j in range(y.shape[0]):
        value = linear[j]
        for k in range(K):
            b = effects[k][3]
            for t in range(meta[k, 0]):
                value += Z[j, meta[k, 5] + t] * b[index[j, k], t]
        v, s, _, shape = row_terms(family, y[j], trials[j], value, alpha)
        total += v
        score[j] = s
        shape_score += shape
        for k in range(K):
            for t in range(meta[k, 0]):
                scores[k][index[j, k], t] += s * Z[j, meta[k, 5] + t]
    grad[:p] = X.T @ score
    if has_shape:
        grad[p] = shape_score
    total += fixed_log_prior(x[:p + int(has_shape)], kinds, params, p, has_shape,
                             grad[:p + int(has_shape)])
    for k in range(K):
        total += _effects_prior(x, grad, meta[k], eta[k], effects[k], scores[k], cov_kinds,
                                cov_params)
    return total, grad


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _effects_prior(x, grad, meta_k, eta_k, effects_k, scores_k, cov_kinds, cov_params):
    """Factor k's effects' density and its covariance's prior; writes their gradient and
    that of the likelihood through the effects (``scores_k``, ∂ℓ/∂b) into ``grad``.

    Centred: log N(b_ℓ; 0, Σ) summed over levels, ∂/∂Σ by
    :func:`lmm_bayes.covariance.factor_chain`. Non-centred: log N(u_ℓ; 0, I), ∂ℓ/∂u_ℓ =
    Cᵀ∂ℓ/∂b_ℓ and ∂ℓ/∂C = Σ_ℓ (∂ℓ/∂b_ℓ)u_ℓᵀ by :func:`lmm_bayes.covariance.cholesky_chain`."""
    q, levels, coordinates, effects, first_prior = (meta_k[0], meta_k[1], meta_k[2],
                                                     meta_k[3], meta_k[5])
    theta, C, values, b = effects_k
    n_dim = theta.shape[0]
    correlated = eta_k > 0.0
    value, slope = factor_log_prior(theta, q, eta_k if correlated else 0.0,
                                    cov_kinds[first_prior:first_prior + q],
                                    cov_params[first_prior:first_prior + q])
    cov_grad = grad[coordinates:coordinates + n_dim]
    cov_grad += slope
    effects_grad = grad[effects:effects + levels * q].reshape((levels, q))
    if meta_k[4] > 0:                                  # centred
        if not (np.all(np.isfinite(C)) and np.all(np.diag(C) > 0.0)):
            return -np.inf      # an SD out of floating point's range: no inverse, no density
        C_inv = np.linalg.inv(C)
        P = C_inv.T @ C_inv
        Pb = b @ P
        value -= 0.5 * np.sum(Pb * b)
        for i in range(q):
            value -= levels * math.log(C[i, i])
        effects_grad += scores_k - Pb
        G = 0.5 * (Pb.T @ Pb) - 0.5 * levels * P
        cov_grad += factor_chain(theta, q, correlated, G)
        return value
    value -= 0.5 * np.sum(values * values)
    effects_grad += scores_k @ C - values
    cov_grad += cholesky_chain(theta, q, correlated, scores_k.T @ values)
    return value


@numba.cfunc(LOGP_SIGNATURE, cache=True, error_model="numpy")
def logp_cfunc(dim, x_, gradient_, logp_, buffer_):
    """nutpie's C entry point for :func:`log_density` (:func:`lmm_bayes.packing.store`)."""
    lp, grad = log_density(numba.carray(x_, (dim,)), buffer_at(buffer_))
    return store(lp, grad, gradient_, logp_)


@numba.cfunc(EXPAND_SIGNATURE, cache=True, error_model="numpy")
def expand_cfunc(dim, n_expanded, x_, out_, buffer_):
    """nutpie's C entry point writing the public variables at x, in the order of
    :attr:`lmm_bayes.joint.JointDensity.variables`: β, α, then per factor its SDs, its
    correlations (:func:`lmm_bayes.names.pair_positions`) and b."""
    buffer = buffer_at(buffer_)
    x = numba.carray(x_, (dim,))
    out = numba.carray(out_, (n_expanded,))
    unpacked = _unpack(buffer)
    p, has_shape, K, meta, eta = unpacked[1], unpacked[2], unpacked[3], unpacked[8], unpacked[9]
    means = field(buffer, 13)
    out[:p] = x[:p]
    for j in range(1, p):
        out[0] -= means[j] * x[j]
    at = p
    if has_shape:
        out[at] = math.exp(x[p])
        at += 1
    for k in range(K):
        theta, _, _, b = _factor_effects(x, meta[k], eta[k])
        q = meta[k, 0]
        for i in range(q):
            out[at + i] = math.exp(theta[i])
        at += q
        if eta[k] > 0.0:
            L = correlation_factor(theta, q, True)
            omega = L @ L.T
            for i in range(q):
                for j in range(i + 1, q):
                    out[at] = omega[i, j]
                    at += 1
        out[at:at + b.size] = b.ravel()
        at += b.size
    return 0
