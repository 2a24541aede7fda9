"""Every notebook in notebooks/ runs clean: jupytext turns the percent-format source into a
notebook, nbclient executes it in a fresh kernel with ``S2N_FAST=1`` (small sizes), and any
failed assertion inside a notebook fails its test."""

from __future__ import annotations

import json
import os
import sys
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
                     "05_information", "06_sampler_experiments", "07_training_objectives"]


def _execute(source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN202
    """Convert ``source`` with jupytext and execute it in a fresh kernel; return the notebook."""
    notebook = jupytext.read(source)
    monkeypatch.setenv("S2N_FAST", os.environ.get("S2N_FAST", "1"))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    # The kernel imports s2n_theory from this checkout whether or not it is installed.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    # A kernelspec of this very interpreter (JUPYTER_PATH is searched first), so the notebook
    # runs in the test's environment whatever other python3 kernels are installed.
    spec = tmp_path / "jupyter" / "kernels" / "s2n-test"
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "s2n test", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="s2n-test", resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    return notebook


def test_a_failing_assertion_in_a_notebook_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "bad.py"
    source.write_text("# %%\nimport sympy as sp\nx = sp.Symbol('x')\n\n# %%\nassert sp.diff(x**2, x) == 3 * x\n")
    with pytest.raises(nbclient.exceptions.CellExecutionError, match="AssertionError"):
        _execute(source, tmp_path, monkeypatch)


@pytest.mark.slow
@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        notebook = _execute(source, tmp_path, monkeypatch)
    except nbclient.exceptions.CellExecutionError as exc:  # show the notebook's own traceback
        pytest.fail(f"{source.name} failed:\n{exc}", pytrace=False)
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    kinds = {key for o in outputs for key in o.get("data", {})}
    assert "image/png" in kinds, f"{source.name} displayed no figure"
    if source.stem != "06_sampler_experiments":  # the derivations are rendered as LaTeX
        assert "text/latex" in kinds, f"{source.name} rendered no LaTeX"
