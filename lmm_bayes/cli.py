"""The ``lmm-bayes`` command line.

``lmm-bayes fit SPEC.toml [--data CSV] [--out DIR] [--draws N --tune N --chains N --seed S
--sampler NAME] [--progress]`` fits the model of a spec file, prints its fixed effects,
variance components and ICC and writes ``DIR/summary.csv``, ``DIR/fit.nc`` (the saved fit)
and ``DIR/report.html``. ``lmm-bayes check SPEC.toml`` builds the model without sampling.
``lmm-bayes summarize DIR`` prints the tables of a saved fit.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from pathlib import Path

import pandas as pd

from .errors import LMMError, SamplingWarning, SpecError

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
    fit.add_argument("--out", help="output folder (default: results/<spec name>)")
    fit.add_argument("--draws", type=int)
    fit.add_argument("--tune", type=int)
    fit.add_argument("--chains", type=int)
    fit.add_argument("--seed", type=int, dest="random_seed")
    fit.add_argument("--sampler", choices=["nutpie", "pymc", "numpyro"])
    fit.add_argument("--progress", action="store_true",
                     help="show a progress bar while sampling (default: when stdout is a terminal)")
    summarize = commands.add_parser("summarize", help="print the tables of a saved fit")
    summarize.add_argument("saved", help="output folder of `fit` (or the saved fit.nc itself)")
    return parser


def _read_csv(path: str) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise SpecError(f"cannot read the data file {path!r}: {err}".replace("\n", " ")) from None


def _model(args):
    from .api import LMM
    from .spec import read_spec

    data = _read_csv(args.data) if args.data else None
    spec_file = read_spec(args.spec, data=data)
    return LMM.from_spec(spec_file.spec, spec_file.data), spec_file.sampler


def _print_tables(fit) -> None:
    from .report import format_table

    table = fit.summary()
    fixed = table[table["effect"] == "fixed"].drop(columns=["group"])
    for title, part in (("Fixed effects", fixed),
                        ("Variance components", fit.variance_components()),
                        ("Intraclass correlation", fit.icc())):
        print(f"\n{title}\n{format_table(part.drop(columns=['effect'], errors='ignore'))}")


def _fit(args) -> int:
    from .report import write_results

    model, settings = _model(args)
    settings = dict(settings)
    settings.update({k: v for k in ("draws", "tune", "chains", "random_seed", "sampler")
                     if (v := getattr(args, k)) is not None})
    print(model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SamplingWarning)
        fit = model.fit(progressbar=args.progress or sys.stdout.isatty(), **settings)
    _print_tables(fit)
    for warning in caught:
        if issubclass(warning.category, SamplingWarning):
            print(f"warning: {warning.message}", file=sys.stderr)
    out = Path(args.out) if args.out else Path("results") / Path(args.spec).stem
    print()
    for kind, path in write_results(fit, out).items():
        print(f"wrote {kind}: {path}")
    return 0


def _check(args) -> int:
    model, _ = _model(args)
    design = model.design
    groups = ", ".join(f"{g.name} ({g.n_levels} levels × {len(g.terms)} effects)"
                       for g in design.groups)
    print(f"OK: {args.spec}: {design.n_obs} observations, {len(design.fixed_names)} fixed "
          f"effects, grouping factors {groups or 'none'}; {model.likelihood} likelihood")
    return 0


def _summarize(args) -> int:
    from .io import load

    path = Path(args.saved)
    fit = load(path / "fit.nc" if path.is_dir() else path)
    print(fit.model)
    print(fit)
    _print_tables(fit)
    return 0


_COMMANDS = {"fit": _fit, "check": _check, "summarize": _summarize}


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``lmm-bayes``; user mistakes exit with status 2 and one line."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        return _COMMANDS[args.command](args)
    except (LMMError, OSError) as err:
        print(f"lmm-bayes: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
