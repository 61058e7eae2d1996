"""Predictions from posterior draws, for known levels, new levels and new individuals with a history.

For posterior draw s and a new row with fixed-effect covariates x and random-effect
covariates z_g of each grouping factor g, the linear predictor is

.. math::

    \\eta^{(s)} = x^\\top\\beta^{(s)} + \\sum_g z_g^\\top b^{(s)}_{g,\\ell_g} + o,

with o the row's offset (the formula's ``offset()`` terms evaluated on the new row; 0
without), and the prediction is the mean :math:`\\mu^{(s)} = g^{-1}(\\eta^{(s)})`
(``kind="mean"``) or a draw of the response around it (``kind="response"``). For an
ordinal model (the cumulative family) ``kind="mean"`` is the expected category score
E[y] = Σ_k k P(y = k | η, c), categories scored 1, …, K in their order, and
``kind="response"`` draws a category's score (``fit.category_probabilities`` gives each
category's probability; :func:`lmm_bayes.families.Cumulative.category_probabilities`); for
a censored response (:mod:`lmm_bayes.censoring`) both are of the latent, uncensored value.
The level effects
:math:`b_{g,\\ell}` come, by ``groups``:

- ``"conditional"``: each known level's posterior draws; an unseen level is an error;
- ``"new"``: known levels as above, and for an unseen level one draw per posterior draw from
  :math:`N(0, \\Sigma_g^{(s)})` shared by that level's rows (Gelman & Hill 2007, sec. 16.6);
- ``"population"``: zero for every factor;
- ``"marginal"``: the population-averaged mean, the mean over the random-effect
  distribution, ∫ g⁻¹(η + u) φ(u; 0, v) du (:func:`lmm_bayes.summaries.population_means`;
  Hedeker et al. 2018); for a Gaussian model (identity link) it equals ``"population"``.

Given a new individual's ``history`` (their observed rows), their effects are drawn from
:math:`p(b \\mid y_h, \\theta^{(s)})` for each posterior draw :math:`\\theta^{(s)}` — exact for a
Gaussian family (:func:`lmm_bayes.marginal.gaussian_conditional`), by importance resampling
otherwise — without refitting (dynamic prediction; Rizopoulos 2011, *Biometrics* 67(3)).
The posterior of θ is not updated by the history, which is right when one individual adds
little information about the population parameters.

With observation weights (:mod:`lmm_bayes.weights`) a new measurement (``kind="response"``)
of a Gaussian model has residual SD σ/√w on a row whose data have the weights column, and σ
(the SD of a row of weight 1) where the data have no such column; the other families'
prior weights do not change a new measurement's distribution. ``history=`` is not
available for a weighted model.

numpy and xarray only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import xarray as xr

from . import names
from .design import Design, GroupingFactor, evaluate_covariates, evaluate_offset
from .errors import DesignError, Setting
from .families import Family, get_family
from .posterior import PosteriorDraws
from .residuals import ResidualDesign, sigma_covariates
from .response import response_values
from .summaries.population import population_means
from .variables import VariableEvaluator, columns_used, level_label
from .weights import observation_weights, weighted_parameters

__all__ = ["KeyedRandom", "NewRows", "category_probability_draws", "linear_predictor",
           "new_rows", "predict_draws"]

Groups = Literal["conditional", "new", "population", "marginal"]
Kind = Literal["mean", "response"]

IMPORTANCE_PROPOSALS = 256


@dataclass(frozen=True)
class NewRows:
    """New data coded as the fitting data were.

    Attributes
    ----------
    X : ndarray (m, p)
    Z : dict of factor name to ndarray (m, q)
    codes : dict of factor name to ndarray (m,) of int
        Position of each row's level among the factor's known levels, −1 if unseen.
    labels : dict of factor name to ndarray (m,) of str
        Each row's level label (``"308"``, ``"A:1"`` for a nested factor).
    offset : ndarray (m,) or None
        Each row's offset (:attr:`lmm_bayes.design.Design.offset`); None without offsets.
    """

    X: np.ndarray
    Z: dict[str, np.ndarray]
    codes: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]
    offset: np.ndarray | None = None

    @property
    def n_rows(self) -> int:
        return len(self.X)


def sigma_rows(residuals: ResidualDesign | None, data: pd.DataFrame) -> np.ndarray | None:
    """The log-σ design of new rows under a sigma model, else None."""
    if residuals is None or residuals.sigma is None:
        return None
    return sigma_covariates(residuals.sigma, data.reset_index(drop=True))


@dataclass(frozen=True)
class KeyedRandom:
    """Random draws keyed by what they belong to, so that a row's prediction does not depend
    on the rows predicted with it (e.g. on how a data set is split into partitions).

    A new level ℓ of factor g takes its effects from a generator seeded by
    (``seed``, g, ℓ), the same in every call, and row i its response draws from one seeded
    by (``seed``, ``rows[i]``): ``rows`` holds each row's key, e.g. its position in the whole
    data set. Without ``rows`` only the levels are keyed (the response is not drawn).

    Notes
    -----
    Seeds are :class:`numpy.random.SeedSequence` entropy lists; a label enters as the first
    8 bytes of its SHA-256 digest, which is the same in every process (Python's ``hash`` of
    text is not).
    """

    seed: int
    rows: np.ndarray | None = None

    def level(self, factor: str, label: str) -> np.random.Generator:
        """The generator of level ``label``'s effects in ``factor``."""
        return np.random.default_rng([self.seed, 1, _digest(factor), _digest(label)])

    def row(self, position: int) -> np.random.Generator:
        """The generator of the response draws of the row at ``position`` (its key)."""
        return np.random.default_rng([self.seed, 2, int(self.rows[position])])


