"""The public entry points: :class:`LMM` (a model on data) and :class:`Fit` (its posterior).

Orchestration only: each step is done by its stage module (formula → design → priors →
builder → sampling → summaries).
"""

from __future__ import annotations

import inspect
import logging
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from . import display, engines, io, names, ppc, risk, summaries
from .design import Design, build_design
from .engines import Choice, Problem
from .errors import DesignError, LMMError, SamplingWarning, Setting, SingularFitWarning, SpecError
from .families import Family, get_family
from .posterior import select_levels
from .predict import Groups, Kind, predict_draws
from .preflight import check_identifiability
from .priors import PriorSet, build_priors
from .residuals import ResidualDesign, build_residual_design
from .sampling import SamplerConfig, default_target_accept, diagnose, warn_on_problems
from .spec import MODEL_OPTIONS, ModelSpec
from .summaries import random_effects_table, tidy_summary
from .summaries.draws import interval_columns

if TYPE_CHECKING:  # ArviZ is imported where a fit needs it (seconds at import)
    import arviz as az

__all__ = ["LMM", "Fit", "compare", "fit"]

#: what PSIS-LOO leaves out (:meth:`Fit.loo`)
LooUnit = Literal["level", "observation", "individual"]

logger = logging.getLogger("lmm_bayes")

MAX_SIGMA_LEVELS = 20


