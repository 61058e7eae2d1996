"""The JAX twin of the compiled marginal density (the GPU path); needs the numpyro extra."""

import numpy as np
import pytest
from conftest import quiet_fit

import lmm_bayes as lb

jax = pytest.importorskip("jax")
pytest.importorskip("numpyro")
from lmm_bayes.kernel_jax import log_density_function


@pytest.mark.parametrize("formula", ["Reaction ~ Days + (Days | Subject)",
                                     "Reaction ~ Days + (1 | Subject)",
                                     "Reaction ~ 0 + Days + (Days || Subject)"])
def test_jax_density_and_gradient_equal_the_numba_density(sleepstudy, formula):
    jax.config.update("jax_enable_x64", True)
    density = lb.LMM(formula, sleepstudy).target("marginal")
    value_and_grad = jax.value_and_grad(log_density_function(density))
    for shift in (0.0, 0.3, -0.4):
        x = density.start + shift
        value, gradient = density.log_density(x)
        value_j, gradient_j = value_and_grad(x)
        assert float(value_j) == pytest.approx(value, abs=1e-8)
        np.testing.assert_allclose(np.asarray(gradient_j), gradient, rtol=1e-8, atol=1e-8)


def test_numpyro_fit_agrees_with_nutpie(sleepstudy):
    """Posterior means within 0.2 posterior SD of each other (Monte Carlo error of a few
    hundred effective draws each is about 0.07 SD)."""
    model = lb.LMM("Reaction ~ Days + (1 | Subject)", sleepstudy)
    fits = {s: quiet_fit(model, draws=500, tune=500, chains=2, random_seed=4, sampler=s)
            for s in ("numpyro", "nutpie")}
    a, b = (fits[s].summary() for s in ("numpyro", "nutpie"))
    assert np.all(np.abs(a.estimate - b.estimate) < 0.2 * b.std_error), (a, b)
    assert int(fits["numpyro"].idata.sample_stats["diverging"].sum()) == 0
