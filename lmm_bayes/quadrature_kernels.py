"""Compiled kernels of :mod:`lmm_bayes.quadrature`: each level's conditional mode, its
adaptive Gauss–Hermite integral, the gradient by Fisher's identity, and draws of the effects
by importance resampling. The data are packed by
:meth:`lmm_bayes.quadrature.AdaptiveQuadrature.buffer` (fields in :func:`_unpack`'s order).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .covariance import factor_chain, factor_covariance, factor_log_prior
from .glmm import fixed_log_prior, row_terms
from .packing import LOGP_SIGNATURE, buffer_at, field, int_field, store_whitened, whitened
from .tiny import small_cholesky

__all__ = ["conditional_modes", "effect_draws", "log_posterior", "logp_cfunc"]

MAX_NEWTON = 50
NEWTON_TOLERANCE = 1e-9   # largest step of b, on the link scale, at convergence
MIN_STEP = 1e-8           # step halving stops here (the mode is then as good as float allows)
# Newton steps from the mode at the posterior mode of θ before the effects are proposed: the
# importance weights correct for a centre short of the conditional mode
DRAW_NEWTON_STEPS = 1
LOG_2PI = math.log(2.0 * math.pi)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _unpack(buffer):
    s = field(buffer, 0)
    scalars = (int(s[0]), int(s[1]), int(s[2]), int(s[3]), int(s[4]), s[5] > 0.0, s[6],
               s[7] > 0.0)
    family, L, p, q, K, correlated, eta, has_shape = scalars
    return (family, L, p, q, K, correlated, eta, has_shape, int_field(buffer, 1),
            field(buffer, 2), field(buffer, 3), field(buffer, 4),
            field(buffer, 5).reshape((-1, p)), field(buffer, 6).reshape((-1, q)),
            int_field(buffer, 7), field(buffer, 8).reshape((-1, 3)), int_field(buffer, 9),
            field(buffer, 10).reshape((-1, 3)), field(buffer, 11).reshape((K, q)),
            field(buffer, 12), field(buffer, 13).reshape((L, q)))


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _conditional(family, y, n, base, Z, lo, hi, alpha, P, b, g, H):
    """h(b) = Σ_j log p(y_j | η_j) − ½bᵀPb over rows lo..hi with η_j = base_j + z_jᵀb;
    writes ∂h/∂b into ``g`` and −∂²h/∂b∂bᵀ into ``H``."""
    q = b.shape[0]
    value = 0.0
    for r in range(q):
        g[r] = 0.0
        for c in range(q):
            g[r] -= P[r, c] * b[c]
            H[r, c] = P[r, c]
        value += 0.5 * g[r] * b[r]
    for j in range(lo, hi):
        eta = base[j]
        for r in range(q):
            eta += Z[j, r] * b[r]
        v, score, information, _ = row_terms(family, y[j], n[j], eta, alpha)
        value += v
        for r in range(q):
            g[r] += score * Z[j, r]
            for c in range(r + 1):
                H[r, c] += information * Z[j, r] * Z[j, c]
    for r in range(q):
        for c in range(r + 1, q):
            H[r, c] = H[c, r]
    return value


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _solve(C, v, out):
    """out = (CCᵀ)⁻¹v for lower-triangular C."""
    q = v.shape[0]
    for r in range(q):
        total = v[r]
        for c in range(r):
            total -= C[r, c] * out[c]
        out[r] = total / C[r, r]
    for r in range(q - 1, -1, -1):
        total = out[r]
        for c in range(r + 1, q):
            total -= C[c, r] * out[c]
        out[r] = total / C[r, r]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def conditional_mode(family, y, n, base, Z, lo, hi, alpha, P, start, C, steps):
    """The mode b̂ of h (:func:`_conditional`) by at most ``steps`` steps of Newton's method
    with step halving from ``start``, and the lower Cholesky factor C of −∇²h(b̂), written
    into ``C``; h is concave (:mod:`lmm_bayes.glmm`), so the mode is unique. Returns b̂ and
    h(b̂)."""
    q = start.shape[0]
    b, trial = start.copy(), np.empty(q)
    g, H, step = np.empty(q), np.empty((q, q)), np.empty(q)
    gt, Ht = np.empty(q), np.empty((q, q))
    value = _conditional(family, y, n, base, Z, lo, hi, alpha, P, b, g, H)
    for _ in range(steps):
        if not small_cholesky(H, C):
            break
        _solve(C, g, step)
        t, largest = 1.0, 0.0
        for r in range(q):
            largest = max(largest, abs(step[r]))
        while True:
            for r in range(q):
                trial[r] = b[r] + t * step[r]
            new = _conditional(family, y, n, base, Z, lo, hi, alpha, P, trial, gt, Ht)
            if new >= value - 1e-12 * abs(value) or t * largest < MIN_STEP:
                break
            t *= 0.5
        b[:], g[:], H[:] = trial, gt, Ht
        value = new
        if t * largest < NEWTON_TOLERANCE:
            break
    small_cholesky(H, C)
    return b, value


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _node(b_hat, C, z, out):
    """out = b̂ + C⁻ᵀz: a standard node moved to the conditional's mode and curvature."""
    q = z.shape[0]
    for r in range(q - 1, -1, -1):
        total = z[r]
        for c in range(r + 1, q):
            total -= C[c, r] * out[c]
        out[r] = total / C[r, r]
    for r in range(q):
        out[r] += b_hat[r]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _log_integrand(family, y, n, base, Z, lo, hi, alpha, P, b, scores):
    """log f(b) = Σ_j log p(y_j | base_j + z_jᵀb) − ½bᵀPb over rows lo..hi (the integrand
    of :func:`level_integral` up to its constants) and Σ_j ∂ log p(y_j | b)/∂log α; each
    row's ∂ log p/∂η is written into ``scores`` when it has a place per row."""
    q = b.shape[0]
    value, shape_score = 0.0, 0.0
    for r in range(q):
        for c in range(q):
            value -= 0.5 * b[r] * P[r, c] * b[c]
    for j in range(lo, hi):
        eta = base[j]
        for r in range(q):
            eta += Z[j, r] * b[r]
        v, s, _, shape = row_terms(family, y[j], n[j], eta, alpha)
        value += v
        shape_score += shape
        if scores.shape[0] > 0:
            scores[j - lo] = s
    return value, shape_score


