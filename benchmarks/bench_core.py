"""Benchmark lmm_bayes against bambi (nutpie sampler), side by side in one run.

Each fit is timed end to end with ``time.perf_counter``: model build, compilation
and sampling (data loading and imports excluded). Efficiency is the minimum bulk
ESS over the fixed effects, the random-effect standard deviations and the
residual standard deviation (never over the individual random effects), divided
by the wall time. Before the first timed fit a tiny nutpie model is sampled so
that one-time, per-process JIT costs are not billed to whichever tool runs first.

Run with the benchmark environment (see ``setup_env.sh``)::

    benchmarks/.venv/bin/python benchmarks/bench_core.py
"""

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import arviz as az
import nutpie
import pandas as pd
import pymc as pm
from trial_data import simulate_trial

try:
    import bambi as bmb
except ImportError as err:  # bench_gaussian.py imports the helpers here without bambi
    bmb = None
    BAMBI_IMPORT_ERROR = err

try:
    from lmm_bayes import LMM
except ImportError as err:  # the package may not be installed or complete yet
    LMM = None
    LMM_IMPORT_ERROR = err

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"


@dataclass(frozen=True)
class Workload:
    """One benchmark problem.

    Attributes
    ----------
    data : str or callable
        CSV file name in ``DATA_DIR``, or a function returning the data frame.
    lmm_formula : str
        lme4-style formula for lmm_bayes.
    bambi_formula : str or None
        Equivalent bambi formula; ``None`` when bambi cannot express the model.
    categorical : tuple of str
        Columns read as strings and treated as categorical by both tools.
    factors : tuple of str
        Categorical fixed-effect columns passed to ``LMM(factors=...)``.
    chains, draws, tune : int
        Default sampler settings (overridable on the command line).
    family : str
        bambi's family (``"gaussian"``, ``"bernoulli"``...).
    """

    data: str | Callable[[], pd.DataFrame]
    lmm_formula: str
    bambi_formula: str | None
    categorical: tuple[str, ...]
    factors: tuple[str, ...] = ()
    chains: int = 4
    draws: int = 1000
    tune: int = 1000
    family: str = "gaussian"


WORKLOADS = {
    "sleepstudy_uncorr": Workload(
        "sleepstudy.csv",
        "Reaction ~ Days + (Days || Subject)",
        "Reaction ~ Days + (Days | Subject)",  # bambi's `|` is uncorrelated
        categorical=("Subject",),
    ),
    "sleepstudy_corr": Workload(
        "sleepstudy.csv",
        "Reaction ~ Days + (Days | Subject)",
        None,  # bambi has no correlated random effects
        categorical=("Subject",),
    ),
    "insteval": Workload(
        "insteval.csv",
        "y ~ service + (1 | s) + (1 | d) + (1 | dept:service)",
        "y ~ service + (1 | s) + (1 | d) + (1 | dept:service)",
        categorical=("s", "d", "dept", "service"),
        factors=("service",),
        chains=2,
        draws=500,
        tune=500,
    ),
    "trial20k_uncorr": Workload(
        lambda: simulate_trial(n_patients=2_000),
        "y ~ visit * arm + (visit || patient)",
        "y ~ visit * arm + (visit | patient)",  # bambi's `|` is uncorrelated
        categorical=("patient", "arm"),
        factors=("arm",),
        chains=2,
        draws=500,
        tune=500,
    ),
    "trial200k_uncorr": Workload(
        simulate_trial,
        "y ~ visit * arm + (visit || patient)",
        "y ~ visit * arm + (visit | patient)",  # bambi's `|` is uncorrelated
        categorical=("patient", "arm"),
        factors=("arm",),
        chains=2,
        draws=500,
        tune=500,
    ),
    "trial200k_corr": Workload(
        simulate_trial,
        "y ~ visit * arm + (visit | patient)",
        None,  # bambi has no correlated random effects
        categorical=("patient", "arm"),
        factors=("arm",),
        chains=2,
        draws=500,
        tune=500,
    ),
}


def fit_bambi(wl, df, chains, draws, tune, seed):
    """Build and sample the bambi model with nutpie.

    Returns
    -------
    idata : arviz.InferenceData
    var_names : list of str
        Fixed effects, group standard deviations and, for a Gaussian model, residual sigma.
    sampler : str
    """
    model = bmb.Model(wl.bambi_formula, df, family=wl.family, categorical=list(wl.categorical))
    idata = model.fit(
        draws=draws,
        tune=tune,
        chains=chains,
        random_seed=seed,
        inference_method="nutpie",
        progressbar=False,
    )
    mu = model.components[model.family.likelihood.parent]
    var_names = [mu.intercept_term.name, *mu.common_terms]
    var_names += [f"{name}_sigma" for name in mu.group_specific_terms]
    if wl.family == "gaussian":  # the other families here have no residual scale
        var_names.append("sigma")
    return idata, var_names, "nutpie"


