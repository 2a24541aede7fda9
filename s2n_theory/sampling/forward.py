"""Forward simulation of F1, dx = f x dt + g dw, on a time grid (torch, any device)."""

from __future__ import annotations

import numpy as np
import torch

from ..errors import S2NError
from ..schedule import Schedule
from .noise import draw_normal

FORWARD_METHODS = ("euler", "exact")


def simulate_forward(
    x0: torch.Tensor,
    schedule: Schedule,
    grid: torch.Tensor,
    method: str = "euler",
    generator: int | torch.Generator | None = None,
    return_path: bool = False,
) -> torch.Tensor:
    """Run the forward SDE from ``x0`` at ``grid[0]`` up the increasing ``grid``.

    ``euler``: Euler–Maruyama, x ← (1 + f Δt) x + g √Δt ξ (F1's f and g²).
    ``exact``: the transition kernel F3, x ← α_{t|s} x + σ_{t|s} ξ.
    Returns x at ``grid[-1]``, or the whole path stacked on a new first axis.
    """
    if method not in FORWARD_METHODS:
        raise S2NError(f"unknown forward method {method!r} (choose {', '.join(FORWARD_METHODS)})")
    times = grid.detach().cpu().double().numpy()
    if times.ndim != 1 or len(times) < 2 or np.any(np.diff(times) <= 0):
        raise S2NError("forward grid must be a strictly increasing 1-D tensor of at least two times")
    num = schedule.lambdify("numpy")
    s, t = times[:-1], times[1:]
    if method == "euler":
        dt = t - s
        scale, noise = 1.0 + num.f(s) * dt, np.sqrt(num.g2(s) * dt)
    else:
        scale, noise = num.alpha_ts(t, s), np.sqrt(num.sigma2_ts(t, s))
    x = x0
    path = [x0] if return_path else None
    for k, (a, c) in enumerate(zip(scale.tolist(), noise.tolist(), strict=True)):
        x = a * x + c * draw_normal(x, generator, step=k, stream=1)
        if path is not None:
            path.append(x)
    return torch.stack(path) if path is not None else x
