"""Where a distributed data set lies and the Dask client that reads it.

A source is a Dask DataFrame, or a path or glob of Parquet files (``"visits/*.parquet"``,
a folder, or any fsspec URL such as ``"s3://bucket/visits/"``) read lazily by
``dask.dataframe.read_parquet``. The client is the one :func:`lmm_bayes.fit_many` takes: a
local cluster by default (2 single-threaded worker processes here, closed after each use),
a ``dask.distributed.Client``, or a scheduler address. Dask is imported only when a
source is read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ..cluster import dask_client
from ..errors import DesignError

__all__ = ["LOCAL_WORKERS", "Source", "is_source"]

#: worker processes (one thread each) of the local cluster started when no client is given
LOCAL_WORKERS = 2


def is_source(data) -> bool:
    """Whether ``data`` is a distributed source: a path (str or PathLike) or a Dask
    DataFrame (recognised by its module, so that Dask need not be imported)."""
    return isinstance(data, (str, os.PathLike)) or type(data).__module__.startswith("dask")


def _require_dask() -> None:
    """DesignError naming the extra where Dask's distributed scheduler or pyarrow is
    missing (a plain install has neither)."""
    try:
        import dask.dataframe  # noqa: F401
        import distributed  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError as err:
        raise DesignError(f"a distributed data set needs Dask's dataframe and distributed "
                          f"scheduler and pyarrow ({err.name} is not installed): pip install "
                          "'lmm_bayes[distributed]'") from None


@dataclass(frozen=True)
class Source:
    """A distributed data set and how to reach a cluster for it.

    Attributes
    ----------
    data : str, PathLike or dask.dataframe.DataFrame
        Parquet files (a path, glob or fsspec URL) or a Dask DataFrame.
    scheduler : None, str or dask.distributed.Client
        None: a local cluster of :data:`LOCAL_WORKERS` single-threaded processes per use;
        a scheduler address; or a client, used as it is.
    """

    data: Any
    scheduler: Any = None

    def __post_init__(self):
        if not is_source(self.data):
            raise DesignError(f"a distributed data set is a path or glob of Parquet files or "
                              f"a dask DataFrame, not {type(self.data).__name__}")
        _require_dask()

    def describe(self) -> str:
        """The data set as a header names it: its path, or ``"a Dask DataFrame"``."""
        if isinstance(self.data, (str, os.PathLike)):
            return os.fspath(self.data)
        return "a Dask DataFrame"

    def frame(self):
        """The data as a Dask DataFrame (Parquet read lazily, nothing computed)."""
        import dask.dataframe as dd

        if not isinstance(self.data, (str, os.PathLike)):
            return self.data
        try:
            return dd.read_parquet(os.fspath(self.data))
        except (FileNotFoundError, OSError, ValueError) as err:
            raise DesignError(f"cannot read Parquet files at {os.fspath(self.data)!r}: "
                              f"{err}") from None

    def client(self):
        """A ``distributed.Client`` for the duration of a ``with`` block: the one given,
        one connected to the scheduler address, or a local cluster of
        :data:`LOCAL_WORKERS` processes closed on exit (:func:`lmm_bayes.cluster.dask_client`)."""
        return dask_client(self.scheduler, LOCAL_WORKERS)
