"""Running a whole sweep and its bookkeeping: the executors (local processes, serial, dask), the
append-only ``results.jsonl`` with resumption, the ``results.csv``/``results.json`` tables with
package versions, paired comparisons against γ = δ = 0 and Markdown tables."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import multiprocessing
import os
import platform
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

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
    path = Path(out) / "results.jsonl"
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                pass  # a line cut by an interruption: that run is simply redone
    return rows


def _write_tables(out: Path, rows: list[dict[str, Any]], cfg: SweepConfig) -> None:
    columns = list(ROW_KEYS) + ["finite"]
    for name in cfg.metrics:
        columns += [name, f"{name}_lo", f"{name}_hi"]
    info = versions()
    with open(out / "results.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns + ["versions"])
        for row in sorted(rows, key=_sort_key):
            writer.writerow([row.get(c, "") for c in columns] + [json.dumps(info, sort_keys=True)])
    payload = {"config": dataclasses.asdict(cfg), "versions": info, "rows": sorted(rows, key=_sort_key)}
    (out / "results.json").write_text(json.dumps(payload, indent=1))


def _sort_key(row: dict[str, Any]) -> tuple:
    return tuple(row.get(k, 0) for k in ("schedule", "grid", "exponent", "method", "nfe", "rho", "gamma", "delta",
                                         "seed"))


def _init_worker() -> None:
    torch.set_num_threads(1)


def run_sweep(cfg: SweepConfig, executor: str = "local", workers: int | None = None,
              scheduler_address: str | None = None, progress: bool = False, figures: bool = True
              ) -> list[dict[str, Any]]:
    """Run every run of ``cfg`` not yet in ``cfg.out``; returns all rows (old and new)."""
    if executor not in EXECUTORS:
        raise SweepError(f"unknown executor {executor!r} (choose {', '.join(EXECUTORS)})")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=1))
    runs = expand(cfg)
    previous = read_rows(out)
    if previous:  # rewrite cleanly: drops a line cut by an interruption, so appends start on a new line
        (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in previous))
    done = {row["run_id"] for row in previous}
    todo = [r for r in runs if r["run_id"] not in done]
    save = str(out) if cfg.save_samples else None
    bar = None
    if progress:
        bar = tqdm(total=len(runs), initial=len(runs) - len(todo), desc="sweep", unit="run")

    def finished(row: dict[str, Any]) -> None:
        with open(out / "results.jsonl", "a") as fh:
            fh.write(json.dumps(row) + "\n")
        if bar is not None:
            bar.update(1)

    for row in _execute(todo, save, executor, workers, scheduler_address):
        finished(row)
    if bar is not None:
        bar.close()
    wanted = {r["run_id"] for r in runs}
    rows = [r for r in read_rows(out) if r["run_id"] in wanted]
    _write_tables(out, rows, cfg)
    if figures and rows and any(m in rows[0] for m in cfg.metrics):
        make_figures(rows, out / "figures", cfg.figure_metric or cfg.metrics[0])
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
        with ProcessPoolExecutor(max_workers=workers or os.cpu_count(), mp_context=context,
                                 initializer=_init_worker) as pool:
            futures = [pool.submit(run_one, run, out) for run in todo]
            for future in as_completed(futures):
                yield future.result()
        return
    try:  # lazy: dask is an optional, heavy dependency
        from distributed import Client, LocalCluster
        from distributed import as_completed as dask_completed
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise SweepError("--executor dask needs dask.distributed: pip install 'dask[distributed]'") from exc
    cluster = None
    if scheduler_address:
        client = Client(scheduler_address)
    else:
        cluster = LocalCluster(n_workers=workers or os.cpu_count(), threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
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
        cells += [f"{r[m]:.4g} [{r[m + '_lo']:.4g}, {r[m + '_hi']:.4g}]" if m in r else "-" for m in metrics]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


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
