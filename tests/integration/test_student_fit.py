"""Student-t residuals (``family="student"``) end to end with short sampling: the graph
engine's posterior, summary rows, predictions, predictive checks, pointwise log-likelihoods,
save/load, and the command line on a spec with a sigma formula (which writes the report)."""

import contextlib
import io
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

import lmm_bayes as lb
from lmm_bayes.cli import main

SHORT = {"draws": 150, "tune": 200, "chains": 2, "random_seed": 4}


def _data(seed=5):
    """16 levels × 6 rows, y = 1 + 2x + u_g + 0.5 t₃, and two rows shifted by +15."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(16), 6)
    x = rng.normal(size=len(g))
    y = 1.0 + 2.0 * x + rng.normal(0, 0.8, 16)[g] + 0.5 * rng.standard_t(3, len(g))
    y[[7, 40]] += 15.0
    return pd.DataFrame({"y": y, "x": x, "g": [f"s{k}" for k in g],
                         "arm": np.where(g % 2, "A", "B")})


@pytest.fixture(scope="module")
def student_fit():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lb.SamplingWarning)
        return lb.fit("y ~ x + (1 | g)", _data(), family="student", **SHORT)


def _draw(fit, name, chain=0, draw=0):
    return fit.idata.posterior[name].isel(chain=chain, draw=draw).values


def test_the_graph_engine_fits_sigma_and_nu(student_fit):
    fit = student_fit
    assert fit.engine[0] == "graph"
    assert set(fit.idata.posterior.data_vars) == {"beta", "sigma", "nu", "sd_g", "b_g"}
    table = fit.summary().set_index("term")
    assert table.loc["sd__Observation", "group"] == "Residual"
    assert table.loc["nu", "group"] == "Residual" and table.loc["nu", "effect"] == "ran_pars"
    assert list(table.index[-2:]) == ["sd__Observation", "nu"]
    # two gross outliers among 96 rows: heavy tails, and the slope stays near its truth 2
    assert table.loc["nu", "estimate"] < 10
    assert abs(table.loc["x", "estimate"] - 2.0) < 0.3


def test_predicted_means_are_the_linear_predictor(student_fit):
    """kind="mean" is μ = xβ + b_g per draw; kind="response" scatters t draws around it."""
    fit, data = student_fit, _data()
    rows = data.iloc[[0, 50]]
    mean = fit.predict_draws(rows, kind="mean", groups="conditional")
    beta, b = fit.idata.posterior["beta"], fit.idata.posterior["b_g"]
    for k, (_, row) in enumerate(rows.iterrows()):
        hand = (beta.sel(fixed="(Intercept)") + row.x * beta.sel(fixed="x")
                + b.sel(g__level=row.g, g__term="(Intercept)"))
        np.testing.assert_allclose(mean.isel(obs=k).values, hand.values, rtol=1e-10)
    response = fit.predict_draws(rows, kind="response", groups="conditional", random_seed=1)
    residual = (response - mean).values.ravel()
    sigma, nu = (np.repeat(fit.idata.posterior[v].values.ravel(), 2) for v in ("sigma", "nu"))
    # the residuals scaled by each draw's σ are t with that draw's ν: their PIT is uniform
    pit = stats.t.cdf(residual / sigma, nu)
    assert stats.kstest(pit, "uniform").pvalue > 0.001
    table = fit.predict(rows, kind="response", groups="conditional", random_seed=1)
    assert (table.conf_high - table.conf_low).min() > 1.0


def test_a_new_individuals_history_moves_their_prediction(student_fit):
    """Effects of a new level given its rows, by importance resampling under the t
    likelihood: a history 4 above the population line pulls the new level's mean up by
    nearly that much (the SD of the levels, about 0.8, leaves the data most of the say)."""
    history = pd.DataFrame({"x": [0.0, 0.5, -0.5, 1.0], "g": "new"})
    beta = student_fit.idata.posterior["beta"].mean(("chain", "draw"))
    history["y"] = 4.0 + beta.sel(fixed="(Intercept)").item() + beta.sel(fixed="x").item() \
        * history.x
    rows = pd.DataFrame({"x": [0.0], "g": ["new"]})
    population = student_fit.predict(rows, groups="population").estimate.iloc[0]
    given = student_fit.predict(rows, history=history, random_seed=2).estimate.iloc[0]
    assert 2.0 < given - population < 4.0


def test_replicates_and_pointwise_loglik_are_t(student_fit):
    fit = student_fit
    design = fit.model.design
    mu = design.X @ _draw(fit, "beta") + _draw(fit, "b_g")[design.groups[0].index, 0]
    sigma, nu = _draw(fit, "sigma"), _draw(fit, "nu")
    with warnings.catch_warnings():  # arviz warns of the outliers' Pareto k̂: that is expected
        warnings.simplefilter("ignore", UserWarning)
        loo = fit.loo(by="observation", pointwise=True)
    loglik = fit.idata.log_likelihood["y"].isel(chain=0, draw=0).values
    np.testing.assert_allclose(loglik, stats.t.logpdf(design.y, nu, mu, sigma), rtol=1e-10)
    assert np.isfinite(loo["elpd_loo"]) and loo["loo_i"].size == 96
    y_rep = fit.ppc(random_seed=2).posterior_predictive["y"]
    assert y_rep.shape == (2, 150, 96)
    # the replicates reach the observed extremes: the outliers are no surprise to a t model
    pvalues = fit.ppc_pvalues(stats=("max",)).set_index("statistic")
    assert pvalues.loc["max", "p_value"] > 0.005


def test_icc_is_the_share_of_variance_draw_by_draw(student_fit):
    """τ²/(τ² + σ²ν/(ν − 2)) per draw, 0 for draws with ν ≤ 2 (infinite residual variance)."""
    post = student_fit.idata.posterior
    tau2, sigma2, nu = (post[v].values.ravel() ** p for v, p in (("sd_g", 2), ("sigma", 2),
                                                                  ("nu", 1)))
    share = np.where(nu > 2, tau2 / (tau2 + sigma2 * nu / np.maximum(nu - 2, 1e-300)), 0.0)
    assert student_fit.icc().estimate.iloc[0] == pytest.approx(share.mean(), rel=1e-10)


def test_save_and_load_round_trip(student_fit, tmp_path):
    loaded = lb.load(student_fit.save(tmp_path / "student.nc"))
    assert loaded.model.spec.family == "student"
    pd.testing.assert_frame_equal(loaded.summary(), student_fit.summary())
    xr.testing.assert_identical(loaded.idata.posterior, student_fit.idata.posterior)
    rows = _data().iloc[:3]
    pd.testing.assert_frame_equal(loaded.predict(rows, kind="response", random_seed=3),
                                  student_fit.predict(rows, kind="response", random_seed=3))


SPEC = """
[model]
formula = "y ~ x + (1 | g)"
family = "student"
sigma = "~ arm"

