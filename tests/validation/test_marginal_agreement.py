"""The marginal likelihood gives the same posterior as the plain model with sampled effects,
whether NUTS runs on the compiled density (the default) or on the PyMC graph."""

import numpy as np
import pytest

import lmm_bayes as lb
from lmm_bayes.sampling import SamplerConfig

pytestmark = pytest.mark.validation

FORMULA = "Reaction ~ Days + (Days | Subject)"
CONFIG = SamplerConfig(draws=1000, tune=1000, chains=4, random_seed=3, target_accept=0.95)


@pytest.fixture(scope="module")
def fits(sleepstudy):
    marginal = lb.LMM(FORMULA, sleepstudy, likelihood="marginal")
    assert marginal.engine().engine == "marginal"
    return {
        "compiled density": marginal.fit_with(CONFIG, engine="marginal"),
        "PyMC marginal graph": marginal.fit_with(CONFIG, engine="graph"),
        "conditional": lb.LMM(FORMULA, sleepstudy, likelihood="conditional")
        .fit(draws=1000, tune=1000, chains=4, random_seed=3),
    }


@pytest.mark.parametrize("route", ["compiled density", "PyMC marginal graph"])
def test_marginal_and_conditional_posteriors_agree(fits, route):
    """Posterior means within 0.15 posterior SD (Monte Carlo error of ~1000 effective draws is
    ~0.03 SD) and SDs within 10%, for every parameter and for each subject's effects."""
    m, c = fits[route].summary(), fits["conditional"].summary()
    assert np.all(np.abs(m.estimate - c.estimate) < 0.15 * c.std_error), (m, c)
    np.testing.assert_allclose(m.std_error, c.std_error, rtol=0.1)
    b_m = fits[route].random_effects("Subject")
    b_c = fits["conditional"].random_effects("Subject")
    assert np.all(np.abs(b_m.estimate - b_c.estimate) < 0.15 * b_c.std_error)
    np.testing.assert_allclose(b_m.std_error, b_c.std_error, rtol=0.1)
