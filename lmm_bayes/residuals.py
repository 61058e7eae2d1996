"""Residual structures and heterogeneous residual SDs: per-row design and numpy helpers.

A linear mixed model's residuals need not be independent and homoscedastic given the random
effects (Pinheiro & Bates 2000, ch. 5). Two extensions are specified here, without PyMC:

* correlation within an individual, e.g. ``residual="ar1(visit | subject)"`` (equally
  spaced, whole-number visits) or ``residual="car1(time | subject)"`` (continuous time):
  Corr(ε_i, ε_j) = φ^|t_i − t_j| for two rows of one individual, 0 across individuals;
* a log-linear model for the residual SD, ``sigma="~ arm"``: log σ_i = x_{σ,i}ᵀ β_σ
  (nlme's ``varIdent`` for a factor, ``varExp`` for a numeric covariate).

Together, ε_i = σ_i u_i with u of unit variance and the structure's correlation. What a
structure is (its parameters, likelihood, log-density, draws and conditionals) lives in
:mod:`lmm_bayes.structures`, one object per structure; here is the row bookkeeping every
structure reads: :class:`SerialDesign` holds each row's individual, the position of the
same individual's previous row and the time gap.

The options are parsed, without data, by :mod:`lmm_bayes.residual_spec`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from . import names
from .design import check_full_rank, model_matrix
from .errors import DesignError, Setting
from .formula import Term
from .residual_spec import ResidualSpec, SigmaSpec, parse_sigma
from .variables import DataSchema, VariableEvaluator, level_label

__all__ = [
    "ResidualDesign", "SerialDesign", "SigmaDesign", "build_residual_design",
    "residual_sd_draws", "serial_design", "sigma_covariates", "sigma_design",
]


# ----------------------------------------------------------------------------- data side


@dataclass(frozen=True)
class SerialDesign:
    """Per row, where it stands among its individual's rows in time order.

    Attributes
    ----------
    spec : ResidualSpec
    individual : ndarray of int, shape (n,)
        The row's individual, 0, 1, ... in the order of their labels.
    previous : ndarray of int, shape (n,)
        Row of the same individual's previous measurement; the row itself for a first one.
    gap : ndarray, shape (n,)
        Time since that measurement (1 for a first row, where it is not used).
    first : ndarray of bool, shape (n,)
        Whether the row is its individual's first measurement.
    position : ndarray of int, shape (n,)
        0 for the first measurement of an individual, 1 for the second...
    visit : ndarray of int, shape (n,)
        The row's time among the distinct times (levels, for a categorical time) in order.
    visit_labels : tuple of str
        Those times' labels.
    arm : ndarray of int, shape (n,)
        The row's level of the spec's ``by`` column (0 without one).
    arm_labels : tuple of str
        Those levels' labels (``("all",)`` without ``by``).
    """

    spec: ResidualSpec
    individual: np.ndarray
    previous: np.ndarray
    gap: np.ndarray
    first: np.ndarray
    position: np.ndarray
    visit: np.ndarray
    visit_labels: tuple[str, ...]
    arm: np.ndarray
    arm_labels: tuple[str, ...]


@dataclass(frozen=True)
class SigmaDesign:
    """The design of the log residual SD: log σ = X β_σ.

    Attributes
    ----------
    text : str
    terms : tuple of Term
    X : ndarray, shape (n, p_σ)
    names : tuple of str
        Column names (lme4 style: ``(Intercept)``, ``armB``).
    row_labels : ndarray of str, shape (n,)
        The row's values of the sigma variables, e.g. ``"arm=B"``.
    schema : DataSchema
        Levels and transform constants, to code new rows the same way.
    """

    text: str
    terms: tuple[Term, ...]
    X: np.ndarray
    names: tuple[str, ...]
    row_labels: np.ndarray
    schema: DataSchema


@dataclass(frozen=True)
class ResidualDesign:
    """Serial correlation and/or a sigma model; either may be None (not both)."""

    serial: SerialDesign | None
    sigma: SigmaDesign | None


def _individuals(spec: ResidualSpec, ev: VariableEvaluator) -> tuple[np.ndarray, list[str]]:
    parts = [ev.variable(col, categorical=True) for col in spec.group]
    codes = pd.DataFrame({i: p.values for i, p in enumerate(parts)})
    index = codes.groupby(list(codes.columns), sort=True).ngroup().to_numpy()
    labels = [":".join(p.levels[c] for p, c in zip(parts, row)) for row in codes.to_numpy()]
    return index, labels


def _times(spec: ResidualSpec, ev: VariableEvaluator) -> np.ndarray:
    """Each row's time: its value, or for a categorical time of a structure across visits
    its level's position (the levels in order)."""
    var = ev.variable(spec.time)
    if var.is_categorical and spec.structure.categorical_times:
        return var.values.astype(float)
    if var.is_categorical:
        raise DesignError(Setting("residual", spec.text),
                          f": the time variable {spec.time!r} must be numeric")
    whole = np.equal(np.round(var.values), var.values)
    if spec.structure.whole_times and not whole.all():
        row = int(np.flatnonzero(~whole)[0])
        raise DesignError(Setting("residual", spec.text),
                          f": {spec.structure.name} needs whole-number visits in {spec.time!r}, "
                          f"found {var.values[row]:g} at row position {row}; use car1 for "
                          "continuous times")
    return var.values


