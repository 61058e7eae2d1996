"""A Gaussian mixed model on a distributed data set, fitted from its per-level statistics.

:class:`DistributedLMM` runs the two passes of :mod:`.passes` on a Dask cluster, checks
what :func:`lmm_bayes.design.build_design` checks in memory (from the statistics), builds
the default priors from the data's moments (:class:`~lmm_bayes.priors.DesignMoments`) and
packs the marginal engine's compiled density from the statistics
(:func:`lmm_bayes.kernel.statistics_density`): the same density, so the same draws under the
same seed, as a fit of the data held in memory. Sampling runs on the client.

:class:`DistributedFit` keeps the statistics, the schema and a reference to the data, never
the rows. Its posterior holds β, the SDs, the correlation and σ; a level's random effects
are drawn on demand from their exact conditional (:func:`lmm_bayes.marginal.conditional_effects`)
with a generator seeded by (seed, level position), so they do not depend on the
partitioning or on which other levels are asked for.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import xarray as xr

from .. import names, summaries
from ..api import Fit
from ..design import (
    Design,
    GroupingFactor,
    _check_rows,
    check_factor,
    check_full_rank_gram,
    check_scale,
    missing_values_error,
    observation_level_obstacle,
    used_columns,
)
from ..errors import DesignError, SamplingError, Setting, SingularFitWarning
from ..families import Family, get_family
from ..kernel import MarginalData, prior_obstacle, statistics_density
from ..marginal import MAX_MARGINAL_TERMS, gaussian_conditional
from ..posterior import PosteriorDraws, level_positions
from ..priors import ColumnScale, DesignMoments, FactorMoments, PriorSet, build_priors
from ..sampling import SamplerConfig, default_target_accept, warn_on_problems
from ..spec import ModelSpec
from ..sums import Moments
from ..variables import level_label
from .passes import (
    Statistics,
    Survey,
    code_rows,
    combine_statistics,
    kept_rows,
    learnt_schema,
    part_statistics,
    survey,
    total,
)
from .sources import Source

if TYPE_CHECKING:
    import arviz as az

__all__ = ["DistributedFit", "DistributedLMM", "obstacle", "write_posterior"]

logger = logging.getLogger("lmm_bayes")

#: ranef() and the like draw every level's effects only up to this many levels
MAX_LEVELS_AT_ONCE = 10_000


def obstacle(spec: ModelSpec) -> str | None:
    """What keeps ``spec`` from being fitted from per-level statistics, or None: a
    Gaussian model with one grouping factor (of one column, covering every row) and no
    offset, censoring, weights, residual structure or sigma formula."""
    formula = spec.formula
    if spec.family != "gaussian":
        return (f"the {spec.family} family (its random effects do not integrate out in closed "
                "form)")
    found = [(formula.offsets, "an offset"),
             (formula.censoring is not None, "a censored response (cens())"),
             (spec.weights, "observation weights"),
             (spec.residual is not None, ("a residual structure (residual AR(1) within an "
                                          "individual is not yet served from a distributed "
                                          "data set)")),
             (spec.sigma is not None, "a sigma formula"),
             (len(formula.random) != 1, f"{len(formula.random)} grouping factors, not one"),
             (spec.likelihood == "conditional", ("the likelihood option 'conditional' "
                                                  "(the random effects are integrated out)"))]
    for present, reason in found:
        if present:
            return reason
    rterm = formula.random[0]
    if rterm.by is not None:
        return f"the gr({rterm.group}, by = {rterm.by}) factor"
    if len(rterm.group_columns) != 1:
        return (f"the grouping factor {rterm.group!r} of several columns (make it one column "
                "of the data first)")
    return None


def _refuse(reason: str) -> DesignError:
    return DesignError("a distributed data set is fitted from the statistics of a Gaussian "
                       "model with one grouping factor and at most "
                       f"{MAX_MARGINAL_TERMS} varying terms; this model has {reason}")


def _first_pass(frame, spec: ModelSpec, client) -> list[Survey]:
    import dask

    parts = frame.to_delayed()
    tasks = [dask.delayed(survey)(part, k, spec) for k, part in enumerate(parts)]
    return client.gather(client.compute(tasks))


def _second_pass(frame, spec: ModelSpec, schema, shift: float, client):
    """The second pass; the schema (with every level of the factor, millions perhaps) is
    sent to each worker once, not walked by Dask and shipped with every task."""
    import dask

    parts = frame.to_delayed()
    shared = client.scatter(schema, broadcast=True)
    tasks = [dask.delayed(part_statistics)(part, k, spec, shared, shift)
             for k, part in enumerate(parts)]
    return client.gather(client.compute(tasks))


def _check_missing(surveys: list[Survey], spec: ModelSpec) -> None:
    """The in-memory error for missing values, the first's row position counted over
    the partitions in order, and its partition named."""
    counts: dict[str, int] = {}
    for s in surveys:
        for column, n in s.missing.items():
            counts[column] = counts.get(column, 0) + n
    if not counts:
        return
    if spec.na_action == "drop":
        logger.warning("dropped rows with missing values in %s", list(counts))
        return
    offsets = np.cumsum([0] + [s.rows for s in surveys])
    number = next(k for k, s in enumerate(surveys) if s.first_missing is not None)
    first = surveys[number].first_missing
    raise missing_values_error(counts, int(offsets[number] + first),
                               f"; row position {first} of partition {number}")


class DistributedLMM:
    """A Gaussian mixed model on a distributed data set (see the module docstring); made
    by :class:`lmm_bayes.LMM` when its data are a Dask DataFrame or a path or glob of
    Parquet files.

    Parameters
    ----------
    formula : str
    data : str, PathLike or dask.dataframe.DataFrame
    client : None, str or dask.distributed.Client
        The cluster the passes run on: None starts a local one (2 single-threaded
        workers) for each use; a scheduler address; or a client.
    **options
        The options of :class:`lmm_bayes.LMM` (``priors``, ``factors``, ``reference``,
        ``na_action``, ``contrasts``...).

    Raises
    ------
    DesignError
        For a model the statistics cannot serve (:func:`obstacle`), and every error the
        in-memory design raises (a missing column, NaN, an unknown reference level,
        collinear fixed effects, a slope that does not vary...), naming the partition
        where it lies in one.

    Attributes
    ----------
    spec : ModelSpec
    source : Source
    schema : DataSchema
        The levels and constants that code new rows as the fitting rows were coded.
    statistics : Statistics
        Per-level and global sums (of y less the response's mean when there is an
        intercept), rows per level, column moments.
    priors : PriorSet
    """

    def __init__(self, formula: str, data, *, client=None, **options):
        self._init(ModelSpec.from_formula(formula, **options), Source(data, client))

    @classmethod
    def from_spec(cls, spec: ModelSpec, data, *, client=None) -> DistributedLMM:
        """A model from a :class:`~lmm_bayes.spec.ModelSpec` (a TOML spec's) on ``data``."""
        model = cls.__new__(cls)
        model._init(spec, Source(data, client))
        return model

    def _init(self, spec: ModelSpec, source: Source) -> None:
        reason = obstacle(spec)
        if reason is not None:
            raise _refuse(reason)
        self.spec, self.source = spec, source
        with source.client() as client:
            frame = source.frame()
            used_columns(spec.formula, frame._meta)
            started = time.perf_counter()
            surveys = _first_pass(frame, spec, client)
            _check_missing(surveys, spec)
            self.schema = learnt_schema(surveys, spec)
            self.response: Moments = total(s.response for s in surveys)
            self.n_rows_given = sum(s.rows for s in surveys)
            _check_rows(self.response.n, self.n_rows_given)
            self._check_response()
            self.shift = float(self.response.mean[0]) if spec.formula.has_intercept else 0.0
            self.pass_times = {"first": time.perf_counter() - started}
            started = time.perf_counter()
            parts = _second_pass(frame, spec, self.schema, self.shift, client)
            self.statistics: Statistics = combine_statistics(parts, len(self.levels))
            self.pass_times["second"] = time.perf_counter() - started
        self._check_design()
        self.priors: PriorSet = build_priors(self._moments(), spec.priors, None,
                                             family=spec.family, link=spec.link)
        found = prior_obstacle(self.priors, self.group)
        if found is not None:
            raise _refuse(found)

    # ------------------------------------------------------------------ checks

    @property
    def group(self) -> str:
        """The grouping factor's name."""
        return self.spec.formula.random[0].group

    @property
    def levels(self) -> tuple[str, ...]:
        """The grouping factor's level labels, in the order of the statistics."""
        return self.schema.levels[self.spec.formula.random[0].group_columns[0]]

    @property
    def n_obs(self) -> int:
        return self.statistics.level.n

    def _check_response(self) -> None:
        moments = self.response
        check_scale(float(moments.largest[0]), lambda: float(moments.sd[0]),
                    f"the response {self.spec.formula.response!r}")

    def _check_design(self) -> None:
        stats = self.statistics
        if len(stats.terms) > MAX_MARGINAL_TERMS:
            raise _refuse(f"{len(stats.terms)} varying terms")
        for k, name in enumerate(stats.fixed_names):
            check_scale(float(stats.X.largest[k]), lambda k=k: float(stats.X.sd[k]),
                        f"the fixed-effect column {name!r}")
        check_full_rank_gram(stats.level.XtX, stats.fixed_names, self.n_obs)
        check_factor(self.group, self.levels, stats.terms, self.n_obs,
                     lambda k: int(stats.varying[k]),
                     observation_level_obstacle(self.spec.family, None))

    def _moments(self) -> DesignMoments:
        """What the default priors read, from the passes' moments."""
        stats, y = self.statistics, self.response
        scales = [ColumnScale(float(sd), bool(ind)) for sd, ind in zip(stats.X.sd,
                                                                        stats.X.indicator)]
        z = tuple(ColumnScale(float(sd), bool(ind)) for sd, ind in zip(stats.Z.sd,
                                                                      stats.Z.indicator))
        factor = FactorMoments(self.group, stats.terms, self.spec.formula.random[0].correlated, z)
        return DesignMoments(stats.fixed_names, float(y.mean[0]), float(y.sd[0]),
                             (y.n * float(y.mean[0]) + 0.5) / (y.n + 1.0), None,
                             tuple(scales), (factor,))

    # ------------------------------------------------------------------ fitting

    @property
    def family(self) -> Family:
        return get_family(self.spec.family, self.spec.link)

    @cached_property
    def marginal_data(self) -> MarginalData:
        """The statistics as the compiled density reads them."""
        stats = self.statistics
        return MarginalData(stats.level, self.shift, stats.X.mean, stats.fixed_names,
                            self.group, stats.terms)

    @cached_property
    def density(self):
        """The marginal engine's compiled density of these statistics (built once)."""
        return statistics_density(self.marginal_data, self.priors)

    def __repr__(self) -> str:
        return (f"DistributedLMM({self.spec.formula.text!r}, data={self.source.describe()!r}, "
                f"n={self.n_obs}, groups: {self.group} ({len(self.levels)} levels))")

    def fit(self, draws: int = 1000, tune: int = 1000, chains: int = 4, *,
            random_seed: int | None = None, sampler: str = "auto",
            target_accept: float | None = None, cores: int | None = None,
            progressbar: bool = False) -> DistributedFit:
        """Sample the posterior of the population parameters on the client, with the
        marginal engine's samplers (:meth:`lmm_bayes.LMM.fit`'s options; ``engine`` is
        always the marginal one). The same ``random_seed`` gives the same draws as the
        data held in memory."""
        from ..engines import ENGINES, SAMPLING_TIME
        from ..engines.marginal import default_sampler, sample_density

        samplers = ENGINES["marginal"].samplers
        if sampler != "auto" and sampler not in samplers:
            raise SamplingError(f"a distributed data set is sampled by the marginal engine, "
                                f"with {list(samplers)}, not ", Setting("sampler", sampler))
        config = SamplerConfig(draws=draws, tune=tune, chains=chains, random_seed=random_seed,
                               sampler=(default_sampler(len(self.levels)) if sampler == "auto"
                                        else sampler),
                               target_accept=(default_target_accept([len(self.levels)])
                                              if target_accept is None else target_accept),
                               cores=cores, progressbar=progressbar)
        density = self.density
        started = time.perf_counter()
        idata = sample_density(density, config)
        elapsed = time.perf_counter() - started
        idata.posterior = idata.posterior[names.public([self.group],
                                                       idata.posterior.data_vars)]
        terms = len(self.statistics.terms)
        reason = (f"marginal: one grouping factor ({self.group}, {terms} varying "
                  f"term{'s' if terms > 1 else ''}), effects integrated out; from the "
                  f"per-level statistics of {self.source.describe()}")
        idata.sample_stats.attrs.update(engine="marginal", engine_reason=reason,
                                        **{SAMPLING_TIME: elapsed})
        result = DistributedFit(self, idata, config)
        warn_on_problems(result.diagnostics())
        for message in summaries.singular_components(idata.posterior, result._groups):
            warnings.warn(message, SingularFitWarning, stacklevel=2)
        return result

    # ------------------------------------------------------------------ rows of levels

    def level_rows(self, levels) -> pd.DataFrame:
        """The rows of the chosen levels (labels), read from the partitions by a filter,
        without missing values in the used columns; DesignError naming an unknown label."""
        level_positions(self.levels, self.group, levels)
        column = self.spec.formula.random[0].group_columns[0]
        wanted = {str(level) for level in ([levels] if isinstance(levels, (str, int))
                                           else levels)}
        with self.source.client() as client:
            frame = self.source.frame()
            chosen = frame.map_partitions(_rows_of, column, wanted, self.spec,
                                          meta=frame._meta)
            rows = client.compute(chosen).result()
        return rows.reset_index(drop=True)

    def level_design(self, levels) -> tuple[Design, pd.DataFrame]:
        """The in-memory :class:`Design` of the chosen levels' rows, coded with the fitted
        schema, its factor's levels those chosen (in that order), and the rows."""
        chosen = [self.levels[k] for k in level_positions(self.levels, self.group, levels)]
        rows = self.level_rows(chosen)
        coded = code_rows(rows, self.spec, self.schema, np.arange(len(rows)))
        labels = np.asarray(self.levels, dtype=object)[coded.index]
        index = pd.Index(chosen).get_indexer(labels)
        factor = GroupingFactor(self.group, tuple(chosen), index, coded.terms, coded.Z,
                                self.spec.formula.random[0].correlated)
        design = Design(self.spec.formula, coded.y, coded.X, coded.fixed_names, (factor,),
                        np.arange(len(rows)), self.schema, len(rows))
        return design, rows


def _rows_of(part: pd.DataFrame, column: str, wanted: set[str], spec: ModelSpec
             ) -> pd.DataFrame:
    """The rows of a partition whose ``column`` reads as one of the ``wanted`` labels,
    without missing values in the used columns (a look-up over the distinct values, not
    the rows)."""
    keep, _ = kept_rows(part, spec)
    part = part.iloc[keep]
    values = part[column]
    labels = {v for v in values.dropna().unique() if level_label(v) in wanted}
    return part[values.isin(labels)]


class DistributedFit:
    """The posterior of a :class:`DistributedLMM`: the population parameters (β, the
    random-effect SDs and correlation, σ), each level's random effects drawn on demand
    (:meth:`effects`). The tables of :class:`lmm_bayes.Fit` that need no rows are the
    same; those that need a level's rows (:meth:`shrinkage`, :meth:`trajectories`) read
    the chosen levels' rows by a filter.

    Attributes
    ----------
    model : DistributedLMM
    idata : arviz.InferenceData
    config : SamplerConfig
    """

    def __init__(self, model: DistributedLMM, idata: az.InferenceData, config: SamplerConfig):
        self.model = model
        self.idata = idata
        self.config = config

    # the protocol the row-wise operations read (lmm_bayes.distributed.rows)
    @property
    def spec(self) -> ModelSpec:
        return self.model.spec

    @property
    def schema(self):
        """The :class:`~lmm_bayes.variables.DataSchema` that codes new rows."""
        return self.model.schema

    @property
    def source(self) -> Source:
        return self.model.source

    @property
    def posterior(self) -> xr.Dataset:
        return self.idata.posterior

    @property
    def _groups(self) -> dict[str, tuple[str, ...]]:
        return {self.model.group: self.model.statistics.terms}

    @property
    def parameter_names(self) -> list[str]:
        return list(names.public([self.model.group], self.posterior.data_vars))

    def __repr__(self) -> str:
        sizes = self.posterior.sizes
        return (f"DistributedFit({self.spec.formula.text!r}, {sizes['chain']} chains × "
                f"{sizes['draw']} draws, sampler={self.config.sampler!r})")

    def _header(self) -> list[str]:
        sizes = self.posterior.sizes
        model = self.model
        data = (f"{model.n_obs} observations in {model.source.describe()}; "
                f"{model.group}: {len(model.levels)} levels")
        draws = f"{sizes['chain']} chains × {sizes['draw']} draws, sampler {self.config.sampler}"
        return [f"Formula: {self.spec.formula.text}",
                f" Family: {self.family.name} ({self.family.link} link)",
                f"   Data: {data}", f"  Draws: {draws}", f" Engine: {self.engine[1]}"]

    __str__ = Fit.__str__
    _repr_html_ = Fit._repr_html_
    engine = Fit.engine
    sampling_time = Fit.sampling_time
    summary = Fit.summary
    fixef = Fit.fixef
    recenter = Fit.recenter

    @property
    def family(self) -> Family:
        return self.model.family

    diagnostics = Fit.diagnostics

    def variance_components(self, prob: float = 0.95) -> pd.DataFrame:
        """See :meth:`lmm_bayes.Fit.variance_components`."""
        return summaries.variance_components(self.posterior, self._groups, prob)

    def icc(self, group: str | None = None, at: Mapping[str, float] | None = None,
            prob: float = 0.95) -> pd.DataFrame:
        """Intraclass correlation (:meth:`lmm_bayes.Fit.icc`; the Gaussian's residual
        variance σ²)."""
        self._group_name(group)
        residual = summaries.latent_residual_variance(self.family, self.posterior)
        return summaries.icc(self.posterior, self._groups, at=at,
                             nested_in={self.model.group: ()}, group=group, prob=prob,
                             residual=residual)

    def _group_name(self, group: str | None) -> str:
        if group is not None and group != self.model.group:
            raise DesignError(f"no grouping factor {group!r}; the model has "
                              f"{[self.model.group]}")
        return self.model.group

    # ------------------------------------------------------------------ effects

    def effects(self, levels, random_seed: int | None = None,
                group: str | None = None) -> xr.DataArray:
        """Draws of the chosen ``levels``' random effects from their exact conditional
        given each posterior draw (:func:`lmm_bayes.marginal.gaussian_conditional` with
        w_ℓ = Z_ℓᵀ(y_ℓ − X_ℓβ), as :func:`~lmm_bayes.marginal.conditional_effects`), dims
        (chain, draw, ``<g>__level``, ``<g>__term``) as :meth:`lmm_bayes.Fit.effects`.

        Each level's draws come from a generator seeded by (``random_seed``, its position
        among the levels), so they do not depend on the partitioning or on the other
        levels asked for; ``random_seed=None`` takes the fit's sampling seed (fresh
        randomness when that is None too). DesignError names an unknown level."""
        name = self._group_name(group)
        positions = level_positions(self.model.levels, name, levels)
        seed = self.config.random_seed if random_seed is None else random_seed
        draws = PosteriorDraws(self.posterior)
        beta = draws.get(names.BETA, names.FIXED).copy()
        beta[:, 0] -= self.model.shift  # the statistics are of y less the shift
        chol, sigma = draws.cholesky(name), draws.get(names.SIGMA)
        stats = self.model.statistics.level
        eps = np.empty((len(sigma), len(positions), len(self.model.statistics.terms)))
        for k, position in enumerate(positions):  # each level's own generator
            rng = np.random.default_rng(None if seed is None else [seed, int(position)])
            eps[:, k] = rng.standard_normal((len(sigma), eps.shape[2]))
        scores = stats.Zty[positions][None] - np.einsum("lqp,dp->dlq", stats.ZtX[positions],
                                                        beta)
        out = gaussian_conditional(scores, stats.ZtZ[positions], chol, sigma, None, eps)
        sizes = self.posterior.sizes
        level_dim, term_dim = names.level_dim(name), names.term_dim(name)
        return xr.DataArray(
            out.reshape(sizes["chain"], sizes["draw"], *out.shape[1:]),
            dims=("chain", "draw", level_dim, term_dim), name=names.effects(name),
            coords={"chain": self.posterior["chain"], "draw": self.posterior["draw"],
                    level_dim: [self.model.levels[p] for p in positions],
                    term_dim: list(self.model.statistics.terms)})

    def _chosen(self, levels) -> list[str]:
        """``levels``, or every level when None and there are few enough."""
        if levels is not None:
            return levels
        if len(self.model.levels) > MAX_LEVELS_AT_ONCE:
            raise DesignError(f"{self.model.group!r} has {len(self.model.levels)} levels; "
                              "choose some: levels=[...]")
        return list(self.model.levels)

    def _with_effects(self, levels, random_seed: int | None = None) -> xr.Dataset:
        return self.posterior.assign({names.effects(self.model.group):
                                      self.effects(levels, random_seed)})

    def random_effects(self, group: str | None = None, prob: float = 0.95, *,
                       levels=None) -> pd.DataFrame:
        """Each chosen level's random effects (posterior mean, SD, central interval), as
        :meth:`lmm_bayes.Fit.random_effects`; ``levels`` may be left out for a factor of
        at most 10,000 levels."""
        name = self._group_name(group)
        posterior = self._with_effects(self._chosen(levels))
        return summaries.random_effects_table(posterior, name, prob)

    def ranef(self, group: str | None = None, prob: float = 0.95, *,
              levels=None) -> pd.DataFrame:
        """:meth:`random_effects` (lme4's name)."""
        return self.random_effects(group, prob, levels=levels)

    def shrinkage(self, group: str, term: str = "(Intercept)", prob: float = 0.95, *,
                  levels=None) -> pd.DataFrame:
        """No, complete and partial pooling of ``term`` for the chosen levels
        (:func:`lmm_bayes.summaries.shrinkage`), from their rows read by a filter."""
        self._group_name(group)
        chosen = self._chosen(levels)
        design, _ = self.model.level_design(chosen)
        return summaries.shrinkage(self._with_effects(chosen), design, group, term, prob)

    def trajectories(self, group: str, time: str, grid=None, levels=None,
                     prob: float = 0.95) -> pd.DataFrame:
        """Each chosen level's expected outcome over a grid of ``time`` values, and the
        population curve (:func:`lmm_bayes.summaries.trajectories`), from those levels'
        rows read by a filter; the default grid is of their observed times."""
        self._group_name(group)
        chosen = self._chosen(levels)
        design, rows = self.model.level_design(chosen)
        return summaries.trajectories(self._with_effects(chosen), design, rows, group, time,
                                      grid=grid, levels=chosen, prob=prob)

    # ------------------------------------------------------------------ rows, by partition

    def predict(self, data, *, kind="mean", groups="new", random_seed: int | None = None,
                prob: float = 0.95, path=None):
        """Predictions for new rows partition by partition
        (:func:`lmm_bayes.distributed.rows.predict`): a Dask DataFrame or Parquet files give
        a Dask DataFrame of the rows with ``estimate``, ``std_error``, ``conf_low`` and
        ``conf_high`` (or, with ``path=``, that directory of Parquet files); a pandas
        DataFrame gives those columns with its index, as :meth:`lmm_bayes.Fit.predict`."""
        from . import rows

        return self._in_memory_or_not(data, path, lambda source: rows.predict(
            self, source, kind=kind, groups=groups, random_seed=random_seed, prob=prob,
            path=path), rows.PREDICTION_COLUMNS)

    def exceedance(self, data, threshold: float, *, direction=">", kind="response",
                   groups="new", random_seed: int | None = None, path=None):
        """P(outcome ⋈ threshold) for new rows partition by partition
        (:func:`lmm_bayes.distributed.rows.exceedance`); ``data`` and ``path`` as in
        :meth:`predict`."""
        from . import rows

        return self._in_memory_or_not(data, path, lambda source: rows.exceedance(
            self, source, threshold, direction=direction, kind=kind, groups=groups,
            random_seed=random_seed, path=path), ("probability",))

    @staticmethod
    def _in_memory_or_not(data, path, compute, columns):
        """``compute(source)``; for a pandas DataFrame (no ``path``) on it as one partition,
        the result's ``columns`` in memory."""
        if not isinstance(data, pd.DataFrame):
            return compute(data)
        if path is not None:
            raise DesignError("path= writes results partition by partition: give the rows as "
                              "a Dask DataFrame or a path of Parquet files")
        import dask.dataframe as dd

        return compute(dd.from_pandas(data, npartitions=1)).compute()[list(columns)]

    def fitted(self, data=None, *, prob: float = 0.95, path=None):
        """Fitted values of the training rows, partition by partition
        (:func:`lmm_bayes.distributed.rows.fitted`; ``data``: the fit's data set unless
        given)."""
        from . import rows

        return rows.fitted(self, data, prob=prob, path=path)

    def residuals(self, data=None, *, prob: float = 0.95, path=None):
        """Residuals of the training rows, partition by partition
        (:func:`lmm_bayes.distributed.rows.residuals`)."""
        from . import rows

        return rows.residuals(self, data, prob=prob, path=path)

    def ppc_pvalues(self, stats=("mean", "sd", "min", "max"), group: str | None = None,
                    prob: float = 0.95, *, random_seed: int | None = None) -> pd.DataFrame:
        """Posterior predictive p-values of ``mean``, ``sd``, ``min`` and ``max`` from
        replicates drawn and reduced partition by partition
        (:func:`lmm_bayes.distributed.rows.ppc_pvalues`); the table of
        :meth:`lmm_bayes.Fit.ppc_pvalues`."""
        from . import rows

        if group is not None:
            raise DesignError("within_sd (group=) needs every level's sums per draw, which "
                              "are not reduced by partition")
        return rows.ppc_pvalues(self, stats=stats, random_seed=random_seed, prob=prob)

    def save(self, path) -> None:
        """Not available: DesignError saying what to keep instead."""
        raise DesignError("a fit of a distributed data set is not saved with its data; keep "
                          "its posterior with fit.idata.to_netcdf(path) and its statistics "
                          "by refitting from the data")


def write_posterior(fit: DistributedFit, out) -> dict[str, Path]:
    """Write ``summary.csv`` (the tidy summary) and ``posterior.nc`` (the draws of the
    population parameters, ArviZ's netCDF) into ``out``; returns the paths by kind. (A
    distributed fit is not saved for :func:`lmm_bayes.load`, which rebuilds a model from
    the rows it saves.)"""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"summary": out / "summary.csv", "posterior": out / "posterior.nc"}
    fit.summary().to_csv(paths["summary"], index=False)
    fit.idata.to_netcdf(str(paths["posterior"]))
    return paths
