"""Running checks: serially or in worker processes, results always in the serial order.

A task is one check on one schedule. With ``jobs > 1`` the tasks run in worker processes
that this module starts and feeds one task at a time; they are ordinary (non-daemonic)
processes, so a check may still fork the child that enforces SymPy's time limit
(:mod:`s2n_theory.time_limit`). Results are buffered and handed on in the serial order, so
the output of ``-j 8`` is row for row the output of ``-j 1``; only the timings differ.

No work done twice: the tasks of one schedule stay in one worker as long as every worker
has work (:class:`_Dispatcher`), so a schedule's derivations, compiled code and SymPy's
caches are built once and serve all its checks; the symbolic work that numeric checks start from is shared
between runs through :mod:`s2n_theory.symbolic_memo`. A concrete schedule's codegen form selection
(the costly part of compiling it) is made once, by the first worker that needs it, and stored
in the cache (:mod:`.cache`); a worker that later helps with that schedule loads it instead
of measuring again. Symbolic results come from the cache when the same code already proved them.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import resource
import time
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any

import torch

from s2n_theory import symbolic_memo
from s2n_theory.numeric_schedule import schedule_functions
from s2n_theory.schedule import Schedule

from .cache import Cache, schedule_fingerprint
from .registry import Check, CheckResult, run_check

CACHED_METHODS = ("symbolic",)
"""Checks registered with these methods are cached; numeric and Monte Carlo checks always rerun."""
CACHED_STATUSES = ("pass", "fail", "skip")
"""Statuses worth remembering (an error may be transient: it is always recomputed)."""
CACHED_NOTE = " [cached]"
"""Appended to the detail of a result read from the cache."""
FORMS_TASK = "codegen:forms:install"
"""Timings key (``FORMS_TASK@schedule``): installing a schedule's codegen forms (selected, or loaded from the cache)."""

_STATE: dict[str, Any] = {}
"""The run a worker serves (checks, schedules, level, cache), installed by :func:`_init_worker`."""
_FORMS_LOADED: set[int] = set()
"""Schedules (by index) whose stored forms this process has installed."""


def task_name(check: Check, schedule: Schedule) -> str:
    return f"{check.key}@{schedule.name}"


def _init_worker(state: dict[str, Any]) -> None:
    # The checks' tensors are small: one torch thread per worker, the workers give the parallelism.
    torch.set_num_threads(1)
    _STATE.clear()
    _STATE.update(state)
    _FORMS_LOADED.clear()


def _memo_session(state: dict[str, Any]) -> contextlib.AbstractContextManager:
    """The symbolic memo, active for a process's tasks; what they add is stored for the next run's workers."""
    cache: Cache | None = state["cache"]
    return symbolic_memo.session(state["memo"], cache.save_memo if cache is not None else lambda entries: None)


def _load_forms(index: int) -> None:
    """Install schedule ``index``'s inverse-λ solve and codegen forms: from the cache, or made here once and stored
    for the others."""
    cache: Cache | None = _STATE["cache"]
    schedule = _STATE["schedules"][index]
    if cache is None or index in _FORMS_LOADED or schedule.is_general:
        return
    _FORMS_LOADED.add(index)
    try:
        if not cache.load_inverse(schedule):
            cache.save_inverse(schedule)
        functions = schedule_functions(schedule)
        if not cache.load_forms(functions):
            cache.save_forms(functions)
    except Exception:  # noqa: BLE001 - the checks that compile this schedule meet the error and report it
        return


def _cpu_seconds() -> float:
    # This process and its reaped children (SymPy's time-limited child is one).
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _needs_forms(check: Check, schedule: Schedule) -> bool:
    """Whether the check compiles the schedule (numbers on a concrete schedule it does not skip)."""
    return check.method != "symbolic" and check.concrete and not schedule.is_general


def _run_task(check_index: int, schedule_index: int) -> tuple[CheckResult, float, tuple[float, float] | None]:
    """The result of one check on one schedule, the CPU seconds it took, and (wall, CPU) seconds of installing
    the schedule's codegen forms first when this process had not yet (shared by the schedule's checks)."""
    forms = None
    if schedule_index not in _FORMS_LOADED and _needs_forms(_STATE["checks"][check_index],
                                                             _STATE["schedules"][schedule_index]):
        started, cpu = time.perf_counter(), _cpu_seconds()
        _load_forms(schedule_index)
        forms = (time.perf_counter() - started, _cpu_seconds() - cpu)
    cpu = _cpu_seconds()
    result = _check_or_cached(check_index, schedule_index)
    return result, _cpu_seconds() - cpu, forms


def _cached_result(cache: Cache, check: Check, schedule: Schedule, level: str,
                   fingerprint: str | None = None) -> CheckResult | None:
    """The stored result of a cached check (marked as such), or None when it must be computed."""
    if check.method not in CACHED_METHODS:
        return None
    started = time.perf_counter()
    stored = cache.get_result(cache.result_key(check.key, schedule, level, fingerprint))
    try:
        cached = CheckResult(**stored) if stored is not None else None
    except TypeError:  # an entry of another shape (cannot happen with the same code): recompute
        return None
    if cached is not None:
        cached.detail += CACHED_NOTE
        cached.seconds = time.perf_counter() - started
    return cached


