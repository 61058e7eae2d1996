"""The PyMC model of a joint model: the marker's linear mixed model
(:func:`lmm_bayes.builder.gaussian_mixed_part`, the effects indexed by level) and the
survival log-likelihood (:mod:`lmm_bayes.jm.hazard`) as a ``pm.Potential``, sharing β and
the effects b_i.

The hazard depends on b_i through exp(α m_i(t)), so b_i cannot be integrated out in closed
form as the Gaussian engines do (:mod:`lmm_bayes.marginal`): every b_i is sampled, by NUTS
with the rest.

Sampled parametrisation: the survival covariates other than the intercept are centred at
their means w̄ and the marker at m̄ (the mean response), so that the log scale (or the log
hazards) is not confounded with the coefficients; the reported intercept (or
``log_baseline_hazard``) is the sampled one less w̄ᵀγ + α m̄, as :mod:`lmm_bayes.builder`
reports the fixed effects' intercept. The coefficients are sampled per typical size of
their covariate (``priors.scales``: sd(w), sd(y)...), so that every sampled coordinate is
of order one and a start jittered by ±1 (nutpie's) cannot put exp(α m) out of range.
Internal variables: ``event_intercept_c``, ``event_slopes_std``, ``association_std``,
``log_weibull_shape``, ``log_baseline_hazard_c1``, ``baseline_steps``.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from .. import names
from ..builder import gaussian_mixed_part, model_coords, scalar_parameter, vector_parameter
from ..design import Design
from ..priors import INTERCEPT
from .design import JointDesign, MarkerRows
from .hazard import log_baseline_hazard, survival_loglik
from .priors import JointPriors, association_terms, standardised

__all__ = ["build_joint_model"]


def _marker(rows: MarkerRows, beta, b, derivative: bool = False):
    """m_i(t) (or m_i'(t)) at the rows' times, (n, M)."""
    X, Z = (rows.dX, rows.dZ) if derivative else (rows.X, rows.Z)
    n, m, p = X.shape
    return pt.dot(X.reshape(n * m, p), beta).reshape((n, m)) + (Z * b[:, None, :]).sum(axis=-1)


def _association(association: str, rows: MarkerRows, beta, b, alpha_std, scales: np.ndarray,
                 centre: float):
    """The association's part of the log hazard at the rows' times, (n, M), from the
    standardised coefficients: α_k x_k = (α_k s_k)(x_k/s_k), x the centred marker, its
    slope or a random effect."""
    if association == "shared":
        return pt.dot(b / scales, alpha_std)[:, None] * pt.ones(rows.X.shape[:2])
    part = 0.0
    for k, kind in enumerate(association.split("+")):
        value = (_marker(rows, beta, b) - centre if kind == "value"
                 else _marker(rows, beta, b, derivative=True))
        part = part + alpha_std[k] * value / scales[k]
    return part


def _random_walk(priors: JointPriors, n_intervals: int):
    """λ_1 ~ the prior of ``log_baseline_hazard``, λ_k = λ_(k−1) + τ z_k, z_k ~ N(0, 1)
    (non-centred), τ = ``baseline_smoothness``."""
    first = scalar_parameter("log_baseline_hazard_c1", priors.log_baseline_hazard)
    tau = scalar_parameter(names.BASELINE_SMOOTHNESS, priors.baseline_smoothness)
    steps = pm.Normal("baseline_steps", 0.0, 1.0, shape=n_intervals - 1)
    return first + pt.concatenate([pt.zeros(1), pt.cumsum(tau * steps)])


def _survival_coefficients(joint: JointDesign, priors: JointPriors):
    """γ of the covariates other than the intercept, sampled per SD of each covariate
    (``event_slopes_std``); returns γ, the standardised covariates' linear predictor and
    w̄ᵀγ."""
    slopes = [j for j, n in enumerate(joint.survival_names) if n != INTERCEPT]
    if not slopes:
        return pt.zeros(0), pt.zeros(joint.n), 0.0
    labels = [joint.survival_names[j] for j in slopes]
    scale = np.array([priors.scales["event"][n] for n in labels])
    W = joint.W[:, slopes]
    means = W.mean(axis=0)
    gamma_std = vector_parameter("event_slopes_std",
                                 [standardised(priors.event[n], s) for n, s in zip(labels, scale)],
                                 "event_slope")
    gamma = gamma_std / scale
    return gamma, pt.dot((W - means) / scale, gamma_std), pt.dot(means, gamma)


def build_joint_model(design: Design, joint: JointDesign, priors: JointPriors,
                      association: str, baseline: str,
                      parametrization: str = "auto") -> pm.Model:
    """The PyMC model of the joint model (module docstring).

    Returns
    -------
    pymc.Model
        Posterior names: the marker's (``beta``, ``sigma``, ``sd_<id>``, ``corr_<id>``,
        ``b_<id>``) and ``event_coef`` (dim ``event_fixed``), ``association`` (dim
        ``association_term``), ``weibull_shape`` or ``log_baseline_hazard`` (dim
        ``baseline_interval``) with ``baseline_smoothness`` (:mod:`lmm_bayes.names`).
    """
    terms = association_terms(association, design)
    coords = {**model_coords(design), names.EVENT_FIXED: list(joint.survival_names),
              names.ASSOCIATION_TERM: list(terms),
              "event_slope": [n for n in joint.survival_names if n != INTERCEPT]}
    if baseline == "piecewise":
        coords[names.BASELINE_INTERVAL] = names.baseline_interval_labels(joint.cuts)
    scales = np.array([priors.scales["association"][t] for t in terms])
    centre = float(design.y.mean())
    nodes = joint.nodes
    with pm.Model(coords=coords) as model:
        beta, effects = gaussian_mixed_part(design, priors.longitudinal, parametrization)
        b = effects[design.groups[0].name]
        alpha_std = vector_parameter(
            "association_std", [standardised(priors.association[t], s)
                                for t, s in zip(terms, scales)], names.ASSOCIATION_TERM)
        alpha = pm.Deterministic(names.ASSOCIATION, alpha_std / scales,
                                 dims=names.ASSOCIATION_TERM)
        gamma, linear, shift = _survival_coefficients(joint, priors)
        if "value" in terms:
            shift = shift + alpha[terms.index("value")] * centre
        if baseline == "weibull":
            kappa = pm.Deterministic(names.WEIBULL_SHAPE, pt.exp(
                scalar_parameter("log_weibull_shape", priors.log_weibull_shape)))
            intercept = scalar_parameter("event_intercept_c", priors.event[INTERCEPT])
            options, linear = {"shape": kappa}, linear + intercept
            coefficients = pt.concatenate([(intercept - shift)[None], gamma])
        else:
            lam = _random_walk(priors, len(joint.cuts) + 1)
            pm.Deterministic(names.LOG_BASELINE_HAZARD, lam - shift,
                             dims=names.BASELINE_INTERVAL)
            options, coefficients = {"log_hazards": lam}, gamma
        pm.Deterministic(names.EVENT_COEF, coefficients, dims=names.EVENT_FIXED)
        at_nodes = (linear[:, None] + log_baseline_hazard(pt, nodes.times, nodes.interval,
                                                          **options)
                    + _association(association, joint.at_nodes, beta, b, alpha_std, scales,
                                   centre))
        interval = np.searchsorted(np.asarray(joint.cuts), joint.event_time, side="right")
        at_event = (linear + log_baseline_hazard(pt, joint.event_time, interval, **options)
                    + _association(association, joint.at_event, beta, b, alpha_std, scales,
                                   centre)[:, 0])
        pm.Potential("event_loglik", survival_loglik(pt, joint.event, at_event, at_nodes,
                                                     nodes.weights).sum())
    return model