class LMM:
    """A Bayesian linear mixed model, specified by an lme4-style formula, on a data frame.

    Construction parses the formula, builds the design and the priors and validates them
    against the data; nothing is sampled until :meth:`fit`.

    Parameters
    ----------
    formula : str
        lme4 syntax, e.g. ``"Reaction ~ Days + (Days | Subject)"``; see the README's table.
    data : pandas.DataFrame
        Numeric columns are covariates; a datetime column counts the days since its
        earliest date, a timedelta column days (:mod:`lmm_bayes.variables`). A Dask
        DataFrame or a path or glob of Parquet files (``"visits/*.parquet"``, any fsspec
        URL) makes a :class:`~lmm_bayes.distributed.DistributedLMM` instead, fitted from
        per-level statistics computed on a Dask cluster (Gaussian, one grouping factor).
    family : {"gaussian", "student", "bernoulli", "binomial", "poisson", "negbinomial", \
              "cumulative"}
        The response distribution. A binomial response is written
        ``cbind(successes, failures) ~ ...`` (or is 0/1); ``"student"`` has Student-t
        residuals (``sigma`` and degrees of freedom ``nu``), robust to outliers; an ordinal
        response (``"cumulative"``) is a pandas ordered Categorical or whole numbers, and its
        cutpoints replace the intercept; see :mod:`lmm_bayes.families` and
        :mod:`lmm_bayes.response`.
    link : str, optional
        The link; default identity (gaussian, student), logit (bernoulli, binomial,
        cumulative), log (counts). ``"probit"`` or ``"cloglog"`` for the binary families,
        ``"probit"`` for the cumulative.
    priors : mapping, optional
        Prior overrides by key (``"Days"``, ``"sd_Subject__Days"``, ``"eta_Subject"``,
        ``"sigma"``...), see :mod:`lmm_bayes.priors`.
    factors : str or sequence of str
        Numeric columns to treat as categorical (grouping factors always are); one name is
        one column.
    reference : mapping, optional
        Reference level per categorical column.
    contrasts : mapping, optional
        Coding per categorical column, as lme4's ``contrasts`` argument: ``"poly"`` (or
        ``"contr.poly"``) codes it as an ordered factor by R's polynomial contrasts
        (columns ``dose.L``, ``dose.Q``...; levels in the order of a pandas Categorical's
        categories, else sorted); ``"treatment"`` is the default. R's default for an
        ordered factor, ``ordered(dose)`` in the formula, does the same.
    na_action : {"raise", "drop"}
        What to do with rows that have missing values in a used column.
    parametrization : {"auto", "centered", "non-centered"}
        Of the random effects; ``"auto"`` chooses per grouping factor from how strongly the
        data inform each level (see :func:`lmm_bayes.builder.level_information`).
    likelihood : {"auto", "conditional", "marginal"}
        ``"marginal"`` integrates the random effects out of the likelihood and draws them
        afterwards from their exact conditional: same posterior, far fewer sampled
        parameters. ``"auto"`` (default) does so for a Gaussian model with one grouping
        factor of at most two varying terms (:mod:`lmm_bayes.marginal`, NUTS on the fixed
        effects and variance parameters), and for one with random intercepts only on
        several crossed or nested factors, each of at least 20 levels, and normal
        fixed-effect priors (:mod:`lmm_bayes.collapsed`, the fixed effects integrated out
        too, sampled by ``sampler="imh"``; ``"marginal"`` collapses such a model with
        fewer levels too). ``"conditional"`` forces the plain model with the random
        effects sampled.
    residual : str, optional
        Correlation of the residuals within an individual, a structure of
        :mod:`lmm_bayes.structures`: ``"ar1(visit | subject)"`` (whole-number visits,
        φ ∈ (−1, 1)) or ``"car1(time | subject)"`` (continuous time, φ ∈ (0, 1));
        Corr = φ^|Δt|. Posterior variables: the structure's parameters (``phi``).
    sigma : str, optional
        A log-linear model of the residual SD, e.g. ``"~ arm"`` (a σ per arm, nlme's
        ``varIdent``) or ``"~ time"`` (``varExp``). Posterior variable ``sigma_beta``
        (dim ``sigma_fixed``) instead of ``sigma``.
    weights : str, optional
        The column of observation weights, lme4's ``weights = w``: positive numbers. For
        the Gaussian family precision weights, Var(ε_i) = σ²/w_i (``lmer``); for the
        others prior weights, each row's log-likelihood multiplied by w_i (``glmer``).
        Fitted by the graph engine; see :mod:`lmm_bayes.weights`.
    client : None, str or dask.distributed.Client
        For a distributed data set only: the cluster its passes run on (None: a local one
        of 2 single-threaded workers; a scheduler address; or a client).

    Examples
    --------
    >>> import lmm_bayes as lb
    >>> model = lb.LMM("Reaction ~ Days + (Days | Subject)", lb.load_dataset("sleepstudy"))
    >>> model.design.fixed_names
    ('(Intercept)', 'Days')
    """

    def __new__(cls, formula: str = "", data=None, **options):
        """A :class:`~lmm_bayes.distributed.DistributedLMM` when ``data`` is a Dask
        DataFrame or a path or glob of Parquet files (see :mod:`lmm_bayes.distributed`)."""
        from .distributed import is_source

        if cls is LMM and is_source(data):
            from .distributed import DistributedLMM

            return DistributedLMM(formula, data, **options)
        return super().__new__(cls)

    def __init__(self, formula: str, data: pd.DataFrame, *, family: str = "gaussian",
                 link: str | None = None, priors: Mapping[str, Any] | None = None,
                 factors=(), reference=None,
                 na_action: Literal["raise", "drop"] = "raise",
                 parametrization: Literal["auto", "centered", "non-centered"] = "auto",
                 likelihood: Literal["auto", "conditional", "marginal"] = "auto",
                 residual: str | None = None, sigma: str | None = None,
                 contrasts: Mapping[str, str] | None = None,
                 weights: str | None = None, client=None):
        if client is not None:
            raise DesignError("client= is for a distributed data set (a Dask DataFrame or "
                              "Parquet files); these data are a pandas DataFrame in memory")
        spec = ModelSpec.from_formula(formula, family=family, link=link, priors=priors,
                                      factors=factors, reference=reference,
                                      na_action=na_action, parametrization=parametrization,
                                      likelihood=likelihood, residual=residual, sigma=sigma,
                                      contrasts=contrasts, weights=weights)
        self._init(spec, data)

    @classmethod
    def from_spec(cls, spec: ModelSpec, data: pd.DataFrame, *,
                  priors: PriorSet | None = None) -> LMM:
        """A model from a :class:`~lmm_bayes.spec.ModelSpec` (e.g. read from a TOML file);
        ``priors`` replaces the priors built from the spec and data (e.g. the common priors
        of :func:`lmm_bayes.fit_many`'s standardised responses)."""
        if not isinstance(spec, ModelSpec):
            raise SpecError(f"LMM.from_spec takes a ModelSpec, not a {type(spec).__name__} "
                            "(lmm_bayes.models.model_from_spec builds the model of either)")
        model = cls.__new__(cls)
        model._init(spec, data, priors)
        return model

    def _init(self, spec: ModelSpec, data: pd.DataFrame,
              priors: PriorSet | None = None) -> None:
        if not isinstance(data, pd.DataFrame):
            raise DesignError(f"data must be a pandas DataFrame, not {type(data).__name__}")
        if data.empty:
            raise DesignError("the data have no rows")
        self.spec = spec
        self.data = data
        self.design: Design = build_design(
            spec.formula, data, factors=spec.factors, reference=spec.reference,
            na_action=spec.na_action, also_used=spec.residual_columns,
            family=spec.family, contrasts=spec.contrasts, weights=spec.weights)
        check_identifiability(self.design)
        self.residuals: ResidualDesign | None = build_residual_design(
            data, self.design.rows, residual=spec.residual, sigma=spec.sigma,
            factors=spec.factors, reference=spec.reference)
        self.priors: PriorSet = priors or build_priors(self.design, spec.priors, self.residuals,
                                                       family=spec.family, link=spec.link)
        self.problem = Problem(self.design, self.priors, spec.family, spec.link,
                               spec.parametrization, spec.likelihood, self.residuals)
        self._targets: dict[str, object] = {}
        if spec.likelihood == "marginal" and self.likelihood != "marginal":
            raise DesignError(Setting("likelihood", "marginal"),
                              " needs a Gaussian model whose effects integrate out: normal "
                              "priors on the fixed effects, a residual correlation structure "
                              "only with one grouping factor, a sigma formula only with one "
                              "grouping factor or few distinct rows; set ",
                              Setting("likelihood", "conditional"))

    @property
    def family(self) -> Family:
        """The response family with its link (numpy side: inverse link, log-density,
        draws; :mod:`lmm_bayes.families`)."""
        return get_family(self.spec.family, self.spec.link)

    def fingerprints(self) -> dict[str, str]:
        """Digests of the design and the priors, which a saved fit's rebuilt model must
        reproduce (:func:`lmm_bayes.io.fingerprints`)."""
        return io.fingerprints({"": self.design}, self.priors.table())

    def __repr__(self) -> str:
        groups = ", ".join(f"{g.name} ({g.n_levels} levels)" for g in self.design.groups)
        return (f"LMM({self.spec.formula.text!r}, family={self.spec.family!r}, "
                f"n={self.design.n_obs}, groups: {groups or 'none'})")

    def engine(self, engine: str = "auto", sampler: str = "auto") -> Choice:
        """The engine and sampler :meth:`fit` runs with these options, and why
        (:func:`lmm_bayes.engines.choose`)."""
        return engines.choose(self.problem, engine, sampler)

    @property
    def likelihood(self) -> str:
        """``"marginal"`` when the engine :meth:`fit` takes by default integrates the random
        effects out of the likelihood, else ``"conditional"``."""
        return self.engine().likelihood

    def target(self, engine: str):
        """What ``engine`` samples for this model (a PyMC model, a compiled density, a
        collapsed model), built once."""
        if engine not in self._targets:
            self._targets[engine] = engines.ENGINES[engine].build(self.problem)
        return self._targets[engine]

    @property
    def pymc_model(self):
        """The PyMC model (the graph engine's target; built once, on first use)."""
        return self.target("graph")

    @cached_property
    def _generative_model(self):
        """The model with the random effects sampled, for prior predictive draws of y."""
        graph = engines.ENGINES["graph"]
        if graph.likelihood(self.problem) == "conditional":
            return self.pymc_model
        return graph.build(replace(self.problem, likelihood="conditional"))

    def fit(self, draws: int = 1000, tune: int = 1000, chains: int = 4, *,
            random_seed: int | None = None,
            sampler: Literal["auto", "nutpie", "pymc", "numpyro", "imh"] = "auto",
            engine: Literal["auto", "graph", "marginal", "collapsed", "blocked", "glmm"] = "auto",
            target_accept: float | None = None, cores: int | None = None,
            progressbar: bool = False) -> Fit:
        """Sample the posterior and check the diagnostics.

        ``engine="auto"`` (default) takes the first engine that fits the model and suits it
        (:func:`lmm_bayes.engines.choose`; :meth:`engine` says which and why): the
        collapsed engine (random intercepts only on several crossed or nested grouping
        factors, see ``likelihood``; independence Metropolis–Hastings, ``"imh"``,
        :mod:`lmm_bayes.imh`: ``tune`` and ``target_accept`` are not used), the marginal
        engine (one grouping factor; NUTS by nutpie, or numpyro, on a compiled density),
        the blocked engine (every other Gaussian model whose effects integrate out), the
        GLMM engine (Bernoulli, binomial, Poisson and negative binomial; the effects of one
        grouping factor integrated out by adaptive quadrature, the full model of several
        compiled) or the graph engine (the PyMC model; NUTS by nutpie, PyMC or numpyro). A named
        ``sampler`` takes the first engine that has it; a named ``engine`` is used if it
        can fit the model.

        Warns with :class:`~lmm_bayes.SamplingWarning` on divergences, R-hat > 1.01 or bulk/tail
        ESS < 400 of the fixed effects and variance parameters, saying what to try, and with
        :class:`~lmm_bayes.SingularFitWarning` when a random-effect SD's posterior piles up at
        zero (:func:`lmm_bayes.summaries.singular_components`); the fit is returned either way.
        The same ``random_seed`` gives the same draws. ``target_accept=None`` takes 0.95 when
        a grouping factor has fewer than 20 levels and 0.8 otherwise
        (:func:`lmm_bayes.sampling.default_target_accept`). The settings are checked by
        :class:`~lmm_bayes.sampling.SamplerConfig` before anything is compiled
        (:class:`~lmm_bayes.SamplingError` naming the setting).
        """
        config = SamplerConfig(draws=draws, tune=tune, chains=chains, random_seed=random_seed,
                               sampler=sampler, target_accept=target_accept, cores=cores,
                               progressbar=progressbar)
        return self.fit_with(config, engine=engine)

    def fit_with(self, config: SamplerConfig, *, engine: str = "auto",
                 target=None) -> Fit:
        """Sample with ``config`` on the engine that :meth:`engine` chooses for ``engine``
        and ``config.sampler``, and return the fit. ``target``: that engine's target built
        for another response on the same design (a compiled PyMC model, reused: its
        response inputs are replaced by this model's; :meth:`Engine.response_data`)."""
        choice = self.engine(engine, config.sampler)
        config = replace(config, sampler=choice.sampler)
        if config.target_accept is None:
            levels = [g.n_levels for g in self.design.groups]
            config = replace(config, target_accept=default_target_accept(levels))
        own = target is None
        idata = engines.sample(choice, self.target(choice.engine) if own else target,
                               self.problem, config, reuse=not own)
        result = Fit(self, idata, config)
        warn_on_problems(result.diagnostics())
        for message in summaries.singular_components(idata.posterior, result._groups):
            warnings.warn(message, SingularFitWarning, stacklevel=2)
        return result

    def prior_predictive(self, draws: int = 500, *, random_seed: int | None = None
                         ) -> az.InferenceData:
        """Draws from the prior and the prior predictive distribution.

        Returns
        -------
        arviz.InferenceData
            ``prior`` with the posterior's variables (:mod:`lmm_bayes.names`: ``beta`` with
            the intercept on the data's scale, ``sigma``, ``sd_<g>``, ``corr_<g>``,
            ``b_<g>``...), not the sampler's internal ones; ``prior_predictive`` and
            ``observed_data`` with the response as ``y`` (dim ``obs``), the name it has in
            ``posterior_predictive`` and ``log_likelihood`` too, so that ArviZ pairs them
            (``az.plot_ppc(prior, group="prior")``).
        """
        import pymc as pm

        with self._generative_model, warnings.catch_warnings():
            # the one potential, of prior weights (builder), reweighs the likelihood only:
            # y's prior predictive draws are the family's, as they should be
            warnings.filterwarnings("ignore", message="The effect of Potentials on other "
                                                      "parameters is ignored")
            prior = pm.sample_prior_predictive(draws=draws, random_seed=random_seed)
        groups = [g.name for g in self.design.groups]
        prior.prior = prior.prior[names.public(groups, prior.prior.data_vars)]
        if self.design.categories is not None:  # PyMC counts categories from 0, y from 1
            for group in (prior.prior_predictive, prior.observed_data):
                group[names.observed()] = group[names.observed()] + 1
        return prior


