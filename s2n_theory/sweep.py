"""Sampler hyperparameter sweeps: ``s2n sweep`` (THEORY.md §3 B4, §7, §8).

A sweep is the Cartesian product of schedules × time grids (kind, exponent) × target NFE ×
methods × ρ × γ × δ × seeds, run on one *target*:

* ``mixture:NAME`` — a Gaussian mixture with its exact oracle denoiser (P3), so the only error
  left is the sampler's discretization; the reference set is fresh exact samples of the data;
* ``digits`` — the learned EDM denoiser of :mod:`s2n_theory.digits` (``checkpoint``), used through
  the P2 bridge; the reference set is the held-out test split;
* ``module:callable`` — any user denoiser (a class is instantiated with no arguments, any other
  object is used as it is): ``D(y, sigma)`` in EDM form (``edm = true``, the default; wrapped with
  P2) or ``denoiser(x, t) -> x̂₀`` (``edm = false``), working on flat (n, dim) tensors; ``dim`` is
  its ``dim`` attribute or the width of ``reference``, an optional .npy of data samples.

Every run gives one row: the settings, the NFE actually used, wall time, and each metric with a
percentile bootstrap interval (:func:`s2n_theory.metrics.bootstrap_ci`). Rows are appended to
``results.jsonl`` as runs finish; ``results.csv`` / ``results.json`` (with the full configuration
and package versions) and the figures are rewritten from it, and an interrupted sweep skips the
runs already there. ``paired_comparisons`` gives, for each (method, ρ, NFE) group, the best
(γ, δ) against γ = δ = 0 with a *paired* bootstrap interval on the difference.

Redundant settings are dropped during expansion: δ only matters when the step has noise (ρ > 0),
and Heun integrates the ODE (ρ = 0). The NFE target is met from below: exact/Euler with n steps
use n (+1 for the final denoising) evaluations, Heun 2n − 1 (+1).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib
import itertools
import json
import math
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import S2NError
from .sampling import get_solver

METRICS = ("sw", "mmd", "fd", "fdd")
EXECUTORS = ("local", "serial", "dask")
ROW_KEYS = ("run_id", "target", "schedule", "grid", "exponent", "nfe_target", "steps", "nfe", "method", "rho",
            "gamma", "delta", "seed", "samples", "seconds")


class SweepError(S2NError):
    """A sweep configuration the user can fix."""


# ---------------------------------------------------------------------- configuration
@dataclass
class SweepConfig:
    target: str = "mixture:2d"
    out: str = "sweep-out"
    checkpoint: str | None = None
    edm: bool = True
    reference: str | None = None
    sigma_data: float = 0.5
    schedules: list[str] = field(default_factory=lambda: ["edm"])
    grids: list[str] = field(default_factory=lambda: ["karras"])
    exponents: list[float] = field(default_factory=lambda: [7.0])
    nfe: list[int] = field(default_factory=lambda: [35])
    methods: list[str] = field(default_factory=lambda: ["exact"])
    rho: list[float] = field(default_factory=lambda: [0.0])
    gamma: list[float] = field(default_factory=lambda: [0.0])
    delta: list[float] = field(default_factory=lambda: [0.0])
    seeds: list[int] = field(default_factory=lambda: [0])
    samples: int = 1000
    metrics: list[str] = field(default_factory=lambda: ["sw", "mmd", "fd"])
    bootstrap: int = 200
    denoise_final: bool = True
    device: str = "cpu"
    dtype: str = "float64"
    save_samples: bool = True
    figure_metric: str | None = None

    def validate(self) -> SweepConfig:
        from .sampling import GRID_KINDS, METHODS

        for name, allowed, values in (("methods", METHODS, self.methods), ("grids", GRID_KINDS, self.grids),
                                      ("metrics", METRICS, self.metrics)):
            bad = [v for v in values if v not in allowed]
            if bad:
                raise SweepError(f"unknown {name} {bad} (choose from {', '.join(allowed)})")
        if "fdd" in self.metrics and self.target != "digits":
            raise SweepError("metric fdd (Fréchet digits distance) needs target = digits")
        if self.target == "digits" and not self.checkpoint:
            raise SweepError("target digits needs checkpoint = path to model.pt (from `s2n train digits`)")
        if self.target.startswith("mixture:") and self.target.split(":", 1)[1] not in named_mixtures():
            raise SweepError(f"unknown mixture {self.target.split(':', 1)[1]!r} "
                             f"(choose {', '.join(named_mixtures())})")
        if not (self.target.startswith("mixture:") or self.target == "digits" or ":" in self.target):
            raise SweepError(f"target must be mixture:NAME, digits or module:callable, got {self.target!r}")
        if self.samples < 2 or any(n < 1 for n in self.nfe):
            raise SweepError("samples must be >= 2 and every NFE >= 1")
        if self.dtype not in ("float32", "float64"):
            raise SweepError("dtype must be float32 or float64")
        return self


def load_config(path: Path | str | None, overrides: dict[str, Any] | None = None) -> SweepConfig:
    """A :class:`SweepConfig` from a TOML file (its ``[sweep]`` table, or the top level) and overrides."""
    values: dict[str, Any] = {}
    if path is not None:
        import tomllib

        try:
            data = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SweepError(f"cannot read sweep config {path}: {exc}") from exc
        values.update(data.get("sweep", data))
    values.update(overrides or {})
    names = {f.name for f in dataclasses.fields(SweepConfig)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise SweepError(f"unknown sweep config keys {unknown} (known: {', '.join(sorted(names))})")
    for key in ("schedules", "grids", "exponents", "nfe", "methods", "rho", "gamma", "delta", "seeds", "metrics"):
        if key in values and not isinstance(values[key], list):
            values[key] = [values[key]]
    return SweepConfig(**values).validate()


def steps_for_nfe(method: str, nfe: int, denoise_final: bool) -> tuple[int, int]:
    """(steps, actual NFE): the most steps whose NFE does not exceed the target (at least one step)."""
    extra = 1 if denoise_final else 0
    solver = get_solver(method)
    steps = solver.steps_for_nfe(nfe - extra)
    return steps, solver.nfe(steps) + extra


def expand(cfg: SweepConfig) -> list[dict[str, Any]]:
    """The runs of a sweep, each a plain dict (picklable, JSON-able) with its ``run_id``."""
    runs, seen = [], set()
    for schedule, grid, exponent, nfe, method, rho, gamma, delta, seed in itertools.product(
            cfg.schedules, cfg.grids, cfg.exponents, cfg.nfe, cfg.methods, cfg.rho, cfg.gamma, cfg.delta, cfg.seeds):
        if rho != 0.0 and get_solver(method).rho_zero_only:
            continue
        if rho == 0.0 and delta != 0.0:
            continue  # no noise is injected, δ has no effect
        if grid != "karras":
            exponent = 0.0
        steps, used = steps_for_nfe(method, int(nfe), cfg.denoise_final)
        run = {"target": cfg.target, "schedule": schedule, "grid": grid, "exponent": float(exponent),
               "nfe_target": int(nfe), "steps": steps, "nfe": used, "method": method, "rho": float(rho),
               "gamma": float(gamma), "delta": float(delta), "seed": int(seed), "samples": cfg.samples}
        common = {k: getattr(cfg, k) for k in ("checkpoint", "edm", "reference", "sigma_data", "metrics",
                                               "bootstrap", "denoise_final", "device", "dtype")}
        key = json.dumps({**run, **common}, sort_keys=True)
        run_id = hashlib.sha1(key.encode()).hexdigest()[:12]
        if run_id in seen:
            continue
        seen.add(run_id)
        runs.append({"run_id": run_id, **run, **common})
    return runs


# ---------------------------------------------------------------------- targets
def named_mixtures() -> dict[str, Any]:
    """The Monte Carlo checks' mixtures (verification/montecarlo_checks.py), by name."""
    from verification import montecarlo_checks as mc

    return {"1d": mc.mixture_1d, "2d": mc.mixture_2d, "16d": mc.mixture_16d}


