"""Summaries of a multivariate model's posterior: the tidy table and variance components,
with the outcome named in every term (``y1:(Intercept)``, ``sd__y1:time``,
``cor__y1:(Intercept).y2:(Intercept)``, ``sd__y1:Observation``, ``rescor__y1.y2``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import xarray as xr

from .. import names
from .draws import interval_columns, summarise
from .tidy import COLUMNS, tidy_summary
from .variance import COLUMNS as COMPONENT_COLUMNS
from .variance import variance_components

__all__ = ["multivariate_components", "multivariate_summary", "residual_draws"]

_RESIDUAL = (names.SIGMA, names.RESCOR)


def residual_draws(posterior: xr.Dataset, responses: Sequence[str]):
    """(term, draws) of each outcome's residual SD, ``sd__<y>:Observation``, and of each
    residual correlation, ``rescor__<a>.<b>`` (when the model has ``rescor``); draws are
    (chain, draw) arrays."""
    sigma = posterior[names.SIGMA].transpose("chain", "draw", names.OUTCOME)
    for y in responses:
        yield f"sd__{y}:Observation", sigma.sel({names.OUTCOME: y}).values
    if names.RESCOR not in posterior:
        return
    rescor = posterior[names.RESCOR].transpose("chain", "draw", names.OUTCOME_PAIR)
    for pair in names.pair_labels(responses):
        yield f"rescor__{pair}", rescor.sel({names.OUTCOME_PAIR: pair}).values


def _without_residuals(posterior: xr.Dataset) -> xr.Dataset:
    return posterior.drop_vars([v for v in _RESIDUAL if v in posterior])


def multivariate_summary(posterior: xr.Dataset, blocks: Mapping[str, tuple[str, ...]],
                         block_groups: Mapping[str, str], responses: Sequence[str],
                         prob: float = 0.95) -> pd.DataFrame:
    """Fixed effects and variance parameters in broom.mixed's ``tidy()`` layout.

    Parameters
    ----------
    posterior : xarray.Dataset
        ``beta`` (dim ``fixed``, coords ``"<outcome>:<term>"``), ``sd_<block>``,
        ``corr_<block>``, ``sigma`` (dim ``outcome``) and, with correlated residuals,
        ``rescor`` (dims ``outcome``, ``outcome_``).
    blocks : mapping of block name to its terms
    block_groups : mapping of block name to its grouping factor
    responses : sequence of str
    prob : float

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`~lmm_bayes.summaries.tidy_summary`. Fixed rows have term
        ``<outcome>:<term>``; random-effect rows group = the grouping factor, term
        ``sd__<outcome>:<term>`` and ``cor__<outcome>:<term>.<outcome>:<term>`` (a
        correlation across outcomes when their terms share an ID); group ``Residual``
        has ``sd__<outcome>:Observation`` per outcome and ``rescor__<a>.<b>``.
    """
    table = tidy_summary(_without_residuals(posterior), blocks, prob)
    table["group"] = table["group"].replace(dict(block_groups))
    residual = pd.DataFrame.from_records(
        [{"effect": "ran_pars", "group": "Residual", "term": term, **summarise(draws, prob)}
         for term, draws in residual_draws(posterior, responses)], columns=COLUMNS)
    return pd.concat([table, residual], ignore_index=True)


def multivariate_components(posterior: xr.Dataset, blocks: Mapping[str, tuple[str, ...]],
                            block_groups: Mapping[str, str], responses: Sequence[str],
                            prob: float = 0.95) -> pd.DataFrame:
    """SDs, correlations, variances and covariances of each block's random effects (as
    :func:`~lmm_bayes.summaries.variance_components`, group = grouping factor), then the
    ``Residual`` rows ``sd__<y>:Observation``, ``var__<y>:Observation`` and
    ``rescor__<a>.<b>``.

    Notes
    -----
    Each row summarises its own draws (var = σ² per draw), so a variance's mean is not the
    squared mean SD.
    """
    table = variance_components(_without_residuals(posterior), blocks, prob)
    table["group"] = table["group"].replace(dict(block_groups))
    rows = []
    for term, draws in residual_draws(posterior, responses):
        rows.append((term, draws))
        if term.startswith("sd__"):
            rows.append(("var__" + term[4:], draws**2))
    residual = pd.DataFrame.from_records(
        [{"group": "Residual", "term": term,
          **{k: float(v) for k, v in interval_columns(draws, prob).items()}}
         for term, draws in rows], columns=COMPONENT_COLUMNS)
    return pd.concat([table, residual], ignore_index=True)
