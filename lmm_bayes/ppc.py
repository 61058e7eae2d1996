"""Posterior predictive checks and pointwise log-likelihoods, from posterior draws.

Replicated data y_rep ~ p(y_rep | θ⁽ˢ⁾, b⁽ˢ⁾) on the fitted rows are compared with the observed
y through test statistics T; the posterior predictive p-value is
p = P(T(y_rep) ≥ T(y) | y), estimated by the share of draws (Gelman, Meng & Stern 1996,
*Statistica Sinica* 6; Gelman et al. 2013, *Bayesian Data Analysis*, sec. 6.3). Values near 0
or 1 flag a feature of the data the model does not reproduce.

numpy and xarray only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from . import names
from .censoring import censor, censored_logpdf
from .design import Design
from .errors import DesignError
from .families import Family
from .posterior import PosteriorDraws
from .residuals import ResidualDesign, SerialDesign, residual_sd_draws
from .structures import by_individual
from .summaries.draws import check_prob
from .weights import weighted_loglik, weighted_parameters

__all__ = ["STATISTICS", "fitted_linear_predictor", "pointwise_loglik", "ppc_pvalues",
           "pvalue_table", "replicate", "statistic", "with_exact_pointwise"]

CHUNK_ROWS = 4096


def _within_sd(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Pooled within-group SD √(Σ_ℓ Σ_i (y_i − ȳ_ℓ)² / (n − L)) over the last axis."""
    n_levels = index.max() + 1
    counts = np.bincount(index, minlength=n_levels)
    flat = values.reshape(-1, values.shape[-1])
    sums = np.stack([np.bincount(index, weights=row, minlength=n_levels) for row in flat])
    means = sums / np.maximum(counts, 1)
    squares = ((flat - means[:, index]) ** 2).sum(axis=-1)
    return np.sqrt(squares / (len(index) - (counts > 0).sum())).reshape(values.shape[:-1])


STATISTICS: dict[str, Callable] = {
    "mean": lambda v, index: v.mean(axis=-1),
    "sd": lambda v, index: v.std(axis=-1, ddof=1),
    "min": lambda v, index: v.min(axis=-1),
    "max": lambda v, index: v.max(axis=-1),
    "within_sd": _within_sd,
}


def statistic(values: np.ndarray, name: str, index: np.ndarray | None = None) -> np.ndarray:
    """Test statistic ``name`` over the last axis (rows); ``within_sd`` needs each row's level
    ``index`` in a grouping factor."""
    if name not in STATISTICS:
        raise DesignError(f"unknown statistic {name!r}; choose from {list(STATISTICS)}")
    if name == "within_sd" and index is None:
        raise DesignError("statistic 'within_sd' needs a grouping factor (group=...)")
    return STATISTICS[name](np.asarray(values, float), index)


def fitted_linear_predictor(draws: PosteriorDraws, design: Design, rows: slice) -> np.ndarray:
    """η = Xβ + Σ_g Z_g b_g + offset on fitted ``rows``, per draw (S, len(rows))."""
    eta = draws.linear_predictor(design.X[rows], [(g.name, g.Z[rows], g.index[rows])
                                                  for g in design.groups])
    return eta if design.offset is None else eta + design.offset[rows]


def _by_rows(posterior: xr.Dataset, design: Design, compute) -> xr.DataArray:
    """Assemble (chain, draw, obs) from ``compute(draws, eta, rows)`` over chunks of rows."""
    draws = PosteriorDraws(posterior)
    parts = []
    for start in range(0, design.n_obs, CHUNK_ROWS):
        rows = slice(start, min(start + CHUNK_ROWS, design.n_obs))
        parts.append(compute(draws, fitted_linear_predictor(draws, design, rows), rows))
    chains, n_draws = draws.shape
    values = np.concatenate(parts, axis=1).reshape(chains, n_draws, design.n_obs)
    return xr.DataArray(values, dims=("chain", "draw", names.OBS),
                        coords={"chain": posterior["chain"], "draw": posterior["draw"],
                                names.OBS: np.arange(design.n_obs)})


def _parameters(draws: PosteriorDraws, design: Design, family: Family,
                residuals: ResidualDesign | None, rows: slice) -> dict:
    """The family's parameters on fitted ``rows``: σ (per row with a sigma model), α, and
    the binomial's trials."""
    sigma_X = residuals.sigma.X[rows] if residuals is not None and residuals.sigma else None
    aux = draws.family_parameters(family, sigma_X)
    if design.trials is not None:
        aux["trials"] = design.trials[rows][None, :]
    return aux


def _rows(design: Design, rows: slice) -> np.ndarray | None:
    """The observation weights of fitted ``rows``, or None without weights."""
    return None if design.weights is None else design.weights[rows]


