"""Mixed models on data larger than one machine's memory: a Parquet data set or a Dask
DataFrame, reduced on a Dask cluster to the per-level statistics of a Gaussian model.

* :mod:`.sources`: where the data lie and the client that reads them;
* :mod:`.passes`: the first pass (levels, constants, moments, missing values) and the
  second (per-level sums by partition, combined by level);
* :mod:`.model`: :class:`DistributedLMM` and :class:`DistributedFit`.

Dask is imported only when a distributed data set is read; ``import lmm_bayes`` does not.
"""

from .model import DistributedFit, DistributedLMM, obstacle
from .sources import Source, is_source

__all__ = ["DistributedFit", "DistributedLMM", "Source", "is_source", "obstacle"]
