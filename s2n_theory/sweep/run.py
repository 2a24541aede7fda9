"""One sweep run: sample one setting of the sampler and measure it against the target's reference
set, each metric with a percentile bootstrap interval."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import S2NError
from ..metrics import bootstrap_ci
from ..sampling import sample, time_grid
from ..schedule_spec import get_schedule
from .targets import load_target, metric_function

ROW_KEYS = ("run_id", "target", "schedule", "grid", "exponent", "nfe_target", "steps", "nfe", "method", "rho",
            "gamma", "delta", "seed", "samples", "seconds")


def run_one(run: dict[str, Any], out: str | None = None) -> dict[str, Any]:
    """Sample one setting and measure it; returns the result row (and saves the samples under ``out``).

    A run the toolkit refuses (an :class:`S2NError`: e.g. the denoiser returned NaN at some step, or a
    metric is not finite) gives an *error row*: the settings and ``error``, no metric values, so a result
    never holds silent NaNs. :func:`s2n_theory.sweep.run_sweep` reports error rows and redoes them on resume.
    """
    torch.set_num_threads(1)
    start_time = time.time()
    row = {k: run[k] for k in ROW_KEYS if k in run}
    try:
        samples, row["nfe"] = _sample(run)
        measured = _measure(run, samples)
    except S2NError as exc:
        row["error"] = str(exc)
        row["seconds"] = time.time() - start_time
        row["config"] = {k: v for k, v in run.items() if k not in row}
        return row
    row["finite"] = True
    row.update(measured)
    if out is not None:
        folder = Path(out) / "samples"
        folder.mkdir(parents=True, exist_ok=True)
        # Atomic: a run killed while saving leaves no truncated file under the final name.
        partial = folder / f".{run['run_id']}.{os.getpid()}.npy"
        np.save(partial, samples.numpy().astype(np.float32))
        os.replace(partial, folder / f"{run['run_id']}.npy")
    row["seconds"] = time.time() - start_time
    row["config"] = {k: v for k, v in run.items() if k not in row}
    return row


def _sample(run: dict[str, Any]) -> tuple[torch.Tensor, int]:
    dtype = getattr(torch, run["dtype"])
    target = load_target(run["target"], run["checkpoint"], run["edm"], run["reference"], run["sigma_data"],
                         run["samples"], run["device"])
    schedule = get_schedule(run["schedule"])
    # The exponent recorded in the row is the one used (None: a grid it does not shape).
    shape = {} if run["exponent"] is None else {"exponent": run["exponent"]}
    grid = time_grid(schedule, run["steps"], run["grid"], **shape)
    x = target.start(schedule, float(grid[0]), run["samples"], run["seed"], dtype, run["device"])
    with torch.no_grad():  # sample() raises (naming step and time) if the denoiser gives NaN or inf
        result = sample(target.denoiser_factory(schedule), x, schedule, grid, method=run["method"], rho=run["rho"],
                        gamma=run["gamma"], delta=run["delta"], generator=run["seed"],
                        denoise_final=run["denoise_final"])
    return result.samples.detach().cpu().double(), result.nfe


def _measure(run: dict[str, Any], samples: torch.Tensor) -> dict[str, float]:
    measured: dict[str, float] = {}
    target = load_target(run["target"], run["checkpoint"], run["edm"], run["reference"], run["sigma_data"],
                         run["samples"], run["device"])
    if target.reference is None:
        return measured
    for name in run["metrics"]:
        value, lo, hi = _bootstrap(metric_function(name), samples, target.reference, run["bootstrap"], run["seed"])
        if run["bootstrap"] == 0:
            lo = hi = None  # no replicates asked for: no interval (recorded as absent, not as NaN)
        if not all(math.isfinite(v) for v in (value, lo, hi) if v is not None):
            raise S2NError(f"metric {name} is not finite ({value}, interval [{lo}, {hi}])")
        measured[name], measured[f"{name}_lo"], measured[f"{name}_hi"] = value, lo, hi
    return measured


def _bootstrap(fn, x, y, n_boot, seed):
    return bootstrap_ci(fn, x, y, n_boot=n_boot, seed=seed)
