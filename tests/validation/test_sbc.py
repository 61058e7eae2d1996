"""Simulation-based calibration (Talts et al. 2018): ranks of the prior-drawn truths among
their posterior draws are uniform, for the Gaussian model with correlated random intercepts
and slopes, a Bernoulli GLMM with a random intercept, AR(1) residuals with a random
intercept (``phi`` included), a response left-censored at a fixed detection limit, and a
small joint model of a marker and an event. A modest run for CI; scripts/sbc.py makes the
larger ones in docs/sbc.md."""

import sys

import pytest
from conftest import REPO

from lmm_bayes.calibration import rank_uniformity, run_sbc

sys.path.insert(0, str(REPO / "scripts"))
from sbc import CASES, JOINT_CASES, JOINT_RANKED, run_joint_sbc

pytestmark = [pytest.mark.validation, pytest.mark.slow]

# case → (replicates, bins, parameters ranked); 5 replicates expected per bin
RUNS = {
    "gaussian": (20, 4, {"beta[(Intercept)]", "beta[time]", "sigma", "corr_id[(Intercept).time]",
                         "sd_id[(Intercept)]", "sd_id[time]", "b_id[s00, (Intercept)]",
                         "b_id[s00, time]"}),
    "bernoulli": (30, 6, {"beta[(Intercept)]", "beta[time]", "sd_id[(Intercept)]",
                          "b_id[s00, (Intercept)]"}),
    "ar1": (30, 6, {"beta[(Intercept)]", "beta[time]", "sigma", "phi", "sd_id[(Intercept)]",
                    "b_id[s00, (Intercept)]"}),
    "censored": (30, 6, {"beta[(Intercept)]", "beta[time]", "sigma", "sd_id[(Intercept)]",
                         "b_id[s00, (Intercept)]"}),
}


@pytest.mark.parametrize("name", sorted(RUNS))
def test_ranks_are_uniform(name):
    case, (replicates, bins, parameters) = CASES[name], RUNS[name]
    result = run_sbc(case.formula, case.template(), case.priors, n_replicates=replicates,
                     n_draws=case.n_draws, draws=case.draws, tune=case.tune, random_seed=11,
                     prepare=case.prepare, **case.options)
    assert set(result.ranks.columns) == parameters and len(result.ranks) == replicates
    assert result.ranks.to_numpy().min() >= 0 and result.ranks.to_numpy().max() <= case.n_draws
    tests = rank_uniformity(result, n_bins=bins)
    # the smallest of k ≤ 8 uniform p-values is below 0.001 with probability ≤ 0.008
    assert (tests.p_value > 0.001).all(), tests


def test_joint_ranks_are_uniform():
    # 20 replicates of 60 individuals, 4 bins of 15 rank values (5 expected per bin)
    result = run_joint_sbc(JOINT_CASES["joint"], n_replicates=20, random_seed=11)
    ranked = set(JOINT_RANKED) | {"b_id[S0001, (Intercept)]", "b_id[S0001, time]"}
    assert set(result.ranks.columns) == ranked and len(result.ranks) == 20
    tests = rank_uniformity(result, n_bins=4)
    # the smallest of 12 uniform p-values is below 0.001 with probability 0.012
    assert (tests.p_value > 0.001).all(), tests