def _check_or_cached(check_index: int, schedule_index: int) -> CheckResult:
    check: Check = _STATE["checks"][check_index]
    schedule: Schedule = _STATE["schedules"][schedule_index]
    level: str = _STATE["level"]
    cache: Cache | None = _STATE["cache"]
    if cache is not None:
        cached = _cached_result(cache, check, schedule, level)
        if cached is not None:
            return cached
    result = run_check(check, schedule, level)
    if cache is not None and check.method in CACHED_METHODS and result.status in CACHED_STATUSES:
        cache.put_result(cache.result_key(check.key, schedule, level), result.to_dict())
    return result


def _estimated_seconds(checks: Sequence[Check], schedules: Sequence[Schedule],
                       timings: dict[str, list[float]]) -> dict[tuple[int, int], float]:
    """Each task's wall seconds when last computed; unknown tasks by method (Monte Carlo, the costliest, first)."""
    unknown = {"montecarlo": 4.0, "gpu": 3.0, "numeric": 2.0, "symbolic": 1.0}
    estimates = {}
    for c, check in enumerate(checks):
        for s, schedule in enumerate(schedules):
            known = timings.get(task_name(check, schedule))
            estimates[(c, s)] = known[0] if known else unknown.get(check.method, 1.0)
    return estimates


class _Dispatcher:
    """Which task an idle worker runs next: tasks of one schedule stay in one worker while that keeps all busy.

    A worker first takes the longest task of a schedule it has already worked on (its derivations,
    compiled code and cached SymPy results are warm there); with none left, the schedule with the
    most remaining work that no worker has started; with none left either, it helps with the
    schedule that has the most work left (longest tasks first), so no worker idles while work remains.
    """

    def __init__(self, estimates: dict[tuple[int, int], float]) -> None:
        self.estimates = estimates
        self.pending: dict[int, list[tuple[int, int]]] = {}
        for task in sorted(estimates, key=lambda t: (-estimates[t], t)):
            self.pending.setdefault(task[1], []).append(task)
        self.homes: dict[int, set[int]] = {}  # worker -> schedules it has run tasks of

    def remaining(self, schedule: int) -> float:
        return sum(self.estimates[t] for t in self.pending.get(schedule, []))

    def next_task(self, worker: int) -> tuple[int, int] | None:
        left = [s for s, tasks in self.pending.items() if tasks]
        if not left:
            return None
        home = [s for s in left if s in self.homes.get(worker, set())]
        started = set().union(*self.homes.values())
        fresh = [s for s in left if s not in started]
        schedule = max(home or fresh or left, key=lambda s: (self.remaining(s), -s))
        self.homes.setdefault(worker, set()).add(schedule)
        return self.pending[schedule].pop(0)


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """What the process has built so far, frozen (``gc.freeze``) for the duration: the collector skips it.

    For a run's parent process: its imports, schedules and memo live as long as the run, and a collection that
    walks them frees nothing (one full pass over the imports costs about 0.2 s), and its forked workers do not
    walk them (nor write to their pages) again either. Released on leaving, unless the caller had frozen objects
    itself (``unfreeze`` would release those too); nested uses release only at the outermost.
    """
    frozen_by_caller = gc.get_freeze_count()
    gc.freeze()
    try:
        yield
    finally:
        if not frozen_by_caller:
            gc.unfreeze()


