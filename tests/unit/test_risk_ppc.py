"""Exceedance, risk tiers, the logistic risk plug-in and predictive checks, against hand
computations and known distributions."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.integrate import quad
from scipy.special import expit

from lmm_bayes.errors import DesignError
from lmm_bayes.ppc import ppc_pvalues, statistic
from lmm_bayes.risk import LogisticRisk, exceedance, risk_tiers


def test_exceedance_matches_the_normal_tail():
    draws = np.random.default_rng(0).normal([7.0, 6.5], [0.5, 1.0], size=(200_000, 2))
    expected = stats.norm.sf(7.2, [7.0, 6.5], [0.5, 1.0])
    np.testing.assert_allclose(exceedance(draws, 7.2), expected, atol=0.003)
    np.testing.assert_allclose(exceedance(draws, 7.2, "<="), 1 - expected, atol=0.003)


@pytest.mark.parametrize("threshold", [np.nan, np.inf, "7", True, None])
def test_exceedance_threshold_must_be_a_finite_number(threshold):
    """NaN compared false with every draw: probability 0, tier "low", without a word."""
    with pytest.raises(DesignError, match=r"threshold must be a finite number, got"):
        exceedance(np.zeros((4, 2)), threshold)


def test_exceedance_counts_ties_by_direction():
    draws = np.array([[1.0], [2.0], [2.0], [3.0]])
    assert exceedance(draws, 2.0, ">")[0] == 0.25
    assert exceedance(draws, 2.0, ">=")[0] == 0.75
    with pytest.raises(DesignError, match="direction"):
        exceedance(draws, 2.0, "!=")


def test_risk_tiers_boundaries():
    tiers = risk_tiers(np.array([0.0, 0.0999, 0.1, 0.2999, 0.3, 1.0]))
    assert list(tiers) == ["low", "low", "medium", "medium", "high", "high"]
    assert tiers.ordered
    with pytest.raises(DesignError, match="increasing"):
        risk_tiers(np.array([0.5]), cuts=(0.3, 0.1))
    with pytest.raises(DesignError, match="3 labels"):
        risk_tiers(np.array([0.5]), cuts=(0.1,), labels=("a", "b", "c"))


def test_logistic_risk_with_known_coefficients_by_hand():
    model = LogisticRisk({"(Intercept)": -9.0, "value": 0.03, "age": 0.05})
    value = np.array([[140.0, 160.0], [150.0, 150.0]])
    data = pd.DataFrame({"age": [50.0, 70.0]})
    expected = expit(-9 + 0.03 * value + 0.05 * np.array([50.0, 70.0]))
    np.testing.assert_allclose(model.risk_draws(value, data), expected)
    with pytest.raises(DesignError, match=r"\['age'\]"):
        model.risk_draws(value)


def test_logistic_risk_fit_recovers_the_truth_and_solves_the_score_equations():
    rng = np.random.default_rng(1)
    value = rng.normal(140, 15, 20_000)
    event = rng.random(20_000) < expit(-6 + 0.035 * value)
    model = LogisticRisk.fit(value, event.astype(int))
    coef = np.array(list(model.coefficients.values()))
    se = np.sqrt(np.diag(model.covariance))
    assert abs(coef[0] + 6) < 3 * se[0] and abs(coef[1] - 0.035) < 3 * se[1]
    X = np.column_stack([np.ones_like(value), value])
    np.testing.assert_allclose(X.T @ (event - expit(X @ coef)), 0, atol=1e-6)


def test_logistic_risk_propagates_coefficient_uncertainty():
    model = LogisticRisk({"(Intercept)": 0.0, "value": 1.0}, covariance=np.diag([0.25, 0.0]))
    risk = model.risk_draws(np.zeros((100_000, 1)), rng=np.random.default_rng(2))
    # expit(N(0, 0.5²)): mean 1/2 by symmetry, second moment by quadrature
    second, _ = quad(lambda a: expit(a) ** 2 * stats.norm.pdf(a, 0, 0.5), -10, 10)
    assert risk.mean() == pytest.approx(0.5, abs=0.002)
    assert risk.std() == pytest.approx(np.sqrt(second - 0.25), rel=0.02)


def test_within_sd_by_hand():
    y = np.array([1.0, 3.0, 10.0, 14.0, 20.0])
    index = np.array([0, 0, 1, 1, 2])
    # squares 2 + 8 + 0 = 10 over n − L = 5 − 3
    assert statistic(y, "within_sd", index) == pytest.approx(np.sqrt(10 / 2))
    with pytest.raises(DesignError, match="group"):
        statistic(y, "within_sd")
    with pytest.raises(DesignError, match="unknown statistic"):
        statistic(y, "median")


def test_ppc_pvalues_count_replicates_at_or_above():
    y = np.array([0.0, 1.0, 2.0])                       # mean 1
    y_rep = np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [2.0, 2.0, 2.0], [3.0, 3.0, 3.0]])
    table = ppc_pvalues(y, y_rep, stats=("mean", "max"))
    assert table.set_index("statistic").loc["mean", "p_value"] == 0.75   # 1, 2, 3 ≥ 1
    assert table.set_index("statistic").loc["max", "p_value"] == 0.5     # 2, 3 ≥ 2
    assert table.set_index("statistic").loc["mean", "replicated"] == 1.5
