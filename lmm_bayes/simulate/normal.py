"""Correlated normal draws shared by the study generators (numpy only)."""

import numpy as np


def correlated_pairs(sd_a: float, sd_b: float, rho: float, size: int,
                     rng: np.random.Generator) -> np.ndarray:
    """``size`` draws of (u₀, u₁) ~ N(0, Σ), Σ = diag(s) R diag(s), s = (sd_a, sd_b) and R
    the 2 × 2 correlation matrix with off-diagonal ρ; shape (size, 2)."""
    sd = np.array([sd_a, sd_b])
    covariance = np.array([[1.0, rho], [rho, 1.0]]) * np.outer(sd, sd)
    return rng.multivariate_normal(np.zeros(2), covariance, size=size)
