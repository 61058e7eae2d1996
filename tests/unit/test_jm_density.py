"""The joint model's log density against independent computations: the survival part
(Weibull proportional hazards) against scipy.stats.weibull_min and closed-form cumulative
hazards, the marker's part against scipy.stats.norm, at chosen parameter values of the
PyMC model of tiny data."""

import numpy as np
import pytest
from scipy import stats
from test_jm_design import cohort

import lmm_bayes as lb
from lmm_bayes.jm.design import quadrature
from lmm_bayes.jm.hazard import log_baseline_hazard, survival_loglik

#: relative error of 15 Gauss–Legendre nodes on ∫ κ u^(κ−1) du, whose integrand is not
#: smooth at 0 for κ ≠ 1 (about 1e-5 for κ = 1.7, 1e-4 for κ = 1.2; exact for κ = 1); the
#: models below take 60 nodes, which bring it to about 2e-6
QUADRATURE, MODEL_QUADRATURE = 1e-4, 1e-5


def weibull_loglik(time, event, shape, eta):
    """log f(T) (event) or log S(T) (censored) of h(t) = κ t^(κ−1) e^η: scipy's
    weibull_min with scale e^(−η/κ)."""
    dist = stats.weibull_min(c=shape, scale=np.exp(-eta / shape))
    return np.where(event == 1, dist.logpdf(time), dist.logsf(time))


def test_numpy_survival_loglik_is_weibull():
    time, event = np.array([0.7, 2.5, 4.0]), np.array([1.0, 0.0, 1.0])
    shape, eta = 1.7, np.array([-1.0, 0.3, -2.2])
    nodes = quadrature(np.zeros(3), time, 15)
    at_nodes = eta[:, None] + log_baseline_hazard(np, nodes.times, nodes.interval, shape=shape)
    at_event = eta + log_baseline_hazard(np, time, np.zeros(3, int), shape=shape)
    np.testing.assert_allclose(survival_loglik(np, event, at_event, at_nodes, nodes.weights),
                               weibull_loglik(time, event, shape, eta), rtol=QUADRATURE)


def test_piecewise_survival_loglik_is_exact():
    """Constant hazards on [0, 1), [1, 2), [2, ∞): H(T) = Σ e^λ_k |overlap|."""
    lam = np.array([-2.0, -1.0, -1.5])
    time, event = np.array([0.5, 1.5, 3.0]), np.array([1.0, 0.0, 1.0])
    nodes = quadrature(np.zeros(3), time, 2, cuts=(1.0, 2.0))
    at_nodes = log_baseline_hazard(np, nodes.times, nodes.interval, log_hazards=lam)
    interval = np.searchsorted([1.0, 2.0], time, side="right")
    at_event = log_baseline_hazard(np, time, interval, log_hazards=lam)
    H = np.array([0.5 * np.exp(-2), np.exp(-2) + 0.5 * np.exp(-1),
                  np.exp(-2) + np.exp(-1) + np.exp(-1.5)])
    expected = event * lam[interval] - H
    np.testing.assert_allclose(survival_loglik(np, event, at_event, at_nodes, nodes.weights),
                               expected, rtol=1e-12)


def _at(model, out, point):
    """``out`` (a graph of the model's variables) at ``point`` (its value variables)."""
    import pytensor

    graph = model.replace_rvs_by_values([out])[0]
    fn = pytensor.function(model.value_vars, graph, on_unused_input="ignore",
                           mode="FAST_COMPILE")
    return fn(*[point[v.name] for v in model.value_vars])


def _potential(jm, values):
    """The model's survival potential and marker log-likelihood at the initial point with
    ``values`` in place."""
    model = jm.pymc_model
    point = {**model.initial_point(), **values}
    event = _at(model, model.potentials[0], point)
    marker = _at(model, model.logp(vars=[model["y"]]), point)
    return float(event), float(marker)


@pytest.fixture(scope="module")
def tiny():
    return cohort(n=6, seed=3)


