"""Benchmark lmm_bayes against R (lme4's glmer, glmmTMB) on GLMMs, side by side in one run.

For each model, R's fit time is the median of three runs of the fitting call alone (glmer by
Laplace, ``nAGQ = 1``, lme4's ``glmer.nb`` for the negative binomial, glmmTMB; glmer with
``nAGQ = 9`` too on contraception, which has one grouping factor), in one ``Rscript``
subprocess (``bench_glmm.R``) that reads the same data, written as CSV to a temporary
directory. For lmm_bayes the wall time of ``lb.LMM(formula, data, family=...).fit(...)``
includes building and compiling the model; its efficiency is the time to an ESS of 400,
``wall × 400 / min bulk ESS`` over the fixed effects, the random-effect SDs and the negative
binomial's ``alpha``. Posterior means are printed next to R's estimates (and the simulation's
truth) as a sanity check.

Run with the project's environment (R with lme4, glmmTMB and jsonlite on the PATH)::

    python benchmarks/bench_glmm.py [--models contraception,verbagg] [--draws 1000] \\
        [--tune 1000] [--chains 2] [--engine auto]

``--bambi`` adds ESS/s of bambi with nutpie on the two longitudinal Bernoulli models (run it
with ``benchmarks/.venv``, see ``setup_env.sh``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from bench_core import Workload, fit_bambi, measure, warm_up
from bench_r import (
    add_common_arguments,
    bambi_wanted,
    fit_lmm_bayes,
    fit_options,
    fmt,
    fmt_ratio,
    labels_of_categorical,
    max_fixed_gap,
    max_rhat,
    posterior_estimates,
    print_bambi_table,
    print_estimates,
    r_estimates,
    run_r,
    selected_models,
    short,
    time_to_ess,
    versions_line,
)
from trial_data import BINARY_TRUTH, simulate_binary_trial

import lmm_bayes as lb

HERE = Path(__file__).resolve().parent
R_SCRIPT = HERE / "bench_glmm.R"
#: the R fits the main table divides by: lme4's (glmer, or glmer.nb) and glmmTMB's
RATIO_TOOLS = ("lme4", "glmmTMB")


@dataclass(frozen=True)
class GlmmCase:
    """One benchmark model.

    Attributes
    ----------
    data : callable
        Returns the data frame (string columns are categorical for both tools).
    formula : str
        lmm_bayes's formula.
    family : str
        lmm_bayes's family (default link).
    r_calls : dict
        R code fitting the data frame ``data`` per tool (lme4 and glmmTMB attached): ``"lme4"``
        and ``"glmmTMB"`` are the table's ratios, others (``"lme4 nAGQ=9"``) are timed too.
    reference : dict
        Reference level per categorical fixed-effect column, for both tools.
    bambi_formula : str or None
        The model in bambi's syntax (its ``|`` is uncorrelated, lme4's ``||``), ``None`` when
        bambi is not run on it.
    truth : dict
        The simulation's parameters under ``bench_r.posterior_estimates``'s labels.
    """

    data: Callable[[], pd.DataFrame]
    formula: str
    family: str
    r_calls: dict
    reference: dict = field(default_factory=dict)
    bambi_formula: str | None = None
    truth: dict = field(default_factory=dict)


def _binary_case(n_ids: int, n_visits: int) -> GlmmCase:
    """The simulated longitudinal Bernoulli trial (``trial_data.simulate_binary_trial``);
    glmmTMB spells lme4's ``||`` as ``diag()``."""
    truth = {f"beta[{k}]": v for k, v in BINARY_TRUTH.items() if not k.startswith("sd ")}
    truth |= {f"sd[id][{k.removeprefix('sd ')}]": v for k, v in BINARY_TRUTH.items()
              if k.startswith("sd ")}
    return GlmmCase(
        lambda: simulate_binary_trial(n_ids, n_visits),
        "y ~ time * arm + (1 + time || id)",
        "bernoulli",
        {"lme4": "glmer(y ~ time * arm + (1 + time || id), data = data, family = binomial)",
         "glmmTMB": "glmmTMB(y ~ time * arm + diag(1 + time | id), data = data, "
                    "family = binomial)"},
        reference={"arm": "control"},
        bambi_formula="y ~ time * arm + (time | id)",
        truth=truth,
    )


CONTRACEPTION = "use ~ age + I(age^2) + urban + livch + (1 | district)"
ARABIDOPSIS = "total_fruits ~ nutrient * amd + rack + status + (1 | popu) + (1 | gen)"
VERBAGG = "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)"