@dataclass
class Target:
    denoiser_factory: Any  # schedule -> denoiser(x, t)
    start: Any  # (schedule, t_max, n, seed, dtype, device) -> x_T
    reference: torch.Tensor | None
    dim: int


def _gaussian_start(dim: int, sigma_data: float):
    from .sampling import NoiseSource

    def start(schedule, t_max, n, seed, dtype, device):
        num = schedule.lambdify("numpy")
        scale = math.sqrt(float(num.sigma(t_max)) ** 2 + float(num.alpha(t_max)) ** 2 * sigma_data**2)
        return scale * NoiseSource(seed).normal((n, dim), step=0, stream=7, dtype=dtype, device=device)

    return start


@functools.lru_cache(maxsize=8)
def load_target(target: str, checkpoint: str | None, edm: bool, reference: str | None, sigma_data: float,
                samples: int, device: str) -> Target:
    """Build (once per process) the denoiser factory, the start sampler and the reference set."""
    from .inference import denoiser_from_edm

    if target.startswith("mixture:"):
        name = target.split(":", 1)[1]
        mixtures = named_mixtures()
        if name not in mixtures:
            raise SweepError(f"unknown mixture {name!r} (choose {', '.join(mixtures)})")
        mixture = mixtures[name]()

        def start(schedule, t_max, n, seed, dtype, device_):
            draw = mixture.marginal(t_max, schedule).sample(n, np.random.default_rng(seed))
            return torch.as_tensor(draw, dtype=dtype, device=device_)

        ref = torch.as_tensor(mixture.sample(samples, np.random.default_rng(10**6 + 1)), dtype=torch.float64)
        return Target(lambda schedule: mixture.denoiser(schedule), start, ref, ref.shape[1])
    if target == "digits":
        from . import digits

        model = digits.load_model(checkpoint, device)
        ref, _ = digits.load_split("test")
        return Target(lambda schedule: denoiser_from_edm(lambda y, s: model(y, s), schedule),
                      _gaussian_start(digits.DIM, model.config.sigma_data), ref, digits.DIM)
    module_name, _, attr = target.partition(":")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise SweepError(f"cannot import target {target!r}: {exc}") from exc
    model = obj() if isinstance(obj, type) else obj
    ref = None
    if reference:
        data = np.load(reference)
        ref = torch.as_tensor(data, dtype=torch.float64).reshape(data.shape[0], -1)
    dim = int(getattr(model, "dim", ref.shape[1] if ref is not None else 0))
    if dim <= 0:
        raise SweepError("a module target needs a `dim` attribute or a reference .npy to know the data size")
    factory = (lambda schedule: denoiser_from_edm(model, schedule)) if edm else (lambda schedule: model)
    return Target(factory, _gaussian_start(dim, sigma_data), ref, dim)


