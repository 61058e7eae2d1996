"""The design of a joint model: the marker's design (an :class:`lmm_bayes.LMM`'s), the
event data, and the marker's fixed- and random-effect design rows of every individual at
every quadrature node of the cumulative hazard.

The marker of individual i at time t is m_i(t) = x_i(t)ᵀβ + z_i(t)ᵀb_i (Rizopoulos 2012,
section 4.1), x_i(t) and z_i(t) the longitudinal formula's rows with the time column set to
t and every other covariate at its value on the individual's first visit. Covariates other
than time must therefore be constant within an individual (:func:`check_baseline`): a
joint model with other time-varying covariates needs their values at every time of the
hazard's integral, which the visits do not give. Terms that transform time (``poly(time,
2)``, ``I(time^2)``, interactions) are evaluated at the nodes through the design's schema
(:func:`lmm_bayes.design.evaluate_covariates`), as at the visits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..design import Design, evaluate_covariates, model_matrix
from ..errors import DesignError
from ..formula import INTERCEPT
from ..variables import DataSchema, VariableEvaluator, columns_used, level_label
from .spec import JointSpec

__all__ = ["JointDesign", "MarkerRows", "Nodes", "build_joint_design", "check_baseline",
           "marker_rows", "quadrature", "survival_matrix"]

#: step of the central difference d m/dt = (m(t + h) − m(t − h))/2h, relative to the
#: largest visit time; exact for terms up to quadratic in time, error O(h²) otherwise
SLOPE_STEP = 1e-4
MAX_NAMED = 5


@dataclass(frozen=True)
class Nodes:
    """Gauss–Legendre nodes of ∫ h(u) du over each individual's interval, split at the
    piecewise baseline's cut points: ``times``, ``weights`` and ``interval`` (the baseline
    interval of each node), each (n, M). Pieces outside an individual's interval have
    weight 0 (their nodes sit at its end, so every node is a valid time)."""

    times: np.ndarray
    weights: np.ndarray
    interval: np.ndarray


def quadrature(lower: np.ndarray, upper: np.ndarray, points: int,
               cuts: tuple[float, ...] = ()) -> Nodes:
    """Nodes and weights of ∫_lower^upper f(u) du, per row, for f smooth between ``cuts``.

    Notes
    -----
    On each piece [a, b] of [lower, upper] between cut points, Gauss–Legendre with
    ``points`` nodes (``numpy.polynomial.legendre.leggauss``: x_j, w_j on [−1, 1]):
    ∫_a^b f ≈ Σ_j (b − a)/2 · w_j f((b − a)/2 · x_j + (a + b)/2), exact for polynomials of
    degree 2·points − 1 (Press et al. 2007, *Numerical Recipes*, section 4.6). Splitting at
    the cut points keeps a piecewise-constant baseline hazard's jumps off the nodes'
    interior, as JM does (Rizopoulos 2010, *J. Stat. Softw.* 35(9), section 2).
    """
    x, w = np.polynomial.legendre.leggauss(points)
    lower, upper = np.asarray(lower, float), np.asarray(upper, float)
    edges = np.array([0.0, *cuts, np.inf])
    a = np.clip(edges[None, :-1], lower[:, None], upper[:, None])     # (n, K)
    b = np.clip(edges[None, 1:], lower[:, None], upper[:, None])
    half = (b - a) / 2
    times = (half[:, :, None] * x + (a + b)[:, :, None] / 2)
    weights = half[:, :, None] * w
    times = np.where(half[:, :, None] > 0, times, upper[:, None, None])
    interval = np.broadcast_to(np.arange(len(edges) - 1)[None, :, None], times.shape)
    n = len(lower)
    return Nodes(times.reshape(n, -1), weights.reshape(n, -1), interval.reshape(n, -1).copy())


@dataclass(frozen=True)
class MarkerRows:
    """The marker's design rows at given times of each individual: ``X`` (n, M, p) and
    ``Z`` (n, M, q), and with ``derivative`` their derivatives in time ``dX``, ``dZ``."""

    X: np.ndarray
    Z: np.ndarray
    dX: np.ndarray | None = None
    dZ: np.ndarray | None = None


def _evaluate(design: Design, group: str, baseline: pd.DataFrame, time: str,
              times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n, m = times.shape
    frame = baseline.iloc[np.repeat(np.arange(n), m)].reset_index(drop=True)
    frame[time] = times.ravel()
    X, Z = evaluate_covariates(design, frame)
    return X.reshape(n, m, -1), Z[group].reshape(n, m, -1)


def marker_rows(design: Design, baseline: pd.DataFrame, time: str, times: np.ndarray, *,
                derivative: bool = False, step: float | None = None) -> MarkerRows:
    """x_i(t) and z_i(t) (and their time derivatives) at ``times`` (n, M) for the n
    individuals whose first-visit rows are ``baseline``, coded as the fitting data were.

    The derivatives are central differences (x(t + h) − x(t − h))/2h with h = ``step``
    (default :data:`SLOPE_STEP` × the largest time), through the same schema, so that any
    transform of time in the formula is differentiated as it is evaluated."""
    group = design.groups[0].name
    X, Z = _evaluate(design, group, baseline, time, times)
    if not derivative:
        return MarkerRows(X, Z)
    h = step if step is not None else SLOPE_STEP * max(1.0, float(np.max(np.abs(times))))
    X_up, Z_up = _evaluate(design, group, baseline, time, times + h)
    X_down, Z_down = _evaluate(design, group, baseline, time, times - h)
    return MarkerRows(X, Z, (X_up - X_down) / (2 * h), (Z_up - Z_down) / (2 * h))


def _rows_named(positions: np.ndarray) -> str:
    shown = ", ".join(str(int(p)) for p in positions[:MAX_NAMED])
    more = f" and {len(positions) - MAX_NAMED} more" if len(positions) > MAX_NAMED else ""
    return f"{shown}{more}"


def check_baseline(spec: JointSpec, data_long: pd.DataFrame) -> None:
    """Raise unless every covariate of the longitudinal formula other than time is constant
    within each individual (see the module notes), naming the column and an individual."""
    formula = spec.longitudinal
    skip = {formula.response, spec.id, spec.time}
    for label in formula.variables:
        for column in columns_used(label, data_long):
            if column in skip:
                continue
            counts = data_long.groupby(spec.id, sort=False)[column].nunique(dropna=False)
            if (counts > 1).any():
                who = level_label(counts.index[int(np.argmax(counts.to_numpy() > 1))])
                raise DesignError(
                    f"the covariate {column!r} varies within {spec.id} {who!r}; a joint model "
                    f"evaluates the marker between visits from each individual's first visit "
                    f"with only {spec.time!r} changing, so covariates other than time must be "
                    f"constant within an individual (a time-varying covariate's values between "
                    f"visits are unknown)")


def survival_matrix(spec: JointSpec, data: pd.DataFrame, schema: DataSchema | None = None
                    ) -> tuple[tuple[str, ...], np.ndarray, DataSchema]:
    """The survival formula's design matrix on ``data`` (one row per individual): column
    names, matrix and the schema to code new individuals alike. The piecewise baseline's
    log hazards take the intercept's place, so its matrix has the columns coded with an
    intercept (treatment contrasts) less the intercept's."""
    factors = schema.levels if schema is not None else ()
    ev = VariableEvaluator(data.reset_index(drop=True), factors=factors, schema=schema)
    names, W = model_matrix(spec.survival.fixed, ev, len(data))
    if spec.baseline == "piecewise":  # coded with the intercept, as ordinal::clm codes
        keep = [j for j, name in enumerate(names) if name != INTERCEPT]
        names, W = tuple(names[j] for j in keep), W[:, keep]
    return names, W, ev.learnt_schema() if schema is None else schema


