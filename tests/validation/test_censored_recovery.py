"""A limit-of-detection study: a biomarker on the log scale, about 30% of the visits below the
assay's limit. The censored model (``y | cens(censored)``, Tobit) covers the simulated truth;
the two usual shortcuts, substituting LOD/2 and dropping the censored visits, are biased
(Lubin et al. 2004, *Environ. Health Perspect.* 112(17); Helsel 2012, *Statistics for
Censored Environmental Data*, ch. 1).

Substituting LOD/2 is biased or not depending on where the censored values lie, which the
data do not say: in the "wide" study it happens to land near their mean; in the "narrow"
one it does not. The numbers of both runs are in the README."""

import warnings

import numpy as np
import pandas as pd
import pytest

import lmm_bayes as lb

pytestmark = [pytest.mark.validation, pytest.mark.slow]

#: two studies with the same design, about 30% of visits below the limit, differing in how
#: widely the log-marker varies around its mean ("wide": total SD about 0.8, "narrow": 0.4)
STUDIES = {
    "wide": {"(Intercept)": 1.5, "visit": -0.15, "sd__(Intercept)": 0.6, "sd__Observation": 0.5},
    "narrow": {"(Intercept)": 1.25, "visit": -0.15, "sd__(Intercept)": 0.3,
               "sd__Observation": 0.25},
}
LOD = np.log(2.0)     # the assay's limit, 2 units, on the log scale


def simulate(truth, n_subjects=60, n_visits=6, seed=2024) -> pd.DataFrame:
    """log-biomarker falling with visit; subjects' levels vary; below LOD left-censored."""
    rng = np.random.default_rng(seed)
    subject = np.repeat(np.arange(n_subjects), n_visits)
    visit = np.tile(np.arange(n_visits, dtype=float), n_subjects)
    latent = (truth["(Intercept)"] + truth["visit"] * visit
              + rng.normal(0, truth["sd__(Intercept)"], n_subjects)[subject]
              + rng.normal(0, truth["sd__Observation"], subject.size))
    below = latent < LOD
    return pd.DataFrame({"log_marker": np.where(below, LOD, latent), "visit": visit,
                         "subject": [f"p{k:02d}" for k in subject],
                         "censored": np.where(below, "left", "none")})


def estimates(formula, data) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lb.SamplingWarning)
        fit = lb.LMM(formula, data).fit(draws=1000, tune=1000, chains=4, random_seed=7)
    return fit.summary().set_index("term")[["estimate", "conf_low", "conf_high"]]


def excludes(row, value) -> bool:
    return not row.conf_low < value < row.conf_high


@pytest.mark.parametrize("study", sorted(STUDIES))
def test_lod_study(study):
    truth, data = STUDIES[study], simulate(STUDIES[study])
    share = (data.censored == "left").mean()
    assert 0.25 < share < 0.35
    censored = estimates("log_marker | cens(censored) ~ visit + (1 | subject)", data)
    half = data.assign(log_marker=np.where(data.censored == "left", LOD - np.log(2.0),
                                           data.log_marker))
    substituted = estimates("log_marker ~ visit + (1 | subject)", half)
    dropped = estimates("log_marker ~ visit + (1 | subject)", data[data.censored == "none"])
    table = pd.concat({"cens()": censored, "LOD/2": substituted, "dropped": dropped}, axis=1)
    print(f"\n{study}: {share:.1%} censored; truth {truth}\n", table.round(3).to_string())
    for term, value in truth.items():
        assert not excludes(censored.loc[term], value), (term, censored.loc[term])
    # dropping the censored visits keeps the high values of the later visits: the decline
    # flattens and the spread shrinks
    assert dropped.loc["visit", "conf_low"] > truth["visit"]
    assert dropped.loc["sd__Observation", "conf_high"] < truth["sd__Observation"]
    if study == "narrow":
        # LOD/2 puts the censored visits 0.69 below the limit, far below where values that
        # vary this little lie: the decline steepens and σ inflates
        assert substituted.loc["visit", "conf_high"] < truth["visit"]
        assert substituted.loc["sd__Observation", "conf_low"] > truth["sd__Observation"]
