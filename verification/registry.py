"""The one claim registry: claim id × method × schedule → result.

A check is a function ``check(schedule, level) -> Outcome`` registered with
:func:`claim_check` when its module is imported (:mod:`.suite` imports them all).
:func:`run_check` turns every outcome, skip or exception into a :class:`CheckResult`
(status pass / fail / error / skip). Methods: ``symbolic`` (SymPy reduced the residual to exactly 0),
``numeric`` (high-precision or float64 evaluation), ``montecarlo``, ``gpu``.
A symbolic check that had to fall back to numbers reports ``numeric``.

One convention for every row: a check reports a ``residual`` and a ``tolerance`` in the same
sense, larger residual is worse, and the check passes exactly when residual ≤ tolerance.
Symbolic rows: residual 0, tolerance 0. Numeric rows: an error (relative, or the worst ratio of
error to its per-point error bound with tolerance 1) against its tolerance. Statistical rows: the
test statistic against its threshold at the stated false-alarm rate (|z| against a Bonferroni
quantile, −log of the smallest p-value against −log(α/m), a distance against its null quantile).
:func:`run_check` enforces it: an outcome whose ``passed`` flag disagrees with
residual ≤ tolerance, or a numeric outcome without a tolerance, is an ``error`` row.
The ``margin`` of a row is 1 − residual/tolerance: the fraction of the tolerance left unused
(1 when the residual is 0, 0 at the limit, negative on failure; none when the tolerance is 0).
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

from s2n_theory.schedule import Schedule
from s2n_theory.time_limit import TimeLimitExceeded, call_within

from .claims import CLAIMS

CHECK_METHODS = ("symbolic", "numeric", "montecarlo", "gpu")
STATUSES = ("pass", "fail", "error", "skip")
LEVELS = ("quick", "full")
ROW_SECONDS = {"quick": 600.0, "full": 3600.0}
"""Wall-clock limit of one check on one schedule: past it the row is an ``error`` naming the limit and the
run goes on (every check of the built-ins takes well under a minute at the quick level)."""


SKIP_REASONS = {
    "general-only": "runs on the general schedule only",
    "concrete-only": "needs a concrete schedule",
    "no CUDA": "no CUDA device",
    "level": "not run at this level",
    "not applicable": "the schedule does not meet the check's condition",
}
"""Why a row was skipped: short label → meaning (the summary line counts rows per label)."""


class Skip(Exception):
    """Raised by a check that does not apply to a schedule (reported as ``skip``).

    ``reason`` is one of :data:`SKIP_REASONS` (the short label the summary counts), the message
    says the particular condition.
    """

    def __init__(self, message: str, reason: str = "not applicable"):
        if reason not in SKIP_REASONS:
            raise ValueError(f"unknown skip reason {reason!r} (known: {', '.join(SKIP_REASONS)})")
        super().__init__(message)
        self.reason = reason


@dataclass
class Outcome:
    """What a check returns: did the claim hold, by which method, with what residual against what tolerance.

    ``passed`` must equal ``residual <= tolerance`` (checked by :func:`run_check`). A symbolic
    outcome may leave the tolerance out (it is 0); every other method must state it.
    """

    passed: bool
    method: str
    residual: float
    detail: str = ""
    tolerance: float | None = None


def margin(residual: float | None, tolerance: float | None) -> float | None:
    """1 − residual/tolerance: the unused fraction of the tolerance (None when there is no tolerance or it is 0)."""
    if residual is None or tolerance is None or tolerance == 0 or not math.isfinite(tolerance):
        return None
    return 1.0 - residual / tolerance if math.isfinite(residual) else -math.inf


@dataclass
class CheckResult:
    """One row: claim × schedule × check. Fields after ``detail`` were added later (JSON keeps the old ones)."""

    claim: str
    schedule: str
    method: str
    status: str
    residual: float | None
    seconds: float
    detail: str = ""
    tolerance: float | None = None
    margin: float | None = None
    title: str = ""
    check: str = ""
    reason: str = ""

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


def _judge(outcome: Outcome) -> tuple[str, float, float | None, str]:
    """Status, residual, tolerance and detail of an outcome under the one convention (module docstring)."""
    residual = float(outcome.residual)
    tolerance = outcome.tolerance
    if tolerance is None and outcome.method == "symbolic":
        tolerance = 0.0
    if tolerance is None:
        return "error", residual, None, f"check states no tolerance ({outcome.method}); {outcome.detail}"
    tolerance = float(tolerance)
    within = residual <= tolerance  # NaN is never within
    if bool(outcome.passed) != within:
        return ("error", residual, tolerance,
                f"passed={bool(outcome.passed)} disagrees with residual {residual:.3g} <= tolerance {tolerance:.3g}; "
                f"{outcome.detail}")
    return ("pass" if within else "fail"), residual, tolerance, outcome.detail


def run_check(check: Check, schedule: Schedule, level: str = "quick") -> CheckResult:
    started = time.perf_counter()
    title = CLAIMS[check.claim].title
    try:
        if schedule.is_general and not check.general:
            raise Skip("needs a concrete schedule", "concrete-only")
        if not schedule.is_general and not check.concrete:
            raise Skip("runs on the general schedule only", "general-only")
        outcome = call_within(check.func, (schedule, level), ROW_SECONDS[level])
        status, residual, tolerance, detail = _judge(outcome)
        result = CheckResult(check.claim, schedule.name, outcome.method, status, residual, 0.0, detail,
                             tolerance=tolerance, margin=margin(residual, tolerance))
    except Skip as skipped:
        result = CheckResult(check.claim, schedule.name, check.method, "skip", None, 0.0, str(skipped),
                             reason=skipped.reason)
    except TimeLimitExceeded:
        result = CheckResult(check.claim, schedule.name, check.method, "error", None, 0.0,
                             f"the check ran past its {ROW_SECONDS[level]:g} s time limit (--level {level}) and was "
                             "stopped; the schedule's expressions are too costly for it")
    except Exception as exc:  # noqa: BLE001 - a crashing check is reported, never hidden
        last = traceback.extract_tb(exc.__traceback__)[-1]
        where = f"{last.filename.rsplit('/', 1)[-1]}:{last.lineno}"
        result = CheckResult(check.claim, schedule.name, check.method, "error", None, 0.0,
                             f"{type(exc).__name__}: {exc} ({where})")
    result.title, result.check = title, check.title
    result.seconds = time.perf_counter() - started
    return result


def summarize(results: Sequence[CheckResult]) -> dict[str, int]:
    counts = {status: 0 for status in STATUSES}
    for result in results:
        counts[result.status] += 1
    return counts


def skip_reasons(results: Sequence[CheckResult]) -> dict[str, int]:
    """Skipped rows per reason, most frequent first."""
    counts: dict[str, int] = {}
    for result in results:
        if result.status == "skip":
            label = result.reason or "not applicable"
            counts[label] = counts.get(label, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def summary_line(results: Sequence[CheckResult]) -> str:
    """``"120 pass, 0 fail, 0 error, 84 skip (56 general-only, 19 concrete-only, …)"``."""
    counts = summarize(results)
    parts = [f"{counts[s]} {s}" for s in STATUSES]
    reasons = skip_reasons(results)
    if reasons:
        parts[-1] += " (" + ", ".join(f"{n} {label}" for label, n in reasons.items()) + ")"
    return ", ".join(parts)
