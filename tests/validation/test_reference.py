"""Agreement with lme4's REML estimates on the reference data sets (shared/data/README.md).

Criterion from that README: each fixed effect within about one posterior SD of the REML value,
each REML variance parameter inside the central 90% posterior interval, and no divergences
at the default settings.
"""

import warnings

import numpy as np
import pytest
from conftest import reference_data

import lmm_bayes as lb
from lmm_bayes.testing import REFERENCE_CASES, reference_agreement

pytestmark = pytest.mark.validation

@pytest.fixture(scope="module", params=sorted(REFERENCE_CASES))
def reference_fit(request):
    name = request.param
    formula, reml = REFERENCE_CASES[name]
    model = lb.LMM(formula, reference_data(name))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", lb.SamplingWarning)
        fit = model.fit(draws=1000, tune=1000, chains=4, random_seed=2024)
    return name, fit, reml, [str(w.message) for w in caught]


def test_fixed_effects_within_one_posterior_sd(reference_fit):
    name, fit, reml, _ = reference_fit
    table = reference_agreement(name, fit, prob=0.9)
    assert list(zip(table.group, table.term)) == list(reml)  # every reference value tabulated
    fixed = table[table.group == ""]
    assert (fixed.z.abs() < 1).all(), fixed


def test_variance_parameters_inside_90_percent_interval(reference_fit):
    name, fit, _, _ = reference_fit
    table = reference_agreement(name, fit, prob=0.9)
    variance = table[table.group != ""]
    assert variance.covered.all(), variance


def test_no_divergences_at_defaults(reference_fit):
    name, fit, _, messages = reference_fit
    assert int(fit.idata.sample_stats["diverging"].sum()) == 0, (name, messages)


def test_sleepstudy_agrees_with_brms():
    """brms 2.18 with its default priors (shared/data/README.md): posterior means within
    0.3 posterior SD of brms's, a tolerance both Monte Carlo error and the slightly different
    default priors fit inside."""
    brms = {"(Intercept)": (251.1, 7.3), "Days": (10.4, 1.7), "sd__(Intercept)": (26.7, 6.8),
            "sd__Days": (6.5, 1.5), "cor__(Intercept).Days": (0.10, 0.29),
            "sd__Observation": (25.9, 1.5)}
    model = lb.LMM("Reaction ~ Days + (Days | Subject)", reference_data("sleepstudy"))
    table = model.fit(draws=1000, tune=1000, chains=4, random_seed=7).summary()
    for term, (mean, sd) in brms.items():
        estimate = table.set_index("term").loc[term, "estimate"]
        assert abs(estimate - mean) < 0.3 * sd, (term, estimate, mean)
        assert np.isclose(table.set_index("term").loc[term, "std_error"], sd, rtol=0.25)