def _structure_draws(posterior: xr.Dataset, serial: SerialDesign,
                     rng: np.random.Generator) -> np.ndarray:
    """Unit-scale residuals u (S, n) of every fitted row from the residual structure, one
    set per posterior draw (each individual's rows drawn together)."""
    draws = PosteriorDraws(posterior)
    structure = serial.spec.structure
    values = {p.name: draws.get(p.name, *_own_dims(posterior[p.name]))
              for p in structure.parameters}
    return structure.draw(serial, values, rng, size=(draws.shape[0] * draws.shape[1],))


def _own_dims(values: xr.DataArray) -> tuple[str, ...]:
    """A parameter's dims besides the chain and the draw."""
    return tuple(d for d in values.dims if d not in ("chain", "draw"))


def replicate(posterior: xr.Dataset, design: Design, family: Family,
              rng: np.random.Generator, residuals: ResidualDesign | None = None
              ) -> xr.DataArray:
    """Replicated responses on the fitted rows, one set per posterior draw (chain, draw, obs).

    Notes
    -----
    With a residual structure (Gaussian family) y_rep = η + σ u, u drawn from the structure
    (:meth:`lmm_bayes.structures.ResidualStructure.draw`) given each draw's parameters.
    A censored response's replicates are the latent draws censored as each row was
    (:func:`lmm_bayes.censoring.censor`), so that they look like the observed data.
    With precision weights (Gaussian) row i's σ is σ/√w_i; prior weights (the other
    families) leave the draws the family's (:mod:`lmm_bayes.weights`).
    """
    serial = residuals.serial if residuals is not None else None
    u = None if serial is None else _structure_draws(posterior, serial, rng)
    censoring = design.censoring

    def compute(draws, eta, rows):
        aux = weighted_parameters(_parameters(draws, design, family, residuals, rows),
                                  _rows(design, rows), family)
        if u is not None:
            return eta + aux[names.SIGMA] * u[:, rows]
        latent = family.draw(family.inverse_link(eta), aux, rng)
        if censoring is None:
            return latent
        return censor(latent, design.y[rows], censoring.kind[rows], censoring.upper[rows])
    return _by_rows(posterior, design, compute)


def pointwise_loglik(posterior: xr.Dataset, design: Design, family: Family,
                     residuals: ResidualDesign | None = None) -> xr.DataArray:
    """log p(y_i | θ⁽ˢ⁾, b⁽ˢ⁾) per draw and fitted row, for PSIS-LOO (Vehtari, Gelman & Gabry
    2017, *Statistics and Computing* 27): conditional on the random effects, so LOO predicts
    a left-out observation of a known level. Not with a residual structure, whose rows
    are not conditionally independent. A censored row's is the log-probability of its
    interval (:func:`lmm_bayes.censoring.censored_logpdf`). With observation weights, a
    row's term of the weighted likelihood (:func:`lmm_bayes.weights.weighted_loglik`):
    log N(y_i; μ_i, σ²/w_i), or w_i log p(y_i | μ_i) for prior weights."""
    if residuals is not None and residuals.serial is not None:
        raise DesignError("LOO by observation is not available with the residual structure "
                          f"{residuals.serial.spec.text!r} (the rows are not conditionally "
                          "independent); leave out whole individuals, by='individual'")

    censoring = design.censoring

    def compute(draws, eta, rows):
        aux = _parameters(draws, design, family, residuals, rows)
        if censoring is not None:  # Gaussian (identity link): the mean is η
            aux = weighted_parameters(aux, _rows(design, rows), family)
            return censored_logpdf(design.y[rows], eta, aux[names.SIGMA],
                                   censoring.kind[rows], censoring.upper[rows])
        return weighted_loglik(family, design.y[rows], family.inverse_link(eta), aux,
                               _rows(design, rows))
    return _by_rows(posterior, design, compute)


def individual_loglik(posterior: xr.Dataset, design: Design, family: Family,
                      residuals: ResidualDesign) -> xr.DataArray:
    """log p(y_i | θ⁽ˢ⁾, b⁽ˢ⁾) of each individual i of the residual structure, all its rows
    together, per draw: the unit of PSIS-LOO when the rows of an individual are correlated.

    Returns
    -------
    xarray.DataArray
        Dims (chain, draw, ``individual``), individuals in the order of
        :attr:`lmm_bayes.residuals.SerialDesign.individual`.

    Notes
    -----
    With y_ij = η_ij + σ_ij u_ij, log p(y_i) = log p(u_i) − Σ_j log σ_ij, log p(u_i) the
    structure's density (:meth:`lmm_bayes.structures.ResidualStructure.logpdf`). Without
    random effects (the MMRM) the individuals are independent given θ and this is
    leave-one-individual-out; with them, it predicts a new individual's rows given its
    level's effects.
    """
    serial = residuals.serial
    structure = serial.spec.structure

    residual = _by_rows(posterior, design, lambda d, eta, rows: design.y[rows] - eta).values
    sigma_X = residuals.sigma.X if residuals.sigma is not None else None
    sd = weighted_parameters({names.SIGMA: residual_sd_draws(posterior, sigma_X)},
                             design.weights, family)[names.SIGMA]
    sd = np.broadcast_to(sd, residual.shape).reshape(-1, design.n_obs)
    draws = PosteriorDraws(posterior)
    values = {p.name: draws.get(p.name, *_own_dims(posterior[p.name]))
              for p in structure.parameters}
    u = residual.reshape(-1, design.n_obs) / sd
    loglik = structure.logpdf(u, serial, values) - by_individual(np.log(sd), serial)
    chains, n_draws = draws.shape
    return xr.DataArray(loglik.reshape(chains, n_draws, -1),
                        dims=("chain", "draw", names.INDIVIDUAL),
                        coords={"chain": posterior["chain"], "draw": posterior["draw"]})


