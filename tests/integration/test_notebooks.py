"""Every notebook executes top to bottom with short sampling, shows its figures, uses only the
public API and is committed without outputs."""

import re

import nbformat
import pytest
from conftest import REPO

nbclient = pytest.importorskip("nbclient", reason="the test extra (nbclient) is not installed")

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
SLOW = {"03_trajectories_and_centring.ipynb", "05_crossed_and_nested.ipynb",  # two models each
        "06_residual_structures.ipynb"}  # five models
SHORT = "DRAWS, TUNE, CHAINS = 150, 150, 2  # set by the tests"


def _read(path):
    return nbformat.read(path, as_version=4)


@pytest.mark.parametrize("path", [
    pytest.param(p, id=p.name, marks=[pytest.mark.slow] if p.name in SLOW else [])
    for p in NOTEBOOKS])
def test_notebook_executes(path):
    notebook = _read(path)
    tagged = [k for k, c in enumerate(notebook.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "one cell tagged 'parameters' sets the sampling settings"
    notebook.cells.insert(tagged[0] + 1, nbformat.v4.new_code_cell(SHORT))
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(REPO)}})
    client.execute()  # raises CellExecutionError naming the cell on any error
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

