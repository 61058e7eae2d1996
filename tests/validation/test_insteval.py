"""The large crossed design (73,421 rows; 2,972 students × 1,128 lecturers) against lme4.

The model is collapsed (every effect integrated out, :mod:`lmm_bayes.collapsed`) and sampled
by the independence sampler (:mod:`lmm_bayes.imh`), about 15 s on 2 cores.
"""

import warnings

import pytest
from conftest import reference_data

import lmm_bayes as lb

pytestmark = pytest.mark.validation

# lme4 REML, shared/data/README.md
REML = {("", "(Intercept)"): 3.2807, ("", "service1"): -0.0535,
        ("s", "sd__(Intercept)"): 0.3247, ("d", "sd__(Intercept)"): 0.5124,
        ("dept:service", "sd__(Intercept)"): 0.1097, ("Residual", "sd__Observation"): 1.1768}


@pytest.fixture(scope="module")
def insteval_fit():
    data = reference_data("insteval")
    model = lb.LMM("y ~ service + (1 | s) + (1 | d) + (1 | dept:service)", data,
                   factors=["service"])
    assert model.engine().sampler == "imh"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", lb.SamplingWarning)
        fit = model.fit(draws=500, chains=2, random_seed=1)
    return fit, [str(w.message) for w in caught]


def test_insteval_agrees_with_lme4(insteval_fit):
    """Each fixed effect within one posterior SD of the REML value (0.01 at least), each
    REML variance parameter inside the central 90% interval."""
    fit, messages = insteval_fit
    assert not messages
    table = fit.summary(prob=0.9).set_index(["group", "term"])
    for (group, term), value in REML.items():
        row = table.loc[(group, term)]
        if group == "":
            assert abs(row.estimate - value) < max(row.std_error, 0.01), (term, row.estimate)
        else:
            assert row.conf_low < value < row.conf_high, (group, term, row.conf_low,
                                                          row.conf_high)


def test_insteval_random_effects_follow_the_data(insteval_fit):
    """Each lecturer's effect has the sign of their mean rating's departure from the grand
    mean once it is well determined (its interval excludes 0), and every level is labelled."""
    fit, _ = insteval_fit
    data = reference_data("insteval")
    table = fit.random_effects("d").set_index("level")
    assert len(table) == data.d.nunique()
    departure = data.groupby(data.d.astype(str)).y.mean() - data.y.mean()
    clear = table[(table.conf_low > 0) | (table.conf_high < 0)]
    assert len(clear) > 200
    assert (clear.estimate * departure.loc[clear.index] > 0).mean() > 0.97
