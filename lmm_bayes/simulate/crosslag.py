"""A simulated cohort for cross-lagged models: does tau change before cognition, or cognition
before tau?

Each person's tau (x, a PET or plasma tau score) and cognition (y, a composite score) follow
a bivariate first-order autoregression around person-specific levels,

.. math::

    y_{it} = \\mu_y + a_{yi} + \\phi_{yy} y_{i,t-1} + \\phi_{yx} x_{i,t-1} + e_{yit},\\qquad
    x_{it} = \\mu_x + a_{xi} + \\phi_{xx} x_{i,t-1} + \\phi_{xy} y_{i,t-1} + e_{xit},

with correlated person effects (a_y, a_x) and correlated innovations (e_y, e_x). The
process runs for :data:`BURN_IN` visits before the first recorded one, so the recorded
series start from the stationary distribution given the person effects. Tau drives
cognitive decline here (φ_yx < 0) and cognition does not drive tau (φ_xy = 0).

The person effects are correlated with the first recorded values, so a model that treats
those values as fixed (a random intercept with a lagged outcome) is biased; conditioning on
each person's baseline values (``tau_base``, ``cognition_base`` as covariates) removes the
bias (Wooldridge 2005, *J. Appl. Econometrics* 20(1), "Simple solutions to the initial
conditions problem"). The worked example in ``docs/multivariate.md`` does so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .normal import correlated_pairs

__all__ = ["CROSSLAG_TRUTH", "simulate_crosslag"]

BURN_IN = 30

#: True values: lag coefficients (``cognition:tau_lag1`` = φ_yx ...), intercepts, person-
#: effect SDs and correlation, innovation SDs and correlation.
CROSSLAG_TRUTH = {
    "cognition:(Intercept)": 0.0, "cognition:cognition_lag1": 0.5,
    "cognition:tau_lag1": -0.3, "tau:(Intercept)": 1.0, "tau:tau_lag1": 0.6,
    "tau:cognition_lag1": 0.0, "sd__cognition:(Intercept)": 0.6, "sd__tau:(Intercept)": 0.5,
    "cor__cognition:(Intercept).tau:(Intercept)": -0.4, "sd__cognition:Observation": 0.8,
    "sd__tau:Observation": 0.6, "rescor__cognition.tau": 0.3,
}


def simulate_crosslag(n_people: int = 200, *, visits: int = 6, missed: float = 0.1,
                      seed: int = 7) -> pd.DataFrame:
    """Simulate the cohort.

    Parameters
    ----------
    n_people : int
    visits : int
        Scheduled yearly visits, numbered 0, 1, ...
    missed : float
        Probability that a follow-up visit (not the baseline) is missed: its row is absent.
    seed : int

    Returns
    -------
    pandas.DataFrame
        One row per attended visit: ``id`` ("S001"...), ``visit``, ``tau``, ``cognition``;
        ``attrs["truth"]`` holds :data:`CROSSLAG_TRUTH`.
    """
    rng = np.random.default_rng(seed)
    t = CROSSLAG_TRUTH
    effects = correlated_pairs(t["sd__cognition:(Intercept)"], t["sd__tau:(Intercept)"],
                               t["cor__cognition:(Intercept).tau:(Intercept)"], n_people, rng)
    level = np.array([t["cognition:(Intercept)"], t["tau:(Intercept)"]]) + effects
    lag = np.array([[t["cognition:cognition_lag1"], t["cognition:tau_lag1"]],
                    [t["tau:cognition_lag1"], t["tau:tau_lag1"]]])
    state = np.zeros((n_people, 2))
    series = []
    for step in range(BURN_IN + visits):
        noise = correlated_pairs(t["sd__cognition:Observation"], t["sd__tau:Observation"],
                                 t["rescor__cognition.tau"], n_people, rng)
        state = level + state @ lag.T + noise
        if step >= BURN_IN:
            series.append(state)
    values = np.stack(series, axis=1)  # (people, visits, 2)
    frame = pd.DataFrame({
        "id": np.repeat([f"S{i + 1:03d}" for i in range(n_people)], visits),
        "visit": np.tile(np.arange(visits), n_people),
        "tau": values[..., 1].ravel().round(3), "cognition": values[..., 0].ravel().round(3),
    })
    seen = (frame["visit"] == 0) | (rng.random(len(frame)) > missed)
    frame = frame[seen.to_numpy()].reset_index(drop=True)
    frame.attrs["truth"] = dict(CROSSLAG_TRUTH)
    return frame
