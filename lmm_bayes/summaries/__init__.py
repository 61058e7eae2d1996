"""Summaries of posterior draws: numpy and xarray only, no PyMC."""

from .tidy import random_effects_table, tidy_summary

__all__ = ["tidy_summary", "random_effects_table"]
