"""Time a joint model of 500 individuals × up to 8 visits (issue 23's goal: under 2 minutes
on 2 cores, compile and sampling): the simulated SBP cohort of
``scripts/simulate_sbp_cohort.py`` with 500 individuals and 8 visits each, evenly spread
over their follow-up (simulated every 0.01 years, then every k-th kept), fitted with 4
chains × (1000 + 1000) draws by nutpie on ``--cores`` cores. Prints the build,
compile + sampling wall times, the process's CPU time (which other load on the machine does
not inflate) and the estimates against the truth.

Run: ``python benchmarks/joint_model.py [--cores 2]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
import warnings
from pathlib import Path

import numpy as np

import lmm_bayes as lb

VISITS = 8


def _simulator():
    path = Path(__file__).resolve().parent.parent / "scripts" / "simulate_sbp_cohort.py"
    spec = importlib.util.spec_from_file_location("simulate_sbp_cohort", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.VISIT_EVERY = 0.01
    return module


def _eight_visits(visits):
    """8 visits per individual, evenly spaced among their simulated ones."""
    size = visits.groupby("id")["time"].transform("size").to_numpy()
    order = visits.groupby("id").cumcount().to_numpy()
    targets = np.round(np.arange(VISITS)[None, :] * (size[:, None] - 1) / (VISITS - 1))
    return visits[(targets == order[:, None]).any(axis=1)].reset_index(drop=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    sim = _simulator()
    visits, events = sim.simulate(n=500, seed=7)
    visits = _eight_visits(visits)
    start, cpu = time.perf_counter(), time.process_time()
    model = lb.JointModel("sbp ~ time * arm + (1 + time | id)",
                          "Surv(years, event) ~ arm + age", visits, events, id="id",
                          time="time")
    built = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lb.SamplingWarning)
        fit = model.fit(draws=1000, tune=1000, chains=4, cores=args.cores, random_seed=1)
    done, cpu = time.perf_counter(), time.process_time() - cpu
    per = visits.groupby("id").size()
    print(f"{len(events)} individuals, {int(events.event.sum())} events, {len(visits)} visits "
          f"(mean {per.mean():.1f}, max {per.max()} per individual)")
    print(f"design {built - start:.1f} s; compile + sampling {done - built:.1f} s; total "
          f"{done - start:.1f} s on {args.cores} cores; CPU time {cpu:.1f} s (all threads: "
          f"the work, whatever else the machine runs)")
    print(fit.summary()[["effect", "term", "estimate", "conf_low", "conf_high", "ess_bulk",
                         "r_hat"]].to_string())
    print("truth:", sim.TRUTH)


if __name__ == "__main__":
    main()
