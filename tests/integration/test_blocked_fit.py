"""A short fit through the blocked engine: the posterior has the plain model's public
variables, with labels, and the engine and sampler are recorded."""

import warnings

import numpy as np
import pytest

import lmm_bayes as lb
from lmm_bayes import names


@pytest.mark.parametrize("formula, data, options, sampler", [
    ("strength ~ 1 + (1 | batch) + (1 | batch:cask)", "pastes", {}, "nutpie"),
    ("follicles ~ sin(2*pi*Time) + (1 | Mare)", "ovary", {"sigma": "~ Time"}, "imh"),
])
def test_blocked_fit_has_the_public_variables(formula, data, options, sampler):
    model = lb.LMM(formula, lb.load_dataset(data), **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lb.SamplingWarning)  # 100 draws: low ESS expected
        fit = model.fit(draws=100, tune=100, chains=1, random_seed=2, sampler=sampler)
    posterior = fit.idata.posterior
    groups = [g.name for g in model.design.groups]
    expected = names.public(groups, model.pymc_model.named_vars)
    assert list(posterior.data_vars) == expected
    for g in model.design.groups:
        assert list(posterior[names.level_dim(g.name)].values) == list(g.levels)
    assert fit.idata.sample_stats.attrs["engine"] == "blocked"
    assert np.isfinite(posterior[names.BETA].values).all()
    assert fit.summary().estimate.notna().all()
