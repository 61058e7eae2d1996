"""Simulation-based calibration (SBC) of a model's posterior (Talts et al. 2018).

Draw parameters θ̃ from the prior, simulate data ỹ from them, fit the model to ỹ and rank
each true parameter among L (thinned) posterior draws. If the sampler and the model code
are right, each rank is uniform on {0, …, L}; a histogram that is ∪-shaped (posterior too
narrow), ∩-shaped (too wide) or sloped (biased) shows where they are not.

The priors must not depend on the data: pass every prior explicitly (the defaults are scaled
to ỹ, which would make the prior differ from replicate to replicate).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from . import names
from .api import LMM
from .errors import SamplingWarning
from .sampling import SamplerConfig

__all__ = ["SBCResult", "rank_uniformity", "run_sbc"]


@dataclass(frozen=True)
class SBCResult:
    """Ranks of the true parameters among their posterior draws.

    Attributes
    ----------
    ranks : pandas.DataFrame
        One row per replicate, one column per parameter (``beta[time]``, ``sd_id[time]``,
        ``corr_id[(Intercept).time]``, ``sigma``, ``b_id[<level>, (Intercept)]``...), values in 0..``n_draws``.
    n_draws : int
        L, the number of thinned posterior draws each rank is taken among.
    divergences : ndarray of int
        Divergent transitions of each replicate's fit.
    """

    ranks: pd.DataFrame
    n_draws: int
    divergences: np.ndarray


def _replicate_fit(response: LMM, data: pd.DataFrame, config: SamplerConfig):
    """The fit of ``response``'s model to ``data`` (the same design, another response):
    with its own compiled marginal density where the model has one (nothing to compile),
    else with ``response``'s compiled PyMC model and the new response data."""
    model = LMM.from_spec(response.spec, data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)  # short fits; ranks judge them
        if model.engine(sampler=config.sampler).engine == "graph":
            return model.fit_with(config, target=response.pymc_model)
        return model.fit_with(config)


def _scalars(dataset, level: str) -> dict[str, np.ndarray]:
    """The model's parameters as (chain·draw,) vectors, keyed by name[coords]: ``beta``,
    the family's and residual structure's parameters (:data:`lmm_bayes.names.SCALARS`:
    ``sigma``, ``alpha``, ``phi``...) where the model has them, ``sd_<g>``, ``corr_<g>``
    and the random effects of ``level``."""
    out: dict[str, np.ndarray] = {}
    kinds = {name: names.group_variable(name) for name in dataset.data_vars}
    scalars = [v for v in names.SCALARS if v in dataset.data_vars]
    per_group = [v for v, kind in kinds.items() if kind in ("sd", "corr")]
    for name in (names.BETA, *scalars, *per_group):
        da = dataset[name]
        extra = [d for d in da.dims if d not in ("chain", "draw")]
        if not extra:
            out[name] = da.values.ravel()
            continue
        for coord in da[extra[0]].values:
            out[f"{name}[{coord}]"] = da.sel({extra[0]: coord}).values.ravel()
    for name in [v for v, kind in kinds.items() if kind == "b"]:
        da = dataset[name]
        level_dim, term_dim = (d for d in da.dims if d not in ("chain", "draw"))
        for term in da[term_dim].values:
            out[f"{name}[{level}, {term}]"] = da.sel({level_dim: level, term_dim: term}).values.ravel()
    return out


def _thin(draws: np.ndarray, n_draws: int) -> np.ndarray:
    """``n_draws`` draws evenly spaced through the (chain-concatenated) posterior."""
    return draws[np.linspace(0, len(draws) - 1, n_draws).round().astype(int)]


