"""Issue 13 §1, the real thing (slow): a Dask scheduler and two workers started as separate
`dask scheduler` / `dask worker` processes on 127.0.0.1, and sweeps killed with SIGKILL midway then
resumed on every executor (serial, local processes, dask): no row lost, none duplicated; a killed
`--executor local` parent leaves no worker running. Every process started here is stopped at the end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from s2n_theory import sweep

pytestmark = pytest.mark.slow

SLOW_MODEL = """
import time

class D:
    dim = 2

    def __call__(self, x, t):
        time.sleep(0.05)  # a denoiser slow enough that a sweep can be caught midway
        return 0.5 * x
"""

RUNS = 16
SETTINGS = ["--target", "slow_model:D", "--nfe", "10", "--seed", ",".join(str(s) for s in range(RUNS)),
            "--schedule", "vp-linear", "--grid", "uniform-t", "--samples", "64", "--no-progress"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    (folder / "slow_model.py").write_text(SLOW_MODEL)
    # Slower still, for the test that must start a second process while the first sweep is running: a whole
    # sweep of this one (32 s) outlasts a second `s2n` start-up even on a loaded machine.
    (folder / "slower_model.py").write_text(SLOW_MODEL.replace("time.sleep(0.05)", "time.sleep(0.2)"))
    (folder / "c.toml").write_text("[sweep]\nedm = false\n")
    return folder


def _env(model_dir: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(model_dir), os.environ.get("PYTHONPATH", "")])}


def _start(args: list[str], model_dir: Path, log: Path) -> subprocess.Popen:
    # Own session: the whole process group can be stopped at the end, whatever it started.
    return subprocess.Popen(args, env=_env(model_dir), stdout=open(log, "w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(30)


def _sweep_args(model_dir: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-c", "from s2n_theory.cli import main; main()", "sweep", "-c", str(model_dir / "c.toml"),
            "--out", str(out), *SETTINGS, *extra]


@pytest.fixture(scope="module")
def cluster(model_dir, tmp_path_factory):
    """`dask scheduler` and two `dask worker` processes, 127.0.0.1 only, stopped at the end."""
    pytest.importorskip("distributed")
    folder = tmp_path_factory.mktemp("cluster")
    address_file = folder / "scheduler.json"
    dask = [sys.executable, "-m", "dask"]  # the `dask` command of this environment
    procs = [_start([*dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file",
                     str(address_file)], model_dir, folder / "scheduler.log")]
    try:
        deadline = time.monotonic() + 60
        while not address_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert address_file.exists(), (folder / "scheduler.log").read_text()
        for k in range(2):
            procs.append(_start([*dask, "worker", "--scheduler-file",
                                 str(address_file), "--host", "127.0.0.1", "--nworkers", "1", "--nthreads", "1",
                                 "--no-dashboard", "--local-directory", str(folder / f"w{k}")],
                                model_dir, folder / f"worker{k}.log"))
        from distributed import Client

        address = json.loads(address_file.read_text())["address"]
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=90)
        yield address
    finally:
        for proc in reversed(procs):
            _stop(proc)


def _lines(out: Path) -> list[str]:
    path = out / "results.jsonl"
    return path.read_text().splitlines() if path.exists() else []


def _expected_ids(model_dir: Path, out: Path, target: str = "slow_model:D") -> set[str]:
    cfg = sweep.load_config(model_dir / "c.toml", {"out": str(out), "target": target, "nfe": [10],
                                                   "seeds": list(range(RUNS)), "schedules": ["vp-linear"],
                                                   "grids": ["uniform-t"], "samples": 64})
    return {r["run_id"] for r in sweep.expand(cfg)}


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"spawn_main" in cmdline:
                found.append(int(entry.name))
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _kill_midway_and_resume(model_dir: Path, out: Path, extra: list[str]) -> None:
    first = _start(_sweep_args(model_dir, out, *extra), model_dir, out.parent / f"{out.name}-1.log")
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 180
        while len(_lines(out)) < 3 and first.poll() is None and time.monotonic() < deadline:
            if "local" in extra and len(workers) < 2:
                workers = _children(first.pid)
            time.sleep(0.05)
        os.kill(first.pid, signal.SIGKILL)  # the sweep's own process only: its workers are on their own now
        first.wait(30)
        before = [json.loads(line) for line in _lines(out) if line.endswith("}")]
        log = (out.parent / f"{out.name}-1.log").read_text()
        assert 3 <= len(before) < RUNS, f"not killed midway ({len(before)} rows); log: {log}"
        if "local" in extra:
            assert len(workers) == 2, workers
            deadline = time.monotonic() + 15
            while any(_running(p) for p in workers) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not any(_running(p) for p in workers), "a killed local sweep left its workers running"
    finally:
        _stop(first)  # cleanup only (the whole process group), after the checks above
    second = subprocess.run(_sweep_args(model_dir, out, *extra), env=_env(model_dir), capture_output=True,
                            text=True, timeout=300)
    assert second.returncode == 0, second.stdout + second.stderr
    rows = [json.loads(line) for line in _lines(out)]
    ids = [r["run_id"] for r in rows]
    assert len(ids) == len(set(ids)) == RUNS  # none duplicated
    assert set(ids) == _expected_ids(model_dir, out)  # none lost
    kept = {r["run_id"]: r for r in rows}
    assert all(kept[r["run_id"]] == r for r in before)  # the rows written before the kill are untouched
    table = json.loads((out / "results.json").read_text())
    assert len(table["rows"]) == RUNS


def test_kill_and_resume_serial(model_dir, tmp_path):
    _kill_midway_and_resume(model_dir, tmp_path / "serial", ["--executor", "serial"])


def test_kill_and_resume_local_leaves_no_worker_running(model_dir, tmp_path):
    _kill_midway_and_resume(model_dir, tmp_path / "local", ["--executor", "local", "--workers", "2"])


def test_kill_and_resume_dask(model_dir, cluster, tmp_path):
    _kill_midway_and_resume(model_dir, tmp_path / "dask", ["--executor", "dask", "--scheduler-address", cluster])


def test_separate_scheduler_and_worker_processes_match_serial(cluster, model_dir, tmp_path):
    """A mixture sweep (stochastic, with metrics) on the external cluster gives exactly the serial rows:
    the schedule's symbolic inverse is solved inside daemonic worker processes without forking."""
    common = ["--target", "mixture:2d", "--nfe", "6", "--rho", "1", "--delta", "0,0.3", "--samples", "200",
              "--bootstrap", "0", "--metric", "sw", "--schedule", "vp-cosine", "--no-progress"]
    results = {}
    for name, extra in (("serial", ["--executor", "serial"]),
                        ("dask", ["--executor", "dask", "--scheduler-address", cluster])):
        out = tmp_path / name
        proc = subprocess.run([sys.executable, "-c", "from s2n_theory.cli import main; main()", "sweep",
                               "--out", str(out), *common, *extra], env=_env(model_dir), capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        results[name] = {r["run_id"]: r["sw"] for r in sweep.read_rows(out)}
    assert len(results["serial"]) == 2 and results["dask"] == results["serial"]


def test_two_sweeps_on_the_same_folder_never_double_rows(model_dir, tmp_path):
    """Started together on one --out: the second is refused while the first writes (one line, exit 2);
    run again afterwards it resumes. Either way every run has exactly one row."""
    out = tmp_path / "shared"
    args = [a.replace("slow_model:D", "slower_model:D") for a in _sweep_args(model_dir, out, "--executor", "serial")]
    first = _start(args, model_dir, tmp_path / "first.log")
    try:
        deadline = time.monotonic() + 120
        while not _lines(out) and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        second = subprocess.run(args, env=_env(model_dir), capture_output=True, text=True, timeout=300)
        assert first.poll() is None, "the first sweep ended before the second started: nothing was tested"
        assert second.returncode == 2, second.stdout + second.stderr
        assert second.stderr.strip().splitlines() == [second.stderr.strip()]
        assert "being written by another sweep" in second.stderr
        assert first.wait(300) == 0
    finally:
        _stop(first)
    again = subprocess.run(args, env=_env(model_dir), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    ids = [json.loads(line)["run_id"] for line in _lines(out)]
    assert len(ids) == len(set(ids)) == RUNS and set(ids) == _expected_ids(model_dir, out, "slower_model:D")
