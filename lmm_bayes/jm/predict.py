"""Dynamic prediction of a joint model (Rizopoulos 2011, *Biometrics* 67: 819–829;
JMbayes2's ``predict(..., process = "event")``): for an individual with marker values
y_i(≤ s) and alive at s, the probability of the event by s + Δt,

.. math::

    \\pi_i(s + \\Delta t \\mid s) = 1 - \\int \\frac{S_i(s + \\Delta t \\mid b_i, \\theta)}
    {S_i(s \\mid b_i, \\theta)}\\, p(b_i \\mid T_i > s, y_i(\\le s), \\theta)\\,
    p(\\theta \\mid \\mathcal{D})\\, db_i\\, d\\theta .

For each posterior draw θ^(l) the effects' conditional p(b_i | T_i > s, y_i, θ) ∝
N(b_i; μ_i, V_i) S_i(s | b_i, θ) is sampled by importance sampling from the Gaussian
conditional of b_i given the marker alone, V_i = (Σ⁻¹ + Z_iᵀZ_i/σ²)⁻¹,
μ_i = V_i Z_iᵀ(y_i − X_iβ)/σ² (exact for the LMM), weights S_i(s | b): bounded by 1, so the
proposal covers the target. Per draw, π^(l) = 1 − Σ_m w_m S(s + Δt | b_m)/S(s | b_m) with
w_m ∝ S(s | b_m) (the draw's b integrated out), and their mean over the draws is the
reported probability; the interval is the quantiles of π over joint draws (θ^(l), b^(l)),
b^(l) resampled from the weighted proposals (sampling importance resampling, Rubin 1988),
as Rizopoulos's Monte Carlo scheme draws one b per θ. S_i(u | b)/S_i(s | b) =
exp(−∫_s^u h_i) by the quadrature of :func:`lmm_bayes.jm.design.quadrature`.

Numpy only; no PyMC after fitting.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from .. import names
from ..design import Design, evaluate_covariates
from ..errors import DesignError
from ..posterior import PosteriorDraws, covariance_draws
from ..variables import level_label
from .design import JointDesign, MarkerRows, marker_rows, quadrature, survival_matrix
from .hazard import log_baseline_hazard
from .spec import JointSpec

__all__ = ["Draws", "Individual", "dynamic_probabilities", "individuals_from_history",
           "log_hazard_draws", "posterior_draws"]

CHUNK = 250


@dataclass(frozen=True)
class Draws:
    """The posterior draws prediction needs, flattened over (chain, draw): ``beta`` (S, p),
    ``covariance`` (S, q, q) of b, ``sigma`` (S,), ``gamma`` (S, r), ``alpha`` (S, a),
    ``shape`` (S,) or ``log_hazards`` (S, K)."""

    beta: np.ndarray
    covariance: np.ndarray
    sigma: np.ndarray
    gamma: np.ndarray
    alpha: np.ndarray
    shape: np.ndarray | None
    log_hazards: np.ndarray | None

    @property
    def n(self) -> int:
        return len(self.sigma)

    def take(self, index) -> Draws:
        pick = {k: (None if v is None else v[index]) for k, v in self.__dict__.items()}
        return Draws(**pick)


def posterior_draws(posterior: xr.Dataset, group: str) -> Draws:
    """The :class:`Draws` of a joint model's posterior."""
    flat = PosteriorDraws(posterior)
    covariance = covariance_draws(posterior, group)
    shape = flat.get(names.WEIBULL_SHAPE) if names.WEIBULL_SHAPE in posterior else None
    log_hazards = (flat.get(names.LOG_BASELINE_HAZARD, names.BASELINE_INTERVAL)
                   if names.LOG_BASELINE_HAZARD in posterior else None)
    return Draws(flat.get(names.BETA, names.FIXED),
                 covariance.reshape(-1, *covariance.shape[2:]), flat.get(names.SIGMA),
                 flat.get(names.EVENT_COEF, names.EVENT_FIXED),
                 flat.get(names.ASSOCIATION, names.ASSOCIATION_TERM), shape, log_hazards)


@dataclass(frozen=True)
class Individual:
    """One individual's history: the label, landmark s, the visits up to s (``y``, ``X``,
    ``Z``), the survival covariates ``w`` and the first visit's row (``baseline``)."""

    label: str
    landmark: float
    y: np.ndarray
    X: np.ndarray
    Z: np.ndarray
    w: np.ndarray
    baseline: pd.DataFrame


