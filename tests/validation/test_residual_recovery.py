"""Recovery of residual structures, sigma models and per-arm covariances from simulated
trials (residuals drawn from the dense multivariate normal, see residual_simulations.py).

Default run: one modest data set per structure, short sampling, the structure's own
parameters (φ, the log-σ coefficients and per-arm SDs, the per-arm slope SDs and their
ratio) inside their 90% intervals. Slow tier: five seeds per structure with every parameter
(fixed effects and random-intercept SDs too) checked for coverage, and the three-level
model."""

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import quiet_fit
from residual_simulations import (
    AR1_TRUTH,
    BY_ARM_TRUTH,
    CAR1_TRUTH,
    THREE_LEVEL_TRUTH,
    ar1_trial,
    by_arm_trial,
    car1_trial,
    three_level_trial,
)

import lmm_bayes as lb

pytestmark = pytest.mark.validation

SHORT = {"draws": 300, "tune": 300, "chains": 2}
SEEDS = (11, 12, 13, 14, 15)
DEFAULT_SEED = SEEDS[0]
LONG = {"draws": 1000, "tune": 1000, "chains": 2}


def ar1_fit(seed, sampling):
    """Through ``lb.fit``, which passes ``residual`` to the model."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lb.SamplingWarning)  # short runs: low ESS expected
        return lb.fit("y ~ visit + (1 | subject)", ar1_trial(seed),
                      residual="ar1(visit | subject)", random_seed=seed, **sampling)


def car1_fit(seed, sampling):
    model = lb.LMM("y ~ time + (1 | subject)", car1_trial(seed),
                   residual="car1(time | subject)", sigma="~ arm")
    return quiet_fit(model, random_seed=seed, **sampling)


def by_arm_fit(seed, sampling):
    model = lb.LMM("y ~ time + (1 + time || gr(subject, by = arm))", by_arm_trial(seed))
    return quiet_fit(model, random_seed=seed, **sampling)


def intervals(fit, prob=0.9) -> pd.DataFrame:
    """Summary rows by name: fixed terms, ``sigma_<term>``, ``sd__...`` and ``phi``."""
    table = fit.summary(prob=prob)
    names = np.where(table.effect == "sigma", "sigma_" + table.term, table.term)
    return table.set_index(names)


def by_arm_intervals(fit, prob=0.9) -> dict[str, tuple[float, float]]:
    table = fit.variance_components(prob=prob).set_index(["group", "term"])
    out = {f"{arm}:{term}": tuple(table.loc[(f"subject:arm{arm}", term),
                                            ["conf_low", "conf_high"]])
           for arm in "AB" for term in BY_ARM_TRUTH[arm]}
    ratio = fit.variance_contrast("sd__time", "subject:armB", "subject:armA", prob=prob)
    out["ratio"] = (ratio.conf_low.iloc[0], ratio.conf_high.iloc[0])
    return out


def by_arm_truth() -> dict[str, float]:
    return {f"{arm}:{term}": v for arm in "AB" for term, v in BY_ARM_TRUTH[arm].items()} | {
        "ratio": BY_ARM_TRUTH["ratio"]}


def misses(bounds: dict[str, tuple[float, float]], truth: dict[str, float]) -> list[str]:
    """The quantities whose true value lies outside their interval."""
    return [k for k, (lo, hi) in bounds.items() if not lo < truth[k] < hi]


def summary_bounds(fit, truth) -> dict[str, tuple[float, float]]:
    table = intervals(fit)
    return {k: (table.loc[k, "conf_low"], table.loc[k, "conf_high"]) for k in truth}


# ----------------------------------------------------------------------------- default run


def test_ar1_recovered():
    truth = {k: AR1_TRUTH[k] for k in ("phi", "sd__Observation", "visit")}
    bounds = summary_bounds(ar1_fit(DEFAULT_SEED, SHORT), truth)
    assert misses(bounds, truth) == [], bounds


@pytest.fixture(scope="module")
def car1_default():
    return car1_fit(DEFAULT_SEED, SHORT)


@pytest.fixture(scope="module")
def by_arm_default():
    return by_arm_fit(DEFAULT_SEED, SHORT)


def test_car1_with_sigma_per_arm_recovered(car1_default):
    fit = car1_default
    truth = {k: CAR1_TRUTH[k] for k in ("phi", "sigma_(Intercept)", "sigma_armB", "time")}
    bounds = summary_bounds(fit, truth)
    assert misses(bounds, truth) == [], bounds
    sds = fit.variance_components(prob=0.9).set_index("term")
    for label, truth in (("arm=A", 1.0), ("arm=B", 2.0)):
        row = sds.loc[f"sd__Observation[{label}]"]
        assert row.conf_low < truth < row.conf_high, label


def test_per_arm_slope_sd_and_their_ratio_recovered(by_arm_default):
    fit = by_arm_default
    truth = {k: by_arm_truth()[k] for k in ("A:sd__time", "B:sd__time", "ratio")}
    bounds = {k: v for k, v in by_arm_intervals(fit).items() if k in truth}
    assert misses(bounds, truth) == [], bounds
    # the question the contrast answers: is progression more heterogeneous under B?
    ratio = fit.variance_contrast("sd__time", "subject:armB", "subject:armA")
    assert ratio.prob_above.iloc[0] > 0.99


def test_fits_keep_the_documented_names_and_refuse_undefined_summaries(car1_default,
                                                                       by_arm_default):
    assert set(car1_default.idata.posterior.data_vars) == {"beta", "sigma_beta", "phi",
                                                          "sd_subject", "b_subject"}
    assert car1_default.idata.posterior["sigma_beta"].dims[-1] == "sigma_fixed"
    with pytest.raises(lb.DesignError, match="icc needs one residual SD"):
        car1_default.icc()
    assert list(by_arm_default.summary().group.unique()) == ["", "subject:armA",
                                                             "subject:armB", "Residual"]
    with pytest.raises(lb.DesignError, match=r"shrinkage is not available for gr\(g, by"):
        by_arm_default.shrinkage("subject:armA")
    with pytest.raises(lb.DesignError, match="no grouping factor 'subject:armC'"):
        by_arm_default.variance_contrast("sd__time", "subject:armC", "subject:armA")


# ----------------------------------------------------------------------------- slow tier


def coverage_problems(per_seed: list[list[str]], truth) -> list[str]:
    """Each quantity covered in at least 3 of 5 seeds (P(≤ 2 | 90% coverage) = 0.009) and
    at least 75% coverage pooled over quantities and seeds."""
    missed = [k for seed in per_seed for k in seed]
    worst = [k for k in truth if missed.count(k) > 2]
    pooled = 1 - len(missed) / (len(truth) * len(per_seed))
    return worst + ([f"pooled coverage {pooled:.2f}"] if pooled < 0.75 else [])


@pytest.mark.slow
@pytest.mark.parametrize(("fitter", "truth"), [(ar1_fit, AR1_TRUTH), (car1_fit, CAR1_TRUTH)])
def test_serial_structures_cover_the_truth_over_seeds(fitter, truth):
    per_seed = [misses(summary_bounds(fitter(seed, LONG), truth), truth) for seed in SEEDS]
    assert coverage_problems(per_seed, truth) == [], per_seed


@pytest.mark.slow
def test_per_arm_covariance_covers_the_truth_over_seeds():
    truth = by_arm_truth()
    per_seed = [misses(by_arm_intervals(by_arm_fit(seed, LONG)), truth) for seed in SEEDS]
    assert coverage_problems(per_seed, truth) == [], per_seed


@pytest.mark.slow
def test_three_level_model_with_ar1_and_time_dependent_sigma():
    """Measurements in patients in centres, AR(1) residuals, log σ linear in time. Seven
    quantities from one data set: each inside its central 1 − 0.10/7 interval, so that all
    seven are covered with probability ≥ 90% (Bonferroni); 90% each would fail half the
    time for a correct fit."""
    model = lb.LMM("y ~ time + (1 | centre/patient)", three_level_trial(3),
                   residual="ar1(time | centre:patient)", sigma="~ time")
    fit = quiet_fit(model, random_seed=3, **LONG)
    prob = 1 - 0.10 / len(THREE_LEVEL_TRUTH)
    table = intervals(fit, prob)
    bounds = {k: (table.loc[k, "conf_low"], table.loc[k, "conf_high"])
              for k in ("(Intercept)", "time", "phi", "sigma_(Intercept)", "sigma_time")}
    groups = fit.variance_components(prob=prob).set_index(["group", "term"])
    for key, group in (("sd_centre", "centre"), ("sd_patient", "centre:patient")):
        bounds[key] = tuple(groups.loc[(group, "sd__(Intercept)"), ["conf_low", "conf_high"]])
    assert misses(bounds, THREE_LEVEL_TRUTH) == [], bounds
