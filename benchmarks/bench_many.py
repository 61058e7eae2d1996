"""Genes per minute: lb.fit_many on a local Dask cluster against a plain loop of separate fits.

    python benchmarks/bench_many.py [--genes 40] [--loop-genes 8] [--workers 2]

Both fit the dynamic-eQTL model ``expression ~ genotype * time + (1 + time | subject)`` to
genes simulated by ``lmm_bayes.simulate.simulate_eqtl`` (30 subjects × 5 times), 2 chains ×
500/500 draws. The loop calls ``lb.fit`` per gene (each compiles its model); ``fit_many``
compiles once per worker and reuses the model for every gene. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings

import lmm_bayes as lb
from lmm_bayes.simulate import EQTL_FORMULA, simulate_eqtl

SETTINGS = {"draws": 500, "tune": 500, "chains": 2}


def loop(data, names) -> float:
    start = time.perf_counter()
    for k, name in enumerate(names):
        lb.fit(EQTL_FORMULA, data[data["gene"] == name], random_seed=k, **SETTINGS)
    return time.perf_counter() - start


def many(data, workers: int) -> float:
    from distributed import Client, LocalCluster

    start = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        result = lb.fit_many(EQTL_FORMULA, data, by="gene", client=client, random_seed=1,
                             **SETTINGS)
    elapsed = time.perf_counter() - start
    assert len(result.failures()) == 0, result.failures()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genes", type=int, default=40)
    parser.add_argument("--loop-genes", type=int, default=8)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    data = simulate_eqtl(args.genes, n_subjects=30, times=5, seed=1)
    names = sorted(data["gene"].unique())
    rows = [("plain loop of lb.fit", args.loop_genes, loop(data, names[:args.loop_genes])),
            (f"lb.fit_many, {args.workers} workers", args.genes, many(data, args.workers))]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"lmm_bayes {lb.__version__}; 2 chains × 500/500 draws per gene\n")
    print("| approach | genes | wall s | genes per minute |")
    print("|---|---|---|---|")
    for label, n, seconds in rows:
        print(f"| {label} | {n} | {seconds:.1f} | {60 * n / seconds:.1f} |")


if __name__ == "__main__":
    main()
