"""Ordinal outcomes (the cumulative family) against ordinal::clmm on Christensen's wine data,
and the recovery of a simulated model's truth."""

import warnings

import numpy as np
import pandas as pd
import pytest

import lmm_bayes as lb

pytestmark = [pytest.mark.validation, pytest.mark.slow]

FORMULA = "rating ~ temp + contact + (1 | judge)"
# Rscript scripts/export_ordinal_data.R (ordinal 2022.11.16):
#   clmm(rating ~ temp + contact + (1 | judge), data = wine, link = link)  (Laplace ML)
#   coef(fm); sqrt(as.numeric(VarCorr(fm)$judge))
CLMM = {
    "logit": {"tempwarm": 3.062997, "contactyes": 1.834885, "1|2": -1.623667,
              "2|3": 1.513365, "3|4": 4.228527, "4|5": 6.088773, "sd__(Intercept)": 1.131133},
    "probit": {"tempwarm": 1.8000144, "contactyes": 1.0482055, "1|2": -0.9264797,
               "2|3": 0.8894378, "3|4": 2.4675927, "4|5": 3.5366622,
               "sd__(Intercept)": 0.6631532},
}
#: priors wide enough for the likelihood to decide, so that the posterior is clmm's model's
WIDE = {"b": lb.Prior("normal", mu=0.0, sigma=20.0),
        "cutpoints": lb.Prior("normal", mu=0.0, sigma=20.0)}
SAMPLING = {"draws": 1000, "tune": 1000, "chains": 4, "random_seed": 11}


def _wine_fit(link, priors=None):
    model = lb.LMM(FORMULA, lb.load_dataset("wine"), family="cumulative", link=link,
                   priors=priors)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", lb.SamplingWarning)
        fit = model.fit(**SAMPLING)
    return fit.summary(prob=0.9).set_index("term"), [str(w.message) for w in caught]


@pytest.fixture(scope="module", params=["logit", "probit"])
def wide_fit(request):
    return request.param, *_wine_fit(request.param, WIDE)


def test_wide_prior_posterior_agrees_with_clmm(wide_fit):
    """Fixed effects and cutpoints within half a posterior SD of clmm's ML estimates; the
    judges' SD inside the central 90% interval (9 judges: its posterior is wide and
    right-skewed, so its mean lies above the ML estimate); no sampling warnings."""
    link, table, caught = wide_fit
    for term, value in CLMM[link].items():
        row = table.loc[term]
        if term.startswith("sd__"):
            assert row.conf_low < value < row.conf_high, (link, term, row)
        else:
            assert abs(row.estimate - value) < 0.5 * row.std_error, (link, term, row, value)
    assert caught == []


def test_default_priors_pull_the_estimates_in_by_less_than_a_posterior_sd():
    """With the default priors (Normal(0, 2.5) per indicator, Student-t(3, 0, 2.5) per
    cutpoint) the logit posterior means lie within one posterior SD of clmm's, nearer zero:
    the priors' weak pull on a 72-row data set."""
    table, caught = _wine_fit("logit")
    for term, value in CLMM["logit"].items():
        if term.startswith("sd__"):
            continue
        row = table.loc[term]
        assert abs(row.estimate - value) < row.std_error, (term, row, value)
    assert table.loc["tempwarm", "estimate"] < CLMM["logit"]["tempwarm"]
    assert caught == []


TRUTH = {"x": 0.8, "armB": -0.6, "1|2": -1.0, "2|3": 0.3, "3|4": 1.6, "sd__(Intercept)": 0.9}


@pytest.mark.parametrize("link", ["logit", "probit"])
def test_simulated_truth_is_recovered(link):
    """50 levels × 16 rows simulated from the model (latent logistic or normal residual):
    each parameter's truth within three posterior SDs of its mean, and inside the central
    99% interval."""
    rng = np.random.default_rng(21 if link == "logit" else 22)
    level = np.repeat(np.arange(50), 16)
    x = rng.normal(size=len(level))
    arm = rng.choice(["A", "B"], size=len(level))
    noise = rng.logistic(size=len(x)) if link == "logit" else rng.normal(size=len(x))
    latent = (TRUTH["x"] * x + TRUTH["armB"] * (arm == "B")
              + rng.normal(0, TRUTH["sd__(Intercept)"], 50)[level] + noise)
    codes = np.searchsorted([TRUTH["1|2"], TRUTH["2|3"], TRUTH["3|4"]], latent)
    data = pd.DataFrame({"y": codes + 1, "x": x, "arm": arm, "g": level.astype(str)})
    model = lb.LMM("y ~ x + arm + (1 | g)", data, family="cumulative", link=link)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lb.SamplingWarning)
        fit = model.fit(draws=500, tune=500, chains=2, random_seed=3)
    table = fit.summary(prob=0.99).set_index("term")
    for term, value in TRUTH.items():
        row = table.loc[term]
        assert abs(row.estimate - value) < 3 * row.std_error, (link, term, row)
        assert row.conf_low < value < row.conf_high, (link, term, row)