@dataclass(frozen=True)
class JointDesign:
    """Everything the joint model needs from the event data, in the order of the
    longitudinal design's levels of ``id`` (``individuals``).

    Attributes
    ----------
    individuals : tuple of str
        Level labels of ``id``: the rows of ``b_<id>`` and of every array here.
    event_time, event : ndarray (n,)
        T_i and δ_i.
    survival_names : tuple of str
        Columns of ``W`` (``(Intercept)`` first for the Weibull baseline).
    W : ndarray (n, r)
    survival_schema : DataSchema
    baseline : pandas.DataFrame
        Each individual's first visit row of the longitudinal data.
    nodes : Nodes
        Of ∫_0^{T_i} h_i(u) du.
    at_nodes, at_event : MarkerRows
        The marker's design at the nodes (n, M, ·) and at T_i (n, 1, ·).
    cuts : tuple of float
        Interior cut points of the piecewise baseline (empty for the Weibull).
    """

    individuals: tuple[str, ...]
    event_time: np.ndarray
    event: np.ndarray
    survival_names: tuple[str, ...]
    W: np.ndarray
    survival_schema: DataSchema
    baseline: pd.DataFrame
    nodes: Nodes
    at_nodes: MarkerRows
    at_event: MarkerRows
    cuts: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.individuals)