def _digest(text: str) -> int:
    """A 64-bit integer of ``text`` that is the same in every process."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


# ----------------------------------------------------------------------------- new data


def _check_columns(design: Design, data: pd.DataFrame, groups: Groups) -> None:
    """Every predictor, offset (and grouping) column present and complete, else
    DesignError."""
    formula = design.formula
    labels = [v for t in formula.fixed for v in t.factors]
    labels += [v for r in formula.random for t in r.terms for v in t.factors]
    if groups != "population":
        labels += [c for r in formula.random for c in r.group_columns]
    for label in dict.fromkeys(labels):
        _require_complete(label, data,
                          absent="the new data have no column {label!r}, which the model uses",
                          missing="column {column!r} of the new data is missing (NaN) in "
                                  "{count} row(s), first at position {first}")
    for label in formula.offsets:  # its column is easily forgotten: name the offset
        _require_complete(label, data,
                          absent="the new data have no column for the offset {label!r}, "
                                 "which the model adds to every prediction",
                          missing="column {column!r} of the offset is missing (NaN) in the "
                                  "new data in {count} row(s), first at position {first}")


def _require_complete(label: str, data: pd.DataFrame, *, absent: str, missing: str) -> None:
    """DesignError unless the columns behind ``label`` are in ``data`` without NaN; the
    messages are formatted with ``label``, and ``column``, ``count`` and ``first``."""
    columns = columns_used(label, data)
    if not columns and label not in data.columns:
        raise DesignError(absent.format(label=label))
    for column in columns:
        bad = data[column].isna().to_numpy()
        if bad.any():
            raise DesignError(missing.format(column=column, count=int(bad.sum()),
                                             first=int(np.flatnonzero(bad)[0])))


def _level_labels(design: Design, data: pd.DataFrame, name: str) -> np.ndarray:
    """Each row's level label of grouping factor ``name`` (columns joined by ':')."""
    rterm = next(r for r in design.formula.random if r.group == name)
    parts = [data[c].map(level_label).astype(str) for c in rterm.group_columns]
    joined = parts[0]
    for part in parts[1:]:
        joined = joined + ":" + part
    return joined.to_numpy()


