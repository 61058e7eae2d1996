"""The tidy summary of a fit in broom.mixed's ``tidy()`` layout, and random-effect tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from .. import names
from ..families import extra_parameters
from ..residual_spec import structure_parameters
from .draws import interval_columns, summarise

__all__ = ["coefficients_table", "fixed_effects_table", "random_effects_table",
           "tidy_summary"]

COLUMNS = ["effect", "group", "term", "estimate", "std_error", "conf_low", "conf_high",
           "ess_bulk", "ess_tail", "r_hat"]


def _draws(da: xr.DataArray) -> np.ndarray:
    return da.transpose("chain", "draw").values


def _rows(posterior: xr.Dataset, groups: dict[str, tuple[str, ...]]):
    """(effect, group, term, draws) for every summary row, in broom.mixed's order."""
    beta = posterior[names.BETA]
    for name in beta[names.FIXED].values:
        yield "fixed", "", str(name), _draws(beta.sel({names.FIXED: name}))
    yield from _vector_rows(posterior)
    yield from _sigma_rows(posterior)
    for group, terms in groups.items():
        sd = posterior[names.sd(group)]
        for term in terms:
            yield "ran_pars", group, f"sd__{term}", _draws(sd.sel({names.term_dim(group): term}))
        if names.correlation(group) not in posterior:
            continue
        corr = posterior[names.correlation(group)]
        for pair in names.pair_labels(terms):
            yield "ran_pars", group, f"cor__{pair}", _draws(corr.sel({names.pair_dim(group): pair}))
    for name, parameter in {**extra_parameters(), **structure_parameters()}.items():
        if name in posterior and parameter.dim is None:
            yield from _residual_rows(posterior[name], parameter.term)


def _residual_rows(values: xr.DataArray, term: str):
    """The rows of a residual parameter: one, or one per coordinate of its dims (a
    structure's pairs or lags: ``cor__V1.V2``, ``rho__lag1``; per arm, group
    ``Residual:<arm>``)."""
    dims = [d for d in values.dims if d not in ("chain", "draw")]
    if not dims:
        yield "ran_pars", "Residual", term, _draws(values)
        return
    stacked = values.stack(row=dims).transpose("chain", "draw", "row")
    for k, coords in enumerate(stacked["row"].values):
        labels = coords if isinstance(coords, tuple) else (coords,)
        group = f"Residual:{labels[0]}" if names.RESIDUAL_BY in dims else "Residual"
        own = dims != [names.RESIDUAL_BY]
        yield ("ran_pars", group, f"{term}__{labels[-1]}" if own else term,
               stacked.values[..., k])


def _vector_rows(posterior: xr.Dataset):
    """A family's vector parameters, one row per coordinate with the parameter's term as
    the effect: the cumulative family's cutpoints, effect "cutpoint", term ``"1|2"``..."""
    for name, parameter in extra_parameters().items():
        if parameter.dim is not None and name in posterior:
            for label in posterior[name][parameter.dim].values:
                yield (parameter.term, "", str(label),
                       _draws(posterior[name].sel({parameter.dim: label})))


def _sigma_rows(posterior: xr.Dataset):
    """The coefficients of log σ of a sigma formula (none without one)."""
    if "sigma_beta" not in posterior:
        return
    for name in posterior["sigma_beta"]["sigma_fixed"].values:
        yield "sigma", "", str(name), _draws(posterior["sigma_beta"].sel(sigma_fixed=name))


def tidy_summary(posterior: xr.Dataset, groups: dict[str, tuple[str, ...]],
                 prob: float = 0.95) -> pd.DataFrame:
    """Fixed effects and variance parameters, one row each, as broom.mixed's ``tidy()``.

    Parameters
    ----------
    posterior : xarray.Dataset
        The posterior group of a fit (``beta``, ``sd_<g>``, ``corr_<g>``, the family's
        extra parameters (``sigma`` of the Gaussian, ``alpha`` of the negative binomial;
        :mod:`lmm_bayes.families`) or ``sigma_beta`` of a sigma formula, a residual
        structure's parameters (``phi``; :mod:`lmm_bayes.structures`)).
    groups : mapping of grouping factor to its term names
    prob : float
        Mass of the central interval ``conf_low``–``conf_high``.

    Returns
    -------
    pandas.DataFrame
        Columns ``effect`` ("fixed", "cutpoint" for an ordinal model's cutpoints, "sigma"
        for the coefficients of log σ of a sigma formula, or "ran_pars"), ``group`` (grouping factor, "Residual" for sigma, φ and
        α, empty for fixed effects), ``term`` (``(Intercept)``, ``sd__Days``,
        ``cor__(Intercept).Days``, ``sd__Observation``, ``phi``, ``alpha``, ``"1|2"`` for
        the cutpoint between categories 1 and 2), ``estimate``
        (posterior mean), ``std_error`` (posterior SD), ``conf_low``, ``conf_high``,
        ``ess_bulk``, ``ess_tail``, ``r_hat``.
    """
    records = [{"effect": e, "group": g, "term": t, **summarise(d, prob)}
               for e, g, t, d in _rows(posterior, groups)]
    return pd.DataFrame.from_records(records, columns=COLUMNS)


def fixed_effects_table(posterior: xr.Dataset, prob: float = 0.95) -> pd.DataFrame:
    """The fixed effects' posterior mean, SD and central interval, indexed by term (the
    numbers of :func:`tidy_summary`'s fixed rows; lme4's ``fixef()``)."""
    beta = posterior[names.BETA].transpose("chain", "draw", names.FIXED)
    terms = pd.Index(beta[names.FIXED].values.astype(str), name="term")
    return pd.DataFrame(interval_columns(beta.values, prob), index=terms)


def _level_table(draws: xr.DataArray, group: str, prob: float) -> pd.DataFrame:
    """One row per level and term of ``group``'s per-level ``draws``."""
    level, term = names.level_dim(group), names.term_dim(group)
    draws = draws.transpose("chain", "draw", level, term)
    stats = interval_columns(draws.values, prob)
    levels = draws[level].values.astype(str)
    terms = draws[term].values.astype(str)
    return pd.DataFrame({
        "group": group,
        "level": np.repeat(levels, len(terms)),
        "term": np.tile(terms, len(levels)),
        **{k: v.ravel() for k, v in stats.items()},
    })


def random_effects_table(posterior: xr.Dataset, group: str, prob: float = 0.95) -> pd.DataFrame:
    """Each level's random effects (deviations from the fixed effects): posterior mean, SD and
    central interval, the Bayesian counterpart of lme4's ``ranef()`` conditional modes.

    Returns
    -------
    pandas.DataFrame
        One row per level and term: ``group``, ``level``, ``term``, ``estimate``,
        ``std_error``, ``conf_low``, ``conf_high``.
    """
    return _level_table(posterior[names.effects(group)], group, prob)


def coefficients_table(posterior: xr.Dataset, group: str, prob: float = 0.95) -> pd.DataFrame:
    """Each level's coefficients of the terms that vary by ``group``: the fixed effect plus
    the level's random effect, summed per draw before summarising, so the interval is that
    of the sum (lme4's ``coef()``). A varying term without a fixed effect adds 0.

    Returns
    -------
    pandas.DataFrame
        The layout of :func:`random_effects_table`.
    """
    b = posterior[names.effects(group)]
    term = names.term_dim(group)
    if names.BETA in posterior:
        beta = posterior[names.BETA].reindex({names.FIXED: b[term].values}, fill_value=0.0)
        b = b + beta.rename({names.FIXED: term})
    return _level_table(b, group, prob)
