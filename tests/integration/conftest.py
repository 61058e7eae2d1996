"""Fixtures of the integration tests: a local Dask cluster for fit_many."""

import warnings

import pytest


@pytest.fixture(scope="module")
def client():
    """A local Dask cluster of two single-threaded worker processes, one per module."""
    from distributed import Client, LocalCluster

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        dask_client = Client(cluster)
    yield dask_client
    dask_client.close()
    cluster.close()