def _require_rows(data, name: str) -> None:
    """DesignError unless ``data`` is a DataFrame with at least one row."""
    if not isinstance(data, pd.DataFrame):
        raise DesignError(f"{name} must be a pandas DataFrame, not {type(data).__name__}")
    if len(data) == 0:
        raise DesignError(f"no rows to predict: {name} has no rows")


def new_rows(design: Design, data: pd.DataFrame, groups: Groups = "new") -> NewRows:
    """Code ``data`` for prediction (see :class:`NewRows`); grouping columns are needed
    unless ``groups="population"``."""
    _require_rows(data, "data")
    data = data.reset_index(drop=True)
    _check_columns(design, data, groups)
    X, Z = evaluate_covariates(design, data)
    codes, labels = {}, {}
    for group in design.groups:
        if groups == "population":
            labels[group.name] = np.full(len(data), "", dtype=object)
            codes[group.name] = np.full(len(data), -1)
            continue
        labels[group.name] = _level_labels(design, data, group.name)
        position = {level: k for k, level in enumerate(group.levels)}
        codes[group.name] = np.array([position.get(v, -1) for v in labels[group.name]], int)
    return NewRows(X, Z, codes, labels, evaluate_offset(design, data))


# ----------------------------------------------------------------------------- effects


def new_level_effects(chol: np.ndarray, n_levels: int, rng: np.random.Generator) -> np.ndarray:
    """Effects of ``n_levels`` unseen levels, b = L ε with ε ~ N(0, I), per draw (S, n, q)."""
    eps = rng.standard_normal((chol.shape[0], n_levels, chol.shape[-1]))
    return np.einsum("sqk,snk->snq", chol, eps)


def _require_known(group: GroupingFactor, rows: NewRows) -> None:
    """DesignError if a row's level of ``group`` was not in the fitted data."""
    unseen = rows.codes[group.name] < 0
    if unseen.any():
        raise DesignError(f"level(s) {sorted(set(rows.labels[group.name][unseen]))} of "
                          f"{group.name!r} were not in the fitted data; set ",
                          Setting("groups", "new"), " (or ", Setting("groups", "population"),
                          ") to predict for them")


def _unseen_effects(draws: PosteriorDraws, group: GroupingFactor, rows: NewRows,
                    rng: np.random.Generator, given=None,
                    keyed: KeyedRandom | None = None) -> np.ndarray:
    """z_gᵀ b_g,ℓ on the rows of levels unseen in the fit, zero on the others, per draw
    (S, m): one draw of b_g,ℓ ~ N(0, Σ_g) per level, shared by its rows (from ``rng``, or
    from the level's own generator with ``keyed``), unless ``given`` = (labels, effects)
    holds the level's effects already drawn (from a history)."""
    name = group.name
    unseen = rows.codes[name] < 0
    out = np.zeros((draws.shape[0] * draws.shape[1], rows.n_rows))
    if not unseen.any():
        return out
    new_labels, which = np.unique(rows.labels[name][unseen], return_inverse=True)
    chol = draws.cholesky(name)
    if keyed is None:
        fresh = new_level_effects(chol, len(new_labels), rng)
    else:
        fresh = np.concatenate([new_level_effects(chol, 1, keyed.level(name, label))
                                for label in new_labels], axis=1)
    if given is not None:
        position = {lv: k for k, lv in enumerate(given[0])}
        for k, lv in enumerate(new_labels):
            if lv in position:
                fresh[:, k] = given[1][:, position[lv]]
    out[:, unseen] = np.einsum("smq,mq->sm", fresh[:, which], rows.Z[name][unseen])
    return out