def individuals_from_history(spec: JointSpec, design: Design, joint: JointDesign,
                             history_long: pd.DataFrame,
                             history_event: pd.DataFrame) -> list[Individual]:
    """Each individual of ``history_event`` with their visits in ``history_long`` up to
    their landmark: ``history_event``'s time column where it has one (a number), else the
    last visit."""
    for frame, what in ((history_long, "history_long"), (history_event, "history_event")):
        if not isinstance(frame, pd.DataFrame):
            raise DesignError(f"{what} must be a pandas DataFrame, not {type(frame).__name__}")
        if spec.id not in frame.columns:
            raise DesignError(f"{what} has no column {spec.id!r}")
    for column in (spec.time, spec.longitudinal.response):
        if column not in history_long.columns:
            raise DesignError(f"history_long has no column {column!r}")
    labels = history_long[spec.id].map(level_label)
    _, W, _ = survival_matrix(spec, history_event, joint.survival_schema)
    out = []
    for k, value in enumerate(history_event[spec.id]):
        label = level_label(value)
        visits = history_long[labels == label].sort_values(spec.time)
        if visits.empty:
            raise DesignError(f"{spec.id} {label!r} of history_event has no visits in "
                              "history_long (its first visit gives the marker's covariates)")
        landmark = _landmark(spec, history_event, k, visits)
        seen = visits[visits[spec.time].to_numpy(float) <= landmark]
        X, Z = evaluate_covariates(design, seen) if len(seen) else (
            np.zeros((0, design.X.shape[1])), {design.groups[0].name:
                                               np.zeros((0, len(design.groups[0].terms)))})
        y = pd.to_numeric(seen[spec.longitudinal.response], errors="coerce").to_numpy(float)
        if not np.isfinite(y).all():
            raise DesignError(f"{spec.id} {label!r}: the marker {spec.longitudinal.response!r} "
                              "must be a number at every visit of history_long")
        out.append(Individual(label, landmark, y, X, Z[design.groups[0].name], W[k],
                              visits.iloc[:1].reset_index(drop=True)))
    return out


def _landmark(spec: JointSpec, history_event: pd.DataFrame, k: int,
              visits: pd.DataFrame) -> float:
    """s: ``history_event``'s time (survival time column) if present and given, else the
    last visit."""
    column = spec.survival.time
    if column in history_event.columns and pd.notna(history_event[column].iloc[k]):
        value = float(history_event[column].iloc[k])
        if value < 0:
            raise DesignError(f"the landmark {column!r} must be 0 or more, not {value:g}")
        return value
    return float(visits[spec.time].max())


def _effects_proposal(person: Individual, draws: Draws, samples: int,
                      rng: np.random.Generator) -> np.ndarray:
    """Draws (S, P, q) from N(μ_i, V_i) of b given the visits (module docstring)."""
    precision = np.linalg.inv(draws.covariance) + (
        (person.Z.T @ person.Z)[None] / draws.sigma[:, None, None] ** 2)
    V = np.linalg.inv(precision)
    resid = person.y[None, :] - draws.beta @ person.X.T                     # (S, n_i)
    mean = np.einsum("sij,sj->si", V, resid @ person.Z / draws.sigma[:, None] ** 2)
    chol = np.linalg.cholesky((V + np.swapaxes(V, 1, 2)) / 2)
    eps = rng.standard_normal((draws.n, samples, mean.shape[1]))
    return mean[:, None, :] + np.einsum("sij,spj->spi", chol, eps)


def log_hazard_draws(spec: JointSpec, rows: MarkerRows, w_gamma: np.ndarray, draws: Draws,
                     b: np.ndarray, times: np.ndarray, interval: np.ndarray) -> np.ndarray:
    """log h(t | b, θ) (S, B, M) at the times (B or 1, M) of ``rows`` (X, Z of shape
    (B or 1, M, ·)), for effects ``b`` (S, B, q) (B individuals, or B proposals of one) and
    the survival covariates' part w_iᵀγ ``w_gamma`` (S, B or 1); the formula of
    :mod:`lmm_bayes.jm.hazard` with the reported (uncentred) parameters."""
    eta = w_gamma[:, :, None]
    terms = ["shared"] if spec.association == "shared" else spec.association.split("+")
    for k, kind in enumerate(terms):
        if kind == "shared":
            eta = eta + np.einsum("sbq,sq->sb", b, draws.alpha)[:, :, None]
            continue
        X, Z = (rows.X, rows.Z) if kind == "value" else (rows.dX, rows.dZ)
        marker = np.einsum("bmp,sp->sbm", X, draws.beta) + np.einsum("sbq,bmq->sbm", b, Z)
        eta = eta + draws.alpha[:, k, None, None] * marker
    return eta + log_baseline_hazard(
        np, times, interval,
        shape=None if draws.shape is None else draws.shape[:, None, None],
        log_hazards=draws.log_hazards)


