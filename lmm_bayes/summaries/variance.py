"""Variance components: per grouping factor the SDs, correlations, variances and covariances of
the random effects, and the residual SD and variance, each with a posterior interval."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np
import pandas as pd
import xarray as xr

from .draws import interval_columns

__all__ = ["COLUMNS", "component_rows", "covariance_draws", "variance_components"]

COLUMNS = ["group", "term", "estimate", "std_error", "conf_low", "conf_high"]


def covariance_draws(posterior: xr.Dataset, group: str) -> np.ndarray:
    """Draws of the covariance matrix Σ_g of one grouping factor's random effects.

    Returns
    -------
    ndarray, shape (chain, draw, q, q)
        Σ_ij = s_i s_j R_ij from ``sd_<g>`` and ``corr_<g>``; diagonal (R = I) for a factor
        with independent effects (``||``), which has no ``corr_<g>``.
    """
    term = f"{group}__term"
    sd = posterior[f"sd_{group}"].transpose("chain", "draw", term).values
    if f"corr_{group}" in posterior:
        corr = posterior[f"corr_{group}"].transpose("chain", "draw", term, f"{term}_").values
    else:
        corr = np.eye(sd.shape[-1])
    return sd[..., :, None] * sd[..., None, :] * corr


def _pairs(terms) -> Iterator[tuple[int, int, str]]:
    for i, j in zip(*np.triu_indices(len(terms), k=1)):
        yield int(i), int(j), f"{terms[i]}.{terms[j]}"


def component_rows(group: str, terms, cov: np.ndarray, prob: float,
                   correlated: bool = True) -> list[dict]:
    """Rows ``sd__t``, ``cor__a.b``, ``var__t``, ``cov__a.b`` (broom.mixed's names) from
    covariance draws of shape (chain, draw, q, q); without the ``cor``/``cov`` rows when
    ``correlated`` is false (effects independent by construction)."""
    var = np.diagonal(cov, axis1=-2, axis2=-1)
    sd = np.sqrt(var)
    pairs = list(_pairs(terms)) if correlated else []
    quantities = [(f"sd__{t}", sd[..., k]) for k, t in enumerate(terms)]
    quantities += [(f"cor__{name}", cov[..., i, j] / (sd[..., i] * sd[..., j]))
                   for i, j, name in pairs]
    quantities += [(f"var__{t}", var[..., k]) for k, t in enumerate(terms)]
    quantities += [(f"cov__{name}", cov[..., i, j]) for i, j, name in pairs]
    return [{"group": group, "term": name, **_floats(interval_columns(draws, prob))}
            for name, draws in quantities]


def _floats(stats: Mapping[str, np.ndarray]) -> dict[str, float]:
    return {k: float(v) for k, v in stats.items()}


def residual_rows(posterior: xr.Dataset, prob: float) -> list[dict]:
    """``sd__Observation`` and ``var__Observation`` of the ``Residual`` group."""
    sigma = posterior["sigma"].transpose("chain", "draw").values
    return [{"group": "Residual", "term": term, **_floats(interval_columns(draws, prob))}
            for term, draws in (("sd__Observation", sigma), ("var__Observation", sigma**2))]


def variance_components(posterior: xr.Dataset, groups: Mapping[str, tuple[str, ...]],
                        prob: float = 0.95) -> pd.DataFrame:
    """The random-effect SDs, correlations, variances and covariances, and the residual SD.

    Parameters
    ----------
    posterior : xarray.Dataset
        With ``sd_<g>``, ``corr_<g>`` (correlated factors) and ``sigma``.
    groups : mapping of grouping factor name to its term names
    prob : float
        Mass of the central interval.

    Returns
    -------
    pandas.DataFrame
        Columns ``group``, ``term``, ``estimate`` (posterior mean), ``std_error`` (posterior
        SD), ``conf_low``, ``conf_high``. Per factor, in this order: ``sd__<term>``,
        ``cor__<a>.<b>``, ``var__<term>``, ``cov__<a>.<b>`` (correlation and covariance rows
        only for correlated factors); last the ``Residual`` rows ``sd__Observation`` and
        ``var__Observation`` (Gaussian family only).

    Notes
    -----
    Each quantity is summarised from its own draws, Σ_ij = s_i s_j R_ij, so the mean of a
    variance is not the square of the mean SD (posterior means do not commute with
    non-linear functions). Names follow broom.mixed's ``tidy(scales = "vcov")``.
    """
    rows = []
    for group, terms in groups.items():
        cov = covariance_draws(posterior, group)
        rows += component_rows(group, terms, cov, prob, f"corr_{group}" in posterior)
    if "sigma" in posterior:  # generalized linear mixed models have no residual SD
        rows += residual_rows(posterior, prob)
    return pd.DataFrame.from_records(rows, columns=COLUMNS)
