"""The one claim registry: claim id × method × schedule → result.

A check is a function ``check(schedule, level) -> Outcome`` registered with
:func:`claim_check` when its module is imported (:mod:`.suite` imports them all).
:func:`run_check` turns every outcome, skip or exception into a :class:`CheckResult`
(status pass / fail / error / skip). Methods: ``symbolic`` (SymPy reduced the residual to exactly 0),
``numeric`` (high-precision or float64 evaluation), ``montecarlo``, ``gpu``.
A symbolic check that had to fall back to numbers reports ``numeric``.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

from s2n_theory.schedule import Schedule

from .claims import CLAIMS

CHECK_METHODS = ("symbolic", "numeric", "montecarlo", "gpu")
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
    """Register ``func`` as a check of ``claim`` by ``method`` (the method it aims for).

    The claim must be stated in :mod:`.claims`: a check of an unstated claim is an error at import.
    """
    if method not in CHECK_METHODS:
        raise ValueError(f"unknown method {method!r}")
    if claim not in CLAIMS:
        raise ValueError(f"claim {claim!r} has no statement in verification/claims.py: state it there first")

    def decorate(func: Callable[[Schedule, str], Outcome]) -> Callable[[Schedule, str], Outcome]:
        check = Check(claim, method, title, func, general=general, concrete=concrete)
        # A module run as a script (python -m s2n_theory.verification.gpu_check) is imported twice: register once.
        REGISTRY[:] = [c for c in REGISTRY if c.key != check.key]
        REGISTRY.append(check)
        return func

    return decorate


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


def summarize(results: Sequence[CheckResult]) -> dict[str, int]:
    counts = {status: 0 for status in STATUSES}
    for result in results:
        counts[result.status] += 1
    return counts
