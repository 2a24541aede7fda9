"""A time grid tuned to a solver, a schedule and an NFE budget, by measured error (cheap, reproducible).

Candidates: the Karras σ-grids with grid exponent k ∈ ``EXPONENTS`` and the power-λ grids
λ_i = λ(t_max) + (λ(t_min) − λ(t_max)) (i/n)^p, p ∈ ``POWERS`` (p = 1 is uniform in λ, the
k → ∞ limit of Karras; p < 1 takes larger λ-steps at the noise end). For each candidate the
solver runs from the caller's starting points with the caller's denoiser, and its error is
the mean distance to a fine solve from the same points (ms3-pc, ``reference_steps``
uniform-λ steps); the least error wins. Deterministic for a given denoiser and start, and
cheap: (len(EXPONENTS) + len(POWERS)) × NFE + reference_steps calls on a small batch.
Only the denoiser's calls are needed (no oracle), so it works with a network too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import S2NError
from ..schedule import Schedule
from .engine import Denoiser, sample
from .grids import time_grid
from .solvers import get_solver

EXPONENTS = (3.0, 5.0, 7.0, 10.0, 15.0)
POWERS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2)


def power_lambda_grid(schedule: Schedule, steps: int, power: float) -> torch.Tensor:
    """λ_i = λ(t_max) + (λ(t_min) − λ(t_max)) (i/steps)^power, mapped to t (decreasing, float64)."""
    num = schedule.lambdify("numpy")
    lam_hi, lam_lo = float(num.log_snr(schedule.t_max)), float(num.log_snr(schedule.t_min))
    lam = lam_hi + (lam_lo - lam_hi) * np.linspace(0.0, 1.0, steps + 1) ** power
    times = np.asarray(num.t_of_log_snr(lam), dtype=np.float64)
    times[0], times[-1] = schedule.t_max, schedule.t_min
    if not np.all(np.diff(times) < 0):
        raise S2NError(f"power-lambda grid with {steps} steps and power {power:g} is not strictly decreasing")
    return torch.from_numpy(times.copy())


@dataclass
class TunedGrid:
    grid: torch.Tensor
    kind: str  # "power-lambda" or "karras"
    parameter: float  # the power p or the Karras grid exponent k
    error: float
    errors: dict[str, float]


def tuned_grid(schedule: Schedule, steps: int, method: str, denoiser: Denoiser, x_start: torch.Tensor,
               rho: float = 0.0, exponents: Sequence[float] = EXPONENTS, powers: Sequence[float] = POWERS,
               reference_steps: int = 512) -> TunedGrid:
    """The candidate grid of ``steps`` steps with the least measured error for ``method`` (module docstring).

    With ρ > 0 the error is pathwise against the ODE reference (noise seed 0): a crude proxy that
    only ranks grids; tuning a stochastic sampler on its ODE (ρ = 0) is the cheaper default.
    """
    get_solver(method).check_rho(rho)
    x_start = x_start.detach()
    fine = time_grid(schedule, reference_steps, "uniform-lambda")
    reference = sample(denoiser, x_start.clone(), schedule, fine, method="ms3-pc").samples
    candidates = {f"power-lambda-{p:g}": power_lambda_grid(schedule, steps, p) for p in powers}
    candidates.update({f"karras-{k:g}": time_grid(schedule, steps, "karras", exponent=k) for k in exponents})
    errors: dict[str, float] = {}
    for label, grid in candidates.items():
        out = sample(denoiser, x_start.clone(), schedule, grid, method=method, rho=rho, generator=0).samples
        errors[label] = float((out - reference).flatten(1).norm(dim=1).mean())
    label = min(errors, key=errors.get)
    kind, value = label.rsplit("-", 1)
    return TunedGrid(candidates[label], kind, float(value), errors[label], errors)
