"""Summaries of full-length fits against lme4's estimates (shared/data/README.md) and
against refitting.

Criterion as in test_reference.py: a posterior mean within about one posterior SD of lme4's
value, a REML-derived quantity inside the central 90% interval.
"""

import pytest
from conftest import quiet_fit, reference_data
from test_recovery import simulate

import lmm_bayes as lb

pytestmark = pytest.mark.validation

# SamplingWarning is silenced (quiet_fit) where the assertions are about the summaries and
# the fits' diagnostics are checked by test_reference.py and test_recovery.py.
LONG = {"draws": 1000, "tune": 1000, "chains": 4}


@pytest.fixture(scope="module")
def sleep_long():
    model = lb.LMM("Reaction ~ Days + (Days | Subject)", reference_data("sleepstudy"))
    return quiet_fit(model, **LONG, random_seed=2024)


@pytest.mark.parametrize(("term", "fixed", "mode"), [
    ("(Intercept)", 251.4051, -40.3987), ("Days", 10.4673, -8.6197)])
def test_subject_309_near_lme4_conditional_modes(sleep_long, term, fixed, mode):
    """Subject 309's own intercept and slope (fixed + random effect): lme4's fixed effect
    plus its conditional mode, 211.0064 and 1.8476, within one posterior SD of the
    posterior mean."""
    row = sleep_long.shrinkage("Subject", term).loc["309"]
    assert abs(row.partial_pooling - (fixed + mode)) < row.std_error, (term, row.partial_pooling,
                                                                       row.std_error)


def test_dyestuff_icc_interval_covers_reml():
    """REML: 42.0006² / (42.0006² + 49.5101²) = 0.418."""
    fit = quiet_fit(lb.LMM("Yield ~ 1 + (1 | Batch)", reference_data("dyestuff")), **LONG,
                    random_seed=2024)
    row = fit.icc(prob=0.9).iloc[0]
    assert row.conf_low < 0.418 < row.conf_high, (row.conf_low, row.estimate, row.conf_high)


def test_pastes_nested_icc_intervals_cover_reml():
    """REML SDs batch 1.2874, cask within batch 2.9041, residual 0.8234: total variance
    10.7692; same batch, other cask 1.6574/10.7692 = 0.154; same cask
    (1.6574 + 8.4338)/10.7692 = 0.937."""
    fit = quiet_fit(lb.LMM("strength ~ 1 + (1 | batch/cask)", reference_data("pastes")),
                    **LONG, random_seed=2024)
    table = fit.icc(prob=0.9).set_index("group")
    assert table.loc["batch:cask", "numerator"] == "var(batch) + var(batch:cask)"
    for group, reml in [("batch", 0.154), ("batch:cask", 0.937)]:
        row = table.loc[group]
        assert row.conf_low < reml < row.conf_high, (group, row.conf_low, row.conf_high)


def test_recenter_agrees_with_refitting_the_shifted_time():
    """200 simulated subjects × 10 visits (truth ρ = −0.5, test_recovery.TRUTH); the
    components re-expressed at time 4.5 from the draws against a refit on time − 4.5.

    The two posteriors differ only through the prior, which each fit puts on its own
    parameters: LKJ(η = 1) makes the correlation's prior uniform in both, and what is left
    (the SD priors, transformed) moves the means by about √(2/200) = 0.1 posterior SD.
    With Monte Carlo error of two fits on top, the tolerance is 0.3 posterior SD; a wrong
    transform is off by many SDs (the correlation changes sign: −0.5 → about +0.37)."""
    data = simulate(n_subjects=200, n_visits=10, seed=7)
    priors = {"eta": 1}
    fit = quiet_fit(lb.LMM("y ~ time + (time | subject)", data, priors=priors), **LONG,
                    random_seed=1)
    refit = quiet_fit(lb.LMM("y ~ tc + (tc | subject)", data.assign(tc=data.time - 4.5),
                             priors=priors), **LONG, random_seed=2)
    moved = fit.recenter("time", 4.5).set_index("term")
    direct = refit.variance_components().set_index("term")
    for term, row in direct.iterrows():
        estimate = moved.loc[term.replace("tc", "time"), "estimate"]
        assert abs(estimate - row.estimate) < 0.3 * row.std_error, (term, estimate, row.estimate)
    before = fit.variance_components().set_index("term").loc["cor__(Intercept).time"]
    after = moved.loc["cor__(Intercept).time"]
    assert before.conf_high < 0 < after.conf_low
