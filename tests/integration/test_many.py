"""fit_many on a local Dask cluster of two workers (``client``, conftest.py): 20 simulated
genes, one broken."""

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
from lmm_bayes.many import _gene_seed, fit_one, gene_summary
from lmm_bayes.sampling import SamplerConfig
from lmm_bayes.simulate import EQTL_FORMULA, simulate_eqtl
from lmm_bayes.spec import ModelSpec

SHORT = {"draws": 200, "tune": 200, "chains": 2, "random_seed": 1}
NUMBERS = ["estimate", "std_error", "conf_low", "conf_high", "prob_positive", "lfsr"]


@pytest.fixture(scope="module")
def genes() -> pd.DataFrame:
    data = simulate_eqtl(20, n_subjects=24, times=4, n_effects=5, effect=0.5, seed=3)
    data.loc[data["gene"] == "G20", "expression"] = 5.0     # constant: nothing to model
    return data


@pytest.fixture(scope="module")
def run(genes, client, tmp_path_factory):
    out = tmp_path_factory.mktemp("many")
    return lb.fit_many(EQTL_FORMULA, genes, by="gene", client=client, out=str(out), **SHORT)


def gene_rows(table: pd.DataFrame, name: str) -> pd.DataFrame:
    return table[table["gene"] == name].drop(columns="gene").reset_index(drop=True)


def test_a_broken_gene_is_reported_not_fatal(run):
    failures = run.failures().set_index("gene")
    assert "G20" in failures.index and "constant" in failures.loc["G20", "reason"]
    summary = run.summary()
    assert list(summary.columns[:4]) == ["gene", "effect", "group", "term"]
    assert summary["gene"].nunique() == 19 and len(summary) == 19 * 8
    with pytest.raises(lb.LMMError, match="G20"):
        run["G20"]


def test_results_equal_fitting_each_gene_alone(run, genes):
    spec = ModelSpec.from_formula(EQTL_FORMULA)
    for name in ("G01", "G07"):
        config = SamplerConfig(draws=200, tune=200, chains=2, cores=1, target_accept=None,
                               random_seed=_gene_seed(1, name))
        frame = genes[genes["gene"] == name].reset_index(drop=True)
        alone = gene_summary(fit_one(spec, frame, config))
        pd.testing.assert_frame_equal(alone[NUMBERS], gene_rows(run.summary(), name)[NUMBERS])


def test_standardised_fit_agrees_with_a_direct_fit(run, genes):
    frame = genes[genes["gene"] == "G03"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lb.SamplingWarning)
        direct = lb.fit(EQTL_FORMULA, frame, draws=400, tune=400, chains=2, random_seed=2)
    a = direct.summary().set_index("term")
    b = run["G03"].summary().set_index("term")
    gap = (a["estimate"] - b["estimate"]).abs() / a["std_error"]
    assert (gap < 0.4).all(), gap


def test_lfsr_finds_the_dynamic_eqtls(run, genes):
    table = run.lfsr("genotype:time").set_index("gene")
    truth = genes.attrs["effects"]
    real = [g for g in table.index if truth[g] != 0]
    null = [g for g in table.index if truth[g] == 0]
    assert (table.loc[real, "lfsr"] < 0.05).all()
    assert (table.loc[null, "lfsr"] < 0.05).sum() <= 2
    assert run.n_discoveries("genotype:time") >= len(real)
    assert len(run.plot_volcano("genotype:time").axes) == 1
    with pytest.raises(lb.DesignError, match="no fixed effect 'dose'"):
        run.lfsr("dose")


def test_resume_fits_only_what_is_missing(run, genes, client):
    before = run.summary()
    store = run.out
    removed = ["G02", "G11"]
    for name in removed:
        for kind, suffix in (("summary", ".parquet"), ("posterior", ".nc")):
            (store / kind / f"{name}{suffix}").unlink()
    kept = store / "summary" / "G05.parquet"
    stamp = os.stat(kept).st_mtime_ns
    again = lb.fit_many(EQTL_FORMULA, genes, by="gene", client=client, out=str(store), **SHORT)
    assert os.stat(kept).st_mtime_ns == stamp          # not refitted
    pd.testing.assert_frame_equal(again.summary(), before)


def test_wide_data_give_the_same_fits(run, genes, client):
    wide = genes[genes["gene"].isin(["G01", "G04"])].pivot_table(
        index=["subject", "genotype", "time"], columns="gene", values="expression").reset_index()
    result = lb.fit_many(EQTL_FORMULA, wide, responses=["G01", "G04"], client=client, **SHORT)
    for name in ("G01", "G04"):
        np.testing.assert_allclose(
            gene_rows(result.summary().rename(columns={"response": "gene"}), name)["estimate"],
            gene_rows(run.summary(), name)["estimate"])


def test_bad_arguments_are_named(genes):
    with pytest.raises(lb.DesignError, match="exactly one of by="):
        lb.fit_many(EQTL_FORMULA, genes)
    with pytest.raises(lb.DesignError, match="by='probe'"):
        lb.fit_many(EQTL_FORMULA, genes, by="probe")


def test_the_command_line_runs_on_a_scheduler(genes, client, tmp_path):
    from lmm_bayes.cli import main

    genes[genes["gene"].isin(["G01", "G20"])].to_csv(tmp_path / "genes.csv", index=False)
    (tmp_path / "eqtl.toml").write_text(f'[model]\nformula = "{EQTL_FORMULA}"\n'
                                        '[data]\npath = "genes.csv"\n'
                                        '[sampler]\ndraws = 200\ntune = 200\nchains = 2\n'
                                        'random_seed = 1\n')
    out = tmp_path / "out"
    assert main(["fit-many", str(tmp_path / "eqtl.toml"), "--by", "gene", "--scheduler",
                 client.scheduler.address, "--out", str(out)]) == 0
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary["gene"]) == {"G01"}
    assert len(list((out / "failed").iterdir())) == 1


def test_a_script_without_a_main_guard_runs(tmp_path):
    """fit_many's default local cluster from a plain script, with no ``if __name__ ==
    "__main__":``: its worker processes must not run the script again (each would call
    fit_many in turn and fail to start)."""
    script = tmp_path / "plain.py"
    script.write_text(textwrap.dedent("""\
        import lmm_bayes as lb
        from lmm_bayes.simulate import EQTL_FORMULA, simulate_eqtl

        data = simulate_eqtl(2, n_subjects=12, times=3, n_effects=1, effect=0.5, seed=3)
        result = lb.fit_many(EQTL_FORMULA, data, by="gene", draws=50, tune=50, chains=1)
        assert __file__.endswith("plain.py")  # the script's own name is given back
        print("fitted:", *sorted(result.summary()["gene"].unique()))
        """))
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600, check=False,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines()[-1] == "fitted: G1 G2"