def test_value_association_density(tiny):
    """A marker constant in time, m_i = β_0 + b_i: Weibull PH with η_i = γ_0c + α(m_i − m̄);
    the marker's rows N(m_i, σ)."""
    visits, events = tiny
    jm = lb.JointModel("sbp ~ 1 + (1 | id)", "Surv(years, event) ~ 1", visits, events,
                       id="id", time="time", parametrization="centered", quadrature_points=60)
    b = np.linspace(-3, 4, jm.joint.n)
    scale, centre = visits.sbp.std(), visits.sbp.mean()
    values = {"intercept_c": np.array(141.0), "b_id": b[:, None], "sigma_log__": np.log(4.0),
              "association_std": np.array([0.6]), "event_intercept_c": np.array(-1.2),
              "log_weibull_shape": np.array(np.log(1.3))}
    event, marker = _potential(jm, values)
    alpha = 0.6 / scale
    eta = -1.2 + alpha * (141.0 + b - centre)
    expected = weibull_loglik(jm.joint.event_time, jm.joint.event, 1.3, eta).sum()
    assert event == pytest.approx(expected, rel=MODEL_QUADRATURE)
    level = jm.design.groups[0].index
    assert marker == pytest.approx(stats.norm(141.0 + b[level], 4.0).logpdf(jm.design.y).sum(),
                                   rel=1e-10)


def test_slope_association_density(tiny):
    """m_i(t) = β_0 + β_1 t + b_i: the slope is β_1, so H_i(T) = T^κ exp(γ_0c + α β_1)."""
    visits, events = tiny
    jm = lb.JointModel("sbp ~ time + (1 | id)", "Surv(years, event) ~ 1", visits, events,
                       id="id", time="time", association="slope", parametrization="centered",
                       quadrature_points=60)
    times = visits.time.iloc[jm.design.rows]
    scale = visits.sbp.std() / times.std()
    values = {"beta_slopes": np.array([2.5]), "association_std": np.array([0.4]),
              "event_intercept_c": np.array(-1.0), "log_weibull_shape": np.array(0.2)}
    event, _ = _potential(jm, values)
    eta = -1.0 + 0.4 / scale * 2.5
    expected = weibull_loglik(jm.joint.event_time, jm.joint.event, np.exp(0.2),
                              np.full(jm.joint.n, eta)).sum()
    assert event == pytest.approx(expected, rel=MODEL_QUADRATURE)


def test_value_of_a_linear_marker_with_an_exponential_baseline(tiny):
    """κ = 1 and m_i(t) = a_i + c t: H_i(T) = e^(γ_0c + α(a_i − m̄)) (e^(αcT) − 1)/(αc),
    log h_i(T) = γ_0c + α(a_i + cT − m̄)."""
    visits, events = tiny
    jm = lb.JointModel("sbp ~ time + (1 | id)", "Surv(years, event) ~ 1", visits, events,
                       id="id", time="time", parametrization="centered")
    b = np.linspace(-2, 2, jm.joint.n)
    scale, centre = visits.sbp.std(), visits.sbp.mean()
    intercept_c = np.array(140.0)
    values = {"intercept_c": intercept_c, "beta_slopes": np.array([3.0]),
              "b_id": b[:, None], "association_std": np.array([1.5]),
              "event_intercept_c": np.array(-1.5), "log_weibull_shape": np.array(0.0)}
    event, _ = _potential(jm, values)
    times = visits.time.iloc[jm.design.rows]
    beta0 = 140.0 - times.mean() * 3.0           # the intercept with time centred
    alpha, c, T = 1.5 / scale, 3.0, jm.joint.event_time
    a = beta0 + b - centre
    H = np.exp(-1.5 + alpha * a) * np.expm1(alpha * c * T) / (alpha * c)
    expected = (jm.joint.event * (-1.5 + alpha * (a + c * T)) - H).sum()
    assert event == pytest.approx(expected, rel=1e-8)


