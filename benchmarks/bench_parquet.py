"""A mixed model fitted from Parquet files on a Dask cluster: the cohort of
``cohort_parquet.py`` (by default 2M patients × 10 visits, 20M rows), through a local cluster
of 2 single-threaded workers.

Prints a markdown table of the wall time of each step (the first pass: levels, constants,
moments; the second: per-level statistics; the posterior mode; sampling to a min bulk ESS
of 400), the min bulk ESS, and the peak memory (resident set) of the client and of each
worker; then checks that the same model on a 1M-row subset gives the same draws from
Parquet (split into several partitions) as from the same rows held in memory::

    python benchmarks/bench_parquet.py --cohort /tmp/cohort20m [--patients 2000000]

It writes the cohort first when ``--cohort`` holds no Parquet files. Needs the
``distributed`` extra (``pip install ".[distributed]"``).
"""

import argparse
import platform
import resource
import time
import warnings
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
from cohort_parquet import write_cohort
from dask.distributed import Client, LocalCluster

import lmm_bayes as lb

FORMULA = "y ~ visit * arm + (visit | patient)"
OPTIONS = {"factors": ["arm"], "reference": {"arm": "control"}}
SUBSET_FILES = 1  # files of the equality check (100,000 patients, 1M rows each)


def _peak_rss_gb() -> float:
    """This process's peak resident set in GB (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _min_ess(fit) -> float:
    ess = az.ess(fit.idata, var_names=fit.parameter_names, method="bulk")
    return min(float(v.min()) for v in ess.data_vars.values())


def fit_cohort(cohort: Path, client: Client, draws: int, seed: int):
    """The model from every file of ``cohort``: (times by step, min ESS, fit)."""
    start = time.perf_counter()
    model = lb.LMM(FORMULA, str(cohort / "*.parquet"), client=client, **OPTIONS)
    built = time.perf_counter()
    times = dict(model.pass_times)
    assert model.density.n_dim  # the statistics packed for the compiled density, the mode
    times["mode"] = time.perf_counter() - built
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lb.SamplingWarning)
        fit = model.fit(draws=draws, chains=4, random_seed=seed)
    times["sampling"] = time.perf_counter() - started
    times["total"] = time.perf_counter() - start
    return times, _min_ess(fit), fit


def same_draws(cohort: Path, client: Client, seed: int) -> float:
    """The largest difference between the draws of β, the SDs, the correlation and σ fitted
    from the first file(s) as Parquet in 7 partitions and as a pandas DataFrame in memory."""
    import dask.dataframe as dd

    files = sorted(cohort.glob("*.parquet"))[:SUBSET_FILES]
    rows = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    in_memory = lb.LMM(FORMULA, rows, **OPTIONS)
    partitions = dd.read_parquet([str(f) for f in files]).repartition(npartitions=7)
    distributed = lb.LMM(FORMULA, partitions, client=client, **OPTIONS)
    fits = []
    for model in (in_memory, distributed):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", lb.SamplingWarning)
            fits.append(model.fit(draws=250, chains=4, random_seed=seed, sampler="imh"))
    return max(float(np.abs(fits[0].idata.posterior[name] - fits[1].idata.posterior[name]).max())
               for name in fits[1].idata.posterior.data_vars)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohort", type=Path, default=Path("/tmp/cohort20m"))
    parser.add_argument("--patients", type=int, default=2_000_000)
    parser.add_argument("--draws", type=int, default=400, help="per chain, 4 chains")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if not list(args.cohort.glob("*.parquet")):
        write_cohort(args.cohort, args.patients, per_file=100_000)
    rows = sum(pd.read_parquet(f, columns=["visit"]).shape[0]
               for f in args.cohort.glob("*.parquet"))
    print(f"{rows:,} rows in {len(list(args.cohort.glob('*.parquet')))} Parquet files; "
          f"{platform.processor() or platform.machine()}, lmm_bayes {lb.__version__}")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster, \
            Client(cluster) as client:
        times, ess, fit = fit_cohort(args.cohort, client, args.draws, args.seed)
        workers = client.run(_peak_rss_gb)
        print("| rows | first pass s | second pass s | mode s | sampling s | total s | "
              "min bulk ESS | client peak GB | worker peaks GB |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        print(f"| {rows:,} | {times['first']:.1f} | {times['second']:.1f} | "
              f"{times['mode']:.1f} | {times['sampling']:.1f} | {times['total']:.1f} | "
              f"{ess:.0f} | {_peak_rss_gb():.2f} | "
              f"{', '.join(f'{v:.2f}' for v in workers.values())} |", flush=True)
        print(fit.summary().to_string(), flush=True)
        difference = same_draws(args.cohort, client, args.seed)
        print(f"1M-row subset, Parquet in 7 partitions against pandas in memory: largest "
              f"difference between draws {difference:.2e}")


if __name__ == "__main__":
    main()
