"""One device-agnostic torch sampling engine for the whole ρ-family (docs/theory.md).

``sample(denoiser, x, schedule, grid, method=…, rho=…, gamma=…, delta=…)`` runs from
``grid[0]`` (noise end) to ``grid[-1]`` with ``denoiser(x, t) -> x̂₀``:

* ``exact``: the exact inference step B3 with B4's γ, δ (x̂₀ frozen on each step);
* ``euler``: Euler–Maruyama on the data-prediction SDE B2, with γ, δ;
* ``heun``: Heun's second-order method on the probability-flow ODE (ρ = 0), Euler on
  the last step.

Every step of every method is affine in (x, x̂₀, ξ): x_s = A x + B x̂₀ + C ξ. The
coefficients come from the verified symbolic derivations in
:mod:`s2n_theory.backward` (lambdified once per schedule), are evaluated for the whole
grid in float64 before the loop, and the loop itself only does tensor arithmetic,
so the same code runs on CPU and CUDA, in float32 or float64, for any batch shape.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp
import torch

from .. import backward
from ..arrays import compile_expression
from ..errors import S2NError
from ..schedule import Schedule
from ..symbols import S, T
from .noise import draw_normal
from .validation import FiniteWatch, check_denoiser_output, check_sample_arguments

METHODS = ("exact", "euler", "heun")
Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Rho = float | Callable[[Any], Any]

_X, _X0 = sp.Symbol("x", real=True), sp.Symbol("x0", real=True)


@dataclass
class SampleResult:
    """Samples at the end of the grid (or x̂₀ there, if ``denoise_final``) and the NFE count."""

    samples: torch.Tensor
    nfe: int


@functools.lru_cache(maxsize=64)
def _exact_coefficients(schedule: Schedule) -> Callable[..., Any]:
    """B4 step coefficients (c_x, c_θ, c_ξ) as numpy functions of (t, s, ρ, γ, δ)."""
    coefficients = backward.parametric_step_coefficients(schedule, backward.RHO, backward.GAMMA, backward.DELTA)
    args = [T, S, backward.RHO, backward.GAMMA, backward.DELTA]
    compiled = [compile_expression(args, c) for c in coefficients]
    return lambda *values: [f(*values) for f in compiled]


@functools.lru_cache(maxsize=64)
def _drift_coefficients(schedule: Schedule) -> Callable[..., Any]:
    """B2 drift with B4's x̂₀_γ, as d = a x + b x_θ, and the noise scale c: numpy functions of (t, ρ, γ)."""
    x0_gamma = backward.parametric_x0(_X, _X0, schedule.alpha, backward.GAMMA)
    drift = sp.expand(backward.drift_from_x0(schedule, _X, x0_gamma, backward.RHO))
    parts = [sp.diff(drift, _X), sp.diff(drift, _X0), backward.noise_scale_data_form(schedule, backward.RHO)]
    args = [T, backward.RHO, backward.GAMMA]
    compiled = [compile_expression(args, p) for p in parts]
    return lambda *values: [f(*values) for f in compiled]


def _rho_values(rho: Rho, times: np.ndarray) -> np.ndarray:
    values = np.asarray(rho(times) if callable(rho) else np.full_like(times, float(rho)), dtype=np.float64)
    values = np.broadcast_to(values, times.shape)
    if np.any(~np.isfinite(values)) or np.any(values < 0):
        raise S2NError("rho must be finite and >= 0 on the grid")
    return values


def step_table(schedule: Schedule, grid: torch.Tensor, method: str, rho: Rho = 0.0, gamma: float = 0.0,
               delta: float = 0.0) -> np.ndarray:
    """Per-step affine coefficients, shape (n, 5), float64.

    Columns (A, B, C, A₂, B₂): a step is x_s = A x + B x̂₀ + C ξ. For ``heun`` (A, B) is the
    Euler predictor and (A₂, B₂) = −Δt (a, b) is the slope at the step's end, with the ODE
    drift d = a x + b x̂₀ (B2 at ρ = 0). ρ(t) is evaluated at each step's midpoint for
    ``exact`` and at its start for ``euler``.
    """
    times = grid.detach().cpu().double().numpy()
    t, s = times[:-1], times[1:]
    table = np.zeros((len(t), 5))
    if method == "exact":
        rho_k = _rho_values(rho, 0.5 * (t + s))
        table[:, :3] = np.stack(_exact_coefficients(schedule)(t, s, rho_k, gamma, delta), axis=1)
        return table
    rho_k = _rho_values(rho, t) if method == "euler" else np.zeros_like(t)
    a, b, c = _drift_coefficients(schedule)(t, rho_k, gamma)
    dt = t - s
    table[:, 0], table[:, 1], table[:, 2] = 1.0 - a * dt, -b * dt, (1.0 + delta) * c * np.sqrt(dt)
    if method == "heun":
        a_end, b_end, _ = _drift_coefficients(schedule)(s, np.zeros_like(s), gamma)
        table[:, 3], table[:, 4] = -a_end * dt, -b_end * dt
    return table


