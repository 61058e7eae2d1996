"""Summaries of posterior draws: numpy and xarray only, no PyMC."""

from .icc import icc, nesting
from .recenter import recenter
from .shrinkage import shrinkage
from .singular import singular_components
from .tidy import random_effects_table, tidy_summary
from .trajectories import trajectories
from .variance import variance_components

__all__ = ["icc", "nesting", "random_effects_table", "recenter", "shrinkage", "singular_components",
           "tidy_summary",
           "trajectories", "variance_components"]
