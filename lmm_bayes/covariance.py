"""The random-effect covariance matrices of a Gaussian mixed model in unconstrained
coordinates, with their priors and the chain rule from ∂ℓ/∂Σ to those coordinates.

Grouping factor k with q varying terms has Σ_k = diag(s) Ω diag(s): the SDs s (each with its
own prior) and, for correlated terms (``|`` with q ≥ 2), the correlation Ω with the LKJ(η)
prior (Lewandowski, Kurowicka & Joe 2009, *J. Multivariate Anal.* 100: 1989–2001);
independent terms (``||``) have Ω = I. The coordinates of factor k are

* log s_j for each term j (log-Jacobian log s_j);
* for correlated terms, z_ij = atanh w_ij (i > j, row by row) of the canonical partial
  correlations w_ij, which give Ω's Cholesky factor L row by row (LKJ 2009, section 3.2;
  the Stan reference manual's correlation-matrix transform):

.. math::

    L_{ij} = w_{ij} \\sqrt{\\textstyle\\prod_{k<j} (1 - w_{ik}^2)},\\qquad
    L_{ii} = \\sqrt{\\textstyle\\prod_{k<i} (1 - w_{ik}^2)}.

Under LKJ(η) the partial correlations of column j are independent Beta(β_j, β_j) on
(−1, 1) with β_j = η + (q − 2 − j)/2 (LKJ 2009, section 3.2), so with the tanh Jacobian
the log density of the z's is Σ_{i>j} β_j log(1 − w_ij²) up to a constant; for q = 2 that
is η log(1 − r²), as in :mod:`lmm_bayes.kernel`.

The chain rule: an algebra returns G_k with dℓ = tr(G_k dΣ_k). Then ∂ℓ/∂log s_j = 2(GΣ)_jj,
and with H = 2 diag(s) G diag(s) L the gradient with respect to L, the recursion above
gives ∂ℓ/∂z_im = H_im (1 − w_im²) √(Π_{k<m}(1 − w_ik²)) − w_im Σ_{m<j≤i} H_ij L_ij.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from . import names
from .design import GroupingFactor
from .kernel import prior_rows, prior_term
from .packing import field, int_field
from .priors import PriorSet

__all__ = ["CovarianceLayout", "FactorCovariance", "cholesky_chain", "covariance_terms",
           "factor_covariances", "packed_terms"]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def correlation_factor(x, q, correlated):
    """Ω's lower Cholesky factor L from a factor's coordinates ``x`` (module docstring);
    the identity for independent terms."""
    L = np.zeros((q, q))
    for i in range(q):
        remainder = 1.0
        for j in range(i):
            w = math.tanh(x[q + i * (i - 1) // 2 + j]) if correlated else 0.0
            L[i, j] = w * math.sqrt(remainder)
            remainder *= 1.0 - w * w
        L[i, i] = math.sqrt(remainder)
    return L


@numba.njit(cache=True, nogil=True, error_model="numpy")
def factor_covariance(x, q, correlated):
    """Σ = diag(s) L Lᵀ diag(s)."""
    sL = correlation_factor(x, q, correlated)
    for i in range(q):
        sL[i] *= math.exp(x[i])
    return sL @ sL.T


@numba.njit(cache=True, nogil=True, error_model="numpy")
def factor_log_prior(x, q, eta, kinds, params):
    """Σ_j [log p(s_j) + log s_j] + Σ_{i>j} β_j log(1 − w_ij²) (module docstring; η ≤ 0:
    independent terms) and its gradient."""
    gradient = np.zeros(x.shape[0])
    total = 0.0
    for j in range(q):
        s = math.exp(x[j])
        value, slope = prior_term(s, kinds[j], params[j, 0], params[j, 1], params[j, 2])
        total += value + x[j]
        gradient[j] = slope * s + 1.0
    if eta > 0.0:
        for i in range(q):
            for j in range(i):
                at = q + i * (i - 1) // 2 + j
                w = math.tanh(x[at])
                beta = eta + (q - 2 - j) / 2.0
                total += beta * math.log1p(-w * w)
                gradient[at] = -2.0 * beta * w
    return total, gradient


@numba.njit(cache=True, nogil=True, error_model="numpy")
def factor_chain(x, q, correlated, G):
    """∂ℓ/∂x from G = ∂ℓ/∂Σ (dℓ = tr(G dΣ), G symmetric), by the module's chain rule."""
    L = correlation_factor(x, q, correlated)
    s = np.exp(x[:q])
    sL = L.copy()
    for i in range(q):
        sL[i] *= s[i]
    GS = G @ (sL @ sL.T)
    gradient = np.zeros(x.shape[0])
    for j in range(q):
        gradient[j] = 2.0 * GS[j, j]
    if correlated:
        correlation_chain(x, q, L, 2.0 * ((s.reshape((q, 1)) * G * s.reshape((1, q))) @ L),
                          gradient)
    return gradient


