"""Helpers of the joint models' validation: posterior draws by ``name[coordinate]``, and the
naive two-stage analysis that joint models replace, for the bias demonstrations.

Stage 1 fits the marker alone (``lb.LMM``) and predicts each individual's trajectory
m̂_i(t) = x_i(t)ᵀβ̂ + z_i(t)ᵀb̂_i (posterior means); stage 2 fits a Weibull
proportional-hazards model with m̂_i(t) as a time-varying covariate by maximum likelihood,

    log L = Σ_i d_i [log κ + (κ − 1) log T_i + η_i(T_i)] − Σ_i ∫₀^{T_i} κ s^{κ−1} e^{η_i(s)} ds,
    η_i(s) = γ₀ + w_iᵀγ + α m̂_i(s),

the integral by Gauss–Legendre quadrature, standard errors from the inverse of the
observed information (central-difference Hessian). Stage 2 treats m̂ as known and stage 1
ignores the dropout the events cause: the two sources of the bias joint models remove
(Tsiatis & Davidian 2004, *Stat. Sinica* 14: 809–834; Sweeting & Thompson 2011, *Biom. J.*
53: 750–763).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize

import lmm_bayes as lb

GL_NODES = 15


def draws_of(idata, key: str) -> np.ndarray:
    """The (chain·draw,) draws of ``key``: ``"sigma"``, ``"beta[time]"``,
    ``"corr_id[(Intercept).time]"`` (the variable's one non-sample dimension at that label)."""
    name, _, label = key.partition("[")
    values = idata.posterior[name]
    if label:
        (dim,) = (d for d in values.dims if d not in ("chain", "draw"))
        values = values.sel({dim: label.removesuffix("]")})
    return values.values.ravel()


@dataclass(frozen=True)
class WeibullFit:
    """ML estimates and standard errors, indexed by ``log_shape``, ``(Intercept)``, the
    covariates and ``association``."""

    estimate: pd.Series
    std_error: pd.Series

    def interval(self, name: str, z: float = 1.96) -> tuple[float, float]:
        return (self.estimate[name] - z * self.std_error[name],
                self.estimate[name] + z * self.std_error[name])


def linear_trajectories(fit, event: pd.DataFrame, id_col: str, time_col: str,
                        covariates: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(m̂_i(0), m̂_i'(t)) per row of ``event`` from an LMM linear in time: its conditional
    mean predictions (posterior means) at t = 0 and t = 1."""
    grid = pd.concat([event[[id_col, *covariates]].assign(**{time_col: t}) for t in (0.0, 1.0)],
                     ignore_index=True)
    mean = fit.predict(grid, groups="conditional")["estimate"].to_numpy().reshape(2, -1)
    return mean[0], mean[1] - mean[0]


def _negative_loglik(theta, years, event, w, m0, m1, nodes, weights):
    log_shape, intercept, alpha, gamma = theta[0], theta[1], theta[2], theta[3:]
    shape = np.exp(log_shape)
    linear = intercept + w @ gamma + alpha * m0
    s = years[:, None] * (nodes + 1) / 2
    log_integrand = log_shape + (shape - 1) * np.log(s) + linear[:, None] + alpha * m1[:, None] * s
    cumulative = years / 2 * (np.exp(log_integrand) @ weights)
    log_hazard = log_shape + (shape - 1) * np.log(years) + linear + alpha * m1 * years
    return -(np.sum(event * log_hazard) - np.sum(cumulative))


def _hessian(f, x, step=1e-4):
    n = len(x)
    out = np.empty((n, n))
    for i in range(n):
        for j in range(i, n):
            e_i, e_j = np.eye(n)[i] * step, np.eye(n)[j] * step
            out[i, j] = out[j, i] = (f(x + e_i + e_j) - f(x + e_i - e_j) - f(x - e_i + e_j)
                                     + f(x - e_i - e_j)) / (4 * step ** 2)
    return out


def weibull_trajectory_fit(event: pd.DataFrame, m0: np.ndarray, m1: np.ndarray, *,
                           covariates: dict[str, np.ndarray], time_col: str = "years",
                           event_col: str = "event") -> WeibullFit:
    """Stage 2: the Weibull PH model with the linear trajectory m0 + m1·t as a covariate
    (marker and covariates centred inside, so γ₀ is reported for centred values)."""
    years = event[time_col].to_numpy(float)
    d = event[event_col].to_numpy(float)
    w = np.column_stack([v - v.mean() for v in covariates.values()])
    centre = m0.mean()
    nodes, weights = np.polynomial.legendre.leggauss(GL_NODES)
    args = (years, d, w, m0 - centre, m1, nodes, weights)
    start = np.zeros(3 + w.shape[1])
    start[1] = np.log(d.sum() / years.sum())
    result = optimize.minimize(_negative_loglik, start, args=args, method="BFGS",
                               options={"gtol": 1e-8, "maxiter": 5000})
    cov = np.linalg.inv(_hessian(lambda x: _negative_loglik(x, *args), result.x))
    index = ["log_shape", "(Intercept)", "association", *covariates]
    return WeibullFit(pd.Series(result.x, index), pd.Series(np.sqrt(np.diag(cov)), index))


def two_stage(long: pd.DataFrame, event: pd.DataFrame, longitudinal: str, *,
              covariates: dict[str, np.ndarray], marker_covariates: list[str],
              id_col: str = "id", time_col: str = "time", event_time_col: str = "years",
              event_col: str = "event", draws: int = 500, tune: int = 500,
              random_seed: int = 1):
    """Stage 1 (``lb.LMM(longitudinal, long)``) then stage 2; returns (stage-1 fit,
    stage-2 WeibullFit)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lb.SamplingWarning)
        stage1 = lb.LMM(longitudinal, long).fit(draws=draws, tune=tune, chains=2,
                                                random_seed=random_seed)
    m0, m1 = linear_trajectories(stage1, event, id_col, time_col, marker_covariates)
    return stage1, weibull_trajectory_fit(event, m0, m1, covariates=covariates,
                                          time_col=event_time_col, event_col=event_col)