@numba.njit(cache=True, nogil=True, error_model="numpy")
def level_integral(family, y, n, base, Z, lo, hi, alpha, P, log_det_P, start, nodes,
                   log_weights, gradient, score, moments):
    """log ∫ Π_j p(y_j | b) N(b; 0, Σ) db over one level (rows lo..hi) by adaptive
    Gauss–Hermite quadrature (Pinheiro & Bates 1995, *J. Comput. Graph. Stat.* 4: 12–35;
    Liu & Pierce 1994, *Biometrika* 81: 624–629):

    .. math::

        \\log |C^{-\\top}| + \\log \\sum_k \\tilde w_k f(\\hat b + C^{-\\top} z_k),

    f the integrand, CCᵀ = −∇² log f at its mode b̂, z_k the tensor-product nodes and
    w̃_k = w_k exp(|z_k|²/2) their weights for the standard normal. With ``gradient`` the
    normalised terms π_k ∝ w̃_k f(b_k) approximate p(b | y), and Fisher's identity
    ∂ log p(y)/∂θ = E[∂ log p(y, b)/∂θ | y] (Louis 1982) becomes Σ_k π_k ∂ log p(y, b_k)/∂θ:
    each row's E[∂ log p(y_j | η_j)/∂η_j] is added to ``score[j]`` and E[bbᵀ] to
    ``moments``. Returns the log integral and E[∂ log p(y | b)/∂log α]."""
    q, K = start.shape[0], log_weights.shape[0]
    C = np.zeros((q, q))
    b_hat, _ = conditional_mode(family, y, n, base, Z, lo, hi, alpha, P, start, C, MAX_NEWTON)
    rows = hi - lo
    terms = np.empty(K)
    scores = np.empty((K, rows if gradient else 0))
    shapes = np.empty(K)
    at = np.empty((K, q))
    for k in range(K):
        _node(b_hat, C, nodes[k], at[k])
        value, shapes[k] = _log_integrand(family, y, n, base, Z, lo, hi, alpha, P, at[k],
                                          scores[k])
        terms[k] = log_weights[k] + value
    top = terms.max()
    weights = np.exp(terms - top)
    total = weights.sum()
    log_integral = top + math.log(total) + 0.5 * log_det_P - 0.5 * q * LOG_2PI
    for r in range(q):
        log_integral -= math.log(C[r, r])
    shape_score = 0.0
    if gradient:
        weights /= total
        for k in range(K):
            shape_score += weights[k] * shapes[k]
            for j in range(rows):
                score[lo + j] += weights[k] * scores[k, j]
            for r in range(q):
                for c in range(q):
                    moments[r, c] += weights[k] * at[k, r] * at[k, c]
    return log_integral, shape_score


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _precision(x, q, correlated):
    """Σ⁻¹ and log|Σ⁻¹| at the covariance coordinates x; log|Σ⁻¹| = −∞ if Σ is not
    numerically positive definite."""
    sigma = factor_covariance(x, q, correlated)
    C = np.zeros((q, q))
    if not small_cholesky(sigma, C):
        return np.zeros((q, q)), -np.inf
    inverse = np.linalg.inv(C)
    log_det = 0.0
    for r in range(q):
        log_det -= 2.0 * math.log(C[r, r])
    return inverse.T @ inverse, log_det


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _state(x, unpacked):
    """What every level needs at θ = ``x``: the covariance coordinates' count, Σ⁻¹,
    log|Σ⁻¹|, α and each row's xᵀβ + o."""
    p, q, correlated, has_shape, offset, X = (unpacked[2], unpacked[3], unpacked[5],
                                              unpacked[7], unpacked[11], unpacked[12])
    nc = x.shape[0] - p - int(has_shape)
    P, log_det_P = _precision(x[:nc], q, correlated)
    alpha = math.exp(x[nc + p]) if has_shape else 0.0
    return nc, P, log_det_P, alpha, X @ x[nc:nc + p] + offset


