"""The ``lmm-bayes`` command line.

``lmm-bayes fit SPEC.toml [--data CSV] [--out DIR] [--draws N --tune N --chains N --seed S
--sampler NAME --engine NAME] [--progress]`` fits the model of a spec file, prints its fixed effects,
variance components and ICC and writes ``DIR/summary.csv``, ``DIR/fit.nc`` (the saved fit)
and ``DIR/report.html``; a multivariate spec (``formulas``) is fitted as a MultivariateLMM,
with no ICC and no report (the report is for models with one outcome); a joint spec
(``[joint]``) as a JointModel, writing its draws as ``DIR/posterior.nc`` (its fit cannot be
saved as ``fit.nc``) and a report of its marker and survival parts.
``lmm-bayes check SPEC.toml`` builds the model without sampling.
``lmm-bayes summarize DIR`` prints the tables of a saved fit. ``lmm-bayes predict DIR
--data new.csv [--history rows.csv] [--kind --groups --threshold C --seed S] [--out CSV]``
predicts new rows from a saved fit; ``--data "new/*.parquet" --out FOLDER`` predicts
Parquet files partition by partition into that folder (:mod:`lmm_bayes.distributed.rows`). ``lmm-bayes fit-many SPEC.toml --by gene [--scheduler
ADDRESS] [--out DIR]`` fits the model once per gene on a Dask cluster.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

# Only light modules here: `lmm-bayes --help` and argument errors must answer at once, so
# each command imports what it needs (the models pull in pandas, scipy, PyMC...).
from .errors import LMMError, SamplingWarning, Setting, SpecError

if TYPE_CHECKING:
    from .spec import ModelSpec

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lmm-bayes",
                                     description="Bayesian linear mixed-effects models.")
    commands = parser.add_subparsers(dest="command", required=True)
    fit = commands.add_parser("fit", help="fit the model of a TOML spec file")
    check = commands.add_parser("check", help="validate a spec file, its data and the design "
                                              "without sampling")
    for sub in (fit, check):
        sub.add_argument("spec", help="model spec file (see models/)")
        sub.add_argument("--data", help="CSV file to use instead of the spec's data")
    for sub in (fit, check):
        sub.add_argument("--scheduler", help="address of a Dask scheduler for a spec whose "
                         "[data] path names Parquet files (default: a local cluster)")
    fit.add_argument("--out", help="output folder (default: results/<spec name>)")
    fit.add_argument("--draws", type=int)
    fit.add_argument("--tune", type=int)
    fit.add_argument("--chains", type=int)
    fit.add_argument("--seed", type=int, dest="random_seed")
    fit.add_argument("--sampler", choices=["auto", "nutpie", "pymc", "numpyro", "imh"])
    fit.add_argument("--engine", help="auto (default), or an engine by name: graph, "
                     "marginal, collapsed, blocked, glmm (see the README)")
    fit.add_argument("--progress", action="store_true",
                     help="show a progress bar while sampling (default: when stdout is a terminal)")
    summarize = commands.add_parser("summarize", help="print the tables of a saved fit")
    predict = commands.add_parser("predict", help="predict new rows from a saved fit")
    for sub in (summarize, predict):
        sub.add_argument("saved", help="output folder of `fit` (or the saved fit.nc itself)")
    predict.add_argument("--data", required=True,
                         help="CSV of the rows to predict, or Parquet files (*.parquet, a "
                              "glob, or a folder ending in /), predicted partition by "
                              "partition into the --out folder")
    predict.add_argument("--history", help="CSV of new individuals' observed rows to condition on")
    predict.add_argument("--kind", choices=["mean", "response"], default="mean")
    predict.add_argument("--groups", choices=["new", "conditional", "population"], default="new")
    predict.add_argument("--threshold", type=float,
                         help="also give P(outcome > threshold) (of a new measurement)")
    predict.add_argument("--seed", type=int, dest="random_seed")
    predict.add_argument("--out", help="CSV to write (default: print); a folder for Parquet "
                                       "data")
    many = commands.add_parser("fit-many", help="fit the spec's model once per value of a "
                               "column (e.g. per gene) on a Dask cluster")
    many.add_argument("spec", help="model spec file (see models/)")
    many.add_argument("--data", help="CSV file to use instead of the spec's data")
    many.add_argument("--by", required=True, help="column whose values get a fit each")
    many.add_argument("--scheduler", help="address of a Dask scheduler (default: local cluster)")
    many.add_argument("--out", help="folder for the results (default: results/<spec>_by_<by>)")
    return parser


def _model(args):
    from .models import model_from_spec
    from .specfile import read_data_file, read_spec

    data = read_data_file(args.data) if args.data else None
    spec_file = read_spec(args.spec, data=data)
    if isinstance(spec_file.data, str):  # Parquet files: a distributed data set
        from .distributed import DistributedLMM

        model = DistributedLMM.from_spec(spec_file.spec, spec_file.data, client=args.scheduler)
        return model, spec_file.sampler
    return (model_from_spec(spec_file.spec, spec_file.data, spec_file.event_data),
            spec_file.sampler)


def _fit(args) -> int:
    from .distributed import DistributedFit
    from .distributed.model import write_posterior
    from .jm.api import JointModel
    from .multivariate_api import MultivariateLMM
    from .report import write_results

    model, settings = _model(args)
    settings = dict(settings)
    settings.update({k: v for k in ("draws", "tune", "chains", "random_seed", "sampler",
                                    "engine")
                     if (v := getattr(args, k)) is not None})
    if isinstance(model, MultivariateLMM) and "engine" in settings:
        raise SpecError("--engine: a multivariate model has one engine, NUTS on its PyMC "
                        "model")
    if isinstance(model, JointModel) and {"engine", "sampler"} & set(settings):
        raise SpecError("--engine, --sampler: a joint model has one engine and sampler, "
                        "nutpie's NUTS on its PyMC model")
    print(model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SamplingWarning)
        fit = model.fit(progressbar=args.progress or sys.stdout.isatty(), **settings)
    print(f"\n{fit}")
    for warning in caught:
        if issubclass(warning.category, SamplingWarning):
            print(f"warning: {warning.message}", file=sys.stderr)
    out = Path(args.out) if args.out else Path("results") / Path(args.spec).stem
    print()
    written = (write_posterior(fit, out) if isinstance(fit, DistributedFit)
               else write_results(fit, out))
    for kind, path in written.items():
        print(f"wrote {kind}: {path}")
    if isinstance(fit, DistributedFit):
        print("no report: the HTML report reads the data's rows, which a distributed data set "
              "keeps where they lie")
    elif "report" not in written:
        print("no report: the HTML report is for models with one outcome")
    return 0


def _check(args) -> int:
    from .distributed import DistributedLMM
    from .jm.api import JointModel
    from .multivariate_api import MultivariateLMM

    model, _ = _model(args)
    if isinstance(model, JointModel):
        print(f"OK: {args.spec}: {model}")
        return 0
    if isinstance(model, MultivariateLMM):
        print(f"OK: {args.spec}: {_blocks(model.design.blocks)}; {model}")
        return 0
    if isinstance(model, DistributedLMM):  # checked from its statistics
        print(f"OK: {args.spec}: {model}")
        return 0
    design = model.design
    print(f"OK: {args.spec}: {design.n_obs} observations, {len(design.fixed_names)} fixed "
          f"effects, grouping factors {_blocks(design.groups)}; {model.likelihood} "
          f"likelihood; engine {model.engine().reason}")
    return 0


def _blocks(blocks) -> str:
    """Grouping factors (or a multivariate model's random-effect blocks) in words."""
    return ", ".join(f"{b.name} ({b.n_levels} levels × {len(b.terms)} effects)"
                     for b in blocks) or "none"


def _summarize(args) -> int:
    from .models import load

    print(load(args.saved))
    return 0


def _predict(args) -> int:
    from .api import Fit
    from .display import format_table
    from .models import load
    from .specfile import _is_parquet, read_data_file

    fit = load(args.saved)
    if not isinstance(fit, Fit):
        raise SpecError("predict: predictions are made by models with one outcome")
    if _is_parquet(args.data):
        return _predict_by_partition(fit, args)
    data = read_data_file(args.data)
    history = read_data_file(args.history) if args.history else None
    options = {"groups": args.groups, "history": history, "random_seed": args.random_seed}
    table = data.join(fit.predict(data, kind=args.kind, **options))
    if args.threshold is not None:
        table["probability"] = fit.exceedance(data, args.threshold, **options)["probability"]
    if args.out:
        table.to_csv(args.out, index=False)
        print(f"wrote predictions: {args.out}")
    else:
        print(format_table(table))
    return 0


def _predict_by_partition(fit, args) -> int:
    """``predict`` of Parquet files, partition by partition, into the folder ``--out``
    (:func:`lmm_bayes.distributed.rows.predict`)."""
    from .distributed import rows

    if not args.out:
        raise SpecError("predict: Parquet data are predicted partition by partition into a "
                        "folder: give --out FOLDER")
    if args.history:
        raise SpecError("predict: --history is for CSV data (new individuals' rows in memory)")
    rows.predict(fit, args.data, kind=args.kind, groups=args.groups,
                 random_seed=args.random_seed, threshold=args.threshold, path=args.out)
    print(f"wrote predictions: {args.out} (one Parquet file per partition)")
    return 0


def _fit_many(args) -> int:
    from .many import fit_many
    from .spec import ModelSpec
    from .specfile import read_data_file, read_spec

    data = read_data_file(args.data) if args.data else None
    spec_file = read_spec(args.spec, data=data)
    spec, settings = spec_file.spec, dict(spec_file.sampler)
    if not isinstance(spec, ModelSpec):
        raise SpecError(f"{args.spec}: fit-many fits models with one formula")
    settings.pop("cores", None)
    settings.pop("sampler", None)
    out = Path(args.out) if args.out else Path("results") / f"{Path(args.spec).stem}_by_{args.by}"
    result = fit_many(spec.formula.text, spec_file.data, by=args.by, client=args.scheduler,
                      out=str(out), progressbar=sys.stdout.isatty(), **settings,
                      **_model_options(spec))
    result.summary().to_csv(out / "summary.csv", index=False)
    failures = result.failures()
    print(f"{len(result) - len(failures)} of {len(result)} fits done; results in {out}")
    for row in failures.itertuples(index=False):
        print(f"failed: {row[0]}: {row[1]}", file=sys.stderr)
    return 0


def _model_options(spec: ModelSpec) -> dict:
    """The spec's options as keywords of LMM (those that differ from the defaults)."""
    from .spec import ModelSpec

    default = ModelSpec(spec.formula)
    return {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)
            if f.name != "formula" and getattr(spec, f.name) != getattr(default, f.name)}


_COMMANDS = {"fit": _fit, "check": _check, "summarize": _summarize, "predict": _predict,
             "fit-many": _fit_many}


# options set by a flag (on the commands that have it); the others are [model] keys
_FLAGS = ("sampler", "engine", "groups")


def _spelled(setting: Setting) -> str:
    """A setting named in an error message as the command line sets it: a flag, or a key of
    the spec file's ``[model]`` table in TOML."""
    if setting.option in _FLAGS:
        return f"--{setting.option} {setting.value}"
    return f"{setting.option} = {json.dumps(setting.value)} in [model]"


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``lmm-bayes``; user mistakes exit with status 2 and one line."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        return _COMMANDS[args.command](args)
    except (LMMError, OSError) as err:
        message = err.spelled(_spelled) if isinstance(err, LMMError) else err
        print(f"lmm-bayes: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