def _cumulative_hazard(spec: JointSpec, design: Design, joint: JointDesign,
                       person: Individual, draws: Draws, b: np.ndarray, lower: float,
                       upper: float) -> np.ndarray:
    """∫_lower^upper h_i(u | b, θ) du for each draw and proposal, (S, P); 0 for an empty
    interval (a landmark at 0, whose nodes would all sit at t = 0, where the Weibull's
    log h_0 is infinite)."""
    if upper <= lower:
        return np.zeros(b.shape[:2])
    nodes = quadrature(np.array([lower]), np.array([upper]), spec.quadrature_points,
                       joint.cuts)
    slope = spec.association in ("slope", "value+slope")
    rows = marker_rows(design, person.baseline, spec.time, nodes.times, derivative=slope)
    log_h = log_hazard_draws(spec, rows, (draws.gamma @ person.w)[:, None], draws, b,
                             nodes.times, nodes.interval)
    return np.sum(nodes.weights * np.exp(log_h), axis=-1)


def _conditional_effects(spec: JointSpec, design: Design, joint: JointDesign,
                         person: Individual, draws: Draws, samples: int,
                         rng: np.random.Generator):
    """Proposals b (S, P, q) from the marker's Gaussian conditional, their normalised
    weights S_i(s | b) (S, P), and one proposal per draw resampled by weight (S,)."""
    b = _effects_proposal(person, draws, samples, rng)
    log_w = -_cumulative_hazard(spec, design, joint, person, draws, b, 0.0, person.landmark)
    w = np.exp(log_w - log_w.max(axis=1, keepdims=True))
    w /= w.sum(axis=1, keepdims=True)
    pick = (w.cumsum(axis=1) < rng.uniform(size=(draws.n, 1))).sum(axis=1)
    return b, w, np.minimum(pick, samples - 1)


def dynamic_probabilities(spec: JointSpec, design: Design, joint: JointDesign,
                          person: Individual, draws: Draws, horizons: np.ndarray, *,
                          samples: int, rng: np.random.Generator
                          ) -> tuple[np.ndarray, np.ndarray]:
    """For each horizon Δt: π^(l) with b integrated out per draw (S, H), and π over joint
    draws of (θ, b) (S, H); module docstring."""
    integrated, joint_draws = [], []
    for start in range(0, draws.n, CHUNK):
        part = draws.take(slice(start, start + CHUNK))
        b, w, pick = _conditional_effects(spec, design, joint, person, part, samples, rng)
        risk = -np.expm1(-np.stack([
            _cumulative_hazard(spec, design, joint, person, part, b, person.landmark,
                               person.landmark + dt) for dt in horizons], axis=-1))  # (S, P, H)
        integrated.append(np.einsum("sp,sph->sh", w, risk))
        joint_draws.append(risk[np.arange(part.n), pick])
    return np.concatenate(integrated), np.concatenate(joint_draws)


def marker_band(spec: JointSpec, design: Design, person: Individual, draws: Draws,
                times: np.ndarray, *, samples: int, rng: np.random.Generator,
                joint: JointDesign) -> np.ndarray:
    """Draws (S, G) of the individual's true marker m_i(t) at ``times``, b drawn from its
    conditional given the visits and survival to the landmark (resampled as above)."""
    rows = marker_rows(design, person.baseline, spec.time, np.asarray(times, float)[None, :])
    out = []
    for start in range(0, draws.n, CHUNK):
        part = draws.take(slice(start, start + CHUNK))
        b, _, pick = _conditional_effects(spec, design, joint, person, part, samples, rng)
        chosen = b[np.arange(part.n), pick]                                   # (S, q)
        out.append(part.beta @ rows.X[0].T + chosen @ rows.Z[0].T)
    return np.concatenate(out)
