"""Orthogonal polynomials as R's ``stats::poly`` and ``contr.poly`` compute them.

``poly(x, 2)`` in a formula is two columns, the degree-1 and degree-2 polynomials in ``x``
orthogonal to each other and to the intercept over the fitting data, each of unit length.
They are learnt once, on the fitting data, as the three-term recurrence coefficients
(``alpha``, ``norm2``) that R stores in the ``"coefs"`` attribute; new data are evaluated
with those, as R's ``predict.poly`` (through ``makepredictcall``) does, so a prediction uses
the fitting data's polynomials, not new ones. ``contr.poly(n)`` is the same construction on
the scores 1..n: the polynomial contrasts of an ordered factor with n levels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PolyCoefs", "contr_poly", "contrast_names", "orthogonal_poly", "predict_poly"]


@dataclass(frozen=True)
class PolyCoefs:
    """R's ``attr(poly(x, degree), "coefs")``: ``alpha`` (degree values) and ``norm2``
    (degree + 2 values, the first two 1 and n)."""

    alpha: tuple[float, ...]
    norm2: tuple[float, ...]

    @property
    def degree(self) -> int:
        return len(self.alpha)


def orthogonal_poly(x: np.ndarray, degree: int) -> tuple[np.ndarray, PolyCoefs]:
    """Orthogonal polynomials of degrees 1..``degree`` in ``x``, and their coefficients.

    Parameters
    ----------
    x : ndarray, shape (n,)
    degree : int
        At least 1 and less than the number of distinct values of ``x`` (checked by the
        caller).

    Returns
    -------
    Z : ndarray, shape (n, degree)
        Column k is the degree-k polynomial, orthogonal to the constant and to the other
        columns, with unit sum of squares.
    PolyCoefs
        To evaluate the same polynomials on new values (:func:`predict_poly`).

    Notes
    -----
    As ``stats::poly`` (R Core Team, ``src/library/stats/R/contr.poly.R``): with
    x̄ the mean and X = [1, x − x̄, …, (x − x̄)^d] the centred Vandermonde matrix with
    QR decomposition X = QR, the raw polynomials are Z = Q diag(R) (independent of the
    signs the decomposition chooses), ``norm2`` = (1, ‖Z₀‖², …, ‖Z_d‖²),
    ``alpha_k`` = Σ x_c Z_k² / ‖Z_k‖² + x̄ (k = 0..d−1, x_c = x − x̄), and the result is
    Z_k / ‖Z_k‖ for k = 1..d.
    """
    x = np.asarray(x, dtype=float)
    mean = float(np.mean(x))
    centred = x - mean
    vandermonde = centred[:, None] ** np.arange(degree + 1)
    q, r = np.linalg.qr(vandermonde)
    raw = q * np.diag(r)
    norm2 = np.sum(raw**2, axis=0)
    alpha = (centred @ raw**2 / norm2 + mean)[:degree]
    coefs = PolyCoefs(tuple(map(float, alpha)), (1.0, *map(float, norm2)))
    return raw[:, 1:] / np.sqrt(norm2[1:]), coefs


def predict_poly(x: np.ndarray, coefs: PolyCoefs) -> np.ndarray:
    """The polynomials of ``coefs`` (learnt by :func:`orthogonal_poly`) at new values ``x``.

    Returns
    -------
    ndarray, shape (len(x), degree)

    Notes
    -----
    R's ``poly(x, coefs = ...)``: the three-term recurrence Z₀ = 1, Z₁ = x − α₁,
    Z_{k+1} = (x − α_{k+1}) Z_k − (n_{k+2} / n_{k+1}) Z_{k−1}, with n = ``norm2``
    (1-based as in R), then Z_k / √n_{k+2} for k = 1..d.
    """
    x = np.asarray(x, dtype=float)
    alpha, norm2 = np.asarray(coefs.alpha), np.asarray(coefs.norm2)
    degree = coefs.degree
    Z = np.ones((len(x), degree + 1))
    Z[:, 1] = x - alpha[0]
    for i in range(1, degree):
        Z[:, i + 1] = (x - alpha[i]) * Z[:, i] - (norm2[i + 1] / norm2[i]) * Z[:, i - 1]
    return Z[:, 1:] / np.sqrt(norm2[2:])


def contr_poly(n: int) -> np.ndarray:
    """R's ``contr.poly(n)``: the polynomial contrasts of an ordered factor of n levels.

    Returns
    -------
    ndarray, shape (n, n − 1)
        Row j is level j's coding; column k the degree-k (linear, quadratic, ...)
        polynomial in the scores 1..n, orthonormal and orthogonal to the constant.

    Notes
    -----
    ``contr.poly`` normalises the raw polynomials Q diag(R) of the centred scores
    (``make.poly`` in R's ``contr.poly.R``): the same columns as ``poly(1:n, n − 1)``.
    """
    return orthogonal_poly(np.arange(1.0, n + 1), n - 1)[0]


def contrast_names(n: int) -> tuple[str, ...]:
    """R's names of the ``contr.poly(n)`` columns: ``.L``, ``.Q``, ``.C``, ``^4``, ``^5``..."""
    return tuple([".L", ".Q", ".C"][k - 1] if k <= 3 else f"^{k}" for k in range(1, n))