def _event_rows(spec: JointSpec, data_event: pd.DataFrame,
                individuals: tuple[str, ...]) -> pd.DataFrame:
    """``data_event``'s row of each individual, in the order of ``individuals``; raise on
    a missing column, a repeated or missing individual, or one without visits."""
    surv = spec.survival
    missing = [c for c in (spec.id, surv.time, surv.event) if c not in data_event.columns]
    if missing:
        raise DesignError(f"column(s) {missing} not found in data_event (columns: "
                          f"{list(data_event.columns)})")
    labels = data_event[spec.id].map(level_label)
    repeated = labels[labels.duplicated()].unique().tolist()
    if repeated:
        raise DesignError(f"data_event has more than one row for {spec.id} {repeated[:MAX_NAMED]}; "
                          "it needs one row per individual")
    known = set(labels)
    absent = [i for i in individuals if i not in known]
    if absent:
        raise DesignError(f"{spec.id} {absent[:MAX_NAMED]}{' ...' if len(absent) > MAX_NAMED else ''} "
                          f"of data_long have no row in data_event ({len(absent)} in all)")
    extra = sorted(known - set(individuals))
    if extra:
        raise DesignError(f"{spec.id} {extra[:MAX_NAMED]} of data_event have no visits in "
                          "data_long (no marker to model); remove them or add their visits")
    position = {label: k for k, label in enumerate(labels)}
    return data_event.iloc[[position[i] for i in individuals]].reset_index(drop=True)