@numba.njit(cache=True, nogil=True, error_model="numpy")
def log_posterior(x, buffer, gradient):
    """log p(θ | y) up to a constant, θ = (covariance coordinates, coefficients, log α), and
    its gradient (zeros without ``gradient``): Σ_ℓ of :func:`level_integral` plus the priors
    (:func:`lmm_bayes.covariance.factor_log_prior`, :func:`lmm_bayes.glmm.fixed_log_prior`).
    The gradient in Σ is Fisher's: G = ½Σ⁻¹(Σ_ℓ E[b_ℓb_ℓᵀ])Σ⁻¹ − (L/2)Σ⁻¹."""
    unpacked = _unpack(buffer)
    (family, L, p, q, _, correlated, eta, has_shape, starts, y, n, _offset, X, Z, kinds,
     params, cov_kinds, cov_params, nodes, log_weights, modes) = unpacked
    grad = np.zeros(x.shape[0])
    nc, P, log_det_P, alpha, base = _state(x, unpacked)
    if not np.isfinite(log_det_P):
        return -np.inf, grad
    a = x[nc:]
    score = np.zeros(y.shape[0])
    moments = np.zeros((q, q))
    total, shape_score = 0.0, 0.0
    for level in range(L):
        value, shape = level_integral(family, y, n, base, Z, starts[level], starts[level + 1],
                                      alpha, P, log_det_P, modes[level], nodes, log_weights,
                                      gradient, score, moments)
        total += value
        shape_score += shape
    prior_gradient = np.zeros(x.shape[0])
    value, slope = factor_log_prior(x[:nc], q, eta if correlated else 0.0, cov_kinds,
                                    cov_params)
    total += value + fixed_log_prior(a, kinds, params, p, has_shape, prior_gradient[nc:])
    if not gradient:
        return total, grad
    G = 0.5 * (P @ moments @ P) - 0.5 * L * P
    grad[:nc] = factor_chain(x[:nc], q, correlated, G) + slope
    grad[nc:nc + p] = X.T @ score
    if has_shape:
        grad[nc + p] = shape_score
    return total, grad + prior_gradient


