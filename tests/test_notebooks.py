"""The notebooks in studies/notebooks run top to bottom on a fresh kernel, so they never rot."""

import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="the notebook checks need nbformat, nbclient and ipykernel")
nbclient = pytest.importorskip("nbclient", reason="the notebook checks need nbformat, nbclient and ipykernel")
pytest.importorskip("ipykernel", reason="the notebook checks need nbformat, nbclient and ipykernel")

NOTEBOOKS = sorted((Path(__file__).parents[1] / "studies" / "notebooks").glob("*.ipynb"))
BUDGET_S = 180
"""What a notebook may take here (they take well under a minute): 'a few minutes on a fresh machine'."""


def test_the_five_notebooks_are_there():
    assert [path.stem for path in NOTEBOOKS] == ["comparing_eie_tpu_gpu", "compressed_fronts",
                                                 "reading_a_pareto_dataset", "sizing_an_accelerator",
                                                 "trusting_a_proxy"]


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path):
    notebook = nbformat.read(path, as_version=4)
    assert not any(cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), \
        "commit notebooks without outputs"
    started = time.perf_counter()
    nbclient.NotebookClient(notebook, timeout=BUDGET_S, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}}).execute()
    elapsed = time.perf_counter() - started
    errors = [output for cell in notebook.cells for output in cell.get("outputs", [])
              if output.output_type == "error"]
    assert errors == []
    figures = [output for cell in notebook.cells for output in cell.get("outputs", [])
               if "application/vnd.plotly.v1+json" in output.get("data", {})]
    assert len(figures) >= 3
    assert elapsed < BUDGET_S
