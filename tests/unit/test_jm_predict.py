"""Dynamic prediction (lmm_bayes.jm.predict) and the survival summaries on hand-made
posteriors whose answers are known: closed forms without association, and numerical
integration over the random intercept with it."""

import arviz as az
import numpy as np
import pytest
import xarray as xr
from scipy import integrate, stats
from test_jm_design import cohort

import lmm_bayes as lb
from lmm_bayes.jm.api import JointFit
from lmm_bayes.sampling import SamplerConfig

TAU, SIGMA, BETA0, GAMMA0, KAPPA = 8.0, 5.0, 140.0, -3.0, 1.4


def fake_fit(alpha, *, draws=2):
    """A fit of ``sbp ~ 1 + (1 | id)`` whose every draw is the same parameter values; the
    log scale γ_0 − α β_0, so that the hazard at the mean marker is the Weibull of γ_0."""
    visits, events = cohort(n=8, seed=5)
    jm = lb.JointModel("sbp ~ 1 + (1 | id)", "Surv(years, event) ~ 1", visits, events,
                       id="id", time="time")
    n = jm.joint.n

    def const(value, dims=(), coords=None):
        value = np.broadcast_to(np.asarray(value, float), (1, draws, *np.shape(value)))
        return xr.DataArray(value.copy(), dims=("chain", "draw", *dims), coords=coords)

    posterior = xr.Dataset({
        "beta": const([BETA0], ("fixed",), {"fixed": ["(Intercept)"]}),
        "sigma": const(SIGMA),
        "sd_id": const([TAU], ("id__term",), {"id__term": ["(Intercept)"]}),
        "b_id": const(np.zeros((n, 1)), ("id__level", "id__term"),
                      {"id__level": list(jm.joint.individuals), "id__term": ["(Intercept)"]}),
        "event_coef": const([GAMMA0 - alpha * BETA0], ("event_fixed",), {"event_fixed": ["(Intercept)"]}),
        "association": const([alpha], ("association_term",), {"association_term": ["value"]}),
        "weibull_shape": const(KAPPA)})
    stats_ = xr.Dataset({"diverging": xr.DataArray(np.zeros((1, draws), bool),
                                                   dims=("chain", "draw"))})
    idata = az.InferenceData(posterior=posterior, sample_stats=stats_)
    return JointFit(jm, idata, SamplerConfig(draws=draws, tune=0, chains=1)), visits, events


def history(visits, events, who, landmark=None):
    chosen = events[events.id.isin(who)].copy()
    chosen["years"] = np.nan if landmark is None else landmark
    return visits[visits.id.isin(who)], chosen


def test_without_association_the_probability_is_the_weibull_conditional():
    fit, visits, events = fake_fit(0.0)
    long, event = history(visits, events, [2], landmark=1.0)
    table = fit.predict_survival(long, event, horizon=[0.0, 0.5, 2.0], random_seed=1)
    t = 1.0 + np.array([0.0, 0.5, 2.0])
    expected = 1 - np.exp(-np.exp(GAMMA0) * (t ** KAPPA - 1.0))
    np.testing.assert_allclose(table["probability"], expected, rtol=1e-6)
    np.testing.assert_allclose(table["lower"], expected, rtol=1e-6)
    assert list(table.columns) == ["id", "landmark", "horizon", "time", "probability",
                                   "lower", "upper"]
    assert table["probability"].iloc[0] == 0.0
    assert table["id"].tolist() == [2, 2, 2]            # as history_event has it


@pytest.mark.parametrize("alpha", [0.0, 0.05])
def test_a_landmark_at_baseline_conditions_on_nothing_but_the_visit(alpha):
    # s = 0: S(0 | b) = 1 for every b, so the weights are equal (no warning from log 0)
    fit, visits, events = fake_fit(alpha)
    long, event = history(visits[visits.time == 0], events, [2], landmark=0.0)
    table = fit.predict_survival(long, event, horizon=[0.0, 2.0], samples=4000, random_seed=1)
    y = long.sbp.to_numpy()
    expected = ([0.0, 1 - np.exp(-np.exp(GAMMA0) * 2.0 ** KAPPA)] if alpha == 0
                else [0.0, exact_probability(y, alpha, 0.0, 2.0)])
    np.testing.assert_allclose(table["probability"], expected, rtol=0.02, atol=1e-12)


