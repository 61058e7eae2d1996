"""The compiled kernels of :mod:`lmm_bayes.individual_blocks`: log p(y | Σ, ρ) with its
gradient, the residual prior, exact draws of (β, b), and log p(θ | y) over θ with nutpie's C
entry points, all reading one packed vector (:mod:`lmm_bayes.packing`). The formulas are in
:mod:`lmm_bayes.individual_blocks`'s docstring. Per-level blocks are small: plain loops with
preallocated scratch, LAPACK only for the Cholesky factor of larger levels
(:func:`lmm_bayes.tiny.factorise`)."""

from __future__ import annotations

import math
from typing import NamedTuple

import numba
import numpy as np

from .covariance import factor_chain, factor_covariance, packed_terms
from .packing import (
    LOGP_SIGNATURE,
    buffer_at,
    field,
    int_field,
    store_whitened,
    whitened,
)
from .sigma_model import sigma_prior
from .tiny import backward, backward_rows, factorise, forward, forward_rows, small_cholesky

__all__ = ["Blocks", "draws", "log_likelihood", "log_posterior",
           "logp_cfunc", "residual_prior", "unpack"]


class Blocks(NamedTuple):
    """What the compiled functions read, unpacked from ``IndividualBlocks.buffer``
    (:mod:`lmm_bayes.individual_blocks`): the rows sorted by level, individual and time.

    start : the first row of each level, and n at the end.
    data : [X (centred), y (its mean out), Z], n × (p + 1 + q).
    individual, time : each row's serial individual (its own row without a structure) and
        time since the individual's first row.
    log_sd : X_σ (centred columns; a column of ones for one σ), n × k.
    mean, precision : the fixed effects' prior means (centred y) and precisions.
    sigma_priors : per coefficient of log σ (or σ itself), kind, ν, μ, scale of
        :func:`lmm_bayes.kernel.prior_term` and the normalising constant it leaves out.
    phi_prior : a, b and log B(a, b) of u's beta prior.
    xbar, intercept : the column means and which column is the intercept (user's scale).
    p, q : fixed effects and varying terms; serial : a structure; low : φ's lower end;
    shift : y's mean; sigma_model : a sigma formula (else ρ₀ = log σ).
    """

    start: np.ndarray
    data: np.ndarray
    individual: np.ndarray
    time: np.ndarray
    log_sd: np.ndarray
    mean: np.ndarray
    precision: np.ndarray
    sigma_priors: np.ndarray
    phi_prior: np.ndarray
    xbar: np.ndarray
    intercept: np.ndarray
    p: int
    q: int
    serial: bool
    low: float
    shift: float
    sigma_model: bool


_SCALARS, _LAYOUT = 11, 12  # then the mode and the factor (lmm_bayes.packing.whitened)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def unpack(buffer):
    """The :class:`Blocks` packed by ``IndividualBlocks.buffer``."""
    s = field(buffer, _SCALARS)
    p, q = int(s[0]), int(s[1])
    n = field(buffer, 3).shape[0]
    return Blocks(int_field(buffer, 0), field(buffer, 1).reshape((n, p + 1 + q)),
                  int_field(buffer, 2), field(buffer, 3), field(buffer, 4).reshape((n, -1)),
                  field(buffer, 5), field(buffer, 6), field(buffer, 7).reshape((-1, 5)),
                  field(buffer, 8), field(buffer, 9), field(buffer, 10), p, q, s[2] > 0.0,
                  s[3], s[4], s[5] > 0.0)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _log_expit(x):
    """log(1/(1 + e^−x)) without overflow."""
    return -math.log1p(math.exp(-x)) if x >= 0.0 else x - math.log1p(math.exp(x))