# LMM's signature is its __init__'s: __new__ only hands distributed data on
_INIT = inspect.signature(LMM.__init__)
LMM.__signature__ = _INIT.replace(parameters=list(_INIT.parameters.values())[1:])


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

    def __str__(self) -> str:
        """The model, engine, fixed effects, variance components and ICC as aligned tables,
        numbers rounded for reading (:mod:`lmm_bayes.display`); what ``lmm-bayes fit``
        prints. The tables with full precision: :meth:`summary`, :meth:`icc`..."""
        return display.summary_text(self._header(), display.fit_tables(self))

    def _repr_html_(self) -> str:
        """:meth:`__str__` as HTML tables, for notebooks."""
        return display.summary_html(self._header(), display.fit_tables(self))

    def _header(self) -> list[str]:
        """Lines naming the model, its data, the draws and the engine (brms's layout)."""
        design, sizes = self.model.design, self.idata.posterior.sizes
        groups = "".join(f"; {g.name}: {g.n_levels} levels" for g in design.groups)
        weights = self.model.spec.weights
        weighted = f", weighted by {weights}" if weights else ""
        draws = f"{sizes['chain']} chains × {sizes['draw']} draws, sampler {self.config.sampler}"
        censored = ([f" Censoring: {design.censoring.describe()}"]
                    if design.censoring is not None else [])
        return [f"Formula: {self.model.spec.formula.text}",
                f" Family: {self.family.name} ({self.family.link} link)",
                f"   Data: {design.n_obs} observations{weighted}{groups}", *censored,
                f"  Draws: {draws}",
                f" Engine: {self.engine[1]}"]  # the reason names the engine

    @property
    def _groups(self) -> dict[str, tuple[str, ...]]:
        return {g.name: g.terms for g in self.model.design.groups}

    @property
    def parameter_names(self) -> list[str]:
        """Posterior variables of the fixed effects and variance parameters."""
        groups = [g.name for g in self.model.design.groups]
        random = {names.effects(g) for g in groups}
        return [n for n in names.public(groups, self.idata.posterior.data_vars)
                if n not in random]

    @property
    def engine(self) -> tuple[str, str]:
        """The engine that produced the draws and why it was chosen
        (:func:`lmm_bayes.engines.choose`)."""
        attrs = self.idata.sample_stats.attrs
        return attrs.get("engine", "unknown"), attrs.get("engine_reason", "not recorded")

    @property
    def sampling_time(self) -> float | None:
        """Wall time of sampling in seconds (:data:`lmm_bayes.engines.SAMPLING_TIME`); None
        for draws that did not record it (e.g. a fit saved before it was recorded)."""
        seconds = self.idata.sample_stats.attrs.get(engines.SAMPLING_TIME)
        return None if seconds is None else float(seconds)

    def diagnostics(self) -> list[str]:
        """Sampling problems (divergences, R-hat, ESS, and the engine's own, e.g. the
        independence sampler's Pareto k̂), each with what to try; empty if none."""
        return diagnose(self.idata, self.parameter_names) + engines.diagnostics(self.idata)

    def summary(self, prob: float = 0.95) -> pd.DataFrame:
        """Fixed effects and variance parameters in broom.mixed's ``tidy()`` layout.

        See :func:`lmm_bayes.summaries.tidy_summary` for the columns.
        """
        return tidy_summary(self.idata.posterior, self._groups, prob)

    def random_effects(self, group: str | None = None, prob: float = 0.95) -> pd.DataFrame:
        """Each level's random effects (posterior mean, SD, central interval), by real level
        label; the Bayesian counterpart of lme4's conditional modes. ``group`` may be left
        out when the model has one grouping factor."""
        return random_effects_table(self.idata.posterior, self._group_name(group), prob)

    def _group_name(self, group: str | None) -> str:
        """``group``, checked; or the model's only grouping factor when it is None."""
        design = self.model.design
        if group is not None:
            return design.group(group).name
        if len(design.groups) != 1:
            raise DesignError(f"name the grouping factor: the model has "
                              f"{[g.name for g in design.groups]}")
        return design.groups[0].name

    def _by_group(self, table, group: str | None, prob: float):
        """``table(posterior, group, prob)`` for ``group``, or a dict of it by factor."""
        if group is not None:
            return table(self.idata.posterior, self._group_name(group), prob)
        return {g.name: table(self.idata.posterior, g.name, prob)
                for g in self.model.design.groups}

    def fixef(self, prob: float = 0.95) -> pd.DataFrame:
        """The fixed effects (lme4's ``fixef()``): ``estimate`` (posterior mean),
        ``std_error`` (posterior SD), ``conf_low`` and ``conf_high`` (central ``prob``
        interval), indexed by term; the numbers of :meth:`summary`'s fixed rows."""
        return summaries.fixed_effects_table(self.idata.posterior, prob)

    def ranef(self, group: str | None = None,
              prob: float = 0.95) -> pd.DataFrame | dict[str, pd.DataFrame]:
        """The random effects (lme4's ``ranef()``): a dict of :meth:`random_effects`'s table
        by grouping factor, or with ``group`` that factor's table."""
        return self._by_group(random_effects_table, group, prob)

    def effects(self, levels, random_seed: int | None = None,
                group: str | None = None) -> xr.DataArray:
        """The posterior draws of the random effects of the chosen ``levels`` of ``group``
        (the only grouping factor when None): ``b_<g>`` with dims (chain, draw,
        ``<g>__level``, ``<g>__term``), levels in the order given.

        The draws are the posterior's own; ``random_seed`` is for a fit that draws them on
        demand (:class:`lmm_bayes.distributed.DistributedFit`) and is not used here.
        :class:`DesignError` names a label that is not a level of the factor."""
        name = self._group_name(group)
        return select_levels(self.idata.posterior[names.effects(name)], name, levels)

    def coef(self, group: str | None = None,
             prob: float = 0.95) -> pd.DataFrame | dict[str, pd.DataFrame]:
        """Each level's coefficients (lme4's ``coef()``): fixed effect plus the level's
        random effect for each term that varies by the factor, summed per draw, so the
        interval is the sum's (:func:`lmm_bayes.summaries.coefficients_table`). A dict by
        grouping factor, or with ``group`` that factor's table (the layout of
        :meth:`random_effects`). Terms that do not vary are in :meth:`fixef`; with nested
        factors each adds only its own effects, as in lme4. On the link scale."""
        return self._by_group(summaries.coefficients_table, group, prob)

    def save(self, path) -> Path:
        """Write the fit (spec, data, sampler settings, posterior) to one netCDF file;
        :func:`lmm_bayes.load` reads it back without sampling (see :mod:`lmm_bayes.io`)."""
        model = self.model
        saved = io.SavedFit(model.spec, model.data, self.config, self.idata, model.fingerprints())
        levels = dict(model.design.schema.levels)
        if model.residuals is not None and model.residuals.sigma is not None:
            # a sigma formula's own factors (arm), reference first, as its design coded them
            levels = {**model.residuals.sigma.schema.levels, **levels}
        return io.save(saved, path, levels)

    # ------------------------------------------------------------------ summaries

    @property
    def _data(self) -> pd.DataFrame:
        """The rows of the data the model was fitted to, in the design's order."""
        return self._fitted_rows().reset_index(drop=True)

    def variance_components(self, prob: float = 0.95) -> pd.DataFrame:
        """SDs, correlations, variances and covariances of each factor's random effects and
        the residual SD and variance (see :func:`lmm_bayes.summaries.variance_components`).

        With a sigma formula the residual SD and variance are given on the natural scale
        for each combination of the sigma variables in the data (``sd__Observation[arm=B]``),
        when there are at most 20 of them (a factor, or a covariate with few values)."""
        return summaries.variance_components(self.idata.posterior, self._groups, prob,
                                             self._sigma_levels())

    def _sigma_levels(self) -> dict[str, np.ndarray] | None:
        """Label → log-σ design row of each distinct combination of the sigma variables."""
        sigma = self.model.residuals.sigma if self.model.residuals else None
        if sigma is None:
            return None
        labels, first = np.unique(sigma.row_labels.astype(str), return_index=True)
        if len(labels) > MAX_SIGMA_LEVELS:
            logger.info("residual SDs not tabulated: the sigma formula takes %d values",
                        len(labels))
            return None
        return {labels[k]: sigma.X[first[k]] for k in np.argsort(first)}

    def variance_contrast(self, term: str, first: str, second: str,
                          kind: Literal["ratio", "difference"] = "ratio",
                          prob: float = 0.95) -> pd.DataFrame:
        """Posterior of ``first``'s variance component ``term`` over (or minus) ``second``'s,
        e.g. ``fit.variance_contrast("sd__time", "subject:armB", "subject:armA")`` for a
        model with ``(1 + time | gr(subject, by = arm))``: does the therapy change how
        heterogeneous progression is? See :func:`lmm_bayes.summaries.variance_contrast`."""
        for group in (first, second):
            self.model.design.group(group)
        return summaries.variance_contrast(self.idata.posterior, self._groups, term, first,
                                           second, kind, prob)

    def _check_whole_factors(self, what: str) -> None:
        """``what`` is defined for grouping factors that cover every row."""
        if any(g.member is not None for g in self.model.design.groups):
            raise DesignError(f"{what} is not available for gr(g, by = ...) factors; "
                              "see variance_components and variance_contrast")

    def icc(self, group: str | None = None, at: Mapping[str, float] | None = None,
            prob: float = 0.95) -> pd.DataFrame:
        """Intraclass correlation of each grouping factor (or of ``group``).

        ICC_g(z) = (v_g(z) + Σ_{h ⊃ g} v_h(z)) / (Σ_k v_k(z) + σ²), with v_k(z) = z_kᵀ Σ_k z_k
        the variance that factor k adds at covariate values z (``at``; unnamed slope
        covariates at 0) and h the factors g is nested in. Random intercepts only:
        τ²_g / (Σ_k τ²_k + σ²). The ``at`` column states the covariate values used; see
        :func:`lmm_bayes.summaries.icc` for the nested and random-slope cases. For the
        other families σ² is the latent-scale variance: π²/3 (logit), 1 (probit), π²/6
        (cloglog), the log-normal approximation for counts
        (:func:`lmm_bayes.summaries.latent_residual_variance`); for Student-t residuals
        their variance σ² ν/(ν − 2), infinite (ICC 0) for draws with ν ≤ 2.
        """
        design = self.model.design
        self._check_whole_factors("icc")
        if names.SIGMA_BETA in self.idata.posterior:
            raise DesignError("icc needs one residual SD; the model has a sigma formula "
                              "(see variance_components for the SD per level)")
        if group is not None:
            design.group(group)
        nested = summaries.nesting({g.name: g.index for g in design.groups})
        post = self.idata.posterior
        fixed_mean = np.einsum("p,cdp->cd", design.X.mean(axis=0),
                               post[names.BETA].transpose("chain", "draw", names.FIXED).values)
        if design.offset is not None:  # the mean η at which the latent scale is taken
            fixed_mean = fixed_mean + design.offset.mean()
        residual = summaries.latent_residual_variance(self.family, post, fixed_mean)
        return summaries.icc(post, self._groups, at=at, nested_in=nested, group=group,
                             prob=prob, residual=residual)

    def _require_gaussian(self, what: str) -> None:
        """Raise for summaries whose least-squares or identity-scale formulas only hold for
        the Gaussian family."""
        if self.model.spec.family != "gaussian":
            raise DesignError(f"{what} is computed for Gaussian models only; this model's "
                              f"family is {self.model.spec.family!r}")

    @property
    def family(self) -> Family:
        """The response family with its link (:mod:`lmm_bayes.families`)."""
        return self.model.family

    def marginal_effects(self, prob: float = 0.95, *, samples: int = 1000,
                         random_seed: int | None = 0) -> pd.DataFrame:
        """Subject-specific (β) and population-averaged fixed effects, rows by term.

        The population-averaged coefficients describe how the mean over the population of
        levels changes with the covariates; they come from integrating the random effects
        out of each row's mean by Monte Carlo (``samples`` draws per posterior draw) and
        regressing the link of those means on X (Hedeker et al. 2018). With the logit link
        the table also has odds ratios both ways (``odds_ratio`` columns; ``rate_ratio`` for
        the log link). See :func:`lmm_bayes.summaries.marginal_effects`.
        """
        design = self.model.design
        if design.categories is not None:
            raise DesignError("marginal_effects regresses the link of the population means "
                              "on X, which an ordinal model's categories do not have; see "
                              "category_probabilities(groups='population')")
        Z = {g.name: g.Z for g in design.groups}
        return summaries.marginal_effects(self.idata.posterior, design.X, Z, self.family,
                                          offset=design.offset, prob=prob, samples=samples,
                                          random_seed=random_seed)

    def adjusted_means(self, over: str, by: str | None = None,
                       prob: float = 0.95) -> pd.DataFrame:
        """The adjusted (estimated marginal) mean of each level of ``over`` within each
        level of ``by``, e.g. ``fit.adjusted_means("arm", by="visit")``: other factors
        averaged over their levels with equal weights, numeric covariates at their mean
        (emmeans's reference grid; :func:`lmm_bayes.summaries.adjusted_means`)."""
        return summaries.adjusted_means(self.idata.posterior, self.model.design,
                                        self._fitted_rows(), over, by, prob)

    def mean_contrasts(self, over: str, by: str | None = None, reference: str | None = None,
                       prob: float = 0.95) -> pd.DataFrame:
        """Each level of ``over`` less ``reference`` (default: the first level) within each
        level of ``by``, with ``prob_above`` = P(difference > 0): e.g. the treatment
        difference at each visit of a trial (:func:`lmm_bayes.summaries.mean_contrasts`)."""
        return summaries.mean_contrasts(self.idata.posterior, self.model.design,
                                        self._fitted_rows(), over, by, reference, prob)

    def shrinkage(self, group: str, term: str = "(Intercept)",
                  prob: float = 0.95) -> pd.DataFrame:
        """No-pooling, complete-pooling and partial-pooling estimates of ``term``'s
        coefficient in each level of ``group``, and the fraction shrunk
        (see :func:`lmm_bayes.summaries.shrinkage`). Gaussian models only."""
        self._require_gaussian("shrinkage")
        self._check_whole_factors("shrinkage")
        if self.model.design.censoring is not None:
            raise DesignError("shrinkage is not available for a censored response: its "
                              "no-pooling estimates are least squares on y, which would take "
                              "the censored rows' bounds for values")
        return summaries.shrinkage(self.idata.posterior, self.model.design, group, term, prob)

    def trajectories(self, group: str, time: str, grid=None, levels=None,
                     prob: float = 0.95) -> pd.DataFrame:
        """Each level's expected outcome over a grid of ``time`` values, and the population
        curve (see :func:`lmm_bayes.summaries.trajectories`). Gaussian models only."""
        self._require_gaussian("trajectories")
        self._check_whole_factors("trajectories")
        return summaries.trajectories(self.idata.posterior, self.model.design, self._data,
                                      group, time, grid=grid, levels=levels, prob=prob)

    def recenter(self, time: str, at: float, prob: float = 0.95) -> pd.DataFrame:
        """Variance components with ``time`` measured from ``at`` (the layout of
        :meth:`variance_components`); see :func:`lmm_bayes.summaries.recenter`."""
        return summaries.recenter(self.idata.posterior, self._groups, time, at, prob)

    # ------------------------------------------------------------------ prediction

    def _fitted_rows(self) -> pd.DataFrame:
        """The rows of the data the model was fitted to, in the design's order, with their
        index in the data."""
        return self.model.data.iloc[self.model.design.rows]

    def predict_draws(self, data: pd.DataFrame | None = None, *, kind: Kind = "mean",
                      groups: Groups = "new", history: pd.DataFrame | None = None,
                      random_seed: int | None = None) -> xr.DataArray:
        """Posterior draws of the prediction for each row of ``data`` (dims chain, draw, obs);
        ``data=None``: the fitted rows.

        See :meth:`predict` for the options and :mod:`lmm_bayes.predict` for the formulas.
        """
        data = self._fitted_rows() if data is None else data
        return predict_draws(self.idata.posterior, self.model.design, self.model.family, data,
                             kind=kind, groups=groups, history=history, random_seed=random_seed,
                             residuals=self.model.residuals, weights=self.model.spec.weights)

    def predict(self, data: pd.DataFrame | None = None, *, kind: Kind = "mean",
                groups: Groups = "new", history: pd.DataFrame | None = None,
                random_seed: int | None = None, prob: float = 0.95, path=None
                ) -> pd.DataFrame:
        """Predictions for the rows of ``data``: ``estimate`` (posterior mean), ``std_error``,
        ``conf_low``, ``conf_high``, with the index of ``data``.

        ``data`` may also be a Dask DataFrame or a path of Parquet files: the rows are then
        predicted partition by partition, with these columns added, as a Dask DataFrame or,
        with ``path=``, written as Parquet to that directory
        (:func:`lmm_bayes.distributed.rows.predict`, whose random draws are keyed by level
        and row so that they do not depend on the partitioning).

        Only the estimates, as brms's ``fitted()`` and statsmodels' ``get_prediction``
        give them: join them to the rows with ``data.join(fit.predict(data))`` (the command
        line's ``predict`` writes that).

        Parameters
        ----------
        data : pandas.DataFrame, optional
            The predictor columns and, unless ``groups="population"``, the grouping columns;
            at least one row. Each numeric variable must have the type it had in the
            fitting data (numbers, dates, durations): text is a DesignError naming the
            column and row, never recoded. None (default): the rows the model was fitted
            to (without those dropped for missing values), with their index in
            ``fit.model.data``.
        kind : {"mean", "response"}
            The expected outcome, or a new measurement (adds the residual noise: a
            predictive interval). For an ordinal model: the expected category score
            E[y] = Σ_k k P(y = k), categories scored 1, …, K in their order, or draws of
            a category's score (``fit.model.design.categories[score - 1]`` is its label);
            :meth:`category_probabilities` gives each category's probability. With a
            censored response (``y | cens(...)``) both are of the latent, uncensored value.
            With Gaussian precision weights a new measurement's residual SD is σ/√w where
            ``data`` has the weights column, else σ.
        groups : {"new", "conditional", "population"}
            Random effects of each row's level: ``"conditional"`` uses known levels' posterior
            effects and refuses unseen levels; ``"new"`` (default) does the same for known
            levels and draws unseen levels' effects from the estimated covariance, per draw;
            ``"population"`` sets them all to zero; ``"marginal"`` averages the mean over
            the random-effect distribution (population-averaged, for GLMMs).
        history : pandas.DataFrame, optional
            Observed rows (with the response) of new individuals: their predictions condition
            on them without refitting (exactly, for a Gaussian model). Each individual in
            it must have a row in ``data``.
        random_seed : int, optional
        prob : float
            Mass of the central interval.
        path : str or Path, optional
            With partitioned ``data``: the directory to write the rows with their
            predictions to, one Parquet file per partition.
        """
        if self._partitioned(data, path, history):
            from .distributed import rows

            return rows.predict(self, data, kind=kind, groups=groups,
                                random_seed=random_seed, prob=prob, path=path)
        data = self._fitted_rows() if data is None else data
        draws = self.predict_draws(data, kind=kind, groups=groups, history=history,
                                   random_seed=random_seed)
        return pd.DataFrame(interval_columns(draws.values, prob), index=data.index)

    @staticmethod
    def _partitioned(data, path, history) -> bool:
        """Whether ``data`` are rows by partition (a Dask DataFrame or Parquet path), which
        take ``path=`` and no ``history=``; DesignError for a mismatch."""
        from .distributed import is_source

        partitioned = is_source(data)
        if not partitioned and path is not None:
            raise DesignError("path= writes results partition by partition: give the rows as "
                              "a Dask DataFrame or a path of Parquet files")
        if partitioned and history is not None:
            raise DesignError("history= is not available for rows by partition; predict "
                              "the new individuals' rows from a pandas DataFrame")
        return partitioned

    def fitted(self, data=None, *, prob: float = 0.95, path=None):
        """Fitted values of the training rows: each row's expected outcome with its
        levels' effects, as :meth:`predict` with no data gives them. ``data`` (the training
        data as a Dask DataFrame or Parquet path) or ``path=`` computes them partition by
        partition (:func:`lmm_bayes.distributed.rows.fitted`)."""
        if data is None and path is None:
            return self.predict(groups="conditional", prob=prob)
        from .distributed import rows

        return rows.fitted(self, data, prob=prob, path=path)

    def residuals(self, data=None, *, prob: float = 0.95, path=None):
        """Residuals of the training rows: the posterior of y_i − E[y_i | θ, b] summarised
        as :meth:`predict` summarises (brms's ``residuals(type = "ordinary")``). ``data``
        and ``path=`` as :meth:`fitted`."""
        if data is None and path is None:
            rows = self._fitted_rows()
            draws = self.model.design.y - self.predict_draws(rows, groups="conditional").values
            return pd.DataFrame(interval_columns(draws, prob), index=rows.index)
        from .distributed import rows

        return rows.residuals(self, data, prob=prob, path=path)

    def category_probabilities(self, data: pd.DataFrame | None = None, *,
                               groups: Groups = "new", random_seed: int | None = None,
                               prob: float = 0.95) -> pd.DataFrame:
        """An ordinal model's probability of each category for each row of ``data``
        (``None``: the fitted rows): one row per data row and category, in the categories'
        order, with ``row`` (the index of ``data``), ``category`` (its label),
        ``estimate`` (posterior mean of P(y = k)), ``std_error``, ``conf_low`` and
        ``conf_high``. ``groups`` as in :meth:`predict` (not ``"marginal"``); see
        :func:`lmm_bayes.predict.category_probability_draws`."""
        from .predict import category_probability_draws

        data = self._fitted_rows() if data is None else data
        draws = category_probability_draws(self.idata.posterior, self.model.design,
                                           self.family, data, groups=groups,
                                           random_seed=random_seed)
        stats = interval_columns(draws.values, prob)
        categories = list(draws["category"].values)
        return pd.DataFrame({"row": np.repeat(data.index.to_numpy(), len(categories)),
                             "category": np.tile(categories, len(data)),
                             **{k: v.ravel() for k, v in stats.items()}})

    def exceedance(self, data: pd.DataFrame, threshold: float, *,
                   direction: risk.Direction = ">", kind: Kind = "response",
                   groups: Groups = "new", history: pd.DataFrame | None = None,
                   random_seed: int | None = None, path=None) -> pd.DataFrame:
        """P(outcome ⋈ threshold) for each row of ``data``, e.g. P(HbA1c > 7% at the next
        visit): a DataFrame with ``probability`` (see :func:`lmm_bayes.risk.exceedance`).
        ``threshold`` must be a finite number (DesignError otherwise). Partitioned
        ``data`` and ``path=`` as in :meth:`predict`
        (:func:`lmm_bayes.distributed.rows.exceedance`)."""
        if self._partitioned(data, path, history):
            from .distributed import rows

            return rows.exceedance(self, data, threshold, direction=direction, kind=kind,
                                   groups=groups, random_seed=random_seed, path=path)
        draws = self.predict_draws(data, kind=kind, groups=groups, history=history,
                                   random_seed=random_seed)
        flat = draws.values.reshape(-1, draws.sizes[names.OBS])
        return pd.DataFrame({"probability": risk.exceedance(flat, threshold, direction)},
                            index=data.index)

    def risk_tiers(self, data: pd.DataFrame, threshold: float, *, cuts=(0.1, 0.3),
                   labels=("low", "medium", "high"), **options) -> pd.DataFrame:
        """:meth:`exceedance` with a ``tier`` column: ``labels[k]`` for
        ``cuts[k-1] ≤ probability < cuts[k]`` (e.g. for monitoring schedules). ``options``
        go to :meth:`exceedance`."""
        table = self.exceedance(data, threshold, **options)
        table["tier"] = risk.risk_tiers(table["probability"].to_numpy(), cuts, labels)
        return table

    def event_risk(self, data: pd.DataFrame, risk_model: risk.LogisticRisk, *,
                   kind: Kind = "mean", groups: Groups = "new",
                   history: pd.DataFrame | None = None, random_seed: int | None = None,
                   prob: float = 0.95) -> pd.DataFrame:
        """Each row's event risk from a logistic model on the predicted outcome (e.g. predicted
        systolic pressure at one year → cardiovascular risk), its posterior mean and interval:
        the predicted value's draws are pushed through ``risk_model``
        (:class:`lmm_bayes.risk.LogisticRisk`), with its coefficient uncertainty if it has a
        covariance."""
        draws = self.predict_draws(data, kind=kind, groups=groups, history=history,
                                   random_seed=random_seed)
        flat = draws.values.reshape(-1, draws.sizes[names.OBS])
        table = risk_model.summary(flat, data, prob, np.random.default_rng(random_seed))
        return table.set_index(data.index)

    # ------------------------------------------------------------------ checks

    def ppc(self, random_seed: int | None = None) -> az.InferenceData:
        """Draw replicated data on the fitted rows, one set per posterior draw, into
        ``idata.posterior_predictive["y"]`` (and the data into ``observed_data``)."""
        y_rep = ppc.replicate(self.idata.posterior, self.model.design, self.model.family,
                              np.random.default_rng(random_seed), self.model.residuals)
        self._store("posterior_predictive", y_rep)
        return self.idata

    def _store(self, group: str, values: xr.DataArray) -> None:
        """Put ``values`` as ``y`` into an InferenceData group (and the observed y)."""
        observed = xr.DataArray(self.model.design.y, dims=names.OBS,
                                coords={names.OBS: values[names.OBS].values})
        for name, dataset in ((group, xr.Dataset({names.observed(): values})),
                              ("observed_data", xr.Dataset({names.observed(): observed}))):
            if name in self.idata.groups():
                delattr(self.idata, name)
            self.idata.add_groups({name: dataset})

    def _replicates(self) -> np.ndarray:
        if "posterior_predictive" not in self.idata.groups():
            self.ppc()
        y_rep = self.idata.posterior_predictive[names.observed()]
        return y_rep.values.reshape(-1, y_rep.sizes[names.OBS])

    def ppc_pvalues(self, stats=("mean", "sd", "min", "max"), group: str | None = None,
                    prob: float = 0.95) -> pd.DataFrame:
        """Posterior predictive p-values of test statistics (``mean``, ``sd``, ``min``,
        ``max``, ``within_sd`` with ``group``); see :func:`lmm_bayes.ppc.ppc_pvalues`.
        Runs :meth:`ppc` first if it has not been run."""
        index = self.model.design.group(group).index if group else None
        return ppc.ppc_pvalues(self.model.design.y, self._replicates(), stats, index, prob)

    def loo(self, by: LooUnit | None = None, *, refit: bool = True, **kwargs):
        """PSIS-LOO (``arviz.loo``; Vehtari, Gelman & Gabry 2017, *Statistics and
        Computing* 27), leaving out a level, an observation or an individual at a time.

        Parameters
        ----------
        by : {"level", "observation", "individual"}, optional
            ``"level"``: leave out each level of the grouping factor with all its rows,
            whose log-likelihood is the level's marginal over its random effects, exact in
            closed form (:func:`lmm_bayes.marginal.level_loglik`): how well the model
            predicts a new subject. ``"observation"``: leave out one row at a time, given
            the random effects (kept in ``idata.log_likelihood``): how well it predicts a
            new row of a known level; the few rows of a level inform its effects, so
            Pareto k̂ is often above 0.7. ``"individual"``: with a residual structure,
            whose rows of one individual are correlated, leave out each individual's rows
            together, given the random effects (:func:`lmm_bayes.ppc.individual_loglik`;
            for the MMRM, which has none, a new patient). Default: ``"level"`` where the
            model is Gaussian with one grouping factor and no residual structure or sigma
            formula, ``"individual"`` with a residual structure, ``"observation"`` for any
            other model.
        refit : bool
            With ``by="level"``: each level whose Pareto k̂ is too high for PSIS (a subject
            unlike the others) gets its exact elpd from a refit without its rows, with the
            same priors and sampler settings (:func:`lmm_bayes.ppc.with_exact_pointwise`).
        **kwargs
            Passed to ``arviz.loo`` (``pointwise``, ``scale``...).

        Raises
        ------
        DesignError
            ``by="level"`` for a model whose level likelihood has no closed form, naming
            why.
        """
        import arviz as az

        by = by or self._default_loo_unit
        if by not in ("level", "observation", "individual"):
            raise DesignError(f"by must be 'level', 'observation' or 'individual', not {by!r}")
        if by == "observation":
            return az.loo(self._observation_loglik(), **kwargs)
        if by == "individual":
            return az.loo(self._individual_loglik(), **kwargs)
        found = self._level_loo_obstacle
        if found is not None:
            raise DesignError(f"by='level' needs each level's likelihood in closed form: a "
                              f"Gaussian model with one grouping factor and no residual "
                              f"structure or sigma formula, not {found}; use "
                              f"by='observation'")
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Estimated shape parameter of Pareto")
            loo = az.loo(self._level_loglik(), **{**kwargs, "pointwise": True})
        if refit:
            loo = self._refit_levels(loo)
        if loo["warning"]:
            # ArviZ's wording, so that filters written for ArviZ's warning apply
            warnings.warn(f"Estimated shape parameter of Pareto distribution is greater than "
                          f"{loo['good_k']:.2f} for one or more levels: their PSIS estimates "
                          "are unreliable (refit=True computes them exactly)", UserWarning,
                          stacklevel=2)
        return loo

    def _refit_levels(self, loo):
        """``loo`` with the levels whose Pareto k̂ is too high refitted exactly."""
        from .ppc import with_exact_pointwise

        high = np.flatnonzero(loo["pareto_k"].values > loo["good_k"])
        exact = {int(k): self._exact_level_elpd(int(k)) for k in high}
        exact = {k: v for k, v in exact.items() if v is not None}
        return with_exact_pointwise(loo, list(exact), list(exact.values())) if exact else loo

    def _exact_level_elpd(self, level: int) -> float | None:
        """log p(y_ℓ | y_−ℓ) = log mean_s p(y_ℓ | θ_s) over the draws θ_s of the model
        refitted without level ℓ (full-data priors, this fit's sampler settings); None where
        the rest of the data cannot rebuild the model (e.g. a category only ℓ has)."""
        from scipy.special import logsumexp

        from .marginal import level_loglik

        design = self.model.design
        others = self._data[design.groups[0].index != level]
        try:
            model = LMM.from_spec(self.model.spec, others, priors=self.model.priors)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", SamplingWarning)   # judged by the ELPD
                refitted = model.fit_with(self.config)
        except LMMError:
            return None
        loglik = level_loglik(refitted.idata.posterior, design)[:, level]
        return float(logsumexp(loglik) - np.log(loglik.size))

    @property
    def _level_loo_obstacle(self) -> str | None:
        """Why the levels' likelihoods have no closed form here, or None."""
        from .marginal import level_obstacle  # numba: loaded when first needed

        return level_obstacle(self.model.design, self.model.spec.family,
                              self.model.residuals)

    @property
    def _default_loo_unit(self) -> LooUnit:
        if self.model.residuals is not None and self.model.residuals.serial is not None:
            return "individual"
        return "observation" if self._level_loo_obstacle else "level"

    def _individual_loglik(self) -> az.InferenceData:
        """Each individual's log-likelihood over the residual structure's individuals
        (:func:`lmm_bayes.ppc.individual_loglik`), computed afresh as :meth:`_level_loglik`
        is."""
        import arviz as az

        residuals = self.model.residuals
        if residuals is None or residuals.serial is None:
            raise DesignError("by='individual' is for a model with a residual structure "
                              "(residual='ar1(...)', 'us(...)'...); use by='observation' or "
                              "by='level'")
        data = ppc.individual_loglik(self.idata.posterior, self.model.design,
                                     self.model.family, residuals)
        return az.InferenceData(posterior=self.idata.posterior,
                                log_likelihood=xr.Dataset({names.observed(): data}))

    def _observation_loglik(self) -> az.InferenceData:
        """``idata`` with each row's log-likelihood given the random effects (computed once
        and kept in ``idata.log_likelihood``)."""
        if "log_likelihood" not in self.idata.groups():
            self._store("log_likelihood", ppc.pointwise_loglik(
                self.idata.posterior, self.model.design, self.model.family,
                self.model.residuals))
        return self.idata

    def _level_loglik(self) -> az.InferenceData:
        """Each level's marginal log-likelihood over its level dimension, computed afresh
        (cheap) rather than kept, so ``idata.log_likelihood`` keeps one array for ArviZ."""
        import arviz as az

        from .marginal import level_loglik

        post, group = self.idata.posterior, self.model.design.groups[0]
        loglik = level_loglik(post, self.model.design)
        dims = ("chain", "draw", names.level_dim(group.name))
        data = xr.DataArray(loglik.reshape(post.sizes["chain"], post.sizes["draw"], -1),
                            dims=dims, coords={dims[-1]: list(group.levels)})
        return az.InferenceData(posterior=post,
                                log_likelihood=xr.Dataset({names.observed(): data}))

    # ------------------------------------------------------------------ plots

    def plot_shrinkage(self, group: str, term: str = "(Intercept)", prob: float = 0.95):
        """No-pooling estimates with arrows to the partial-pooling ones (matplotlib Figure)."""
        from .plots import plot_shrinkage

        return plot_shrinkage(self.shrinkage(group, term, prob), term=term, prob=prob)

    def plot_trajectories(self, group: str, time: str, levels=None, prob: float = 0.95,
                          titles: Mapping[str, str] | None = None):
        """A panel per level: data, individual trajectory with band, population curve
        (panel titles from ``titles`` by level label, else "group level")."""
        from .plots import plot_trajectories

        table = self.trajectories(group, time, levels=levels, prob=prob)
        grp, response = self.model.design.group(group), self.model.spec.formula.response
        observed = pd.DataFrame({"level": np.asarray(grp.levels)[grp.index],
                                 time: self._data[time], response: self.model.design.y})
        return plot_trajectories(table, observed, group=group, time=time, response=response,
                                 prob=prob, titles=titles)

    def plot_icc(self, at: Mapping[str, float] | None = None, prob: float = 0.95):
        """Each factor's ICC with its interval (matplotlib Figure)."""
        from .plots import plot_icc

        return plot_icc(self.icc(at=at, prob=prob), prob=prob)

    def plot_random_effects(self, group: str | None = None, prob: float = 0.95):
        """Caterpillar plot of ``group``'s random effects (matplotlib Figure); ``group`` may be
        left out when the model has one grouping factor."""
        from .plots import plot_random_effects

        return plot_random_effects(self.random_effects(group, prob), prob=prob)

    def plot_ppc(self, stat: str | None = None, group: str | None = None,
                 n_replicates: int = 50):
        """Observed density over ``n_replicates`` replicated densities (``stat=None``), or the
        distribution of a test statistic over replicates with the observed value and its
        posterior predictive p-value (matplotlib Figure)."""
        from .plots import plot_ppc

        index = self.model.design.group(group).index if group else None
        return plot_ppc(self.model.design.y, self._replicates(), stat=stat, index=index,
                        n_replicates=n_replicates, response=self.model.spec.formula.response)

    def plot_variance_components(self, prob: float = 0.95):
        """SDs and correlations with their intervals (matplotlib Figure)."""
        from .plots import plot_variance_components

        return plot_variance_components(self.variance_components(prob), prob=prob)


