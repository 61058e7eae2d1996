"""The Dask client of the work that runs on a cluster (:func:`lmm_bayes.fit_many`, the
passes of :mod:`lmm_bayes.distributed`): the one given, one connected to a scheduler
address, or a local cluster of single-threaded worker processes, closed on exit. Dask is
imported only when a client is made.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["dask_client", "script_not_rerun"]


@contextmanager
def script_not_rerun() -> Iterator[None]:
    """Hides the main script from the worker processes started meanwhile.

    Dask starts workers with multiprocessing's "spawn" method, which runs the main script
    again in each (as ``__mp_main__``): a script that starts a local cluster without an
    ``if __name__ == "__main__":`` guard would start it again there, and its workers would
    fail to start ("Nanny failed to start"). The workers need nothing from the script (their
    tasks' arguments are pickled by value), and multiprocessing re-runs only a main module
    with a ``__file__`` or a ``__spec__``, which an interactive session lacks."""
    main = sys.modules["__main__"]
    saved = {key: main.__dict__[key] for key in ("__file__", "__spec__") if key in main.__dict__}
    main.__dict__.pop("__file__", None)
    main.__spec__ = None
    try:
        yield
    finally:
        main.__dict__.update(saved)


@contextmanager
def dask_client(client, local_workers: int) -> Iterator[Any]:
    """A ``distributed.Client`` for the duration of a ``with`` block: ``client`` itself, one
    connected to ``client`` when it is a scheduler address, or (None) a local cluster of
    ``local_workers`` single-threaded worker processes, closed on exit."""
    from distributed import Client, LocalCluster

    if isinstance(client, str):
        with Client(client) as connected:
            yield connected
        return
    if client is not None:
        yield client
        return
    with script_not_rerun():
        cluster = LocalCluster(n_workers=local_workers, threads_per_worker=1,
                               processes=True, dashboard_address=None)
    with cluster, Client(cluster) as local:
        yield local