def linear_predictor(draws: PosteriorDraws, design: Design, rows: NewRows, groups: Groups,
                     rng: np.random.Generator, conditioned=None, skip: str | None = None,
                     keyed: KeyedRandom | None = None) -> np.ndarray:
    """η per draw and row (S, m): the known levels' effects
    (:meth:`~lmm_bayes.posterior.PosteriorDraws.linear_predictor`), the rows' offset and,
    with ``groups="new"``,
    fresh effects of unseen levels (each from its own generator with ``keyed``);
    ``conditioned`` maps a factor to the (labels, effects)
    of new levels drawn given a history; ``skip`` leaves one factor out."""
    factors = [] if groups == "population" else [g for g in design.groups if g.name != skip]
    if groups == "conditional":
        for group in factors:
            _require_known(group, rows)
    eta = draws.linear_predictor(rows.X, [(g.name, rows.Z[g.name], rows.codes[g.name])
                                          for g in factors])
    for group in factors:
        eta += _unseen_effects(draws, group, rows, rng, (conditioned or {}).get(group.name),
                               keyed)
    if rows.offset is not None:
        eta += rows.offset
    return eta


# ----------------------------------------------------------------------------- history


def _history_factor(design: Design, rows: NewRows) -> GroupingFactor:
    """The one grouping factor whose levels in the history are all new."""
    if not design.groups:
        raise DesignError("history= needs a model with a grouping factor")
    targets = [g for g in design.groups if (rows.codes[g.name] < 0).any()]
    if len(targets) > 1:
        raise DesignError("history must contain new levels of one grouping factor only (the "
                          f"new individuals); new levels found in: {[g.name for g in targets]}")
    group = targets[0] if targets else design.groups[0]
    known = rows.codes[group.name] >= 0
    if known.any():
        raise DesignError(f"history rows of level(s) {sorted(set(rows.labels[group.name][known]))} "
                          f"of {group.name!r} were in the fitted data; history is for new "
                          "individuals (refit to add data for known ones)")
    return group


def observed_response(design: Design, family: Family, data: pd.DataFrame
                      ) -> tuple[np.ndarray, np.ndarray | None]:
    """The response of rows of new data (a history) and, for the binomial, their trials
    (:func:`lmm_bayes.response.response_values`); DesignError naming a missing column or
    the first row where the response is missing."""
    label = design.formula.response
    _require_complete(label, data, absent="history needs the response column {label!r}",
                      missing="history's response {column!r} is missing at position {first}")
    if design.categories is not None:
        return _category_positions(design.categories, label, data), None
    return response_values(label, VariableEvaluator(data), family.name, np.arange(len(data)))


def _category_positions(categories: tuple[str, ...], label: str,
                        data: pd.DataFrame) -> np.ndarray:
    """An ordinal response's positions 1, …, K among the fitted ``categories``, from its
    labels (an ordered Categorical's or whole numbers)."""
    values = (data[label] if label in data.columns
              else VariableEvaluator(data).variable(label).values)
    labels = [level_label(v) for v in values]
    unknown = sorted(set(labels) - set(categories))
    if unknown:
        raise DesignError(f"history's response {label!r} has value(s) {unknown} that are not "
                          f"among the fitted categories {list(categories)}")
    position = {category: k + 1.0 for k, category in enumerate(categories)}
    return np.array([position[lab] for lab in labels])


def new_trials(design: Design, data: pd.DataFrame) -> np.ndarray | None:
    """Trials of new rows of a binomial model, from its ``cbind`` columns (only their sum
    is used); None for other families."""
    if design.trials is None:
        return None
    try:
        return observed_response(design, get_family("binomial"), data)[1]
    except DesignError as err:
        raise DesignError("a new binomial response needs each row's number of trials: give "
                          f"the response columns (their sum is used); {err}") from None