def fit_lmm_bayes(wl, df, chains, draws, tune, seed):
    """Build and sample the lmm_bayes model with its default sampler (``sampler="auto"``:
    nutpie, or the independence sampler for a collapsed crossed model such as insteval,
    which takes no warm-up).

    Returns
    -------
    idata : arviz.InferenceData
    var_names : list of str
        ``beta``, the ``sd_<group>`` variables and ``sigma``.
    sampler : str
    """
    model = LMM(wl.lmm_formula, df, factors=list(wl.factors))
    fit = model.fit(draws=draws, tune=tune, chains=chains, random_seed=seed)
    names = [v for v in fit.idata.posterior.data_vars if v.startswith("sd_")]
    return fit.idata, ["beta", *names, "sigma"], fit.config.sampler


def measure(fit_fn, *args):
    """Time ``fit_fn(*args)`` and compute its minimum bulk ESS.

    Returns
    -------
    wall : float
        Seconds for build + compile + sample.
    min_ess : float
        Minimum bulk ESS over the selected variables.
    sampler : str
        The sampler that ran.
    """
    start = time.perf_counter()
    idata, var_names, sampler = fit_fn(*args)
    wall = time.perf_counter() - start
    ess = az.ess(idata, var_names=var_names, method="bulk")
    return wall, min(float(da.min()) for da in ess.data_vars.values()), sampler


def warm_up(seed):
    """Sample a trivial model with nutpie so per-process JIT costs are paid up front."""
    with pm.Model() as model:
        pm.Normal("x")
    nutpie.sample(
        nutpie.compile_pymc_model(model), draws=10, tune=10, chains=1, seed=seed, progress_bar=False
    )


def main():
    """Run the selected workloads and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--workloads",
        default=",".join(WORKLOADS),
        help="comma-separated subset of: " + ", ".join(WORKLOADS),
    )
    parser.add_argument("--chains", type=int, help="override each workload's default")
    parser.add_argument("--draws", type=int, help="override each workload's default")
    parser.add_argument("--tune", type=int, help="override each workload's default")
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args()

    if bmb is None:
        parser.exit(1, f"bambi not importable ({BAMBI_IMPORT_ERROR}); run with benchmarks/.venv "
                       "(setup_env.sh)\n")
    if LMM is None:
        print(f"lmm_bayes not importable ({LMM_IMPORT_ERROR}); benchmarking bambi only")
    warm_up(args.seed)

    rows, failures = [], []
    for name in args.workloads.split(","):
        wl = WORKLOADS[name]
        df = (wl.data() if callable(wl.data)
              else pd.read_csv(DATA_DIR / wl.data, dtype={c: str for c in wl.categorical}))
        settings = (args.chains or wl.chains, args.draws or wl.draws, args.tune or wl.tune)
        sampling = (wl, df, *settings, args.seed)
        bambi_rate = None
        if wl.bambi_formula is None:
            rows.append((name, "bambi", *settings, None, None, None, None))
        else:
            try:
                wall, ess, _ = measure(fit_bambi, *sampling)
            except (MemoryError, RuntimeError, ValueError) as err:  # e.g. a dense design
                failures.append(f"{name}, bambi: {type(err).__name__}: {err}")
                rows.append((name, "bambi (failed)", *settings, None, None, None, None))
            else:
                bambi_rate = ess / wall
                rows.append((name, "bambi", *settings, wall, ess, bambi_rate, 1.0))
        if LMM is not None:
            wall, ess, sampler = measure(fit_lmm_bayes, *sampling)
            ratio = ess / wall / bambi_rate if bambi_rate else None
            rows.append((name, f"lmm_bayes ({sampler})", *settings, wall, ess, ess / wall,
                         ratio))

    print(
        "| workload | tool | chains x draws/tune | wall s | min bulk ESS | ESS/s | ratio to bambi |"
    )
    print("|---|---|---|---:|---:|---:|---:|")
    for name, tool, chains, draws, tune, *numbers in rows:
        cells = ["n/a" if x is None else f"{x:.{p}f}" for x, p in zip(numbers, (1, 0, 1, 2))]
        print(f"| {name} | {tool} | {chains} x {draws}/{tune} | " + " | ".join(cells) + " |")
    for failure in failures:
        print(f"\nfailed: {failure}")


if __name__ == "__main__":
    main()
