"""Sums that do not depend on the order of their terms, and column moments made of them.

A data set's statistics are sums over rows. Added in another order (by partition, then
by level; or row by row in memory) floating-point sums differ in their last bits, and a
sampler amplifies such differences until, after some hundred iterations, the draws are
others. Here each sum is carried as an unevaluated pair hi + lo ("double-double"): every
addition's rounding error is recovered exactly by Knuth's TwoSum,

.. math::

    s = \\mathrm{fl}(a + b),\\quad b' = \\mathrm{fl}(s - a),\\quad
    e = (a - (s - b')) + (b - b'),\\qquad a + b = s + e \\text{ exactly},

and added into lo (Ogita, Rump & Oishi 2005, *SIAM J. Sci. Comput.* 26(6), "Accurate sum
and dot product", Algorithm 4.4, Sum2). The pair's value fl(hi + lo) is the exact sum
correctly rounded unless the exact sum lies within about n·ε² of a rounding boundary, so
in practice two orders of the same terms give the same double, and a distributed data
set's statistics are those of the same rows in memory to the last bit. numpy only (the
default priors read these moments when a model is built); the sums by level are
:func:`lmm_bayes.marginal.add_by_group`'s, a numba loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Moments", "add_pairs", "column_sums", "pair_value", "two_sum"]


def two_sum(a, b):
    """s = fl(a + b) and the error e with a + b = s + e exactly (Knuth's TwoSum)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def two_prod(a, b):
    """p = fl(a b) and the error e with a b = p + e exactly (Dekker's product, the factors
    split into halves of 26 bits)."""
    p = a * b
    a_hi, a_lo = _split(a)
    b_hi, b_lo = _split(b)
    return p, ((a_hi * b_hi - p) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo


def _split(a):
    c = 134217729.0 * a  # 2^27 + 1
    high = c - (c - a)
    return high, a - high


def column_sums(values: np.ndarray) -> np.ndarray:
    """The column sums of ``values`` (n, k) as pairs (k, 2): a pairwise tree of TwoSums,
    whose errors are summed into lo (their own rounding is of order ε² of the sum)."""
    x = np.asarray(values, dtype=float)
    errors = np.zeros(x.shape[1])
    while len(x) > 1:
        if len(x) % 2:
            x = np.vstack([x, np.zeros((1, x.shape[1]))])
        x, e = two_sum(x[0::2], x[1::2])
        errors = errors + e.sum(axis=0)
    hi = x[0] if len(x) else np.zeros(x.shape[1])
    return np.stack([hi, errors], axis=-1)


def add_pairs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The sums of the pairs ``a`` and ``b`` (…, 2), as pairs."""
    s, e = two_sum(a[..., 0], b[..., 0])
    return np.stack([s, e + a[..., 1] + b[..., 1]], axis=-1)


def pair_value(pairs: np.ndarray) -> np.ndarray:
    """The doubles nearest the sums held as pairs (…, 2)."""
    return pairs[..., 0] + pairs[..., 1]


@dataclass(frozen=True)
class Moments:
    """Count, sums and sums of squares (as pairs) and largest magnitudes of k columns, and
    whether each holds only 0 and 1; parts of a data set add up to the whole's moments
    whatever the order.

    Notes
    -----
    mean = Σx/n and SD = √((Σx² − (Σx)²/n)/(n − 1)), the squares exact (:func:`two_prod`)
    and the subtraction in double-double arithmetic, so that a column whose mean is large
    against its SD (10⁷ ± 50) keeps its digits, and the same in memory and by partition.
    """

    n: int
    sums: np.ndarray
    squares: np.ndarray
    largest: np.ndarray
    indicator: np.ndarray

    @classmethod
    def of(cls, values: np.ndarray) -> Moments:
        """The moments of the rows of ``values`` (n, k)."""
        values = np.asarray(values, dtype=float)
        n, k = values.shape
        largest = np.abs(values).max(axis=0) if n else np.zeros(k)
        squares, errors = two_prod(values, values)
        pairs = column_sums(squares)
        pairs[:, 1] += errors.sum(axis=0)  # the squares exact, not rounded
        return cls(n, column_sums(values), pairs, largest,
                   np.isin(values, (0.0, 1.0)).all(axis=0))

    def __add__(self, other: Moments) -> Moments:
        return Moments(self.n + other.n, add_pairs(self.sums, other.sums),
                       add_pairs(self.squares, other.squares),
                       np.maximum(self.largest, other.largest), self.indicator & other.indicator)

    @property
    def mean(self) -> np.ndarray:
        return pair_value(self.sums) / self.n if self.n else np.zeros(len(self.largest))

    @property
    def sd(self) -> np.ndarray:
        """The SDs, divisor n − 1 (0 for fewer than two rows): Σx² − (Σx)²/n in
        double-double arithmetic, so that no digits cancel."""
        if self.n < 2:
            return np.zeros(len(self.largest))
        a, b = self.sums[:, 0], self.sums[:, 1]
        square, error = two_prod(a, a)               # (Σx)² = square + low, to ε²
        low = error + 2.0 * a * b
        quotient = square / self.n                   # (Σx)²/n = quotient + low / n
        product, product_error = two_prod(quotient, float(self.n))
        low = ((square - product) - product_error + low) / self.n
        head, error = two_sum(self.squares[:, 0], -quotient)
        variance = (head + (error + self.squares[:, 1] - low)) / (self.n - 1)
        return np.sqrt(np.maximum(variance, 0.0))
