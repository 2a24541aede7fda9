"""The one claim registry: claim id × method × schedule → result.

A check is a function ``check(schedule, level) -> Outcome`` registered with
:func:`claim_check`. :func:`run` executes checks over schedules and turns every
outcome, skip or exception into a :class:`CheckResult` (status pass / fail /
error / skip). Methods: ``symbolic`` (SymPy reduced the residual to exactly 0),
``numeric`` (high-precision or float64 evaluation), ``montecarlo``, ``gpu``.
A symbolic check that had to fall back to numbers reports ``numeric``.
"""

from __future__ import annotations

import importlib
import importlib.util
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field

from s2n_theory import Schedule, get_schedule
from s2n_theory.errors import S2NError
from s2n_theory.library import builtin_names

METHODS = ("symbolic", "numeric", "montecarlo", "gpu")
STATUSES = ("pass", "fail", "error", "skip")
LEVELS = ("quick", "full")


class Skip(Exception):
    """Raised by a check that does not apply to a schedule (reported as ``skip``)."""


@dataclass
class Outcome:
    """What a check returns: did the claim hold, by which method, with what residual."""

    passed: bool
    method: str
    residual: float
    detail: str = ""


@dataclass
class CheckResult:
    claim: str
    schedule: str
    method: str
    status: str
    residual: float | None
    seconds: float
    detail: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Check:
    claim: str
    method: str
    title: str
    func: Callable[[Schedule, str], Outcome]
    general: bool = True
    concrete: bool = True
    tags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def key(self) -> str:
        return f"{self.claim}:{self.method}:{self.func.__name__}"


REGISTRY: list[Check] = []


def claim_check(claim: str, method: str, title: str, *, general: bool = True, concrete: bool = True):
    """Register ``func`` as a check of ``claim`` by ``method`` (the method it aims for)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}")

    def decorate(func: Callable[[Schedule, str], Outcome]) -> Callable[[Schedule, str], Outcome]:
        check = Check(claim, method, title, func, general=general, concrete=concrete)
        # A module run as a script (python -m verification.gpu_check) is imported twice: register once.
        REGISTRY[:] = [c for c in REGISTRY if c.key != check.key]
        REGISTRY.append(check)
        return func

    return decorate


CHECK_MODULES = (
    "forward_checks",      # F1-F5
    "inference_checks",    # P1-P3
    "backward_checks",     # B1-B4
    "multistep_checks",    # B5-B6 (+ multistep orders under M4)
    "cv_checks",           # C1-C5
    "snspace_checks",      # S1-S3
    "information_checks",  # I1-I5
    "export_checks",       # exported code agrees with SymPy
    "montecarlo_checks",   # M1-M4
    "gpu_check",           # GPU
)
"""Modules whose import registers checks, in report order; a module not yet written is skipped."""


def load_checks() -> list[Check]:
    """Import every check module so that the registry is complete."""
    for name in CHECK_MODULES:
        if importlib.util.find_spec(f"{__package__}.{name}") is not None:
            importlib.import_module(f"{__package__}.{name}")
    return REGISTRY


def claim_ids() -> list[str]:
    seen: dict[str, None] = {}
    for check in load_checks():
        seen.setdefault(check.claim, None)
    return list(seen)


def default_schedules() -> list[str]:
    return ["general", *builtin_names()]


def run_check(check: Check, schedule: Schedule, level: str = "quick") -> CheckResult:
    started = time.perf_counter()
    try:
        if schedule.is_general and not check.general:
            raise Skip("needs a concrete schedule")
        if not schedule.is_general and not check.concrete:
            raise Skip("runs on the general schedule only")
        outcome = check.func(schedule, level)
        status = "pass" if outcome.passed else "fail"
        result = CheckResult(check.claim, schedule.name, outcome.method, status, float(outcome.residual),
                             0.0, outcome.detail)
    except Skip as reason:
        result = CheckResult(check.claim, schedule.name, check.method, "skip", None, 0.0, str(reason))
    except Exception as exc:  # noqa: BLE001 - a crashing check is reported, never hidden
        last = traceback.extract_tb(exc.__traceback__)[-1]
        where = f"{last.filename.rsplit('/', 1)[-1]}:{last.lineno}"
        result = CheckResult(check.claim, schedule.name, check.method, "error", None, 0.0,
                             f"{type(exc).__name__}: {exc} ({where})")
    result.seconds = time.perf_counter() - started
    return result


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
) -> list[CheckResult]:
    """Run the selected claims on the selected schedules (default: all, on general + built-ins)."""
    if level not in LEVELS:
        raise S2NError(f"unknown level {level!r} (choose quick or full)")
    checks = select(only)
    resolved = [get_schedule(s) for s in (schedules or default_schedules())]
    results = []
    for check in checks:
        for schedule in resolved:
            result = run_check(check, schedule, level)
            results.append(result)
            if on_result is not None:
                on_result(result)
    return results


def summarize(results: Sequence[CheckResult]) -> dict[str, int]:
    counts = {status: 0 for status in STATUSES}
    for result in results:
        counts[result.status] += 1
    return counts
