"""Every notebook in notebooks/ runs clean: jupytext turns the percent-format source into a
notebook, nbclient executes it in a fresh kernel with ``S2N_FAST=1`` (small sizes), and any
failed assertion inside a notebook fails its test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))

jupytext = pytest.importorskip("jupytext")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")


def test_every_section_of_the_theory_has_a_notebook():
    names = [p.stem for p in NOTEBOOKS]
    assert names == ["01_schedules_forward", "02_backward_inference", "03_cv_model", "04_sn_space",
                     "05_information", "06_sampler_experiments"]


@pytest.mark.slow
@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    notebook = jupytext.read(source)
    monkeypatch.setenv("S2N_FAST", os.environ.get("S2N_FAST", "1"))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    # The kernel imports s2n_theory from this checkout whether or not it is installed.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}},
    )
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as exc:  # show the notebook's own traceback
        pytest.fail(f"{source.name} failed:\n{exc}", pytrace=False)
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    # The notebook rendered its figures (PNG outputs) and its derivations (LaTeX outputs).
    kinds = {key for o in outputs for key in o.get("data", {})}
    assert "image/png" in kinds, f"{source.name} displayed no figure"
