"""The public entry point for multivariate models: :class:`MultivariateLMM` and its fit.

Orchestration only: spec (:class:`lmm_bayes.spec.MultivariateSpec`) → joint design and priors
(:mod:`lmm_bayes.multivariate`) → PyMC model (:func:`lmm_bayes.builder.build_multivariate_model`)
→ sampling (:mod:`lmm_bayes.sampling`) → summaries (:mod:`lmm_bayes.summaries.multivariate`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from . import display, io, names
from .engines.graph import sample_model
from .errors import DesignError
from .multivariate import (
    MultivariateDesign,
    MultivariatePriors,
    build_multivariate_design,
    build_multivariate_priors,
)
from .preflight import check_identifiability
from .sampling import SamplerConfig, default_target_accept, diagnose, warn_on_problems
from .spec import MultivariateSpec
from .summaries import random_effects_table
from .summaries.multivariate import multivariate_components, multivariate_summary

if TYPE_CHECKING:  # ArviZ is imported where a fit needs it (seconds at import)
    import arviz as az

__all__ = ["MultivariateFit", "MultivariateLMM"]


class MultivariateLMM:
    """A Bayesian multivariate linear mixed model: several Gaussian outcomes measured on the
    same rows, each with its own lme4-style formula.

    Parameters
    ----------
    formulas : sequence of str
        One per outcome, e.g. ``["depression ~ months + (1 + months |p| id)",
        "il6 ~ months + (1 + months |p| id)"]``. Random terms with the same ID (``|p|``) and
        grouping factor share one covariance matrix across the outcomes (brms's syntax), so
        the correlations of one outcome's intercepts and slopes with another's are
        estimated; terms without an ID have their own covariance per outcome.
    data : pandas.DataFrame
        One row per occasion. An outcome may be missing (NaN) on a row; the row still counts
        for the other outcomes.
    rescor : bool
        Estimate the residual correlation of the outcomes (LKJ prior); ``False``: independent
        residuals.
    priors : mapping, optional
        Per outcome, its overrides keyed as for :class:`lmm_bayes.LMM`
        (``{"depression": {"months": lb.Prior(...)}}``); ``"eta_<block>"`` and
        ``"eta_rescor"`` for the LKJ shapes (see
        :func:`lmm_bayes.multivariate.build_multivariate_priors`).
    factors, reference
        As for :class:`lmm_bayes.LMM`.
    na_action : {"raise", "drop"}
        For a missing predictor (the row is dropped for the outcomes whose formula uses it)
        and a row with every outcome missing.
    parametrization : {"centered", "non-centered"}
        Of the random effects (:func:`lmm_bayes.builder.build_multivariate_model`);
        ``"non-centered"`` for levels with few rows each.

    Examples
    --------
    >>> import lmm_bayes as lb
    >>> from lmm_bayes.simulate import simulate_symptoms_il6
    >>> data = simulate_symptoms_il6(n_patients=40)
    >>> model = lb.MultivariateLMM(["depression ~ months + (1 + months |p| id)",
    ...                             "il6 ~ months + (1 + months |p| id)"], data)
    >>> model.design.blocks[0].terms
    ('depression:(Intercept)', 'depression:months', 'il6:(Intercept)', 'il6:months')
    """

    def __init__(self, formulas: Sequence[str], data: pd.DataFrame, *, rescor: bool = True,
                 priors: Mapping[str, Any] | None = None, factors=(), reference=None,
                 na_action: Literal["raise", "drop"] = "raise",
                 parametrization: Literal["centered", "non-centered"] = "centered"):
        spec = MultivariateSpec.from_formulas(formulas, rescor=rescor, priors=priors,
                                              factors=factors, reference=reference,
                                              na_action=na_action,
                                              parametrization=parametrization)
        self._init(spec, data)

    @classmethod
    def from_spec(cls, spec: MultivariateSpec, data: pd.DataFrame) -> MultivariateLMM:
        """A model from a :class:`~lmm_bayes.spec.MultivariateSpec` (e.g. read from a TOML
        file)."""
        model = cls.__new__(cls)
        model._init(spec, data)
        return model

    def _init(self, spec: MultivariateSpec, data: pd.DataFrame) -> None:
        if not isinstance(data, pd.DataFrame):
            raise DesignError(f"data must be a pandas DataFrame, not {type(data).__name__}")
        if data.empty:
            raise DesignError("the data have no rows")
        self.spec = spec
        self.data = data
        self.design: MultivariateDesign = build_multivariate_design(
            spec.formulas, data, factors=spec.factors, reference=spec.reference,
            na_action=spec.na_action)
        for design in self.design.designs:
            check_identifiability(design)
        self.priors: MultivariatePriors = build_multivariate_priors(self.design, spec.priors,
                                                                    rescor=spec.rescor)

    def __repr__(self) -> str:
        counts = ", ".join(f"{y} (n={d.n_obs})" for y, d in zip(self.design.responses,
                                                                 self.design.designs))
        return f"MultivariateLMM({counts}, rescor={self.spec.rescor})"

    def fingerprints(self) -> dict[str, str]:
        """Digests of each outcome's design and of the priors, which a saved fit's rebuilt
        model must reproduce (:func:`lmm_bayes.io.fingerprints`)."""
        designs = dict(zip(self.design.responses, self.design.designs))
        return io.fingerprints(designs, self.priors.table(self.design.responses))

    @cached_property
    def pymc_model(self):
        """The PyMC model (built once, on first use)."""
        from .builder import build_multivariate_model

        return build_multivariate_model(self.design, self.priors, rescor=self.spec.rescor,
                                        parametrization=self.spec.parametrization)

    def fit(self, draws: int = 1000, tune: int = 1000, chains: int = 4, *,
            random_seed: int | None = None,
            sampler: Literal["nutpie", "pymc", "numpyro"] = "nutpie",
            target_accept: float | None = None, cores: int | None = None,
            progressbar: bool = False) -> MultivariateFit:
        """Sample the posterior with NUTS; warn (:class:`~lmm_bayes.SamplingWarning`) on
        divergences, R-hat > 1.01 or ESS < 400 of the fixed effects and variance parameters.
        ``target_accept=None``: 0.95 when a grouping factor has fewer than 20 levels, else
        0.8 (:func:`lmm_bayes.sampling.default_target_accept`)."""
        if target_accept is None:
            target_accept = default_target_accept([b.n_levels for b in self.design.blocks])
        config = SamplerConfig(draws=draws, tune=tune, chains=chains, random_seed=random_seed,
                               sampler=sampler, target_accept=target_accept, cores=cores,
                               progressbar=progressbar)
        idata = sample_model(self.pymc_model, config)
        blocks = [block.name for block in self.design.blocks]
        idata.posterior = idata.posterior[names.public(blocks, idata.posterior.data_vars)]
        result = MultivariateFit(self, idata, config)
        warn_on_problems(result.diagnostics())
        return result

class MultivariateFit:
    """A fitted multivariate model.

    Attributes
    ----------
    model : MultivariateLMM
    idata : arviz.InferenceData
        ``posterior`` with ``beta`` (dim ``fixed``, ``"<outcome>:<term>"``), ``sigma``
        (dim ``outcome``), ``rescor`` (with ``rescor=True``), and per random-effect block
        ``sd_<block>``, ``corr_<block>``, ``b_<block>``
        (:func:`lmm_bayes.builder.build_multivariate_model`).
    config : SamplerConfig
    """

    def __init__(self, model: MultivariateLMM, idata: az.InferenceData, config: SamplerConfig):
        self.model = model
        self.idata = idata
        self.config = config

    def __repr__(self) -> str:
        post = self.idata.posterior
        return (f"MultivariateFit({list(self.model.design.responses)}, {post.sizes['chain']} "
                f"chains × {post.sizes['draw']} draws)")

    def __str__(self) -> str:
        """The model, fixed effects and variance components as aligned tables, numbers
        rounded for reading (:mod:`lmm_bayes.display`); what ``lmm-bayes fit`` prints."""
        return display.summary_text([repr(self.model), repr(self)], display.fit_tables(self))

    @property
    def _blocks(self) -> dict[str, tuple[str, ...]]:
        return {b.name: b.terms for b in self.model.design.blocks}

    @property
    def _block_groups(self) -> dict[str, str]:
        return {b.name: b.group for b in self.model.design.blocks}

    def save(self, path) -> Path:
        """Write the fit (spec, data, sampler settings, posterior) to one netCDF file;
        :func:`lmm_bayes.load` reads it back without sampling (see :mod:`lmm_bayes.io`)."""
        model = self.model
        levels = {k: v for d in model.design.designs for k, v in d.schema.levels.items()}
        saved = io.SavedFit(model.spec, model.data, self.config, self.idata, model.fingerprints())
        return io.save(saved, path, levels)

    def diagnostics(self) -> list[str]:
        """Sampling problems (divergences, R-hat, ESS) of the fixed effects and variance
        parameters, each with what to try; empty if none."""
        parameters = [n for n in self.idata.posterior.data_vars
                      if names.group_variable(n) != "b"]
        return diagnose(self.idata, parameters)

    def summary(self, prob: float = 0.95) -> pd.DataFrame:
        """Fixed effects and variance parameters in broom.mixed's ``tidy()`` layout, the
        outcome named in every term; see
        :func:`lmm_bayes.summaries.multivariate.multivariate_summary`."""
        return multivariate_summary(self.idata.posterior, self._blocks, self._block_groups,
                                    self.model.design.responses, prob)

    def variance_components(self, prob: float = 0.95) -> pd.DataFrame:
        """SDs, correlations, variances and covariances of the random effects by grouping
        factor, and each outcome's residual SD and variance and the residual correlations
        (:func:`lmm_bayes.summaries.multivariate.multivariate_components`)."""
        return multivariate_components(self.idata.posterior, self._blocks, self._block_groups,
                                       self.model.design.responses, prob)

    def random_effects(self, group: str, prob: float = 0.95) -> pd.DataFrame:
        """Each level's random effects of grouping factor ``group`` (every outcome's, terms
        ``"<outcome>:<term>"``): posterior mean, SD and central interval."""
        tables = [random_effects_table(self.idata.posterior, block.name, prob)
                  for block in self.model.design.blocks_of(group)]
        return pd.concat(tables, ignore_index=True).assign(group=group)
