"""PyTensor's C backend linked to the OpenBLAS that pip installs, set before PyTensor loads.

A pip-installed PyTensor finds no system BLAS (MKL, libblas, libopenblas) and warns on every
PyMC model that it "could not link to a BLAS installation"; its BLAS ops then call back into
Python. numpy's and scipy's wheels bundle OpenBLAS under private, hashed names; the
``scipy-openblas32`` wheel (a dependency on Linux and macOS) is the same build with a stable
API (``get_lib_dir``, ``get_library``). It exports each routine with a ``scipy_`` prefix, so
macros map PyTensor's Fortran names (``dgemm_``...) onto them.

:func:`configure` sets ``blas__ldflags`` through ``PYTENSOR_FLAGS`` only where PyTensor is not
imported yet (its config is read at import), the user has set no ``PYTENSOR_FLAGS`` (theirs
win) and the package is installed; otherwise PyTensor behaves as it would without lmm_bayes.
"""

from __future__ import annotations

import os
import shlex
import sys

__all__ = ["configure", "ldflags"]

#: the BLAS routines that PyTensor's C code declares (pytensor/tensor/blas_headers.py), each
#: for the s, d, c and z types
_ROUTINES = ("gemm", "gemv", "ger", "gerc", "geru", "dot", "axpy", "scal", "copy", "swap",
             "rot", "symm", "syrk", "trmm", "trsm")


def ldflags() -> str | None:
    """PyTensor's ``blas__ldflags`` for scipy-openblas32, or None where it is not installed
    (or on Windows, whose compilers take other flags)."""
    if sys.platform == "win32":
        return None
    try:
        import scipy_openblas32 as openblas
    except ImportError:
        return None
    directory = shlex.quote(openblas.get_lib_dir())
    renames = [f"-D{kind}{routine}_=scipy_{kind}{routine}_"
               for kind in "sdcz" for routine in _ROUTINES]
    # -Xlinker pairs rather than -Wl,-rpath,<dir>: PYTENSOR_FLAGS separates settings by commas
    return " ".join([f"-L{directory}", f"-l{openblas.get_library()}",
                     "-Xlinker", "-rpath", "-Xlinker", directory, *renames])


def configure() -> None:
    """Point PyTensor at scipy-openblas32 (see the module docstring); a no-op where it
    cannot or should not."""
    if "pytensor" in sys.modules or "PYTENSOR_FLAGS" in os.environ:
        return
    flags = ldflags()
    if flags is not None:
        os.environ["PYTENSOR_FLAGS"] = f"blas__ldflags={flags}"