def fit(formula: str, data: pd.DataFrame, **kwargs) -> Fit:
    """Build and fit in one call: ``lb.fit(formula, data, draws=..., priors=...)``.

    Keywords of :class:`LMM` go to the model (``client`` too, for a distributed data set:
    :mod:`lmm_bayes.distributed`), the rest to :meth:`LMM.fit`.
    """
    model_kw = {k: kwargs.pop(k) for k in list(kwargs) if k in (*MODEL_OPTIONS, "client")}
    return LMM(formula, data, **model_kw).fit(**kwargs)


def _common_loo_unit(fits: Iterable[Fit]) -> LooUnit:
    """``"level"`` where every fit's LOO is by level of the same grouping factor, else
    ``"observation"``: the one unit whose estimates all the fits have and can compare."""
    units = {(f._default_loo_unit, tuple(g.name for g in f.model.design.groups)) for f in fits}
    return "level" if len(units) == 1 and units.pop()[0] == "level" else "observation"


def compare(fits: Mapping[str, Fit], by: LooUnit | None = None, **kwargs) -> pd.DataFrame:
    """Rank fits by expected log predictive density (PSIS-LOO; ``arviz.compare``), e.g.
    ``lb.compare({"intercepts": fit1, "slopes": fit2})``. The fits must share the data.

    Parameters
    ----------
    fits : mapping of str to Fit
    by : {"level", "observation"}, optional
        What each fit's LOO leaves out (:meth:`Fit.loo`), the same for all, or the
        estimates would not be comparable. Default: ``"level"`` where every fit's default
        is and all share the grouping factor, else ``"observation"``.
    **kwargs
        Passed to ``arviz.compare``.

    Notes
    -----
    ``weight`` (stacking by default; Yao et al. 2018, *Bayesian Analysis* 13) is the
    weight of each fit in the mixture of their predictive distributions that predicts
    best. A fit the others make redundant gets a weight of 0, which the optimiser
    reaches up to rounding (e.g. 1e-16): the weights are not posterior model
    probabilities.
    """
    import arviz as az

    by = by or _common_loo_unit(fits.values())
    loos = {name: fit_.loo(by=by, pointwise=True) for name, fit_ in fits.items()}
    with warnings.catch_warnings():
        # arviz 0.23's compare sorts with sort_values(inplace=True), which pandas 3.1
        # deprecates (Pandas4Warning): ArviZ's code, not ours, and its result is right
        warnings.filterwarnings("ignore", message="The inplace keyword in DataFrame.sort_values")
        return az.compare(loos, **kwargs)