def metric_function(name: str):
    from . import metrics

    if name == "sw":
        return metrics.sliced_wasserstein_unequal
    if name == "mmd":
        return metrics.mmd
    if name == "fd":
        return metrics.frechet_distance
    from .digits import frechet_digits_distance

    return frechet_digits_distance


# ---------------------------------------------------------------------- one run
def run_one(run: dict[str, Any], out: str | None = None) -> dict[str, Any]:
    """Sample one setting and measure it; returns the result row (and saves the samples under ``out``)."""
    from .library import get_schedule
    from .sampling import sample, time_grid

    torch.set_num_threads(1)
    start_time = time.time()
    dtype = getattr(torch, run["dtype"])
    target = load_target(run["target"], run["checkpoint"], run["edm"], run["reference"], run["sigma_data"],
                         run["samples"], run["device"])
    schedule = get_schedule(run["schedule"])
    grid = time_grid(schedule, run["steps"], run["grid"], exponent=run["exponent"] or 7.0)
    x = target.start(schedule, float(grid[0]), run["samples"], run["seed"], dtype, run["device"])
    with torch.no_grad():
        result = sample(target.denoiser_factory(schedule), x, schedule, grid, method=run["method"], rho=run["rho"],
                        gamma=run["gamma"], delta=run["delta"], generator=run["seed"],
                        denoise_final=run["denoise_final"])
    samples = result.samples.detach().cpu().double()
    row = {k: run[k] for k in ROW_KEYS if k in run}
    row["nfe"] = result.nfe
    row["finite"] = bool(torch.isfinite(samples).all())
    if target.reference is not None:
        for name in run["metrics"]:
            fn = metric_function(name)
            if row["finite"]:
                value, lo, hi = _bootstrap(fn, samples, target.reference, run["bootstrap"], run["seed"])
            else:
                value = lo = hi = float("nan")
            row[name], row[f"{name}_lo"], row[f"{name}_hi"] = value, lo, hi
    if out is not None:
        folder = Path(out) / "samples"
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / f"{run['run_id']}.npy", samples.numpy().astype(np.float32))
    row["seconds"] = time.time() - start_time
    row["config"] = {k: v for k, v in run.items() if k not in row}
    return row


def _bootstrap(fn, x, y, n_boot, seed):
    from .metrics import bootstrap_ci

    return bootstrap_ci(fn, x, y, n_boot=n_boot, seed=seed)


# ---------------------------------------------------------------------- executors and bookkeeping
def versions() -> dict[str, str]:
    import platform
    from importlib import metadata

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
    import csv

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
        from tqdm.auto import tqdm

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
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers or os.cpu_count(), mp_context=context,
                                 initializer=_init_worker) as pool:
            futures = [pool.submit(run_one, run, out) for run in todo]
            for future in as_completed(futures):
                yield future.result()
        return
    try:
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
    from .metrics import paired_difference_ci

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


