"""The marginal engine's independence sampler against its NUTS, on sleepstudy: the same
posterior, the public layout, the same draws under the same seed."""

import numpy as np
import pytest
from conftest import quiet_fit

POPULATION = ["beta", "sd_Subject", "corr_Subject", "sigma"]


@pytest.fixture(scope="module")
def imh_fit(sleep_model):
    return quiet_fit(sleep_model, draws=1000, chains=2, random_seed=5, sampler="imh")


@pytest.fixture(scope="module")
def nuts_fit(sleep_model):
    return quiet_fit(sleep_model, draws=1000, tune=500, chains=2, random_seed=5)


def test_the_independence_sampler_gives_the_posterior_of_nuts(imh_fit, nuts_fit):
    """Posterior means within a fifth of a posterior SD, SDs within 15%: both have an
    ESS of hundreds, so Monte Carlo error is under a tenth of an SD."""
    assert imh_fit.engine[0] == "marginal" and imh_fit.config.sampler == "imh"
    assert imh_fit.idata.sample_stats.attrs["pareto_k"] <= 0.5
    for name in POPULATION:
        ours = imh_fit.idata.posterior[name].values.reshape(2000, -1)
        theirs = nuts_fit.idata.posterior[name].values.reshape(2000, -1)
        sd = theirs.std(axis=0)
        np.testing.assert_array_less(np.abs(ours.mean(axis=0) - theirs.mean(axis=0)), 0.2 * sd)
        np.testing.assert_allclose(ours.std(axis=0), sd, rtol=0.15)


def test_the_independence_samplers_fit_has_the_public_layout_and_is_reproducible(
        imh_fit, sleep_model):
    post = imh_fit.idata.posterior
    assert set(post.data_vars) == {*POPULATION, "b_Subject"}
    assert post["b_Subject"].dims == ("chain", "draw", "Subject__level", "Subject__term")
    again = quiet_fit(sleep_model, draws=1000, chains=2, random_seed=5, sampler="imh")
    np.testing.assert_array_equal(again.idata.posterior["beta"], post["beta"])
    assert imh_fit.fixef().shape[0] == 2
