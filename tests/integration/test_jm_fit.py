"""A joint model end to end with short sampling (one fit, reused): summary rows, hazard
ratios, baseline hazard, the marker's summaries over the joint posterior, dynamic
prediction, the spec file through the command line, and its report."""

import contextlib
import io
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import REPO

import lmm_bayes as lb
from lmm_bayes.cli import main
from lmm_bayes.specfile import read_spec

SHORT = ["--draws", "60", "--tune", "60", "--chains", "1", "--seed", "1"]


@pytest.fixture(scope="module")
def cohort():
    """The first 120 individuals of the shipped SBP cohort."""
    visits, events = lb.load_dataset("sbp_visits"), lb.load_dataset("sbp_events")
    keep = events.id <= 120
    return visits[visits.id.isin(events.id[keep])].reset_index(drop=True), events[keep]


@pytest.fixture(scope="module")
def fit(cohort):
    visits, events = cohort
    model = lb.JointModel("sbp ~ time * arm + (1 + time | id)", "Surv(years, event) ~ arm + age",
                          visits, events, id="id", time="time")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lb.SamplingWarning)
        return model.fit(draws=100, tune=150, chains=1, random_seed=3)


def test_posterior_names(fit):
    post = fit.idata.posterior
    assert {"beta", "sigma", "sd_id", "corr_id", "b_id", "event_coef", "association",
            "weibull_shape"} == set(post.data_vars)
    assert list(post["event_coef"].event_fixed.values) == ["(Intercept)", "armtreatment", "age"]
    assert list(post["association"].association_term.values) == ["value"]


def test_summary_rows(fit):
    table = fit.summary()
    survival = table[table.effect.isin(["survival", "association", "baseline"])]
    assert list(zip(survival.effect, survival.term)) == [
        ("survival", "(Intercept)"), ("survival", "armtreatment"), ("survival", "age"),
        ("association", "value"), ("baseline", "weibull_shape")]
    assert list(table.term[:4]) == ["(Intercept)", "time", "armtreatment", "time:armtreatment"]
    # the simulation's association, 0.04 per mmHg, lies in its interval (120 individuals)
    value = survival.set_index("term").loc["value"]
    assert value.conf_low < 0.04 < value.conf_high


def test_hazard_ratios_are_exp_of_the_draws(fit):
    table = fit.hazard_ratios().set_index("term")
    draws = np.exp(fit.idata.posterior["association"].values.ravel())
    assert table.loc["value", "estimate"] == pytest.approx(draws.mean())
    assert list(table.index) == ["armtreatment", "age", "value"]


def test_baseline_hazard_grid(fit):
    table = fit.baseline_hazard()
    assert len(table) == 100 and (np.diff(table["cumulative"]) > 0).all()
    assert (table["hazard_low"] <= table["hazard"]).all()


def test_longitudinal_summaries_over_the_joint_posterior(fit):
    marker = fit.longitudinal
    assert isinstance(marker, lb.Fit)
    np.testing.assert_allclose(marker.fixef()["estimate"],
                               fit.idata.posterior["beta"].mean(("chain", "draw")))
    assert set(marker.icc()["group"]) == {"id"}
    assert len(marker.trajectories("id", "time", levels=["1", "2"])) > 0
    assert "sd__time" in set(marker.variance_components()["term"])


def test_predict_survival(fit, cohort):
    visits, events = cohort
    who = events[events.id.isin([1, 2, 3])].assign(years=np.nan)
    table = fit.predict_survival(visits, who, horizon=[0, 1, 2, 3], random_seed=1)
    assert table.shape == (12, 7)
    for _, rows in table.groupby("id"):
        assert rows["probability"].iloc[0] == 0.0
        assert (np.diff(rows["probability"]) > 0).all()
        assert (rows["lower"] <= rows["probability"]).all()
        assert (rows["probability"] <= rows["upper"]).all()


def test_prediction_updates_with_a_visit(fit, cohort):
    """A new visit with a much higher pressure, at the same landmark, raises the risk."""
    visits, events = cohort
    own = visits[visits.id == 1]
    landmark = own.time.max() + 0.25
    event = events[events.id == 1].assign(years=landmark)
    before = fit.predict_survival(own, event, horizon=1.0, random_seed=4)
    new = own.iloc[[-1]].assign(time=landmark, sbp=own.sbp.max() + 40)
    after = fit.predict_survival(pd.concat([own, new]), event, horizon=1.0, random_seed=4)
    assert after["probability"].iloc[0] > before["probability"].iloc[0]


def test_loo_by_individual(fit):
    with warnings.catch_warnings():   # conditional on b_i: high Pareto k̂ are expected
        warnings.filterwarnings("ignore", message="Estimated shape parameter of Pareto")
        loo = fit.loo(pointwise=True)
    assert loo.pareto_k.shape == (120,) and np.isfinite(loo.elpd_loo)
    assert loo.p_loo > 0                          # the effective number of parameters


def run(args):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    return code, out.getvalue(), err.getvalue()


def test_spec_file_runs_by_the_command_line(cohort, tmp_path):
    """models/sbp_cvd.toml with its data sets replaced by CSV files of the fixture's
    individuals (fewer draws to sample)."""
    visits, events = cohort
    visits.to_csv(tmp_path / "visits.csv", index=False)
    events.to_csv(tmp_path / "events.csv", index=False)
    spec = (REPO / "models" / "sbp_cvd.toml").read_text()
    spec = spec.replace('dataset = "sbp_visits"', 'path = "visits.csv"').replace(
        'dataset = "sbp_events"', 'path = "events.csv"')
    (tmp_path / "sbp_cvd.toml").write_text(spec)
    code, printed, err = run(["fit", str(tmp_path / "sbp_cvd.toml"), "--out",
                              str(tmp_path / "out")] + SHORT)
    assert code == 0, err
    assert "Hazard ratios" in printed and "association" in printed
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert "association" in set(summary.effect)
    report = (tmp_path / "out" / "report.html").read_text()
    for part in ("<h2>Joint model: time to event</h2>", "<h3>Hazard ratios</h3>",
                 "<h2>Fixed effects</h2>", "Surv(years, event) ~ arm + age"):
        assert part in report
    assert (tmp_path / "out" / "posterior.nc").is_file()


def test_spec_file_errors(tmp_path):
    spec = (REPO / "models" / "sbp_cvd.toml").read_text()
    path = tmp_path / "jm.toml"
    path.write_text(spec.replace('association = "value"', 'association = "area"'))
    with pytest.raises(lb.SpecError, match="unknown association 'area'"):
        read_spec(path)
    path.write_text(spec.replace('dataset = "sbp_events"', ""))
    with pytest.raises(lb.SpecError, match=r"\[joint.data\] needs the event data"):
        read_spec(path)
    path.write_text(spec.replace("[sampler]", "[sampler]\nengine = \"graph\""))
    with pytest.raises(lb.SpecError, match=r"unknown key\(s\) \['engine'\]"):
        read_spec(path)
    code, _, err = run(["fit", str(REPO / "models" / "sbp_cvd.toml"), "--engine", "graph"]
                       + SHORT)
    assert code == 2 and "a joint model has one engine" in err
