"""Summaries of posterior draws: numpy and xarray only, no PyMC."""

from .adjusted import adjusted_means, mean_contrasts, reference_grid
from .dynamic_accuracy import calibration_table, time_dependent_auc
from .icc import icc, latent_residual_variance, nesting
from .population import marginal_effects, population_means
from .recenter import recenter
from .shrinkage import shrinkage
from .singular import singular_components, zero_bulk_ratio
from .tidy import (
    coefficients_table,
    fixed_effects_table,
    random_effects_table,
    tidy_summary,
)
from .trajectories import trajectories
from .variance import variance_components, variance_contrast

__all__ = [
    "adjusted_means",
    "calibration_table",
    "coefficients_table",
    "fixed_effects_table",
    "icc",
    "latent_residual_variance",
    "marginal_effects",
    "mean_contrasts",
    "nesting",
    "population_means",
    "random_effects_table",
    "recenter",
    "reference_grid",
    "shrinkage",
    "singular_components",
    "tidy_summary",
    "time_dependent_auc",
    "trajectories",
    "variance_components",
    "variance_contrast",
    "zero_bulk_ratio",
]