def _visits(spec: ResidualSpec, ev: VariableEvaluator,
            time: np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
    """Each row's visit (its time's position among the distinct times) and their labels."""
    var = ev.variable(spec.time)
    if var.is_categorical:
        return var.values.astype(int), tuple(var.levels)
    values, visit = np.unique(time, return_inverse=True)
    return visit, tuple(level_label(v) for v in values)


def _arms(spec: ResidualSpec, ev: VariableEvaluator, n: int) -> tuple[np.ndarray, tuple[str, ...]]:
    """Each row's level of ``by`` and their labels (one arm, "all", without ``by``)."""
    if spec.by is None:
        return np.zeros(n, int), ("all",)
    var = ev.variable(spec.by, categorical=True)
    return var.values.astype(int), tuple(var.levels)


def serial_design(spec: ResidualSpec, ev: VariableEvaluator) -> SerialDesign:
    """Order each individual's rows by time and link each to the previous one.

    Raises
    ------
    DesignError
        For a non-numeric time, non-whole visits under ``ar1``, or two rows of one
        individual at the same time (naming the individual and the time).
    """
    individual, labels = _individuals(spec, ev)
    time = _times(spec, ev)
    order = np.lexsort((time, individual))
    first_sorted = np.r_[True, individual[order][1:] != individual[order][:-1]]
    gap_sorted = np.r_[1.0, np.diff(time[order])]
    gap_sorted[first_sorted] = 1.0
    tied = ~first_sorted & (gap_sorted <= 0)
    if tied.any():
        row = order[np.flatnonzero(tied)[0]]
        raise DesignError(Setting("residual", spec.text),
                          f": individual {labels[row]!r} has two rows at {spec.time} = "
                          f"{level_label(time[row])}; each time must be distinct within an "
                          "individual")
    previous_sorted = np.where(first_sorted, order, np.r_[order[0], order[:-1]])
    starts = np.maximum.accumulate(np.where(first_sorted, np.arange(len(order)), 0))
    n = len(order)
    previous, gap, first, position = (np.empty(n, int), np.empty(n), np.empty(n, bool),
                                      np.empty(n, int))
    previous[order], gap[order], first[order] = previous_sorted, gap_sorted, first_sorted
    position[order] = np.arange(n) - starts
    arm, arm_labels = _arms(spec, ev, n)
    _check_arm_within_individual(spec, individual, arm, labels)
    serial = SerialDesign(spec, individual, previous, gap, first, position,
                          *_visits(spec, ev, time), arm, arm_labels)
    spec.structure.check_design(serial)
    return serial


def _check_arm_within_individual(spec: ResidualSpec, individual: np.ndarray, arm: np.ndarray,
                                 labels: list[str]) -> None:
    """Raise when an individual's rows lie in two arms of ``by``: each individual's
    residuals have one correlation."""
    first_arm = np.full(individual.max() + 1, -1)
    first_arm[individual[::-1]] = arm[::-1]
    moved = first_arm[individual] != arm
    if moved.any():
        row = int(np.flatnonzero(moved)[0])
        raise DesignError(Setting("residual", spec.text),
                          f": individual {labels[row]!r} has rows in two levels of "
                          f"{spec.by!r} (row position {row}); each individual needs one")


def _row_labels(terms: tuple[Term, ...], ev: VariableEvaluator, n: int) -> np.ndarray:
    variables = list(dict.fromkeys(f for t in terms for f in t.factors))
    pieces = []
    for label in variables:
        var = ev.variable(label)
        shown = (np.asarray(var.levels)[var.values] if var.is_categorical
                 else np.array([f"{v:g}" for v in var.values]))
        pieces.append(np.char.add(f"{label}=", shown.astype(str)))
    if not pieces:
        return np.full(n, "all", dtype=object)
    out = pieces[0].astype(object)
    for piece in pieces[1:]:
        out = out + ", " + piece.astype(object)
    return out


def sigma_design(sigma: SigmaSpec, ev: VariableEvaluator, n: int) -> SigmaDesign:
    """The log-σ design of ``sigma`` on the rows of ``ev`` (coded as the fixed effects are)."""
    columns, X = model_matrix(sigma.terms, ev, n)
    try:
        check_full_rank(X, columns)
    except DesignError as err:
        raise DesignError(Setting("sigma", sigma.text), f": {err}") from None
    return SigmaDesign(sigma.text, sigma.terms, X, columns, _row_labels(sigma.terms, ev, n),
                       ev.learnt_schema())


def implied_sigma(residual: ResidualSpec) -> SigmaSpec | None:
    """The sigma formula of a structure with one SD per visit (``us``, ``csh``, ``toeph``):
    ``~ 0 + C(visit)``, or ``~ 0 + C(visit):C(arm)`` with ``by = arm``; else None."""
    if not residual.structure.heterogeneous:
        return None
    cell = f"C({residual.time})" + (f":C({residual.by})" if residual.by else "")
    return parse_sigma(f"~ 0 + {cell}")


def build_residual_design(data: pd.DataFrame, rows: np.ndarray, *,
                          residual: ResidualSpec | None, sigma: SigmaSpec | None, factors=(),
                          reference=None) -> ResidualDesign | None:
    """The residual design on ``data.iloc[rows]`` (the rows the model design kept, after
    :func:`lmm_bayes.design.build_design` checked the options' ``columns`` for presence
    and missing values); None when neither option is given. A structure with one SD per
    visit brings its sigma formula (:func:`implied_sigma`)."""
    if residual is None and sigma is None:
        return None
    sigma = sigma or implied_sigma(residual)
    used = data.iloc[rows].reset_index(drop=True)
    serial = (serial_design(residual,
                            VariableEvaluator(used, factors=factors, reference=reference))
              if residual else None)
    sig = (sigma_design(sigma, VariableEvaluator(used, factors=factors, reference=reference),
                        len(used)) if sigma else None)
    return ResidualDesign(serial, sig)


def sigma_covariates(sigma: SigmaDesign, data: pd.DataFrame) -> np.ndarray:
    """The log-σ design of new rows, coded as the fitting rows were (levels, reference
    levels and ``center``/``scale`` constants from ``sigma.schema``).

    Returns
    -------
    ndarray, shape (m, p_σ)
        Columns in the order of ``sigma.names``.
    """
    data = data.reset_index(drop=True)
    ev = VariableEvaluator(data, factors=sigma.schema.levels, schema=sigma.schema)
    return model_matrix(sigma.terms, ev, len(data))[1]


# ----------------------------------------------------------------------------- draws


def residual_sd_draws(posterior: xr.Dataset, sigma_X: np.ndarray | None = None) -> np.ndarray:
    """Per posterior draw, the residual SD of each row.

    Parameters
    ----------
    posterior : xarray.Dataset
        With ``sigma_beta`` (dim ``sigma_fixed``) for a sigma model, else ``sigma``.
    sigma_X : ndarray, shape (m, p_σ), optional
        Log-σ design of the rows (:func:`sigma_covariates`); needed with a sigma model.

    Returns
    -------
    ndarray, shape (chain, draw, m)
        σ_i = exp(x_{σ,i}ᵀ β_σ) per draw; without a sigma model the one σ repeated over the
        m rows (m = 1 when ``sigma_X`` is None).

    Notes
    -----
    log σ_i = x_{σ,i}ᵀ β_σ, the log-linear variance function of nlme's ``varIdent`` (a
    factor) and ``varExp`` (a numeric covariate) (Pinheiro & Bates 2000, §5.2).
    """
    if names.SIGMA_BETA not in posterior:
        sigma = posterior[names.SIGMA].transpose("chain", "draw").values
        m = 1 if sigma_X is None else len(sigma_X)
        return np.repeat(sigma[..., None], m, axis=-1)
    if sigma_X is None:
        raise ValueError("the model has a sigma formula: give sigma_X (sigma_covariates)")
    beta = posterior[names.SIGMA_BETA].transpose("chain", "draw", names.SIGMA_FIXED).values
    return np.exp(np.einsum("cdp,mp->cdm", beta, np.asarray(sigma_X, dtype=float)))
