"""The on-disk cache of ``s2n verify``: symbolic results and codegen forms, never reused after a code edit.

What is cached, and why it is safe:

* the result of every check registered as ``symbolic`` (its proof, or the numeric fallback
  when SymPy ran out of time), keyed by the check, the level, the schedule's name and
  expressions (α, σ, λ, domain) and the *code fingerprint*;
* the outcome of SymPy's solve for t(λ) of each concrete schedule (a closed-form inverse, or none
  within its 4 s limit: sub-VP's never ends), keyed by λ's expression and the code fingerprint;
* the codegen form selection of each concrete schedule (the 50-digit measurement that
  picks the stable forms, 0.3–6 s per schedule) with the text of its numpy and torch modules,
  keyed by every expression of the record and the code fingerprint;
* the symbolic memo (:mod:`s2n_theory.symbolic_memo`): the derivations and compiled source the
  numeric checks start from, keyed by their input expressions, in a folder of the code fingerprint.

The code fingerprint is a hash of the package version, the versions of SymPy, mpmath, NumPy,
SciPy and torch, and the source of every module of ``s2n_theory`` and of the verification
package: any edit to any module (a check, a derivation, the printer) gives a new fingerprint,
so no result computed by old code is ever reported for new code — a check that fails after an
edit cannot come back as a cached pass. The fingerprint is taken when the cache is opened (in
the parent, before any worker starts), so an edit made during a run cannot label results of
the code already loaded as results of the edited code. Numeric and Monte Carlo checks are
never cached: a second run reruns them.

The cache lives in ``$S2N_CACHE_DIR``, else ``$XDG_CACHE_HOME/s2n-theory``, else
``~/.cache/s2n-theory``; ``s2n cache clear`` empties it and ``s2n verify --no-cache``
bypasses it (the run then shares its work through a private temporary folder).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import pickle
import shutil
import tempfile
import uuid
from importlib import metadata
from pathlib import Path
from typing import Any

import sympy as sp

import s2n_theory
from s2n_theory import codegen, symbolic_memo
from s2n_theory.codegen import selection
from s2n_theory.codegen.functions import ScheduleFunctions
from s2n_theory.schedule import Schedule, remember_inverse, solved_inverse
from s2n_theory.time_limit import loads_verbatim

PACKAGE_ROOTS = (Path(s2n_theory.__file__).resolve().parent, Path(__file__).resolve().parent)
"""The source folders whose every ``.py`` file enters the code fingerprint."""


MODULE_BACKENDS = ("numpy", "torch")
"""The backends whose generated module text is stored with a schedule's forms (those the checks compile)."""

DEPENDENCIES = ("sympy", "mpmath", "numpy", "scipy", "torch")


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"


