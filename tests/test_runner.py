"""The runner behind ``s2n verify``: parallel results in serial order, the cache, its invalidation, the progress."""

import gc
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

from s2n_theory import cli, codegen, forward
from s2n_theory import schedule as schedule_module
from s2n_theory.codegen import python_source, selection
from s2n_theory.numeric_schedule import schedule_functions
from s2n_theory.schedule_spec import get_schedule
from s2n_theory.symbols import LAMBDA, T
from s2n_theory.time_limit import TimeLimitExceeded, call_within, latest_within
from s2n_theory.verification import registry, runner, suite
from s2n_theory.verification.cache import Cache, schedule_fingerprint
from s2n_theory.verification.registry import Check, Outcome

ROOT = Path(__file__).resolve().parents[1]
CHEAP = ["F2", "F4"]
SCHEDULES = ["vp-linear", "vdm", "general"]


def _row(result):
    return (result.claim, result.schedule, result.method, result.status, result.residual, result.detail)


def test_parallel_results_come_in_the_serial_order():
    serial = suite.run(CHEAP, SCHEDULES, jobs=1)
    streamed, progress = [], []
    parallel = suite.run(CHEAP, SCHEDULES, jobs=2, on_result=streamed.append,
                         on_progress=lambda done, total: progress.append((done, total)))
    assert [_row(r) for r in parallel] == [_row(r) for r in serial]
    assert [_row(r) for r in streamed] == [_row(r) for r in serial]
    # Serial order: claim by claim, each on every schedule.
    assert [(r.claim, r.schedule) for r in serial] == [(c, s) for c in CHEAP for s in SCHEDULES]
    assert progress == [(k, len(serial)) for k in range(1, len(serial) + 1)]


def _counting(n):
    yield from range(n)


def _forks_a_time_limited_child(schedule, level):
    # What the symbolic checks do: SymPy under a time limit runs in a forked child.
    value = latest_within(_counting, (3,), 10.0)
    return Outcome(value == 2, "numeric", float(2 - value), "time-limited child ran", tolerance=0.0)


def test_workers_may_fork_the_time_limit_child():
    check = Check("F2", "numeric", "forks a child", _forks_a_time_limited_child)
    results = runner.run_tasks([check], [get_schedule("vp-linear"), get_schedule("vdm")], "quick", jobs=2)
    assert [r.status for r in results] == ["pass", "pass"], [r.detail for r in results]


def _passes(schedule, level):
    return Outcome(True, "numeric", 0.0, "passes", tolerance=0.0)


def test_a_parallel_run_releases_only_what_it_froze():
    """The parent freezes its objects for the workers' sake; afterwards the collector is as it was: nothing frozen
    when nothing was, and what the caller had frozen still frozen."""
    check = Check("F2", "numeric", "passes", _passes)
    schedules = [get_schedule("vp-linear"), get_schedule("vdm")]
    assert gc.get_freeze_count() == 0
    runner.run_tasks([check], schedules, "quick", jobs=2)
    assert gc.get_freeze_count() == 0
    gc.freeze()
    try:
        runner.run_tasks([check], schedules, "quick", jobs=2)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_frozen_heap_freezes_for_its_block_and_releases_only_at_the_outermost():
    assert gc.get_freeze_count() == 0
    with runner.frozen_heap():
        frozen = gc.get_freeze_count()
        assert frozen > 0, "what the process built is frozen inside the block"
        built_since = [[] for _ in range(1000)]  # container objects: tracked by the collector
        with runner.frozen_heap():
            assert gc.get_freeze_count() >= frozen + len(built_since)
        assert gc.get_freeze_count() >= frozen + len(built_since), "the inner block released nothing"
    assert gc.get_freeze_count() == 0


def test_the_program_runs_its_command_with_the_imports_frozen_and_releases_them(monkeypatch):
    """The s2n process's imports live until it exits; the collector skips them while a command runs."""
    seen = []
    monkeypatch.setattr(cli, "main", lambda: seen.append(gc.get_freeze_count()))
    monkeypatch.setattr(sys, "argv", ["s2n", "schedules"])
    assert gc.get_freeze_count() == 0
    cli.program()
    assert seen and seen[0] > 0
    assert gc.get_freeze_count() == 0


def test_second_run_reads_symbolic_results_and_reruns_numbers(tmp_path):
    cache = Cache(tmp_path)
    first = suite.run(["F2", "X1"], ["vdm"], jobs=1, cache=cache)
    second = suite.run(["F2", "X1"], ["vdm"], jobs=2, cache=cache)
    by_method = {r.method: r for r in second}
    assert by_method["symbolic"].detail.endswith(runner.CACHED_NOTE)
    assert not by_method["numeric"].detail.endswith(runner.CACHED_NOTE)  # numeric checks always rerun
    assert [(r.claim, r.method, r.status, r.residual) for r in second] == \
        [(r.claim, r.method, r.status, r.residual) for r in first]
    assert list((tmp_path / "forms").glob("*.pickle")), "the form selection of vdm is stored"


