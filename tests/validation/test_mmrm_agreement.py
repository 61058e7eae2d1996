"""The mixed model for repeated measures against nlme and emmeans on mmrm's fev_data (the
shipped ``fev_trial``): an unstructured residual covariance across four visits, a quarter
of the visits missing. The reference numbers come from ``scripts/export_mmrm_data.R``:

    gls(FEV1 ~ RACE + SEX + ARMCD * AVISIT + FEV1_BL,
        correlation = corSymm(form = ~ VISITN | USUBJID),
        weights = varIdent(form = ~ 1 | AVISIT), na.action = na.omit, method = "REML")
    emmeans(fit, ~ ARMCD | AVISIT, mode = "df.error"); pairs(..., reverse = TRUE)

With 537 rows and flat-ish priors the posterior means sit within a fraction of a posterior
SD of REML's estimates and the posterior SDs near the standard errors."""

import warnings

import numpy as np
import pytest

import lmm_bayes as lb

pytestmark = [pytest.mark.validation, pytest.mark.slow]

# emmeans: adjusted means (estimate, SE) per visit, PBO then TRT
EMMEANS = {"VIS1": [(33.2, 0.735), (37.2, 0.742)], "VIS2": [(38.0, 0.580), (42.0, 0.570)],
           "VIS3": [(43.6, 0.445), (46.6, 0.492)], "VIS4": [(48.4, 1.175), (52.8, 1.174)]}
# pairs(): TRT − PBO per visit (estimate, SE)
CONTRASTS = {"VIS1": (3.98, 1.045), "VIS2": (3.93, 0.814), "VIS3": (2.98, 0.666),
             "VIS4": (4.40, 1.660)}
# varIdent × sigma: the residual SD per visit; corSymm: the correlations, pairs in order
SDS = {"VIS1": 6.1507, "VIS2": 4.8526, "VIS3": 3.7153, "VIS4": 9.6416}
CORRELATIONS = [0.3795, 0.1523, 0.1800, 0.0430, 0.1178, 0.0158]


@pytest.fixture(scope="module")
def fit():
    model = lb.LMM("FEV1 ~ RACE + SEX + ARMCD * AVISIT + FEV1_BL",
                   lb.load_dataset("fev_trial"), residual="us(AVISIT | USUBJID)",
                   na_action="drop")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lb.SamplingWarning)
        return model.fit(draws=1000, tune=1000, chains=4, random_seed=3)


def test_adjusted_means_agree_with_emmeans(fit):
    table = fit.adjusted_means("ARMCD", by="AVISIT")
    for visit, arms in EMMEANS.items():
        for arm, (estimate, se) in zip(("PBO", "TRT"), arms):
            row = table[(table.AVISIT == visit) & (table.ARMCD == arm)].iloc[0]
            assert abs(row.estimate - estimate) < 0.25 * se + 0.05, (visit, arm)
            assert row.std_error == pytest.approx(se, rel=0.15), (visit, arm)


def test_treatment_differences_agree_with_emmeans(fit):
    table = fit.mean_contrasts("ARMCD", by="AVISIT").set_index("AVISIT")
    assert (table.contrast == "TRT - PBO").all()
    for visit, (estimate, se) in CONTRASTS.items():
        assert abs(table.at[visit, "estimate"] - estimate) < 0.25 * se + 0.005, visit
        assert table.at[visit, "std_error"] == pytest.approx(se, rel=0.15), visit
    assert table.at["VIS4", "prob_above"] > 0.99


def test_covariance_agrees_with_nlme(fit):
    sds = fit.variance_components().set_index("term")["estimate"]
    for visit, sd in SDS.items():
        assert sds[f"sd__Observation[C(AVISIT)={visit}]"] == pytest.approx(sd, rel=0.06)
    summary = fit.summary()
    correlations = summary[summary.term.str.startswith("cor__")]
    assert np.abs(correlations.estimate.to_numpy() - CORRELATIONS).max() < 0.03
    assert (correlations.std_error < 0.12).all()
