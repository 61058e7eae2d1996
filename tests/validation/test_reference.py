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

pytestmark = pytest.mark.validation

# (data set, formula, factors, {(group, term): REML value}) from shared/data/README.md
CASES = {
    "sleepstudy": ("Reaction ~ Days + (Days | Subject)", {
        ("", "(Intercept)"): 251.4051, ("", "Days"): 10.4673,
        ("Subject", "sd__(Intercept)"): 24.7407, ("Subject", "sd__Days"): 5.9221,
        ("Subject", "cor__(Intercept).Days"): 0.0656, ("Residual", "sd__Observation"): 25.5918}),
    "dyestuff": ("Yield ~ 1 + (1 | Batch)", {
        ("", "(Intercept)"): 1527.5, ("Batch", "sd__(Intercept)"): 42.0006,
        ("Residual", "sd__Observation"): 49.5101}),
    "penicillin": ("diameter ~ 1 + (1 | plate) + (1 | sample)", {
        ("", "(Intercept)"): 22.9722, ("plate", "sd__(Intercept)"): 0.8467,
        ("sample", "sd__(Intercept)"): 1.9316, ("Residual", "sd__Observation"): 0.5499}),
    "pastes": ("strength ~ 1 + (1 | batch/cask)", {
        ("", "(Intercept)"): 60.0533, ("batch:cask", "sd__(Intercept)"): 2.9041,
        ("batch", "sd__(Intercept)"): 1.2874, ("Residual", "sd__Observation"): 0.8234}),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def reference_fit(request):
    name = request.param
    formula, reml = CASES[name]
    model = lb.LMM(formula, reference_data(name))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", lb.SamplingWarning)
        fit = model.fit(draws=1000, tune=1000, chains=4, random_seed=2024)
    return name, fit, reml, [str(w.message) for w in caught]


def test_fixed_effects_within_one_posterior_sd(reference_fit):
    name, fit, reml, _ = reference_fit
    table = fit.summary(prob=0.9).set_index(["group", "term"])
    for (group, term), value in reml.items():
        row = table.loc[(group, term)]
        if group == "":
            assert abs(row.estimate - value) < row.std_error, (name, term, row.estimate)


def test_variance_parameters_inside_90_percent_interval(reference_fit):
    name, fit, reml, _ = reference_fit
    table = fit.summary(prob=0.9).set_index(["group", "term"])
    for (group, term), value in reml.items():
        row = table.loc[(group, term)]
        if group != "":
            assert row.conf_low < value < row.conf_high, (name, group, term, row.conf_low,
                                                          row.conf_high)


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
