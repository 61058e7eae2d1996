"""poly(x, 2) and factor(x) agree with lme4 on the same formula.

Reference (R 4.2, lme4), on lmm_bayes's shipped ``bodyweight`` data (nlme's BodyWeight)::

    d <- read.csv("lmm_bayes/data/bodyweight.csv"); d$Rat <- factor(d$Rat)
    m <- lmer(weight ~ poly(Time, 2) + factor(Diet) + (1 + Time | Rat), data = d, REML = TRUE)
    fixef(m); sqrt(diag(vcov(m)))

(``scripts/r_spellings_golden.R`` prints them.)

Criterion as in ``test_reference.py``: each posterior mean within one posterior SD of the REML
estimate (the columns are R's, so the same coefficients are compared by name).
"""

import warnings

import pytest

import lmm_bayes as lb

pytestmark = [pytest.mark.validation, pytest.mark.slow]

FORMULA = "weight ~ poly(Time, 2) + factor(Diet) + (1 + Time | Rat)"
# fixef(m), sqrt(diag(vcov(m)))
LME4 = {"(Intercept)": (266.103959569, 12.958419126),
        "poly(Time, 2)1": (151.151269219, 22.782635014),
        "poly(Time, 2)2": (5.132048758, 4.438456873),
        "factor(Diet)2": (214.588230217, 22.386436365),
        "factor(Diet)3": (258.927749687, 22.386436365)}


@pytest.fixture(scope="module")
def summary():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lb.SamplingWarning)
        fit = lb.fit(FORMULA, lb.load_dataset("bodyweight"), draws=1000, tune=1000, chains=2,
                     random_seed=22)
    table = fit.summary()
    return table[table.effect == "fixed"].set_index("term")


def test_columns_are_lme4s(summary):
    assert summary.index.tolist() == list(LME4)


@pytest.mark.parametrize("term", LME4)
def test_posterior_means_within_one_sd_of_lme4(summary, term):
    estimate, _ = LME4[term]
    row = summary.loc[term]
    assert abs(row.estimate - estimate) < row.std_error, (term, row.estimate, estimate)
