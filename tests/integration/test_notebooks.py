"""Every notebook executes top to bottom with short sampling, shows its figures, uses only the
public API and is committed without outputs."""

import re

import nbformat
import pytest
from conftest import REPO
from render_notebooks import SLOW, execute  # scripts/: the docs' pages are executed alike

pytest.importorskip("nbclient", reason="the test extra (nbclient) is not installed")

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
SHORT = "DRAWS, TUNE, CHAINS = 150, 150, 2  # set by the tests"


def _read(path):
    return nbformat.read(path, as_version=4)


@pytest.mark.parametrize("path", [
    pytest.param(p, id=p.name, marks=[pytest.mark.slow] if p.stem in SLOW else [])
    for p in NOTEBOOKS])
def test_notebook_executes(path):
    notebook = execute(path, SHORT)
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    # a cell that plots shows its figure, once (a fresh kernel, no %matplotlib magic)
    for cell in notebook.cells:
        if re.search(r"\.plot_\w+\(", cell.source):
            images = [o for o in cell.outputs if "image/png" in o.get("data", {})]
            assert len(images) == 1, f"cell {cell.source!r} shows {len(images)} figures"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_committed_clean_and_public_api_only(path):
    notebook = _read(path)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    source = "\n".join(c.source for c in code)
    assert not re.search(r"lmm_bayes\.\w|lb\._|from lmm_bayes\b", source), "public API only"