[data]
path = "robust.csv"

[priors]
nu = { dist = "gamma", alpha = 2, beta = 0.1 }
"""


def test_cli_fits_a_student_spec_with_a_sigma_formula(tmp_path):
    _data().to_csv(tmp_path / "robust.csv", index=False)
    (tmp_path / "robust.toml").write_text(SPEC)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(["fit", str(tmp_path / "robust.toml"), "--out", str(tmp_path / "out"),
                     "--draws", "150", "--tune", "200", "--chains", "2", "--seed", "1"])
    assert code == 0
    printed = out.getvalue()
    assert "wrote report" in printed
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert summary.loc[summary.effect == "sigma", "term"].tolist() == ["(Intercept)", "armB"]
    assert summary.term.iloc[-1] == "nu"
    report = (tmp_path / "out" / "report.html").read_text()
    assert "student" in report and "gamma(alpha=2, beta=0.1)" in report
    fit = lb.load(tmp_path / "out" / "fit.nc")
    assert set(fit.idata.posterior.data_vars) == {"beta", "sigma_beta", "nu", "sd_g", "b_g"}
    rows = _data().iloc[[0, 6]]        # arm B and arm A: σ_i from the sigma formula
    assert fit.predict(rows, kind="response", random_seed=1).shape == (2, 4)
    assert fit.ppc(random_seed=1).posterior_predictive["y"].shape == (2, 150, 96)
