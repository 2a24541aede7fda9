import io
import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout

import pytest
import torch

from s2n_theory import backward
from s2n_theory.cli import main as s2n_main
from s2n_theory.verification import normal_form, prove

# The tensors in these tests are small: torch's thread pool only adds contention on the 2-core CI machine.
torch.set_num_threads(1)


MAX_TEST_WORKERS = 4
"""Cap of ``-n auto`` (pyproject's addopts): every worker imports torch and SymPy and holds its own caches."""


def pytest_xdist_auto_num_workers(config):
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(MAX_TEST_WORKERS, cores))


@pytest.fixture(autouse=True, scope="session")
def _private_verify_cache(tmp_path_factory):
    # `s2n verify` caches symbolic results on disk: tests (and the CLI subprocesses they start) use a
    # fresh folder of their own, never the developer's cache.
    previous = os.environ.get("S2N_CACHE_DIR")
    os.environ["S2N_CACHE_DIR"] = str(tmp_path_factory.mktemp("s2n-cache"))
    yield
    if previous is None:
        os.environ.pop("S2N_CACHE_DIR", None)
    else:
        os.environ["S2N_CACHE_DIR"] = previous


SHORT_SECONDS = 0.25
"""The SymPy budgets (normal form, rewrites) of the injected-error tests: each wrong identity waits this long
twice before the numeric fallback decides; at the default budgets (6 s + 10 s) that was most of their time."""


@pytest.fixture
def short_budget(monkeypatch):
    """A wrong identity makes the normal form and SymPy's rewrites spend their whole time budget before the
    numeric fallback refutes it; the verdict does not depend on the budget (a wrong identity is never reduced
    to 0), so the injected-error tests cap it. Tests that assert a proof is `symbolic` keep the real budget."""
    monkeypatch.setitem(prove.SYMBOLIC_BUDGET_SECONDS, "quick", SHORT_SECONDS)
    monkeypatch.setattr(normal_form, "NORMAL_FORM_SECONDS", SHORT_SECONDS)


def _in_process(*args: str) -> subprocess.CompletedProcess:
    """``s2n ARGS`` through what the installed script runs (``s2n_theory.cli:main``, with its handler for user
    errors; the script's ``program`` adds only the fast exit of ``verify``), in this process: output captured,
    the exit status read from SystemExit.

    A new interpreter costs seconds of imports (torch, SymPy) per call, so tests of what a command prints and
    returns use this. Real programs (:func:`_process`) still run: `s2n verify` in the default selection, the
    other commands in ``pytest -m slow`` (:func:`s2n_both_ways`, and their tests marked slow)."""
    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["s2n", *args]
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                s2n_main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = argv
    return subprocess.CompletedProcess(["s2n", *args], code, out.getvalue(), err.getvalue())


def _process(*args: str, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    """``s2n ARGS`` as a user runs it: a new Python process (``python -m s2n_theory.cli``)."""
    return subprocess.run([sys.executable, "-m", "s2n_theory.cli", *args], capture_output=True, text=True,
                          timeout=timeout, **kwargs)


@pytest.fixture
def run_s2n():
    """``run_s2n(*args)``: the CLI in this process (see :func:`_in_process`), a CompletedProcess back."""
    return _in_process


@pytest.fixture
def s2n_process():
    """``s2n_process(*args, **subprocess_kwargs)``: the CLI as a new process, a CompletedProcess back."""
    return _process


@pytest.fixture(params=["in-process", pytest.param("process", marks=pytest.mark.slow)])
def s2n_both_ways(request):
    """The test runs twice: through the entry point in this process (default selection), and as a real
    ``s2n`` process in ``pytest -m slow`` (CI), so a command's real process is tested without paying its
    start-up in every default run."""
    return _in_process if request.param == "in-process" else _process


@pytest.fixture
def fresh_numeric_steps():
    """The numeric steps compile the derivations once per backend: recompile around an injected error."""
    backward.numeric_coefficients.cache_clear()
    yield
    backward.numeric_coefficients.cache_clear()
