"""Everything that needs rows, partition by partition of a Dask DataFrame or a Parquet set:
predictions and exceedance probabilities for new rows, fitted values and residuals of the
training rows, and posterior predictive statistics.

Each partition is evaluated on its own, in blocks of rows, with the population parameters
and the random effects of only the levels present in it (:class:`RowModel`'s
``effects(group, labels)``: an in-memory fit's stored draws, or a
:class:`~lmm_bayes.distributed.DistributedFit`'s drawn on the worker from the per-level
statistics), by the in-memory function :func:`lmm_bayes.predict.predict_draws`, so a row's
result is the in-memory one for the same draws. What is random is keyed, so that results
do not depend on how the rows are split into partitions
(:class:`lmm_bayes.predict.KeyedRandom`):

- a new level's effects (``groups="new"``) come from a generator seeded by
  (``random_seed``, factor, level label), shared by its rows in every partition;
- a new measurement (``kind="response"``, exceedance, PPC replicates) of row i comes from a
  generator seeded by (``random_seed``, i), i the row's position in the whole data set
  (partitions in order; one more pass counts the partitions' rows);
- a distributed fit's known levels take the draws of ``fit.effects`` with the fit's
  sampling seed, each level from its own generator.

The in-memory ``fit.predict(frame, random_seed=s)`` draws new levels and measurements from
one generator for all rows, so there its numbers differ from these by Monte Carlo error;
means of known levels, fitted values and residuals are equal. An error in a partition
names it, with row positions counted within it
(:func:`lmm_bayes.distributed.passes.in_partition`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace
from functools import reduce
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .. import names
from ..api import Fit
from ..design import Design, GroupingFactor, used_columns
from ..errors import DesignError, LMMError
from ..families import Family
from ..posterior import select_levels
from ..ppc import pvalue_table
from ..predict import (
    Groups,
    KeyedRandom,
    Kind,
    _level_labels,
    new_rows,
    observed_response,
    predict_draws,
)
from ..residuals import ResidualDesign
from ..risk import Direction
from ..risk import exceedance as exceedance_share
from ..summaries.draws import check_prob, interval_columns
from ..sums import Moments as SumMoments
from .passes import in_partition
from .sources import Source

__all__ = ["DrawStatistics", "DrawnEffects", "RowModel", "StoredEffects", "exceedance", "fitted",
           "ppc_pvalues", "ppc_statistics", "predict", "residuals", "row_model"]

#: the statistics that combine over partitions (:class:`DrawStatistics`)
PARTITION_STATISTICS = ("mean", "sd", "min", "max")
PREDICTION_COLUMNS = ("estimate", "std_error", "conf_low", "conf_high")
#: at most this many draws × rows at once in a worker (32 MB of float64; the effects of a
#: block's levels take at most a few times that)
BLOCK_VALUES = 2 ** 22


# ----------------------------------------------------------------------------- the fit


@dataclass(frozen=True)
class StoredEffects:
    """``effects(group, levels)`` from a posterior that holds every level's draws
    (``b_<g>``): an in-memory fit's."""

    posterior: xr.Dataset

    def __call__(self, group: str, levels: Sequence[str]) -> xr.DataArray:
        """The draws of ``b_<g>`` (:func:`lmm_bayes.posterior.select_levels`) of those of
        ``levels`` that the posterior has; the others are left out."""
        b = self.posterior[names.effects(group)]
        known = pd.Index(b[names.level_dim(group)].values).intersection(
            pd.Index(levels, dtype=object))
        return select_levels(b, group, list(known))


@dataclass(frozen=True)
class _Statistics:
    """The parts of a :class:`~lmm_bayes.distributed.DistributedLMM` that drawing a
    level's effects reads (:meth:`~lmm_bayes.distributed.DistributedFit.effects`): no
    data, client or compiled density, so it can be sent to workers. The levels are an
    index, whose hash table each worker builds once for all its partitions."""

    group: str
    levels: pd.Index
    statistics: object
    shift: float


