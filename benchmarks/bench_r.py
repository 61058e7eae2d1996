"""Helpers shared by the benchmarks against R (``bench_gaussian.py``, ``bench_glmm.py``): running
an R script on the models' data, fitting lmm_bayes, matching the two sides' parameter labels
and printing the tables.

The R side is one ``Rscript`` subprocess per run (``bench_gaussian.R``, ``bench_glmm.R``, both
built on ``bench_common.R``) that reads the same data, written as CSV to a temporary directory,
and writes its timings and estimates as JSON.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import arviz as az
import bench_core
import pandas as pd

import lmm_bayes as lb

#: bulk ESS the time-to-ESS column is scaled to
TARGET_ESS = 400
#: scalar posterior variables whose ESS counts, besides beta and the sd_<g>: the Gaussian
#: residual's parameters and the negative binomial's dispersion
SCALAR_VARIABLES = ("sigma", "phi", "sigma_beta", "alpha")


# ----------------------------------------------------------------------------- command line

def add_common_arguments(parser: argparse.ArgumentParser, models, bambi_help: str):
    """The options both benchmarks take: ``--models`` (of ``models``), the sampler settings,
    ``--seed``, ``--r-repeats`` and ``--bambi``."""
    parser.add_argument("--models", default=",".join(models),
                        help="comma-separated subset of: " + ", ".join(models))
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--r-repeats", type=int, default=3, help="R fits per model (median)")
    parser.add_argument("--bambi", action="store_true", help=bambi_help)


def selected_models(parser: argparse.ArgumentParser, args, models) -> list[str]:
    """``--models`` as a list, each checked against ``models`` (a usage error otherwise)."""
    keys = [k.strip() for k in args.models.split(",") if k.strip()]
    unknown = [k for k in keys if k not in models]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {list(models)}")
    return keys


def fit_options(args, **extra) -> dict:
    """``fit``'s keywords from the command line (and ``extra``, e.g. ``engine``)."""
    return {"chains": args.chains, "draws": args.draws, "tune": args.tune,
            "random_seed": args.seed, **extra}


def bambi_wanted(requested: bool) -> bool:
    """Whether ``--bambi`` can run here: bambi must be importable (benchmarks/.venv); says
    why not on stderr, and the run goes on without it."""
    if requested and bench_core.bmb is None:
        print(f"--bambi: bambi is not importable ({bench_core.BAMBI_IMPORT_ERROR}); run with "
              "benchmarks/.venv (setup_env.sh). Going on without it.", file=sys.stderr)
    return requested and bench_core.bmb is not None


# ----------------------------------------------------------------------------- labels

def term_label(name: str) -> str:
    """A fixed-effect term as both tools compare it: without spaces (``I(day^2)``)."""
    return re.sub(r"\s+", "", name)


def group_label(name: str) -> str:
    """A grouping factor's name as both tools compare: lme4's ``||`` suffixes (``subj.1``)
    dropped and the parts of an interaction sorted (lme4's ``Variety:Block``)."""
    return ":".join(sorted(re.sub(r"\.\d+$", "", name).split(":")))


def labels_of_categorical(data: pd.DataFrame) -> list[str]:
    """The columns both tools treat as categorical: those holding strings."""
    return [c for c in data.columns if not pd.api.types.is_numeric_dtype(data[c])]


def r_estimates(result) -> dict[str, float]:
    """R's fixed effects, random-effect SDs and correlations and, where R reports it, the
    negative binomial's ``alpha``, under the labels of :func:`posterior_estimates`."""
    est = {f"beta[{term_label(k)}]": v for k, v in result["fixef"].items()}
    est |= {f"sd[{group_label(s['group'])}][{term_label(s['term'])}]": s["value"]
            for s in result["sd"]}
    est |= {f"corr[{group_label(c['group'])}][{'.'.join(map(term_label, c['terms']))}]":
            c["value"] for c in result["cor"]}
    if result.get("alpha") is not None:
        est["alpha"] = result["alpha"]
    return est


# ----------------------------------------------------------------------------- R

