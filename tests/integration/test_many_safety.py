"""fit_many's output folder: interrupted runs resume to the uninterrupted result, a second run
at once, a run of another model or data, and a folder that cannot be written are refused
before anything is fitted, and unreadable results raise errors naming the gene or file."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import lmm_bayes as lb
from lmm_bayes.many import Store
from lmm_bayes.simulate import EQTL_FORMULA, simulate_eqtl

TINY = {"draws": 50, "tune": 50, "chains": 1, "random_seed": 1}

# fit_many in a process of its own, its Dask worker a thread of it, so that killing the
# process stops everything the run does, writing included. Syncing a file takes 0.1 s more,
# so that a random kill lands while a file is being written about as often as during a fit.
RUN = """
import os
import sys
import time
import pandas as pd
from distributed import Client, LocalCluster
import lmm_bayes as lb

def slow_fsync(fd, fsync=os.fsync):
    time.sleep(0.1)
    fsync(fd)

os.fsync = slow_fsync
with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                  dashboard_address=None) as cluster, Client(cluster) as client:
    lb.fit_many({formula!r}, pd.read_pickle(sys.argv[1]), by="gene", client=client,
                out=sys.argv[2], **{settings!r})
"""


class NoFits:
    """A client for runs that must stop before fitting anything."""

    def submit(self, *args, **kwargs):
        raise AssertionError("fit_many submitted a fit")


class GatedClient:
    """A client whose first submission waits for ``gate``: its run holds the folder until
    the test opens the gate."""

    def __init__(self, client):
        self.client, self.waiting, self.gate = client, threading.Event(), threading.Event()

    def submit(self, *args, **kwargs):
        self.waiting.set()
        self.gate.wait(timeout=60)
        return self.client.submit(*args, **kwargs)


@pytest.fixture(scope="module")
def genes() -> pd.DataFrame:
    data = simulate_eqtl(8, n_subjects=12, times=3, n_effects=2, seed=5)
    data.loc[data["gene"] == "G3", "expression"] = 5.0     # constant: fails
    return data


@pytest.fixture(scope="module")
def reference(genes, client, tmp_path_factory) -> lb.ManyFits:
    """An uninterrupted run."""
    out = tmp_path_factory.mktemp("reference")
    return lb.fit_many(EQTL_FORMULA, genes, by="gene", client=client, out=str(out), **TINY)


@pytest.fixture
def damaged(reference, tmp_path) -> Path:
    """A copy of the reference run's folder, to damage."""
    return Path(shutil.copytree(reference.out, tmp_path / "out"))


def resume(genes, out, client=None, formula=EQTL_FORMULA, **changes) -> lb.ManyFits:
    """fit_many on ``out`` with the reference's settings, bar ``changes``."""
    return lb.fit_many(formula, genes, by="gene", client=client, out=str(out),
                       **{**TINY, **changes})


def files(out: Path) -> dict[str, set[str]]:
    """The names of the files in each of the folder's subfolders."""
    return {kind: {p.name for p in (out / kind).iterdir()}
            for kind in ("done", "summary", "posterior", "failed")}


def assert_same_results(result: lb.ManyFits, reference: lb.ManyFits):
    """Equal summaries, failures and draws, and the same files: every gene once, either
    fitted or failed, and nothing else left."""
    pd.testing.assert_frame_equal(result.summary(), reference.summary())
    pd.testing.assert_frame_equal(result.failures(), reference.failures())
    for name in reference.summary()["gene"].unique():
        xr.testing.assert_equal(result[name].idata.posterior, reference[name].idata.posterior)
    assert files(result.out) == files(reference.out)
    assert not list(result.out.rglob("*.partial"))


def assert_markers_hold(out: Path):
    """Every gene marked done has its files whole: of the recorded sizes, and readable."""
    store = Store(out)
    for marker in out.glob("done/*.json"):
        name = unquote(marker.name.removesuffix(".json"))
        record = store.record(name)
        assert record == json.loads(marker.read_text()), name
        if record["fitted"]:
            store.summary(name)
            store.posterior(name).posterior.load()