CASES = {
    "contraception": GlmmCase(
        lambda: lb.load_dataset("contraception"), CONTRACEPTION, "bernoulli",
        {"lme4": f"glmer({CONTRACEPTION}, data = data, family = binomial)",
         "lme4 nAGQ=9": f"glmer({CONTRACEPTION}, data = data, family = binomial, nAGQ = 9)",
         "glmmTMB": f"glmmTMB({CONTRACEPTION}, data = data, family = binomial)"},
    ),
    "arabidopsis_poisson": GlmmCase(
        lambda: lb.load_dataset("arabidopsis"), ARABIDOPSIS, "poisson",
        {"lme4": f"glmer({ARABIDOPSIS}, data = data, family = poisson)",
         "glmmTMB": f"glmmTMB({ARABIDOPSIS}, data = data, family = poisson)"},
    ),
    "arabidopsis_nb": GlmmCase(
        lambda: lb.load_dataset("arabidopsis"), ARABIDOPSIS, "negbinomial",
        {"lme4": f"glmer.nb({ARABIDOPSIS}, data = data)",
         "glmmTMB": f"glmmTMB({ARABIDOPSIS}, data = data, family = nbinom2)"},
    ),
    "verbagg": GlmmCase(
        lambda: lb.load_dataset("verbagg"), VERBAGG, "bernoulli",
        {"lme4": f"glmer({VERBAGG}, data = data, family = binomial)",
         "glmmTMB": f"glmmTMB({VERBAGG}, data = data, family = binomial)"},
    ),
    "binary16k": _binary_case(1_000, 16),
    "binary50k": _binary_case(5_000, 10),
}


# ----------------------------------------------------------------------------- R

def r_jobs(keys) -> list[dict]:
    """One ``bench_r.run_r`` job per model and R tool, keyed ``"<model>|<tool>"``."""
    return [{"key": f"{k}|{tool}", "data": k, "call": call, "reference": CASES[k].reference}
            for k in keys for tool, call in CASES[k].r_calls.items()]


def by_model(r_results: dict, keys) -> dict[str, dict[str, dict]]:
    """R's results regrouped per model and tool (a missing one as ``{"error": ...}``)."""
    return {k: {tool: r_results.get(f"{k}|{tool}", {"error": "no result"})
                for tool in CASES[k].r_calls} for k in keys}


# ----------------------------------------------------------------------------- lmm_bayes

def measure_lmm_bayes(case: GlmmCase, data, fit_options) -> dict:
    """Fit the model with lmm_bayes (``bench_core.measure``: build, compile and sample).

    Returns
    -------
    dict
        ``wall``, ``ess`` (min bulk), ``engine``, ``rhat`` (max) and ``post`` (posterior
        means and SDs by label).
    """
    keep = {}
    options = {"family": case.family, "reference": case.reference or None}
    wall, ess, engine = measure(fit_lmm_bayes, case.formula, data, options, fit_options, keep)
    idata = keep["fit"].idata
    return {"wall": wall, "ess": ess, "engine": engine, "rhat": max_rhat(idata),
            "post": posterior_estimates(idata.posterior)}


def measure_bambi(key, case: GlmmCase, data, mine: dict, settings, seed):
    """bambi + nutpie on the same data: a row of ``bench_r.print_bambi_table``."""
    workload = Workload(case.data, case.formula, case.bambi_formula,
                        categorical=tuple(labels_of_categorical(data)), family="bernoulli")
    rate = mine["ess"] / mine["wall"]
    try:
        b_wall, b_ess, _ = measure(fit_bambi, workload, data, *settings, seed)
    except Exception as err:  # noqa: BLE001 - bambi's failure must not stop the run
        return key, rate, f"failed: {short(err)}"
    return key, rate, (b_wall, b_ess)


# ----------------------------------------------------------------------------- report

def _seconds(result: dict) -> str:
    if "error" in result:
        return f"failed: {short(result['error'], 60)}"
    return fmt(result.get("seconds"), 3)


