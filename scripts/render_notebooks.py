"""Render the notebooks, executed with short sampling, to docs/notebooks/<name>.html.

The notebooks are committed without outputs; these pages show them with their tables and
figures. A cell after the one tagged ``parameters`` sets the short sampling settings (the
tests execute the notebooks the same way, with ``execute`` below), and says so in the page.

    pip install ".[docs]"
    python scripts/render_notebooks.py                 # the notebooks of the default test tier
    python scripts/render_notebooks.py 03_trajectories_and_centring   # or any, by name
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
OUT = REPO / "docs" / "notebooks"
# notebooks that fit several models (minutes each even with short sampling): the slow tier
SLOW = {"03_trajectories_and_centring", "05_crossed_and_nested", "06_residual_structures",
        "08_mmrm_trial", "09_joint_sbp_cvd"}
STYLESHEET = "notebook.css"
_STYLE = re.compile(r"<style[^>]*>(.*?)</style>\s*", re.DOTALL)


def execute(path: Path, settings: str, *, timeout: int = 600) -> nbformat.NotebookNode:
    """The notebook at ``path`` executed in a fresh kernel from the repository root, with the
    code ``settings`` (e.g. ``"DRAWS, TUNE, CHAINS = 150, 150, 2"``) run after its
    ``parameters`` cell. Raises ``CellExecutionError`` naming the cell on any error."""
    import nbclient  # the test extra: the tests skip this where it is not installed

    notebook = nbformat.read(path, as_version=4)
    tagged = [k for k, c in enumerate(notebook.cells) if "parameters" in c.metadata.get("tags", [])]
    if len(tagged) != 1:
        raise ValueError(f"{path.name}: one cell tagged 'parameters' sets the sampling settings")
    notebook.cells.insert(tagged[0] + 1, nbformat.v4.new_code_cell(settings))
    nbclient.NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(REPO)}}).execute()
    return notebook


def with_shared_stylesheet(page: str) -> tuple[str, str]:
    """The page with the style blocks of its ``<head>`` (nbconvert's template, the same in
    every page) replaced by a link to :data:`STYLESHEET`, and their CSS. Styles inside the
    body (of cell outputs such as tables) stay where they are."""
    body = page.index("<body")
    head = page[:body]
    css = "\n".join(block.strip() for block in _STYLE.findall(head))
    link = f'<link rel="stylesheet" href="{STYLESHEET}">\n</head>'
    return _STYLE.sub("", head).replace("</head>", link) + page[body:], css


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="notebook names (default: all but the slow)")
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--tune", type=int, default=500)
    parser.add_argument("--chains", type=int, default=2)
    args = parser.parse_args()
    from nbconvert import HTMLExporter  # the docs extra; the tests need only execute()

    names = args.names or sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb") if p.stem not in SLOW)
    settings = (f"DRAWS, TUNE, CHAINS = {args.draws}, {args.tune}, {args.chains}"
                "  # short sampling for this page (scripts/render_notebooks.py)")
    OUT.mkdir(parents=True, exist_ok=True)
    for name in names:
        start = time.perf_counter()
        notebook = execute(NOTEBOOKS / f"{name}.ipynb", settings)
        page, css = with_shared_stylesheet(HTMLExporter().from_notebook_node(notebook)[0])
        (OUT / f"{name}.html").write_text(page, encoding="utf-8")
        (OUT / STYLESHEET).write_text(css, encoding="utf-8")
        print(f"{name}: {time.perf_counter() - start:.0f} s, {len(page) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