def make_figures(rows: list[dict[str, Any]], folder: Path | str, metric: str) -> list[Path]:
    """Metric vs γ (ρ = 0), γ × δ heat maps (ρ = 1), metric vs ρ and metric vs NFE; returns the files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rows = [r for r in rows if r.get(metric) is not None and math.isfinite(r[metric])]
    made: list[Path] = []

    def errorbar(ax, subset, xkey, label):
        subset = sorted(subset, key=lambda r: r[xkey])
        xs = [r[xkey] for r in subset]
        ys = np.array([r[metric] for r in subset])
        lo = np.array([r.get(f"{metric}_lo", np.nan) for r in subset])
        hi = np.array([r.get(f"{metric}_hi", np.nan) for r in subset])
        yerr = np.vstack([np.clip(ys - lo, 0, None), np.clip(hi - ys, 0, None)])
        ax.errorbar(xs, ys, yerr=None if np.isnan(yerr).any() else yerr, marker="o", capsize=3, label=label)

    def lines(by: tuple[str, ...], xkey: str, keep, name: str, xlabel: str, logx: bool = False) -> None:
        groups: dict[tuple, list] = {}
        for r in rows:
            if keep(r):
                groups.setdefault(tuple(r[k] for k in by), []).append(r)
        groups = {k: v for k, v in groups.items() if len({r[xkey] for r in v}) > 1}
        if not groups:
            return
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
        for key, members in sorted(groups.items()):
            errorbar(ax, members, xkey, ", ".join(f"{k}={v}" for k, v in zip(by, key, strict=False)))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"{metric} (95% bootstrap CI)")
        if logx:
            ax.set_xscale("log")
        ax.legend(fontsize=7)
        ax.set_title(f"{rows[0]['target']}: {name}", fontsize=9)
        fig.tight_layout()
        path = folder / f"{name.split(' ')[0]}_{metric}.png"
        fig.savefig(path, dpi=80)
        plt.close(fig)
        made.append(path)

    lines(("method", "nfe", "seed"), "gamma", lambda r: r["rho"] == 0.0, "gamma (deterministic, rho=0)", "γ")
    lines(("method", "nfe", "seed"), "rho", lambda r: r["gamma"] == 0.0 and r["delta"] == 0.0,
          "rho (gamma=delta=0)", "ρ")
    lines(("method", "rho", "seed"), "nfe", lambda r: r["gamma"] == 0.0 and r["delta"] == 0.0,
          "nfe (gamma=delta=0)", "NFE", logx=True)
    stochastic = [r for r in rows if r["rho"] == 1.0]
    panels: dict[tuple, list] = {}
    for r in stochastic:
        panels.setdefault((r["method"], r["nfe"]), []).append(r)
    panels = {k: v for k, v in panels.items() if len({r["gamma"] for r in v}) > 1 and len({r["delta"] for r in v}) > 1}
    if panels:
        fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
        for ax, ((method, nfe), members) in zip(axes[0], sorted(panels.items()), strict=False):
            gammas = sorted({r["gamma"] for r in members})
            deltas = sorted({r["delta"] for r in members})
            table = np.full((len(deltas), len(gammas)), np.nan)
            for r in members:  # several seeds: their mean
                i, j = deltas.index(r["delta"]), gammas.index(r["gamma"])
                table[i, j] = r[metric] if np.isnan(table[i, j]) else 0.5 * (table[i, j] + r[metric])
            image = ax.imshow(table, origin="lower", aspect="auto", cmap="viridis")
            ax.set_xticks(range(len(gammas)), [f"{g:g}" for g in gammas], fontsize=7)
            ax.set_yticks(range(len(deltas)), [f"{d:g}" for d in deltas], fontsize=7)
            for i in range(len(deltas)):
                for j in range(len(gammas)):
                    ax.text(j, i, f"{table[i, j]:.3g}", ha="center", va="center", fontsize=6, color="w")
            ax.set_xlabel("γ")
            ax.set_ylabel("δ")
            ax.set_title(f"{method}, NFE={nfe}, ρ=1: {metric}", fontsize=9)
            fig.colorbar(image, ax=ax)
        fig.tight_layout()
        path = folder / f"heatmap_{metric}.png"
        fig.savefig(path, dpi=80)
        plt.close(fig)
        made.append(path)
    return made


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