def event_data(spec: JointSpec, events: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """T_i and δ_i, checked: finite positive times, events 0 or 1 (naming the rows)."""
    surv = spec.survival
    time = pd.to_numeric(events[surv.time], errors="coerce").to_numpy(float)
    bad = np.flatnonzero(~(np.isfinite(time) & (time > 0)))
    if len(bad):
        raise DesignError(f"event times {surv.time!r} must be positive numbers; {spec.id} "
                          f"{[level_label(v) for v in events[spec.id].iloc[bad[:MAX_NAMED]]]} "
                          f"have {events[surv.time].iloc[bad[:MAX_NAMED]].tolist()}")
    raw = events[surv.event]
    event = pd.to_numeric(raw.astype(float) if raw.dtype == bool else raw,
                          errors="coerce").to_numpy(float)
    bad = np.flatnonzero(~np.isin(event, (0.0, 1.0)))
    if len(bad):
        raise DesignError(f"the event column {surv.event!r} must hold 1 (event) or 0 "
                          f"(censored); {spec.id} "
                          f"{[level_label(v) for v in events[spec.id].iloc[bad[:MAX_NAMED]]]} "
                          f"have {raw.iloc[bad[:MAX_NAMED]].tolist()}")
    if not event.any():
        raise DesignError(f"the event column {surv.event!r} has no events (all 0): the "
                          "hazard cannot be estimated")
    return time, event


def check_visits(spec: JointSpec, data_long: pd.DataFrame, design: Design,
                 individuals: tuple[str, ...], event_time: np.ndarray) -> None:
    """Raise naming the rows of ``data_long`` whose visit comes after the individual's
    event or censoring time (the marker is observed only while the individual is at
    risk), or before time 0."""
    rows = data_long.iloc[design.rows]
    times = pd.to_numeric(rows[spec.time], errors="coerce").to_numpy(float)
    index = design.groups[0].index
    before = np.flatnonzero(times < 0)
    if len(before):
        raise DesignError(f"visit times {spec.time!r} must be 0 or more (time 0 is the start "
                          f"of follow-up); rows {_rows_named(design.rows[before])} of data_long "
                          "are negative")
    after = np.flatnonzero(times > event_time[index] * (1 + 1e-12))
    if len(after):
        raise DesignError(f"rows {_rows_named(design.rows[after])} of data_long are visits "
                          f"after the individual's event or censoring time "
                          f"({spec.survival.time!r} in data_event; e.g. {spec.id} "
                          f"{individuals[index[after[0]]]!r}: visit at {times[after[0]]:g}, "
                          f"event time {event_time[index[after[0]]]:g}); remove them")


def _cuts(spec: JointSpec, event_time: np.ndarray, event: np.ndarray) -> tuple[float, ...]:
    """The piecewise baseline's interior cut points: given, or the quantiles k/K of the
    observed event times (JM's choice)."""
    if spec.baseline != "piecewise":
        return ()
    if isinstance(spec.knots, tuple):
        return spec.knots
    quantiles = np.quantile(event_time[event == 1], np.arange(1, spec.knots) / spec.knots)
    cuts = tuple(float(c) for c in np.unique(quantiles) if c > 0)
    if len(cuts) < spec.knots - 1:
        raise DesignError(f"knots={spec.knots}: the event times give only {len(cuts) + 1} "
                          "distinct intervals; ask for fewer")
    return cuts


def first_visits(spec: JointSpec, data_long: pd.DataFrame,
                 individuals: tuple[str, ...]) -> pd.DataFrame:
    """Each individual's earliest visit row, in the order of ``individuals``."""
    labels = data_long[spec.id].map(level_label)
    times = pd.to_numeric(data_long[spec.time], errors="coerce")
    order = pd.DataFrame({"label": labels.to_numpy(), "time": times.to_numpy(),
                          "row": np.arange(len(data_long))}).sort_values(["label", "time"])
    first = order.drop_duplicates("label").set_index("label")["row"]
    return data_long.iloc[first.loc[list(individuals)].to_numpy()].reset_index(drop=True)


def build_joint_design(spec: JointSpec, design: Design, data_long: pd.DataFrame,
                       data_event: pd.DataFrame) -> JointDesign:
    """The joint design of ``spec`` given the longitudinal ``design`` (built on
    ``data_long`` by :class:`lmm_bayes.LMM`) and the event data.

    Raises
    ------
    DesignError
        A column missing from ``data_event``; an individual of ``data_long`` without an event
        row (named), or one of ``data_event`` without visits; a repeated individual in
        ``data_event``; an event time that is not positive, an event indicator other than
        0/1, no events; a visit after the individual's event time or before 0 (rows named);
        a covariate other than time that varies within an individual.
    """
    if not isinstance(data_event, pd.DataFrame):
        raise DesignError(f"data_event must be a pandas DataFrame, not "
                          f"{type(data_event).__name__}")
    if spec.time not in data_long.columns:
        raise DesignError(f"the time column {spec.time!r} is not in data_long (columns: "
                          f"{list(data_long.columns)})")
    check_baseline(spec, data_long)
    individuals = design.groups[0].levels
    events = _event_rows(spec, data_event, individuals)
    event_time, event = event_data(spec, events)
    check_visits(spec, data_long, design, individuals, event_time)
    names, W, schema = survival_matrix(spec, events)
    baseline = first_visits(spec, data_long, individuals)
    cuts = _cuts(spec, event_time, event)
    nodes = quadrature(np.zeros(len(individuals)), event_time, spec.quadrature_points, cuts)
    slope = spec.association in ("slope", "value+slope")
    at_nodes = marker_rows(design, baseline, spec.time, nodes.times, derivative=slope)
    at_event = marker_rows(design, baseline, spec.time, event_time[:, None], derivative=slope)
    return JointDesign(individuals, event_time, event, names, W, schema, baseline, nodes,
                       at_nodes, at_event, cuts)
