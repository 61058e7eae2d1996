"""Write the shipped SBP → cardiovascular event cohort: ``lmm_bayes/data/sbp_visits.csv``
(one row per visit) and ``lmm_bayes/data/sbp_events.csv`` (one row per individual).

A simulated cohort of 300 adults, half on an antihypertensive treatment, followed for up
to 5 years with a blood-pressure visit every 6 months. Systolic pressure (mmHg) follows
sbp_i(t) = 140 + 1.5 t − 2 treatment − 2.5 t·treatment + b_i0 + b_i1 t + ε, with
(b_i0, b_i1) ~ N(0, diag(12, 2.5) R diag(12, 2.5)), corr 0.2, and ε ~ N(0, 6²). The hazard
of a cardiovascular event is Weibull (shape 1.4) and proportional,
h_i(t) = 1.4 t^0.4 exp(γ_0 + 0.03 age − 0.2 treatment + 0.04 m_i(t)), with m_i(t) the true
pressure without ε: each 10 mmHg multiplies the hazard by e^0.4 ≈ 1.5. γ_0 = −10.4 (about
a third of the cohort has an event). Follow-up ends at the event, at 5 years
(administrative censoring) or at a uniform random dropout time on (0, 12) years; visits
stop at the end of follow-up. Event times come from inverting the cumulative hazard
(trapezoid rule on a grid of 5,001 points over 5 years). Run: ``python
scripts/simulate_sbp_cohort.py`` (seed 2026).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

TRUTH = {"beta": (140.0, 1.5, -2.0, -2.5), "sd": (12.0, 2.5), "corr": 0.2, "sigma": 6.0,
         "log_scale": -10.4, "age": 0.03, "treatment": -0.2, "alpha": 0.04, "shape": 1.4}
FOLLOW_UP, VISIT_EVERY, GRID = 5.0, 0.5, 5001


def simulate(n: int = 300, seed: int = 2026) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    treated = rng.uniform(size=n) < 0.5
    age = np.round(rng.normal(60, 8, n), 1)
    sd, corr = np.array(TRUTH["sd"]), TRUTH["corr"]
    cov = np.outer(sd, sd) * np.array([[1, corr], [corr, 1]])
    b = rng.multivariate_normal(np.zeros(2), cov, n)
    b0, b1, b2, b3 = TRUTH["beta"]
    intercept = b0 + b2 * treated + b[:, 0]
    slope = b1 + b3 * treated + b[:, 1]
    grid = np.linspace(0, FOLLOW_UP, GRID)
    linear = TRUTH["log_scale"] + TRUTH["age"] * age + TRUTH["treatment"] * treated
    kappa = TRUTH["shape"]
    hazard = (kappa * np.maximum(grid, 1e-12) ** (kappa - 1)
              * np.exp(linear[:, None] + TRUTH["alpha"] * (intercept[:, None]
                                                           + slope[:, None] * grid)))
    cumulative = np.concatenate([np.zeros((n, 1)), np.cumsum(
        (hazard[:, 1:] + hazard[:, :-1]) / 2 * np.diff(grid), axis=1)], axis=1)
    target = -np.log(rng.uniform(size=n))
    event_time = np.array([np.interp(target[i], cumulative[i], grid)
                           if target[i] < cumulative[i, -1] else np.inf for i in range(n)])
    censor = np.minimum(FOLLOW_UP, rng.uniform(0, 12, n))
    time = np.maximum(np.round(np.minimum(event_time, censor), 3), 0.001)
    event = (event_time <= censor).astype(int)
    arm = np.where(treated, "treatment", "control")
    events = pd.DataFrame({"id": np.arange(1, n + 1), "years": time, "event": event,
                           "arm": arm, "age": age})
    rows = []
    for i in range(n):
        for t in np.arange(0, time[i], VISIT_EVERY):
            sbp = intercept[i] + slope[i] * t + rng.normal(0, TRUTH["sigma"])
            rows.append((i + 1, round(float(t), 2), round(float(sbp), 1), arm[i], age[i]))
    visits = pd.DataFrame(rows, columns=["id", "time", "sbp", "arm", "age"])
    return visits, events


if __name__ == "__main__":
    visits, events = simulate()
    folder = Path(__file__).resolve().parent.parent / "lmm_bayes" / "data"
    visits.to_csv(folder / "sbp_visits.csv", index=False)
    events.to_csv(folder / "sbp_events.csv", index=False)
    print(f"{len(events)} individuals, {int(events.event.sum())} events, {len(visits)} visits")
