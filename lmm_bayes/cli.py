"""The ``lmm-bayes`` command line.

``lmm-bayes fit SPEC.toml [--data CSV] [--out DIR] [--draws N --tune N --chains N --seed S
--sampler NAME]`` fits the model of a spec file, prints its summary and writes
``DIR/summary.csv``, ``DIR/posterior.nc`` and ``DIR/report.html``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from pathlib import Path

import pandas as pd

from .errors import LMMError, SamplingWarning

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lmm-bayes",
                                     description="Bayesian linear mixed-effects models.")
    commands = parser.add_subparsers(dest="command", required=True)
    fit = commands.add_parser("fit", help="fit the model of a TOML spec file")
    fit.add_argument("spec", help="model spec file (see models/)")
    fit.add_argument("--data", help="CSV file to use instead of the spec's data")
    fit.add_argument("--out", help="output folder (default: results/<spec name>)")
    fit.add_argument("--draws", type=int)
    fit.add_argument("--tune", type=int)
    fit.add_argument("--chains", type=int)
    fit.add_argument("--seed", type=int, dest="random_seed")
    fit.add_argument("--sampler", choices=["nutpie", "pymc", "numpyro"])
    return parser


def _fit(args) -> int:
    from .api import LMM
    from .report import format_summary, write_results
    from .spec import read_spec

    data = pd.read_csv(args.data) if args.data else None
    spec_file = read_spec(args.spec, data=data)
    settings = dict(spec_file.sampler)
    settings.update({k: v for k in ("draws", "tune", "chains", "random_seed", "sampler")
                     if (v := getattr(args, k)) is not None})
    model = LMM.from_spec(spec_file.spec, spec_file.data)
    print(model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SamplingWarning)
        fit = model.fit(progressbar=sys.stderr.isatty(), **settings)
    print(format_summary(fit.summary()))
    for warning in caught:
        if issubclass(warning.category, SamplingWarning):
            print(f"warning: {warning.message}", file=sys.stderr)
    out = Path(args.out) if args.out else Path("results") / Path(args.spec).stem
    for kind, path in write_results(fit, out).items():
        print(f"wrote {kind}: {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``lmm-bayes``; user mistakes exit with status 2 and one line."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        return _fit(args)
    except (LMMError, OSError) as err:
        print(f"lmm-bayes: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
