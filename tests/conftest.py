"""Shared fixtures: reference data, and fits reused across tests (compiled once a session)."""

import os
import shutil
import subprocess
import warnings
from pathlib import Path

import pandas as pd
import pytest

import lmm_bayes as lb

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
REPO = Path(__file__).resolve().parents[1]


def reference_data(name: str) -> pd.DataFrame:
    """A reference data set from ../shared/data (see its README)."""
    path = DATA_DIR / f"{name}.csv"
    if not path.is_file():
        pytest.skip(f"reference data {path} not available")
    return pd.read_csv(path)


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
