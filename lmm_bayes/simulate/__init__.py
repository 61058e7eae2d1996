"""Simulated studies with known parameters, for examples, specs and validation."""

from .hba1c import HBA1C_FORMULA, HBA1C_TRUTH, simulate_hba1c

__all__ = ["HBA1C_FORMULA", "HBA1C_TRUTH", "simulate_hba1c"]
