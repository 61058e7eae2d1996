"""The marginal likelihood gives the same posterior as the plain model with sampled effects."""

import numpy as np
import pytest

import lmm_bayes as lb

pytestmark = pytest.mark.validation


def test_marginal_and_conditional_posteriors_agree(sleepstudy):
    """Posterior means within 0.15 posterior SD (Monte Carlo error of ~1000 effective draws is
    ~0.03 SD) and SDs within 10%, for every parameter and for each subject's effects."""
    fits = {lik: lb.LMM("Reaction ~ Days + (Days | Subject)", sleepstudy, likelihood=lik)
            .fit(draws=1000, tune=1000, chains=4, random_seed=3)
            for lik in ("marginal", "conditional")}
    tables = {lik: fit.summary() for lik, fit in fits.items()}
    m, c = tables["marginal"], tables["conditional"]
    assert np.all(np.abs(m.estimate - c.estimate) < 0.15 * c.std_error), (m, c)
    np.testing.assert_allclose(m.std_error, c.std_error, rtol=0.1)
    b_m = fits["marginal"].random_effects("Subject")
    b_c = fits["conditional"].random_effects("Subject")
    assert np.all(np.abs(b_m.estimate - b_c.estimate) < 0.15 * b_c.std_error)
    np.testing.assert_allclose(b_m.std_error, b_c.std_error, rtol=0.1)
