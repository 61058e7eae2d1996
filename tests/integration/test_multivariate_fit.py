"""A small bivariate fit through the whole multivariate path (the worked examples, larger, are
in the slow tier: tests/integration/test_multivariate_docs.py)."""

import numpy as np
import pytest
from conftest import quiet_fit

import lmm_bayes as lb
from lmm_bayes.simulate import SYMPTOMS_IL6_TRUTH, simulate_symptoms_il6


@pytest.fixture(scope="module")
def table():
    data = simulate_symptoms_il6()
    data = data[data.id.isin(data.id.unique()[:30])]   # 30 patients: a short, cheap fit
    model = lb.MultivariateLMM(["depression ~ months + (1 + months |p| id)",
                                "il6 ~ months + (1 + months |p| id)"], data, rescor=True)
    fit = quiet_fit(model, draws=200, tune=200, chains=2, random_seed=1)
    return fit.summary().set_index("term")


def test_every_parameter_is_reported_with_its_outcome(table):
    assert set(SYMPTOMS_IL6_TRUTH) <= set(table.index)
    assert table.loc["rescor__depression.il6", "group"] == "Residual"


def test_estimates_are_near_the_truth(table):
    """Every estimate within 4 posterior SDs of its true value; the cross-outcome
    correlations and the residual correlation inside their 95% intervals."""
    truth = table.loc[list(SYMPTOMS_IL6_TRUTH)].assign(truth=list(SYMPTOMS_IL6_TRUTH.values()))
    assert np.all(np.abs(truth.estimate - truth.truth) < 4 * truth.std_error), truth
    for term in ("cor__depression:(Intercept).il6:(Intercept)",
                 "cor__depression:months.il6:months", "rescor__depression.il6"):
        row = truth.loc[term]
        assert row.conf_low < row.truth < row.conf_high, row