def _importance_resample(draws: PosteriorDraws, group: GroupingFactor, family: Family,
                         y: np.ndarray, offset: np.ndarray, Z: np.ndarray, which: np.ndarray,
                         n_levels: int, aux: dict, rng: np.random.Generator) -> np.ndarray:
    """One draw per posterior draw of each new level's effects from p(b | y_h, θ), by
    sampling-importance-resampling with the prior N(0, Σ) as proposal (Rubin 1988)."""
    chol = draws.cholesky(group.name)
    out = np.empty((chol.shape[0], n_levels, chol.shape[-1]))
    for level in range(n_levels):
        mine = which == level
        proposals = new_level_effects(chol, IMPORTANCE_PROPOSALS, rng)          # (S, K, q)
        eta = offset[:, None, mine] + np.einsum("skq,mq->skm", proposals, Z[mine])
        own = {k: (v[:, None, mine] if v.ndim == 2 and v.shape[-1] == len(y) else v[:, None])
               for k, v in aux.items()}
        logw = family.logpdf(y[mine], family.inverse_link(eta), own).sum(axis=-1)
        weights = np.exp(logw - logw.max(axis=1, keepdims=True))
        cumulative = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
        pick = (cumulative < rng.random((len(weights), 1))).sum(axis=1)
        out[:, level] = proposals[np.arange(len(pick)), np.minimum(pick, IMPORTANCE_PROPOSALS - 1)]
    return out


def history_effects(draws: PosteriorDraws, design: Design, family: Family,
                    history: pd.DataFrame, rng: np.random.Generator,
                    residuals: ResidualDesign | None = None) -> dict:
    """Effects of the new individuals in ``history`` given their observed rows, one draw
    per posterior draw: ``{factor: (labels, effects (S, n_new, q))}``.

    Notes
    -----
    With o = Xβ + Σ_{h≠g} Z_h b_h the other parts of the linear predictor, a Gaussian
    family gives b_ℓ | y_ℓ, θ ~ N(θ A⁻¹ u, σ² θ A⁻¹ θᵀ) with θ = L/σ,
    A = I + θᵀ Z_ℓᵀ Z_ℓ θ and u = θᵀ Z_ℓᵀ (y_ℓ − o) (:func:`~lmm_bayes.marginal.gaussian_conditional`);
    other families and sigma models use :func:`_importance_resample`. A serial residual
    structure is not handled (the history's residuals would be correlated).
    """
    from .marginal import gaussian_conditional  # imports numba: only for a history

    if residuals is not None and residuals.serial is not None:
        raise DesignError("history= is not available with the residual structure "
                          f"{residuals.serial.spec.text!r}")
    if design.censoring is not None:
        raise DesignError("history= is not available for a censored response (cens()): the "
                          "history's censored rows would be taken as exact values")
    _require_rows(history, "history")
    history = history.reset_index(drop=True)
    rows = new_rows(design, history, "new")
    group = _history_factor(design, rows)
    y, trials = observed_response(design, family, history)
    offset = linear_predictor(draws, design, rows, "conditional", rng, skip=group.name)
    labels, which = np.unique(rows.labels[group.name], return_inverse=True)
    Z = rows.Z[group.name]
    sigma_X = sigma_rows(residuals, history)
    if family.name == "gaussian" and sigma_X is None:
        ZtZ = np.zeros((len(labels), Z.shape[1], Z.shape[1]))
        np.add.at(ZtZ, which, Z[:, :, None] * Z[:, None, :])
        scores = np.zeros((offset.shape[0], len(labels), Z.shape[1]))
        np.add.at(scores, (slice(None), which), (y - offset)[:, :, None] * Z[None])
        effects = gaussian_conditional(scores, ZtZ, draws.cholesky(group.name),
                                       draws.get(names.SIGMA), rng)
    else:
        aux = draws.family_parameters(family, sigma_X)
        if trials is not None:
            aux["trials"] = trials[None, :]
        effects = _importance_resample(draws, group, family, y, offset, Z, which,
                                       len(labels), aux, rng)
    return {group.name: (labels, effects)}