def _check(x: torch.Tensor, grid: torch.Tensor, method: str, rho: Rho, schedule: Schedule) -> None:
    if method not in METHODS:
        raise S2NError(f"unknown method {method!r} (choose {', '.join(METHODS)})")
    if grid.ndim != 1 or grid.numel() < 2:
        raise S2NError("grid must be a 1-D tensor of at least two times")
    times = grid.detach().cpu().double()
    if not bool(torch.all(times[1:] < times[:-1])):
        raise S2NError("grid must be strictly decreasing (noise end first)")
    if times[-1] < schedule.t_min or times[0] > schedule.t_max:
        raise S2NError(f"grid [{float(times[-1]):g}, {float(times[0]):g}] leaves the schedule's domain")
    if method == "heun" and (callable(rho) or float(rho) != 0.0):
        raise S2NError("heun integrates the probability-flow ODE: rho must be 0")
    if not torch.is_floating_point(x):
        raise S2NError("x must be a floating-point tensor")


def sample(
    denoiser: Denoiser,
    x: torch.Tensor,
    schedule: Schedule,
    grid: torch.Tensor,
    method: str = "exact",
    rho: Rho = 0.0,
    gamma: float = 0.0,
    delta: float = 0.0,
    generator: int | torch.Generator | None = None,
    callback: Callable[[dict], None] | None = None,
    progress: bool = False,
    denoise_final: bool = True,
) -> SampleResult:
    """Sample from ``x`` at ``grid[0]`` down to ``grid[-1]`` (see the module docstring).

    ``denoiser(x, t)`` gets ``t`` as one time per sample (shape ``(batch,)``, x's dtype and
    device). ``generator``: an int seed gives per-sample counter-based noise (sample i does not
    depend on the batch size or device), a ``torch.Generator`` or None uses torch's RNG.
    ``callback`` receives ``{"step", "t", "x", "x0_hat"}`` after each step. With
    ``denoise_final`` the result is x̂₀ at ``grid[-1]`` (one more NFE), as EDM's last step to σ = 0.
    """
    check_sample_arguments(x, gamma, delta)  # validation: arguments
    _check(x, grid, method, rho, schedule)
    watch = FiniteWatch()  # validation: denoiser output finite (flags read once, after the loop)
    table = step_table(schedule, grid, method, rho, gamma, delta)
    coefficients = table.tolist()  # Python floats: the cheapest scalars for torch arithmetic
    times = grid.detach().cpu().double().tolist()
    batch = x.shape[0] if x.ndim else 1

    def time_tensor(value: float) -> torch.Tensor:
        return torch.full((batch,), value, dtype=x.dtype, device=x.device)

    stochastic = method != "heun" and bool(np.any(table[:, 2] != 0))
    steps = range(len(times) - 1)
    if progress:
        from tqdm.auto import tqdm

        steps = tqdm(steps, desc=f"sampling ({method})", leave=False)
    nfe = 0
    last = len(times) - 2
    for k in steps:
        a, b, c, a_end, b_end = coefficients[k]
        x0_hat = check_denoiser_output(denoiser(x, time_tensor(times[k])), x, k, times[k])  # validation
        watch.record(x0_hat, k, times[k])  # validation
        nfe += 1
        if method == "heun" and k < last:
            predictor = a * x + b * x0_hat
            x0_end = denoiser(predictor, time_tensor(times[k + 1]))
            x0_end = check_denoiser_output(x0_end, x, k, times[k + 1])  # validation
            watch.record(x0_end, k, times[k + 1])  # validation
            nfe += 1
            # Trapezoid: x_s = x − Δt (d_start + d_end)/2, with −Δt d_start = (A − 1) x + B x̂₀.
            x = x + 0.5 * ((a - 1.0) * x + b * x0_hat) + 0.5 * (a_end * predictor + b_end * x0_end)
        else:
            x = a * x + b * x0_hat
            if stochastic and c != 0.0:
                x = x + c * draw_normal(x, generator, step=k)
        if callback is not None:
            callback({"step": k, "t": times[k + 1], "x": x, "x0_hat": x0_hat})
    if denoise_final:
        x = check_denoiser_output(denoiser(x, time_tensor(times[-1])), x, last + 1, times[-1])  # validation
        watch.record(x, last + 1, times[-1])  # validation
        nfe += 1
    watch.verify(x)  # validation: one host sync, after the loop
    return SampleResult(x, nfe)
