"""Running a whole sweep and its bookkeeping: the executors (local processes, serial, dask), the
append-only ``results.jsonl`` with resumption, the ``results.csv``/``results.json`` tables with
package versions, paired comparisons against γ = δ = 0 and Markdown tables."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import fcntl
import io
import json
import math
import multiprocessing
import os
import platform
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..files import replace_atomically
from ..metrics import paired_difference_ci
from .config import SweepConfig, SweepError, expand
from .plots import make_figures
from .run import ROW_KEYS, run_one
from .targets import load_target, metric_function

EXECUTORS = ("local", "serial", "dask")


def versions() -> dict[str, str]:
    found = {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__}
    for pkg in ("s2n-theory", "scipy", "sympy", "scikit-learn", "dask", "distributed"):
        try:
            found[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return found


def read_rows(out: Path | str) -> list[dict[str, Any]]:
    """The rows of ``out/results.jsonl``, one per run: its first successful row, else its latest error row
    (a line cut by an interruption is skipped: that run is simply redone)."""
    path = Path(out) / "results.jsonl"
    if not path.exists():
        return []
    found: dict[str, dict[str, Any]] = {}
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line) if line.strip() else None
        except json.JSONDecodeError:
            row = None
        if not isinstance(row, dict) or "run_id" not in row:
            continue
        kept = found.get(row["run_id"])
        if kept is None or "error" in kept:  # a success is final; an error row gives way to any later row
            found[row["run_id"]] = row
    return list(found.values())


@contextlib.contextmanager
def _locked(out: Path) -> Iterator[None]:
    """Hold ``out/.sweep.lock`` while a sweep writes ``out``: a second sweep on the same folder is refused
    (its rows would be appended twice). The lock is the kernel's (flock): a killed sweep releases it."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        fh = open(out / ".sweep.lock", "a+")
    except OSError as exc:
        raise SweepError(f"cannot write the sweep folder {out}: {exc.strerror or exc}") from None
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "?"
            raise SweepError(f"{out} is being written by another sweep (pid {holder}); wait for it to finish "
                             f"or choose another --out") from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        yield
    finally:
        fh.close()  # closing releases the lock


def _write_tables(out: Path, rows: list[dict[str, Any]], cfg: SweepConfig) -> None:
    columns = list(ROW_KEYS) + ["finite", "error"]
    for name in cfg.metrics:
        columns += [name, f"{name}_lo", f"{name}_hi"]
    info = versions()
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(columns + ["versions"])
    for row in sorted(rows, key=_sort_key):
        writer.writerow(["" if row.get(c) is None else row[c] for c in columns] + [json.dumps(info, sort_keys=True)])
    replace_atomically(out / "results.csv", table.getvalue())
    payload = {"config": dataclasses.asdict(cfg), "versions": info, "rows": sorted(rows, key=_sort_key)}
    replace_atomically(out / "results.json", json.dumps(payload, indent=1))


def _sort_key(row: dict[str, Any]) -> tuple:
    # (present, value): a setting recorded as None (an exponent a grid does not use) sorts first
    return tuple((False, 0) if row.get(k) is None else (True, row[k])
                 for k in ("schedule", "grid", "exponent", "method", "nfe", "rho", "gamma", "delta", "seed"))


