"""Forward simulation of F1, dx = f x dt + g dw, on a time grid (torch, any device)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..errors import S2NError
from ..numeric_schedule import compile_schedule
from ..schedule import Schedule
from .noise import StepNoise

FORWARD_METHODS = ("euler", "exact")


def simulate_forward(
    x0: torch.Tensor,
    schedule: Schedule,
    grid: torch.Tensor,
    method: str = "euler",
    generator: int | torch.Generator | None = None,
    return_path: bool = False,
    record: Sequence[int] | None = None,
) -> torch.Tensor:
    """Run the forward SDE from ``x0`` at ``grid[0]`` up the increasing ``grid``.

    ``euler``: Euler–Maruyama, x ← (1 + f Δt) x + g √Δt ξ (F1's f and g²).
    ``exact``: the transition kernel F3, x ← α_{t|s} x + σ_{t|s} ξ.
    Returns x at ``grid[-1]``; the whole path stacked on a new first axis with ``return_path``;
    or only the states at the grid indices in ``record`` (stacked), which keeps memory flat
    for long grids.
    """
    if method not in FORWARD_METHODS:
        raise S2NError(f"unknown forward method {method!r} (choose {', '.join(FORWARD_METHODS)})")
    times = grid.detach().cpu().double().numpy()
    if times.ndim != 1 or len(times) < 2 or np.any(np.diff(times) <= 0):
        raise S2NError("forward grid must be a strictly increasing 1-D tensor of at least two times")
    num = compile_schedule(schedule, "numpy")
    s, t = times[:-1], times[1:]
    if method == "euler":
        dt = t - s
        scale, noise = 1.0 + num.f(s) * dt, np.sqrt(num.g2(s) * dt)
    else:
        scale, noise = num.alpha_ts(t, s), np.sqrt(num.sigma2_ts(t, s))
    keep = set(range(len(times))) if return_path else set(record or ())
    saved = {0: x0} if 0 in keep else {}
    x = x0
    step_noise = StepNoise(x0, generator, list(range(len(s))), stream=1)
    for k, (a, c) in enumerate(zip(scale.tolist(), noise.tolist(), strict=True)):
        x = a * x + c * step_noise(k)
        if k + 1 in keep:
            saved[k + 1] = x
    if return_path or record is not None:
        order = sorted(keep) if return_path else list(record or ())
        return torch.stack([saved[i] for i in order])
    return x