@numba.njit(cache=True, nogil=True, error_model="numpy")
def residual_prior(b, rho, gradient):
    """log p(ρ) (``IndividualBlocks.residual_prior``); its gradient is written to
    ``gradient`` (length n_residual)."""
    value = sigma_prior(b.sigma_priors, b.sigma_model, rho, gradient)
    if b.serial:                          # beta(a, b) on u = expit(ρ_φ), Jacobian u(1 − u)
        a, c, log_beta = b.phi_prior[0], b.phi_prior[1], b.phi_prior[2]
        r = rho[rho.shape[0] - 1]
        value += a * _log_expit(r) + c * _log_expit(-r) - log_beta
        gradient[rho.shape[0] - 1] = a - (a + c) * math.exp(_log_expit(r))
    return value


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _residual_scale(b, rho):
    """Each sorted row's residual SD and φ (0 without a structure)."""
    k = b.log_sd.shape[1]
    sd = np.empty(b.log_sd.shape[0])
    for j in range(sd.shape[0]):
        total = 0.0
        for t in range(k):
            total += b.log_sd[j, t] * rho[t]
        sd[j] = math.exp(total)
    if not b.serial:
        return sd, 0.0
    return sd, b.low + (1.0 - b.low) * math.exp(_log_expit(rho[k]))


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _power(phi, log_abs_phi, lag):
    """φ^lag and its derivative lag φ^(lag − 1), for lag > 0 (a whole number when φ < 0:
    ``ar1`` visits); ``log_abs_phi`` = log|φ|."""
    if phi == 0.0:
        return 0.0, 1.0 if lag == 1.0 else 0.0
    value = math.exp(lag * log_abs_phi)
    if phi < 0.0 and int(lag) % 2 == 1:
        value = -value
    return value, lag * value / phi


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _residual_blocks(b, lo, sd, phi, R, dR):
    """R ← R_i = diag(σ) C(φ) diag(σ) of the rows lo.. lo + m − 1 (R m × m) and dR ← ∂R_i/∂φ;
    an individual's rows are consecutive, in time order, so that φ^(t_k − t_j) is the
    product of the gaps' powers φ^(t_l − t_(l−1)), j < l ≤ k (one exp per row; whole-number
    gaps when φ < 0)."""
    m = R.shape[0]
    R[:] = 0.0
    dR[:] = 0.0
    log_abs_phi = math.log(abs(phi)) if phi != 0.0 else 0.0
    for j in range(m):
        R[j, j] = sd[lo + j] ** 2
        if j > 0:       # the gap's power φ^(t_j − t_(j−1)), kept in dR's unused diagonal
            dR[j, j] = _power(phi, log_abs_phi, b.time[lo + j] - b.time[lo + j - 1])[0]
    for j in range(m):
        value = 1.0
        k = j + 1
        while k < m and b.individual[lo + k] == b.individual[lo + j]:
            scale = sd[lo + j] * sd[lo + k]
            lag = b.time[lo + k] - b.time[lo + j]
            if phi == 0.0:
                value, slope = _power(phi, log_abs_phi, lag)
            else:
                value *= dR[k, k]
                slope = lag * value / phi
            R[j, k] = R[k, j] = scale * value
            dR[j, k] = dR[k, j] = scale * slope
            k += 1
    for j in range(m):
        dR[j, j] = 0.0


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _inverse_trace(L, D, T):
    """tr(V⁻¹D) = Σ_k ‖row k of L⁻¹‖²_D from the factor L of V, with T (m × m) as scratch."""
    m = L.shape[0]
    for i in range(m):                                             # T = L⁻¹ (lower)
        for c in range(i + 1):
            total = 1.0 if i == c else 0.0
            for k in range(c, i):
                total -= L[i, k] * T[k, c]
            T[i, c] = total / L[i, i]
    total = 0.0
    for k in range(m):                              # D symmetric: the lower triangle twice
        for j in range(k + 1):
            row = 0.5 * D[j, j] * T[k, j]
            for c in range(j):
                row += D[j, c] * T[k, c]
            total += T[k, j] * row
    return 2.0 * total


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _widest(b):
    widest = 0
    for i in range(b.start.shape[0] - 1):
        widest = max(widest, b.start[i + 1] - b.start[i])
    return widest


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _square(flat, m):
    """An m × m C-contiguous view of the scratch vector ``flat``."""
    return flat[:m * m].reshape((m, m))


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _level_solves(b, sigma, sd, phi, gradient):
    """Per level, V_i = Z_iΣZ_iᵀ + R_i, its Cholesky factor and V_i⁻¹[X_i, y_i, Z_i].

    Returns
    -------
    ok : bool
        False when some V_i is not numerically positive definite.
    log_det : float
        Σ_i log|V_i|.
    solved : ndarray (n, p + 1 + q)
        V_i⁻¹[X_i, y_i, Z_i], the levels stacked.
    applied : ndarray (n, 2(p + 1))
        R_i V_i⁻¹[X_i, y_i] and (with a structure) ∂R_i/∂φ V_i⁻¹[X_i, y_i] (with
        ``gradient``; zeros without).
    trace : float
        Σ_i tr(V_i⁻¹ ∂R_i/∂φ) (with a structure and ``gradient``).
    """
    data, p, q = b.data, b.p, b.q
    w = p + 1
    solved = data.copy()
    applied = np.zeros((data.shape[0], 2 * w))
    widest = _widest(b)
    R_, dR_ = np.empty(widest * widest), np.empty(widest * widest)
    V_, T_ = np.empty(widest * widest), np.empty(widest * widest)
    ZS, ZVB = np.empty((widest, q)), np.empty((q, w))
    log_det, trace = 0.0, 0.0
    for i in range(b.start.shape[0] - 1):
        lo, hi = b.start[i], b.start[i + 1]
        m = hi - lo
        R, dR, V = _square(R_, m), _square(dR_, m), _square(V_, m)
        _residual_blocks(b, lo, sd, phi, R, dR)
        for j in range(m):
            for a in range(q):
                total = 0.0
                for c in range(q):
                    total += data[lo + j, w + c] * sigma[c, a]
                ZS[j, a] = total
        for j in range(m):
            for k in range(j + 1):
                total = R[j, k]
                for a in range(q):
                    total += ZS[j, a] * data[lo + k, w + a]
                V[j, k] = V[k, j] = total
        if not factorise(V):
            return False, 0.0, solved, applied, 0.0
        for j in range(m):
            log_det += 2.0 * math.log(V[j, j])
        block = solved[lo:hi]
        forward_rows(V, block)
        backward_rows(V, block)
        if not gradient:
            continue
        for a in range(q):                                    # ZᵀV⁻¹[X, y]
            for c in range(w):
                total = 0.0
                for j in range(m):
                    total += data[lo + j, w + a] * block[j, c]
                ZVB[a, c] = total
        for j in range(m):                                    # RV⁻¹ = I − ZΣZᵀV⁻¹
            for c in range(w):
                total = data[lo + j, c]
                for a in range(q):
                    total -= ZS[j, a] * ZVB[a, c]
                applied[lo + j, c] = total
        if b.serial:
            for j in range(m):
                for k in range(m):
                    dr = dR[j, k]
                    if dr != 0.0:
                        for c in range(w):
                            applied[lo + j, w + c] += dr * block[k, c]
            trace += _inverse_trace(V, dR, _square(T_, m))
    return True, log_det, solved, applied, trace


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _fixed(b, solved):
    """β integrated out: the Cholesky factor of A = Σ_i X_iᵀV_i⁻¹X_i + P⁻¹, β̂ = A⁻¹h,
    log|A| and the quadratic form yᵀV⁻¹y + mᵀP⁻¹m − hᵀβ̂ (module docstring); False when A
    is not positive definite."""
    data, p = b.data, b.p
    A = np.zeros((p, p))
    h = b.precision * b.mean
    quadratic = 0.0
    for j in range(data.shape[0]):
        quadratic += data[j, p] * solved[j, p]
        for c in range(p):
            h[c] += data[j, c] * solved[j, p]
            for d in range(c + 1):
                A[c, d] += data[j, c] * solved[j, d]
    for c in range(p):
        A[c, c] += b.precision[c]
        quadratic += b.precision[c] * b.mean[c] ** 2
    if not small_cholesky(A, A):
        return False, A, h, 0.0, 0.0
    beta = forward(A, h)
    log_det = 0.0
    for c in range(p):
        log_det += 2.0 * math.log(A[c, c])
        quadratic -= beta[c] * beta[c]                          # hᵀA⁻¹h = ‖L⁻¹h‖²
    backward(A, beta)
    return True, A, beta, log_det, quadratic