def test_stored_forms_carry_the_module_text_so_a_later_process_prints_nothing(tmp_path, monkeypatch):
    schedule = get_schedule("vp-cosine")
    Cache(tmp_path).save_forms(schedule_functions(schedule))
    # A later process: nothing selected or printed in memory yet, printing refused.
    monkeypatch.setattr(selection, "_FORMS_CACHE", {})
    monkeypatch.setattr(codegen, "python_source", lambda *a: pytest.fail("the stored module text was not used"))
    functions = schedule_functions(schedule)
    assert Cache(tmp_path).load_forms(functions)
    module = codegen.python_module(functions, "numpy")
    t = np.linspace(schedule.t_min, schedule.t_max, 7)
    expected = sp.lambdify(T, schedule.alpha, "numpy")(t)  # the schedule's own α, not the generated code's
    np.testing.assert_allclose(module.alpha(t), expected, rtol=1e-12)
    monkeypatch.undo()
    # The stored text is what printing the same forms gives.
    stored = selection.export_forms(functions)
    assert codegen.module_source(functions, "torch") == python_source(stored, "torch")
    assert len(stored.sources) == 2, "numpy and torch texts were stored"


def test_the_inverse_solve_is_stored_and_a_later_process_does_not_solve_again(tmp_path, monkeypatch):
    Cache(tmp_path).save_inverse(get_schedule("vp-linear"))
    # A later process: no solve made in memory yet, and solving refused.
    monkeypatch.setattr(schedule_module, "_INVERSE_CACHE", {})
    monkeypatch.setattr(schedule_module, "_solve_steps", lambda *a: pytest.fail("solved again"))
    fresh = get_schedule("vp-linear")
    assert Cache(tmp_path).load_inverse(fresh)
    assert fresh.inverse_log_snr is not None
    t = np.linspace(fresh.t_min, fresh.t_max, 9)
    lam = sp.lambdify(T, fresh.log_snr, "numpy")(t)
    np.testing.assert_allclose(sp.lambdify(LAMBDA, fresh.inverse_log_snr, "numpy")(lam), t, rtol=1e-9)


def test_cache_key_separates_schedules_levels_and_checks(tmp_path):
    cache = Cache(tmp_path)
    a, b = get_schedule("vp-linear"), get_schedule("vp-linear(beta_max=19)")
    assert schedule_fingerprint(a) != schedule_fingerprint(b)
    keys = {cache.result_key("F1:symbolic:f", a, "quick"), cache.result_key("F1:symbolic:f", b, "quick"),
            cache.result_key("F1:symbolic:f", a, "full"), cache.result_key("F2:symbolic:f", a, "quick")}
    assert len(keys) == 4


def test_injected_error_in_one_session_is_not_hidden_by_the_cache(tmp_path, monkeypatch, short_budget):
    # In-process injection (monkeypatch) never meets the cache: suite.run caches only when given one.
    original = forward.diffusion_squared
    cache = Cache(tmp_path)
    assert all(r.status == "pass" for r in suite.run(["F1"], ["vp-linear"], cache=cache))
    monkeypatch.setattr(forward, "diffusion_squared", lambda s: 2 * original(s))
    assert suite.run(["F1"], ["vp-linear"])[0].status == "fail"


def _copy_package(target: Path) -> Path:
    package = target / "s2n_theory"
    shutil.copytree(ROOT / "s2n_theory", package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "verification", package / "verification", ignore=shutil.ignore_patterns("__pycache__"))
    return package


def _verify(copy: Path, cache_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(copy), "S2N_CACHE_DIR": str(cache_dir)}
    return subprocess.run([sys.executable, "-m", "s2n_theory.cli", *args], capture_output=True, text=True,
                          timeout=300, env=env, cwd=copy)


@pytest.mark.slow  # four CLI runs on a copy of the package (~30 s on two idle cores)
def test_a_code_edit_invalidates_the_cache_so_a_failing_check_never_passes_from_it(tmp_path):
    package = _copy_package(tmp_path / "src")
    cache_dir = tmp_path / "cache"
    args = ("verify", "--only", "F1", "-s", "vp-linear", "-j", "1")
    first = _verify(tmp_path / "src", cache_dir, *args)
    assert first.returncode == 0, first.stdout + first.stderr
    again = _verify(tmp_path / "src", cache_dir, *args)
    assert again.returncode == 0 and runner.CACHED_NOTE in again.stdout, again.stdout
    # Inject a wrong formula in the source (g² doubled), exactly as a developer's edit would.
    source = package / "forward.py"
    text = source.read_text()
    line = "        lambda: -sp.exp(-schedule.log_snr) * sp.diff(schedule.log_snr, T) * schedule.alpha**2)\n"
    assert line in text
    source.write_text(text.replace(line, line.replace("lambda: -sp.exp", "lambda: -2 * sp.exp")))
    broken = _verify(tmp_path / "src", cache_dir, *args)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "fail" in broken.stdout and runner.CACHED_NOTE not in broken.stdout
    cleared = subprocess.run([sys.executable, "-m", "s2n_theory.cli", "cache", "clear"], capture_output=True,
                             text=True, timeout=120, cwd=tmp_path / "src",
                             env={**os.environ, "PYTHONPATH": str(tmp_path / "src"), "S2N_CACHE_DIR": str(cache_dir)})
    assert cleared.returncode == 0 and not cache_dir.exists()


