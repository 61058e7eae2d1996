"""Data sets shipped with the package, so examples run on a fresh machine: real studies as
CSV files in ``lmm_bayes/data``, and simulated studies from the generators of
:mod:`lmm_bayes.simulate`, run with their fixed default seed."""

from __future__ import annotations

from importlib import resources

import pandas as pd

from .errors import SpecError

__all__ = ["DATASETS", "load_dataset"]

DATASETS = {
    "sleepstudy": "Reaction times (ms) of 18 subjects over 10 days of sleep deprivation "
                  "(Belenky et al. 2003; lme4's sleepstudy).",
    "dyestuff": "Yield of dyestuff from 6 batches of an intermediate, 5 preparations each "
                "(Davies 1947; lme4's Dyestuff).",
    "penicillin": "Diameter (mm) of growth-inhibition zones of 6 penicillin samples on each of "
                  "24 plates, crossed (Davies & Goldsmith 1972; lme4's Penicillin).",
    "pastes": "Strength of paste from 3 casks in each of 10 delivery batches, 2 tests per cask, "
              "nested (Davies & Goldsmith 1972; lme4's Pastes).",
}


def load_dataset(name: str) -> pd.DataFrame:
    """Load a shipped data set by name (see ``DATASETS``), or simulate one: ``name`` runs the
    generator ``lmm_bayes.simulate.simulate_<name>`` (e.g. ``"multicentre_trial"``) with its
    default, fixed seed."""
    from . import simulate

    generators = {n.removeprefix("simulate_"): getattr(simulate, n) for n in simulate.__all__
                  if n.startswith("simulate_")}
    if name in generators:
        return generators[name]()
    if name not in DATASETS:
        raise SpecError(f"no shipped data set {name!r} (nor a simulated one); shipped: "
                        f"{sorted(DATASETS)}, simulated: {sorted(generators)}")
    with resources.files("lmm_bayes").joinpath(f"data/{name}.csv").open("r") as handle:
        return pd.read_csv(handle)
