"""Time a joint model of 500 individuals × up to 8 visits (issue 23's goal: under 2 minutes
on 2 cores, compile and sampling): the simulated SBP cohort of
:func:`lmm_bayes.simulate.simulate_joint_cohort` (8 yearly visits scheduled, fewer where the
event or censoring comes first), fitted with 4 chains × (1000 + 1000) draws by nutpie on
``--cores`` cores. Prints the build and compile + sampling wall times, the process's CPU
time (which other load on the machine does not inflate) and the estimates against the
truth.

Run: ``python benchmarks/joint_model.py [--cores 2]``.
"""

from __future__ import annotations

import argparse
import time
import warnings

import lmm_bayes as lb
from lmm_bayes.simulate import simulate_joint_cohort

INDIVIDUALS, VISITS = 500, 8


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    visits, events, truth = simulate_joint_cohort(INDIVIDUALS, visits=VISITS,
                                                  random_seed=args.seed)
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
    print("truth:", {k: v for k, v in truth.items() if k != "random_effects"})


if __name__ == "__main__":
    main()