def print_main_table(keys, frames, mine: dict, r_by_model: dict):
    """One row per model: lmm_bayes's wall time, ESS, R-hat and time to ESS 400, R's fit
    times and the ratios; ``mine[key]`` is :func:`measure_lmm_bayes`'s dict or a failure."""
    print("| model | rows | family | lmm_bayes engine | wall s | min bulk ESS | max R-hat "
          "| time to ESS 400 s | lme4 s | glmmTMB s | ratio to lme4 | ratio to glmmTMB "
          "| max \\|mean − lme4\\| / SD, fixed |")
    print("|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for key in keys:
        case, r = CASES[key], r_by_model.get(key, {})
        n = f"{len(frames[key]):,}" if key in frames else ""
        r_cells = " | ".join(_seconds(r.get(tool, {"error": "not run"})) for tool in RATIO_TOOLS)
        row = mine.get(key, "failed: not run")
        if isinstance(row, str):
            print(f"| {key} | {n} | {case.family} | {row} | | | | | {r_cells} | | | |")
            continue
        to_target = time_to_ess(row["wall"], row["ess"])
        ratios = [to_target / r[tool]["seconds"]
                  if to_target and r.get(tool, {}).get("seconds") else None
                  for tool in RATIO_TOOLS]
        lme4 = r.get("lme4", {})
        gap = max_fixed_gap(row["post"], {} if "error" in lme4 else r_estimates(lme4))
        print(f"| {key} | {n} | {case.family} | {row['engine']} | {row['wall']:.1f} | "
              f"{row['ess']:.0f} | {row['rhat']:.3f} | {fmt(to_target, 1)} | {r_cells} | "
              + " | ".join(map(fmt_ratio, ratios)) + f" | {fmt(gap)} |")


def print_r_table(r_by_model: dict):
    """Every R fit: its median and individual times, and how many warnings it gave."""
    print("\n| model | R fit | median s | runs s | warnings |")
    print("|---|---|---:|---|---:|")
    for key, tools in r_by_model.items():
        for tool, result in tools.items():
            runs = ", ".join(f"{t:.3f}" for t in result.get("times", []))
            print(f"| {key} | {tool} | {_seconds(result)} | {runs} | "
                  f"{len(result.get('warnings') or [])} |")


def print_details(key, row, tools: dict):
    """A model's posterior means beside each R tool's estimates and the truth if simulated."""
    case = CASES[key]
    refs = {tool: r_estimates(result) for tool, result in tools.items() if "error" not in result}
    if case.truth:
        refs["truth"] = case.truth
    warns = [f"{tool}: {w}" for tool, result in tools.items()
             for w in result.get("warnings") or []]
    print_estimates(f"{key}: `{case.formula}`, {case.family}", row["post"], refs, warns)


# ----------------------------------------------------------------------------- main

def parse_args(argv):
    """The command line; the models are checked against :data:`CASES`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser, CASES,
                         "also bambi + nutpie's ESS/s on the longitudinal Bernoulli models")
    parser.add_argument("--engine", default="auto", help="lmm_bayes's engine, passed to fit")
    args = parser.parse_args(argv)
    args.keys = selected_models(parser, args, CASES)
    return args


def load_frames(keys, mine: dict) -> dict[str, pd.DataFrame]:
    """Each model's data; a model whose data fail is recorded in ``mine`` as failed."""
    frames = {}
    for key in keys:
        try:
            frames[key] = CASES[key].data()
        except Exception as err:  # noqa: BLE001 - the other models go on
            mine[key] = f"failed: data: {short(err)}"
    return frames


def main(argv=None):
    args = parse_args(argv)
    bambi = bambi_wanted(args.bambi)
    mine, bambi_rows = {}, []
    frames = load_frames(args.keys, mine)
    print(f"R: fitting {', '.join(frames)} ({args.r_repeats} times each)...", file=sys.stderr)
    versions, r_results = run_r(R_SCRIPT, r_jobs(frames), frames, args.r_repeats)
    r_by_model = by_model(r_results, frames)
    warm_up(args.seed)

    settings = (args.chains, args.draws, args.tune)
    options = fit_options(args, engine=args.engine)
    for key, data in frames.items():
        print(f"lmm_bayes: {key}...", file=sys.stderr)
        try:
            mine[key] = measure_lmm_bayes(CASES[key], data, options)
        except Exception as err:  # noqa: BLE001 - one model's failure must not stop the rest
            mine[key] = f"failed: {type(err).__name__}: {short(err)}"
            continue
        if bambi and CASES[key].bambi_formula:
            bambi_rows.append(measure_bambi(key, CASES[key], data, mine[key], settings,
                                            args.seed))

    print(f"\nlmm_bayes {lb.__version__}, engine {args.engine}, {args.chains} chains × "
          f"{args.draws} draws ({args.tune} warm-up), seed {args.seed}; "
          f"{versions_line(versions)}\n")
    print_main_table(args.keys, frames, mine, r_by_model)
    print_r_table(r_by_model)
    if bambi_rows:
        print_bambi_table(bambi_rows)
    for key, row in mine.items():
        if not isinstance(row, str):
            print_details(key, row, r_by_model[key])


if __name__ == "__main__":
    main()
