"""Population-averaged (marginal) means and coefficients of a generalized linear mixed model.

The fixed effects β of a GLMM are *subject-specific*: they describe the mean response of
a level whose random effects are fixed (at 0, say). Averaged over the levels of the
population the mean is

.. math::

    \\bar\\mu(x, z) = \\int g^{-1}(x^\\top\\beta + u)\\, \\varphi(u; 0, v(z))\\, du,\\qquad
    v(z) = \\sum_g z_g^\\top \\Sigma_g z_g,

because the random part u = Σ_g z_gᵀ b_g of the linear predictor is normal with variance
v(z) (independent factors add their variances). With a non-linear link g this is not
g⁻¹(xᵀβ): on the logit scale the population-averaged effects are smaller in magnitude
(attenuated, roughly by 1/√(1 + 0.346 v); Zeger, Liang & Albert 1988).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import xarray as xr

from .. import names
from ..families import Family
from .draws import interval_columns
from .variance import covariance_draws

__all__ = ["marginal_effects", "population_means", "random_variance"]

COLUMNS = ["effect", "term", "estimate", "std_error", "conf_low", "conf_high"]
RATIO_COLUMNS = {"logit": "odds_ratio", "log": "rate_ratio"}
_CELLS_PER_CHUNK = 4_000_000  # draws × rows × normal samples held in memory at once


def _beta(posterior: xr.Dataset) -> np.ndarray:
    return posterior[names.BETA].transpose("chain", "draw", names.FIXED).values


def random_variance(posterior: xr.Dataset, Z: Mapping[str, np.ndarray]) -> np.ndarray:
    """Variance of the random part of the linear predictor at each row, per draw.

    Parameters
    ----------
    posterior : xarray.Dataset
        With ``sd_<g>`` (and ``corr_<g>`` for correlated factors) of every factor in ``Z``.
    Z : mapping of grouping factor name to ndarray, shape (m, q_g)
        Each factor's varying-term covariates at the rows (1 for an intercept).

    Returns
    -------
    ndarray, shape (chain, draw, m)

    Notes
    -----
    v_i = Σ_g z_igᵀ Σ_g z_ig, Σ_g the covariance of factor g's random effects; grouping
    factors are independent, so their variances add.
    """
    total = 0.0
    for group, z in Z.items():
        cov = covariance_draws(posterior, group)
        total = total + np.einsum("mi,cdij,mj->cdm", z, cov, z)
    return np.asarray(total)


def _standard_normals(samples: int, random_seed: int | None) -> np.ndarray:
    """``samples`` standard normal draws in antithetic pairs (e, −e)."""
    half = np.random.default_rng(random_seed).standard_normal((samples + 1) // 2)
    return np.concatenate([half, -half])


def _monte_carlo_mean(family: Family, eta: np.ndarray, v: np.ndarray,
                      normals: np.ndarray) -> np.ndarray:
    """mean_s g⁻¹(η + √v e_s) over the normal draws e_s, in chunks of rows."""
    out = np.empty_like(eta)
    per_row = max(eta[..., 0].size * len(normals), 1)
    step = max(_CELLS_PER_CHUNK // per_row, 1)
    for start in range(0, eta.shape[-1], step):
        rows = slice(start, start + step)
        u = np.sqrt(v[..., rows, None]) * normals
        out[..., rows] = family.inverse_link(eta[..., rows, None] + u).mean(axis=-1)
    return out


def population_means(posterior: xr.Dataset, X: np.ndarray, Z: Mapping[str, np.ndarray],
                     family: Family, *, offset: np.ndarray | None = None, samples: int = 1000,
                     random_seed: int | None = 0) -> np.ndarray:
    """Population-averaged means at arbitrary rows, per posterior draw.

    Parameters
    ----------
    posterior : xarray.Dataset
        With ``beta`` and the variance parameters of every factor in ``Z``.
    X : ndarray, shape (m, p)
        Fixed-effect design rows (columns in the order of ``beta``'s ``fixed`` coord).
    Z : mapping of grouping factor name to ndarray, shape (m, q_g)
        The varying-term covariates of the factors to average over (those left out are
        held at their random effects' mean, 0), e.g. from
        :func:`lmm_bayes.design.evaluate_covariates`.
    family : Family
        Gives the inverse link g⁻¹.
    offset : ndarray, shape (m,), optional
        Each row's offset, added to xᵀβ (:attr:`lmm_bayes.design.Design.offset`).
    samples : int
        Monte Carlo draws of the random part per posterior draw (antithetic pairs).
    random_seed : int or None

    Returns
    -------
    ndarray, shape (chain, draw, m)
        μ̄(x_i, z_i) for each draw of β and Σ.

    Notes
    -----
    μ̄_i = ∫ g⁻¹(x_iᵀβ + u) φ(u; 0, v_i) du with v_i from :func:`random_variance`,
    evaluated per posterior draw by Monte Carlo, (1/S) Σ_s g⁻¹(x_iᵀβ + √v_i e_s) with
    standard normal e_s (Hedeker, du Toit, Demirtas & Gibbons 2018, "A note on
    marginalization of regression parameters from mixed models of binary outcomes",
    *Biometrics* 74(1), 354–361). For the identity link μ̄ = xᵀβ and for the log link the
    integral is the log-normal mean exp(xᵀβ + v/2), both used exactly.
    """
    eta = np.einsum("mp,cdp->cdm", np.asarray(X, dtype=float), _beta(posterior))
    if offset is not None:
        eta = eta + offset
    v = random_variance(posterior, Z) if Z else np.zeros_like(eta)
    v = np.broadcast_to(v, eta.shape)
    if family.link == "identity":
        return eta
    if family.link == "log":
        return np.exp(eta + v / 2)
    return _monte_carlo_mean(family, eta, v, _standard_normals(samples, random_seed))


def _population_coefficients(means: np.ndarray, X: np.ndarray, weights: np.ndarray,
                             family: Family, offset: np.ndarray) -> np.ndarray:
    """Weighted least squares of g(μ̄) − offset on X per draw: (XᵀWX)⁻¹XᵀW (g(μ̄) − o)."""
    tiny = np.finfo(float).eps
    target = family.link_function(np.clip(means, tiny, 1 - tiny) if family.link in
                                  ("logit", "probit", "cloglog") else means)
    Xw = X * weights[:, None]
    projection = np.linalg.solve(X.T @ Xw, Xw.T)          # (p, m)
    return np.einsum("pm,cdm->cdp", projection, target - offset)


def _rows(effect: str, terms, draws: np.ndarray, prob: float, ratio: str | None):
    stats = interval_columns(draws, prob)
    ratios = interval_columns(np.exp(draws), prob) if ratio else {}
    for k, name in enumerate(terms):
        row = {"effect": effect, "term": name,
               **{key: float(value[k]) for key, value in stats.items()}}
        if ratio:
            row |= {ratio: float(ratios["estimate"][k]),
                    f"{ratio}_low": float(np.exp(stats["conf_low"][k])),
                    f"{ratio}_high": float(np.exp(stats["conf_high"][k]))}
        yield row


def marginal_effects(posterior: xr.Dataset, X: np.ndarray, Z: Mapping[str, np.ndarray],
                     family: Family, *, offset: np.ndarray | None = None, prob: float = 0.95,
                     samples: int = 1000, random_seed: int | None = 0) -> pd.DataFrame:
    """Subject-specific and population-averaged fixed-effect coefficients.

    Parameters
    ----------
    posterior : xarray.Dataset
        With ``beta`` (coord ``fixed`` naming the terms), ``sd_<g>``, ``corr_<g>``.
    X : ndarray, shape (n, p)
        The fixed-effect design of the data (the population the averages are over).
    Z : mapping of grouping factor name to ndarray, shape (n, q_g)
        Each factor's varying-term covariates on the same rows.
    family : Family
    offset : ndarray, shape (n,), optional
        The rows' offset: in the means, and taken off g(μ̄) before the regression, so that
        the marginal model is g(E[y | x]) = xᵀβ_PA + offset.
    prob : float
        Mass of the central intervals.
    samples, random_seed
        Of the Monte Carlo integration, see :func:`population_means`.

    Returns
    -------
    pandas.DataFrame
        Rows by term, first every ``effect="subject_specific"`` row (β), then every
        ``"population_averaged"`` one; columns ``effect``, ``term``, ``estimate``
        (posterior mean), ``std_error``, ``conf_low``, ``conf_high``; with the logit link
        also ``odds_ratio`` (posterior mean of exp(coefficient)), ``odds_ratio_low``,
        ``odds_ratio_high`` (the interval's ends exponentiated), with the log link the same
        as ``rate_ratio``. For the intercept these are the odds (rate) at x = 0.

    Notes
    -----
    Hedeker et al. (2018): per posterior draw, the population-averaged mean μ̄_i of every
    row (:func:`population_means`) is put on the link scale and regressed on the rows'
    fixed-effect covariates by least squares,

        β_PA = (XᵀX)⁻¹ Xᵀ g(μ̄),

    which gives the coefficients of the marginal model g(E[y | x]) = xᵀβ_PA that best
    reproduce the GLMM's marginal means. Identical rows are combined with their counts as
    weights (the same answer, less work). With the identity link β_PA = β; with the log
    link and random intercepts only, β_PA is β with the intercept raised by τ²/2; for
    the probit with random intercepts only, β_PA = β/√(1 + τ²) exactly.
    """
    X = np.asarray(X, dtype=float)
    known = np.zeros(len(X)) if offset is None else np.asarray(offset, dtype=float)
    stacked = np.column_stack([X, known, *Z.values()])
    _, first, counts = np.unique(stacked, axis=0, return_index=True, return_counts=True)
    means = population_means(posterior, X[first], {g: z[first] for g, z in Z.items()},
                             family, offset=known[first], samples=samples,
                             random_seed=random_seed)
    pa = _population_coefficients(means, X[first], counts.astype(float), family, known[first])
    terms = [str(n) for n in posterior[names.BETA][names.FIXED].values]
    ratio = RATIO_COLUMNS.get(family.link)
    rows = [*_rows("subject_specific", terms, _beta(posterior), prob, ratio),
            *_rows("population_averaged", terms, pa, prob, ratio)]
    columns = COLUMNS + ([ratio, f"{ratio}_low", f"{ratio}_high"] if ratio else [])
    return pd.DataFrame.from_records(rows, columns=columns)