def run_sbc(formula: str, template: pd.DataFrame, priors: Mapping[str, object], *,
            n_replicates: int, n_draws: int = 99, draws: int = 400, tune: int = 400,
            chains: int = 2, random_seed: int = 0,
            prepare: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
            **model_kw) -> SBCResult:
    """Simulation-based calibration of ``formula`` on the design of ``template``.

    Parameters
    ----------
    formula : str
    template : pandas.DataFrame
        The covariates and grouping columns of the simulated studies, and a response column
        of any non-constant placeholder values, replaced in every replicate.
    priors : mapping
        Every prior of the model, explicitly (see the module docstring).
    n_replicates : int
        Simulated data sets.
    n_draws : int
        L, posterior draws kept per fit (evenly thinned from ``chains × draws``).
    draws, tune, chains : int
        Sampler settings of each fit.
    random_seed : int
        Seeds the prior draws and, with the replicate number, each fit.
    prepare : callable, optional
        From each replicate's data (``template``'s rows with the simulated response) to the
        data fitted, e.g. censoring the response at a detection limit and setting the
        ``cens()`` codes to match; it must keep the rows and the design.
    **model_kw
        Passed to :class:`~lmm_bayes.LMM` (e.g. ``likelihood="conditional"``).

    Returns
    -------
    SBCResult

    Notes
    -----
    For replicate k: θ̃_k ~ p(θ) and ỹ_k ~ p(y | θ̃_k) jointly from
    :meth:`LMM.prior_predictive` (the model's own prior and likelihood, random effects
    included); then the rank r_k = #{l : θ_l < θ̃_k} over L thinned posterior draws θ_l
    from p(θ | ỹ_k). If the posterior is computed correctly, r_k is uniform on {0, …, L}
    (Talts et al. 2018, "Validating Bayesian inference algorithms with simulation-based
    calibration", arXiv:1804.06788, theorem 1). Thinning the draws to about their effective
    sample size keeps autocorrelation from producing spurious ∪ shapes (their sec. 5.1).
    The random effects are checked on the first level of the first grouping factor. Each
    replicate is fitted with the compiled model of ``template`` and its own response
    (:meth:`LMM.fit_with` with ``target=``), so the model is compiled once per run; the
    Gaussian, the other families and the AR(1)/CAR(1) residuals (whose ``phi`` is ranked
    too) all take their response that way, except marginal models sampled by nutpie,
    whose compiled density (:mod:`lmm_bayes.kernel`) each replicate packs anew.

    With ``prepare`` the fitted data are a function of ỹ_k. The ranks stay uniform when the
    model's likelihood of the prepared data is that of ỹ_k's function: e.g. a censored
    model's (``y | cens(c)``, its template all uncensored so that ỹ_k is the latent value)
    for data censored at a fixed limit, whose Tobit likelihood is exactly that of the
    censored values and their codes.
    """
    response = LMM(formula, template, priors=priors, **model_kw)
    name = response.spec.formula.response
    prior = response.prior_predictive(n_replicates, random_seed=random_seed)
    groups = response.design.groups
    level = str(groups[0].levels[0]) if groups else ""  # a model may have no random effects
    truth = _scalars(prior.prior, level)
    simulated = prior.prior_predictive[names.observed()].values.reshape(n_replicates, -1)
    rows, divergences = [], []
    for k in range(n_replicates):
        data = template.iloc[response.design.rows].assign(**{name: simulated[k]})
        data = data if prepare is None else prepare(data)
        config = SamplerConfig(draws=draws, tune=tune, chains=chains,
                               random_seed=random_seed + 1 + k, target_accept=None)
        fit = _replicate_fit(response, data, config)
        posterior = _scalars(fit.idata.posterior, level)
        rows.append({p: int((_thin(posterior[p], n_draws) < truth[p][k]).sum()) for p in truth})
        divergences.append(int(fit.idata.sample_stats["diverging"].sum()))
    return SBCResult(pd.DataFrame(rows), n_draws, np.asarray(divergences))


def rank_uniformity(result: SBCResult, n_bins: int) -> pd.DataFrame:
    """Chi-square test that each parameter's ranks are uniform on {0, …, L}.

    Parameters
    ----------
    result : SBCResult
    n_bins : int
        Must divide L + 1, so that every bin holds the same number of rank values.

    Returns
    -------
    pandas.DataFrame
        Index: parameter; columns ``chi2``, ``df`` (``n_bins − 1``), ``p_value``, and
        ``counts`` (replicates per bin).

    Notes
    -----
    With N replicates and B bins of (L + 1)/B rank values each, uniform ranks give
    multinomial bin counts with expectation E = N/B, and
    X² = Σ_b (n_b − E)²/E ~ χ²_{B−1} asymptotically (Pearson 1900); Talts et al. (2018,
    sec. 4) bin the ranks the same way for their histograms. Keep E ≥ 5.
    """
    width = (result.n_draws + 1) / n_bins
    if width != int(width):
        raise ValueError(f"n_bins={n_bins} must divide n_draws + 1 = {result.n_draws + 1}")
    rows = {}
    for name, ranks in result.ranks.items():
        counts = np.bincount((ranks.to_numpy() // int(width)).astype(int), minlength=n_bins)
        chi2, p_value = stats.chisquare(counts)
        rows[name] = {"chi2": float(chi2), "df": n_bins - 1, "p_value": float(p_value),
                      "counts": counts.tolist()}
    return pd.DataFrame.from_dict(rows, orient="index")