def test_plain_progress_lines_off_a_terminal(tmp_path, monkeypatch, run_s2n):
    # Captured output is not a terminal, as in a pipe; tests/test_cli.py starts `s2n verify` as a real process.
    monkeypatch.setenv("S2N_CACHE_DIR", str(tmp_path))
    proc = run_s2n("verify", "--only", "F2", "-s", "vdm", "-j", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "progress: 1/1 checks" in proc.stderr
    assert "with -j 2" in proc.stdout


def test_call_within_stops_a_runaway_call_and_leaves_no_stray_exception():
    def spin() -> None:
        while True:
            pass

    started = time.monotonic()
    with pytest.raises(TimeLimitExceeded):
        call_within(spin, (), 0.3)
    assert time.monotonic() - started < 5
    assert call_within(lambda a: a + 1, (41,), 5.0) == 42
    with pytest.raises(ZeroDivisionError):
        call_within(lambda: 1 / 0, (), 5.0)
    for _ in range(200):  # limits that expire around the return must not leak an exception afterwards
        try:
            call_within(lambda: sum(range(20_000)), (), 2e-3)
        except TimeLimitExceeded:
            pass
    time.sleep(0.05)


def test_call_within_nests_an_inner_limit_never_reports_or_swallows_the_outer_one():
    def spin() -> None:
        while True:
            pass

    def inner_call() -> str:
        try:
            call_within(spin, (), 5.0)  # the outer limit (0.3 s) fires first, inside this call
        except TimeLimitExceeded:
            return "inner reported the outer limit as its own"
        return "inner returned"

    started = time.monotonic()
    with pytest.raises(TimeLimitExceeded):
        call_within(inner_call, (), 0.3)
    assert time.monotonic() - started < 4
    # and an inner limit that fires is the inner call's alone: the outer call goes on and returns
    assert call_within(lambda: _inner_timeout_then(7), (), 5.0) == 7


def _inner_timeout_then(value: int) -> int:
    def spin() -> None:
        while True:
            pass

    try:
        call_within(spin, (), 0.1)
    except TimeLimitExceeded:
        return value
    return -1


def test_a_check_past_its_row_limit_is_an_error_row_and_the_run_goes_on(monkeypatch):
    def runaway(schedule, level):
        while True:
            pass

    monkeypatch.setitem(registry.ROW_SECONDS, "quick", 0.5)
    check = registry.Check("F1", "numeric", "runaway", runaway)
    result = registry.run_check(check, get_schedule("vdm"), "quick")
    assert result.status == "error" and "0.5 s time limit" in result.detail
    ok = registry.Check("F1", "numeric", "quick", lambda s, level: registry.Outcome(True, "numeric", 0.0, "", 1.0))
    assert registry.run_check(ok, get_schedule("vdm"), "quick").status == "pass"


def test_dispatcher_keeps_a_schedules_tasks_in_one_worker_and_lets_no_worker_idle():
    # Three schedules of 4 tasks each: two workers start on different schedules and stay with them.
    estimates = {(c, s): float(10 - c) for c in range(4) for s in range(3)}
    dispatcher = runner._Dispatcher(estimates)
    first = [dispatcher.next_task(0), dispatcher.next_task(1)]
    assert first[0][1] != first[1][1] and all(task[0] == 0 for task in first)  # longest task of each first
    ran: dict[int, list[tuple[int, int]]] = {0: [first[0]], 1: [first[1]]}
    worker = 0
    while (task := dispatcher.next_task(worker)) is not None:
        ran[worker].append(task)
        worker = 1 - worker
    assert sorted(ran[0] + ran[1]) == sorted(estimates)  # every task exactly once
    for tasks in ran.values():  # each schedule's tasks stay together until one worker would idle
        schedules = [s for _, s in tasks]
        assert schedules == sorted(schedules, key=schedules.index)
    # One schedule, two workers: the second helps rather than idles.
    single = runner._Dispatcher({(c, 0): 1.0 for c in range(3)})
    assert single.next_task(0) is not None and single.next_task(1) is not None


def _dies(schedule, level):
    os._exit(3)  # a worker killed mid-task (out of memory, a signal)


def test_a_dying_worker_becomes_an_error_row_and_the_run_goes_on():
    dying = Check("F2", "numeric", "dies", _dies)
    fine = Check("F4", "numeric", "fine",
                 lambda schedule, level: Outcome(True, "numeric", 0.0, "", 1.0))
    results = runner.run_tasks([dying, fine], [get_schedule("vp-linear"), get_schedule("vdm")], "quick", jobs=2)
    assert [r.status for r in results] == ["error", "error", "pass", "pass"], [r.detail for r in results]
    assert "worker process failed (exit code 3)" in results[0].detail
