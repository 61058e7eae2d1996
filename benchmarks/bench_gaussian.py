"""Benchmark lmm_bayes against R (lme4, nlme) on Gaussian mixed models, side by side in one run.

For each model, R's fit time is the median of three runs of the fitting call alone (lme4's
``lmer``, REML, or nlme's ``lme`` for residual correlation and variance functions), in one
``Rscript`` subprocess (``bench_gaussian.R``) that reads the same CSV files as lmm_bayes. For
lmm_bayes the wall time of ``lb.LMM(...).fit(...)`` includes building and compiling the
model; its efficiency is the time to an ESS of 400, ``wall × 400 / min bulk ESS`` over the
fixed effects, the random-effect SDs and the residual parameters (``sigma``, ``phi``,
``sigma_beta``). Posterior means are printed next to R's estimates as a sanity check.

Run with the project's environment (R with lme4, nlme and jsonlite on the PATH)::

    python benchmarks/bench_gaussian.py [--models oats,pixel] [--draws 1000] [--tune 1000]

``--bambi`` adds ESS/s of bambi with nutpie for the models bambi can express (run it with
``benchmarks/.venv``, see ``setup_env.sh``).
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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import bench_core
import numpy as np
import pandas as pd
from bench_core import DATA_DIR, Workload, fit_bambi, measure, warm_up
from trial_data import simulate_crossed_slopes

import lmm_bayes as lb
from lmm_bayes.simulate import simulate_eeg, simulate_multicentre_trial

HERE = Path(__file__).resolve().parent
R_SCRIPT = HERE / "bench_gaussian.R"
#: bulk ESS the time-to-ESS column is scaled to
TARGET_ESS = 400
#: posterior variables of the residual whose ESS counts, besides beta and the sd_<g>
RESIDUAL_VARIABLES = ("sigma", "phi", "sigma_beta")


def _ovary() -> pd.DataFrame:
    """nlme's Ovary with ``visit``, the order of the visit within the mare (0, 1, ...):
    ``Time`` is a fraction of the oestrus cycle, not a whole number."""
    data = lb.load_dataset("ovary").sort_values(["Mare", "Time"], kind="stable")
    return data.assign(visit=data.groupby("Mare").cumcount()).reset_index(drop=True)


def _insteval() -> pd.DataFrame:
    return pd.read_csv(DATA_DIR / "insteval.csv", dtype=dict.fromkeys(("s", "d", "dept", "service"), str))


@dataclass(frozen=True)
class Case:
    """One benchmark model.

    Attributes
    ----------
    data : callable
        Returns the data frame (string columns are categorical for both tools).
    formula : str
        lmm_bayes's formula.
    r_call : str
        R code fitting the data frame ``data`` (lme4 and nlme attached).
    options : dict
        Further ``lb.LMM`` keywords (``residual``, ``sigma``).
    reference : dict
        Reference level per categorical fixed-effect column, for both tools.
    bambi_formula : str or None
        The model in bambi's syntax (its ``|`` is uncorrelated), ``None`` when bambi cannot
        express it.
    """

    data: Callable[[], pd.DataFrame]
    formula: str
    r_call: str
    options: dict = field(default_factory=dict)
    reference: dict = field(default_factory=dict)
    bambi_formula: str | None = None


CASES = {
    "oats": Case(
        lambda: lb.load_dataset("oats"),
        "yield ~ nitro + Variety + (1 | Block/Variety)",
        "lmer(yield ~ nitro + Variety + (1 | Block/Variety), data = data, REML = TRUE)",
        reference={"Variety": "Golden Rain"},
    ),
    "machines": Case(
        lambda: lb.load_dataset("machines"),
        "score ~ Machine + (1 | Worker/Machine)",
        "lmer(score ~ Machine + (1 | Worker/Machine), data = data, REML = TRUE)",
        reference={"Machine": "A"},
    ),
    "pixel": Case(
        lambda: lb.load_dataset("pixel"),
        "pixel ~ day + I(day^2) + (day | Dog) + (1 | Dog:Side)",
        "lmer(pixel ~ day + I(day^2) + (day | Dog) + (1 | Dog:Side), data = data, REML = TRUE)",
    ),
    "bodyweight": Case(
        lambda: lb.load_dataset("bodyweight"),
        "weight ~ Time * Diet + (Time | Rat)",
        # log σ = a + δ log(Time) is nlme's varPower(form = ~ Time): σ |Time|^δ
        "lme(weight ~ Time * Diet, random = ~ Time | Rat, data = data, "
        "correlation = corCAR1(form = ~ Time | Rat), weights = varPower(form = ~ Time))",
        options={"residual": "car1(Time | Rat)", "sigma": "~ log(Time)"},
        reference={"Diet": "1"},
    ),
    "ovary": Case(
        _ovary,
        "follicles ~ sin(2*pi*Time) + cos(2*pi*Time) + (1 | Mare)",
        "lme(follicles ~ sin(2*pi*Time) + cos(2*pi*Time), random = ~ 1 | Mare, data = data, "
        "correlation = corAR1(form = ~ 1 | Mare))",
        options={"residual": "ar1(visit | Mare)"},
    ),
    "eeg": Case(
        lambda: simulate_eeg(n_subjects=30, stimuli_per_condition=40),
        "amplitude ~ condition + (1 + condition | subject) + (1 | stimulus)",
        "lmer(amplitude ~ condition + (1 + condition | subject) + (1 | stimulus), data = data, "
        "REML = TRUE)",
        reference={"condition": "congruent"},
        bambi_formula="amplitude ~ condition + (1 + condition | subject) + (1 | stimulus)",
    ),
    "multicentre": Case(
        lambda: simulate_multicentre_trial(n_centres=24, patients_per_centre=70),
        "sbp ~ week * arm + (1 + week | patient) + (1 | centre)",
        "lmer(sbp ~ week * arm + (1 + week | patient) + (1 | centre), data = data, REML = TRUE)",
        reference={"arm": "placebo"},
        bambi_formula="sbp ~ week * arm + (1 + week | patient) + (1 | centre)",
    ),
    "crossed_slopes": Case(
        simulate_crossed_slopes,
        "y ~ cond + (1 + cond || subj) + (1 + cond || item)",
        "lmer(y ~ cond + (1 + cond || subj) + (1 + cond || item), data = data, REML = TRUE)",
        bambi_formula="y ~ cond + (1 + cond | subj) + (1 + cond | item)",
    ),
    "insteval": Case(
        _insteval,
        "y ~ service + (1 | s) + (1 | d) + (1 | dept:service)",
        "lmer(y ~ service + (1 | s) + (1 | d) + (1 | dept:service), data = data, REML = TRUE)",
        reference={"service": "0"},
        bambi_formula="y ~ service + (1 | s) + (1 | d) + (1 | dept:service)",
    ),
}


# ----------------------------------------------------------------------------- labels

def _term(name: str) -> str:
    return re.sub(r"\s+", "", name)


def _group(name: str) -> str:
    """A grouping factor's name as both tools compare: lme4's ``||`` suffixes (``subj.1``)
    dropped and the parts of an interaction sorted (lme4's ``Variety:Block``)."""
    return ":".join(sorted(re.sub(r"\.\d+$", "", name).split(":")))


def labels_of_categorical(data: pd.DataFrame) -> list[str]:
    """The columns both tools treat as categorical: those holding strings."""
    return [c for c in data.columns if not pd.api.types.is_numeric_dtype(data[c])]


# ----------------------------------------------------------------------------- R

def run_r(keys, frames, repeats=3):
    """Fit every model in one Rscript process.

    Returns
    -------
    versions : dict
        R's and the packages' versions (empty when R did not run).
    results : dict
        Per key, R's result (``seconds``, ``fixef``, ``sd``...) or ``{"error": message}``.
    """
    if shutil.which("Rscript") is None:
        return {}, {k: {"error": "Rscript not found"} for k in keys}
    with tempfile.TemporaryDirectory(prefix="bench_gaussian_") as tmp:
        jobs = []
        for key in keys:
            csv = Path(tmp) / f"{key}.csv"
            frames[key].to_csv(csv, index=False)
            jobs.append({"key": key, "csv": str(csv), "call": CASES[key].r_call,
                         "labels": labels_of_categorical(frames[key]),
                         "reference": CASES[key].reference or {}, "repeats": repeats})
        (Path(tmp) / "jobs.json").write_text(json.dumps(jobs))
        out = Path(tmp) / "results.json"
        proc = subprocess.run(["Rscript", str(R_SCRIPT), str(Path(tmp) / "jobs.json"), str(out)],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not out.exists():
            message = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            return {}, {k: {"error": f"Rscript failed: {message}"} for k in keys}
        report = json.loads(out.read_text())
    return report["versions"], {r["key"]: r for r in report["results"]}


def r_estimates(result, residual_terms=()) -> dict[str, float]:
    """R's estimates under the labels of :func:`posterior_estimates`. With a variance
    function (nlme's ``varPower``), ``sigma_beta`` is (log σ, δ) in the order of
    ``residual_terms``, the sigma formula's terms."""
    est = {f"beta[{_term(k)}]": v for k, v in result["fixef"].items()}
    est |= {f"sd[{_group(s['group'])}][{_term(s['term'])}]": s["value"] for s in result["sd"]}
    est |= {f"corr[{_group(c['group'])}][{'.'.join(map(_term, c['terms']))}]": c["value"]
            for c in result["cor"]}
    var_struct = list(result.get("var_struct", {}).values())
    if residual_terms and len(var_struct) == len(residual_terms) - 1:
        est |= dict(zip((f"sigma_beta[{_term(t)}]" for t in residual_terms),
                        [float(np.log(result["sigma"])), *var_struct], strict=True))
    else:
        est["sigma"] = result["sigma"]
    for value in result.get("cor_struct", {}).values():
        est["phi"] = value
    return est


# ----------------------------------------------------------------------------- lmm_bayes

def ess_variables(posterior) -> list[str]:
    """``beta``, the ``sd_<g>`` variables and the residual's (:data:`RESIDUAL_VARIABLES`)."""
    names = [v for v in posterior.data_vars if v.startswith("sd_")]
    return ["beta", *names, *(v for v in RESIDUAL_VARIABLES if v in posterior.data_vars)]


def fit_lmm_bayes(case, data, chains, draws, tune, seed, keep):
    """Build and sample the model (``measure``'s ``fit_fn``); the fit is stored in ``keep``.

    Returns
    -------
    idata, var_names, engine : the draws, the variables whose ESS counts, and
        ``"<engine> (<sampler>)"``.
    """
    with warnings.catch_warnings():  # low ESS at few draws is expected, not news
        warnings.simplefilter("ignore")
        model = lb.LMM(case.formula, data, reference=case.reference or None, **case.options)
        fit = model.fit(draws=draws, tune=tune, chains=chains, random_seed=seed)
    keep["fit"] = fit
    engine = fit.idata.sample_stats.attrs.get("engine", "unknown")
    return fit.idata, ess_variables(fit.idata.posterior), f"{engine} ({fit.config.sampler})"


def posterior_estimates(posterior) -> dict[str, tuple[float, float]]:
    """Posterior (mean, SD) of the fixed effects, the random-effect SDs and correlations and
    the residual parameters, labelled ``beta[term]``, ``sd[group][term]``,
    ``corr[group][a.b]``, ``sigma``, ``phi``, ``sigma_beta[term]``."""
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
            add(lambda c: f"beta[{_term(c)}]", da)
        elif name.startswith(("sd_", "corr_")):
            kind, group = name.split("_", 1)
            add(lambda c, k=kind, g=group: f"{k}[{_group(g)}][{_term(c)}]", da)
        elif name == "sigma_beta":
            add(lambda c: f"sigma_beta[{_term(c)}]", da)
        elif name in ("sigma", "phi"):
            add(lambda c, n=name: n, da)
    return out


def max_fixed_gap(post, ref) -> float | None:
    """max over the fixed effects of |posterior mean − R| / posterior SD."""
    gaps = [abs(m - ref[k]) / s for k, (m, s) in post.items()
            if k.startswith("beta[") and k in ref and s > 0]
    return max(gaps) if gaps else None


# ----------------------------------------------------------------------------- report

def _fmt(x, digits=2):
    return "n/a" if x is None else f"{x:.{digits}f}"


def _ratio(x):
    return "n/a" if x is None else f"{x:.0f}" if x >= 10 else f"{x:.2f}"


def _short(message: str, width=120) -> str:
    message = " ".join(str(message).split()).replace("|", "\\|")
    return message if len(message) <= width else message[:width - 1] + "…"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(CASES),
                        help="comma-separated subset of: " + ", ".join(CASES))
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--r-repeats", type=int, default=3, help="R fits per model (median)")
    parser.add_argument("--bambi", action="store_true",
                        help="also bambi + nutpie's ESS/s where bambi can express the model")
    args = parser.parse_args(argv)
    keys = [k.strip() for k in args.models.split(",") if k.strip()]
    order = {k: i for i, k in enumerate(keys)}
    unknown = [k for k in keys if k not in CASES]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {list(CASES)}")
    bambi = args.bambi and bench_core.bmb is not None
    if args.bambi and not bambi:
        print(f"--bambi: bambi is not importable ({bench_core.BAMBI_IMPORT_ERROR}); run with "
              "benchmarks/.venv (setup_env.sh). Going on without it.", file=sys.stderr)

    frames, rows, details, bambi_rows = {}, [], {}, []
    for key in list(keys):
        try:
            frames[key] = CASES[key].data()
        except Exception as err:  # noqa: BLE001 - e.g. ../shared/data missing
            rows.append((key, f"failed: data: {_short(err)}"))
            keys.remove(key)
    print(f"R: fitting {', '.join(keys)} ({args.r_repeats} times each)...", file=sys.stderr)
    versions, r_results = run_r(keys, frames, args.r_repeats)
    warm_up(args.seed)

    settings = (args.chains, args.draws, args.tune)
    for key in keys:
        case, data, r = CASES[key], frames[key], r_results.get(key, {"error": "no result"})
        print(f"lmm_bayes: {key}...", file=sys.stderr)
        keep = {}
        try:
            wall, ess, engine = measure(fit_lmm_bayes, case, data, *settings, args.seed, keep)
        except Exception as err:  # noqa: BLE001 - one model's failure must not stop the rest
            rows.append((key, f"failed: {type(err).__name__}: {_short(err)}", r))
            continue
        post = posterior_estimates(keep["fit"].idata.posterior)
        sigma_terms = (keep["fit"].idata.posterior.sigma_fixed.values.tolist()
                       if "sigma_beta" in keep["fit"].idata.posterior else ())
        ref = {} if "error" in r else r_estimates(r, sigma_terms)
        to_target = wall * TARGET_ESS / ess if ess > 0 else None
        ratio = to_target / r["seconds"] if to_target and r.get("seconds") else None
        rows.append((key, None, r, len(data), engine, wall, ess, to_target, ratio,
                     max_fixed_gap(post, ref)))
        details[key] = (post, ref)
        if bambi and case.bambi_formula:
            workload = Workload(case.data, case.formula, case.bambi_formula,
                                categorical=tuple(labels_of_categorical(data)))
            try:
                b_wall, b_ess, _ = measure(fit_bambi, workload, data, *settings, args.seed)
                bambi_rows.append((key, ess / wall, (b_wall, b_ess)))
            except Exception as err:  # noqa: BLE001
                bambi_rows.append((key, ess / wall, f"failed: {_short(err)}"))

    rows.sort(key=lambda row: order[row[0]])  # as requested, whichever failed early
    chains, draws, tune = settings
    print(f"\nlmm_bayes {lb.__version__}, {chains} chains × {draws} draws ({tune} warm-up), "
          f"seed {args.seed}; " + ", ".join(v if k == "R" else f"{k} {v}" for k, v in versions.items())
          + "\n")
    print("| model | rows | lmm_bayes engine | wall s | min bulk ESS | time to ESS 400 s "
          "| R fit s | R | ratio to R | max \\|mean − R\\| / SD, fixed |")
    print("|---|---:|---|---:|---:|---:|---:|---|---:|---:|")
    for key, failure, *rest in rows:
        r = rest[0] if rest else {}
        r_seconds = _fmt(r.get("seconds"), 3) if "error" not in r else f"failed: {_short(r['error'], 60)}"
        tool = "nlme" if CASES[key].r_call.startswith("lme(") else "lme4"
        if failure:
            print(f"| {key} | | {failure} | | | | {r_seconds} | {tool} | | |")
            continue
        n, engine, wall, ess, to_target, ratio, gap = rest[1:]
        print(f"| {key} | {n:,} | {engine} | {wall:.1f} | {ess:.0f} | {_fmt(to_target, 1)} | "
              f"{r_seconds} | {tool} | {_ratio(ratio)} | {_fmt(gap)} |")

    if bambi_rows:
        print("\n| model | lmm_bayes ESS/s | bambi + nutpie wall s | min bulk ESS | ESS/s "
              "| lmm_bayes / bambi |")
        print("|---|---:|---:|---:|---:|---:|")
        for key, mine, theirs in bambi_rows:
            if isinstance(theirs, str):
                print(f"| {key} | {mine:.1f} | {theirs} | | | |")
            else:
                b_wall, b_ess = theirs
                rate = b_ess / b_wall
                print(f"| {key} | {mine:.1f} | {b_wall:.1f} | {b_ess:.0f} | {rate:.1f} | "
                      f"{_ratio(mine / rate) if rate > 0 else 'n/a'} |")

    for key, (post, ref) in details.items():
        print(f"\n#### {key}: `{CASES[key].formula}`\n")
        print("| parameter | posterior mean | posterior SD | R estimate |")
        print("|---|---:|---:|---:|")
        for label, (mean, sd) in post.items():
            print(f"| {label} | {mean:.4g} | {sd:.3g} | "
                  f"{'n/a' if label not in ref else format(ref[label], '.4g')} |")
        for label in sorted(set(ref) - set(post)):
            print(f"| {label} | n/a | n/a | {ref[label]:.4g} |")
        warns = r_results.get(key, {}).get("warnings") or []
        for message in warns:
            print(f"\nR warned: {_short(message, 200)}")


if __name__ == "__main__":
    main()
