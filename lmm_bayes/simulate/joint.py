"""A simulated cohort for joint models: yearly systolic blood pressure (mmHg) and the time to a
first cardiovascular event, whose hazard rises with the patient's current true SBP.

The marker follows a linear mixed model with correlated random intercepts and slopes,

.. math::

    m_i(t) = \\beta_0 + \\beta_1 t + \\beta_2 x_i + \\beta_3 t x_i + b_{0i} + b_{1i} t,
    \\qquad y_{ij} = m_i(t_{ij}) + \\varepsilon_{ij},

with x = 1 for the treated arm (randomised 1:1), (b_0, b_1) ~ N(0, Σ), ε ~ N(0, σ²); the
event a Weibull proportional-hazards model on the current value (and optionally the slope)
of the true trajectory,

.. math::

    h_i(t) = \\kappa t^{\\kappa - 1} \\exp\\{\\gamma_0 + \\gamma_x x_i + \\gamma_a
    \\mathrm{age}_i + \\alpha_v m_i(t) + \\alpha_s m_i'(t)\\}

(Rizopoulos 2012, *Joint Models for Longitudinal and Time-to-Event Data*, sec. 4.1). Event
times are drawn exactly: T_i solves H_i(T_i) = E_i, E_i ~ Exp(1), with the cumulative
hazard H_i by Gauss–Jacobi quadrature (exact to rounding) and the root by bisection
(Bender, Augustin & Blettner 2005, *Stat. Med.* 24: 1713–1723, for the inversion).
Follow-up ends at the event, at administrative censoring, or at an independent exponential
censoring time; visits after the end are not observed, so patients whose SBP is high leave
the marker data early (the dropout a separate mixed model of the marker ignores).

The values are of the order of SBP cohorts: baseline mean 140 mmHg, between-person SD
15 mmHg, a single visit's reading varying by 16 mmHg about the person's trajectory (office
readings; Rothwell et al. 2010, *Lancet* 375: 895–905). The association, a hazard ratio of
1.65 per 10 mmHg of current SBP, is that of a high-risk cohort (the Prospective Studies
Collaboration 2002, *Lancet* 360: 1903–1913, reports about 1.4 per 10 mmHg for usual SBP
in middle age); with slopes varying by 4 mmHg a year it makes about a third of the cohort
have an event within 8 years, and the dropout strong enough that the two-stage analysis is
visibly biased.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import special

from .normal import correlated_pairs

__all__ = ["JOINT_LONGITUDINAL_FORMULA", "JOINT_SURVIVAL_FORMULA", "JOINT_TRUTH",
           "joint_cumulative_hazard", "simulate_joint_cohort"]

JOINT_LONGITUDINAL_FORMULA = "sbp ~ time * arm + (1 + time | id)"
JOINT_SURVIVAL_FORMULA = "Surv(years, event) ~ arm + age"

#: True values, keyed as the joint model's posterior names them (``name[coordinate]``);
#: ``event_coef[(Intercept)]`` is γ₀, the Weibull log scale at arm = control, age = 0 and
#: SBP = 0 (mmHg). Arm "treated" lowers the SBP slope by 2 mmHg a year.
JOINT_TRUTH = {
    "beta[(Intercept)]": 140.0, "beta[time]": 1.0, "beta[armtreated]": 0.0,
    "beta[time:armtreated]": -2.0,
    "sd_id[(Intercept)]": 15.0, "sd_id[time]": 4.0, "corr_id[(Intercept).time]": 0.2,
    "sigma": 16.0,
    "event_coef[armtreated]": -0.2, "event_coef[age]": 0.04,
    "association[value]": 0.05, "association[slope]": 0.0,
    "weibull_shape": 1.3, "event_coef[(Intercept)]": -13.2,
}

_QUADRATURE_NODES = 32
_BISECTIONS = 60


def _parameters(truth: Mapping[str, float] | None) -> dict[str, float]:
    """:data:`JOINT_TRUTH` with ``truth``'s values in place of some; an unknown key is a
    ValueError naming it."""
    unknown = sorted(set(truth or {}) - set(JOINT_TRUTH))
    if unknown:
        raise ValueError(f"unknown truth key(s) {unknown}; known: {sorted(JOINT_TRUTH)}")
    values = {**JOINT_TRUTH, **(truth or {})}
    if values["weibull_shape"] <= 0 or values["sigma"] <= 0:
        raise ValueError("weibull_shape and sigma must be positive")
    return values


def _log_hazard_terms(values: Mapping[str, float], treated: np.ndarray, age: np.ndarray,
                      b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(a_i, c_i) with log h_i(t) − log(κ t^{κ−1}) = a_i + c_i t: the trajectory is linear
    in t, so the current value and slope enter the log hazard linearly."""
    intercept = values["beta[(Intercept)]"] + values["beta[armtreated]"] * treated + b[:, 0]
    slope = values["beta[time]"] + values["beta[time:armtreated]"] * treated + b[:, 1]
    a = (values["event_coef[(Intercept)]"] + values["event_coef[armtreated]"] * treated
         + values["event_coef[age]"] * age + values["association[value]"] * intercept
         + values["association[slope]"] * slope)
    return a, values["association[value]"] * slope


