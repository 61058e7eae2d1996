"""Compiled densities for nutpie's C interface: their data packed into one float64 vector,
which nutpie hands to the log density and expand functions as a single pointer
(:func:`lmm_bayes.sampling.compiled_model`), and the signatures of those functions.

A vector of :func:`pack` starts with its own length and the number of fields, then each
field's start; integer arrays are stored bit for bit (``view``), so indices stay exact.
A density for nutpie keeps its whitening θ = mode + C z in the last two fields
(:func:`whitened`, :func:`store_whitened`).
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["EXPAND_SIGNATURE", "LOGP_SIGNATURE", "buffer_at", "field", "int_field", "pack",
           "store", "store_whitened", "whitened", "whitened_expand_cfunc"]

#: log density: (dimension, x, gradient out, log density out, data) → status
LOGP_SIGNATURE = numba.types.int64(
    numba.types.uint64, numba.types.CPointer(numba.types.double),
    numba.types.CPointer(numba.types.double), numba.types.CPointer(numba.types.double),
    numba.types.voidptr)
#: expand: (dimension, number of values, x, values out, data) → status
EXPAND_SIGNATURE = numba.types.int64(
    numba.types.uint64, numba.types.uint64, numba.types.CPointer(numba.types.double),
    numba.types.CPointer(numba.types.double), numba.types.voidptr)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def buffer_at(address):
    """The packed vector at ``address`` (its first entry is its length)."""
    size = numba.carray(address, (1,), np.float64)[0]
    return numba.carray(address, (int(size),), np.float64)


def pack(fields: list[np.ndarray]) -> np.ndarray:
    """One float64 vector holding ``fields`` (float or int64 arrays, flattened)."""
    flat = [np.ascontiguousarray(f).ravel() for f in fields]
    flat = [f.view(np.float64) if f.dtype == np.int64 else f.astype(np.float64) for f in flat]
    header = 2 + len(flat) + 1
    starts = header + np.concatenate([[0], np.cumsum([len(f) for f in flat])])
    total = int(starts[-1])
    return np.concatenate([[total, len(flat)], starts.astype(float), *flat])


@numba.njit(cache=True, nogil=True)
def field(buffer, i):
    """Field ``i`` of a packed vector (a view)."""
    return buffer[int(buffer[2 + i]):int(buffer[3 + i])]


@numba.njit(cache=True, nogil=True)
def int_field(buffer, i):
    """Integer field ``i`` of a packed vector (a view)."""
    return field(buffer, i).view(np.int64)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _whitening(buffer):
    """The mode and the factor C, the last two fields."""
    last = int(buffer[1]) - 1
    mode = field(buffer, last - 1)
    n = mode.shape[0]
    return mode, field(buffer, last).reshape((n, n))


@numba.njit(cache=True, nogil=True, error_model="numpy")
def whitened(z, buffer):
    """θ = mode + C z."""
    mode, factor = _whitening(buffer)
    out = mode.copy()
    for i in range(out.shape[0]):
        for j in range(z.shape[0]):
            out[i] += factor[i, j] * z[j]
    return out


@numba.njit(cache=True, nogil=True, error_model="numpy")
def store(lp, grad, gradient_, logp_):
    """Write log p and its gradient to nutpie's outputs; nutpie's status: 0 on success, 3
    for a non-finite gradient, 4 for a non-finite density."""
    numba.carray(gradient_, (grad.shape[0],))[:] = grad
    numba.carray(logp_, (1,))[0] = lp
    if not np.isfinite(lp):
        return 4
    return 0 if np.all(np.isfinite(grad)) else 3


@numba.njit(cache=True, nogil=True, error_model="numpy")
def store_whitened(lp, grad, gradient_, logp_, buffer):
    """:func:`store` with the gradient in z, Cᵀ∂/∂θ."""
    _, factor = _whitening(buffer)
    dim = grad.shape[0]
    in_z = np.zeros(dim)
    for j in range(dim):
        for i in range(dim):
            in_z[j] += factor[i, j] * grad[i]
    return store(lp, in_z, gradient_, logp_)


@numba.cfunc(EXPAND_SIGNATURE, cache=True, error_model="numpy")
def whitened_expand_cfunc(dim, n_expanded, z_, out_, buffer_):
    """nutpie's C entry point for θ = mode + C z at a draw of z, for any density whose packed
    vector ends with the mode and C (:func:`whitened`)."""
    numba.carray(out_, (n_expanded,))[:] = whitened(numba.carray(z_, (dim,)), buffer_at(buffer_))
    return 0