@numba.njit(cache=True, nogil=True, error_model="numpy")
def log_likelihood(b, sigma, rho, gradient):
    """log p(y | Σ, ρ), G and ∂ℓ/∂ρ (``IndividualBlocks.log_likelihood``)."""
    data, p, q = b.data, b.p, b.q
    w = p + 1
    k = b.log_sd.shape[1]
    G = np.zeros((q, q))
    d_rho = np.zeros(k + int(b.serial))
    sd, phi = _residual_scale(b, rho)
    for j in range(sd.shape[0]):
        if not (sd[j] > 0.0 and math.isfinite(sd[j])):
            return -np.inf, G, d_rho
    for c in range(q):
        for a in range(q):
            if not math.isfinite(sigma[c, a]):
                return -np.inf, G, d_rho
    ok, log_det, solved, applied, trace = _level_solves(b, sigma, sd, phi, gradient)
    if not ok:
        return -np.inf, G, d_rho
    ok, L_A, beta, log_det_A, quadratic = _fixed(b, solved)
    if not ok:
        return -np.inf, G, d_rho
    log_det_P = 0.0
    for c in range(p):
        log_det_P -= math.log(b.precision[c])
    value = -0.5 * (data.shape[0] * math.log(2.0 * math.pi) + log_det + log_det_P + log_det_A
                    + quadratic)
    if not math.isfinite(value):
        return -np.inf, G, d_rho
    if not gradient:
        return value, G, d_rho
    A_inv = _inverse(L_A)
    u, ba, zs = np.empty(q), np.empty(p), np.empty(q)
    M, MA = np.empty((q, p)), np.empty((q, p))
    d_phi = 0.0
    for i in range(b.start.shape[0] - 1):
        u[:] = 0.0
        M[:] = 0.0
        for j in range(b.start[i], b.start[i + 1]):
            a_j, R_a, dR_a = solved[j, p], applied[j, p], applied[j, w + p]
            for c in range(p):
                a_j -= solved[j, c] * beta[c]
                R_a -= applied[j, c] * beta[c]
                dR_a -= applied[j, w + c] * beta[c]
                total = 0.0
                for d in range(p):
                    total += solved[j, d] * A_inv[d, c]
                ba[c] = total                                  # (V⁻¹X A⁻¹)_j
            row = a_j * R_a - 1.0                              # diag(W R) = … − diag(V⁻¹R)
            for a in range(q):
                total = 0.0
                for c in range(q):
                    total += data[j, w + c] * sigma[c, a]
                zs[a] = total
                row += solved[j, w + a] * zs[a]                # V⁻¹R = I − V⁻¹ZΣZᵀ
                u[a] += data[j, w + a] * a_j
                for c in range(q):
                    G[a, c] -= data[j, w + a] * solved[j, w + c]
                for c in range(p):
                    M[a, c] += data[j, w + a] * solved[j, c]
            for c in range(p):
                row += ba[c] * applied[j, c]
                d_phi += ba[c] * applied[j, w + c]
            d_phi += a_j * dR_a
            for t in range(k):
                d_rho[t] += b.log_sd[j, t] * row
        for a in range(q):                                     # + u uᵀ + M A⁻¹ Mᵀ
            for c in range(p):
                total = 0.0
                for d in range(p):
                    total += M[a, d] * A_inv[d, c]
                MA[a, c] = total
        for a in range(q):
            for c in range(q):
                total = u[a] * u[c]
                for d in range(p):
                    total += MA[a, d] * M[c, d]
                G[a, c] += total
    for a in range(q):
        for c in range(a + 1):
            G[a, c] = G[c, a] = 0.25 * (G[a, c] + G[c, a])
    if b.serial:
        unit = (phi - b.low) / (1.0 - b.low)
        d_rho[k] = 0.5 * (d_phi - trace) * (1.0 - b.low) * unit * (1.0 - unit)
    return value, G, d_rho


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _inverse(L):
    """(LLᵀ)⁻¹ from the lower factor L (tiny)."""
    n = L.shape[0]
    out = np.eye(n)
    forward_rows(L, out)                                       # L⁻¹
    result = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            total = 0.0
            for k in range(max(i, j), n):
                total += out[k, i] * out[k, j]
            result[i, j] = total
    return result


