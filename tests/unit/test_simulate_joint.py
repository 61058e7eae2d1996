"""The joint cohort's simulator against its own truth, computed independently: event times by
scipy's adaptive quadrature and a Monte Carlo marginal survival on a fine grid, the marker's
moments at baseline, and dropout at the end of follow-up."""

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

import lmm_bayes as lb
from lmm_bayes.simulate import JOINT_TRUTH, simulate_joint_cohort
from lmm_bayes.simulate.joint import joint_cumulative_hazard

T = JOINT_TRUTH


@pytest.fixture(scope="module")
def cohort():
    return simulate_joint_cohort(4000, censoring_rate=0.0, random_seed=11)


def log_hazard_line(event, b):
    """(a_i, c_i) with log h_i(t) = log(κ t^{κ−1}) + a_i + c_i t, written out from the truth."""
    treated = (event.arm == "treated").to_numpy(float)
    value0 = T["beta[(Intercept)]"] + T["beta[armtreated]"] * treated + b[:, 0]
    slope = T["beta[time]"] + T["beta[time:armtreated]"] * treated + b[:, 1]
    a = (T["event_coef[(Intercept)]"] + T["event_coef[armtreated]"] * treated
         + T["event_coef[age]"] * event.age.to_numpy() + T["association[value]"] * value0)
    return a, T["association[value]"] * slope


@pytest.mark.parametrize("shape", [0.6, 1.0, 1.3, 2.5])
def test_cumulative_hazard_against_adaptive_quadrature(shape):
    t, a, c = np.array([0.3, 4.0, 8.0]), np.array([-4.0, -6.0, -2.0]), np.array([0.3, -0.2, 0.05])
    expected = [integrate.quad(lambda s, i=i: shape * s ** (shape - 1) * np.exp(a[i] + c[i] * s),
                               0, t[i], epsabs=0, epsrel=1e-12, limit=200)[0] for i in range(3)]
    np.testing.assert_allclose(joint_cumulative_hazard(t, a, c, shape), expected, rtol=1e-10)


def test_event_times_invert_the_cumulative_hazard(cohort):
    # H_i(T_i) of the events, by adaptive quadrature, are Exp(1) draws truncated at
    # H_i(follow-up): their probability integral transform is uniform
    _, event, truth = cohort
    a, c = log_hazard_line(event, truth["random_effects"])
    k = T["weibull_shape"]

    def cumulative(i, t):
        return integrate.quad(lambda s: k * s ** (k - 1) * np.exp(a[i] + c[i] * s), 0, t)[0]

    rows = np.flatnonzero(event.event.to_numpy() == 1)[:400]
    u = np.array([(1 - np.exp(-cumulative(i, event.years[i])))
                  / (1 - np.exp(-cumulative(i, 8.0))) for i in rows])
    assert stats.kstest(u, "uniform").pvalue > 0.01


def test_marginal_survival_matches_monte_carlo(cohort):
    _, event, _ = cohort
    rng = np.random.default_rng(3)
    m = 20000
    cov = np.array([[15.0 ** 2, 0.2 * 15 * 4], [0.2 * 15 * 4, 4.0 ** 2]])
    b = rng.multivariate_normal([0, 0], cov, m)
    draws = pd.DataFrame({"arm": np.where(np.arange(m) % 2, "treated", "control"),
                          "age": rng.normal(62, 8, m).round()})
    a, c = log_hazard_line(draws, b)
    grid = np.linspace(0, 8, 1601)
    h = T["weibull_shape"] * grid ** (T["weibull_shape"] - 1) * np.exp(a[:, None] + c[:, None] * grid)
    cumulative = integrate.cumulative_trapezoid(h, grid, axis=1, initial=0)
    for t in (2.0, 5.0, 7.9):
        expected = np.exp(-cumulative[:, np.searchsorted(grid, t)]).mean()
        observed = (event.years > t).mean()   # no censoring before 8 years
        assert abs(observed - expected) < 4 * np.sqrt(expected * (1 - expected) / len(event))


def test_baseline_marker_moments(cohort):
    long, _, _ = cohort
    baseline = long.loc[long.time == 0, "sbp"]
    sd = np.hypot(T["sd_id[(Intercept)]"], T["sigma"])
    assert len(baseline) == 4000
    assert abs(baseline.mean() - T["beta[(Intercept)]"]) < 4 * sd / np.sqrt(4000)
    assert abs(baseline.std() / sd - 1) < 4 / np.sqrt(2 * 4000)


def test_visits_end_with_follow_up_and_sicker_patients_leave_earlier(cohort):
    long, event, truth = cohort
    end = long.merge(event[["id", "years"]], on="id")
    assert (end.time < end.years).all()
    seen = long.groupby("id").size().reindex(event.id).to_numpy()
    np.testing.assert_array_equal(seen, np.minimum(np.ceil(event.years.to_numpy()), 8))
    b = truth["random_effects"]
    events = event.event.to_numpy() == 1
    assert b[events, 0].mean() > b[~events, 0].mean() + 5   # higher SBP, more events
    assert event.event.mean() == pytest.approx(0.36, abs=0.05)


def test_random_censoring_and_truth_overrides():
    _, event, _ = simulate_joint_cohort(2000, censoring_rate=0.3, random_seed=2)
    censored_early = (event.event == 0) & (event.years < 8)
    assert censored_early.mean() > 0.5
    _, event0, truth0 = simulate_joint_cohort(2000, censoring_rate=0.3, random_seed=2,
                                              truth={"association[value]": 0.0})
    assert truth0["association[value]"] == 0.0 and event0.event.sum() < event.event.sum()


def test_seed_reproduces_and_bad_input_is_refused():
    first, second = simulate_joint_cohort(50, random_seed=4), simulate_joint_cohort(50, random_seed=4)
    pd.testing.assert_frame_equal(first[0], second[0])
    pd.testing.assert_frame_equal(first[1], second[1])
    with pytest.raises(ValueError, match="unknown truth key"):
        simulate_joint_cohort(10, truth={"alpha": 1.0})
    with pytest.raises(ValueError, match="censoring_rate"):
        simulate_joint_cohort(10, censoring_rate=-1)


def test_columns_are_those_of_the_formulas():
    long, event, _ = simulate_joint_cohort(20, random_seed=1)
    assert list(long.columns) == ["id", "time", "sbp", "arm", "age"]
    assert list(event.columns) == ["id", "years", "event", "arm", "age"]
    assert set(long.id) <= set(event.id) and lb.simulate.JOINT_TRUTH is T


def test_load_dataset_points_to_the_generator_of_two_tables():
    with pytest.raises(lb.SpecError, match="visits, events, truth = lmm_bayes.simulate"):
        lb.load_dataset("joint_cohort")