def _check_history_levels(conditioned: dict, rows: NewRows) -> None:
    """DesignError for history levels that no row to predict has: their history would be
    ignored and the prediction meant for them never made."""
    for name, (labels, _) in conditioned.items():
        unmatched = sorted(set(labels) - set(rows.labels[name]))
        if unmatched:
            raise DesignError(f"the history's level(s) {unmatched} of {name!r} match no row of "
                              "the data to predict; give rows to predict for them (with the "
                              f"same {name!r} labels) or leave them out of the history")


# ----------------------------------------------------------------------------- predictions


def _new_weights(data: pd.DataFrame, column: str | None) -> np.ndarray | None:
    """The weights of new rows from the model's weights ``column``, checked
    (:func:`lmm_bayes.weights.observation_weights`); None when the model has none or the
    data lack the column (a row of weight 1)."""
    if column is None or column not in data.columns:
        return None
    return observation_weights(data.reset_index(drop=True), column)


def _draw_response(family: Family, mean: np.ndarray, aux: dict, rng: np.random.Generator,
                   keyed: KeyedRandom | None) -> np.ndarray:
    """The family's draws around ``mean`` (S, m): from ``rng``, or with ``keyed`` row by
    row, each row from its own generator."""
    if keyed is None or keyed.rows is None:
        return family.draw(mean, aux, rng)
    m = mean.shape[1]
    if family.name == "gaussian":  # rng.normal(μ, σ) is μ + σ z: one call per row fewer
        z = np.stack([keyed.row(i).standard_normal(mean.shape[0]) for i in range(m)], axis=1)
        return mean + aux[names.SIGMA] * z
    out = np.empty_like(mean, dtype=float)
    for i in range(m):
        own = {k: (v[:, i:i + 1] if v.ndim == 2 and v.shape[1] == m else v)
               for k, v in aux.items()}
        out[:, i:i + 1] = family.draw(mean[:, i:i + 1], own, keyed.row(i))
    return out


def predict_draws(posterior: xr.Dataset, design: Design, family: Family, data: pd.DataFrame,
                  *, kind: Kind = "mean", groups: Groups = "new",
                  history: pd.DataFrame | None = None, random_seed: int | None = None,
                  residuals: ResidualDesign | None = None,
                  weights: str | None = None, keyed: KeyedRandom | None = None
                  ) -> xr.DataArray:
    """Posterior (predictive) draws for the rows of ``data`` (see the module docstring).

    Parameters
    ----------
    posterior : xarray.Dataset
        ``beta``, ``b_<g>``, ``sd_<g>`` (``corr_<g>``) and the family's parameters.
    design : Design
        The fitted model's design (codings, levels).
    family : Family
    data : pandas.DataFrame
        Rows to predict for: predictor columns and, unless ``groups="population"``, the
        grouping columns.
    kind : {"mean", "response"}
        The expected outcome μ, or a new observation (μ plus the family's noise).
    groups : {"conditional", "new", "population"}
    history : pandas.DataFrame, optional
        Observed rows (with the response) of new individuals to condition on.
    random_seed : int, optional
    residuals : ResidualDesign, optional
        The model's residual design: a sigma model gives each new row its own σ. With a
        residual structure a new measurement gets the stationary residual N(0, σ²), not
        conditioned on the individual's earlier residuals.
    weights : str, optional
        The model's weights column: with ``kind="response"`` a Gaussian row of ``data``
        that has it gets σ/√w (module docstring).
    keyed : KeyedRandom, optional
        Draw new levels' effects and (with its ``rows``) each row's response from their
        own generators instead of one from ``random_seed``, so that a row's prediction
        does not depend on the other rows of ``data`` (predictions by partition,
        :mod:`lmm_bayes.distributed.rows`).

    Returns
    -------
    xarray.DataArray
        Dims (chain, draw, obs); ``obs`` carries the index of ``data``.
    """
    if kind not in ("mean", "response"):
        raise DesignError(f"kind must be 'mean' or 'response', not {kind!r}")
    if groups not in ("conditional", "new", "population", "marginal"):
        raise DesignError("groups must be 'conditional', 'new', 'population' or 'marginal', "
                          f"not {groups!r}")
    rng = np.random.default_rng(random_seed)
    draws = PosteriorDraws(posterior)
    conditioned = None
    if history is not None:
        if groups != "new":
            raise DesignError("history conditions new individuals' effects: set ",
                              Setting("groups", "new"))
        if design.weights is not None:
            raise DesignError("history= is not available for a model with observation "
                              "weights")
        conditioned = history_effects(draws, design, family, history, rng, residuals)
    if groups == "marginal":
        if design.categories is not None:
            raise DesignError("groups='marginal' averages the mean over the random effects, "
                              "not an ordinal model's category scores; set ",
                              Setting("groups", "population"), " or ", Setting("groups", "new"))
        rows = new_rows(design, data, "population")
        mean = population_means(posterior, rows.X, rows.Z, family, offset=rows.offset,
                                random_seed=random_seed).reshape(-1, rows.n_rows)
    else:
        rows = new_rows(design, data, groups)
        _check_history_levels(conditioned or {}, rows)
        eta = linear_predictor(draws, design, rows, groups, rng, conditioned, keyed=keyed)
        mean = family.inverse_link(eta)
    aux = draws.family_parameters(family, sigma_rows(residuals, data))
    if kind == "response":
        aux = weighted_parameters(aux, _new_weights(data, weights), family)
        trials = new_trials(design, data.reset_index(drop=True))
        if trials is not None:
            aux["trials"] = trials[None, :]
        mean = _draw_response(family, mean, aux, rng, keyed)
    else:
        mean = family.expected_value(mean, aux)
    chains, n_draws = draws.shape
    return xr.DataArray(mean.reshape(chains, n_draws, -1), dims=("chain", "draw", names.OBS),
                        coords={"chain": posterior["chain"], "draw": posterior["draw"],
                                names.OBS: data.index.to_numpy()})


