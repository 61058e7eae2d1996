"""Simulated studies with known truth, one module per study.

Each generator returns a :class:`pandas.DataFrame` and takes ``random_seed`` with a fixed
default, so ``lb.load_dataset(name)`` and ``[data] dataset = "name"`` in a spec file give the
same data on every machine; the parameters it simulates from are its keyword defaults.
"""

from .trial import TrialTruth, multicentre_trial

__all__ = ["TrialTruth", "multicentre_trial"]
