"""Simulated studies with known parameters, for examples, specs and validation."""

from .eqtl import EQTL_FORMULA, simulate_eqtl
from .hba1c import HBA1C_FORMULA, HBA1C_TRUTH, simulate_hba1c

__all__ = ["EQTL_FORMULA", "HBA1C_FORMULA", "HBA1C_TRUTH", "simulate_eqtl", "simulate_hba1c"]