def default_jobs() -> int:
    """The machine's cores available to this process."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def run_tasks(
    checks: Sequence[Check],
    schedules: Sequence[Schedule],
    level: str,
    *,
    jobs: int = 1,
    cache: Cache | None = None,
    on_result: Callable[[CheckResult], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    memo: dict[str, Any] | None = None,
) -> list[CheckResult]:
    """Every check on every schedule; results in serial order (check by check, each on every schedule).

    ``memo``: the symbolic memo's entries when the caller already loaded them from ``cache`` (else loaded here).
    """
    order = [(c, s) for c in range(len(checks)) for s in range(len(schedules))]
    total = len(order)
    # The symbolic memo's stored entries, loaded once here: the workers inherit them.
    state = {"checks": list(checks), "schedules": list(schedules), "level": level, "cache": cache,
             "memo": memo if memo is not None or cache is None else cache.load_memo()}
    results: list[CheckResult | None] = [None] * total
    position = {task: i for i, task in enumerate(order)}
    emitted = 0

    cpu: dict[tuple[int, int], float] = {}
    forms: dict[int, list[float]] = {}

    def finish(task: tuple[int, int], outcome: tuple[CheckResult, float, tuple[float, float] | None],
               done: int) -> None:
        nonlocal emitted
        results[position[task]], cpu[task], installed = outcome
        if installed is not None:
            spent = forms.setdefault(task[1], [0.0, 0.0])
            spent[0], spent[1] = spent[0] + installed[0], spent[1] + installed[1]
        if on_progress is not None:
            on_progress(done, total)
        while emitted < total and results[emitted] is not None:
            if on_result is not None:
                on_result(results[emitted])  # type: ignore[arg-type]
            emitted += 1

    timings = cache.timings() if cache is not None else {}
    to_run = order
    if cache is not None:
        # Stored results are served here, in order, before any worker starts: a worker's time goes to computing.
        fingerprints = [schedule_fingerprint(schedule) for schedule in schedules]
        to_run, served = [], 0
        for task in order:
            cached = _cached_result(cache, checks[task[0]], schedules[task[1]], level, fingerprints[task[1]])
            if cached is None:
                to_run.append(task)
            else:
                served += 1
                finish(task, (cached, 0.0, None), served)
    done_before = total - len(to_run)
    if jobs <= 1 or len(to_run) <= 1:
        saved = dict(_STATE)
        _init_worker(state)
        try:
            with _memo_session(state):
                for done, task in enumerate(to_run, start=done_before + 1):
                    finish(task, _run_task(*task), done)
        finally:
            _STATE.clear()
            _STATE.update(saved)
    elif to_run:
        estimates = _estimated_seconds(checks, schedules, timings)
        # What the parent built lives as long as the workers: frozen before the fork, their collections skip it.
        with frozen_heap():
            _run_parallel(state, _Dispatcher({task: estimates[task] for task in to_run}), min(jobs, len(to_run)),
                          finish, done_before)
    final = [r for r in results if r is not None]
    if cache is not None:
        for c, s in order:
            result = results[position[(c, s)]]
            if result is not None and not result.detail.endswith(CACHED_NOTE):
                timings[task_name(checks[c], schedules[s])] = [result.seconds, cpu.get((c, s), 0.0)]
        for s, spent in forms.items():
            timings[f"{FORMS_TASK}@{schedules[s].name}"] = spent
        cache.save_timings(timings)
    return final


def _worker_main(connection: Connection, state: dict[str, Any]) -> None:
    """A worker's loop: receive a task, send back its result, until told to stop (None) or the parent is gone."""
    _init_worker(state)
    with _memo_session(state):
        while True:
            try:
                task = connection.recv()
            except (EOFError, OSError):
                return
            if task is None:
                return
            try:
                outcome: Any = _run_task(*task)
            except BaseException as exc:  # noqa: BLE001 - run_check reports a check's errors; this is the runner's own
                outcome = exc
            connection.send((task, outcome))


def _failed_row(state: dict[str, Any], task: tuple[int, int], why: str) -> tuple[CheckResult, float, None]:
    check, schedule = state["checks"][task[0]], state["schedules"][task[1]]
    return CheckResult(check.claim, schedule.name, check.method, "error", None, 0.0, why), 0.0, None


def _run_parallel(state: dict[str, Any], dispatcher: _Dispatcher, jobs: int,
                  finish: Callable[[tuple[int, int], tuple[CheckResult, float, Any], int], None],
                  done: int = 0) -> None:
    # fork: workers start in milliseconds and inherit the registered checks; spawn where fork does not exist.
    # The workers are ordinary (non-daemonic) processes, so a check may fork SymPy's time-limited child.
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    workers: dict[int, tuple[Any, Connection]] = {}
    running: dict[int, tuple[int, int]] = {}

    def start(worker: int) -> None:
        parent_end, child_end = context.Pipe()
        process = context.Process(target=_worker_main, args=(child_end, state), name=f"s2n-verify-{worker}")
        process.start()
        child_end.close()
        workers[worker] = (process, parent_end)

    def assign(worker: int) -> None:
        task = dispatcher.next_task(worker)
        if task is None:
            workers[worker][1].send(None)
            return
        running[worker] = task
        workers[worker][1].send(task)

    try:
        for worker in range(jobs):
            start(worker)
            assign(worker)
        while running:
            by_connection = {workers[w][1]: w for w in running}
            for connection in wait(list(by_connection)):
                worker = by_connection[connection]  # type: ignore[index]
                task = running.pop(worker)
                try:
                    received_task, outcome = connection.recv()  # type: ignore[union-attr]
                    if isinstance(outcome, BaseException):
                        outcome = _failed_row(state, task, f"runner error: {type(outcome).__name__}: {outcome}")
                except (EOFError, OSError):
                    # The worker died (killed, out of memory): report its task, start a fresh worker.
                    workers[worker][0].join(timeout=5)
                    code = workers[worker][0].exitcode
                    outcome = _failed_row(state, task, f"worker process failed (exit code {code})")
                    start(worker)
                done += 1
                finish(task, outcome, done)
                assign(worker)
    finally:
        for _process, connection in workers.values():
            try:
                connection.send(None)
            except (OSError, ValueError):
                pass
        for process, connection in workers.values():
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
                process.join()
            connection.close()