def run_r(script: Path, jobs: list[dict], frames: dict[str, pd.DataFrame], repeats=3):
    """Fit every job in one Rscript process.

    Parameters
    ----------
    script : Path
        The R script (``Rscript script jobs.json results.json``).
    jobs : list of dict
        Each with ``key`` (the result's name), ``data`` (a key of ``frames``), ``call`` (R
        code fitting the data frame ``data``) and ``reference`` (level per column).
    frames : dict
        The data frames, by name; their string columns are factors in R.
    repeats : int
        Fits per job, of which R reports the median time.

    Returns
    -------
    versions : dict
        R's and the packages' versions (empty when R did not run).
    results : dict
        Per job key, R's result (``seconds``, ``fixef``, ``sd``...) or ``{"error": message}``.
    """
    keys = [job["key"] for job in jobs]
    if shutil.which("Rscript") is None:
        return {}, {k: {"error": "Rscript not found"} for k in keys}
    with tempfile.TemporaryDirectory(prefix=f"{script.stem}_") as tmp:
        for name in {job["data"] for job in jobs}:
            frames[name].to_csv(Path(tmp) / f"{name}.csv", index=False)
        specs = [{"key": job["key"], "csv": str(Path(tmp) / f"{job['data']}.csv"),
                  "call": job["call"], "labels": labels_of_categorical(frames[job["data"]]),
                  "reference": job.get("reference") or {}, "repeats": repeats}
                 for job in jobs]
        (Path(tmp) / "jobs.json").write_text(json.dumps(specs))
        out = Path(tmp) / "results.json"
        proc = subprocess.run(["Rscript", str(script), str(Path(tmp) / "jobs.json"), str(out)],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not out.exists():
            message = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            return {}, {k: {"error": f"Rscript failed: {message}"} for k in keys}
        report = json.loads(out.read_text())
    return report["versions"], {r["key"]: r for r in report["results"]}


def versions_line(versions: dict) -> str:
    """``R 4.2.2 ..., lme4 1.1.31, ...`` for the table's caption."""
    return ", ".join(v if k == "R" else f"{k} {v}" for k, v in versions.items())


# ----------------------------------------------------------------------------- lmm_bayes

def ess_variables(posterior) -> list[str]:
    """``beta``, the ``sd_<g>`` variables and the scalars of :data:`SCALAR_VARIABLES`."""
    names = [v for v in posterior.data_vars if v.startswith("sd_")]
    return ["beta", *names, *(v for v in SCALAR_VARIABLES if v in posterior.data_vars)]


def fit_lmm_bayes(formula, data, model_options, fit_options, keep):
    """Build and sample the model (``bench_core.measure``'s ``fit_fn``); the fit is stored in
    ``keep["fit"]``.

    Parameters
    ----------
    formula : str
    data : pandas.DataFrame
    model_options : dict
        ``lb.LMM`` keywords (``family``, ``reference``, ``residual``...).
    fit_options : dict
        ``fit`` keywords (``draws``, ``tune``, ``chains``, ``random_seed``, ``engine``).
    keep : dict

    Returns
    -------
    idata, var_names, engine : the draws, the variables whose ESS counts, and
        ``"<engine> (<sampler>)"``.
    """
    with warnings.catch_warnings():  # low ESS at few draws is expected, not news
        warnings.simplefilter("ignore")
        fit = lb.LMM(formula, data, **model_options).fit(**fit_options)
    keep["fit"] = fit
    engine = fit.idata.sample_stats.attrs.get("engine", "unknown")
    return fit.idata, ess_variables(fit.idata.posterior), f"{engine} ({fit.config.sampler})"


def max_rhat(idata) -> float:
    """The largest R-hat over the variables of :func:`ess_variables`."""
    rhat = az.rhat(idata, var_names=ess_variables(idata.posterior))
    return max(float(da.max()) for da in rhat.data_vars.values())


def time_to_ess(wall: float, ess: float) -> float | None:
    """Seconds to a bulk ESS of :data:`TARGET_ESS` at the fit's rate, ``wall × 400 / ESS``."""
    return wall * TARGET_ESS / ess if ess > 0 else None


def posterior_estimates(posterior) -> dict[str, tuple[float, float]]:
    """Posterior (mean, SD) of the fixed effects, the random-effect SDs and correlations and
    the scalar parameters, labelled ``beta[term]``, ``sd[group][term]``, ``corr[group][a.b]``,
    ``sigma``, ``phi``, ``alpha``, ``sigma_beta[term]``."""
    out = {}

    def add(label_of, da):
        if da.ndim == 2:  # chain, draw
            out[label_of(None)] = (float(da.mean()), float(da.std()))
            return
        dim = next(d for d in da.dims if d not in ("chain", "draw"))
        for coord in da[dim].values:
            sel = da.sel({dim: coord})
            out[label_of(str(coord))] = (float(sel.mean()), float(sel.std()))

    for name, da in posterior.data_vars.items():
        if name == "beta":
            add(lambda c: f"beta[{term_label(c)}]", da)
        elif name.startswith(("sd_", "corr_")):
            kind, group = name.split("_", 1)
            add(lambda c, k=kind, g=group: f"{k}[{group_label(g)}][{term_label(c)}]", da)
        elif name == "sigma_beta":
            add(lambda c: f"sigma_beta[{term_label(c)}]", da)
        elif name in SCALAR_VARIABLES:
            add(lambda c, n=name: n, da)
    return out


def max_fixed_gap(post, ref) -> float | None:
    """max over the fixed effects of |posterior mean − R| / posterior SD."""
    gaps = [abs(m - ref[k]) / s for k, (m, s) in post.items()
            if k.startswith("beta[") and k in ref and s > 0]
    return max(gaps) if gaps else None


# ----------------------------------------------------------------------------- report

def fmt(x, digits=2):
    """``x`` to ``digits`` decimals, ``n/a`` for ``None``."""
    return "n/a" if x is None else f"{x:.{digits}f}"


def fmt_ratio(x):
    """A ratio: whole numbers from 10 up, two decimals below."""
    return "n/a" if x is None else f"{x:.0f}" if x >= 10 else f"{x:.2f}"


def short(message: str, width=120) -> str:
    """``message`` on one line, at most ``width`` characters, safe in a markdown table."""
    message = " ".join(str(message).split()).replace("|", "\\|")
    return message if len(message) <= width else message[:width - 1] + "…"


def print_bambi_table(bambi_rows):
    """The table of lmm_bayes's and bambi's ESS/s; ``bambi_rows`` holds (model, lmm_bayes's
    ESS/s, bambi's (wall, min ESS) or its failure message)."""
    print("\n| model | lmm_bayes ESS/s | bambi + nutpie wall s | min bulk ESS | ESS/s "
          "| lmm_bayes / bambi |")
    print("|---|---:|---:|---:|---:|---:|")
    for key, mine, theirs in bambi_rows:
        if isinstance(theirs, str):
            print(f"| {key} | {mine:.1f} | {theirs} | | | |")
            continue
        b_wall, b_ess = theirs
        rate = b_ess / b_wall
        print(f"| {key} | {mine:.1f} | {b_wall:.1f} | {b_ess:.0f} | {rate:.1f} | "
              f"{fmt_ratio(mine / rate) if rate > 0 else 'n/a'} |")


def print_estimates(title: str, post: dict, refs: dict[str, dict], warns=()):
    """One model's posterior means and SDs beside each R tool's estimates (``refs``: tool to
    :func:`r_estimates`), then R's warnings."""
    print(f"\n#### {title}\n")
    print("| parameter | posterior mean | posterior SD | "
          + " | ".join(f"{tool} estimate" for tool in refs) + " |")
    print("|---|---:|---:|" + "---:|" * len(refs))

    def cells(label):
        return " | ".join("n/a" if label not in ref else format(ref[label], ".4g")
                          for ref in refs.values())

    for label, (mean, sd) in post.items():
        print(f"| {label} | {mean:.4g} | {sd:.3g} | {cells(label)} |")
    for label in sorted(set().union(*refs.values()) - set(post)):
        print(f"| {label} | n/a | n/a | {cells(label)} |")
    for message in warns:
        print(f"\nR warned: {short(message, 200)}")