def test_reported_coefficients_undo_the_centring(tiny):
    """event_coef's intercept is γ_0c − w̄ᵀγ − α m̄ and association α_std/s (per unit)."""
    visits, events = tiny
    jm = lb.JointModel("sbp ~ 1 + (1 | id)", "Surv(years, event) ~ age", visits, events,
                       id="id", time="time")
    model = jm.pymc_model
    point = {**model.initial_point(), "association_std": np.array([0.5]),
             "event_slopes_std": np.array([0.8]), "event_intercept_c": np.array(-2.0)}
    coef, alpha = _at(model, model["event_coef"], point), _at(model, model["association"], point)
    age = events.age.to_numpy()
    gamma = 0.8 / age.std(ddof=1)
    assert alpha[0] == pytest.approx(0.5 / visits.sbp.std())
    np.testing.assert_allclose(coef, [-2.0 - age.mean() * gamma - alpha[0] * visits.sbp.mean(),
                                      gamma], rtol=1e-10)


def test_shared_association_with_a_piecewise_baseline(tiny):
    """log h_i(t) = λ_k + α b_i on [0, 1), [1, 2), [2, ∞) (covariates none, marker
    uncentred for "shared"): H_i(T) = e^(α b_i) Σ_k e^(λ_k) |[c_k, c_(k+1)) ∩ [0, T)|,
    exact by the quadrature split at the cut points."""
    visits, events = tiny
    jm = lb.JointModel("sbp ~ 1 + (1 | id)", "Surv(years, event) ~ 1", visits, events,
                       id="id", time="time", association="shared", baseline="piecewise",
                       knots=[1.0, 2.0], parametrization="centered")
    b = np.linspace(-5, 5, jm.joint.n)
    scale = jm.priors.scales["association"]["(Intercept)"]
    values = {"b_id": b[:, None], "association_std": np.array([0.7]),
              "log_baseline_hazard_c1": np.array(-2.0), "baseline_steps": np.array([1.0, -0.5]),
              "baseline_smoothness_log__": np.array(np.log(0.4))}
    event, _ = _potential(jm, values)
    lam = -2.0 + np.cumsum([0.0, 0.4 * 1.0, 0.4 * -0.5])
    alpha, T = 0.7 / scale, jm.joint.event_time
    edges = np.array([0.0, 1.0, 2.0, np.inf])
    overlap = np.clip(T[:, None], edges[:-1], edges[1:]) - edges[:-1]
    H = np.exp(alpha * b) * (overlap @ np.exp(lam))
    interval = np.searchsorted([1.0, 2.0], T, side="right")
    expected = (jm.joint.event * (lam[interval] + alpha * b) - H).sum()
    assert event == pytest.approx(expected, rel=1e-10)


def test_value_and_slope_add_up(tiny):
    """"value+slope" with κ = 1 and m_i(t) = a_i + c t: log h = γ_0c + α(m − m̄) + α_s c, so
    H_i(T) = e^(γ_0c + α(a_i − m̄) + α_s c)(e^(αcT) − 1)/(αc)."""
    visits, events = tiny
    jm = lb.JointModel("sbp ~ time + (1 | id)", "Surv(years, event) ~ 1", visits, events,
                       id="id", time="time", association="value+slope",
                       parametrization="centered")
    b = np.linspace(-2, 2, jm.joint.n)
    scales = jm.priors.scales["association"]
    values = {"intercept_c": np.array(140.0), "beta_slopes": np.array([3.0]),
              "b_id": b[:, None], "association_std": np.array([1.5, 0.5]),
              "event_intercept_c": np.array(-1.5), "log_weibull_shape": np.array(0.0)}
    event, _ = _potential(jm, values)
    times = visits.time.iloc[jm.design.rows]
    alpha, alpha_s, c = 1.5 / scales["value"], 0.5 / scales["slope"], 3.0
    a = 140.0 - times.mean() * c + b - visits.sbp.mean()
    T = jm.joint.event_time
    H = np.exp(-1.5 + alpha * a + alpha_s * c) * np.expm1(alpha * c * T) / (alpha * c)
    expected = (jm.joint.event * (-1.5 + alpha * (a + c * T) + alpha_s * c) - H).sum()
    assert event == pytest.approx(expected, rel=1e-8)
