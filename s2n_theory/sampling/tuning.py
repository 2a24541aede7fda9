"""A time grid tuned to a solver, a schedule and an NFE budget, by measured error (cheap, reproducible).

Candidates: the Karras σ-grids with grid exponent k ∈ ``EXPONENTS`` and the power-λ grids
λ_i = λ(t_max) + (λ_end − λ(t_max)) (i/n)^p, p ∈ ``POWERS`` (p = 1 is uniform in λ, the
k → ∞ limit of Karras; p < 1 takes larger λ-steps at the noise end), each ending at
σ_end = stop × σ(t_min), stop ∈ ``STOPS`` (the final denoising call is made there: at
small NFE the steps saved near the data end are worth more than the last bit of flow). For each candidate the
solver runs from the caller's starting points with the caller's denoiser, and its error is
the mean distance to a fine solve from the same points (ms3-pc, ``reference_steps``
uniform-λ steps); the least error wins. Deterministic for a given denoiser and start, and
cheap: (len(EXPONENTS) + len(POWERS)) × len(STOPS) × NFE + reference_steps calls on a small batch.
Only the denoiser's calls are needed (no oracle), so it works with a network too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import S2NError
from ..numeric_schedule import compile_schedule
from ..schedule import Schedule
from .engine import Denoiser, sample
from .grids import time_grid
from .solvers import get_solver

EXPONENTS = (5.0, 7.0, 10.0, 15.0)
POWERS = (0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
STOPS = (1.0, 3.0, 10.0, 30.0)
"""Where the grid ends (before the final denoising call): σ = stop × σ(t_min), σ = e^{−λ/2}."""


def power_lambda_grid(schedule: Schedule, steps: int, power: float, stop: float = 1.0) -> torch.Tensor:
    """λ_i = λ(t_max) + (λ_end − λ(t_max)) (i/steps)^power with λ_end = λ(t_min) − 2 log(stop), mapped to t."""
    num = compile_schedule(schedule, "numpy")
    lam_hi = float(num.log_snr(schedule.t_max))
    lam_end = float(num.log_snr(schedule.t_min)) - 2.0 * np.log(stop)
    lam = lam_hi + (lam_end - lam_hi) * np.linspace(0.0, 1.0, steps + 1) ** power
    times = np.asarray(num.t_of_log_snr(lam), dtype=np.float64)
    times[0] = schedule.t_max
    if stop == 1.0:
        times[-1] = schedule.t_min
    if not np.all(np.diff(times) < 0):
        raise S2NError(f"power-lambda grid with {steps} steps and power {power:g} is not strictly decreasing")
    return torch.from_numpy(times.copy())


@dataclass
class TunedGrid:
    grid: torch.Tensor
    kind: str  # "power-lambda" or "karras"
    parameter: float  # the power p or the Karras grid exponent k
    stop: float  # the grid ends at σ = stop × σ(t_min)
    error: float
    errors: dict[str, float]


def tuned_grid(schedule: Schedule, steps: int, method: str, denoiser: Denoiser, x_start: torch.Tensor,
               rho: float = 0.0, exponents: Sequence[float] = EXPONENTS, powers: Sequence[float] = POWERS,
               stops: Sequence[float] = STOPS, reference_steps: int = 512) -> TunedGrid:
    """The candidate grid of ``steps`` steps with the least measured error for ``method`` (module docstring).

    With ρ > 0 the error is pathwise against the ODE reference (noise seed 0): a crude proxy that
    only ranks grids; tuning a stochastic sampler on its ODE (ρ = 0) is the cheaper default.
    """
    get_solver(method).check_rho(rho)
    x_start = x_start.detach()
    fine = time_grid(schedule, reference_steps, "uniform-lambda")
    reference = sample(denoiser, x_start.clone(), schedule, fine, method="ms3-pc").samples
    sigma_min = float(np.exp(-compile_schedule(schedule, "numpy").log_snr(schedule.t_min) / 2))
    candidates: dict[tuple[str, float, float], torch.Tensor] = {}
    for stop in stops:
        candidates.update({("power-lambda", p, stop): power_lambda_grid(schedule, steps, p, stop) for p in powers})
        end = {} if stop == 1.0 else {"sigma_min": stop * sigma_min}
        candidates.update({("karras", k, stop): time_grid(schedule, steps, "karras", exponent=k, **end)
                           for k in exponents})
    errors: dict[tuple[str, float, float], float] = {}
    for key, grid in candidates.items():
        out = sample(denoiser, x_start.clone(), schedule, grid, method=method, rho=rho, generator=0).samples
        errors[key] = float((out - reference).flatten(1).norm(dim=1).mean())
    best = min(errors, key=errors.get)
    return TunedGrid(candidates[best], best[0], best[1], best[2], errors[best],
                     {f"{k[0]} {k[1]:g} stop {k[2]:g}": v for k, v in errors.items()})