@numba.cfunc(LOGP_SIGNATURE, cache=True, error_model="numpy")
def logp_cfunc(dim, z_, gradient_, logp_, buffer_):
    """nutpie's C entry point: log p(θ | y) in the whitened coordinates z
    (:func:`lmm_bayes.packing.store_whitened`)."""
    buffer = buffer_at(buffer_)
    lp, grad = log_posterior(whitened(numba.carray(z_, (dim,)), buffer), buffer, True)
    return store_whitened(lp, grad, gradient_, logp_, buffer)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def effect_draws(thetas, buffer, seeds, proposals, df):
    """One draw of every level's b from p(b | y, θ) at each row of ``thetas``, by
    importance resampling (Rubin 1988): ``proposals`` draws from a t_ν (ν = ``df``) at (one
    Newton step towards) the conditional mode with scale (−∇² log f)⁻¹ there, weighted by
    f/q, one kept with probability proportional to its weight. Row i uses the random stream
    seeded by ``seeds[i]``."""
    unpacked = _unpack(buffer)
    family, L, q, starts, y, n, Z = (unpacked[0], unpacked[1], unpacked[3], unpacked[8],
                                     unpacked[9], unpacked[10], unpacked[13])
    modes = unpacked[20]
    m = thetas.shape[0]
    out = np.zeros((m, L, q))
    C = np.zeros((q, q))
    candidates = np.empty((proposals, q))
    log_w = np.empty(proposals)
    no_scores = np.empty(0)
    z = np.empty(q)
    for i in range(m):
        np.random.seed(seeds[i])
        _, P, _, alpha, base = _state(thetas[i], unpacked)
        for level in range(L):
            lo, hi = starts[level], starts[level + 1]
            b_hat, _ = conditional_mode(family, y, n, base, Z, lo, hi, alpha, P, modes[level], C,
                                        DRAW_NEWTON_STEPS)
            for k in range(proposals):
                radius = math.sqrt(np.random.chisquare(df) / df)
                squared = 0.0
                for r in range(q):
                    z[r] = np.random.standard_normal()
                    squared += z[r] * z[r]
                    z[r] /= radius
                _node(b_hat, C, z, candidates[k])
                log_q = -0.5 * (df + q) * math.log1p(squared / (radius * radius) / df)
                value, _ = _log_integrand(family, y, n, base, Z, lo, hi, alpha, P,
                                          candidates[k], no_scores)
                log_w[k] = value - log_q
            weights = np.exp(log_w - log_w.max())
            u = np.random.random() * weights.sum()
            chosen, running = proposals - 1, 0.0
            for k in range(proposals):
                running += weights[k]
                if u < running:
                    chosen = k
                    break
            out[i, level] = candidates[chosen]
    return out


@numba.njit(cache=True, nogil=True, error_model="numpy")
def conditional_modes(x, buffer):
    """Every level's conditional mode b̂ at θ = ``x`` (L, q)."""
    unpacked = _unpack(buffer)
    family, L, q, starts, y, n, Z = (unpacked[0], unpacked[1], unpacked[3], unpacked[8],
                                     unpacked[9], unpacked[10], unpacked[13])
    modes = unpacked[20]
    _, P, _, alpha, base = _state(x, unpacked)
    out = np.zeros((L, q))
    C = np.zeros((q, q))
    for level in range(L):
        out[level] = conditional_mode(family, y, n, base, Z, starts[level], starts[level + 1],
                                      alpha, P, modes[level], C, MAX_NEWTON)[0]
    return out
