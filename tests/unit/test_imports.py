"""Start-up: `import lmm_bayes`, `lmm-bayes --help` and building a model load none of the
heavy libraries (PyMC, PyTensor, numba, Dask, ArviZ), which are imported where first needed;
the public names still resolve; fit_many without its extra says how to install it.

Each check runs in a fresh interpreter, as this test session has imported everything."""

import json
import subprocess
import sys

import pytest
from conftest import REPO

import lmm_bayes as lb
from lmm_bayes import many

HEAVY = ("pymc", "pytensor", "numba", "dask", "distributed", "arviz")


def loaded_after(code: str) -> set[str]:
    """The top-level packages of HEAVY that a fresh interpreter has imported after ``code``
    (run from the repository root, so that this checkout's package is the one imported)."""
    report = ("import json, sys\n"
              f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)})))")
    done = subprocess.run([sys.executable, "-c", f"{code}\n{report}"], cwd=REPO,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_import_loads_no_heavy_library():
    assert loaded_after("import lmm_bayes") == set()


def test_help_runs_without_heavy_libraries():
    code = ("from lmm_bayes.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit as end:\n    assert end.code == 0")
    assert loaded_after(code) == set()
    done = subprocess.run([sys.executable, "-m", "lmm_bayes.cli", "--help"], cwd=REPO,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    for command in ("fit", "check", "summarize", "predict", "fit-many"):
        assert command in done.stdout


def test_building_a_model_loads_no_heavy_library():
    code = ("import lmm_bayes as lb\n"
            "model = lb.LMM('Reaction ~ Days + (Days | Subject)', lb.load_dataset('sleepstudy'))\n"
            "model.priors.table()")
    assert loaded_after(code) == set()


def test_check_loads_no_pymc_or_arviz():
    code = ("from lmm_bayes.cli import main\n"
            "assert main(['check', 'models/sleepstudy.toml']) == 0")
    # numba is loaded: the engine chooser asks the compiled densities whether they apply
    assert loaded_after(code) & {"pymc", "pytensor", "arviz", "distributed"} == set()


def test_public_names_resolve_on_use():
    for name in lb.__all__:
        assert getattr(lb, name) is not None
    assert set(lb.__all__) <= set(dir(lb))
    assert lb.LMM.__module__ == "lmm_bayes.api" and lb.fit_many is many.fit_many
    assert lb.simulate.simulate_hba1c is not None      # submodules, as before
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        lb.no_such_name  # noqa: B018


def test_fit_many_without_its_extra_says_how_to_install_it(monkeypatch, sleepstudy):
    for module in ("distributed", "pyarrow"):
        with monkeypatch.context() as patch:
            patch.setitem(sys.modules, module, None)   # `import module` now fails
            with pytest.raises(lb.SamplingError, match=rf"{module} is not installed\): "
                                                       r"pip install 'lmm_bayes\[many\]'"):
                lb.fit_many("Reaction ~ Days + (1 | Subject)", sleepstudy, by="Subject")
