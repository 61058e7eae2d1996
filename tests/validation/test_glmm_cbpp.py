"""cbpp (binomial counts, 15 herds × 4 periods) against lme4's Laplace ML fit, and the GLMM
summaries of that fit: no residual SD, latent-scale ICC, population-averaged effects."""

import warnings

import numpy as np
import pytest
from conftest import reference_data

import lmm_bayes as lb

pytestmark = pytest.mark.validation

FORMULA = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
# glmer(..., family = binomial), shared/data/README.md
LME4 = {("", "(Intercept)"): -1.3983, ("", "period2"): -0.9919, ("", "period3"): -1.1282,
        ("", "period4"): -1.5797, ("herd", "sd__(Intercept)"): 0.6421}
ZEGER = 16 * np.sqrt(3) / (15 * np.pi)  # logistic ≈ probit scale constant, Zeger et al. 1988


@pytest.fixture(scope="module")
def cbpp_fit():
    model = lb.LMM(FORMULA, reference_data("cbpp"), family="binomial", factors=["period", "herd"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", lb.SamplingWarning)
        fit = model.fit(draws=1000, tune=1000, chains=4, random_seed=7)
    return fit, [str(w.message) for w in caught]


def test_fixed_effects_and_herd_sd_agree_with_lme4(cbpp_fit):
    """Fixed effects within one posterior SD of lme4's; its SD(herd) inside the central 90%
    interval (the criterion of shared/data/README.md); no sampling warnings."""
    fit, caught = cbpp_fit
    table = fit.summary(prob=0.9).set_index(["group", "term"])
    assert list(table.index)[-1] == ("herd", "sd__(Intercept)")  # no sigma row
    for key, value in LME4.items():
        row = table.loc[key]
        if key[0]:
            assert row.conf_low < value < row.conf_high, (key, row)
        else:
            assert abs(row.estimate - value) < row.std_error, (key, row.estimate, value)
    assert caught == []


def test_latent_icc_is_tau2_over_tau2_plus_pi2_over_3(cbpp_fit):
    fit, _ = cbpp_fit
    tau2 = fit.idata.posterior["sd_herd"].values[..., 0] ** 2
    assert fit.icc().estimate[0] == pytest.approx((tau2 / (tau2 + np.pi**2 / 3)).mean())
    assert fit.variance_components().term.tolist() == ["sd__(Intercept)", "var__(Intercept)"]


def test_population_averaged_period_effects_are_attenuated(cbpp_fit):
    """With random intercepts only, the population-averaged logit coefficients are close
    to β/√(1 + c²τ²), c = 16√3/(15π) (Zeger, Liang & Albert 1988), draw by draw."""
    fit, _ = cbpp_fit
    table = fit.marginal_effects().set_index(["effect", "term"])
    post = fit.idata.posterior
    tau2 = post["sd_herd"].values[..., 0] ** 2
    beta = post["beta"].transpose("chain", "draw", "fixed").values
    approx = (beta / np.sqrt(1 + ZEGER**2 * tau2)[..., None]).mean(axis=(0, 1))
    pa = table.loc["population_averaged"].estimate.to_numpy()
    assert pa == pytest.approx(approx, rel=0.03)
    ss = table.loc["subject_specific"]
    assert ss.estimate.to_numpy() == pytest.approx(beta.mean(axis=(0, 1)))
    assert ss.odds_ratio_high.to_numpy() == pytest.approx(np.exp(ss.conf_high.to_numpy()))
    assert np.all(np.abs(pa[1:]) < np.abs(ss.estimate.to_numpy()[1:]))


@pytest.mark.parametrize("method, args", [("shrinkage", ("herd",)),
                                          ("trajectories", ("herd", "size"))])
def test_gaussian_only_summaries_refuse(cbpp_fit, method, args):
    fit, _ = cbpp_fit
    with pytest.raises(ValueError, match=f"{method} is computed for Gaussian models only; "
                                         "this model's family is 'binomial'"):
        getattr(fit, method)(*args)
