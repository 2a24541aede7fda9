"""Commands ``s2n sweep`` (sampler hyperparameter grids, :mod:`s2n_theory.sweep`) and
``s2n train digits`` (the learned digits denoiser, :mod:`s2n_theory.digits`)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
import typer

from .. import digits
from .. import sweep as sw
from ..errors import S2NError
from .app import app, split_values, user_errors_exit_2


def _floats(values: list[str] | None) -> list[float] | None:
    # Counts (NFE, seeds) stay numbers here too: the sweep config refuses 5.5 rather than truncating it.
    parts = split_values(values)
    if parts is None:
        return None
    try:
        return [float(p) for p in parts]
    except ValueError as exc:
        raise S2NError(f"expected numbers, got {parts}") from exc


@app.command()
@user_errors_exit_2
def sweep(
    ctx: typer.Context,
    config: Path = typer.Option(None, "--config", "-c",
                                help="TOML file whose sweep table (or top level) holds the settings (see configs/)."),
    out: Path = typer.Option(None, "--out", "-o", help="Output directory (results.csv/json, figures/)."),
    target: str = typer.Option(None, "--target", help="mixture:NAME, digits, or module:callable."),
    checkpoint: str = typer.Option(None, "--checkpoint", help="Digits checkpoint (model.pt or its directory)."),
    schedule: list[str] = typer.Option(None, "--schedule", "-s", help="Schedules (repeatable)."),
    grid: list[str] = typer.Option(None, "--grid", help="Grid kinds: uniform-t, uniform-lambda, karras."),
    exponent: list[str] = typer.Option(None, "--exponent", help="Karras grid exponents."),
    nfe: list[str] = typer.Option(None, "--nfe", help="Target NFE values (comma-separated or repeated)."),
    method: list[str] = typer.Option(None, "--method", help="Solvers (s2n_theory.sampling.SOLVERS): exact, euler, "
                                     "heun, ms2, ms3, ms4, ms2-pc, ms3-pc, ms2-midpoint."),
    rho: list[str] = typer.Option(None, "--rho", help="Stochasticity values."),
    gamma: list[str] = typer.Option(None, "--gamma", help="B4 gamma values."),
    delta: list[str] = typer.Option(None, "--delta", help="B4 delta values."),
    seed: list[str] = typer.Option(None, "--seed", help="Seeds."),
    samples: int = typer.Option(None, "--samples", help="Samples per run."),
    metrics: list[str] = typer.Option(None, "--metric", help="sw, mmd, fd, fdd (digits)."),
    bootstrap: int = typer.Option(None, "--bootstrap", help="Bootstrap replicates per metric (0: none)."),
    device: str = typer.Option(None, "--device", help="cpu or cuda."),
    executor: str = typer.Option("local", "--executor", help="local (processes), serial, or dask."),
    workers: int = typer.Option(None, "--workers", help="Local worker processes (default: CPU count)."),
    scheduler_address: str = typer.Option(None, "--scheduler-address", help="Dask scheduler, tcp://host:port."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Run a grid of sampler settings (schedule, grid, NFE, method, rho, gamma, delta, seeds) on a target.

    Give a config file (see configs/) or the settings as options; results go to runs/<config name>
    (ignored by git) unless --out says otherwise.
    """
    overrides = {"out": str(out) if out else None, "target": target, "checkpoint": checkpoint,
                 "schedules": split_values(schedule), "grids": split_values(grid), "exponents": _floats(exponent),
                 "nfe": _floats(nfe), "methods": split_values(method), "rho": _floats(rho), "gamma": _floats(gamma),
                 "delta": _floats(delta), "seeds": _floats(seed), "samples": samples, "metrics": split_values(metrics),
                 "bootstrap": bootstrap, "device": device}
    given = {k: v for k, v in overrides.items() if v is not None}
    if config is None and not given:
        # Nothing asked for: show how to ask rather than run a default job into the current directory.
        typer.echo(ctx.get_help())
        typer.echo("error: give --config FILE (see configs/) or the settings as options", err=True)
        raise typer.Exit(2)
    cfg = sw.load_config(config, given)
    runs, dropped = sw.expansion(cfg)
    total = sw.combinations(cfg)
    if dropped:
        typer.echo(f"{len(runs)} of {total} combinations run; not run: "
                   + "; ".join(f"{n} {sw.DROP_REASONS[k]}" for k, n in dropped.items()))
    rows = sw.run_sweep(cfg, executor=executor, workers=workers, scheduler_address=scheduler_address,
                        progress=progress)
    typer.echo(f"{len(rows)} runs in {cfg.out}/results.csv; figures in {cfg.out}/figures/")


@app.command()
@user_errors_exit_2
def train(
    what: str = typer.Argument(..., help="What to train: digits."),
    out: Path = typer.Option(..., "--out", "-o", help="Directory for model.pt, curve.csv, curve.png."),
    steps: int = typer.Option(20_000, "--steps", help="Optimizer steps."),
    batch: int = typer.Option(256, "--batch", help="Images per step."),
    lr: float = typer.Option(2e-3, "--lr", help="Adam learning rate."),
    hidden: int = typer.Option(256, "--hidden", help="Hidden width of the denoiser MLP."),
    layers: int = typer.Option(3, "--layers", help="Hidden layers of the denoiser MLP."),
    seed: int = typer.Option(0, "--seed", help="Seed of initialization, batches and noise."),
    threads: int = typer.Option(1, "--threads", help="torch CPU threads."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Train the EDM-preconditioned digits denoiser on CPU and report its FDD against the Gaussian fit."""
    if what != "digits":
        raise S2NError(f"unknown training target {what!r} (choose digits)")
    cfg = digits.TrainConfig(steps=steps, batch=batch, lr=lr, hidden=hidden, layers=layers, seed=seed)
    if threads < 1:
        raise S2NError(f"--threads must be >= 1, got {threads}")
    if out.exists() and not out.is_dir():
        raise S2NError(f"--out {out} exists and is not a directory")
    torch.set_num_threads(threads)
    digits.train(out, cfg, progress=progress)
    report = json.loads((out / "evaluation.json").read_text())
    typer.echo(json.dumps(report, indent=2))
