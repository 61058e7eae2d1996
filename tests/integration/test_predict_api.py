"""Prediction, risk, predictive checks and LOO through the public API, on the shared sleepstudy fit."""

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import quiet_fit

import lmm_bayes as lb
from lmm_bayes.api import _common_loo_unit

NEW = pd.DataFrame({"Days": [0.0, 9.0, 9.0], "Subject": ["308", "308", "999"]}, index=[3, 4, 5])


def test_predict_layout_and_ordering_of_uncertainty(sleep_fit):
    table = sleep_fit.predict(NEW, random_seed=1)
    assert list(table.columns) == ["estimate", "std_error", "conf_low", "conf_high"]
    assert list(table.index) == [3, 4, 5]
    response = sleep_fit.predict(NEW, kind="response", random_seed=1)
    # a new subject is less certain than a known one; a new measurement less than its mean
    assert table["std_error"][5] > 2 * table["std_error"][4]
    assert (response["std_error"] > table["std_error"]).all()


def test_conditional_prediction_is_the_posterior_mean_line(sleep_fit):
    post = sleep_fit.idata.posterior
    line = (post["beta"].sel(fixed="(Intercept)") + post["b_Subject"].sel(
        Subject__level="308", Subject__term="(Intercept)")
        + 9 * (post["beta"].sel(fixed="Days") + post["b_Subject"].sel(
            Subject__level="308", Subject__term="Days")))
    got = sleep_fit.predict(NEW.iloc[[1]], groups="conditional")
    assert got["estimate"].iloc[0] == pytest.approx(float(line.mean()))


def test_history_moves_a_new_subject_from_the_population_towards_their_data(sleepstudy, sleep_fit):
    own = sleepstudy[sleepstudy["Subject"].astype(str) == "337"].assign(Subject="new")
    target = pd.DataFrame({"Days": [9.0], "Subject": ["new"]})
    population = sleep_fit.predict(target, groups="population")["estimate"].iloc[0]
    two = sleep_fit.predict(target, history=own.iloc[:2], random_seed=2)
    eight = sleep_fit.predict(target, history=own.iloc[:8], random_seed=2)
    observed = own["Reaction"].iloc[9]          # 337 reacts slowest of all subjects
    assert population < two["estimate"].iloc[0] < eight["estimate"].iloc[0] < observed + 30
    assert eight["std_error"].iloc[0] < two["std_error"].iloc[0]


def test_exceedance_and_tiers(sleep_fit):
    table = sleep_fit.risk_tiers(NEW, 400.0, random_seed=3)
    draws = sleep_fit.predict_draws(NEW, kind="response", random_seed=3)
    assert table["probability"].tolist() == pytest.approx(
        (draws > 400).mean(("chain", "draw")).values.tolist())
    assert table["tier"].tolist() == ["low", "high", "medium"]


def test_event_risk_pushes_predictions_through_the_risk_model(sleep_fit):
    risk_model = lb.LogisticRisk({"(Intercept)": -12.0, "value": 0.03})
    table = sleep_fit.event_risk(NEW, risk_model, random_seed=4)
    draws = sleep_fit.predict_draws(NEW, random_seed=4).values.reshape(-1, 3)
    expected = (1 / (1 + np.exp(12 - 0.03 * draws))).mean(axis=0)
    np.testing.assert_allclose(table["estimate"], expected)


def test_ppc_pvalues_and_plot(sleep_fit):
    table = sleep_fit.ppc_pvalues(stats=("mean", "sd", "within_sd"), group="Subject")
    assert "posterior_predictive" in sleep_fit.idata.groups()
    assert sleep_fit.idata.posterior_predictive["y"].shape[-1] == 180
    # the model fits the location and spread of these data: no extreme p-values
    assert table["p_value"].between(0.02, 0.98).all()
    assert table.set_index("statistic").loc["mean", "observed"] == pytest.approx(298.5079, abs=1e-3)
    assert len(sleep_fit.plot_ppc().axes) == 1
    assert "p = " in sleep_fit.plot_ppc(stat="sd").axes[0].get_title()


def test_loo_and_compare(sleep_model, sleep_fit, sleepstudy):
    intercepts = lb.LMM("Reaction ~ Days + (1 | Subject)", sleepstudy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lb.SamplingWarning)  # a short run: low ESS
        other = intercepts.fit(draws=300, tune=300, chains=2, random_seed=5)
    with warnings.catch_warnings():
        # leave-one-subject-out by default; subject 332, whose slope is far from the others',
        # has Pareto k̂ ≈ 0.8 on these short runs (see the next test)
        warnings.filterwarnings("ignore", message="Estimated shape parameter of Pareto")
        table = lb.compare({"slopes": sleep_fit, "intercepts": other})
    assert table.index[0] == "slopes"           # random slopes fit far better (lme4: REML log-likelihood −871.8 vs −893.2)
    assert table.loc["intercepts", "elpd_diff"] > 10
    assert table["weight"].sum() == pytest.approx(1.0)


def test_loo_leaves_out_a_subject_or_an_observation(sleep_fit):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Estimated shape parameter of Pareto")
        psis = sleep_fit.loo(refit=False)
        by_row = sleep_fit.loo(by="observation")
    by_level = sleep_fit.loo()          # no warning: subject 332 is refitted exactly
    assert by_level.n_data_points == 18
    levels = np.asarray(sleep_fit.model.design.groups[0].levels)
    high = psis.pareto_k.values > psis.good_k
    assert list(levels[high]) == ["332"]   # its slope is far from the others'
    assert not by_level.warning and (by_level.pareto_k.values <= by_level.good_k).all()
    changed = ~np.isclose(by_level.loo_i.values, psis.loo_i.values)
    assert list(levels[changed]) == ["332"]
    assert float(by_level.loo_i.sum()) == pytest.approx(by_level.elpd_loo)
    # the in-sample lppd = p_loo + elpd_loo is the same for both estimates
    assert by_level.p_loo + by_level.elpd_loo == pytest.approx(psis.p_loo + psis.elpd_loo)
    assert by_row.n_data_points == 180
    assert list(sleep_fit.idata.log_likelihood["y"].dims) == ["chain", "draw", "obs"]


