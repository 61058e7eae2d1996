"""Observation weights, an observation-level random effect and an offset against lme4.

Reference numbers from ``Rscript scripts/weights_olre_reference.R`` (lme4 1.1.31), the
exact calls in the comments. The criterion of shared/data/README.md: each fixed effect
within one posterior SD of lme4's estimate, each SD inside the central 90% interval."""

import warnings

import pytest

import lmm_bayes as lb

pytestmark = [pytest.mark.validation, pytest.mark.slow]

DRAWS = {"draws": 1000, "tune": 1000, "chains": 4, "random_seed": 11}

# sleep <- transform(sleepstudy, w = 1 + Days %% 3)
# lmer(Reaction ~ Days + (Days | Subject), data = sleep, weights = w, REML = FALSE)
LMER_WEIGHTS = {("", "(Intercept)"): 249.9507, ("", "Days"): 10.6774,
                ("Subject", "sd__(Intercept)"): 25.3600, ("Subject", "sd__Days"): 6.33634,
                ("Residual", "sd__Observation"): 31.8060}
LMER_UNWEIGHTED_SIGMA = 25.5919  # sigma() of the same lmer call without weights

# ticks <- transform(grouseticks, w = c(1, 2, 0.5)[as.integer(YEAR)])
# glmer(TICKS ~ YEAR + cHEIGHT + (1 | BROOD), family = poisson, data = ticks, weights = w)
GLMER_WEIGHTS = {("", "(Intercept)"): 0.5109512, ("", "YEAR96"): 1.1226349,
                 ("", "YEAR97"): -0.9549026, ("", "cHEIGHT"): -0.0239649,
                 ("BROOD", "sd__(Intercept)"): 0.945298}

# glmer(TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX), family = poisson,
#       data = grouseticks)                     (Elston et al. 2001; Harrison 2014)
GLMER_OLRE = {("", "(Intercept)"): 0.4099872, ("", "YEAR96"): 1.1489170,
              ("", "YEAR97"): -0.9906144, ("", "cHEIGHT"): -0.0240491,
              ("BROOD", "sd__(Intercept)"): 0.908537, ("INDEX", "sd__(Intercept)"): 0.543478}

# glmer(TICKS ~ YEAR + offset(log(HEIGHT)) + (1 | BROOD), family = poisson,
#       data = grouseticks)
GLMER_OFFSET = {("", "(Intercept)"): -5.810904, ("", "YEAR96"): 1.374890,
                ("", "YEAR97"): -0.899131, ("BROOD", "sd__(Intercept)"): 1.32527}


def _fit(formula, data, **options):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", lb.SamplingWarning)
        fit = lb.fit(formula, data, **DRAWS, **options)
    return fit, [str(w.message) for w in caught if issubclass(w.category, lb.SamplingWarning)]


def _agrees(fit, reference):
    """Fixed effects within one posterior SD, SDs inside the 90% interval; the rows."""
    table = fit.summary(prob=0.9).set_index(["group", "term"])
    for key, value in reference.items():
        row = table.loc[key]
        if key[0]:
            assert row.conf_low < value < row.conf_high, (key, row.to_dict(), value)
        else:
            assert abs(row.estimate - value) < row.std_error, (key, row.estimate, value)
    return table


def _ticks():
    return lb.load_dataset("grouseticks")


def test_precision_weights_agree_with_lmer():
    data = lb.load_dataset("sleepstudy").assign(w=lambda d: 1.0 + d.Days % 3)
    fit, caught = _fit("Reaction ~ Days + (Days | Subject)", data, weights="w")
    table = _agrees(fit, LMER_WEIGHTS)
    sigma = table.loc[("Residual", "sd__Observation")]
    assert not sigma.conf_low < LMER_UNWEIGHTED_SIGMA < sigma.conf_high  # the weights count
    assert fit.engine[0] == "graph" and caught == []


def test_prior_weights_agree_with_glmer():
    data = _ticks().assign(w=lambda d: d.YEAR.map({"95": 1.0, "96": 2.0, "97": 0.5}))
    fit, caught = _fit("TICKS ~ YEAR + cHEIGHT + (1 | BROOD)", data, family="poisson",
                       weights="w")
    table = _agrees(fit, GLMER_WEIGHTS)
    # the plain PyMC model of 118 non-centred broods mixes slowly (R-hat up to 1.02 with
    # 4 × 1000 draws): no divergences, and the agreement above is the check
    assert fit.engine[0] == "graph" and table.r_hat.max() < 1.05
    assert not [message for message in caught if "divergent" in message]


def test_observation_level_effect_agrees_with_glmer():
    """On the graph engine: the GLMM engine's full model (NUTS from its own start) left one
    chain of four stuck far from the posterior with this seed (R-hat 1.6), a weakness of its
    start and adaptation on this model, not of the model."""
    fit, caught = _fit("TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX)", _ticks(),
                       family="poisson", engine="graph")
    table = _agrees(fit, GLMER_OLRE)
    assert table.loc[("INDEX", "sd__(Intercept)"), "estimate"] == pytest.approx(0.543, abs=0.06)
    assert not [message for message in caught if "divergent" in message]
    assert table.r_hat.max() < 1.05


def test_offset_agrees_with_glmer():
    fit, caught = _fit("TICKS ~ YEAR + offset(log(HEIGHT)) + (1 | BROOD)", _ticks(),
                       family="poisson")
    _agrees(fit, GLMER_OFFSET)
    assert fit.engine[0] == "glmm" and "quadrature" in fit.engine[1] and caught == []
