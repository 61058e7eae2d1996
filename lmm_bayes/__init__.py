"""lmm_bayes: Bayesian linear mixed-effects models from lme4-style formulas.

>>> import lmm_bayes as lb
>>> fit = lb.fit("Reaction ~ Days + (Days | Subject)", lb.load_dataset("sleepstudy"))  # doctest: +SKIP
>>> fit.summary()  # doctest: +SKIP

The public names are imported on first use (PEP 562), so ``import lmm_bayes`` and
``lmm-bayes --help`` cost almost nothing: PyMC, ArviZ, numba and Dask take seconds to
import and are loaded only by the modules that need them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .blas import configure as _configure_blas

# Cheap, and wanted at once: `except lb.LMMError` should not import the models.
from .errors import (
    DesignError,
    IdentifiabilityWarning,
    LMMError,
    LoadError,
    OutputError,
    PriorError,
    SamplingError,
    SamplingWarning,
    SingularFitWarning,
    SpecError,
)
from .version import __version__  # noqa: F401  (lb.__version__)

_configure_blas()  # before anything imports PyTensor (lmm_bayes.blas)

if TYPE_CHECKING:  # what IDEs and type checkers see; at run time __getattr__ imports these
    from .api import LMM, Fit, compare, fit
    from .datasets import load_dataset
    from .formula import parse_formula
    from .jm.api import JointFit, JointModel
    from .longitudinal import add_lags, within_between
    from .many import ManyFits, fit_many
    from .models import load
    from .multivariate_api import MultivariateFit, MultivariateLMM
    from .priors import Prior
    from .risk import LogisticRisk

# The module of each name imported on first use (keep in step with the block above).
_LAZY = {
    "LMM": "api", "Fit": "api", "compare": "api", "fit": "api",
    "load_dataset": "datasets",
    "parse_formula": "formula",
    "JointModel": "jm.api", "JointFit": "jm.api",
    "add_lags": "longitudinal", "within_between": "longitudinal",
    "ManyFits": "many", "fit_many": "many",
    "load": "models",
    "MultivariateFit": "multivariate_api", "MultivariateLMM": "multivariate_api",
    "Prior": "priors",
    "LogisticRisk": "risk",
}

__all__ = [
                     "LMM",
                     "DesignError",
                     "Fit",
                     "IdentifiabilityWarning",
                     "JointFit",
                     "JointModel",
                     "LMMError",
                     "LoadError",
                     "LogisticRisk",
                     "ManyFits",
                     "MultivariateFit",
                     "MultivariateLMM",
                     "OutputError",
                     "Prior",
                     "PriorError",
                     "SamplingError",
                     "SamplingWarning",
                     "SingularFitWarning",
                     "SpecError",
                     "add_lags",
                     "compare",
                     "fit",
                     "fit_many",
                     "load",
                     "load_dataset",
                     "parse_formula",
                     "within_between",
]


def __getattr__(name: str):
    """A public name, imported from its module on first use and kept; or a submodule
    (``lb.simulate``, ``lb.sampling``), as eager imports used to make them available."""
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value  # later lookups find it without calling __getattr__
        return value
    if not name.startswith("_"):
        try:
            return importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as err:
            if err.name != f"{__name__}.{name}":  # the submodule exists but lacks a dependency
                raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