def joint_cumulative_hazard(t: np.ndarray, a: np.ndarray, c: np.ndarray,
                            shape: float) -> np.ndarray:
    """H(t) = ∫₀ᵗ κ s^{κ−1} exp(a + c s) ds per individual, by Gauss–Jacobi quadrature.

    With s = t(1 + x)/2, H(t) = κ (t/2)^κ ∫₋₁¹ (1 + x)^{κ−1} exp(a + c s(x)) dx: the
    Gauss–Jacobi rule of weight (1 + x)^{κ−1} (``scipy.special.roots_jacobi``) takes the
    factor that is not smooth at 0 into its weights and integrates the smooth exp(a + c s)
    to rounding error with ``_QUADRATURE_NODES`` nodes, for any shape κ (Gauss–Legendre
    converges only algebraically at s = 0 when κ is not a whole number).
    """
    nodes, weights = special.roots_jacobi(_QUADRATURE_NODES, 0.0, shape - 1.0)
    t = np.asarray(t, dtype=float)
    s = t[:, None] * (nodes + 1) / 2
    return shape * (t / 2) ** shape * (np.exp(a[:, None] + c[:, None] * s) @ weights)


def _event_times(a: np.ndarray, c: np.ndarray, shape: float, follow_up: float,
                 rng: np.random.Generator) -> np.ndarray:
    """T_i with H_i(T_i) = E_i, E_i ~ Exp(1), by bisection on [0, follow_up]; ``inf`` where
    H_i(follow_up) < E_i (no event before administrative censoring)."""
    target = rng.exponential(size=len(a))
    beyond = joint_cumulative_hazard(np.full(len(a), follow_up), a, c, shape) < target
    low, high = np.zeros(len(a)), np.full(len(a), follow_up)
    for _ in range(_BISECTIONS):
        middle = (low + high) / 2
        below = joint_cumulative_hazard(middle, a, c, shape) < target
        low, high = np.where(below, middle, low), np.where(below, high, middle)
    return np.where(beyond, np.inf, (low + high) / 2)


def simulate_joint_cohort(n_individuals: int = 500, *, visits: int = 8,
                          visit_interval: float = 1.0, follow_up: float | None = None,
                          censoring_rate: float = 0.02,
                          truth: Mapping[str, float] | None = None,
                          random_seed: int = 2025) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Simulate the cohort: SBP visits and the time to the first cardiovascular event.

    Parameters
    ----------
    n_individuals : int
    visits : int
        Scheduled visits, every ``visit_interval`` years from baseline (t = 0).
    visit_interval : float
    follow_up : float, optional
        Administrative censoring (years); ``visits × visit_interval`` by default.
    censoring_rate : float
        Rate (per year) of independent exponential censoring (loss to follow-up); 0 for none.
    truth : mapping, optional
        Values replacing some of :data:`JOINT_TRUTH` (e.g. ``{"association[slope]": 0.5}``).
    random_seed : int

    Returns
    -------
    long : pandas.DataFrame
        One row per visit seen before the end of follow-up: ``id`` ("S0001"...), ``time``
        (years), ``sbp`` (mmHg, to 0.1), ``arm`` ("control"/"treated"), ``age`` (years at
        baseline).
    event : pandas.DataFrame
        One row per individual: ``id``, ``years`` (end of follow-up), ``event`` (1 for a
        cardiovascular event, 0 for censoring), ``arm``, ``age``.
    truth : dict
        The values simulated from, keyed as :data:`JOINT_TRUTH`, with ``random_effects``
        (n × 2, intercept and slope deviations, in the order of ``event``'s rows).
    """
    values = _parameters(truth)
    if n_individuals < 1 or visits < 1 or visit_interval <= 0 or censoring_rate < 0:
        raise ValueError("n_individuals and visits must be positive, visit_interval > 0 "
                         "and censoring_rate >= 0")
    follow_up = float(visits * visit_interval if follow_up is None else follow_up)
    rng = np.random.default_rng(random_seed)
    treated = rng.permutation(np.arange(n_individuals) % 2)
    age = rng.normal(62.0, 8.0, n_individuals).round()
    b = correlated_pairs(values["sd_id[(Intercept)]"], values["sd_id[time]"],
                         values["corr_id[(Intercept).time]"], n_individuals, rng)
    a, c = _log_hazard_terms(values, treated, age, b)
    event_time = _event_times(a, c, values["weibull_shape"], follow_up, rng)
    dropout = (rng.exponential(1 / censoring_rate, n_individuals) if censoring_rate > 0
               else np.full(n_individuals, np.inf))
    end = np.minimum.reduce([event_time, dropout, np.full(n_individuals, follow_up)])
    ids = np.array([f"S{k + 1:04d}" for k in range(n_individuals)])
    arm = np.where(treated == 1, "treated", "control")
    event = pd.DataFrame({"id": ids, "years": end.round(4), "event": (event_time == end) * 1,
                          "arm": arm, "age": age})

    scheduled = np.arange(visits) * visit_interval
    person, visit = np.nonzero(scheduled[None, :] < end[:, None])
    time = scheduled[visit]
    x = treated[person]
    mean = (values["beta[(Intercept)]"] + values["beta[time]"] * time
            + values["beta[armtreated]"] * x + values["beta[time:armtreated]"] * time * x
            + b[person, 0] + b[person, 1] * time)
    sbp = mean + rng.normal(0.0, values["sigma"], len(mean))
    long = pd.DataFrame({"id": ids[person], "time": time, "sbp": sbp.round(1),
                         "arm": arm[person], "age": age[person]})
    return long, event, {**values, "random_effects": b}