def _init_worker(parent: int) -> None:
    """Local worker processes: one torch thread each, and exit as soon as the sweep that started them dies
    (a SIGKILLed parent cannot shut its pool down; its workers would otherwise run on, orphaned)."""
    torch.set_num_threads(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(1)

    threading.Thread(target=watch, name="s2n-parent-watch", daemon=True).start()


def run_sweep(cfg: SweepConfig, executor: str = "local", workers: int | None = None,
              scheduler_address: str | None = None, progress: bool = False, figures: bool = True
              ) -> list[dict[str, Any]]:
    """Run every run of ``cfg`` not yet in ``cfg.out``; returns all rows (old and new).

    ``cfg.out`` is locked while the sweep writes it; each finished row is appended (and synced) to
    ``results.jsonl`` as it arrives, so a sweep killed at any moment resumes without losing or repeating a
    row. Raises :class:`SweepError` after writing the tables if some runs gave error rows.
    """
    if executor not in EXECUTORS:
        raise SweepError(f"unknown executor {executor!r} (choose {', '.join(EXECUTORS)})")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise SweepError(f"workers must be a whole number >= 1, got {workers!r}")
    if scheduler_address is not None and executor != "dask":
        raise SweepError("--scheduler-address needs --executor dask")
    out = Path(cfg.out)
    with _locked(out):
        return _run_locked(cfg, out, executor, workers, scheduler_address, progress, figures)


def _run_locked(cfg: SweepConfig, out: Path, executor: str, workers: int | None, scheduler_address: str | None,
                progress: bool, figures: bool) -> list[dict[str, Any]]:
    replace_atomically(out / "config.json", json.dumps(dataclasses.asdict(cfg), indent=1))
    runs = expand(cfg)
    # Rewrite cleanly (atomically): one row per run, cut lines and error rows dropped (those runs are redone),
    # so appends start on a new line.
    previous = [r for r in read_rows(out) if "error" not in r]
    replace_atomically(out / "results.jsonl", "".join(json.dumps(r) + "\n" for r in previous))
    done = {row["run_id"] for row in previous}
    todo = [r for r in runs if r["run_id"] not in done]
    save = str(out) if cfg.save_samples else None
    bar = None
    if progress:
        bar = tqdm(total=len(runs), initial=len(runs) - len(todo), desc="sweep", unit="run")
    with open(out / "results.jsonl", "a") as fh:
        for row in _execute(todo, save, executor, workers, scheduler_address):
            if row["run_id"] in done:
                continue  # a run delivered twice (a retried task) is written once
            done.add(row["run_id"])
            fh.write(json.dumps(row) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    wanted = {r["run_id"] for r in runs}
    rows = [r for r in read_rows(out) if r["run_id"] in wanted]
    _write_tables(out, rows, cfg)
    good = [r for r in rows if "error" not in r]
    if figures and good and any(m in good[0] for m in cfg.metrics):
        make_figures(good, out / "figures", cfg.figure_metric or cfg.metrics[0])
    failed = [r for r in rows if "error" in r]
    if failed:
        raise SweepError(f"{len(failed)} of {len(rows)} runs failed (rows with an error in {out}/results.csv; "
                         f"they are redone on the next run); first: run {failed[0]['run_id']}: {failed[0]['error']}")
    return rows


def _execute(todo: list[dict[str, Any]], out: str | None, executor: str, workers: int | None,
             scheduler_address: str | None) -> Iterable[dict[str, Any]]:
    if not todo:
        return
    if executor == "serial" or (executor == "local" and (workers or os.cpu_count() or 1) == 1):
        for run in todo:
            yield run_one(run, out)
        return
    if executor == "local":
        context = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(max_workers=workers or os.cpu_count(), mp_context=context,
                                   initializer=_init_worker, initargs=(os.getpid(),))
        try:
            futures = [pool.submit(run_one, run, out) for run in todo]
            for future in as_completed(futures):
                yield future.result()
        finally:  # on an error or Ctrl-C, runs not started are cancelled rather than all run first
            pool.shutdown(wait=True, cancel_futures=True)
        return
    try:  # lazy: dask is an optional, heavy dependency
        from distributed import Client, LocalCluster
        from distributed import as_completed as dask_completed
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise SweepError("--executor dask needs dask.distributed: pip install 'dask[distributed]'") from exc
    cluster = None
    try:
        if scheduler_address:
            client = Client(scheduler_address, timeout=30)
        else:
            cluster = LocalCluster(n_workers=workers or os.cpu_count(), threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            client = Client(cluster)
    except OSError as exc:
        if cluster is not None:
            cluster.close()
        raise SweepError(f"cannot reach the dask scheduler {scheduler_address}: {exc}") from None
    try:
        futures = [client.submit(run_one, run, out, pure=False) for run in todo]
        for future in dask_completed(futures):
            yield future.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# ---------------------------------------------------------------------- analysis and figures
def _reference_for(row: dict[str, Any]) -> torch.Tensor:
    c = row["config"]
    return load_target(row["target"], c["checkpoint"], c["edm"], c["reference"], c["sigma_data"], row["samples"],
                       c["device"]).reference


def paired_comparisons(out: Path | str, metric: str, n_boot: int = 500) -> list[dict[str, Any]]:
    """For each (schedule, grid, method, NFE, ρ, seed) group: its best (γ, δ) by ``metric`` against
    γ = δ = 0, with the paired bootstrap interval of best − baseline (needs the saved samples)."""
    rows = [r for r in read_rows(out) if r.get(metric) is not None and math.isfinite(r[metric])]
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["schedule"], r["grid"], r["method"], r["nfe"], r["rho"], r["seed"]), []).append(r)
    found = []
    for key, members in sorted(groups.items()):
        base = [r for r in members if r["gamma"] == 0.0 and r["delta"] == 0.0]
        if not base or len(members) < 2:
            continue
        best = min(members, key=lambda r: r[metric])
        entry = {"schedule": key[0], "grid": key[1], "method": key[2], "nfe": key[3], "rho": key[4], "seed": key[5],
                 "baseline": base[0][metric], "best_gamma": best["gamma"], "best_delta": best["delta"],
                 "best": best[metric], "diff": 0.0, "diff_lo": 0.0, "diff_hi": 0.0}
        if best is not base[0]:
            a = torch.as_tensor(np.load(Path(out) / "samples" / f"{best['run_id']}.npy"), dtype=torch.float64)
            b = torch.as_tensor(np.load(Path(out) / "samples" / f"{base[0]['run_id']}.npy"), dtype=torch.float64)
            d, lo, hi = paired_difference_ci(metric_function(metric), a, b, _reference_for(best), n_boot=n_boot,
                                             seed=1)
            entry.update(diff=d, diff_lo=lo, diff_hi=hi)
        entry["verdict"] = ("better" if entry["diff_hi"] < 0 else "within noise" if entry["diff_lo"] <= 0
                            else "worse")
        found.append(entry)
    return found



def markdown_rows(out: Path | str, metrics: list[str], keys: tuple[str, ...] = ("method", "nfe", "rho", "gamma",
                                                                                "delta")) -> str:
    """The rows of a sweep as a Markdown table: settings, then each metric as ``value [lo, hi]``."""
    rows = sorted(read_rows(out), key=_sort_key)
    head = "| " + " | ".join(list(keys) + [f"{m} [95% CI]" for m in metrics]) + " |"
    lines = [head, "|" + "---|" * (len(keys) + len(metrics))]
    for r in rows:
        cells = [f"{r[k]:g}" if isinstance(r[k], float) else str(r[k]) for k in keys]
        cells += [_cell(r, m) for m in metrics]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(row: dict[str, Any], metric: str) -> str:
    if row.get(metric) is None:
        return "-"
    if row.get(f"{metric}_lo") is None:
        return f"{row[metric]:.4g}"
    return f"{row[metric]:.4g} [{row[metric + '_lo']:.4g}, {row[metric + '_hi']:.4g}]"


def markdown_comparisons(out: Path | str, metric: str, n_boot: int = 500) -> str:
    """:func:`paired_comparisons` as a Markdown table."""
    found = paired_comparisons(out, metric, n_boot)
    lines = [f"| method | NFE | ρ | baseline {metric} (γ=δ=0) | best (γ, δ) | best {metric} | best − baseline "
             f"[95% paired CI] | verdict |", "|---|---|---|---|---|---|---|---|"]
    for c in found:
        lines.append(f"| {c['method']} | {c['nfe']} | {c['rho']:g} | {c['baseline']:.4g} | "
                     f"({c['best_gamma']:g}, {c['best_delta']:g}) | {c['best']:.4g} | "
                     f"{c['diff']:+.3g} [{c['diff_lo']:+.3g}, {c['diff_hi']:+.3g}] | {c['verdict']} |")
    return "\n".join(lines)