@numba.njit(cache=True, nogil=True, error_model="numpy")
def draw(b, sigma, rho, normals):
    """(β on the user's scale, b flattened) of ``IndividualBlocks.draw``; NaN when a
    matrix is not positive definite."""
    data, p, q = b.data, b.p, b.q
    w = p + 1
    levels = b.start.shape[0] - 1
    out = np.full(p + levels * q, np.nan)
    sd, phi = _residual_scale(b, rho)
    ok, _, solved, _, _ = _level_solves(b, sigma, sd, phi, False)
    if not ok:
        return out
    ok, L_A, beta, _, _ = _fixed(b, solved)
    L_S = np.empty((q, q))
    if not ok or not small_cholesky(sigma, L_S):
        return out
    z = normals[:p].copy()
    backward(L_A, z)
    beta += z
    sigma_inverse = _inverse(L_S)
    widest = _widest(b)
    R_, dR_ = np.empty(widest * widest), np.empty(widest * widest)
    right = np.empty((widest, q + 1))
    K = np.empty((q, q))
    centre = np.empty(q)
    for i in range(levels):
        lo, hi = b.start[i], b.start[i + 1]
        m = hi - lo
        R, dR = _square(R_, m), _square(dR_, m)
        _residual_blocks(b, lo, sd, phi, R, dR)
        if not factorise(R):
            return out
        white = right[:m]
        for j in range(m):
            for a in range(q):
                white[j, a] = data[lo + j, w + a]
            white[j, q] = data[lo + j, p]
            for c in range(p):
                white[j, q] -= data[lo + j, c] * beta[c]
        forward_rows(R, white)                                 # L_R⁻¹[Z_i, y_i − X_iβ]
        for a in range(q):
            for c in range(q + 1):
                total = sigma_inverse[a, c] if c < q else 0.0
                for j in range(m):
                    total += white[j, a] * white[j, c]
                if c < q:
                    K[a, c] = total
                else:
                    centre[a] = total
        if not small_cholesky(K, K):
            return out
        effect = forward(K, centre) + normals[p + i * q:p + (i + 1) * q]
        backward(K, effect)
        out[p + i * q:p + (i + 1) * q] = effect
    out[:p] = beta
    if p:
        total = 0.0
        for c in range(p):
            total += b.xbar[c] * beta[c]
        for c in range(p):
            out[c] += b.intercept[c] * (b.shift - total)           # β₀ = α − x̄ᵀβ₁ + ȳ
    return out


