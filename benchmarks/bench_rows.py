"""Rows by partition at scale: a simulated cohort written as Parquet, fitted from its
statistics on a 2-worker local cluster, then its next visits predicted, its fitted values
written and its PPC statistics reduced, partition by partition (lmm_bayes.distributed.rows).

    python benchmarks/bench_rows.py --patients 200000 --visits 5 --files 20

Prints the wall time of each step and the peak resident memory of the client and of each
worker (``ru_maxrss``). Not part of the tests.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd


def cohort(patients: int, visits: int, seed: int = 0) -> pd.DataFrame:
    """Quarterly visits with a correlated random intercept and slope (SDs 1.0 and 0.3,
    correlation −0.3) and a residual SD of 0.5, around 7.5 − 0.1 years."""
    rng = np.random.default_rng(seed)
    cov = np.array([[1.0, -0.09], [-0.09, 0.09]])
    u = rng.multivariate_normal([0.0, 0.0], cov, patients)
    ids = np.repeat(np.arange(patients), visits)
    years = np.tile(np.arange(visits) * 0.25, patients)
    y = 7.5 - 0.1 * years + u[ids, 0] + u[ids, 1] * years + rng.normal(0, 0.5, len(ids))
    return pd.DataFrame({"patient": np.char.add("P", ids.astype(str)), "years": years,
                         "hba1c": y})


def write(frame: pd.DataFrame, folder: Path, files: int) -> Path:
    folder.mkdir()
    for k, part in enumerate(np.array_split(np.arange(len(frame)), files)):
        frame.iloc[part].to_parquet(folder / f"part.{k:04d}.parquet")
    return folder


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument("--visits", type=int, default=5)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--draws", type=int, default=200)
    args = parser.parse_args()

    from distributed import Client, LocalCluster

    import lmm_bayes as lb

    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", lb.SamplingWarning)
        tmp = Path(tmp)
        data = cohort(args.patients, args.visits)
        source = write(data, tmp / "visits", args.files)
        last = data.groupby("patient", sort=False).tail(1)
        nxt = write(last.assign(years=last.years + 0.25), tmp / "next", args.files)
        del data, last
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None)
        client = Client(cluster)
        times = {}
        started = time.perf_counter()
        fit = lb.LMM("hba1c ~ years + (years | patient)", str(source), client=client).fit(
            draws=args.draws, tune=args.draws, chains=2, random_seed=1)
        times["fit (passes + sampling)"] = time.perf_counter() - started
        steps = {
            "predict next visits (mean)": lambda: fit.predict(str(nxt), path=tmp / "p1"),
            "predict next visits (response)": lambda: fit.predict(
                str(nxt), kind="response", random_seed=2, path=tmp / "p2"),
            "fitted values of every row": lambda: fit.fitted(path=tmp / "fitted"),
            "PPC statistics": lambda: fit.ppc_pvalues(random_seed=3),
        }
        for name, step in steps.items():
            started = time.perf_counter()
            step()
            times[name] = time.perf_counter() - started
        workers = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        client.close()
        cluster.close()
    rows = args.patients * args.visits
    print(f"{rows} rows, {args.patients} patients, {args.files} files, "
          f"{2 * args.draws} draws")
    for name, seconds in times.items():
        print(f"  {name:34s} {seconds:8.1f} s")
    print(f"  peak memory: client {peak_mb():.0f} MB; workers "
          + ", ".join(f"{mb:.0f} MB" for mb in workers.values()))


if __name__ == "__main__":
    main()
