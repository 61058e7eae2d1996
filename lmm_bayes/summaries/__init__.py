"""Summaries of posterior draws: numpy and xarray only, no PyMC."""

from .tidy import random_effects_table, tidy_summary

__all__ = ["random_effects_table", "tidy_summary"]
