"""Data sets shipped with the package, so examples run on a fresh machine."""

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
}


def load_dataset(name: str) -> pd.DataFrame:
    """Load a shipped data set by name (see ``DATASETS``)."""
    if name not in DATASETS:
        raise SpecError(f"no shipped data set {name!r}; available: {sorted(DATASETS)}")
    with resources.files("lmm_bayes").joinpath(f"data/{name}.csv").open("r") as handle:
        return pd.read_csv(handle)
