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
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from bench_core import DATA_DIR, Workload, fit_bambi, measure, warm_up
from bench_r import (
    add_common_arguments,
    bambi_wanted,
    fit_lmm_bayes,
    fit_options,
    fmt,
    fmt_ratio,
    labels_of_categorical,
    max_fixed_gap,
    posterior_estimates,
    print_bambi_table,
    print_estimates,
    r_estimates,
    run_r,
    selected_models,
    short,
    term_label,
    time_to_ess,
    versions_line,
)
from trial_data import simulate_crossed_slopes

import lmm_bayes as lb
from lmm_bayes.simulate import simulate_eeg, simulate_multicentre_trial

HERE = Path(__file__).resolve().parent
R_SCRIPT = HERE / "bench_gaussian.R"


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


# ----------------------------------------------------------------------------- R

def r_jobs(keys) -> list[dict]:
    """One ``bench_r.run_r`` job per model: its R call on its own data."""
    return [{"key": k, "data": k, "call": CASES[k].r_call, "reference": CASES[k].reference}
            for k in keys]


def gaussian_r_estimates(result, residual_terms=()) -> dict[str, float]:
    """R's estimates under the labels of ``bench_r.posterior_estimates``, with the residual's
    parameters. With a variance function (nlme's ``varPower``), ``sigma_beta`` is (log σ, δ)
    in the order of ``residual_terms``, the sigma formula's terms."""
    est = r_estimates(result)
    var_struct = list(result.get("var_struct", {}).values())
    if residual_terms and len(var_struct) == len(residual_terms) - 1:
        est |= dict(zip((f"sigma_beta[{term_label(t)}]" for t in residual_terms),
                        [float(np.log(result["sigma"])), *var_struct], strict=True))
    else:
        est["sigma"] = result["sigma"]
    for value in result.get("cor_struct", {}).values():
        est["phi"] = value
    return est


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser, CASES,
                         "also bambi + nutpie's ESS/s where bambi can express the model")
    args = parser.parse_args(argv)
    keys = selected_models(parser, args, CASES)
    order = {k: i for i, k in enumerate(keys)}
    bambi = bambi_wanted(args.bambi)

    frames, rows, details, bambi_rows = {}, [], {}, []
    for key in list(keys):
        try:
            frames[key] = CASES[key].data()
        except Exception as err:  # noqa: BLE001 - e.g. ../shared/data missing
            rows.append((key, f"failed: data: {short(err)}"))
            keys.remove(key)
    print(f"R: fitting {', '.join(keys)} ({args.r_repeats} times each)...", file=sys.stderr)
    versions, r_results = run_r(R_SCRIPT, r_jobs(keys), frames, args.r_repeats)
    warm_up(args.seed)

    settings = (args.chains, args.draws, args.tune)
    for key in keys:
        case, data, r = CASES[key], frames[key], r_results.get(key, {"error": "no result"})
        print(f"lmm_bayes: {key}...", file=sys.stderr)
        keep = {}
        try:
            wall, ess, engine = measure(fit_lmm_bayes, case.formula, data,
                                        {"reference": case.reference or None, **case.options},
                                        fit_options(args), keep)
        except Exception as err:  # noqa: BLE001 - one model's failure must not stop the rest
            rows.append((key, f"failed: {type(err).__name__}: {short(err)}", r))
            continue
        post = posterior_estimates(keep["fit"].idata.posterior)
        sigma_terms = (keep["fit"].idata.posterior.sigma_fixed.values.tolist()
                       if "sigma_beta" in keep["fit"].idata.posterior else ())
        ref = {} if "error" in r else gaussian_r_estimates(r, sigma_terms)
        to_target = time_to_ess(wall, ess)
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
                bambi_rows.append((key, ess / wall, f"failed: {short(err)}"))

    rows.sort(key=lambda row: order[row[0]])  # as requested, whichever failed early
    chains, draws, tune = settings
    print(f"\nlmm_bayes {lb.__version__}, {chains} chains × {draws} draws ({tune} warm-up), "
          f"seed {args.seed}; {versions_line(versions)}\n")
    print("| model | rows | lmm_bayes engine | wall s | min bulk ESS | time to ESS 400 s "
          "| R fit s | R | ratio to R | max \\|mean − R\\| / SD, fixed |")
    print("|---|---:|---|---:|---:|---:|---:|---|---:|---:|")
    for key, failure, *rest in rows:
        r = rest[0] if rest else {}
        r_seconds = fmt(r.get("seconds"), 3) if "error" not in r else f"failed: {short(r['error'], 60)}"
        tool = "nlme" if CASES[key].r_call.startswith("lme(") else "lme4"
        if failure:
            print(f"| {key} | | {failure} | | | | {r_seconds} | {tool} | | |")
            continue
        n, engine, wall, ess, to_target, ratio, gap = rest[1:]
        print(f"| {key} | {n:,} | {engine} | {wall:.1f} | {ess:.0f} | {fmt(to_target, 1)} | "
              f"{r_seconds} | {tool} | {fmt_ratio(ratio)} | {fmt(gap)} |")

    if bambi_rows:
        print_bambi_table(bambi_rows)
    for key, (post, ref) in details.items():
        print_estimates(f"{key}: `{CASES[key].formula}`", post, {"R": ref},
                        r_results.get(key, {}).get("warnings") or [])


if __name__ == "__main__":
    main()
