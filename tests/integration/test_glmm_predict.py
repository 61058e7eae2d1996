"""Prediction, exceedance, predictive checks and LOO for a Bernoulli GLMM (short sampling)."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

import lmm_bayes as lb


@pytest.fixture(scope="module")
def binary_fit():
    rng = np.random.default_rng(5)
    subject = np.repeat(np.arange(40), 12)
    x = np.tile(np.linspace(-1, 1, 12), 40)
    b = rng.normal(0, 1.2, 40)
    y = rng.random(len(x)) < expit(-0.3 + 1.5 * x + b[subject])
    data = pd.DataFrame({"y": y.astype(int), "x": x, "subject": subject})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lb.SamplingWarning)
        return lb.fit("y ~ x + (1 | subject)", data, family="bernoulli", draws=300, tune=300,
                      chains=2, random_seed=3)


def test_probabilities_and_population_averaging(binary_fit):
    new = pd.DataFrame({"x": [1.0, 1.0], "subject": [0, 99]})
    known = binary_fit.predict(new.iloc[[0]], groups="conditional")["estimate"].iloc[0]
    post = binary_fit.idata.posterior
    eta = post["beta"].sel(fixed="(Intercept)") + post["beta"].sel(fixed="x") + post[
        "b_subject"].sel(subject__level="0", subject__term="(Intercept)")
    assert known == pytest.approx(float(expit(eta).mean()))
    at_zero = binary_fit.predict(new, groups="population")["estimate"]
    averaged = binary_fit.predict(new, groups="marginal")["estimate"]
    assert 0.5 < averaged.iloc[0] < at_zero.iloc[0]      # averaging over b pulls towards 1/2
    response = binary_fit.predict_draws(new, kind="response", random_seed=1)
    assert set(np.unique(response.values)) == {0.0, 1.0}
    p = binary_fit.exceedance(new, 0.5, random_seed=1)["probability"]
    assert p.iloc[1] == pytest.approx(float((response.values[..., 1] > 0.5).mean()))


def test_checks_and_loo(binary_fit):
    table = binary_fit.ppc_pvalues(stats=("mean",)).set_index("statistic")
    assert table.loc["mean", "observed"] == pytest.approx(binary_fit.model.design.y.mean())
    assert 0.02 < table.loc["mean", "p_value"] < 0.98
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loo = binary_fit.loo()
    # the pointwise log-likelihood is the Bernoulli log-mass: elpd lies below 0 and above
    # that of a coin flip for every row
    assert len(binary_fit.model.design.y) * np.log(0.5) < loo.elpd_loo < 0
