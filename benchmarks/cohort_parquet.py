"""The simulated cohort of ``bench_parquet.py``, written as Parquet one chunk of patients at a
time (numpy, pandas and pyarrow only), so that no step holds the whole cohort in memory.

Each patient has a correlated random intercept and slope over ``visits`` yearly visits (the
trial of ``trial_data.py``: SDs 10 and 1.5, correlation 0.3, residual SD 5, a treatment
effect of −1 per visit on the slope). Patients are written in order, so each patient's rows
lie in one file.
"""

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from trial_data import simulate_trial


def write_cohort(out: Path, n_patients: int, per_file: int, seed: int = 2026,
                 visits: int = 10) -> list[Path]:
    """``n_patients`` patients in files of ``per_file`` patients each; patient ids run
    over the whole cohort."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, first in enumerate(range(0, n_patients, per_file)):
        count = min(per_file, n_patients - first)
        chunk = simulate_trial(n_patients=count, n_visits=visits, seed=seed + k)
        chunk["patient"] = chunk.patient.astype(np.int64) + first
        path = out / f"part-{k:04d}.parquet"
        chunk.to_parquet(path, index=False)
        paths.append(path)
    return paths


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--patients", type=int, default=2_000_000)
    parser.add_argument("--per-file", type=int, default=100_000)
    args = parser.parse_args()
    paths = write_cohort(args.out, args.patients, args.per_file)
    rows = sum(len(pd.read_parquet(p, columns=["y"])) for p in paths)
    print(f"{rows:,} rows of {args.patients:,} patients in {len(paths)} files under {args.out}")


if __name__ == "__main__":
    main()
