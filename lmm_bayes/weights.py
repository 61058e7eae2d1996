"""Observation weights: a positive number per row, read from a column of the data.

``weights="w"`` (lme4's ``weights = w``) names a numeric column. What a weight means
depends on the family, as in lme4:

* **Gaussian: precision weights.** Var(ε_i) = σ²/w_i, so row i's residual SD is
  σ_i = σ/√w_i (``lmer(..., weights = w)``; nlme's ``varFixed(~ 1/w)``, Pinheiro & Bates
  2000, sec. 5.2.1). A row with w_i = 2 counts as much as two rows of weight 1 on the
  mean, e.g. a mean of 2 replicates; σ is the residual SD of a row of weight 1.
* **Bernoulli, binomial, Poisson, negative binomial: prior weights.** Row i's
  log-likelihood is multiplied by w_i, w_i log p(y_i | η_i) (``glmer(..., weights = w)``;
  McCullagh & Nelder 1989, sec. 2.2.2). An integer weight is a row repeated that many
  times. (lme4's other use, the binomial's trials with a proportion as the response, is
  written ``cbind(successes, failures)`` here.)

The weights are data, not parameters: a posterior predictive replicate or a new
measurement of a Gaussian row has σ/√w_i; the other families' draws are those of the
family (a prior weight says how much a row counts, not how it varies). numpy and pandas
only.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from .errors import DesignError
from .families import Family
from .names import SIGMA

__all__ = ["check_weights_column", "observation_weights", "residual_scale", "weighted_loglik",
           "weighted_parameters"]


def check_weights_column(data: pd.DataFrame, column: str) -> None:
    """DesignError unless ``column`` is a column of ``data`` holding numbers."""
    if column not in data.columns:
        raise DesignError(f"the weights column {column!r} is not a column of the data "
                          f"(columns: {list(data.columns)})")
    values = data[column]
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        raise DesignError(f"the weights column {column!r} is not numeric (type "
                          f"{values.dtype}); observation weights are positive numbers")


def observation_weights(data: pd.DataFrame, column: str,
                        positions: np.ndarray | None = None) -> np.ndarray:
    """The weights of the rows of ``data``, checked: numeric, finite and positive.

    Parameters
    ----------
    data : pandas.DataFrame
    column : str
        The weights column (the ``weights`` option).
    positions : ndarray of int, optional
        The position of each row in the data the user gave (the rows kept after missing
        values were dropped), for the messages; default 0, 1, ...

    Raises
    ------
    DesignError
        A missing column, a non-numeric one, or a weight that is missing, infinite, zero
        or negative, naming the column, the row position and the value.
    """
    check_weights_column(data, column)
    values = data[column].to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(values) | ~(values > 0)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        position = first if positions is None else int(positions[first])
        value = float(values[first])
        raise DesignError(f"the weights column {column!r} has {int(bad.sum())} weight(s) that "
                          f"are not positive finite numbers, first {value!r} at row position "
                          f"{position}; every weight must be > 0")
    return values


def residual_scale(weights: np.ndarray | None) -> np.ndarray | float:
    """1/√w_i, the factor of σ in a Gaussian row's residual SD σ_i = σ/√w_i; 1 without
    weights."""
    return 1.0 if weights is None else 1.0 / np.sqrt(weights)


def weighted_parameters(aux: Mapping, weights: np.ndarray | None, family: Family) -> dict:
    """The family parameters ``aux`` (arrays broadcasting over rows on their last axis)
    with a Gaussian σ scaled to each row's σ/√w_i; the other families' unchanged (their
    weights are prior weights, the Student-t's included)."""
    aux = dict(aux)
    if weights is not None and family.name == "gaussian":
        aux[SIGMA] = aux[SIGMA] * residual_scale(weights)
    return aux


def weighted_loglik(family: Family, y: np.ndarray, mean: np.ndarray, aux: Mapping,
                    weights: np.ndarray | None) -> np.ndarray:
    """Each row's log-likelihood under the weights (module docstring): log N(y_i; μ_i,
    σ²/w_i) for the Gaussian, w_i log p(y_i | μ_i) for the other families."""
    if weights is None:
        return family.logpdf(y, mean, aux)
    if family.name == "gaussian":
        return family.logpdf(y, mean, weighted_parameters(aux, weights, family))
    return weights * family.logpdf(y, mean, aux)
