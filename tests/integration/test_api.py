"""The public API end to end, with short sampling."""

import re
import warnings

import arviz as az
import numpy as np
import pytest
from conftest import quiet_fit

import lmm_bayes as lb
from lmm_bayes.sampling import diagnose


def test_summary_layout_names_and_sanity(sleep_fit):
    table = sleep_fit.summary(prob=0.9)
    assert list(table.term) == ["(Intercept)", "Days", "sd__(Intercept)", "sd__Days",
                                "cor__(Intercept).Days", "sd__Observation"]
    assert list(table.group) == ["", "", "Subject", "Subject", "Subject", "Residual"]
    # lme4's REML estimates (shared/data/README.md) lie inside even a short run's 90% interval
    reml = [251.4051, 10.4673, 24.7407, 5.9221, 0.0656, 25.5918]
    assert np.all((table.conf_low < reml) & (reml < table.conf_high))


def test_random_effects_use_real_level_labels(sleep_fit):
    table = sleep_fit.random_effects("Subject")
    assert len(table) == 18 * 2
    row = table[(table.level == "309") & (table.term == "(Intercept)")].iloc[0]
    # lme4's conditional mode for subject 309 is -40.3987 (shared/data/README.md)
    assert row.conf_low < -40.3987 < row.conf_high
    with pytest.raises(lb.DesignError, match="no grouping factor 'Subj'"):
        sleep_fit.random_effects("Subj")


def test_idata_coords_and_only_public_variables(sleep_fit):
    post = sleep_fit.idata.posterior
    assert set(post.data_vars) == {"beta", "sigma", "sd_Subject", "corr_Subject", "b_Subject"}
    assert post.sizes["chain"] == 2 and post.sizes["draw"] == 300
    assert "308" in post["b_Subject"].coords["Subject__level"].values


def test_arviz_summarises_the_posterior_without_warnings(sleep_fit):
    """Each correlation is stored once: no constant diagonal for ArviZ to divide by zero
    over (pytest's filterwarnings = error catches a RuntimeWarning), and a finite R-hat."""
    table = az.summary(sleep_fit.idata, var_names=["corr_Subject", "sd_Subject"])
    assert list(table.index[:1]) == ["corr_Subject[(Intercept).Days]"]
    assert np.isfinite(table["r_hat"]).all()


def test_sampling_diagnostics_never_name_a_diagonal(sleep_fit):
    """A short run: R-hat and ESS are checked on the one correlation, not on a diagonal."""
    problems = " ".join(diagnose(sleep_fit.idata, ["corr_Subject"]))
    assert set(re.findall(r"corr_Subject\[[^]]*\]", problems)) <= {"corr_Subject[(Intercept).Days]"}


def test_same_seed_same_draws_and_compiled_once(sleep_model, sleep_fit):
    again = quiet_fit(sleep_model, draws=300, tune=300, chains=2, random_seed=11)
    np.testing.assert_array_equal(again.idata.posterior["beta"], sleep_fit.idata.posterior["beta"])
    other = quiet_fit(sleep_model, draws=300, tune=300, chains=2, random_seed=12)
    assert not np.array_equal(other.idata.posterior["beta"], sleep_fit.idata.posterior["beta"])


def test_short_run_warns_with_advice(sleep_model):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", lb.SamplingWarning)
        sleep_model.fit(draws=30, tune=100, chains=2, random_seed=3)
    messages = [str(w.message) for w in caught if w.category is lb.SamplingWarning]
    assert any(re.search(r"bulk ESS below 400 for .*; run more draws", m) for m in messages)


def test_numpyro_without_jax_says_how_to_install(sleep_model):
    pytest.importorskip("pytest")
    try:
        import numpyro  # noqa: F401
        pytest.skip("numpyro is installed")
    except ImportError:
        pass
    with pytest.raises(lb.SamplingError, match=r"pip install 'lmm_bayes\[numpyro\]'"):
        sleep_model.fit(sampler="numpyro")


def test_prior_predictive_has_prior_and_predictions(sleep_model):
    prior = sleep_model.prior_predictive(draws=50, random_seed=1)
    assert list(prior.prior.data_vars) == ["beta", "sigma", "sd_Subject", "corr_Subject",
                                           "b_Subject"]
    assert prior.prior["sd_Subject"].shape == (1, 50, 2)
    assert prior.prior["corr_Subject"].dims == ("chain", "draw", "Subject__pair")
    assert prior.prior_predictive["y"].shape == (1, 50, 180)
    assert list(prior.observed_data.data_vars) == ["y"]


def test_prior_intercept_is_on_the_data_scale(sleep_model):
    """The intercept's prior is set at the mean of Days and moved to Days = 0 by the slope,
    whose prior has mean 0: its prior mean stays the default prior's, mean(Reaction)."""
    prior = sleep_model.prior_predictive(draws=2000, random_seed=2)
    intercept = prior.prior["beta"].sel(fixed="(Intercept)").values
    default = sleep_model.priors.intercept.kwargs
    assert default["mu"] == pytest.approx(298.5079, abs=1e-3)
    assert intercept.mean() == pytest.approx(default["mu"], abs=4 * intercept.std() / np.sqrt(2000))


def test_fit_shorthand_splits_model_and_sampler_options(sleepstudy):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lb.SamplingWarning)  # 100 draws: low ESS expected
        fit = lb.fit("Reaction ~ Days + (1 | Subject)", sleepstudy, draws=100, tune=100,
                     chains=1, random_seed=2,
                     priors={"sigma": lb.Prior("halfnormal", sigma=40)})
    assert fit.model.priors.sigma == lb.Prior("halfnormal", sigma=40)
    assert fit.idata.posterior.sizes["draw"] == 100


def test_na_drop_is_explicit(sleepstudy, caplog):
    data = sleepstudy.copy()
    data.loc[[3, 50], "Reaction"] = np.nan
    with pytest.raises(lb.DesignError, match="'Reaction': 2"):
        lb.LMM("Reaction ~ Days + (Days | Subject)", data)
    model = lb.LMM("Reaction ~ Days + (Days | Subject)", data, na_action="drop")
    assert model.design.n_obs == 178 and model.design.n_dropped == 2
    assert "dropped 2 of 180 rows" in caplog.text
