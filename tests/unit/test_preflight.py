"""Identifiability preflight (run by LMM's constructor) and the singular-fit criterion,
on hand-made data and hand-made posteriors (no sampling)."""

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

import lmm_bayes as lb
from lmm_bayes.summaries import singular_components, zero_bulk_ratio


def trial(b_subjects_times, n_a=6, times=(0.0, 1.0, 2.0, 3.0)) -> pd.DataFrame:
    """Arm A: ``n_a`` subjects at every time; arm B: one subject per entry of
    ``b_subjects_times`` (its list of visit times)."""
    rows = [(f"a{k}", "A", t) for k in range(n_a) for t in times]
    rows += [(f"b{k}", "B", t) for k, visits in enumerate(b_subjects_times) for t in visits]
    frame = pd.DataFrame(rows, columns=["id", "trt", "time"])
    frame["y"] = np.sin(np.arange(len(frame)))  # any non-constant response
    return frame


FORMULA = "y ~ time * trt + (time | id)"


def test_balanced_design_passes_silently():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lb.LMM(FORMULA, trial([(0.0, 1.0, 2.0, 3.0)] * 5))


def test_interaction_without_repeated_measures_in_an_arm_is_an_error():
    # every arm-B subject is seen once, at different times: X is full rank, but no one in
    # arm B has a slope of their own to separate time:trtB from the random slopes
    data = trial([(0.0,), (1.0,), (2.0,), (3.0,), (1.5,)])
    with pytest.raises(lb.DesignError, match=r"^fixed interaction 'time:trtB': 0 level\(s\) of "
                       r"'id' .* cannot be separated from the random slopes of 'time'") as err:
        lb.LMM(FORMULA, data)
    assert "\n" not in str(err.value)


def test_interaction_from_two_individuals_warns():
    data = trial([(0.0, 2.0), (1.0, 3.0), (0.0,), (2.0,), (3.0,)])
    with pytest.warns(lb.IdentifiabilityWarning, match=r"'time:trtB': 2 level\(s\) .* very few"):
        lb.LMM(FORMULA, data)


def test_slope_of_mostly_single_visit_levels_warns():
    # 4 of 10 subjects have two or more visits: the slope variance rests on a minority
    data = trial([(0.0,)] * 6, n_a=4)
    with pytest.warns(lb.IdentifiabilityWarning,
                      match=r"random slope of 'time' by 'id': only 4 of 10 levels") as record:
        lb.LMM("y ~ time + (time | id)", data)
    assert all("\n" not in str(w.message) for w in record)


def test_design_checks_are_not_repeated(sleepstudy):
    # a slope constant within levels is design.py's error; the preflight adds nothing
    data = sleepstudy.assign(w=sleepstudy.Subject % 3)
    with pytest.raises(lb.DesignError, match="constant within every level"):
        lb.LMM("Reaction ~ Days + (w | Subject)", data)


def fake_posterior(sd_draws: np.ndarray) -> xr.Dataset:
    """A posterior with one grouping factor 'g' whose SD draws are given, (chain, draw, term)."""
    return xr.Dataset({"sd_g": (("chain", "draw", "g__term"), sd_draws)},
                      coords={"g__term": ["(Intercept)", "x"]})


def test_singular_criterion_on_hand_made_posteriors():
    rng = np.random.default_rng(0)
    piled = np.abs(rng.normal(0, 1, size=(2, 2000)))           # half-normal: mode at zero
    interior = rng.normal(3, 0.9, size=(2, 2000))                # nothing below median/2
    post = fake_posterior(np.stack([interior, piled], axis=-1))
    found = singular_components(post, {"g": ("(Intercept)", "x")})
    assert len(found) == 1 and "random effect 'x' by 'g'" in found[0]
    # scale-free: the same posterior in micro-units gives the same verdict
    micro = singular_components(post * 1e-6, {"g": ("(Intercept)", "x")})
    assert len(micro) == 1 and "random effect 'x' by 'g'" in micro[0]


@pytest.mark.parametrize(("mu", "singular"), [(0.0, True), (0.5, True), (1.0, False),
                                              (2.0, False)])
def test_zero_bulk_ratio_of_a_truncated_normal(mu, singular):
    # N(mu, 1) truncated to [0, inf): the ratio from its distribution function F and median
    # m, F(m/2) / (F(5m/4) - F(3m/4)), against 20 000 draws at evenly spaced quantiles
    dist = stats.truncnorm(-mu, np.inf, loc=mu)
    m = dist.median()
    exact = dist.cdf(m / 2) / (dist.cdf(1.25 * m) - dist.cdf(0.75 * m))
    draws = dist.ppf((np.arange(20_000) + 0.5) / 20_000)
    assert zero_bulk_ratio(draws) == pytest.approx(exact, rel=0.01)
    assert bool(exact >= 1.0) is singular  # mode at 0 or close to it (mu = 0.5: p(0)/p(mu) = 0.88)


def test_flat_posterior_is_on_the_bound_and_flagged():
    # a uniform density: [0, m/2) and [3m/4, 5m/4) hold the same mass, ratio 1
    draws = np.linspace(0, 1, 4001)[None, :, None].repeat(2, axis=2)
    assert zero_bulk_ratio(draws[..., 0]) == pytest.approx(1.0)
    assert len(singular_components(fake_posterior(draws), {"g": ("(Intercept)", "x")})) == 2


def test_sleepstudy_fit_is_not_singular(sleep_fit):
    # lme4's REML SDs of sleepstudy (24.7, 5.9) are far from zero
    assert singular_components(sleep_fit.idata.posterior, {"Subject": ("(Intercept)", "Days")}) == []
