"""Individual risk from predictive draws: exceedance probabilities, risk tiers, and a logistic
risk model fed with each individual's predicted value.

numpy and pandas only; the draws come from :func:`lmm_bayes.predict.predict_draws`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from scipy.special import expit

from .errors import DesignError
from .summaries.draws import check_number, interval_columns

__all__ = ["LogisticRisk", "exceedance", "risk_tiers"]

Direction = Literal[">", ">=", "<", "<="]

_COMPARE = {">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal}


def exceedance(draws: np.ndarray, threshold: float, direction: Direction = ">") -> np.ndarray:
    """P(Y ⋈ c) per row, as the share of predictive draws beyond the threshold.

    Parameters
    ----------
    draws : ndarray (S, m)
        Predictive draws per row (the sample dimensions flattened first).
    threshold : float
        c, e.g. 7 (% HbA1c); a finite number (NaN compares false with every draw, a
        string does not compare at all), else DesignError.
    direction : {">", ">=", "<", "<="}

    Returns
    -------
    ndarray (m,)
        (1/S) Σ_s 1[y⁽ˢ⁾ ⋈ c], the Monte Carlo estimate of the posterior predictive probability
        (Gelman et al. 2013, *Bayesian Data Analysis*, sec. 6.3); its Monte Carlo SE is at most
        0.5/√S for independent draws.
    """
    if direction not in _COMPARE:
        raise DesignError(f"direction must be one of {list(_COMPARE)}, not {direction!r}")
    return _COMPARE[direction](draws, check_number("threshold", threshold)).mean(axis=0)


def risk_tiers(probability: np.ndarray, cuts: Sequence[float] = (0.1, 0.3),
               labels: Sequence[str] = ("low", "medium", "high")) -> pd.Categorical:
    """Tiers of a probability: tier k for cuts[k−1] ≤ p < cuts[k] (ordered categorical)."""
    cuts = [float(c) for c in cuts]
    if sorted(cuts) != cuts or not all(0 < c < 1 for c in cuts) or len(set(cuts)) != len(cuts):
        raise DesignError(f"cuts must be increasing probabilities in (0, 1), got {cuts}")
    if len(labels) != len(cuts) + 1:
        raise DesignError(f"{len(cuts)} cut(s) make {len(cuts) + 1} tiers, but "
                          f"{len(labels)} labels were given")
    codes = np.searchsorted(cuts, probability, side="right")
    return pd.Categorical.from_codes(codes, categories=list(labels), ordered=True)


@dataclass(frozen=True)
class LogisticRisk:
    """A logistic model of an event on a predicted quantity (and other covariates):
    logit P(event) = α + γ·value + Σ_j δ_j·covariate_j.

    Attributes
    ----------
    coefficients : mapping
        ``"(Intercept)"``, ``"value"`` (per unit of the predicted quantity) and one entry per
        covariate column.
    covariance : ndarray, optional
        Covariance of the coefficients (in the order of ``coefficients``), whose uncertainty
        is then propagated by drawing them from N(estimate, covariance); ``None`` treats the
        coefficients as known (e.g. a published risk equation).

    Examples
    --------
    A published equation, systolic pressure in mmHg, age in years:

    >>> risk = LogisticRisk({"(Intercept)": -9.0, "value": 0.03, "age": 0.05})
    """

    coefficients: Mapping[str, float]
    covariance: np.ndarray | None = field(default=None, compare=False)

    def __post_init__(self):
        missing = {"(Intercept)", "value"} - set(self.coefficients)
        if missing:
            raise DesignError(f"a logistic risk model needs coefficients {sorted(missing)}")
        k = len(self.coefficients)
        if self.covariance is not None and np.shape(self.covariance) != (k, k):
            raise DesignError(f"covariance must be {k} × {k}, one row per coefficient")

    @property
    def covariates(self) -> list[str]:
        return [k for k in self.coefficients if k not in ("(Intercept)", "value")]

    def _design(self, value: np.ndarray, data: pd.DataFrame | None) -> np.ndarray:
        """(…, m, k) columns 1, value, covariates for values of shape (…, m)."""
        missing = [c for c in self.covariates if data is None or c not in data.columns]
        if missing:
            raise DesignError(f"the risk model's covariate column(s) {missing} are not in the data")
        extra = [np.broadcast_to(data[c].to_numpy(float), value.shape) for c in self.covariates]
        return np.stack([np.ones_like(value), value, *extra], axis=-1)

    @classmethod
    def fit(cls, value, event, data: pd.DataFrame | None = None,
            covariates: Sequence[str] = (), max_iter: int = 50) -> LogisticRisk:
        """Maximum-likelihood fit to outcome data by iteratively reweighted least squares
        (McCullagh & Nelder 1989, sec. 4.4), with the inverse Fisher information
        (XᵀWX)⁻¹ as the coefficients' covariance.

        Parameters
        ----------
        value : array (n,)
            The quantity (as measured) in the outcome cohort.
        event : array (n,) of 0/1
        data : pandas.DataFrame, optional
            Holds the ``covariates`` columns.
        covariates : sequence of str
        """
        value = np.asarray(value, float)
        event = np.asarray(event, float)
        if value.shape != event.shape or not np.isin(event, (0, 1)).all():
            raise DesignError("event must be 0/1 with one entry per value")
        template = cls(dict.fromkeys(["(Intercept)", "value", *covariates], 0.0))
        X = template._design(value, data)
        coef = np.zeros(X.shape[1])
        for _ in range(max_iter):
            p = expit(X @ coef)
            weight = p * (1 - p)
            step = np.linalg.solve(X.T @ (weight[:, None] * X), X.T @ (event - p))
            coef += step
            if np.max(np.abs(step)) < 1e-10:
                break
        else:
            raise DesignError("the logistic risk model did not converge (separation?)")
        p = expit(X @ coef)
        covariance = np.linalg.inv(X.T @ ((p * (1 - p))[:, None] * X))
        return cls(dict(zip(template.coefficients, coef)), covariance)

    def risk_draws(self, value: np.ndarray, data: pd.DataFrame | None = None,
                   rng: np.random.Generator | None = None) -> np.ndarray:
        """P(event) per draw and row for predicted values (S, m): expit(x·coef⁽ˢ⁾), with one
        coefficient draw per posterior draw when a covariance is given."""
        X = self._design(value, data)
        coef = np.array(list(self.coefficients.values()))
        if self.covariance is None:
            return expit(X @ coef)
        rng = rng or np.random.default_rng()
        coefs = rng.multivariate_normal(coef, self.covariance, size=value.shape[0])
        return expit(np.einsum("smk,sk->sm", X, coefs))

    def summary(self, value: np.ndarray, data: pd.DataFrame | None = None, prob: float = 0.95,
                rng: np.random.Generator | None = None) -> pd.DataFrame:
        """Posterior mean, SD and central interval of each row's event risk."""
        return pd.DataFrame(interval_columns(self.risk_draws(value, data, rng), prob, axis=0))