@numba.njit(cache=True, nogil=True, error_model="numpy")
def log_posterior(x, buffer, gradient):
    """log p(θ | y) and its gradient: the covariance's prior (:mod:`lmm_bayes.covariance`),
    the residual prior, the integrated likelihood, and the chain rule from G."""
    b = unpack(buffer)
    offsets, q, eta = int_field(buffer, _LAYOUT), int_field(buffer, _LAYOUT + 1), field(
        buffer, _LAYOUT + 2)
    _, log_det, log_prior, grad = packed_terms(x, buffer, _LAYOUT)
    if not np.isfinite(log_det):
        return -np.inf, grad
    c = offsets[1]
    xs = x[:c]
    rho = x[c:]
    value, G, d_rho = log_likelihood(b, factor_covariance(xs, q[0], eta[0] > 0.0), rho,
                                      gradient)
    if not np.isfinite(value):
        return -np.inf, grad
    d_prior = np.zeros(rho.shape[0])
    value += log_prior + residual_prior(b, rho, d_prior)
    for t in range(rho.shape[0]):
        grad[c + t] += d_prior[t] + d_rho[t]
    if gradient:
        grad[:c] += factor_chain(xs, q[0], eta[0] > 0.0, G)
    return value, grad


@numba.cfunc(LOGP_SIGNATURE, cache=True, error_model="numpy")
def logp_cfunc(dim, z_, gradient_, logp_, buffer_):
    """nutpie's C entry point: log p(θ | y) in the whitened coordinates z
    (:func:`lmm_bayes.packing.store_whitened`)."""
    buffer = buffer_at(buffer_)
    lp, grad = log_posterior(whitened(numba.carray(z_, (dim,)), buffer), buffer, True)
    return store_whitened(lp, grad, gradient_, logp_, buffer)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def draws(thetas, buffer, normals):
    """One draw of (β, b) (:func:`draw`) at each row of ``thetas``."""
    b = unpack(buffer)
    offsets, q, eta = int_field(buffer, _LAYOUT), int_field(buffer, _LAYOUT + 1), field(
        buffer, _LAYOUT + 2)
    c = offsets[1]
    out = np.empty((thetas.shape[0], b.p + (b.start.shape[0] - 1) * b.q))
    for i in range(thetas.shape[0]):
        sigma = factor_covariance(thetas[i, :c], q[0], eta[0] > 0.0)
        out[i] = draw(b, sigma, thetas[i, c:], normals[i])
    return out
