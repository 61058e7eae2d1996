"""lmm_bayes: Bayesian linear mixed-effects models from lme4-style formulas.

>>> import lmm_bayes as lb
>>> fit = lb.fit("Reaction ~ Days + (Days | Subject)", lb.load_dataset("sleepstudy"))  # doctest: +SKIP
>>> fit.summary()  # doctest: +SKIP
"""

from .api import LMM, Fit, fit
from .datasets import load_dataset
from .errors import (
    DesignError,
    IdentifiabilityWarning,
    LMMError,
    PriorError,
    SamplingError,
    SamplingWarning,
    SingularFitWarning,
    SpecError,
)
from .formula import parse_formula
from .priors import Prior

__version__ = "0.1.0"

__all__ = [
                     "LMM",
                     "DesignError",
                     "Fit",
                     "IdentifiabilityWarning",
                     "LMMError",
                     "Prior",
                     "PriorError",
                     "SamplingError",
                     "SamplingWarning",
                     "SingularFitWarning",
                     "SpecError",
                     "fit",
                     "load_dataset",
                     "parse_formula",
]
