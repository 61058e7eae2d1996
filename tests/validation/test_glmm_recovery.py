"""Recovery of known parameters from simulated GLMM data: Bernoulli and Poisson responses
with correlated random intercepts and slopes, a negative binomial's dispersion, and a
trial-level binary experiment with crossed subject × stimulus effects and unbalanced trial
counts per condition, whose population-averaged effect is checked against a direct
simulation of the marginal model."""

import numpy as np
import pandas as pd
import pytest
from conftest import quiet_fit
from scipy import special

import lmm_bayes as lb

pytestmark = [pytest.mark.validation, pytest.mark.slow]


def correlated_effects(rng, n, sd, rho):
    cov = np.outer(sd, sd) * np.array([[1.0, rho], [rho, 1.0]])
    return rng.multivariate_normal(np.zeros(2), cov, size=n)


def assert_covered(fit, truth, prob=0.95):
    """Every true value inside its central ``prob`` posterior interval."""
    table = fit.summary(prob=prob).set_index("term")
    for term, value in truth.items():
        row = table.loc[term]
        assert row.conf_low < value < row.conf_high, (term, value, row.conf_low, row.conf_high)


def longitudinal(family, truth, n_subjects, n_visits, seed):
    """Subject-specific lines on the link scale in a covariate x, correlated intercepts and
    slopes; Bernoulli or Poisson responses."""
    rng = np.random.default_rng(seed)
    b = correlated_effects(rng, n_subjects, [truth["sd__(Intercept)"], truth["sd__x"]],
                           truth["cor__(Intercept).x"])
    subject = np.repeat(np.arange(n_subjects), n_visits)
    x = rng.normal(size=subject.size)
    eta = (truth["(Intercept)"] + b[subject, 0] + (truth["x"] + b[subject, 1]) * x)
    y = (rng.random(eta.size) < special.expit(eta)).astype(int) if family == "bernoulli" \
        else rng.poisson(np.exp(eta))
    return pd.DataFrame({"y": y, "x": x, "subject": [f"s{k:03d}" for k in subject]})


@pytest.mark.parametrize("family, truth, n_subjects, n_visits", [
    ("bernoulli", {"(Intercept)": -0.3, "x": 0.8, "sd__(Intercept)": 1.0, "sd__x": 0.6,
                   "cor__(Intercept).x": 0.4}, 150, 30),
    ("poisson", {"(Intercept)": 1.0, "x": -0.4, "sd__(Intercept)": 0.5, "sd__x": 0.3,
                 "cor__(Intercept).x": -0.4}, 80, 12),
])
def test_correlated_random_slopes_recovered(family, truth, n_subjects, n_visits):
    data = longitudinal(family, truth, n_subjects, n_visits, seed=31)
    fit = quiet_fit(lb.LMM("y ~ x + (x | subject)", data, family=family),
                    draws=1000, tune=1000, chains=4, random_seed=3)
    assert_covered(fit, truth)


def test_negative_binomial_dispersion_recovered():
    rng = np.random.default_rng(8)
    group = np.repeat(np.arange(40), 15)
    x = rng.normal(size=group.size)
    mu = np.exp(0.8 + 0.5 * x + rng.normal(0, 0.4, 40)[group])
    y = rng.poisson(rng.gamma(3.0, mu / 3.0))                         # α = 3
    data = pd.DataFrame({"y": y, "x": x, "g": group})
    fit = quiet_fit(lb.LMM("y ~ x + (1 | g)", data, family="negbinomial", factors=["g"]),
                    draws=1000, tune=1000, chains=4, random_seed=4)
    assert_covered(fit, {"(Intercept)": 0.8, "x": 0.5, "sd__(Intercept)": 0.4, "alpha": 3.0})


CROSSED = {"(Intercept)": 0.6, "conditionB": -0.8, "sd__(Intercept)": 0.8,
           "sd__conditionB": 0.5, "cor__(Intercept).conditionB": -0.3, "stimulus": 0.7}


