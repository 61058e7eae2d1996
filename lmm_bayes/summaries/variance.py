"""Variance components: per grouping factor the SDs, correlations, variances and covariances of
the random effects, and the residual SD and variance, each with a posterior interval."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np
import pandas as pd
import xarray as xr

from .. import names
from ..errors import DesignError
from ..posterior import covariance_draws
from .draws import interval_columns

__all__ = [
    "COLUMNS",
    "component_draws",
    "component_rows",
    "covariance_draws",
    "variance_components",
    "variance_contrast",
]

COLUMNS = ["group", "term", "estimate", "std_error", "conf_low", "conf_high"]


def _pairs(terms) -> Iterator[tuple[int, int, str]]:
    for i, j in zip(*np.triu_indices(len(terms), k=1)):
        yield int(i), int(j), f"{terms[i]}.{terms[j]}"


def _quantities(terms, cov: np.ndarray, correlated: bool) -> list[tuple[str, np.ndarray]]:
    """(name, draws) of ``sd__t``, ``cor__a.b``, ``var__t``, ``cov__a.b`` from covariance
    draws of shape (chain, draw, q, q)."""
    var = np.diagonal(cov, axis1=-2, axis2=-1)
    sd = np.sqrt(var)
    pairs = list(_pairs(terms)) if correlated else []
    quantities = [(f"sd__{t}", sd[..., k]) for k, t in enumerate(terms)]
    quantities += [(f"cor__{name}", cov[..., i, j] / (sd[..., i] * sd[..., j]))
                   for i, j, name in pairs]
    quantities += [(f"var__{t}", var[..., k]) for k, t in enumerate(terms)]
    quantities += [(f"cov__{name}", cov[..., i, j]) for i, j, name in pairs]
    return quantities


def component_rows(group: str, terms, cov: np.ndarray, prob: float,
                   correlated: bool = True) -> list[dict]:
    """Rows ``sd__t``, ``cor__a.b``, ``var__t``, ``cov__a.b`` (broom.mixed's names) from
    covariance draws of shape (chain, draw, q, q); without the ``cor``/``cov`` rows when
    ``correlated`` is false (effects independent by construction)."""
    return [{"group": group, "term": name, **_floats(interval_columns(draws, prob))}
            for name, draws in _quantities(terms, cov, correlated)]


def component_draws(posterior: xr.Dataset, group: str, terms, term: str) -> np.ndarray:
    """Draws (chain, draw) of one variance component of ``group``, named as in
    :func:`variance_components` (``sd__time``, ``cor__(Intercept).time``, ``var__time``...).

    Raises
    ------
    DesignError
        Naming the components ``group`` has, when ``term`` is not one of them.
    """
    found = dict(_quantities(terms, covariance_draws(posterior, group),
                             names.correlation(group) in posterior))
    if term not in found:
        raise DesignError(f"{group!r} has no component {term!r}; it has {list(found)}")
    return found[term]


def variance_contrast(posterior: xr.Dataset, groups: Mapping[str, tuple[str, ...]], term: str,
                      first: str, second: str, kind: str = "ratio",
                      prob: float = 0.95) -> pd.DataFrame:
    """The posterior of a ratio or difference of one variance component between two
    grouping factors, e.g. ``sd__time`` of ``subject:armB`` over ``subject:armA``.

    Parameters
    ----------
    posterior : xarray.Dataset
    groups : mapping of grouping factor name to its term names
    term : str
        A component name of :func:`variance_components` (``sd__time``, ``var__time``,
        ``cor__(Intercept).time``...).
    first, second : str
        The grouping factors compared: ``first / second`` or ``first − second``.
    kind : {"ratio", "difference"}
    prob : float

    Returns
    -------
    pandas.DataFrame
        One row: ``term``, ``contrast`` (e.g. ``"subject:armB / subject:armA"``),
        ``estimate``, ``std_error``, ``conf_low``, ``conf_high`` and ``prob_above``, the
        posterior probability that the ratio exceeds 1 (the difference exceeds 0).

    Notes
    -----
    Computed draw by draw, c⁽ˢ⁾ = θ_first⁽ˢ⁾ / θ_second⁽ˢ⁾ (or −), so the interval is that of
    the contrast's own posterior; the factors' parameters are independent a priori, and
    both are fitted jointly, as brms's ``gr(..., by = )`` does (Bürkner 2018).
    """
    if kind not in ("ratio", "difference"):
        raise DesignError(f"kind must be 'ratio' or 'difference', not {kind!r}")
    a, b = (component_draws(posterior, g, groups[g], term) for g in (first, second))
    draws, op, null = (a / b, "/", 1.0) if kind == "ratio" else (a - b, "-", 0.0)
    row = {"term": term, "contrast": f"{first} {op} {second}",
           **_floats(interval_columns(draws, prob)), "prob_above": float((draws > null).mean())}
    return pd.DataFrame([row])


def _floats(stats: Mapping[str, np.ndarray]) -> dict[str, float]:
    return {k: float(v) for k, v in stats.items()}


def residual_rows(posterior: xr.Dataset, prob: float,
                  sigma_levels: Mapping[str, np.ndarray] | None = None) -> list[dict]:
    """``sd__Observation`` and ``var__Observation`` of the ``Residual`` group; with a sigma
    formula one pair per entry of ``sigma_levels`` (label → row of the log-σ design),
    ``sd__Observation[arm=B]``, σ = exp(xᵀ β_σ) per draw."""
    if "sigma" in posterior:
        sds = {"": posterior["sigma"].transpose("chain", "draw").values}
    else:
        beta = posterior["sigma_beta"].transpose("chain", "draw", "sigma_fixed").values
        sds = {f"[{label}]": np.exp(beta @ np.asarray(row, dtype=float))
               for label, row in (sigma_levels or {}).items()}
    rows = []
    for suffix, sd in sds.items():
        rows += [{"group": "Residual", "term": term + suffix,
                  **_floats(interval_columns(draws, prob))}
                 for term, draws in (("sd__Observation", sd), ("var__Observation", sd**2))]
    return rows


def variance_components(posterior: xr.Dataset, groups: Mapping[str, tuple[str, ...]],
                        prob: float = 0.95,
                        sigma_levels: Mapping[str, np.ndarray] | None = None) -> pd.DataFrame:
    """The random-effect SDs, correlations, variances and covariances, and the residual SD.

    Parameters
    ----------
    posterior : xarray.Dataset
        With ``sd_<g>``, ``corr_<g>`` (correlated factors) and ``sigma``.
    groups : mapping of grouping factor name to its term names
    prob : float
        Mass of the central interval.
    sigma_levels : mapping of label to log-σ design row, optional
        With a sigma formula (``sigma_beta`` in the posterior): the residual SD is
        reported at each of these rows, e.g. ``{"arm=A": [1, 0], "arm=B": [1, 1]}``.

    Returns
    -------
    pandas.DataFrame
        Columns ``group``, ``term``, ``estimate`` (posterior mean), ``std_error`` (posterior
        SD), ``conf_low``, ``conf_high``. Per factor, in this order: ``sd__<term>``,
        ``cor__<a>.<b>``, ``var__<term>``, ``cov__<a>.<b>`` (correlation and covariance rows
        only for correlated factors); last the ``Residual`` rows ``sd__Observation`` and
        ``var__Observation`` (Gaussian family only; with a sigma formula,
        ``sd__Observation[arm=A]``... per entry of ``sigma_levels``).

    Notes
    -----
    Each quantity is summarised from its own draws, Σ_ij = s_i s_j R_ij, so the mean of a
    variance is not the square of the mean SD (posterior means do not commute with
    non-linear functions). Names follow broom.mixed's ``tidy(scales = "vcov")``.
    """
    rows = []
    for group, terms in groups.items():
        cov = covariance_draws(posterior, group)
        rows += component_rows(group, terms, cov, prob, names.correlation(group) in posterior)
    if "sigma" in posterior or "sigma_beta" in posterior:  # GLMMs have no residual SD
        rows += residual_rows(posterior, prob, sigma_levels)
    return pd.DataFrame.from_records(rows, columns=COLUMNS)
