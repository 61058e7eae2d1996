"""Rows by partition on a 2-worker local Dask cluster, with a sampled sleepstudy fit: the
results written as Parquet equal the in-memory ones and those of one partition."""

import numpy as np
import pandas as pd
from conftest import write_parquet

COLUMNS = ["estimate", "std_error", "conf_low", "conf_high"]


def test_cluster_results_equal_in_memory(sleep_fit, sleepstudy, client, tmp_path):
    source = write_parquet(sleepstudy, tmp_path / "rows", 26)           # 7 files
    new = sleepstudy.assign(Days=sleepstudy.Days + 0.5)
    new.loc[new.index[::9], "Subject"] = 1000                    # a new subject in every file
    new_source = write_parquet(new, tmp_path / "new", 26)

    out = sleep_fit.predict(new_source, random_seed=4, path=tmp_path / "predicted")
    assert len(list(out.glob("*.parquet"))) == 7
    got = pd.read_parquet(out).sort_index()
    known = new.Subject != 1000
    expected = sleep_fit.predict(new[known])
    np.testing.assert_allclose(got.loc[known, COLUMNS].to_numpy(), expected.to_numpy(),
                               rtol=1e-12)
    single = sleep_fit.predict(new_source, random_seed=4, kind="response").compute()
    whole = sleep_fit.predict(write_parquet(new, tmp_path / "one", len(new)), random_seed=4,
                              kind="response").compute()
    pd.testing.assert_frame_equal(single, whole, check_dtype=False)

    fitted = sleep_fit.fitted(str(source / "*.parquet")).compute()
    np.testing.assert_allclose(fitted[COLUMNS].to_numpy(), sleep_fit.fitted().to_numpy(),
                               rtol=1e-12)
    from lmm_bayes.distributed import rows

    table = rows.ppc_pvalues(sleep_fit, source, random_seed=3)
    in_memory = sleep_fit.ppc_pvalues()
    assert list(table.statistic) == list(in_memory.statistic)
    np.testing.assert_allclose(table.observed, in_memory.observed, rtol=1e-12)
    # replicates from other generators: the mean of each statistic over 600 draws agrees
    # within half the SD of its draws (≈ 4 Monte Carlo errors with autocorrelated draws;
    # the 95% interval's width / 4 is about that SD)
    sd = (in_memory.conf_high - in_memory.conf_low) / 4
    assert (np.abs(table.replicated - in_memory.replicated) < sd / 2).all()


def test_cli_predicts_parquet_files_by_partition(sleep_fit, sleepstudy, client, tmp_path):
    from lmm_bayes.cli import main
    from lmm_bayes.distributed import rows

    sleep_fit.save(tmp_path / "fit.nc")
    new = sleepstudy.iloc[::4].assign(Days=lambda d: d.Days + 0.5)
    source = write_parquet(new, tmp_path / "new", 20)                   # 3 files
    pattern = str(source / "*.parquet")
    args = ["predict", str(tmp_path), "--data", pattern, "--threshold", "400", "--seed", "3"]
    assert main([*args, "--out", str(tmp_path / "out")]) == 0
    written = pd.read_parquet(tmp_path / "out").sort_index()
    assert len(list((tmp_path / "out").glob("*.parquet"))) == 3
    np.testing.assert_allclose(written.estimate, sleep_fit.predict(new).estimate, rtol=1e-12)
    expected = rows.exceedance(sleep_fit, pattern, 400, random_seed=3).compute()
    np.testing.assert_array_equal(written.probability, expected.probability)
    assert main(args) == 2                                       # no --out folder
