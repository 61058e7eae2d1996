"""Shared fixtures: reference data, and fits reused across tests (compiled once a session)."""

import os
import shutil
import subprocess
import warnings
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import lmm_bayes as lb

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
REPO = Path(__file__).resolve().parents[1]

matplotlib.use("Agg")  # the plots are pyplot figures: no test opens a window


@pytest.fixture(autouse=True)
def _close_figures():
    """Closes the figures a test made: pyplot keeps each until it is closed, and warns (an
    error here) past 20."""
    yield
    plt.close("all")


def reference_data(name: str) -> pd.DataFrame:
    """A reference data set from ../shared/data (see its README)."""
    path = DATA_DIR / f"{name}.csv"
    if not path.is_file():
        pytest.skip(f"reference data {path} not available")
    return pd.read_csv(path)


def crossed_data(seed=0, rows=(12, 8), reps=2, nested=False):
    """Two crossed factors a × b (or b nested in a), 80% of the cells × ``reps`` rows, with
    y = 50 + 2x + 1·[arm B] + u_a + u_b + ε: SD(a) 1.5, SD(b) 0.8, residual SD 1."""
    rng = np.random.default_rng(seed)
    a, b = np.meshgrid(np.arange(rows[0]), np.arange(rows[1]), indexing="ij")
    frame = pd.DataFrame({"a": np.repeat(a.ravel(), reps), "b": np.repeat(b.ravel(), reps)})
    frame = frame.sample(frac=0.8, random_state=seed).reset_index(drop=True)  # unbalanced
    if nested:
        frame["b"] = frame.a.astype(str) + ":" + frame.b.astype(str)
    frame["x"] = rng.normal(size=len(frame))
    frame["arm"] = rng.choice(["A", "B"], size=len(frame))
    u = {k: rng.normal(0, s, frame[k].nunique()) for k, s in (("a", 1.5), ("b", 0.8))}
    codes = {k: pd.factorize(frame[k])[0] for k in u}
    frame["y"] = (50 + 2 * frame.x + (frame.arm == "B") + u["a"][codes["a"]]
                  + u["b"][codes["b"]] + rng.normal(0, 1.0, len(frame)))
    frame[["a", "b"]] = frame[["a", "b"]].astype(str)
    return frame


def central_differences(function, x: np.ndarray, step: float) -> np.ndarray:
    """The gradient of a scalar ``function`` at ``x`` by central differences."""
    return np.array([(function(x + step * e) - function(x - step * e)) / (2 * step)
                     for e in np.eye(len(x))])


def write_parquet(frame: pd.DataFrame, directory, size: int):
    """``frame`` as Parquet files of ``size`` rows each (a level's rows split across files)."""
    directory.mkdir()
    for k, start in enumerate(range(0, len(frame), size)):
        frame.iloc[start:start + size].to_parquet(directory / f"part.{k:02d}.parquet")
    return directory


def quiet_fit(model: lb.LMM, **kwargs) -> lb.Fit:
    """Fit with SamplingWarning silenced: short test runs have low ESS by design."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lb.SamplingWarning)
        return model.fit(**kwargs)


@pytest.fixture(scope="session")
def sleepstudy() -> pd.DataFrame:
    return lb.load_dataset("sleepstudy")


@pytest.fixture(scope="session")
def sleep_model(sleepstudy) -> lb.LMM:
    return lb.LMM("Reaction ~ Days + (Days | Subject)", sleepstudy)


@pytest.fixture(scope="session")
def sleep_fit(sleep_model) -> lb.Fit:
    """A short nutpie fit of the sleepstudy model, for structure (not accuracy) tests."""
    return quiet_fit(sleep_model, draws=300, tune=300, chains=2, random_seed=11)


def _install_chromium() -> str | None:
    """Debian's chromium: found on the PATH, or installed with apt-get where this user is
    root or has passwordless sudo; None where it cannot be had."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.geteuid() == 0:
        prefix = []
    elif shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"], check=False,
                                                 capture_output=True).returncode == 0:
        prefix = ["sudo", "-n"]
    else:
        return None
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
        subprocess.run(prefix + command, check=False, capture_output=True, timeout=900,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    return shutil.which("chromium")


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of a headless Chromium, installed if missing; skips where it cannot be."""
    path = _install_chromium()
    if path is None:
        pytest.skip("Chromium is not installed and cannot be (apt-get install chromium needs "
                    "root or passwordless sudo)")
    return path


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