def crossed_effects(rng, n_subjects, n_stimuli):
    subject = correlated_effects(rng, n_subjects, [CROSSED["sd__(Intercept)"],
                                                   CROSSED["sd__conditionB"]],
                                 CROSSED["cor__(Intercept).conditionB"])
    return subject, rng.normal(0, CROSSED["stimulus"], n_stimuli)


def trial_level_experiment(seed=17, n_subjects=50, n_stimuli=40):
    """Every subject answers a random 70% of the stimuli; each trial is in condition B
    with probability 0.3, so trial counts per condition differ by subject (unbalanced).

    Returns the data and the realised SDs and correlation of the simulated effects (with 50
    subjects the realised SD of their intercepts is 0.96 for the generating 0.8: the data
    can only tell the realised values apart from the generating ones to within sampling
    error, so the variance parameters are checked against the realised values)."""
    rng = np.random.default_rng(seed)
    b_subject, b_stimulus = crossed_effects(rng, n_subjects, n_stimuli)
    subject, stimulus = (a.ravel() for a in np.meshgrid(np.arange(n_subjects),
                                                        np.arange(n_stimuli), indexing="ij"))
    keep = rng.random(subject.size) < 0.7
    subject, stimulus = subject[keep], stimulus[keep]
    cond_b = (rng.random(subject.size) < 0.3).astype(float)
    eta = (CROSSED["(Intercept)"] + b_subject[subject, 0] + b_stimulus[stimulus]
           + (CROSSED["conditionB"] + b_subject[subject, 1]) * cond_b)
    correct = (rng.random(eta.size) < special.expit(eta)).astype(int)
    data = pd.DataFrame({"correct": correct, "condition": np.where(cond_b == 1, "B", "A"),
                         "subject": [f"p{k:02d}" for k in subject],
                         "stimulus": [f"w{k:02d}" for k in stimulus]})
    sd = b_subject.std(axis=0, ddof=1)
    realised = {("subject", "sd__(Intercept)"): sd[0], ("subject", "sd__conditionB"): sd[1],
                ("subject", "cor__(Intercept).conditionB"): np.corrcoef(b_subject.T)[0, 1],
                ("stimulus", "sd__(Intercept)"): b_stimulus.std(ddof=1)}
    return data, realised


def marginal_truth(n=400_000, seed=99):
    """The population-averaged logit effects at the true parameters, by simulating the
    marginal model directly: fresh subjects and stimuli, one trial per condition each."""
    rng = np.random.default_rng(seed)
    b_subject, b_stimulus = crossed_effects(rng, n, n)
    base = CROSSED["(Intercept)"] + b_subject[:, 0] + b_stimulus
    p_a = special.expit(base).mean()
    p_b = special.expit(base + CROSSED["conditionB"] + b_subject[:, 1]).mean()
    return special.logit(p_a), special.logit(p_b) - special.logit(p_a)


def test_crossed_trial_level_binary_experiment():
    data, realised = trial_level_experiment()
    counts = data.groupby(["subject", "condition"]).size().unstack()
    assert counts.B.min() < counts.B.max() and (counts.B < counts.A).all()  # unbalanced
    model = lb.LMM("correct ~ condition + (condition | subject) + (1 | stimulus)", data,
                   family="bernoulli")
    fit = quiet_fit(model, draws=1000, tune=1000, chains=4, random_seed=6)
    table = fit.summary().set_index(["group", "term"])
    expected = {("", "(Intercept)"): CROSSED["(Intercept)"],
                ("", "conditionB"): CROSSED["conditionB"], **realised}
    for key, value in expected.items():
        row = table.loc[key]
        assert row.conf_low < value < row.conf_high, (key, value, row.conf_low, row.conf_high)
    pa = fit.marginal_effects().set_index(["effect", "term"]).loc["population_averaged"]
    for term, value in zip(["(Intercept)", "conditionB"], marginal_truth()):
        assert pa.loc[term].conf_low < value < pa.loc[term].conf_high, (term, value, pa)