def ppc_pvalues(y: np.ndarray, y_rep: np.ndarray, stats: Sequence[str] = ("mean", "sd", "min",
                "max"), index: np.ndarray | None = None, prob: float = 0.95) -> pd.DataFrame:
    """Posterior predictive p-values of test statistics.

    Parameters
    ----------
    y : ndarray (n,)
    y_rep : ndarray (S, n)
    stats : sequence of str
        Names in :data:`STATISTICS`.
    index : ndarray (n,), optional
        Level of each row, for ``within_sd``.

    Returns
    -------
    pandas.DataFrame
        ``statistic``, ``observed`` T(y), ``replicated`` (mean of T(y_rep)), ``conf_low``,
        ``conf_high`` (central ``prob`` interval of T(y_rep)) and ``p_value`` =
        (1/S) Σ_s 1[T(y_rep⁽ˢ⁾) ≥ T(y)].
    """
    return pvalue_table({name: float(statistic(y, name, index)) for name in stats},
                        {name: statistic(y_rep, name, index) for name in stats}, prob)


def pvalue_table(observed: Mapping[str, float], replicated: Mapping[str, np.ndarray],
                 prob: float = 0.95) -> pd.DataFrame:
    """The table of :func:`ppc_pvalues` from statistics already computed: T(y) and the
    draws of T(y_rep) (S,) of each statistic, by name (e.g. combined over partitions,
    :func:`lmm_bayes.distributed.rows.ppc_pvalues`)."""
    tail = (1 - check_prob(prob)) / 2
    records = []
    for name, observed_value in observed.items():
        observed_value = float(observed_value)
        values = np.asarray(replicated[name], float)
        low, high = np.quantile(values, [tail, 1 - tail])
        records.append({"statistic": name, "observed": observed_value,
                        "replicated": float(values.mean()), "conf_low": float(low),
                        "conf_high": float(high),
                        "p_value": float((values >= observed_value).mean())})
    return pd.DataFrame.from_records(records)


_SCALE_FACTORS = {"log": 1.0, "negative_log": -1.0, "deviance": -2.0}


def with_exact_pointwise(loo, index: Sequence[int], exact: Sequence[float]):
    """PSIS-LOO estimates (``arviz.ELPDData`` with pointwise values) in which the units at
    ``index`` take their exact elpd from refits without each of them.

    Parameters
    ----------
    loo : arviz.ELPDData
        From ``arviz.loo(..., pointwise=True)``.
    index : sequence of int
        Positions of the units (those whose Pareto k̂ was too high for PSIS).
    exact : sequence of float
        log p(y_i | y_−i) of each, on the log scale.

    Returns
    -------
    arviz.ELPDData
        A copy: ``loo_i`` replaced at ``index`` (on ``loo``'s scale), their Pareto k̂ set to
        0, and the totals recomputed.

    Notes
    -----
    As ``arviz.reloo`` does (Vehtari, Gelman & Gabry 2017, *Statistics and Computing* 27,
    section 2.1, the exact LOO for the units PSIS cannot estimate): with c the scale's
    factor (1 log, −1 negative log, −2 deviance), elpd = Σ_i elpd_i, se = √(n Var elpd_i)
    and p_loo = lppd − elpd/c, where lppd = p_loo + elpd/c of the PSIS estimate is kept.
    """
    factor = _SCALE_FACTORS[loo["scale"]]
    lppd = loo["p_loo"] + loo["elpd_loo"] / factor
    out = loo.copy()
    pointwise = out["loo_i"].copy()
    pointwise.values[np.asarray(index)] = factor * np.asarray(exact, dtype=float)
    pareto_k = out["pareto_k"].copy()
    pareto_k.values[np.asarray(index)] = 0.0
    out["loo_i"], out["pareto_k"] = pointwise, pareto_k
    out["elpd_loo"] = float(pointwise.values.sum())
    out["se"] = float(np.sqrt(pointwise.size * np.var(pointwise.values)))
    out["p_loo"] = float(lppd - out["elpd_loo"] / factor)
    out["warning"] = bool((pareto_k.values > out["good_k"]).any())
    return out
