"""Dense linear algebra on tiny blocks in plain loops, for compiled per-level work: numba's
``@``, ``np.dot`` and ``np.linalg`` call BLAS/LAPACK, whose overhead (microseconds a call)
dominates on blocks of a few rows. Lower-triangular factors are read from the lower triangle
of C-ordered arrays; their upper triangle is ignored."""

from __future__ import annotations

import math

import numba

from .collapsed import cholesky

__all__ = ["LAPACK_ROWS", "backward", "backward_rows", "factorise", "forward", "forward_columns",
           "forward_rows", "small_cholesky"]

LAPACK_ROWS = 8  # larger blocks are factorised by LAPACK (collapsed.cholesky)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def small_cholesky(D, L):
    """L (q × q, lower) with D = LLᵀ by the textbook recursion (no LAPACK call); False if D
    is not positive definite. ``L`` may be ``D`` itself (its upper triangle is then zeroed)."""
    q = D.shape[0]
    for i in range(q):
        for j in range(i + 1):
            total = D[i, j]
            for k in range(j):
                total -= L[i, k] * L[j, k]
            if i == j:
                if not total > 0.0:
                    return False
                L[i, i] = math.sqrt(total)
            else:
                L[i, j] = total / L[j, j]
        for j in range(i + 1, q):
            L[i, j] = 0.0
    return True


@numba.njit(cache=True, nogil=True, error_model="numpy")
def factorise(V):
    """V's lower triangle ← its Cholesky factor, in loops for up to :data:`LAPACK_ROWS` rows,
    by LAPACK above (V C-contiguous, symmetric); False if V is not positive definite."""
    if V.shape[0] <= LAPACK_ROWS:
        return small_cholesky(V, V)
    return cholesky(V)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def forward(L, b):
    """L⁻¹b (a new vector)."""
    out = b.copy()
    for i in range(out.shape[0]):
        total = out[i]
        for k in range(i):
            total -= L[i, k] * out[k]
        out[i] = total / L[i, i]
    return out


@numba.njit(cache=True, nogil=True, error_model="numpy")
def backward(L, v):
    """v ← L⁻ᵀv in place."""
    for i in range(L.shape[0] - 1, -1, -1):
        v[i] /= L[i, i]
        for k in range(i):
            v[k] -= L[i, k] * v[i]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def forward_columns(L, M):
    """M ← L⁻¹M in place, column by column (M q × c with few rows)."""
    for x in range(M.shape[1]):
        for i in range(L.shape[0]):
            total = M[i, x]
            for k in range(i):
                total -= L[i, k] * M[k, x]
            M[i, x] = total / L[i, i]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def forward_rows(L, M):
    """M ← L⁻¹M in place, row by row (M C-ordered, m × c)."""
    for i in range(M.shape[0]):
        for k in range(i):
            lik = L[i, k]
            for c in range(M.shape[1]):
                M[i, c] -= lik * M[k, c]
        inverse = 1.0 / L[i, i]
        for c in range(M.shape[1]):
            M[i, c] *= inverse


@numba.njit(cache=True, nogil=True, error_model="numpy")
def backward_rows(L, M):
    """M ← L⁻ᵀM in place: each row, once solved for, is taken out of the rows above it."""
    for i in range(M.shape[0] - 1, -1, -1):
        inverse = 1.0 / L[i, i]
        for c in range(M.shape[1]):
            M[i, c] *= inverse
        for k in range(i):
            lik = L[i, k]
            for c in range(M.shape[1]):
                M[k, c] -= lik * M[i, c]

