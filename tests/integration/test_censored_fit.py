"""A censored response end to end, from one short fit by the command line: the TOML spec,
the printed summary, the saved fit and its report, then predictions of the latent value,
censored replicates and the pointwise log-likelihood of LOO on the loaded fit."""

import contextlib
import io
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import lmm_bayes as lb
from lmm_bayes.cli import main

TRUTH = {"(Intercept)": 1.0, "t": 0.3, "sd_g": 0.5, "sigma": 0.4}
LOD = 1.2
SHORT = ["--draws", "150", "--tune", "150", "--chains", "2", "--seed", "1"]


def simulate() -> pd.DataFrame:
    """30 subjects × 6 visits; below LOD left-censored; six rows known only to lie in
    (y, y + 0.5] (interval) and two above 3 (right-censored)."""
    rng = np.random.default_rng(1)
    g = np.repeat(np.arange(30), 6)
    t = np.tile(np.arange(6.0), 30)
    latent = (TRUTH["(Intercept)"] + TRUTH["t"] * t + rng.normal(0, TRUTH["sd_g"], 30)[g]
              + rng.normal(0, TRUTH["sigma"], len(g)))
    code = np.where(latent < LOD, "left", "none").astype(object)
    y = np.maximum(latent, LOD)
    upper = np.full(len(g), np.nan)
    above = np.flatnonzero(latent > 2.0)
    interval, right = above[:6], np.flatnonzero(latent > 3.0)[:2]
    code[interval], y[interval] = "interval", np.floor(latent[interval] * 2) / 2
    upper[interval] = y[interval] + 0.5
    code[right], y[right] = "right", 3.0
    return pd.DataFrame({"y": y, "t": t, "g": g, "censored": code, "upper": upper,
                         "latent": latent})


@pytest.fixture(scope="module")
def data():
    return simulate()


@pytest.fixture(scope="module")
def fitted(data, tmp_path_factory):
    """The spec fitted by ``lmm-bayes fit``: (output folder, printed text)."""
    folder = tmp_path_factory.mktemp("censored")
    data.to_csv(folder / "lod.csv", index=False)
    (folder / "lod.toml").write_text(
        '[model]\nformula = "y | cens(censored, upper) ~ t + (1 | g)"\n'
        '[data]\npath = "lod.csv"\n')
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore", lb.SamplingWarning)
        code = main(["fit", str(folder / "lod.toml"), "--out", str(folder / "out")] + SHORT)
    assert code == 0, err.getvalue()
    return folder / "out", out.getvalue()


@pytest.fixture(scope="module")
def fit(fitted):
    return lb.load(fitted[0] / "fit.nc")


def test_cli_prints_the_censoring_and_writes_the_report(fitted, data):
    out, printed = fitted
    counts = data.censored.value_counts()
    line = (f"Censoring: {len(data) - counts['none']} of {len(data)} rows censored "
            f"({counts['left']} left, {counts['right']} right, {counts['interval']} interval)")
    assert line in printed
    assert "Engine: graph" in printed
    report = (out / "report.html").read_text()
    assert f"Censored response: {line.removeprefix('Censoring: ')}" in report
    assert "shrinkage is not available for a censored response" in report
    summary = pd.read_csv(out / "summary.csv")
    assert lb.load(out / "fit.nc").summary()["estimate"].tolist() == pytest.approx(
        summary["estimate"].tolist(), rel=1e-12)


def test_saved_fit_keeps_the_censoring_and_covers_the_truth(fit, data):
    assert fit.model.design.censoring.kind.tolist() == data.censored.map(
        {"none": 0, "left": -1, "right": 1, "interval": 2}).tolist()
    table = fit.summary().set_index("term")
    for term, key in (("(Intercept)", "(Intercept)"), ("t", "t"),
                      ("sd__(Intercept)", "sd_g"), ("sd__Observation", "sigma")):
        row = table.loc[term]
        assert row.conf_low < TRUTH[key] < row.conf_high, term


def test_predictions_are_of_the_latent_value(fit, data):
    left = (data.censored == "left").to_numpy()
    mean = fit.predict(groups="population")["estimate"].to_numpy()
    expected = TRUTH["(Intercept)"] + TRUTH["t"] * data.t.to_numpy()
    assert mean == pytest.approx(expected, abs=0.25)
    conditional = fit.predict(groups="conditional")["estimate"].to_numpy()
    # the left-censored rows' latent values are below the limit, and so are their means on
    # average; a prediction of the recorded (censored) value could not be
    assert conditional[left].mean() < LOD


def test_replicates_are_censored_as_the_rows_were(fit, data):
    fit.ppc(random_seed=2)
    y_rep = fit.idata.posterior_predictive["y"].values.reshape(-1, len(data))
    left, right = (data.censored == "left").to_numpy(), (data.censored == "right").to_numpy()
    assert (y_rep[:, left] >= LOD).all() and (y_rep[:, left] == LOD).mean() > 0.5
    assert (y_rep[:, right] <= 3.0).all()
    interval = (data.censored == "interval").to_numpy()
    inside = (y_rep[:, interval] > data.y[interval].to_numpy()) & (
        y_rep[:, interval] <= data.upper[interval].to_numpy())
    assert not inside.any()
    table = fit.ppc_pvalues(stats=("mean", "min")).set_index("statistic")
    assert 0.02 < table.loc["mean", "p_value"] < 0.98


def test_loo_uses_the_censored_loglik(fit, data):
    with warnings.catch_warnings():
        # 300 draws: ArviZ's Pareto k threshold is then 0.6, which a row or two may pass
        warnings.filterwarnings("ignore", message="Estimated shape parameter of Pareto")
        loo = fit.loo()
    assert np.isfinite(loo.elpd_loo)
    with pytest.raises(lb.DesignError, match=r"not a censored response \(cens\(\)\)"):
        fit.loo(by="level")
    loglik = fit.idata.log_likelihood["y"].values[0, 0]
    post = fit.idata.posterior.isel(chain=0, draw=0)
    beta, b, sigma = post["beta"].values, post["b_g"].values[:, 0], float(post["sigma"])
    mu = beta[0] + beta[1] * data.t.to_numpy() + b[data.g.to_numpy()]
    y, upper = data.y.to_numpy(), data.upper.to_numpy()
    expected = {"none": stats.norm.logpdf(y, mu, sigma), "left": stats.norm.logcdf(y, mu, sigma),
                "right": stats.norm.logsf(y, mu, sigma),
                "interval": np.log(stats.norm.cdf(upper, mu, sigma)
                                   - stats.norm.cdf(y, mu, sigma))}
    for code, values in expected.items():
        rows = (data.censored == code).to_numpy()
        assert loglik[rows] == pytest.approx(values[rows], rel=1e-9), code
