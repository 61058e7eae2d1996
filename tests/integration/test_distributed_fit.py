"""A fit from Parquet files (lmm_bayes.distributed) against the fit of the same rows in
memory: the same draws under the same seed, the same tables; effects of chosen levels
drawn on demand; shrinkage and trajectories from the chosen levels' rows; the CLI. The
passes run on the local cluster of the ``client`` fixture (conftest.py)."""

import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import REPO

import lmm_bayes as lb
from lmm_bayes.cli import main
from lmm_bayes.distributed import DistributedFit

FORMULA = "Reaction ~ Days + (Days | Subject)"
SHORT = {"draws": 150, "tune": 150, "chains": 2, "random_seed": 11}
PARTS = 7


@pytest.fixture(scope="module")
def parquet_dir(tmp_path_factory):
    """sleepstudy as 7 Parquet files of about 26 rows: most subjects' 10 rows span two."""
    data = lb.load_dataset("sleepstudy")
    folder = tmp_path_factory.mktemp("sleep")
    for k, rows in enumerate(np.array_split(np.arange(len(data)), PARTS)):
        data.iloc[rows].to_parquet(folder / f"part{k}.parquet")
    return folder


@pytest.fixture(scope="module")
def fits(parquet_dir, client):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lb.SamplingWarning)
        memory = lb.fit(FORMULA, lb.load_dataset("sleepstudy"), **SHORT)
        distributed = lb.fit(FORMULA, str(parquet_dir / "*.parquet"), client=client, **SHORT)
    return memory, distributed


def test_the_same_draws_as_in_memory(fits):
    memory, distributed = fits
    assert isinstance(distributed, DistributedFit)
    assert distributed.model.source.frame().npartitions == PARTS
    for name in ("beta", "sigma", "sd_Subject", "corr_Subject"):
        np.testing.assert_array_equal(distributed.posterior[name].values,
                                      memory.idata.posterior[name].values, err_msg=name)
    assert "b_Subject" not in distributed.posterior


def test_the_same_tables_as_in_memory(fits):
    memory, distributed = fits
    pd.testing.assert_frame_equal(distributed.summary(), memory.summary(), atol=1e-8)
    pd.testing.assert_frame_equal(distributed.variance_components(),
                                  memory.variance_components(), atol=1e-8)
    pd.testing.assert_frame_equal(distributed.icc(), memory.icc(), atol=1e-8)
    assert "per-level statistics of" in distributed.engine[1]
    assert "Subject: 18 levels" in str(distributed)


def test_effects_depend_on_the_seed_and_level_only(fits):
    _, distributed = fits
    both = distributed.effects(["309", 308], random_seed=5)
    alone = distributed.effects([308], random_seed=5)
    assert list(both["Subject__level"].values) == ["309", "308"]
    np.testing.assert_array_equal(both.sel(Subject__level="308").values,
                                  alone.sel(Subject__level="308").values)
    assert not np.allclose(distributed.effects([308], random_seed=6).values, alone.values)
    with pytest.raises(lb.DesignError, match=r"\['999'\] are not levels of 'Subject'"):
        distributed.effects([999])


def test_effects_follow_their_conditional_as_in_memory(fits):
    """The same conditional given the same population draws: means over 300 draws agree
    within four Monte Carlo errors of the difference (independent ε)."""
    memory, distributed = fits
    levels = ["308", "309", "335"]
    ours, theirs = distributed.effects(levels), memory.effects(levels)
    spread = np.sqrt(ours.var(("chain", "draw")) + theirs.var(("chain", "draw")))
    gap = np.abs(ours.mean(("chain", "draw")) - theirs.mean(("chain", "draw")))
    assert float((gap / (spread / np.sqrt(300))).max()) < 4
    table = distributed.ranef(levels=levels)
    assert list(table["level"].unique()) == levels


def test_shrinkage_reads_the_chosen_levels_rows(fits):
    memory, distributed = fits
    levels = ["308", "335"]
    got = distributed.shrinkage("Subject", "Days", levels=levels)
    expected = memory.shrinkage("Subject", "Days").loc[levels]
    for column in ("n", "no_pooling", "complete_pooling"):
        np.testing.assert_allclose(got[column], expected[column], rtol=1e-9)
    np.testing.assert_allclose(got["partial_pooling"], expected["partial_pooling"], atol=1.0)


def test_trajectories_read_the_chosen_levels_rows(fits):
    memory, distributed = fits
    grid = [0.0, 4.5, 9.0]
    got = distributed.trajectories("Subject", "Days", grid=grid, levels=["309"])
    expected = memory.trajectories("Subject", "Days", grid=grid, levels=["309"])
    population = got["curve"] == "population"
    np.testing.assert_allclose(got.loc[population, "estimate"],
                               expected.loc[population, "estimate"], rtol=1e-9)
    np.testing.assert_allclose(got.loc[~population, "estimate"],
                               expected.loc[~population, "estimate"], atol=3.0)


def test_a_local_cluster_by_default_from_a_plain_script(parquet_dir, tmp_path):
    """No client: a local cluster of its own, started for the passes and closed after, from
    a script without ``if __name__ == "__main__":`` (its workers must not run it again)."""
    script = tmp_path / "plain.py"
    script.write_text(textwrap.dedent(f"""\
        import lmm_bayes as lb

        model = lb.LMM("{FORMULA}", {str(parquet_dir)!r})
        print("rows", model.n_obs, "levels", len(model.levels))
        """))
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600, check=False,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines()[-1] == "rows 180 levels 18"


def test_a_distributed_fit_is_not_saved(fits, tmp_path):
    with pytest.raises(lb.DesignError, match="not saved with its data"):
        fits[1].save(tmp_path / "fit.nc")


def test_cli_fits_a_spec_whose_data_are_parquet_files(parquet_dir, client, tmp_path, capsys):
    spec = parquet_dir / "sleep.toml"
    spec.write_text(f'[model]\nformula = "{FORMULA}"\n[data]\npath = "*.parquet"\n'
                    '[sampler]\ndraws = 100\ntune = 100\nchains = 1\nrandom_seed = 2\n')
    address = client.scheduler.address
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lb.SamplingWarning)
        assert main(["fit", str(spec), "--scheduler", address, "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "DistributedLMM" in printed and "180 observations" in printed
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert list(summary["term"][:2]) == ["(Intercept)", "Days"]
    assert (tmp_path / "posterior.nc").is_file()
    assert main(["check", str(spec), "--scheduler", address]) == 0
