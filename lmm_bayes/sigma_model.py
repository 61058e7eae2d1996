"""The residual SD's parameters shared by the blocked engine's algebras
(:mod:`lmm_bayes.individual_blocks`, :mod:`lmm_bayes.effects_system`).

They are those of the PyMC graph of :mod:`lmm_bayes.builder`, on the real line: log σ
without a sigma formula; with one, log σ_i = x_{σ,i}ᵀγ, the coefficients γ of the design
X_σ with its non-intercept columns centred (``sigma_intercept_c``, ``sigma_beta_slopes``),
so that γ's intercept is log σ at the columns' means and the user's coefficients are

.. math::

    \\beta_{\\sigma,0} = \\gamma_0 - \\bar x_\\sigma^\\top\\gamma_1,\\qquad
    \\beta_{\\sigma,1} = \\gamma_1.

Each coefficient carries its prior; σ itself carries ``priors.sigma`` with the
log-Jacobian log σ.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from scipy import stats

from . import names
from .distributions import Prior
from .kernel import prior_rows, prior_term
from .priors import INTERCEPT, PriorSet

__all__ = [
    "centred_sigma_design",
    "sigma_prior",
    "sigma_priors",
    "sigma_start",
    "sigma_variables",
]


def _prior_row(prior: Prior) -> np.ndarray:
    """``prior`` as [kind, ν, μ, scale] of :func:`lmm_bayes.kernel.prior_term` and the
    normalising constant it leaves out (scipy's density at its location or scale)."""
    kinds, params = prior_rows([prior])
    nu, mu, scale = params[0]
    at = scale if prior.is_positive else mu
    constant = _scipy_logpdf(prior, at) - prior_term(at, kinds[0], nu, mu, scale)[0]
    return np.array([kinds[0], nu, mu, scale, constant])


def _scipy_logpdf(prior: Prior, value: float) -> float:
    """log p(value) under ``prior`` by scipy.stats (PyMC's parametrisations)."""
    kw = prior.kwargs
    return {
        "normal": lambda: stats.norm(kw.get("mu"), kw.get("sigma")).logpdf(value),
        "student_t": lambda: stats.t(kw.get("nu"), kw.get("mu"), kw.get("sigma")).logpdf(value),
        "halfnormal": lambda: stats.halfnorm(scale=kw.get("sigma")).logpdf(value),
        "halfstudentt": lambda: np.log(2.0) + stats.t(kw.get("nu"), 0.0,
                                                      kw.get("sigma")).logpdf(value),
        "halfcauchy": lambda: stats.halfcauchy(scale=kw.get("beta")).logpdf(value),
        "exponential": lambda: stats.expon(scale=1.0 / kw.get("lam", 1.0)).logpdf(value),
    }[prior.dist]()


def centred_sigma_design(sigma_design, n: int) -> np.ndarray:
    """X_σ with its non-intercept columns centred (a column of ones for one σ)."""
    if sigma_design is None:
        return np.ones((n, 1))
    X = sigma_design.X.copy()
    if INTERCEPT in sigma_design.names:
        X[:, 1:] -= X[:, 1:].mean(axis=0)
    return X


def sigma_priors(sigma_design, priors: PriorSet) -> np.ndarray:
    """The priors of log σ's coefficients (on σ itself without a sigma formula), as rows
    [kind, ν, μ, scale, constant] for :func:`sigma_prior`."""
    if sigma_design is None:
        return _prior_row(priors.sigma)[None, :]
    return np.array([_prior_row(priors.sigma_intercept if name == INTERCEPT
                                else priors.sigma_fixed[name]) for name in sigma_design.names])


@numba.njit(cache=True, nogil=True, error_model="numpy")
def sigma_prior(rows, formula, rho, gradient):
    """log p(ρ_σ) with every constant: Σ_j log p(γ_j) with a sigma formula, else
    log p(σ) + log σ at ρ₀ = log σ; its gradient is written to ``gradient[:len(rows)]``."""
    if not formula:
        sigma = math.exp(rho[0])
        v, slope = prior_term(sigma, int(rows[0, 0]), rows[0, 1], rows[0, 2], rows[0, 3])
        gradient[0] = slope * sigma + 1.0
        return v + rows[0, 4] + rho[0]
    value = 0.0
    for j in range(rows.shape[0]):
        v, gradient[j] = prior_term(rho[j], int(rows[j, 0]), rows[j, 1], rows[j, 2], rows[j, 3])
        value += v + rows[j, 4]
    return value


def sigma_start(log_sd_design: np.ndarray, sd: float) -> np.ndarray:
    """γ with every row's σ at ``sd`` (least squares of log sd on the centred X_σ)."""
    target = np.full(len(log_sd_design), np.log(sd))
    return np.linalg.lstsq(log_sd_design, target, rcond=None)[0]


def sigma_variables(sigma_design, rho: np.ndarray):
    """The public variables of ρ's first coefficients (..., k): ``sigma`` without a sigma
    formula, else ``sigma_beta`` over ``sigma_fixed`` on the user's scale (module
    docstring); and their coords."""
    if sigma_design is None:
        return {names.SIGMA: (np.exp(rho[..., 0]), ())}, {}
    k = len(sigma_design.names)
    beta = rho[..., :k].copy()
    if INTERCEPT in sigma_design.names:            # α − x̄ᵀβ₁ (builder._coefficients)
        beta[..., 0] -= rho[..., 1:k] @ sigma_design.X[:, 1:].mean(axis=0)
    return ({names.SIGMA_BETA: (beta, (names.SIGMA_FIXED,))},
            {names.SIGMA_FIXED: list(sigma_design.names)})
