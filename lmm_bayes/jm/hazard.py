"""The hazard of a joint model and the survival log-likelihood, written once for numpy
(prediction, tests) and PyTensor (the PyMC model): ``ns`` is ``numpy`` or
``pytensor.tensor``.

The hazard of individual i (Rizopoulos 2012, section 4.1.1) is

.. math::

    h_i(t) = h_0(t) \\exp\\{w_i^\\top\\gamma + \\alpha\\, m_i(t)\\}
    \\quad\\text{(``value''; } + \\alpha_s m_i'(t) \\text{ for the slope, }
    \\alpha^\\top b_i \\text{ for ``shared''),}

with h_0(t) = κ t^{κ−1} e^{γ_0} (Weibull) or e^{λ_k} on the k-th interval (piecewise
constant). The survival log-likelihood of (T_i, δ_i) is
δ_i log h_i(T_i) − ∫_0^{T_i} h_i(u) du, the integral by Gauss–Legendre quadrature
(:func:`lmm_bayes.jm.design.quadrature`).
"""

from __future__ import annotations

__all__ = ["log_baseline_hazard", "survival_loglik"]


def log_baseline_hazard(ns, times, interval, *, shape=None, log_hazards=None):
    """log h_0(t) less the Weibull's log scale γ_0 (which the linear predictor carries):
    log κ + (κ − 1) log t with ``shape`` κ, or λ_k of each time's ``interval`` k with
    ``log_hazards`` λ. Parameters may have leading draw dimensions that broadcast
    against ``times`` (a numpy caller's (S, 1, ...) arrays)."""
    if shape is not None:
        return ns.log(shape) + (shape - 1.0) * ns.log(times)
    return ns.take(log_hazards, interval, axis=-1)


def survival_loglik(ns, event, log_hazard_event, log_hazard_nodes, weights):
    """δ_i log h_i(T_i) − Σ_j w_ij h_i(u_ij), per individual (the last axis holds the
    nodes u_ij with weights w_ij of ∫_0^{T_i})."""
    return event * log_hazard_event - ns.sum(weights * ns.exp(log_hazard_nodes), axis=-1)