def exact_probability(y, alpha, s, dt):
    """1 − ∫ S(s+dt|b) p(b|y) db / ∫ S(s|b) p(b|y) db for the random intercept b, by
    quadrature over b (the marker m = β_0 + b is constant in time)."""
    post_var = 1 / (1 / TAU ** 2 + len(y) / SIGMA ** 2)
    post_mean = post_var * (y - BETA0).sum() / SIGMA ** 2
    density = stats.norm(post_mean, np.sqrt(post_var)).pdf

    def survival(t, b):
        return np.exp(-t ** KAPPA * np.exp(GAMMA0 + alpha * b))

    span = (post_mean - 8 * np.sqrt(post_var), post_mean + 8 * np.sqrt(post_var))
    top = integrate.quad(lambda b: survival(s + dt, b) * density(b), *span)[0]
    bottom = integrate.quad(lambda b: survival(s, b) * density(b), *span)[0]
    return 1 - top / bottom


def test_with_association_the_probability_integrates_the_effects():
    alpha = 0.05
    fit, visits, events = fake_fit(alpha)
    table = fit.predict_survival(*history(visits, events, [3]), horizon=[1.0, 2.0],
                                 samples=4000, random_seed=2)
    own = visits[visits.id == 3]
    s = own.time.max()
    expected = [exact_probability(own.sbp.to_numpy(), alpha, s, dt) for dt in (1.0, 2.0)]
    assert 0.05 < expected[0] < expected[1] < 0.95
    np.testing.assert_allclose(table["probability"], expected, rtol=0.02)


def test_a_higher_marker_history_raises_the_risk():
    fit, visits, events = fake_fit(0.05)
    long, event = history(visits, events, [4])
    high = long.assign(sbp=long.sbp + 20)
    low_risk = fit.predict_survival(long, event, horizon=1.0, random_seed=3)
    high_risk = fit.predict_survival(high, event, horizon=1.0, random_seed=3)
    assert high_risk["probability"].iloc[0] > low_risk["probability"].iloc[0]


def test_baseline_hazard_is_the_weibull():
    fit, _, _ = fake_fit(0.0)
    table = fit.baseline_hazard(times=[0.5, 2.0])
    np.testing.assert_allclose(table["hazard"], KAPPA * np.array([0.5, 2.0]) ** (KAPPA - 1)
                               * np.exp(GAMMA0))
    np.testing.assert_allclose(table["cumulative"], np.array([0.5, 2.0]) ** KAPPA
                               * np.exp(GAMMA0))


def test_hazard_ratio_is_exp_of_the_association():
    fit, _, _ = fake_fit(0.05)
    table = fit.hazard_ratios()
    row = table.set_index("term").loc["value"]
    assert row["estimate"] == pytest.approx(np.exp(0.05))
    assert row["per"] == "1 unit of sbp"


@pytest.mark.parametrize(("horizon", "message"), [(-1.0, "horizon"), ("soon", "horizon")])
def test_bad_horizon(horizon, message):
    fit, visits, events = fake_fit(0.0)
    with pytest.raises(lb.DesignError, match=message):
        fit.predict_survival(*history(visits, events, [2]), horizon=horizon)


def test_individual_without_visits_is_named():
    fit, visits, events = fake_fit(0.0)
    long, event = history(visits, events, [2])
    with pytest.raises(lb.DesignError, match="id '2' of history_event has no visits"):
        fit.predict_survival(long.iloc[:0], event)


def test_save_says_why_it_cannot(tmp_path):
    fit, _, _ = fake_fit(0.0)
    with pytest.raises(lb.LoadError, match="holds one data frame"):
        fit.save(tmp_path / "jm.nc")


