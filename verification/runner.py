"""Running checks: serially or in worker processes, results always in the serial order.

A task is one check on one schedule. With ``jobs > 1`` the tasks run in a
:class:`~concurrent.futures.ProcessPoolExecutor`; its workers are ordinary (non-daemonic)
processes, so a check may still fork the child that enforces SymPy's time limit
(:mod:`s2n_theory.time_limit`). Results are buffered and handed on in the serial order, so
the output of ``-j 8`` is row for row the output of ``-j 1``; only the timings differ.

No work done twice: before the checks start, each concrete schedule's codegen form
selection (the costly part of compiling a schedule) is made once, by one worker, and
stored in the cache (:mod:`.cache`); every worker then loads it instead of measuring
again. Symbolic results come from the cache when the same code already proved them.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from typing import Any

import torch

from s2n_theory.numeric_schedule import schedule_functions
from s2n_theory.schedule import Schedule

from .cache import Cache
from .registry import Check, CheckResult, run_check

CACHED_METHODS = ("symbolic",)
"""Checks registered with these methods are cached; numeric and Monte Carlo checks always rerun."""
CACHED_STATUSES = ("pass", "fail", "skip")
"""Statuses worth remembering (an error may be transient: it is always recomputed)."""
CACHED_NOTE = " [cached]"
"""Appended to the detail of a result read from the cache."""

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


def _prepare(index: int) -> None:
    """Select the codegen forms of schedule ``index`` once and store them (no-op when stored already)."""
    cache: Cache = _STATE["cache"]
    _FORMS_LOADED.add(index)
    try:
        functions = schedule_functions(_STATE["schedules"][index])
        if not cache.load_forms(functions):
            cache.save_forms(functions)
    except Exception:  # noqa: BLE001 - the checks that compile this schedule meet the error and report it
        return


def _load_forms(index: int) -> None:
    cache: Cache | None = _STATE["cache"]
    schedule = _STATE["schedules"][index]
    if cache is None or index in _FORMS_LOADED or schedule.is_general:
        return
    _FORMS_LOADED.add(index)
    if index in _STATE["prepared"]:
        cache.load_forms(schedule_functions(schedule))


def _cpu_seconds() -> float:
    # This process and its reaped children (SymPy's time-limited child is one).
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _run_task(check_index: int, schedule_index: int) -> tuple[CheckResult, float]:
    """The result of one check on one schedule, and the CPU seconds it took."""
    cpu = _cpu_seconds()
    result = _check_or_cached(check_index, schedule_index)
    return result, _cpu_seconds() - cpu


def _check_or_cached(check_index: int, schedule_index: int) -> CheckResult:
    check: Check = _STATE["checks"][check_index]
    schedule: Schedule = _STATE["schedules"][schedule_index]
    level: str = _STATE["level"]
    cache: Cache | None = _STATE["cache"]
    started = time.perf_counter()
    key = None
    if cache is not None and check.method in CACHED_METHODS:
        key = cache.result_key(check.key, schedule, level)
        stored = cache.get_result(key)
        try:
            cached = CheckResult(**stored) if stored is not None else None
        except TypeError:  # an entry of another shape (cannot happen with the same code): recompute
            cached = None
        if cached is not None:
            cached.detail += CACHED_NOTE
            cached.seconds = time.perf_counter() - started
            return cached
    _load_forms(schedule_index)
    result = run_check(check, schedule, level)
    if key is not None and result.status in CACHED_STATUSES:
        cache.put_result(key, result.to_dict())
    return result


def _needs_numbers(check: Check) -> bool:
    return check.method != "symbolic"


def _submission_order(checks: Sequence[Check], schedules: Sequence[Schedule],
                      timings: dict[str, list[float]]) -> list[tuple[int, int]]:
    """Longest tasks first (by last run's time; Monte Carlo first when unknown) so no worker idles at the end."""
    rank = {"montecarlo": 0, "gpu": 1, "numeric": 2, "symbolic": 3}
    tasks = [(c, s) for c in range(len(checks)) for s in range(len(schedules))]

    def priority(task: tuple[int, int]) -> tuple[float, int, int]:
        check, schedule = checks[task[0]], schedules[task[1]]
        known = timings.get(task_name(check, schedule))
        return (-known[0] if known else -1e9 + rank.get(check.method, 4), *task)

    return sorted(tasks, key=priority)


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
) -> list[CheckResult]:
    """Every check on every schedule; results in serial order (check by check, each on every schedule)."""
    order = [(c, s) for c in range(len(checks)) for s in range(len(schedules))]
    total = len(order)
    needs_numbers = any(_needs_numbers(c) for c in checks)
    prepare = [i for i, s in enumerate(schedules) if cache is not None and needs_numbers and not s.is_general]
    state = {"checks": list(checks), "schedules": list(schedules), "level": level, "cache": cache,
             "prepared": set(prepare)}
    results: list[CheckResult | None] = [None] * total
    position = {task: i for i, task in enumerate(order)}
    emitted = 0

    cpu: dict[tuple[int, int], float] = {}

    def finish(task: tuple[int, int], outcome: tuple[CheckResult, float], done: int) -> None:
        nonlocal emitted
        results[position[task]], cpu[task] = outcome
        if on_progress is not None:
            on_progress(done, total)
        while emitted < total and results[emitted] is not None:
            if on_result is not None:
                on_result(results[emitted])  # type: ignore[arg-type]
            emitted += 1

    timings = cache.timings() if cache is not None else {}
    if jobs <= 1 or total <= 1:
        saved = dict(_STATE)
        _init_worker(state)
        try:
            for index in prepare:
                _prepare(index)
            for done, task in enumerate(order, start=1):
                finish(task, _run_task(*task), done)
        finally:
            _STATE.clear()
            _STATE.update(saved)
    else:
        _run_parallel(state, prepare, _submission_order(checks, schedules, timings), min(jobs, total), finish)
    final = [r for r in results if r is not None]
    if cache is not None:
        for c, s in order:
            result = results[position[(c, s)]]
            if result is not None and not result.detail.endswith(CACHED_NOTE):
                timings[task_name(checks[c], schedules[s])] = [result.seconds, cpu.get((c, s), 0.0)]
        cache.save_timings(timings)
    return final


def _run_parallel(state: dict[str, Any], prepare: list[int], tasks: list[tuple[int, int]], jobs: int,
                  finish: Callable[[tuple[int, int], tuple[CheckResult, float], int], None]) -> None:
    # fork: workers start in milliseconds and inherit the registered checks; spawn where fork does not exist.
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_init_worker,
                             initargs=(state,)) as pool:
        try:
            # One form selection per schedule, shared through the cache by every worker.
            for future in as_completed([pool.submit(_prepare, index) for index in prepare]):
                future.result()
            futures: dict[Future, tuple[int, int]] = {pool.submit(_run_task, *task): task for task in tasks}
            for done, future in enumerate(as_completed(futures), start=1):
                task = futures[future]
                try:
                    result = future.result()
                except Exception as exc:  # noqa: BLE001 - a worker that died is reported, never hidden
                    check, schedule = state["checks"][task[0]], state["schedules"][task[1]]
                    result = (CheckResult(check.claim, schedule.name, check.method, "error", None, 0.0,
                                          f"worker process failed: {type(exc).__name__}: {exc}"), 0.0)
                finish(task, result, done)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