def kill_during_a_run(data: Path, out: Path, n_genes: int, rng: np.random.Generator) -> int:
    """Start a run in another process and kill it (SIGKILL) at a random point before its end:
    once a random number of the genes still to fit, all but one at most, are done, and a
    random fraction of a gene's fit later. Returns how many genes were done then."""
    done = out / "done"

    def n_done() -> int:
        return len(list(done.glob("*.json"))) if done.is_dir() else 0

    wait_for = rng.integers(n_done(), n_genes - 1) if n_done() < n_genes - 1 else n_genes
    env = {**os.environ, "PYTHONPATH": str(Path(lb.__file__).parents[1])}   # this lmm_bayes
    process = subprocess.Popen([sys.executable, "-c", RUN.format(formula=EQTL_FORMULA,
                                                                 settings=TINY),
                                str(data), str(out)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while process.poll() is None and n_done() < wait_for and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(rng.uniform(0, 0.6))
    process.send_signal(signal.SIGKILL)    # a no-op where the run has already ended
    process.wait()
    return n_done()


def test_runs_killed_at_random_points_resume_to_the_uninterrupted_result(genes, reference,
                                                                         client, tmp_path):
    data, out = tmp_path / "genes.pkl", tmp_path / "out"
    genes.to_pickle(data)
    for seed in range(3):
        print("genes done when killed:",
              kill_during_a_run(data, out, len(reference), np.random.default_rng(seed)))
        assert_markers_hold(out)
    assert (out / ".lock").is_file()    # left by a killed run: it must not block the next
    assert_same_results(resume(genes, out, client), reference)


def test_a_second_run_is_refused_while_the_first_holds_the_folder(genes, client, tmp_path):
    two = genes[genes["gene"].isin(["G1", "G2"])]
    gated = GatedClient(client)
    first = threading.Thread(target=resume, args=(two, tmp_path, gated))
    first.start()
    try:
        assert gated.waiting.wait(timeout=60)
        with pytest.raises(lb.OutputError, match=f"{re.escape(str(tmp_path))} is in use by "
                                                 f"another fit_many run \\(pid {os.getpid()}"):
            resume(two, tmp_path, NoFits())
    finally:
        gated.gate.set()
        first.join()
    assert set(resume(two, tmp_path, NoFits()).summary()["gene"]) == {"G1", "G2"}


OTHER_FORMULA = "expression ~ genotype + time + (1 + time | subject)"


@pytest.mark.parametrize("edit, message", [
    (lambda g: (g, {"formula": OTHER_FORMULA}),
     f"formula: {EQTL_FORMULA!r} in the folder, {OTHER_FORMULA!r} now"),
    (lambda g: (g, {"random_seed": 2}), "random_seed: 1 in the folder, 2 now"),
    (lambda g: (g, {"draws": 60, "chains": 2}),
     "chains: 1 in the folder, 2 now; draws: 50 in the folder, 60 now"),
    (lambda g: (g, {"priors": {"b": lb.Prior("normal", mu=0, sigma=1)}}),
     "priors: {} in the folder, {'b': \"Prior('normal', mu=0.0, sigma=1.0)\"} now"),
    (lambda g: (g[g["gene"] != "G8"], {}),
     "genes: 8 in the folder, 7 now (added [], removed ['G8'])"),
    (lambda g: (g.assign(expression=g["expression"] + 0.1), {}), "data: '"),
], ids=["formula", "seed", "sampler", "priors", "genes", "data"])
def test_a_run_of_another_model_or_data_is_refused(genes, reference, edit, message):
    edited, options = edit(genes)
    manifest = (reference.out / "manifest.json").read_text()
    with pytest.raises(lb.OutputError, match=re.escape(message)) as refused:
        resume(edited, reference.out, NoFits(), **options)
    assert str(reference.out) in str(refused.value)
    assert (reference.out / "manifest.json").read_text() == manifest


def test_results_without_a_manifest_are_refused(genes, tmp_path):
    (tmp_path / "summary").mkdir()
    (tmp_path / "summary" / "G1.parquet").write_bytes(b"written by an older lmm_bayes")
    with pytest.raises(lb.OutputError, match=f"{re.escape(str(tmp_path))} holds results but "
                                             "no manifest.json"):
        resume(genes, tmp_path, NoFits())


def test_a_damaged_or_unmarked_gene_is_refitted_and_its_stale_files_go(genes, reference,
                                                                       client, damaged):
    summary = damaged / "summary" / "G2.parquet"    # cut short, as by a crash mid-write
    summary.write_bytes(summary.read_bytes()[:100])
    (damaged / "done" / "G4.json").unlink()         # killed before its marker was written
    (damaged / "failed" / "G4.json").write_text('{"reason": "an earlier failure"}')
    (damaged / "done" / "G3.json").unlink()         # G3 fails; a fit of it is stale
    shutil.copy(damaged / "summary" / "G1.parquet", damaged / "summary" / "G3.parquet")
    (damaged / "posterior" / "G5.nc.0123abcd.partial").write_bytes(b"half a file")
    kept = os.stat(damaged / "summary" / "G6.parquet").st_mtime_ns
    assert_same_results(resume(genes, damaged, client), reference)
    assert os.stat(damaged / "summary" / "G6.parquet").st_mtime_ns == kept     # not refitted


def _probe_fails(monkeypatch):
    """Make the folder's probe file fail as on a read-only file system."""
    write_bytes = Path.write_bytes

    def refuse_probes(path, data):
        if path.name.startswith(".probe-"):
            raise OSError(30, "Read-only file system", str(path))
        return write_bytes(path, data)

    monkeypatch.setattr(Path, "write_bytes", refuse_probes)


@pytest.mark.parametrize("case", ["parent is a file", "subfolder is a file", "read-only mode",
                                  "read-only file system"])
def test_an_unwritable_folder_is_refused_before_any_fit(genes, tmp_path, monkeypatch, case):
    out = tmp_path / "out"
    if case == "parent is a file":
        (tmp_path / "file").write_text("")
        out = tmp_path / "file" / "out"
    elif case == "subfolder is a file":
        out.mkdir()
        (out / "posterior").write_text("")
    elif case == "read-only mode":
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders")
        out.mkdir(mode=0o555)
    else:
        _probe_fails(monkeypatch)
    with pytest.raises(lb.OutputError,
                       match=f"cannot write to the output folder {re.escape(str(out))}"):
        resume(genes, out, NoFits())


def test_unknown_unfinished_or_unreadable_genes_raise_errors_naming_them(genes, reference,
                                                                         damaged):
    with pytest.raises(lb.OutputError, match="no gene 'nope' among the 8 of this run"):
        reference["nope"]
    result = resume(genes, damaged, NoFits())       # all done: nothing to fit
    (damaged / "summary" / "G2.parquet").unlink()
    with pytest.raises(lb.OutputError, match="gene 'G2' has no complete result"):
        result["G2"]
    for path in (damaged / "posterior" / "G1.nc", damaged / "summary" / "G4.parquet"):
        path.write_bytes(bytes(path.stat().st_size))    # zeros, the size unchanged
    with pytest.raises(lb.OutputError, match="cannot read .*G4.parquet"):
        result.summary()
    with pytest.raises(lb.OutputError, match="cannot read .*G1.nc"):
        result["G1"]
