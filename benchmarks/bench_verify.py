"""Wall clock of ``s2n verify`` as a user runs it: first run in a fresh cache, then a second run.

Run: ``python benchmarks/bench_verify.py [--level quick] [-j N] [--runs first,second] [--no-bytecode-cache]``, or
``python benchmarks/bench_verify.py --baseline OTHER/.venv/bin/python [--repeat 5]`` to time the second run
against another checkout's, side by side.
Each run is the whole command in a subprocess (start-up and imports included), with a
fresh cache folder for the first run. Prints the wall times, the load average measured
before and after each run (the machine may be shared), and the CPU seconds per claim and
method that the runner recorded for the first run (``timings.json`` in the cache folder),
so the figures can be read on a loaded machine too.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

BYTECODE_CACHE = {"on": True}
"""Whether the timed commands may write and read Python's bytecode cache, as Python does by default: the first
run of a fresh environment compiles the package and writes ``__pycache__``, the second reads it. Off
(``--no-bytecode-cache``): ``PYTHONDONTWRITEBYTECODE`` stays as the environment sets it (this development machine
sets it, so every run compiles the package's sources again)."""


def machine_speed() -> float:
    """Seconds of a fixed pure-Python loop: the machine's speed at the moment (it drifts by up to 2x between
    minutes on a shared machine), printed beside each timing so that figures from different minutes can be read."""
    started = time.perf_counter()
    total = 0
    for i in range(3_000_000):
        total += i * i
    return time.perf_counter() - started


def run_verify(cache_dir: Path, level: str, jobs: int | None, json_path: Path,
               python: str = sys.executable) -> tuple[float, int, str]:
    command = [python, "-m", "s2n_theory.cli", "verify", "--level", level, "--json", str(json_path)]
    if jobs is not None:
        command += ["-j", str(jobs)]
    env = {**os.environ, "S2N_CACHE_DIR": str(cache_dir)}
    if BYTECODE_CACHE["on"]:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    started = time.monotonic()
    # Run outside any checkout: ``-m`` puts the working folder first on the path, and a baseline interpreter
    # must import its own package, not the one in this folder.
    proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=json_path.parent)
    wall = time.monotonic() - started
    summary = [line for line in proc.stdout.splitlines() if " pass, " in line]
    return wall, proc.returncode, summary[-1] if summary else proc.stderr[-400:]


def cpu_by_family(cache_dir: Path) -> dict[str, tuple[int, float, float]]:
    """(checks, wall, CPU) seconds per ``claim:method`` from the runner's timings of the last computed run."""
    timings = json.loads((cache_dir / "timings.json").read_text())
    totals: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    for task, (wall, cpu) in timings.items():
        claim, method = task.split(":")[:2]
        entry = totals[f"{claim} {method}"]
        entry[0] += 1
        entry[1] += wall
        entry[2] += cpu
    return {k: (int(v[0]), v[1], v[2]) for k, v in totals.items()}


def computed_rows_by_family(json_path: Path) -> dict[str, tuple[int, float]]:
    """(rows, summed row seconds) per ``claim method`` of the rows a run computed (not read from the cache)."""
    totals: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    for row in json.loads(json_path.read_text())["results"]:
        if row["detail"].endswith(" [cached]"):
            continue
        entry = totals[f"{row['claim']} {row['method']}"]
        entry[0] += 1
        entry[1] += row["seconds"]
    return {k: (int(v[0]), v[1]) for k, v in totals.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--level", default="quick")
    parser.add_argument("-j", type=int, default=None)
    parser.add_argument("--runs", default="first,second")
    parser.add_argument("--baseline", metavar="PYTHON",
                        help="the interpreter of another checkout's environment: prepare its cache, then time its "
                             "second run and this one's alternately (--repeat pairs) and print the ratio")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-bytecode-cache", action="store_true",
                        help="keep PYTHONDONTWRITEBYTECODE as the environment sets it (see BYTECODE_CACHE)")
    args = parser.parse_args()
    BYTECODE_CACHE["on"] = not args.no_bytecode_cache
    print(f"bytecode cache: {'as Python does by default' if BYTECODE_CACHE['on'] else 'as the environment sets it'}")
    if args.baseline:
        compare_second_runs(args.baseline, args.level, args.j, args.repeat)
        return
    runs = args.runs.split(",")
    with tempfile.TemporaryDirectory(prefix="s2n-bench-") as folder:
        cache_dir = Path(folder) / "cache"
        for index, label in enumerate(runs):
            load_before, speed = os.getloadavg()[0], machine_speed()
            wall, code, summary = run_verify(cache_dir, args.level, args.j, Path(folder) / f"{label}.json")
            load_after = os.getloadavg()[0]
            print(f"{label} run (--level {args.level}, -j {args.j or 'default'}): wall {wall:.1f} s, exit {code}, "
                  f"load average {load_before:.1f} before / {load_after:.1f} after, speed probe {speed:.2f} s "
                  f"before; {summary}", flush=True)
            if index == 0:
                families = cpu_by_family(cache_dir)
                total_cpu = sum(v[2] for v in families.values())
                print(f"CPU seconds per claim and method (first run; total {total_cpu:.0f} s):")
                print("| claim method | checks | wall s (sum) | CPU s (sum) |")
                print("|---|---:|---:|---:|")
                for name, (count, wall_sum, cpu_sum) in sorted(families.items(), key=lambda kv: -kv[1][2]):
                    print(f"| {name} | {count} | {wall_sum:.1f} | {cpu_sum:.1f} |")
            else:
                rows = computed_rows_by_family(Path(folder) / f"{label}.json")
                print(f"Rows this run computed (the others came from the cache): {sum(v[0] for v in rows.values())}, "
                      f"{sum(v[1] for v in rows.values()):.1f} s of row time; the costliest:")
                print("| claim method | rows | row s (sum) |")
                print("|---|---:|---:|")
                for name, (count, seconds) in sorted(rows.items(), key=lambda kv: -kv[1][1])[:12]:
                    print(f"| {name} | {count} | {seconds:.1f} |")


def compare_second_runs(baseline: str, level: str, jobs: int | None, repeat: int) -> None:
    """Second runs of this checkout and of ``baseline`` (each on its own warm cache), alternated: the machine's speed
    drifts between minutes, so a ratio of runs taken side by side is the figure that can be trusted."""
    pythons = {"this": sys.executable, "baseline": baseline}
    walls: dict[str, list[float]] = {name: [] for name in pythons}
    with tempfile.TemporaryDirectory(prefix="s2n-bench-") as folder:
        caches = {name: Path(folder) / name for name in pythons}
        for name, python in pythons.items():
            run_verify(caches[name], level, jobs, Path(folder) / f"{name}-first.json", python)
        for index in range(repeat):
            for name, python in pythons.items():
                speed = machine_speed()
                wall, code, _ = run_verify(caches[name], level, jobs, Path(folder) / f"{name}.json", python)
                walls[name].append(wall)
                print(f"pair {index + 1}: {name} second run {wall:.1f} s (exit {code}; speed probe {speed:.2f} s "
                      f"before)", flush=True)
    this, base = statistics.median(walls["this"]), statistics.median(walls["baseline"])
    ratios = [a / b for a, b in zip(walls["this"], walls["baseline"], strict=True)]
    print(f"median second run: this {this:.1f} s, baseline {base:.1f} s; per-pair ratio this/baseline: median "
          f"{statistics.median(ratios):.2f} (range {min(ratios):.2f}-{max(ratios):.2f})")


if __name__ == "__main__":
    main()