def default_dir() -> Path:
    """The cache folder: ``$S2N_CACHE_DIR``, ``$XDG_CACHE_HOME/s2n-theory`` or ``~/.cache/s2n-theory``."""
    if os.environ.get("S2N_CACHE_DIR"):
        return Path(os.environ["S2N_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "s2n-theory"


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """Hash of the package version and the source of every module (an edit anywhere invalidates the cache)."""
    digest = hashlib.sha256(s2n_theory.__version__.encode())
    # The libraries that compute the results are part of the code too.
    for name in DEPENDENCIES:
        digest.update(f"{name}=={_version(name)}".encode())
    for root in PACKAGE_ROOTS:
        for path in sorted(root.rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def schedule_fingerprint(schedule: Schedule) -> str:
    """The schedule's name, expressions and domain, exactly (``srepr``): equal strings, equal schedule."""
    parts = [schedule.name, sp.srepr(schedule.alpha), sp.srepr(schedule.sigma), sp.srepr(schedule.log_snr),
             repr(schedule.domain) if not schedule.is_general else "general"]
    return "\x1f".join(parts)


def _hash(*parts: str) -> str:
    return hashlib.sha256("\x1e".join((code_fingerprint(), *parts)).encode()).hexdigest()


def _write_atomic(path: Path, data: bytes) -> None:
    # Parallel workers may write the same entry: write aside, then rename (atomic on POSIX).
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_MISSING = object()


def _read_pickle(path: Path) -> Any:
    """A stored SymPy object, or ``_MISSING`` when absent or unreadable (then it is computed again)."""
    try:
        # verbatim: re-running SymPy's evaluation on unpickling can be the costly step a time limit cut short
        return loads_verbatim(path.read_bytes())
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        return _MISSING


class Cache:
    """One cache folder: ``results/`` (symbolic check results as JSON), ``forms/`` (pickled form selections)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        code_fingerprint()  # now, while the loaded code is the code on disk; workers inherit it

    # -- check results -------------------------------------------------------------------------------------------
    def result_key(self, check_key: str, schedule: Schedule, level: str, fingerprint: str | None = None) -> str:
        """The entry of one check's result; ``fingerprint``: the schedule's :func:`schedule_fingerprint`, if known."""
        return _hash("result", check_key, level, fingerprint or schedule_fingerprint(schedule))

    def get_result(self, key: str) -> dict[str, Any] | None:
        path = self.root / "results" / f"{key}.json"
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None

    def put_result(self, key: str, result: dict[str, Any]) -> None:
        _write_atomic(self.root / "results" / f"{key}.json", json.dumps(result).encode())

    # -- SymPy's solve for the inverse of λ ------------------------------------------------------------------------
    def _inverse_path(self, schedule: Schedule) -> Path:
        return self.root / "inverses" / f"{_hash('inverse', sp.srepr(schedule.log_snr))}.pickle"

    def load_inverse(self, schedule: Schedule) -> bool:
        """Install the stored outcome of the solve for t(λ) of ``schedule`` in this process; False when none."""
        solutions = _read_pickle(self._inverse_path(schedule))
        if solutions is _MISSING:
            return False
        remember_inverse(schedule.log_snr, solutions)
        return True

    def save_inverse(self, schedule: Schedule) -> None:
        """Store the outcome of that solve (made here if not yet): up to 4 s per schedule and process otherwise."""
        _ = schedule.inverse_log_snr
        solutions = solved_inverse(schedule.log_snr)
        if solutions is not None:
            _write_atomic(self._inverse_path(schedule), pickle.dumps(solutions))

    # -- codegen form selection ----------------------------------------------------------------------------------
    def _forms_path(self, functions: ScheduleFunctions) -> Path:
        key = _hash("forms", symbolic_memo.exact_text(selection.forms_key(functions)))
        return self.root / "forms" / f"{key}.pickle"

    def load_forms(self, functions: ScheduleFunctions) -> bool:
        """Install the stored form selection of ``functions`` in this process; False when none is stored."""
        forms = _read_pickle(self._forms_path(functions))
        if forms is _MISSING:
            return False
        selection.remember_forms(functions, forms)
        return True

    def save_forms(self, functions: ScheduleFunctions) -> None:
        """Select (or reuse) the forms of ``functions`` and store them, with the module text the checks load."""
        for backend in MODULE_BACKENDS:
            codegen.module_source(functions, backend)
        _write_atomic(self._forms_path(functions), pickle.dumps(selection.export_forms(functions)))

    # -- the symbolic memo ---------------------------------------------------------------------------------------
    def _memo_dir(self) -> Path:
        return self.root / "memo" / _hash("memo")[:32]

    def load_memo(self) -> dict[str, Any]:
        """The entries of :mod:`s2n_theory.symbolic_memo` stored by earlier runs of this code (each worker stores its
        own file; several are merged into one here). Folders of other code fingerprints are removed."""
        folder = self._memo_dir()
        if folder.parent.is_dir():
            for other in folder.parent.iterdir():
                if other != folder:
                    shutil.rmtree(other, ignore_errors=True)
        files = sorted(folder.glob("*.pickle")) if folder.is_dir() else []
        entries: dict[str, Any] = {}
        for path in files:
            stored = _read_pickle(path)
            if isinstance(stored, dict):
                entries.update(stored)
        if len(files) > 1:
            merged = folder / "merged.pickle"
            _write_atomic(merged, pickle.dumps(entries))
            for path in files:
                if path != merged:
                    path.unlink(missing_ok=True)
        return entries

    def save_memo(self, entries: dict[str, Any]) -> None:
        """Store the memo entries one process computed (a file of its own: workers never write the same file).
        A failure to write (a full disk) costs the next run time, never this run's results: it is ignored."""
        if entries:
            try:
                _write_atomic(self._memo_dir() / f"{os.getpid()}-{uuid.uuid4().hex}.pickle", pickle.dumps(entries))
            except (OSError, pickle.PicklingError):
                pass

    # -- housekeeping --------------------------------------------------------------------------------------------
    def timings(self) -> dict[str, list[float]]:
        """[wall, CPU] seconds each task (check@schedule) took when last computed; empty when unknown.

        The runner starts the longest tasks first; ``benchmarks/bench_verify.py`` reports the CPU seconds.
        """
        try:
            stored = json.loads((self.root / "timings.json").read_text())
            return {k: [float(v[0]), float(v[1])] for k, v in stored.items()}
        except (OSError, ValueError, TypeError, KeyError, IndexError, AttributeError):
            return {}

    def save_timings(self, timings: dict[str, list[float]]) -> None:
        _write_atomic(self.root / "timings.json", json.dumps(timings).encode())

    def clear(self) -> int:
        """Remove every entry; return how many files were removed."""
        if not self.root.exists():
            return 0
        count = sum(1 for p in self.root.rglob("*") if p.is_file())
        shutil.rmtree(self.root)
        return count