def test_exact_level_elpd_agrees_with_psis_where_psis_is_reliable(sleep_model):
    """A refit without subject 308 (Pareto k̂ low) gives the elpd that PSIS estimated from
    the full posterior (independent routes to one number). 4 × 1000 draws of the compiled
    marginal density take about a second; the Monte Carlo SD of each estimate is then
    about 0.05 nats, while the subjects' elpds lie nats apart."""
    fit = quiet_fit(sleep_model, draws=1000, tune=1000, chains=4, random_seed=3)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Estimated shape parameter of Pareto")
        psis = fit.loo(refit=False)
    levels = list(fit.model.design.groups[0].levels)
    level = levels.index("308")
    assert psis.pareto_k.values[level] < psis.good_k
    exact = fit._exact_level_elpd(level)
    assert exact == pytest.approx(float(psis.loo_i.values[level]), abs=0.15)
    others = np.delete(psis.loo_i.values, level)
    assert np.min(np.abs(others - exact)) > 0.5   # the tolerance tells the subjects apart


def test_compare_leaves_out_levels_only_where_every_fit_can(sleep_model, sleepstudy):
    def unfitted(formula):
        return lb.Fit(lb.LMM(formula, sleepstudy), None, None)
    intercepts, pooled = unfitted("Reaction ~ Days + (1 | Subject)"), unfitted("Reaction ~ Days")
    by_day = unfitted("Reaction ~ Days + (1 | Days)")
    assert _common_loo_unit([lb.Fit(sleep_model, None, None), intercepts]) == "level"
    assert _common_loo_unit([intercepts, pooled]) == "observation"     # no grouping factor
    assert _common_loo_unit([intercepts, by_day]) == "observation"     # other levels


def test_level_loo_of_a_model_without_a_closed_form_is_refused(sleepstudy):
    crossed = lb.LMM("Reaction ~ Days + (1 | Subject) + (1 | Days)", sleepstudy)
    fit = lb.Fit(crossed, None, None)
    with pytest.raises(lb.DesignError, match="not 2 grouping factors, not one; use "
                                             "by='observation'"):
        fit.loo(by="level")
    with pytest.raises(lb.DesignError,
                       match="by must be 'level', 'observation' or 'individual', not 'row'"):
        fit.loo(by="row")


# ----------------------------------------------------------------------------- input checks


def test_days_given_as_text_are_refused_not_recoded(sleep_fit):
    """Days = "5", "9" used to be coded as a dummy: 253.9 and 273.5 instead of 352 and 430."""
    with pytest.raises(lb.DesignError, match=r"'Days' was numeric in the fitted data but is "
                                             r"text in the new data \(row 0: '5'\)"):
        sleep_fit.predict(pd.DataFrame({"Days": ["5", "9"], "Subject": ["308", "308"]}))


@pytest.mark.parametrize("threshold", [float("nan"), "7"])
def test_exceedance_and_tiers_need_a_finite_threshold(sleep_fit, threshold):
    for method in (sleep_fit.exceedance, sleep_fit.risk_tiers):
        with pytest.raises(lb.DesignError, match="threshold must be a finite number"):
            method(NEW, threshold, random_seed=3)


def test_predict_needs_rows_and_history_needs_a_row_to_predict(sleep_fit, sleepstudy):
    with pytest.raises(lb.DesignError, match="no rows to predict"):
        sleep_fit.predict(NEW.iloc[:0])
    own = sleepstudy[sleepstudy["Subject"].astype(str) == "337"].assign(Subject="new")
    with pytest.raises(lb.DesignError, match=r"level\(s\) \['new'\] of 'Subject' match no row"):
        sleep_fit.predict(NEW, history=own.iloc[:2])


@pytest.mark.parametrize("call, message", [
    (lambda f: f.icc(at={"Days": float("nan")}), r"at\['Days'\] must be a finite number"),
    (lambda f: f.icc(at={"Dayz": 3}), r"\['Dayz'\] match no random slope"),
    (lambda f: f.icc(group="Subjekt"), "no grouping factor 'Subjekt'"),
    (lambda f: f.shrinkage("Subject", "Dayz"), "'Dayz' is not a varying term of 'Subject'"),
    (lambda f: f.summary(prob=1.5), r"prob must lie in \(0, 1\), got 1.5"),
    (lambda f: f.summary(prob=0), r"prob must lie in \(0, 1\), got 0"),
    (lambda f: f.summary(prob=float("nan")), "prob must be a finite number, got nan"),
    (lambda f: f.variance_components(prob=-1), "prob must lie in"),
    (lambda f: f.icc(prob=1), "prob must lie in"),
    (lambda f: f.random_effects("Subject", prob=2), "prob must lie in"),
    (lambda f: f.predict(NEW, prob=1.5), "prob must lie in"),
    (lambda f: f.ppc_pvalues(prob=1.5), "prob must lie in"),
])
def test_summary_and_prediction_options_raise_the_package_error(sleep_fit, call, message):
    with pytest.raises(lb.DesignError, match=message):
        call(sleep_fit)
