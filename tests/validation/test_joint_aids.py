"""The joint model against R's JM (Rizopoulos 2010, *J. Stat. Softw.* 35(9)) on the AIDS trial
(didanosine vs zalcitabine, Abrams et al. 1994; 467 patients, 188 deaths): the square root
of the CD4 count over months, and death.

Reference: ``Rscript scripts/export_jm_data.R`` (JM 1.5-2, R 4.2.2), which runs

    lmeFit <- lme(CD4 ~ obstime + obstime:drug, random = ~ obstime | patient, data = aids)
    coxFit <- coxph(Surv(Time, death) ~ drug, data = aids.id, x = TRUE)
    jointModel(lmeFit, coxFit, timeVar = "obstime", method = "weibull-PH-aGH")
    jointModel(lmeFit, coxFit, timeVar = "obstime", method = "weibull-PH-aGH",
               parameterization = "both",
               derivForm = list(fixed = ~ 1 + drug, indFixed = c(2, 3), random = ~ 1,
                                indRandom = 2))

and the naive two-stage Cox model, ``coxph(Surv(Time, death) ~ drug + tt(row), data =
aids.id, tt = <the lme fit's fixed + BLUP trajectory at each event time>)``. JM's Weibull
is h(t) = κ t^{κ−1} exp(γ₀ + γ drug + α m(t)), the model's layout (``event_coef
[(Intercept)]`` = γ₀). The posterior means must lie within 2 of JM's standard errors of
its maximum-likelihood estimates (with 188 deaths the posterior is close to normal and the
weakly informative priors add little).
"""

import warnings

import numpy as np
import pytest
from joint_validation import draws_of, two_stage

import lmm_bayes as lb

pytestmark = [pytest.mark.validation, pytest.mark.slow]

LONGITUDINAL = "CD4 ~ obstime + obstime:drug + (obstime | patient)"
SURVIVAL = "Surv(Time, death) ~ drug"

#: JM's estimates and standard errors (summary(fit)$`CoefTable-Long`, `CoefTable-Event`)
JM_VALUE = {
    "beta[(Intercept)]": (7.20796493736, 0.22211642443),
    "beta[obstime]": (-0.18772000980, 0.02155758864),
    "beta[obstime:drugddI]": (0.01193631183, 0.03013205925),
    "event_coef[(Intercept)]": (-3.0640156579, 0.30388430043),
    "event_coef[drugddI]": (0.3424183719, 0.15666719471),
    "association[value]": (-0.2802287763, 0.03562976266),
    "log_weibull_shape": (0.2204425525, 0.07384891340),
}
#: JM's D matrix and σ (no standard errors): SDs and correlation, compared within 10%
JM_VALUE_VARIANCE = {"sd_patient[(Intercept)]": np.sqrt(21.07655456479),
                     "sd_patient[obstime]": np.sqrt(0.03272609390),
                     "sigma": 1.738759641}
JM_BOTH = {
    "beta[(Intercept)]": (7.2220590318943, 0.2213814246),
    "beta[obstime]": (-0.2195923283437, 0.0231187191),
    "beta[obstime:drugddI]": (0.0009901366027, 0.0308704546),
    "event_coef[(Intercept)]": (-4.2276249736, 0.65162726263),
    "event_coef[drugddI]": (0.3772945917, 0.22557000323),
    "association[value]": (-0.3393786135, 0.04879350813),
    "association[slope]": (-4.0432710739, 1.25452723173),
    "log_weibull_shape": (0.2782471152, 0.09406952288),
}
#: the two-stage Cox model's association (coef, se) and lme's slope in time (Value, SE)
COX_TWO_STAGE = (-0.2421002724, 0.02927896475)
LME_OBSTIME = (-0.16345114768, 0.02080804128)


@pytest.fixture(scope="module")
def aids():
    return lb.load_dataset("aids_visits"), lb.load_dataset("aids_patients")


def joint_fit(aids, association):
    visits, patients = aids
    model = lb.JointModel(LONGITUDINAL, SURVIVAL, visits, patients, id="patient",
                          time="obstime", association=association)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lb.SamplingWarning)
        return model.fit(draws=1000, tune=1000, chains=2, random_seed=23)


def posterior_mean(fit, key):
    if key == "log_weibull_shape":
        return float(np.log(draws_of(fit.idata, "weibull_shape")).mean())
    return float(draws_of(fit.idata, key).mean())


def compare(fit, reference):
    """{key: (ours, JM, distance in JM SEs)}."""
    out = {}
    for key, (estimate, se) in reference.items():
        ours = posterior_mean(fit, key)
        out[key] = (ours, estimate, (ours - estimate) / se)
    return out


@pytest.fixture(scope="module")
def value_fit(aids):
    return joint_fit(aids, "value")


def test_current_value_model_agrees_with_jm(value_fit):
    rows = compare(value_fit, JM_VALUE)
    print({k: tuple(round(v, 4) for v in r) for k, r in rows.items()})
    assert all(abs(z) < 2 for _, _, z in rows.values()), rows
    for key, reference in JM_VALUE_VARIANCE.items():
        assert posterior_mean(value_fit, key) == pytest.approx(reference, rel=0.1), key


def test_value_and_slope_model_agrees_with_jm(aids):
    rows = compare(joint_fit(aids, "value+slope"), JM_BOTH)
    print({k: tuple(round(v, 4) for v in r) for k, r in rows.items()})
    assert all(abs(z) < 2 for _, _, z in rows.values()), rows


def test_two_stage_attenuates_what_the_joint_model_estimates(aids, value_fit):
    # our two-stage (Bayesian LMM, then Weibull ML) agrees with R's (lme, then Cox), and
    # both are nearer zero than the joint model: stage 1 ignores the deaths' dropout and
    # stage 2 treats the trajectory as known
    visits, patients = aids
    ddi = (patients.drug == "ddI").to_numpy(float)
    stage1, stage2 = two_stage(visits, patients, LONGITUDINAL, covariates={"drugddI": ddi},
                               id_col="patient", time_col="obstime", marker_covariates=["drug"],
                               event_time_col="Time", event_col="death",
                               draws=1000, tune=1000, random_seed=5)
    alpha, se = stage2.estimate["association"], stage2.std_error["association"]
    print(f"two-stage α {alpha:.4f} ({se:.4f}); R Cox {COX_TWO_STAGE}; joint "
          f"{posterior_mean(value_fit, 'association[value]'):.4f}")
    assert abs(alpha - COX_TWO_STAGE[0]) < COX_TWO_STAGE[1]
    joint = posterior_mean(value_fit, "association[value]")
    assert abs(alpha) < abs(joint) and abs(COX_TWO_STAGE[0]) < abs(JM_VALUE["association[value]"][0])
    slope = stage1.summary().set_index("term").loc["obstime", "estimate"]
    assert abs(slope - LME_OBSTIME[0]) < LME_OBSTIME[1]
    assert abs(slope) < abs(posterior_mean(value_fit, "beta[obstime]"))
