"""The large crossed design (73,421 rows; 2,972 students × 1,128 lecturers): slow tier."""

import warnings

import pytest
from conftest import reference_data

import lmm_bayes as lb

pytestmark = [pytest.mark.slow, pytest.mark.validation]

# lme4 REML, shared/data/README.md
REML = {("", "(Intercept)"): 3.2807, ("", "service1"): -0.0535,
        ("s", "sd__(Intercept)"): 0.3247, ("d", "sd__(Intercept)"): 0.5124,
        ("dept:service", "sd__(Intercept)"): 0.1097, ("Residual", "sd__Observation"): 1.1768}


def test_insteval_agrees_with_lme4():
    data = reference_data("insteval")
    model = lb.LMM("y ~ service + (1 | s) + (1 | d) + (1 | dept:service)", data,
                   factors=["service"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lb.SamplingWarning)  # 2 × 500 draws: ESS below 400
        fit = model.fit(draws=500, tune=500, chains=2, random_seed=1)
    table = fit.summary(prob=0.9).set_index(["group", "term"])
    for (group, term), value in REML.items():
        row = table.loc[(group, term)]
        if group == "":
            assert abs(row.estimate - value) < max(row.std_error, 0.01), (term, row.estimate)
        else:
            assert row.conf_low < value < row.conf_high, (group, term, row.conf_low,
                                                          row.conf_high)
