"""PyTensor's BLAS flags (lmm_bayes.blas): scipy-openblas32, unless the user chose."""

import os
import subprocess
import sys

import pytest

from lmm_bayes import blas

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(code: str, **env) -> subprocess.CompletedProcess:
    """``code`` in a fresh interpreter (PyTensor's config is read once, at import), warnings
    as errors, with this checkout first on the path."""
    environ = {k: v for k, v in os.environ.items() if k != "PYTENSOR_FLAGS"} | env
    return subprocess.run([sys.executable, "-W", "error", "-c", code], cwd=REPO, env=environ,
                          capture_output=True, text=True, timeout=300, check=False)


def test_flags_link_scipy_openblas_and_rename_the_routines():
    openblas = pytest.importorskip("scipy_openblas32")
    flags = blas.ldflags()
    assert f"-L{openblas.get_lib_dir()}" in flags and "-lscipy_openblas" in flags
    assert "-Ddgemm_=scipy_dgemm_" in flags and "," not in flags  # PYTENSOR_FLAGS splits on ","


def test_pytensor_links_blas_without_a_warning_after_import():
    pytest.importorskip("scipy_openblas32")
    result = _run("import lmm_bayes, pytensor; print(pytensor.config.blas__ldflags)")
    assert result.returncode == 0, result.stderr
    assert "scipy_openblas" in result.stdout


def test_the_users_pytensor_flags_win():
    result = _run("import lmm_bayes, pytensor; print(repr(pytensor.config.blas__ldflags))",
                  PYTENSOR_FLAGS="blas__ldflags=")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "''"
