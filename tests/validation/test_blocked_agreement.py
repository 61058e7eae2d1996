"""The blocked engine (every effect integrated out) gives the plain model's posterior: NUTS
with every effect sampled on the PyMC graph, for each shape the engine covers (crossed
correlated slopes, nested factors with few levels, a residual CAR(1) with a sigma formula)."""

import warnings

import numpy as np
import pytest

import lmm_bayes as lb
from lmm_bayes.sampling import SamplerConfig

pytestmark = [pytest.mark.validation, pytest.mark.slow]

CONFIG = SamplerConfig(draws=1000, tune=1000, chains=4, random_seed=5, target_accept=0.95)
CASES = {
    "crossed slopes": ("pixel ~ day + I(day^2) + (day | Dog) + (1 | Dog:Side)", "pixel", {}),
    "nested, few levels": ("score ~ Machine + (1 | Worker/Machine)", "machines", {}),
    "car1 and sigma formula": ("weight ~ Time * Diet + (Time | Rat)", "bodyweight",
                               {"residual": "car1(Time | Rat)", "sigma": "~ log(Time)"}),
}


@pytest.fixture(scope="module", params=list(CASES), ids=list(CASES))
def fits(request):
    formula, data, options = CASES[request.param]
    model = lb.LMM(formula, lb.load_dataset(data), **options)
    assert model.engine().engine == "blocked"
    with warnings.catch_warnings():   # the plain model mixes worse (pixel: tail ESS ~150)
        warnings.simplefilter("ignore", lb.SamplingWarning)
        return model.fit_with(CONFIG, engine="blocked"), model.fit_with(CONFIG, engine="graph")


def test_blocked_and_plain_posteriors_agree(fits):
    """Posterior means within 0.2 posterior SD (Monte Carlo error of ≥ 400 effective draws on
    each side is about 0.07 SD) and SDs within 15%, for every parameter."""
    blocked, plain = (fit.summary() for fit in fits)
    assert np.all(np.abs(blocked.estimate - plain.estimate) < 0.2 * plain.std_error), (
        blocked, plain)
    np.testing.assert_allclose(blocked.std_error, plain.std_error, rtol=0.15)
