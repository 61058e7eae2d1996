"""Joint models (lmm_bayes.jm): spec parsing and its errors, quadrature, the marker's design
at new times and its time derivative, input checks, priors. No sampling."""

import numpy as np
import pandas as pd
import pytest
from scipy import integrate

import lmm_bayes as lb
from lmm_bayes.jm.design import marker_rows, quadrature
from lmm_bayes.jm.spec import JointSpec, parse_survival


def cohort(n=12, seed=0):
    """A tiny cohort: visits every 0.5 up to each individual's (event or censoring) time."""
    rng = np.random.default_rng(seed)
    times = np.round(rng.uniform(1.2, 4.0, n), 2)
    events = pd.DataFrame({"id": np.arange(1, n + 1), "years": times,
                           "event": (np.arange(n) % 3 != 0).astype(int),
                           "arm": np.where(np.arange(n) % 2, "B", "A"),
                           "age": np.round(rng.normal(60, 8, n), 1)})
    rows = [(i, t, 140 + 2 * t + rng.normal(0, 5), a, g)
            for i, T, a, g in zip(events.id, events.years, events.arm, events.age)
            for t in np.arange(0, T, 0.5)]
    visits = pd.DataFrame(rows, columns=["id", "time", "sbp", "arm", "age"])
    return visits, events


def model(visits, events, **options):
    options = {"id": "id", "time": "time", **options}
    return lb.JointModel("sbp ~ time * arm + (1 + time | id)", "Surv(years, event) ~ arm + age",
                         visits, events, **options)


# ------------------------------------------------------------------------------ spec

def test_survival_formula_parses():
    surv = parse_survival("Surv(years, event) ~ arm + age")
    assert (surv.time, surv.event) == ("years", "event")
    assert [t.label for t in surv.fixed] == ["(Intercept)", "arm", "age"]


@pytest.mark.parametrize(("text", "message", "position"), [
    ("Surv(years) ~ arm", "two column names", 5),
    ("years ~ arm", "must be Surv", 0),
    ("Surv(years, event) ~ arm + (1 | g)", "no random-effect", 30),
    ("Surv(years, event) ~ 0 + arm", "needs its intercept", 20),
])
def test_survival_formula_errors_name_the_position(text, message, position):
    with pytest.raises(lb.SpecError, match=message) as err:
        parse_survival(text)
    assert f"at position {position} " in str(err.value)


@pytest.mark.parametrize(("options", "message"), [
    ({"association": "area"}, "unknown association 'area'"),
    ({"baseline": "spline"}, "unknown baseline 'spline'"),
    ({"knots": 4}, "knots are for baseline='piecewise'"),
    ({"baseline": "piecewise", "knots": [2.0, 1.0]}, "positive and increasing"),
    ({"quadrature_points": 0}, "quadrature_points"),
    ({"id": "centre"}, "grouping factor id='centre'"),
])
def test_spec_errors(options, message):
    settings = {"id": "id", "time": "time", **options}
    with pytest.raises(lb.SpecError, match=message):
        JointSpec.from_formulas("sbp ~ time + (1 + time | id)", "Surv(years, event) ~ arm",
                                **settings)


# ------------------------------------------------------------------------------ quadrature

def test_quadrature_integrates_a_polynomial_exactly():
    nodes = quadrature(np.array([0.0, 1.0]), np.array([2.0, 3.5]), 3)
    f = nodes.times ** 5 - 2 * nodes.times ** 2
    exact = [integrate.quad(lambda u: u ** 5 - 2 * u ** 2, a, b)[0] for a, b in ((0, 2), (1, 3.5))]
    np.testing.assert_allclose((nodes.weights * f).sum(axis=1), exact, rtol=1e-12)


def test_quadrature_splits_at_cut_points():
    """Each interval's weights add up to the length of its overlap with [lower, upper]."""
    nodes = quadrature(np.array([0.0, 0.5]), np.array([2.5, 1.2]), 4, cuts=(1.0, 2.0))
    lengths = np.array([[1.0, 1.0, 0.5], [0.5, 0.2, 0.0]])
    for k in range(3):
        np.testing.assert_allclose(np.where(nodes.interval == k, nodes.weights, 0).sum(axis=1),
                                   lengths[:, k], atol=1e-14)
    assert (nodes.times >= np.array([[0.0], [0.5]])).all()
    assert (nodes.times <= np.array([[2.5], [1.2]])).all()


# ------------------------------------------------------------------------------ design

def test_marker_rows_at_new_times_and_their_derivative():
    visits, events = cohort()
    jm = model(visits, events)
    baseline = jm.joint.baseline                         # first visits, in level order
    times = np.array([[0.3, 1.7]] * jm.joint.n)
    rows = marker_rows(jm.design, baseline, "time", times, derivative=True)
    treated = (baseline["arm"] == "B").to_numpy(float)[:, None]
    expected_X = np.stack([np.ones_like(times), times, treated + 0 * times, treated * times], -1)
    np.testing.assert_allclose(rows.X, expected_X)
    np.testing.assert_allclose(rows.Z, np.stack([np.ones_like(times), times], -1))
    np.testing.assert_allclose(rows.dX, np.stack([0 * times, 1 + 0 * times, 0 * times,
                                                  treated + 0 * times], -1), atol=1e-8)
    np.testing.assert_allclose(rows.dZ[..., 1], 1.0, atol=1e-8)