def category_probability_draws(posterior: xr.Dataset, design: Design, family: Family,
                               data: pd.DataFrame, *, groups: Groups = "new",
                               random_seed: int | None = None) -> xr.DataArray:
    """An ordinal model's P(y = k | η, c) for each row of ``data`` and category k, per draw.

    P(y = k) = F(c_k − η) − F(c_(k−1) − η) (:meth:`lmm_bayes.families.Cumulative.category_probabilities`),
    η the row's linear predictor with its levels' effects by ``groups`` as in
    :func:`predict_draws` (``"conditional"``, ``"new"`` or ``"population"``).

    Returns
    -------
    xarray.DataArray
        Dims (chain, draw, obs, category); ``obs`` carries the index of ``data``,
        ``category`` the category labels.

    Raises
    ------
    DesignError
        For a model that is not ordinal, or ``groups="marginal"``.
    """
    if design.categories is None:
        raise DesignError(f"category probabilities are an ordinal model's; this model's "
                          f"family is {family.name!r} (predict gives its mean)")
    if groups not in ("conditional", "new", "population"):
        raise DesignError("groups must be 'conditional', 'new' or 'population' for category "
                          f"probabilities, not {groups!r}")
    draws = PosteriorDraws(posterior)
    rows = new_rows(design, data, groups)
    eta = linear_predictor(draws, design, rows, groups, np.random.default_rng(random_seed))
    aux = draws.family_parameters(family)
    probabilities = family.category_probabilities(eta, aux[names.CUTPOINTS])
    chains, n_draws = draws.shape
    return xr.DataArray(probabilities.reshape(chains, n_draws, *probabilities.shape[1:]),
                        dims=("chain", "draw", names.OBS, "category"),
                        coords={"chain": posterior["chain"], "draw": posterior["draw"],
                                names.OBS: data.index.to_numpy(),
                                "category": list(design.categories)})
