"""Rows by partition on a fit of a distributed data set (sleepstudy as 7 Parquet files,
a 2-worker local cluster): its effects are drawn on demand, so the in-memory reference is
predict_draws on its posterior completed with those draws of every level; the population
parameters are the in-memory fit's, draw for draw."""

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from conftest import write_parquet

import lmm_bayes as lb
from lmm_bayes import names
from lmm_bayes.distributed import DistributedFit
from lmm_bayes.ppc import ppc_pvalues
from lmm_bayes.predict import KeyedRandom, predict_draws

FORMULA = "Reaction ~ Days + (Days | Subject)"
COLUMNS = ["estimate", "std_error", "conf_low", "conf_high"]


@pytest.fixture(scope="module")
def fits(sleepstudy, client, tmp_path_factory):
    """The distributed fit of sleepstudy from 7 Parquet files, and the in-memory one."""
    source = write_parquet(sleepstudy, tmp_path_factory.mktemp("dist") / "rows", 26)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lb.SamplingWarning)
        options = {"draws": 200, "tune": 200, "chains": 2, "random_seed": 5}
        distributed = lb.LMM(FORMULA, str(source), client=client).fit(**options)
        memory = lb.LMM(FORMULA, sleepstudy).fit(**options)
    assert isinstance(distributed, DistributedFit)
    return distributed, memory


def _completed(distributed: DistributedFit) -> xr.Dataset:
    """The distributed fit's posterior with every level's effects (its own draws)."""
    levels = list(distributed.model.levels)
    return distributed.posterior.assign({names.effects("Subject"): distributed.effects(levels)})


def test_predictions_equal_the_posteriors_in_memory(fits, sleepstudy, tmp_path):
    distributed, memory = fits
    new = sleepstudy.assign(Days=sleepstudy.Days + 0.5)
    source = write_parquet(new, tmp_path / "new", 40)
    got = pd.read_parquet(distributed.predict(source, groups="population",
                                              path=tmp_path / "out")).sort_index()
    np.testing.assert_allclose(got[COLUMNS].to_numpy(),
                               memory.predict(new, groups="population").to_numpy(), rtol=1e-8)
    expected = predict_draws(_completed(distributed), memory.model.design, memory.family,
                             new, groups="conditional").mean(("chain", "draw")).values
    for size in (len(new), 90, 26):
        got = distributed.predict(write_parquet(new, tmp_path / f"by{size}", size)).compute()
        np.testing.assert_allclose(got.estimate, expected, rtol=1e-12)
    in_memory = distributed.predict(new.iloc[:5])
    assert list(in_memory.columns) == COLUMNS and list(in_memory.index) == list(new.index[:5])
    np.testing.assert_allclose(in_memory.estimate, expected[:5], rtol=1e-12)


def test_fitted_residuals_and_ppc_from_the_fits_own_data(fits, sleepstudy):
    distributed, memory = fits
    posterior = _completed(distributed)
    draws = predict_draws(posterior, memory.model.design, memory.family, sleepstudy,
                          groups="conditional").values
    fitted = distributed.fitted().compute()
    np.testing.assert_allclose(fitted.estimate, draws.mean(axis=(0, 1)), rtol=1e-12)
    residuals = distributed.residuals().compute()
    np.testing.assert_allclose(residuals.estimate,
                               sleepstudy.Reaction - draws.mean(axis=(0, 1)), rtol=1e-10)
    y_rep = predict_draws(posterior, memory.model.design, memory.family, sleepstudy,
                          kind="response", groups="conditional",
                          keyed=KeyedRandom(8, np.arange(len(sleepstudy)))).values
    expected = ppc_pvalues(sleepstudy.Reaction.to_numpy(), y_rep.reshape(-1, len(sleepstudy)))
    pd.testing.assert_frame_equal(distributed.ppc_pvalues(random_seed=8), expected, rtol=1e-10)
    with pytest.raises(lb.DesignError, match="within_sd"):
        distributed.ppc_pvalues(group="Subject")


def test_bad_rows_name_their_partition(fits, sleepstudy, tmp_path):
    distributed, _ = fits
    bad = sleepstudy.copy()
    bad.loc[60, "Days"] = np.nan                      # position 8 of the third file
    with pytest.raises(lb.DesignError, match=r"'Days' .* first at position 8 \(in partition 2;"):
        distributed.predict(write_parquet(bad, tmp_path / "bad", 26)).compute()
    with pytest.raises(lb.DesignError, match=r"\['1000'\] of 'Subject' were not in the fitted "
                                             r"data.*\(in partition 0;"):
        distributed.predict(sleepstudy.assign(Subject=1000).iloc[:3], groups="conditional")


def test_lazy_results_outlive_the_client_of_the_fit(fits, sleepstudy, tmp_path):
    """A lazy result holds the row model in its graph, not on the workers of the fit's
    client, so it is computed after that client has closed."""
    import copy

    from distributed import Client, LocalCluster

    from lmm_bayes.distributed import Source

    distributed, _ = fits
    source = write_parquet(sleepstudy, tmp_path / "rows", 60)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                  # the dashboard's port, if taken
        cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                               dashboard_address=None)
        temporary = Client(cluster)
    model = copy.copy(distributed.model)
    model.source = Source(str(source), temporary)
    lazy = DistributedFit(model, distributed.idata, distributed.config).predict(
        str(source), groups="population")
    temporary.close()
    cluster.close()
    got = lazy.compute()
    expected = distributed.predict(sleepstudy, groups="population")
    np.testing.assert_allclose(got.estimate, expected.estimate, rtol=1e-12)
