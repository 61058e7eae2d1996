"""The public entry points: :class:`LMM` (a model on data) and :class:`Fit` (its posterior).

Orchestration only: each step is done by its stage module (formula → design → priors →
builder → sampling → summaries).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from functools import cached_property
from typing import Any, Literal

import arviz as az
import numpy as np
import pandas as pd

from . import summaries
from .design import Design, build_design
from .errors import DesignError, SingularFitWarning
from .marginal import can_marginalize, level_statistics, random_effects_draws
from .preflight import check_identifiability
from .priors import PriorSet, build_priors
from .sampling import SamplerConfig, diagnose, warn_on_problems
from .spec import ModelSpec
from .summaries import random_effects_table, tidy_summary

__all__ = ["LMM", "Fit", "fit"]

logger = logging.getLogger("lmm_bayes")


class LMM:
    """A Bayesian linear mixed model, specified by an lme4-style formula, on a data frame.

    Construction parses the formula, builds the design and the priors and validates them
    against the data; nothing is sampled until :meth:`fit`.

    Parameters
    ----------
    formula : str
        lme4 syntax, e.g. ``"Reaction ~ Days + (Days | Subject)"``; see the README's table.
    data : pandas.DataFrame
    family : {"gaussian"}
    priors : mapping, optional
        Prior overrides by key (``"Days"``, ``"sd_Subject__Days"``, ``"eta_Subject"``,
        ``"sigma"``...), see :mod:`lmm_bayes.priors`.
    factors : sequence of str
        Numeric columns to treat as categorical (grouping factors always are).
    reference : mapping, optional
        Reference level per categorical column.
    na_action : {"raise", "drop"}
        What to do with rows that have missing values in a used column.
    parametrization : {"auto", "centered", "non-centered"}
        Of the random effects; ``"auto"`` chooses per grouping factor from how strongly the
        data inform each level (see :func:`lmm_bayes.builder.level_information`).
    likelihood : {"auto", "conditional", "marginal"}
        ``"marginal"`` integrates the random effects out of the likelihood and draws them
        afterwards from their exact conditional (:mod:`lmm_bayes.marginal`): same posterior,
        far fewer sampled parameters. ``"auto"`` (default) does so where it can (a Gaussian
        model with one grouping factor of at most two varying terms); ``"conditional"``
        forces the plain model with the random effects sampled.

    Examples
    --------
    >>> import lmm_bayes as lb
    >>> model = lb.LMM("Reaction ~ Days + (Days | Subject)", lb.load_dataset("sleepstudy"))
    >>> model.design.fixed_names
    ('(Intercept)', 'Days')
    """

    def __init__(self, formula: str, data: pd.DataFrame, *, family: str = "gaussian",
                 priors: Mapping[str, Any] | None = None, factors=(), reference=None,
                 na_action: Literal["raise", "drop"] = "raise",
                 parametrization: Literal["auto", "centered", "non-centered"] = "auto",
                 likelihood: Literal["auto", "conditional", "marginal"] = "auto"):
        spec = ModelSpec.from_formula(formula, family=family, priors=dict(priors or {}),
                                      factors=factors, reference=dict(reference or {}),
                                      na_action=na_action, parametrization=parametrization,
                                      likelihood=likelihood)
        self._init(spec, data)

    @classmethod
    def from_spec(cls, spec: ModelSpec, data: pd.DataFrame) -> LMM:
        """A model from a :class:`~lmm_bayes.spec.ModelSpec` (e.g. read from a TOML file)."""
        model = cls.__new__(cls)
        model._init(spec, data)
        return model

    def _init(self, spec: ModelSpec, data: pd.DataFrame) -> None:
        if not isinstance(data, pd.DataFrame):
            raise DesignError(f"data must be a pandas DataFrame, not {type(data).__name__}")
        self.spec = spec
        self.data = data
        self.design: Design = build_design(spec.formula, data, factors=spec.factors,
                                           reference=spec.reference, na_action=spec.na_action)
        check_identifiability(self.design)
        self.priors: PriorSet = build_priors(self.design, spec.priors)
        marginal_possible = can_marginalize(self.design, spec.family)
        if spec.likelihood == "marginal" and not marginal_possible:
            raise DesignError("likelihood='marginal' needs a Gaussian model with one grouping "
                              "factor of at most two varying terms; use 'conditional'")
        self.likelihood = ("marginal" if spec.likelihood == "marginal"
                           or spec.likelihood == "auto" and marginal_possible else "conditional")

    def __repr__(self) -> str:
        groups = ", ".join(f"{g.name} ({g.n_levels} levels)" for g in self.design.groups)
        return (f"LMM({self.spec.formula.text!r}, family={self.spec.family!r}, "
                f"n={self.design.n_obs}, groups: {groups or 'none'})")

    @cached_property
    def pymc_model(self):
        """The PyMC model (built once, on first use)."""
        from .builder import build_model

        return build_model(self.design, self.priors, self.spec.family,
                           parametrization=self.spec.parametrization,
                           likelihood=self.likelihood)

    @cached_property
    def _generative_model(self):
        """The model with the random effects sampled, for prior predictive draws of y."""
        from .builder import build_model

        if self.likelihood == "conditional":
            return self.pymc_model
        return build_model(self.design, self.priors, self.spec.family,
                           parametrization=self.spec.parametrization)

    def fit(self, draws: int = 1000, tune: int = 1000, chains: int = 4, *,
            random_seed: int | None = None,
            sampler: Literal["nutpie", "pymc", "numpyro"] = "nutpie",
            target_accept: float | None = None, cores: int | None = None,
            progressbar: bool = False) -> Fit:
        """Sample the posterior with NUTS and check the diagnostics.

        Warns with :class:`~lmm_bayes.SamplingWarning` on divergences, R-hat > 1.01 or bulk/tail
        ESS < 400 of the fixed effects and variance parameters, saying what to try, and with
        :class:`~lmm_bayes.SingularFitWarning` when a random-effect SD's posterior piles up at
        zero (:func:`lmm_bayes.summaries.singular_components`); the fit is returned either way.
        The same ``random_seed`` gives the same draws. ``target_accept=None`` takes 0.95 when
        a grouping factor has fewer than 20 levels and 0.8 otherwise
        (:func:`lmm_bayes.sampling.default_target_accept`).
        """
        from .sampling import default_target_accept, sample

        if target_accept is None:
            target_accept = default_target_accept([g.n_levels for g in self.design.groups])
        config = SamplerConfig(draws=draws, tune=tune, chains=chains, random_seed=random_seed,
                               sampler=sampler, target_accept=target_accept, cores=cores,
                               progressbar=progressbar)
        idata = sample(self.pymc_model, config)
        if self.likelihood == "marginal":
            group = self.design.groups[0]
            idata.posterior[f"b_{group.name}"] = random_effects_draws(
                idata.posterior, level_statistics(self.design, group), group, random_seed)
        idata.posterior = idata.posterior[public_names(self.design, idata.posterior)]
        result = Fit(self, idata, config)
        warn_on_problems(result.diagnostics())
        for message in summaries.singular_components(idata.posterior, result._groups):
            warnings.warn(message, SingularFitWarning, stacklevel=2)
        return result

    def prior_predictive(self, draws: int = 500, *, random_seed: int | None = None):
        """Draws from the prior and the prior predictive distribution (InferenceData)."""
        import pymc as pm

        with self._generative_model:
            return pm.sample_prior_predictive(draws=draws, random_seed=random_seed)


class Fit:
    """A fitted model: the posterior draws and the answers computed from them.

    Attributes
    ----------
    model : LMM
    idata : arviz.InferenceData
        ``posterior`` with ``beta``, ``sigma``, ``sd_<g>``, ``corr_<g>``, ``b_<g>``, whose
        coords carry the real term names and level labels; ``sample_stats``.
    config : SamplerConfig
    """

    def __init__(self, model: LMM, idata: az.InferenceData, config: SamplerConfig):
        self.model = model
        self.idata = idata
        self.config = config

    def __repr__(self) -> str:
        post = self.idata.posterior
        return (f"Fit({self.model.spec.formula.text!r}, {post.sizes['chain']} chains × "
                f"{post.sizes['draw']} draws, sampler={self.config.sampler!r})")

    @property
    def _groups(self) -> dict[str, tuple[str, ...]]:
        return {g.name: g.terms for g in self.model.design.groups}

    @property
    def parameter_names(self) -> list[str]:
        """Posterior variables of the fixed effects and variance parameters."""
        return [n for n in public_names(self.model.design, self.idata.posterior)
                if not n.startswith("b_")]

    def diagnostics(self) -> list[str]:
        """Sampling problems (divergences, R-hat, ESS), each with what to try; empty if none."""
        return diagnose(self.idata, self.parameter_names)

    def summary(self, prob: float = 0.95) -> pd.DataFrame:
        """Fixed effects and variance parameters in broom.mixed's ``tidy()`` layout.

        See :func:`lmm_bayes.summaries.tidy_summary` for the columns.
        """
        return tidy_summary(self.idata.posterior, self._groups, prob)

    def random_effects(self, group: str, prob: float = 0.95) -> pd.DataFrame:
        """Each level's random effects (posterior mean, SD, central interval), by real level
        label; the Bayesian counterpart of lme4's conditional modes."""
        self.model.design.group(group)
        return random_effects_table(self.idata.posterior, group, prob)

    # ------------------------------------------------------------------ summaries

    @property
    def _data(self) -> pd.DataFrame:
        """The rows of the data the model was fitted to, in the design's order."""
        return self.model.data.iloc[self.model.design.rows].reset_index(drop=True)

    def variance_components(self, prob: float = 0.95) -> pd.DataFrame:
        """SDs, correlations, variances and covariances of each factor's random effects and
        the residual SD and variance (see :func:`lmm_bayes.summaries.variance_components`)."""
        return summaries.variance_components(self.idata.posterior, self._groups, prob)

    def icc(self, group: str | None = None, at: Mapping[str, float] | None = None,
            prob: float = 0.95) -> pd.DataFrame:
        """Intraclass correlation of each grouping factor (or of ``group``).

        ICC_g(z) = (v_g(z) + Σ_{h ⊃ g} v_h(z)) / (Σ_k v_k(z) + σ²), with v_k(z) = z_kᵀ Σ_k z_k
        the variance that factor k adds at covariate values z (``at``; unnamed slope
        covariates at 0) and h the factors g is nested in. Random intercepts only:
        τ²_g / (Σ_k τ²_k + σ²). The ``at`` column states the covariate values used; see
        :func:`lmm_bayes.summaries.icc` for the nested and random-slope cases.
        """
        design = self.model.design
        if group is not None:
            design.group(group)
        nested = summaries.nesting({g.name: g.index for g in design.groups})
        return summaries.icc(self.idata.posterior, self._groups, at=at, nested_in=nested,
                             group=group, prob=prob)

    def shrinkage(self, group: str, term: str = "(Intercept)",
                  prob: float = 0.95) -> pd.DataFrame:
        """No-pooling, complete-pooling and partial-pooling estimates of ``term``'s
        coefficient in each level of ``group``, and the fraction shrunk
        (see :func:`lmm_bayes.summaries.shrinkage`)."""
        return summaries.shrinkage(self.idata.posterior, self.model.design, group, term, prob)

    def trajectories(self, group: str, time: str, grid=None, levels=None,
                     prob: float = 0.95) -> pd.DataFrame:
        """Each level's expected outcome over a grid of ``time`` values, and the population
        curve (see :func:`lmm_bayes.summaries.trajectories`)."""
        return summaries.trajectories(self.idata.posterior, self.model.design, self._data,
                                      group, time, grid=grid, levels=levels, prob=prob)

    def recenter(self, time: str, at: float, prob: float = 0.95) -> pd.DataFrame:
        """Variance components with ``time`` measured from ``at`` (the layout of
        :meth:`variance_components`); see :func:`lmm_bayes.summaries.recenter`."""
        return summaries.recenter(self.idata.posterior, self._groups, time, at, prob)

    # ------------------------------------------------------------------ plots

    def plot_shrinkage(self, group: str, term: str = "(Intercept)", prob: float = 0.95):
        """No-pooling estimates with arrows to the partial-pooling ones (matplotlib Figure)."""
        from .plots import plot_shrinkage

        return plot_shrinkage(self.shrinkage(group, term, prob), term=term, prob=prob)

    def plot_trajectories(self, group: str, time: str, levels=None, prob: float = 0.95):
        """A panel per level: data, individual trajectory with band, population curve."""
        from .plots import plot_trajectories

        table = self.trajectories(group, time, levels=levels, prob=prob)
        grp, response = self.model.design.group(group), self.model.spec.formula.response
        observed = pd.DataFrame({"level": np.asarray(grp.levels)[grp.index],
                                 time: self._data[time], response: self.model.design.y})
        return plot_trajectories(table, observed, group=group, time=time, response=response,
                                 prob=prob)

    def plot_icc(self, at: Mapping[str, float] | None = None, prob: float = 0.95):
        """Each factor's ICC with its interval (matplotlib Figure)."""
        from .plots import plot_icc

        return plot_icc(self.icc(at=at, prob=prob), prob=prob)

    def plot_random_effects(self, group: str, prob: float = 0.95):
        """Caterpillar plot of ``group``'s random effects (matplotlib Figure)."""
        from .plots import plot_random_effects

        return plot_random_effects(self.random_effects(group, prob), prob=prob)

    def plot_variance_components(self, prob: float = 0.95):
        """SDs and correlations with their intervals (matplotlib Figure)."""
        from .plots import plot_variance_components

        return plot_variance_components(self.variance_components(prob), prob=prob)


def public_names(design: Design, posterior) -> list[str]:
    """The documented posterior variables (``beta``, ``sigma``, ``sd_<g>``, ``corr_<g>``,
    ``b_<g>``) present in ``posterior``; the sampler's internal variables are not kept."""
    names = ["beta", "sigma"]
    for group in design.groups:
        names += [f"sd_{group.name}", f"corr_{group.name}", f"b_{group.name}"]
    return [n for n in names if n in posterior]


_MODEL_OPTIONS = {"family", "priors", "factors", "reference", "na_action", "parametrization",
                  "likelihood"}


def fit(formula: str, data: pd.DataFrame, **kwargs) -> Fit:
    """Build and fit in one call: ``lb.fit(formula, data, draws=..., priors=...)``.

    Keywords of :class:`LMM` go to the model, the rest to :meth:`LMM.fit`.
    """
    model_kw = {k: kwargs.pop(k) for k in list(kwargs) if k in _MODEL_OPTIONS}
    return LMM(formula, data, **model_kw).fit(**kwargs)