def test_marker_derivative_of_a_transform_of_time():
    """d/dt of I(time^2) is 2t, through the formula's own evaluation."""
    visits, events = cohort()
    jm = lb.JointModel("sbp ~ time + I(time^2) + (1 | id)", "Surv(years, event) ~ 1",
                       visits, events, id="id", time="time", association="slope")
    times = np.array([[0.5, 2.0]] * jm.joint.n)
    rows = marker_rows(jm.design, jm.joint.baseline, "time", times, derivative=True)
    np.testing.assert_allclose(rows.dX[..., 2], 2 * times, rtol=1e-7)


def test_joint_design_orders_individuals_as_the_levels():
    visits, events = cohort()
    jm = model(visits, events.sample(frac=1.0, random_state=1))
    labels = [str(i) for i in events.id]
    order = [labels.index(level) for level in jm.joint.individuals]
    np.testing.assert_allclose(jm.joint.event_time, events.years.to_numpy()[order])
    assert jm.joint.survival_names == ("(Intercept)", "armB", "age")
    np.testing.assert_allclose(jm.joint.nodes.weights.sum(axis=1), jm.joint.event_time)


def test_piecewise_design_has_no_intercept_and_quantile_cuts():
    visits, events = cohort(n=30)
    jm = model(visits, events, baseline="piecewise", knots=3)
    assert jm.joint.survival_names == ("armB", "age")
    observed = events.years[events.event == 1]
    np.testing.assert_allclose(jm.joint.cuts, np.quantile(observed, [1 / 3, 2 / 3]))


# ------------------------------------------------------------------------------ checks

def test_missing_event_rows_are_named():
    visits, events = cohort()
    with pytest.raises(lb.DesignError, match=r"id \['3', '7'\] of data_long have no row"):
        model(visits, events[~events.id.isin([3, 7])])


def test_visits_after_the_event_time_are_named():
    visits, events = cohort()
    late = visits.index[visits.id == 2][-1]
    visits.loc[late, "time"] = events.years[events.id == 2].iloc[0] + 1
    with pytest.raises(lb.DesignError, match=f"rows {late} of data_long are visits after"):
        model(visits, events)


@pytest.mark.parametrize(("column", "value", "message"), [
    ("event", 2, "must hold 1 \\(event\\) or 0"),
    ("years", -1.0, "must be positive numbers"),
])
def test_bad_event_data(column, value, message):
    visits, events = cohort()
    events.loc[4, column] = value
    with pytest.raises(lb.DesignError, match=message):
        model(visits, events)


def test_missing_time_column_is_named():
    visits, events = cohort()
    with pytest.raises(lb.DesignError, match="the time column 'visit_time' is not in data_long"):
        lb.JointModel("sbp ~ 1 + (1 | id)", "Surv(years, event) ~ 1", visits, events, id="id",
                      time="visit_time")


def test_time_varying_covariate_is_refused():
    visits, events = cohort()
    visits.loc[visits.index[visits.id == 5][1], "arm"] = "A" if (
        events.arm[events.id == 5].iloc[0] == "B") else "B"
    with pytest.raises(lb.DesignError, match="'arm' varies within id '5'"):
        model(visits, events)


# ------------------------------------------------------------------------------ priors

def test_default_survival_priors_are_scaled():
    visits, events = cohort()
    jm = model(visits, events)
    table = jm.priors.table().set_index("parameter")["prior"]
    assert table["event_age"] == f"normal(mu=0, sigma={2.5 / events.age.std():.4g})"
    assert table["event_armB"] == "normal(mu=0, sigma=2.5)"
    assert table["association_value"] == f"normal(mu=0, sigma={2.5 / visits.sbp.std():.4g})"
    rate = np.log(events.event.sum() / events.years.sum())
    assert table["event_(Intercept)"] == f"normal(mu={rate:.4g}, sigma=2.5)"


def test_prior_overrides_and_unknown_keys():
    visits, events = cohort()
    jm = model(visits, events, priors={"association": lb.Prior("normal", mu=0, sigma=0.1),
                                       "time": lb.Prior("normal", mu=0, sigma=3)})
    assert str(jm.priors.association["value"]) == "normal(mu=0, sigma=0.1)"
    assert str(jm.priors.longitudinal.fixed["time"]) == "normal(mu=0, sigma=3)"
    with pytest.raises(lb.PriorError, match="association_slope"):
        model(visits, events, priors={"association_slope": lb.Prior("normal", mu=0, sigma=1)})


# ------------------------------------------------------------------------------ spec file

def test_spec_file_builds_the_joint_model(capsys):
    from conftest import REPO

    from lmm_bayes.cli import main
    from lmm_bayes.models import model_from_spec
    from lmm_bayes.specfile import read_spec

    spec_file = read_spec(REPO / "models" / "sbp_cvd.toml")
    jm = model_from_spec(spec_file.spec, spec_file.data, spec_file.event_data)
    assert isinstance(jm, lb.JointModel)
    assert (jm.joint.n, int(jm.joint.event.sum()), jm.design.n_obs) == (300, 97, 2053)
    with pytest.raises(lb.SpecError, match="needs its event data"):
        model_from_spec(spec_file.spec, spec_file.data)
    assert main(["check", str(REPO / "models" / "sbp_cvd.toml")]) == 0
    assert "300 individuals, 97 events, 2053 visits" in capsys.readouterr().out


def test_spec_file_needs_the_joint_keys(tmp_path):
    from conftest import REPO

    from lmm_bayes.specfile import read_spec

    text = (REPO / "models" / "sbp_cvd.toml").read_text()
    path = tmp_path / "jm.toml"
    path.write_text(text.replace('id = "id"\n', ""))
    with pytest.raises(lb.SpecError, match=r"\[joint\] needs 'id'"):
        read_spec(path)
    path.write_text(text.replace('baseline = "weibull"', 'baseline = "piecewise"\nknots = 4'))
    assert read_spec(path).spec.knots == 4