class DrawnEffects:
    """``effects(group, levels)`` of a :class:`~lmm_bayes.distributed.DistributedFit`:
    the known levels among ``levels`` drawn on demand by its
    :meth:`~lmm_bayes.distributed.DistributedFit.effects` with one ``seed``, each level
    from its own generator, so every partition gets a level's same draws."""

    def __init__(self, fit, seed: int):
        from arviz import InferenceData

        from .model import DistributedFit

        model = fit.model
        levels = pd.Index(model.levels, dtype=object)
        self.fit = DistributedFit(_Statistics(model.group, levels, model.statistics,
                                              model.shift),
                                  InferenceData(posterior=fit.posterior), fit.config)
        self.seed = seed

    def __call__(self, group: str, levels: Sequence[str]) -> xr.DataArray:
        known = self.fit.model.levels.intersection(pd.Index(levels, dtype=object))
        return self.fit.effects(list(known), self.seed, group)


@dataclass(frozen=True)
class RowModel:
    """What evaluating rows needs from a fit, small enough to send to every worker.

    Attributes
    ----------
    posterior : xarray.Dataset
        The population parameters (``beta``, ``sd_<g>``, ``corr_<g>``, the family's).
    design : Design
        The fitted design with no rows and grouping factors without levels: codings,
        terms and the schema that evaluates new rows as the fitting rows were.
    family : Family
    effects : callable
        ``effects(group, labels)``: the draws of ``b_<g>`` of the known levels among
        ``labels`` (:class:`StoredEffects`, :class:`DrawnEffects`).
    residuals : ResidualDesign or None
        The sigma model (of no rows), for each row's σ.
    weights : str or None
        The model's weights column.
    also_used : tuple of str
        Variables besides the formula's that a training row needs (residual options,
        weights).
    na_action : {"raise", "drop"}
        The model's: with "drop", training rows missing a used variable were not fitted.
    ppc_obstacle : str or None
        Why replicates cannot be drawn partition by partition, or None.
    """

    posterior: xr.Dataset
    design: Design
    family: Family
    effects: Callable[..., xr.DataArray]
    residuals: ResidualDesign | None = None
    weights: str | None = None
    also_used: tuple[str, ...] = ()
    na_action: str = "raise"
    ppc_obstacle: str | None = None

    def for_rows(self, data: pd.DataFrame, groups: Groups) -> tuple[xr.Dataset, Design]:
        """The posterior with the effects of the known levels in ``data``, and the design
        whose grouping factors have those levels."""
        posterior, factors = self.posterior, []
        for group in self.design.groups:
            labels = [] if _without_levels(groups) else self._labels(data, group.name)
            found = self.effects(group.name, labels)
            posterior = posterior.assign({names.effects(group.name): found})
            factors.append(replace(group, levels=tuple(found[names.level_dim(group.name)]
                                                       .values)))
        return posterior, replace(self.design, groups=tuple(factors))

    def _labels(self, data: pd.DataFrame, group: str) -> list[str]:
        """The distinct level labels of ``group`` in ``data``; none while a grouping column
        is absent or missing (NaN), which :func:`~lmm_bayes.predict.predict_draws` reports."""
        rterm = next(r for r in self.design.formula.random if r.group == group)
        columns = list(rterm.group_columns)
        if not set(columns) <= set(data.columns) or data[columns].isna().any().any():
            return []
        return list(pd.unique(_level_labels(self.design, data, group)))

    def fitted_rows(self, part: pd.DataFrame) -> pd.DataFrame:
        """The rows of a training partition that the model was fitted to: all, or with
        ``na_action="drop"`` those with no missing value in a used column."""
        if self.na_action != "drop":
            return part
        used = used_columns(self.design.formula, part, self.also_used)
        return part[part[used].notna().all(axis=1).to_numpy()]


def _without_levels(groups: Groups) -> bool:
    """Whether predictions with ``groups`` use no level's effects (nor grouping columns)."""
    return groups in ("population", "marginal")