@numba.njit(cache=True, nogil=True, error_model="numpy")
def cholesky_chain(x, q, correlated, D):
    """∂ℓ/∂x from D = ∂ℓ/∂C, C = diag(s) L the covariance's Cholesky factor (lower; the
    non-centred effects b = Cu): ∂ℓ/∂log s_i = Σ_j D_ij C_ij, and ∂ℓ/∂L = diag(s) D
    through the partial correlations (module docstring)."""
    L = correlation_factor(x, q, correlated)
    gradient = np.zeros(x.shape[0])
    H = np.zeros((q, q))
    for i in range(q):
        s = math.exp(x[i])
        for j in range(i + 1):
            gradient[i] += D[i, j] * s * L[i, j]
            H[i, j] = s * D[i, j]
    if correlated:
        correlation_chain(x, q, L, H, gradient)
    return gradient


@numba.njit(cache=True, nogil=True, error_model="numpy")
def correlation_chain(x, q, L, H, gradient):
    """Write ∂ℓ/∂z of the partial correlations into ``gradient`` from H = ∂ℓ/∂L (module
    docstring)."""
    for i in range(q):
        remainder = 1.0
        for m in range(i):
            w = math.tanh(x[q + i * (i - 1) // 2 + m])
            tail = 0.0
            for j in range(m + 1, i + 1):
                tail += H[i, j] * L[i, j]
            gradient[q + i * (i - 1) // 2 + m] = (H[i, m] * (1.0 - w * w) * math.sqrt(remainder)
                                                  - w * tail)
            remainder *= 1.0 - w * w


@dataclass(frozen=True)
class FactorCovariance:
    """One grouping factor's covariance Σ = diag(s) Ω diag(s) in unconstrained coordinates
    (module docstring).

    Attributes
    ----------
    group : str
    terms : tuple of str
    eta : float or None
        The LKJ shape when the terms are correlated, else None (Ω = I).
    kinds, params : ndarray
        The SD priors as rows of :func:`lmm_bayes.kernel.prior_rows`.
    n_levels : int
    """

    group: str
    terms: tuple[str, ...]
    eta: float | None
    kinds: np.ndarray
    params: np.ndarray
    n_levels: int

    @property
    def q(self) -> int:
        return len(self.terms)

    @property
    def correlated(self) -> bool:
        return self.eta is not None and self.q > 1

    @property
    def n_dim(self) -> int:
        """Coordinates: q log-SDs and, when correlated, q(q − 1)/2 partial correlations."""
        return self.q + (self.q * (self.q - 1) // 2 if self.correlated else 0)

    def correlation_factor(self, x: np.ndarray) -> np.ndarray:
        return correlation_factor(np.asarray(x, dtype=float), self.q, self.correlated)

    def covariance(self, x: np.ndarray) -> np.ndarray:
        return factor_covariance(np.asarray(x, dtype=float), self.q, self.correlated)

    def log_prior(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        eta = self.eta if self.correlated else 0.0
        return factor_log_prior(np.asarray(x, dtype=float), self.q, eta, self.kinds,
                                self.params)

    def chain(self, x: np.ndarray, G: np.ndarray) -> np.ndarray:
        return factor_chain(np.asarray(x, dtype=float), self.q, self.correlated,
                            np.asarray(G, dtype=float))

    def start(self, sd: float) -> np.ndarray:
        """Every SD at ``sd``, no correlation."""
        return np.concatenate([np.full(self.q, np.log(sd)), np.zeros(self.n_dim - self.q)])

    def public(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """``sd_<g>`` (..., q) and, when correlated, ``corr_<g>`` (..., pairs) at draws
        ``x`` (..., n_dim)."""
        found = {names.sd(self.group): np.exp(x[..., :self.q])}
        if self.correlated:
            flat = x.reshape(-1, self.n_dim)
            rows, columns = names.pair_positions(self.q)
            factors = [self.correlation_factor(v) for v in flat]
            omega = np.array([L @ L.T for L in factors])
            found[names.correlation(self.group)] = omega[:, rows, columns].reshape(
                x.shape[:-1] + (len(rows),))
        return found


def factor_covariances(groups: tuple[GroupingFactor, ...], priors: PriorSet
                       ) -> tuple[FactorCovariance, ...]:
    """Each grouping factor's :class:`FactorCovariance` with its priors."""
    found = []
    for g in groups:
        kinds, params = prior_rows([priors.sd[g.name][t] for t in g.terms])
        found.append(FactorCovariance(g.name, g.terms, priors.eta.get(g.name), kinds, params,
                                      g.n_levels))
    return tuple(found)


@dataclass(frozen=True)
class CovarianceLayout:
    """Every factor's covariance as arrays, for compiled code (:func:`covariance_terms`).

    offsets : each factor's first coordinate (K + 1); q : its terms; eta : its LKJ shape
    (0 for independent terms); first_prior : its first row of kinds/params (K + 1);
    n_levels : its levels.
    """

    offsets: np.ndarray
    q: np.ndarray
    eta: np.ndarray
    first_prior: np.ndarray
    kinds: np.ndarray
    params: np.ndarray
    n_levels: np.ndarray

    @classmethod
    def of(cls, covariances: tuple[FactorCovariance, ...]) -> CovarianceLayout:
        def ends(sizes):
            return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)

        return cls(ends([c.n_dim for c in covariances]),
                   np.array([c.q for c in covariances], dtype=np.int64),
                   np.array([c.eta if c.correlated else 0.0 for c in covariances]),
                   ends([c.q for c in covariances]),
                   np.concatenate([c.kinds for c in covariances]).astype(np.int64),
                   np.concatenate([c.params for c in covariances]),
                   np.array([c.n_levels for c in covariances], dtype=float))

    def fields(self) -> list[np.ndarray]:
        return [self.offsets, self.q, self.eta, self.first_prior, self.kinds, self.params,
                self.n_levels]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def covariance_terms(x, offsets, q, eta, first_prior, kinds, params, n_levels):
    """Every Σ_k⁻¹ (padded to the largest q), Σ_k L_k log|Σ_k|, and the covariances' log
    prior with its gradient (zeros beyond the covariance coordinates); a log determinant of
    −∞ when a Σ_k is not numerically positive definite."""
    K = q.shape[0]
    q_max = np.max(q)
    inverse = np.zeros((K, q_max, q_max))
    log_det, log_prior = 0.0, 0.0
    gradient = np.zeros(x.shape[0])
    for k in range(K):
        xk = x[offsets[k]:offsets[k + 1]]
        n = q[k]
        L = correlation_factor(xk, n, eta[k] > 0.0)
        for i in range(n):
            L[i] *= math.exp(xk[i])                     # Σ = (sL)(sL)ᵀ
            if not L[i, i] > 0.0 or not math.isfinite(L[i, i]):
                return inverse, -np.inf, -np.inf, gradient
            log_det += 2.0 * n_levels[k] * math.log(L[i, i])
        L_inv = np.linalg.inv(L)
        inverse[k, :n, :n] = L_inv.T @ L_inv
        rows = slice(first_prior[k], first_prior[k + 1])
        value, slope = factor_log_prior(xk, n, eta[k], kinds[rows], params[rows])
        log_prior += value
        gradient[offsets[k]:offsets[k + 1]] = slope
    return inverse, log_det, log_prior, gradient


@numba.njit(cache=True, nogil=True, error_model="numpy")
def packed_terms(x, buffer, first):
    """:func:`covariance_terms` with the layout packed (:func:`lmm_bayes.packing.pack`) as
    the fields ``first``.. of ``buffer``, in the order of :meth:`CovarianceLayout.fields`."""
    return covariance_terms(
        x, int_field(buffer, first), int_field(buffer, first + 1), field(buffer, first + 2),
        int_field(buffer, first + 3), int_field(buffer, first + 4),
        field(buffer, first + 5).reshape((-1, 3)), field(buffer, first + 6))
