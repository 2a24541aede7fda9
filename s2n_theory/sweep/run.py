"""One sweep run: sample one setting of the sampler and measure it against the target's reference
set, each metric with a percentile bootstrap interval."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..metrics import bootstrap_ci
from ..sampling import sample, time_grid
from ..schedule_spec import get_schedule
from .targets import load_target, metric_function

ROW_KEYS = ("run_id", "target", "schedule", "grid", "exponent", "nfe_target", "steps", "nfe", "method", "rho",
            "gamma", "delta", "seed", "samples", "seconds")


def run_one(run: dict[str, Any], out: str | None = None) -> dict[str, Any]:
    """Sample one setting and measure it; returns the result row (and saves the samples under ``out``)."""
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
    return bootstrap_ci(fn, x, y, n_boot=n_boot, seed=seed)
