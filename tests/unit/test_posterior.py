"""PosteriorDraws on a hand-made posterior whose linear predictor is worked out by hand."""

import numpy as np
import pytest
import xarray as xr

from lmm_bayes.names import correlation_matrices, pair_values
from lmm_bayes.posterior import PosteriorDraws

CHAINS, DRAWS = 2, 3


def hand_posterior() -> xr.Dataset:
    """Draw s = 3·chain + draw, k = s + 1: β = (10k, s); subject effects (intercept, Days)
    k·(1, 0.1) for "308" and k·(−2, 0.2) for "309"; site intercepts 5 ("A") and −5 ("B"),
    stored with dims (term, level) to check that they are read by name, not position."""
    k = (np.arange(CHAINS * DRAWS) + 1.0).reshape(CHAINS, DRAWS)
    beta = np.stack([10 * k, k - 1], axis=-1)
    subject = k[..., None, None] * np.array([[1.0, 0.1], [-2.0, 0.2]])
    site = np.broadcast_to([[5.0, -5.0]], (CHAINS, DRAWS, 1, 2))
    return xr.Dataset({
        "beta": (("chain", "draw", "fixed"), beta),
        "b_subject": (("chain", "draw", "subject__level", "subject__term"), subject),
        "b_site": (("chain", "draw", "site__term", "site__level"), site),
    }, coords={"chain": np.arange(CHAINS), "draw": np.arange(DRAWS),
               "fixed": ["(Intercept)", "Days"], "subject__level": ["308", "309"],
               "subject__term": ["(Intercept)", "Days"], "site__term": ["(Intercept)"],
               "site__level": ["A", "B"]})


# rows: Days 2 of subject "309" at site A; Days 0 of "308" at B; Days 3 of an unseen subject at B
X = np.array([[1.0, 2.0], [1.0, 0.0], [1.0, 3.0]])
SUBJECT = ("subject", np.array([[1.0, 2.0], [1.0, 0.0], [1.0, 3.0]]), np.array([1, 0, -1]))
SITE = ("site", np.ones((3, 1)), np.array([0, 1, 1]))


def by_hand() -> np.ndarray:
    """η per draw s (k = s + 1) and row, term by term."""
    s = np.arange(CHAINS * DRAWS)[:, None]
    k = s + 1.0
    return np.hstack([10 * k + 2 * s + k * (-2.0 + 0.2 * 2) + 5.0,
                      10 * k + 0 * s + k * 1.0 - 5.0,
                      10 * k + 3 * s + 0.0 - 5.0])    # unseen subject: no subject effect


def test_linear_predictor_adds_each_factors_effects_of_each_rows_level():
    eta = PosteriorDraws(hand_posterior()).linear_predictor(X, [SUBJECT, SITE])
    np.testing.assert_allclose(eta, by_hand())
    # chain 1, draw 2 (s = 5, k = 6): 60 + 10 − 9.6 + 5, 60 + 6 − 5, 60 + 15 − 5
    np.testing.assert_allclose(eta[5], [65.4, 61.0, 70.0])


def test_linear_predictor_without_factors_is_the_fixed_part():
    eta = PosteriorDraws(hand_posterior()).linear_predictor(X)
    s = np.arange(CHAINS * DRAWS)[:, None]
    np.testing.assert_allclose(eta, 10 * (s + 1) + s * X[:, 1])


@pytest.mark.parametrize("rows", [slice(0, 1), slice(1, 3)])
def test_linear_predictor_of_some_rows_is_those_rows_of_all(rows):
    random = [(name, Z[rows], codes[rows]) for name, Z, codes in (SUBJECT, SITE)]
    eta = PosteriorDraws(hand_posterior()).linear_predictor(X[rows], random)
    np.testing.assert_allclose(eta, by_hand()[:, rows])


def test_correlation_matrices_and_their_pairs_round_trip():
    pairs = np.random.default_rng(0).uniform(-0.5, 0.5, (2, 4, 3))
    matrices = correlation_matrices(pairs, 3)
    assert matrices.shape == (2, 4, 3, 3)
    np.testing.assert_array_equal(np.diagonal(matrices, axis1=-2, axis2=-1), 1.0)
    np.testing.assert_array_equal(matrices, np.swapaxes(matrices, -1, -2))
    assert matrices[1, 2, 0, 2] == pairs[1, 2, 1]           # (Intercept) with the third term
    np.testing.assert_array_equal(pair_values(matrices), pairs)
