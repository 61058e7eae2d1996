"""A collapsed crossed model (independence sampler) through the public API: the posterior's
layout, reproducibility, the answers computed from it, saving and the report."""

import numpy as np
import pytest
from conftest import crossed_data

import lmm_bayes as lb

FORMULA = "y ~ x + arm + (1 | a) + (1 | b)"


@pytest.fixture(scope="module")
def data():
    return crossed_data(seed=4, rows=(30, 20), reps=2)


@pytest.fixture(scope="module")
def model(data):
    return lb.LMM(FORMULA, data)


@pytest.fixture(scope="module")
def fit(model):
    return model.fit(draws=500, chains=2, random_seed=9)


def test_posterior_has_the_documented_layout(fit, data):
    post = fit.idata.posterior
    assert fit.config.sampler == "imh"
    assert set(post.data_vars) == {"beta", "sigma", "sd_a", "sd_b", "b_a", "b_b"}
    assert post["beta"].dims == ("chain", "draw", "fixed")
    assert list(post.fixed.values) == ["(Intercept)", "x", "armB"]
    assert post["b_a"].dims == ("chain", "draw", "a__level", "a__term")
    assert sorted(post["a__level"].values) == sorted(data.a.unique())
    assert post["sd_b"].dims == ("chain", "draw", "b__term")
    assert fit.diagnostics() == []
    assert not fit.idata.sample_stats["diverging"].any()


def test_same_seed_same_draws_whatever_the_threads(model, fit):
    again = model.fit(draws=500, chains=2, random_seed=9, cores=1)
    for name in ("beta", "sd_a", "b_b"):
        np.testing.assert_array_equal(again.idata.posterior[name], fit.idata.posterior[name])


def test_answers_from_the_collapsed_posterior(fit, data):
    """The ICC against the posterior draws by hand, each level's shrinkage against the
    random-intercept formula B = σ²/(n_ℓ τ² + σ²), and a prediction against the draws."""
    post = fit.idata.posterior
    var = {g: post[f"sd_{g}"].values[..., 0] ** 2 for g in ("a", "b")}
    total = var["a"] + var["b"] + post["sigma"].values ** 2
    icc = fit.icc().set_index("group")
    np.testing.assert_allclose(icc.loc["a", "estimate"], (var["a"] / total).mean(), rtol=1e-6)
    shrink = fit.shrinkage("a")
    B = (post["sigma"] ** 2).mean().item() / (shrink["n"] * var["a"].mean()
                                                + (post["sigma"] ** 2).mean().item())
    assert np.median(shrink["shrinkage"] / B) == pytest.approx(1, abs=0.3)
    row = data.iloc[[0]]
    by_hand = (post["beta"].sel(fixed="(Intercept)") + post["beta"].sel(fixed="x") * row.x.item()
               + post["beta"].sel(fixed="armB") * (row.arm.item() == "B")
               + post["b_a"].sel(a__level=row.a.item())[..., 0]
               + post["b_b"].sel(b__level=row.b.item())[..., 0])
    predicted = fit.predict(row, groups="conditional")
    assert predicted.estimate.item() == pytest.approx(float(by_hand.mean()), rel=1e-9)


def test_save_load_and_report(fit, tmp_path):
    path = fit.save(tmp_path / "crossed.nc")
    loaded = lb.load(path)
    assert loaded.config.sampler == "imh"
    np.testing.assert_array_equal(loaded.idata.posterior["b_a"], fit.idata.posterior["b_a"])
    from lmm_bayes.report import sampling_section

    section = sampling_section(loaded)
    assert "independence Metropolis–Hastings" in section
    assert "Engine collapsed: 2 crossed or nested intercept factors" in section


def test_a_collapsed_model_holds_its_own_response(model):
    config = lb.sampling.SamplerConfig(draws=10, chains=1, sampler="imh")
    with pytest.raises(lb.SamplingError, match="holds its own response"):
        model.fit_with(config, target=model.target("collapsed"))


def test_loo_from_the_collapsed_posterior(fit, data):
    """PSIS-LOO's pointwise log-likelihood is that of each row given the drawn effects."""
    loo = fit.loo()
    assert loo.n_data_points == len(data)
    assert np.isfinite(loo.elpd_loo)
    # the in-sample log predictive density bounds elpd_loo from above
    loglik = fit.idata.log_likelihood["y"].values
    lppd = np.sum(np.log(np.mean(np.exp(loglik), axis=(0, 1))))
    assert loo.elpd_loo < lppd
