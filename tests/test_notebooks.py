"""Both notebooks execute, on small settings, and are committed without stale outputs."""

from __future__ import annotations

import os

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "notebooks")


@pytest.mark.parametrize("name", ["quickstart.ipynb", "analysis.ipynb"])
def test_committed_notebooks_have_no_outputs(name):
    notebook = nbformat.read(os.path.join(NOTEBOOKS, name), as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None


def execute(name: str, env: dict) -> nbformat.NotebookNode:
    notebook = nbformat.read(os.path.join(NOTEBOOKS, name), as_version=4)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits this process's environment
    try:
        NotebookClient(notebook, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": NOTEBOOKS}}).execute()
    finally:
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    return notebook


def test_quickstart_then_analysis_execute(ray_cluster, tmp_path):
    storage = str(tmp_path / "runs")
    quick = execute("quickstart.ipynb", {"HPO_SAMPLES": "4", "HPO_STORAGE": storage, "RAY_ADDRESS": ray_cluster})
    text = "".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for c in quick.cells
                   if c.cell_type == "code" for o in c.outputs)
    assert "4 trials, 0 errors" in text and "'model'" in text
    analysis = execute("analysis.ipynb", {"HPO_EXPERIMENT": os.path.join(storage, "notebook-quickstart")})
    assert all(o.get("output_type") != "error" for c in analysis.cells if c.cell_type == "code" for o in c.outputs)
    for image in ("learning-curves.png", "best-so-far.png", "lr.png"):
        path = os.path.join(NOTEBOOKS, image)
        assert os.path.getsize(path) > 1000
        os.remove(path)
