"""What a verification run records about itself: provenance, the JSON payload, the cost of a level.

:func:`provenance` says which code ran where (package version, git commit when run from a
checkout, level, schedules, seeds, platform, Python/torch/sympy/numpy/scipy versions); the JSON
of ``s2n verify --json`` and the report carry it next to the rows, so a result can be traced
back to the code and machine that produced it.
"""

from __future__ import annotations

import datetime as _dt
import platform
import subprocess
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import scipy
import sympy
import torch

from .registry import CheckResult, skip_reasons, summarize
from .stat_tests import FALSE_ALARM

PACKAGE = "s2n-theory"

SEEDS = ("fixed: every check seeds its own generators in its code (statistical rows name theirs in the detail), "
         "so the same version on the same platform reproduces every row")

FULL_LEVEL_COST = ("--level full: larger samples than the default; about 25 CPU s per concrete schedule (2 min for "
                   "the 8 built-ins and the general schedule on two cores; M2 and M1 dominate), under 2 GB of memory")
"""Printed before a full run starts: what it costs (measured on the built-ins, see BENCHMARKS.md)."""


def package_version() -> str:
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def git_commit(directory: Path | None = None) -> str | None:
    """The commit of the checkout this package runs from (with ``+dirty`` for local changes), else None."""
    where = directory or Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                               capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty.returncode == 0 and dirty.stdout.strip() else "")


def provenance(level: str, schedules: Sequence[str] | None = None) -> dict[str, Any]:
    """Which code ran, where and how: recorded in the JSON and the report."""
    return {
        "package": PACKAGE,
        "version": package_version(),
        "commit": git_commit(),
        "level": level,
        "schedules": list(schedules) if schedules else "general and every built-in",
        "seeds": SEEDS,
        "false_alarm_rate": FALSE_ALARM,
        "started": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "sympy": sympy.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "cuda": torch.cuda.is_available(),
    }


def payload(results: Sequence[CheckResult], info: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``--json`` document: rows, summary counts, skips per reason and provenance (fields only ever added)."""
    return {"results": [r.to_dict() for r in results], "summary": summarize(results),
            "skip_reasons": skip_reasons(results), "provenance": info or {}}
