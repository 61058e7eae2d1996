"""lmm_bayes: Bayesian linear mixed-effects models from lme4-style formulas.

>>> import lmm_bayes as lb
>>> fit = lb.fit("Reaction ~ Days + (Days | Subject)", lb.load_dataset("sleepstudy"))  # doctest: +SKIP
>>> fit.summary()  # doctest: +SKIP
"""

from .blas import configure as _configure_blas

_configure_blas()  # before anything imports PyTensor

from .api import LMM, Fit, compare, fit
from .datasets import load_dataset
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
from .formula import parse_formula
from .longitudinal import add_lags, within_between
from .many import ManyFits, fit_many
from .models import load
from .multivariate_api import MultivariateFit, MultivariateLMM
from .priors import Prior
from .risk import LogisticRisk
from .version import __version__  # noqa: F401  (lb.__version__)

__all__ = [
                     "LMM",
                     "DesignError",
                     "Fit",
                     "IdentifiabilityWarning",
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