def _without_rows(design: Design) -> Design:
    """``design`` with no rows and grouping factors without levels."""
    return replace(design, y=design.y[:0], X=design.X[:0], rows=design.rows[:0],
                   groups=tuple(replace(g, levels=(), index=g.index[:0], Z=g.Z[:0],
                                        member=None) for g in design.groups),
                   trials=None if design.trials is None else design.trials[:0],
                   offset=None if design.offset is None else design.offset[:0],
                   censoring=None,
                   weights=None if design.weights is None else design.weights[:0])


def _sigma_without_rows(residuals: ResidualDesign | None) -> ResidualDesign | None:
    """The sigma model of ``residuals`` with no rows (a new row's σ needs only it)."""
    if residuals is None or residuals.sigma is None:
        return None
    sigma = residuals.sigma
    return ResidualDesign(None, replace(sigma, X=sigma.X[:0], row_labels=sigma.row_labels[:0]))


def _ppc_obstacle(design: Design, residuals: ResidualDesign | None) -> str | None:
    """Why a model's replicates cannot be drawn row by row, or None."""
    if design.censoring is not None:
        return ("a censored response's replicates are censored as each row was, which "
                "needs the fitted censoring of every row")
    if residuals is not None and residuals.serial is not None:
        return (f"the residual structure {residuals.serial.spec.text!r} correlates an "
                "individual's rows, whose replicates must be drawn together")
    return None


def _in_memory_model(fit) -> RowModel:
    """The :class:`RowModel` of an in-memory :class:`lmm_bayes.Fit`."""
    model = fit.model
    spec, design, posterior = model.spec, model.design, fit.idata.posterior
    stored = [names.effects(g.name) for g in design.groups]
    population = posterior.drop_dims([names.level_dim(g.name) for g in design.groups])
    return RowModel(population, _without_rows(design), model.family,
                    StoredEffects(posterior[stored]), _sigma_without_rows(model.residuals),
                    spec.weights,
                    (*spec.residual_columns, *((spec.weights,) if spec.weights else ())),
                    spec.na_action, _ppc_obstacle(design, model.residuals))


def _distributed_model(fit) -> RowModel:
    """The :class:`RowModel` of a :class:`~lmm_bayes.distributed.DistributedFit`: a
    Gaussian model of one grouping factor without offsets, weights, censoring or residual
    options (:func:`~lmm_bayes.distributed.obstacle`). Its effects are drawn with the
    fit's sampling seed, or one fresh seed when it has none."""
    model, spec = fit.model, fit.spec
    stats = model.statistics
    q, p = len(stats.terms), len(stats.fixed_names)
    factor = GroupingFactor(model.group, (), np.empty(0, dtype=int), stats.terms,
                            np.empty((0, q)), spec.formula.random[0].correlated)
    design = Design(spec.formula, np.empty(0), np.empty((0, p)), stats.fixed_names,
                    (factor,), np.empty(0, dtype=int), fit.schema, 0)
    return RowModel(fit.posterior, design, fit.family,
                    DrawnEffects(fit, _seed(fit.config.random_seed)),
                    na_action=spec.na_action)


def row_model(fit) -> RowModel:
    """The :class:`RowModel` of a fit: an in-memory :class:`lmm_bayes.Fit` or a
    :class:`~lmm_bayes.distributed.DistributedFit`."""
    return _in_memory_model(fit) if isinstance(fit, Fit) else _distributed_model(fit)


# ----------------------------------------------------------------------------- partitions


def _cluster(fit):
    """The context to compute in: the distributed fit's client
    (:meth:`~lmm_bayes.distributed.Source.client`), else Dask's current scheduler."""
    return nullcontext() if isinstance(fit, Fit) else fit.source.client()


def _starts(frame) -> np.ndarray:
    """The position of each partition's first row in the whole data set."""
    lengths = frame.map_partitions(len).compute().to_numpy()
    return np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)


def _seed(random_seed: int | None) -> int:
    """``random_seed``, or fresh entropy shared by every partition when None."""
    return int(np.random.SeedSequence(random_seed).entropy)


def _in_partition(k: int, compute: Callable):
    """``compute()``; an error of the package's names partition ``k``
    (:func:`~lmm_bayes.distributed.passes.in_partition`)."""
    try:
        return compute()
    except LMMError as err:
        raise in_partition(err, k) from None


