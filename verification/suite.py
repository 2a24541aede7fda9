"""The verification suite: every check module, imported explicitly, and the runner over them.

Importing a check module registers its checks (:func:`.registry.claim_check`); the modules
are imported here by name, in report order, so a misspelt or missing module is an
ImportError, never a silently smaller suite.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from s2n_theory import symbolic_memo
from s2n_theory.builtin_schedules import builtin_names
from s2n_theory.errors import S2NError
from s2n_theory.schedule import Schedule
from s2n_theory.schedule_spec import get_schedule

from . import (  # noqa: F401 - importing a module registers its checks
    backward_checks,  # B1-B4
    cv_checks,  # C1-C5
    export_checks,  # X1: exported code agrees with SymPy
    forward_checks,  # F1-F5
    gpu_check,  # GPU
    inference_checks,  # P1-P3
    information_checks,  # I1-I5
    montecarlo_checks,  # M1-M4
    multistep_checks,  # B5-B6 (+ multistep orders under M4)
    objective_checks,  # W1-W3
    snspace_checks,  # S1-S3
)
from .cache import Cache
from .registry import LEVELS, REGISTRY, Check, CheckResult
from .runner import frozen_heap, run_tasks

CHECK_MODULES = (forward_checks, inference_checks, backward_checks, multistep_checks, cv_checks, snspace_checks, information_checks,
                 objective_checks, export_checks, montecarlo_checks, gpu_check)
"""The check modules in report order."""


def load_checks() -> list[Check]:
    """Every registered check, in report order."""
    order = {module.__name__: i for i, module in enumerate(CHECK_MODULES)}
    return sorted(REGISTRY, key=lambda check: order.get(check.func.__module__, len(order)))


def claim_ids() -> list[str]:
    seen: dict[str, None] = {}
    for check in load_checks():
        seen.setdefault(check.claim, None)
    return list(seen)


def default_schedules() -> list[str]:
    return ["general", *builtin_names()]


def select(only: Iterable[str] | None = None) -> list[Check]:
    checks = load_checks()
    if not only:
        return list(checks)
    wanted = [c.strip().upper() for c in only if c.strip()]
    known = {c.claim for c in checks}
    unknown = [c for c in wanted if c not in known]
    if unknown:
        raise S2NError(f"unknown claim id {unknown[0]!r} (known: {', '.join(claim_ids())})")
    return [c for c in checks if c.claim in wanted]


def run(
    only: Iterable[str] | None = None,
    schedules: Sequence[str | Schedule] | None = None,
    level: str = "quick",
    on_result: Callable[[CheckResult], None] | None = None,
    *,
    jobs: int = 1,
    cache: Cache | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[CheckResult]:
    """Run the selected claims on the selected schedules (default: all, on general + built-ins).

    Results come back (and ``on_result`` sees them) in the same order whatever ``jobs`` is:
    claim by claim in report order, each on every schedule. ``jobs > 1`` runs the checks in
    that many worker processes (:mod:`.runner`); ``cache`` reuses symbolic results and codegen
    forms computed by the same code earlier (:mod:`.cache`). ``on_progress(done, total)`` is
    called as checks finish, in whatever order they finish.
    """
    if level not in LEVELS:
        raise S2NError(f"unknown level {level!r} (choose quick or full)")
    if jobs < 1:
        raise S2NError(f"-j must be at least 1 (got {jobs})")
    checks = select(only)
    # Frozen from here: the imports live as long as the run, and a full collection over them while the schedules
    # are built (about 0.2 s) would free nothing.
    with frozen_heap():
        memo = cache.load_memo() if cache is not None else None
        # Building a schedule compiles its expressions to validate them: symbolic work the memo keeps, as the workers'.
        with symbolic_memo.session(memo, cache.save_memo if cache is not None else lambda entries: None):
            resolved = [get_schedule(s) for s in (schedules or default_schedules())]
        return run_tasks(checks, resolved, level, jobs=jobs, cache=cache, on_result=on_result,
                         on_progress=on_progress, memo=memo)