def test_plot_dynamic_draws_both_panels():
    fit, visits, events = fake_fit(0.05)
    figure = fit.plot_dynamic(3, *history(visits, events, [3]), horizon=2.0, random_seed=1)
    left, right = figure.axes
    assert left.get_ylabel() == "sbp"
    survival = right.lines[0].get_ydata()
    assert survival[0] == pytest.approx(1.0) and np.all(np.diff(survival) <= 1e-12)


def test_frames_are_checked():
    fit, visits, events = fake_fit(0.0)
    with pytest.raises(lb.DesignError, match="history_long must be a pandas DataFrame"):
        fit.predict_survival(visits.to_dict(), events)
    with pytest.raises(lb.DesignError, match="history_long has no column 'sbp'"):
        fit.predict_survival(visits.drop(columns="sbp"), events)


def test_individual_loglik_is_the_marker_and_the_weibull():
    """Without association each individual's log-likelihood is Σ_j log N(y_ij; β_0 + b_i, σ)
    plus the Weibull's log density (event) or log survival (censored)."""
    from lmm_bayes.jm.checks import individual_loglik

    fit, _, _ = fake_fit(0.0)
    joint, design = fit.model.joint, fit.model.design
    loglik = individual_loglik(fit.idata.posterior, fit.model).values[0, 0]
    weibull = stats.weibull_min(c=KAPPA, scale=np.exp(-GAMMA0 / KAPPA))
    survival = np.where(joint.event == 1, weibull.logpdf(joint.event_time),
                        weibull.logsf(joint.event_time))
    marker = np.bincount(design.groups[0].index,
                         weights=stats.norm(BETA0, SIGMA).logpdf(design.y))
    np.testing.assert_allclose(loglik, marker + survival, rtol=1e-4)


def test_piecewise_baseline_predictions_and_hazard():
    """Without association: P(T ≤ s + Δt | T > s) = 1 − exp(−∫_s^{s+Δt} e^λ(u) du) with λ
    constant on [0, 1), [1, 2), [2, ∞); h_0 and H_0 as the steps and their integral."""
    visits, events = cohort(n=8, seed=5)
    jm = lb.JointModel("sbp ~ 1 + (1 | id)", "Surv(years, event) ~ 1", visits, events,
                       id="id", time="time", baseline="piecewise", knots=[1.0, 2.0])
    lam = np.array([-2.0, -1.0, -1.5])
    base, _, _ = fake_fit(0.0)
    posterior = base.idata.posterior.drop_vars(["weibull_shape", "event_coef", "event_fixed"])
    posterior["event_coef"] = xr.DataArray(np.zeros((1, 2, 0)),
                                           dims=("chain", "draw", "event_fixed"))
    posterior["log_baseline_hazard"] = xr.DataArray(
        np.broadcast_to(lam, (1, 2, 3)).copy(), dims=("chain", "draw", "baseline_interval"))
    posterior["b_id"] = posterior["b_id"].assign_coords(id__level=list(jm.joint.individuals))
    fit = JointFit(jm, az.InferenceData(posterior=posterior,
                                        sample_stats=base.idata.sample_stats), base.config)
    chosen = events[events.id == 2].assign(years=0.5)
    table = fit.predict_survival(visits[visits.id == 2], chosen, horizon=[1.0, 2.0])
    H = np.array([0.5 * np.exp(-2) + 0.5 * np.exp(-1),
                  0.5 * np.exp(-2) + np.exp(-1) + 0.5 * np.exp(-1.5)])
    np.testing.assert_allclose(table["probability"], 1 - np.exp(-H), rtol=1e-10)
    hazard = fit.baseline_hazard(times=[0.5, 1.5, 3.0])
    np.testing.assert_allclose(hazard["hazard"], np.exp(lam))
    np.testing.assert_allclose(hazard["cumulative"],
                               [0.5 * np.exp(-2), np.exp(-2) + 0.5 * np.exp(-1),
                                np.exp(-2) + np.exp(-1) + np.exp(-1.5)])