def _blocks(model: RowModel, part: pd.DataFrame, groups: Groups, compute: Callable) -> list:
    """``compute(rows, where, draw)`` on blocks of a partition's rows, ``where`` their
    slice of it and ``draw(kind, keyed)`` their prediction draws (S, m); a block's draws
    hold at most :data:`BLOCK_VALUES` numbers, so a worker's memory does not grow with the
    partition. Each block takes the effects of its own levels (a level whose rows straddle
    two blocks gets the same draws in both). The partition's rows are checked whole first
    (:func:`lmm_bayes.predict.new_rows`), so that an error counts row positions within it."""
    new_rows(model.design, part, "population" if _without_levels(groups) else "new")
    sizes = model.posterior.sizes
    size = max(1, BLOCK_VALUES // (sizes["chain"] * sizes["draw"]))
    out = []
    for begin in range(0, len(part), size):
        where = slice(begin, min(begin + size, len(part)))
        rows = part.iloc[where]
        posterior, design = model.for_rows(rows, groups)

        def draw(kind: Kind, keyed: KeyedRandom, rows=rows, posterior=posterior,
                 design=design) -> np.ndarray:
            draws = predict_draws(posterior, design, model.family, rows, kind=kind,
                                  groups=groups, random_seed=keyed.seed,
                                  residuals=model.residuals, weights=model.weights,
                                  keyed=keyed)
            return draws.values.reshape(-1, len(rows))
        out.append(compute(rows, where, draw))
    return out


def _joined(blocks: list[dict]) -> dict[str, np.ndarray]:
    """The blocks' columns, each concatenated over the blocks."""
    return {c: np.concatenate([b[c] for b in blocks]) for c in blocks[0]}


def _keyed(seed: int, start: int | None, where: slice) -> KeyedRandom:
    """Keyed draws for the rows at ``where`` of a partition that starts at row ``start``
    of the data set (rows not keyed when it is None)."""
    if start is None:
        return KeyedRandom(seed)
    return KeyedRandom(seed, np.arange(start + where.start, start + where.stop, dtype=np.int64))


def _check_new_columns(columns, added: Sequence[str]) -> None:
    """DesignError if the rows already have a column the results would be written to."""
    taken = [c for c in added if c in columns]
    if taken:
        raise DesignError(f"the rows already have column(s) {taken}, which the results are "
                          "written to; rename them")


def _tasks(frame, function: Callable, model: RowModel, starts: bool, now: bool,
           **options) -> list:
    """``function(part, k, start, model, **options)`` on every partition k, as Dask
    delayed objects; ``start`` is the position of the partition's first row in the data
    set with ``starts`` (one more pass, over the lengths), else None. The model is sent to
    each worker once: one key of the graph, or, for tasks computed ``now`` by a
    distributed client, scattered to its workers (a lazy result may be computed after
    that client has closed)."""
    import dask

    first = _starts(frame) if starts else [None] * frame.npartitions
    client = _current_client() if now else None
    shared = (dask.delayed(model, traverse=False) if client is None
              else client.scatter(model, broadcast=True, hash=False))
    return [dask.delayed(function)(part, k, None if first[k] is None else int(first[k]),
                                   shared, **options)
            for k, part in enumerate(frame.to_delayed())]


def _current_client():
    """The distributed client Dask computes with now, or None (another scheduler)."""
    from dask.base import get_scheduler

    client = getattr(get_scheduler(), "__self__", None)  # a client's bound get
    return client if type(client).__module__.startswith("distributed") else None


def _as_rows(frame, tasks: list, added: Sequence[str], path):
    """The rows of ``tasks``' partitions (each ``frame``'s with the float columns
    ``added``): a Dask DataFrame of one partition per input partition, or written as
    Parquet to the directory ``path`` (returned)."""
    import dask.dataframe as dd

    meta = frame._meta.assign(**{c: pd.Series(dtype=float) for c in added})
    out = dd.from_delayed(tasks, meta=meta, verify_meta=False)
    if path is None:
        return out
    with warnings.catch_warnings():
        # dask 2026.8 writes the index with set_index(inplace=True), which pandas 3.1
        # deprecates (Pandas4Warning): dask's code, not ours, and its result is right
        warnings.filterwarnings("ignore", message="The inplace keyword in DataFrame.set_index")
        out.to_parquet(str(path))
    return Path(path)


def _empty(part: pd.DataFrame, added: Sequence[str]) -> pd.DataFrame:
    return part.assign(**{c: np.empty(0) for c in added})


# ----------------------------------------------------------------------------- predictions


def _predictions(part, k, start, model: RowModel, *, kind, groups, seed, prob, exceeding):
    """One partition's rows with their predictions' summary and, with ``exceeding`` =
    (threshold, direction), the probability that a new measurement exceeds it."""
    added = PREDICTION_COLUMNS + (("probability",) if exceeding else ())
    if len(part) == 0:
        return _empty(part, added)

    def compute(rows, where, draw):
        keyed = _keyed(seed, start, where)
        draws = draw(kind, keyed)
        found = interval_columns(draws, prob, axis=0)
        if exceeding:
            response = draws if kind == "response" else draw("response", keyed)
            found["probability"] = exceedance_share(response, *exceeding)
        return found
    return part.assign(**_joined(_in_partition(k, lambda: _blocks(model, part, groups,
                                                                  compute))))


def _exceedances(part, k, start, model: RowModel, *, kind, groups, seed, threshold,
                 direction):
    """One partition's rows with their exceedance probabilities."""
    if len(part) == 0:
        return _empty(part, ("probability",))

    def compute(rows, where, draw):
        draws = draw(kind, _keyed(seed, start, where))
        return {"probability": exceedance_share(draws, threshold, direction)}
    return part.assign(**_joined(_in_partition(k, lambda: _blocks(model, part, groups,
                                                                  compute))))


def predict(fit, source, *, kind: Kind = "mean", groups: Groups = "new",
            random_seed: int | None = None, prob: float = 0.95, path=None,
            threshold: float | None = None, direction: Direction = ">",
            model: RowModel | None = None):
    """Predictions for new rows, partition by partition: the rows with ``estimate``,
    ``std_error``, ``conf_low`` and ``conf_high`` (as :meth:`lmm_bayes.Fit.predict`).

    Parameters
    ----------
    fit : Fit
    source : dask.dataframe.DataFrame or str or Path
        The rows, or Parquet files (path, directory or glob).
    kind, groups, random_seed, prob
        As :meth:`lmm_bayes.Fit.predict`; randomness is keyed by level and row (module
        docstring), so the results do not depend on the partitioning.
    path : str or Path, optional
        A directory to write the rows to as Parquet, one file per partition.
    threshold, direction : optional
        Also the column ``probability``: P(new measurement ⋈ threshold), as
        :func:`exceedance` gives it with ``kind="response"`` (the command line's
        ``predict --threshold``).
    model : RowModel, optional
        The fit's (default :func:`row_model`).

    Returns
    -------
    dask.dataframe.DataFrame, or the Path written
    """
    check_prob(prob)
    exceeding = None
    if threshold is not None:
        exceedance_share(np.zeros((1, 0)), threshold, direction)  # the checks, here
        exceeding = (threshold, direction)
    added = PREDICTION_COLUMNS + (("probability",) if exceeding else ())
    frame = Source(source).frame()
    _check_new_columns(frame.columns, added)
    with _cluster(fit):
        tasks = _tasks(frame, _predictions, model or row_model(fit),
                       kind == "response" or exceeding is not None, path is not None,
                       kind=kind, groups=groups, seed=_seed(random_seed), prob=prob,
                       exceeding=exceeding)
        return _as_rows(frame, tasks, added, path)


def exceedance(fit, source, threshold: float, *, direction: Direction = ">",
               kind: Kind = "response", groups: Groups = "new", random_seed: int | None = None,
               path=None, model: RowModel | None = None):
    """P(outcome ⋈ threshold) for new rows, partition by partition: the rows with
    ``probability`` (:func:`lmm_bayes.risk.exceedance`, as :meth:`lmm_bayes.Fit.exceedance`).
    The other parameters as :func:`predict`."""
    exceedance_share(np.zeros((1, 0)), threshold, direction)  # the threshold's checks, here
    frame = Source(source).frame()
    _check_new_columns(frame.columns, ("probability",))
    with _cluster(fit):
        tasks = _tasks(frame, _exceedances, model or row_model(fit), kind == "response",
                       path is not None, kind=kind, groups=groups, seed=_seed(random_seed),
                       threshold=threshold, direction=direction)
        return _as_rows(frame, tasks, ("probability",), path)


# ----------------------------------------------------------------------------- training rows


def _training(fit, source):
    """The training rows: ``source``, the distributed fit's own data, or an in-memory
    fit's data as one partition."""
    if source is not None:
        return Source(source).frame()
    if not isinstance(fit, Fit):
        return fit.source.frame()
    import dask.dataframe as dd

    return dd.from_pandas(fit.model.data, npartitions=1)


def _training_summaries(part, k, start, model: RowModel, *, prob, residual):
    """One training partition's fitted rows with the summary of their fitted values or
    residuals."""
    part = model.fitted_rows(part)
    if len(part) == 0:
        return _empty(part, PREDICTION_COLUMNS)

    y = _in_partition(k, lambda: observed_response(model.design, model.family, part)[0])

    def compute(rows, where, draw):
        draws = draw("mean", KeyedRandom(0))
        return interval_columns(y[where] - draws if residual else draws, prob, axis=0)
    return part.assign(**_joined(_in_partition(k, lambda: _blocks(model, part, "conditional",
                                                                  compute))))


def fitted(fit, source=None, *, prob: float = 0.95, path=None,
           model: RowModel | None = None):
    """Fitted values of the training rows, partition by partition: each row's expected
    outcome E[y | θ, b] with its levels' effects (``groups="conditional"``), as
    ``fit.predict()`` gives them in memory; the columns of :func:`predict`.

    ``source`` is the training data (default: the fit's, a distributed fit's data set or
    an in-memory fit's data as one partition); rows the fit dropped for missing values
    (``na_action="drop"``) are left out. ``path`` as :func:`predict`.
    """
    return _training_rows(fit, source, prob=prob, path=path, model=model, residual=False)


def residuals(fit, source=None, *, prob: float = 0.95, path=None,
              model: RowModel | None = None):
    """Residuals of the training rows, partition by partition: the draws of y_i − E[y_i | θ,
    b] summarised as :func:`fitted` (brms's ``residuals(type = "ordinary")``: ``estimate`` is
    y_i less the fitted estimate, the SD and interval are the fitted value's, reflected)."""
    return _training_rows(fit, source, prob=prob, path=path, model=model, residual=True)


def _training_rows(fit, source, *, prob: float, path, model: RowModel | None,
                   residual: bool):
    check_prob(prob)
    frame = _training(fit, source)
    _check_new_columns(frame.columns, PREDICTION_COLUMNS)
    with _cluster(fit):
        tasks = _tasks(frame, _training_summaries, model or row_model(fit), False,
                       path is not None,
                       prob=prob, residual=residual)
        return _as_rows(frame, tasks, PREDICTION_COLUMNS, path)


# ----------------------------------------------------------------------------- PPC


@dataclass(frozen=True)
class DrawStatistics:
    """Per posterior draw, the moments of rows (:class:`lmm_bayes.sums.Moments`, one column
    per draw: count, sums and sums of squares as exact pairs) and their least and largest
    values; parts of the rows add up to the whole's, whatever the order.

    Notes
    -----
    mean and SD (divisor n − 1) are those of :class:`lmm_bayes.sums.Moments`, whose sums
    carry their rounding errors (double-double), so the statistics of a data set do not
    depend on its partitioning, and a mean large against the SD keeps its digits.
    """

    moments: SumMoments
    low: np.ndarray
    high: np.ndarray

    @classmethod
    def of(cls, values: np.ndarray) -> DrawStatistics:
        """The statistics of ``values`` (S, m) over their m rows."""
        return cls(SumMoments.of(values.T), values.min(axis=1), values.max(axis=1))

    def __add__(self, other: DrawStatistics) -> DrawStatistics:
        return DrawStatistics(self.moments + other.moments, np.minimum(self.low, other.low),
                              np.maximum(self.high, other.high))

    def statistics(self) -> dict[str, np.ndarray]:
        """``mean``, ``sd``, ``min`` and ``max`` per draw, as :data:`lmm_bayes.ppc.STATISTICS`
        computes them on all rows at once."""
        return {"mean": self.moments.mean, "sd": self.moments.sd, "min": self.low,
                "max": self.high}


def _partition_moments(part, k, start, model: RowModel, *, seed):
    """The :class:`DrawStatistics` of one training partition's y and replicates, or None
    without fitted rows."""
    part = model.fitted_rows(part)
    if len(part) == 0:
        return None

    y = _in_partition(k, lambda: observed_response(model.design, model.family, part)[0])

    def compute(rows, where, draw):
        return DrawStatistics.of(y[None, where]), DrawStatistics.of(draw("response",
                                                           _keyed(seed, start, where)))
    blocks = _in_partition(k, lambda: _blocks(model, part, "conditional", compute))
    return reduce(lambda a, b: (a[0] + b[0], a[1] + b[1]), blocks)


def ppc_statistics(fit, source=None, *, random_seed: int | None = None,
                   model: RowModel | None = None
                   ) -> tuple[DrawStatistics, DrawStatistics]:
    """Posterior predictive statistics of the training rows, partition by partition: the
    moments of the observed y and of replicated y per posterior draw.

    Each partition draws a replicate of its rows per draw, y_rep ~ p(y | θ⁽ˢ⁾, b⁽ˢ⁾) (its
    levels' effects; :func:`lmm_bayes.predict.predict_draws`, ``kind="response"``,
    ``groups="conditional"``, row i's draws keyed by (``random_seed``, i)), and reduces
    them to :class:`DrawStatistics`, which are combined over partitions. Refused for a model
    whose replicates need rows together (:attr:`RowModel.ppc_obstacle`).

    Returns
    -------
    observed, replicated : DrawStatistics
        Of y (arrays of one) and of y_rep (arrays over the chain × draw draws).
    """
    import dask

    model = model or row_model(fit)
    if model.ppc_obstacle:
        raise DesignError(f"posterior predictive checks by partition are not available: "
                          f"{model.ppc_obstacle}")
    with _cluster(fit):
        tasks = _tasks(_training(fit, source), _partition_moments, model, True, True,
                       seed=_seed(random_seed))
        found = [p for p in dask.compute(*tasks) if p is not None]
    if not found:
        raise DesignError("no training rows to check: every partition is empty")
    return reduce(lambda a, b: (a[0] + b[0], a[1] + b[1]), found)


def ppc_pvalues(fit, source=None, stats: Sequence[str] = PARTITION_STATISTICS, *,
                random_seed: int | None = None, prob: float = 0.95,
                model: RowModel | None = None) -> pd.DataFrame:
    """Posterior predictive p-values from :func:`ppc_statistics`, in the layout of
    :func:`lmm_bayes.ppc.ppc_pvalues` (Gelman, Meng & Stern 1996): p = (1/S) Σ_s
    1[T(y_rep⁽ˢ⁾) ≥ T(y)]. ``stats`` are among ``mean``, ``sd``, ``min``, ``max``
    (``within_sd`` needs every level's sums per draw, which is not reduced by partition)."""
    unknown = [s for s in stats if s not in PARTITION_STATISTICS]
    if unknown:
        raise DesignError(f"statistic(s) {unknown} are not available by partition; choose "
                          f"from {list(PARTITION_STATISTICS)}")
    check_prob(prob)
    observed, replicated = ppc_statistics(fit, source, random_seed=random_seed, model=model)
    t_y, t_rep = observed.statistics(), replicated.statistics()
    return pvalue_table({s: float(t_y[s][0]) for s in stats}, {s: t_rep[s] for s in stats},
                        prob)


