"""Mixed models on data larger than one machine's memory: a Parquet data set or a Dask
DataFrame, reduced on a Dask cluster to the per-level statistics of a Gaussian model.

* :mod:`.sources`: where the data lie and the client that reads them;
* :mod:`.passes`: the first pass (levels, constants, moments, missing values) and the
  second (per-level sums by partition, combined by level);
* :mod:`.model`: :class:`DistributedLMM` and :class:`DistributedFit`;
* :mod:`.rows`: everything that needs rows, partition by partition (predictions, fitted
  values, residuals, PPC statistics), for a distributed fit and an in-memory one.

Dask is imported only when a distributed data set is read; ``import lmm_bayes`` does not.
"""

from .sources import Source, is_source

__all__ = ["DistributedFit", "DistributedLMM", "Source", "is_source", "obstacle"]


def __getattr__(name: str):
    """The model's names, imported on first use (:mod:`.model` needs the compiled density,
    which ``lb.LMM`` on data in memory asks whether its data are distributed without)."""
    if name in ("DistributedFit", "DistributedLMM", "obstacle"):
        from . import model

        return getattr(model, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
