"""Simulation-based calibration (Talts et al. 2018) of the Gaussian model with correlated
random intercepts and slopes: ranks of the prior-drawn truths among their posterior draws
are uniform. A modest run for CI; scripts/sbc.py makes the larger one in docs/sbc.md."""

import sys

import pytest
from conftest import REPO

from lmm_bayes.calibration import rank_uniformity, run_sbc

sys.path.insert(0, str(REPO / "scripts"))
from sbc import FORMULA, PRIORS, template

pytestmark = [pytest.mark.validation, pytest.mark.slow]


def test_ranks_are_uniform():
    result = run_sbc(FORMULA, template(), PRIORS, n_replicates=20, random_seed=11)
    assert result.ranks.shape == (20, 8) and result.ranks.to_numpy().max() <= result.n_draws
    tests = rank_uniformity(result, n_bins=4)  # 5 expected per bin
    # 8 parameters: the smallest of 8 uniform p-values is below 0.001 with probability 0.008
    assert (tests.p_value > 0.001).all(), tests
