"""One device-agnostic torch sampling engine for the whole ρ-family (claims B2–B6).

``sample(denoiser, x, schedule, grid, method=…, rho=…, gamma=…, delta=…)`` runs from
``grid[0]`` (noise end) to ``grid[-1]`` with ``denoiser(x, t) -> x̂₀``. ``method`` names an
entry of the solver registry :data:`~s2n_theory.sampling.solvers.SOLVERS` (``exact``,
``euler``, ``heun``, the multistep ``ms2``/``ms3``/``ms4`` and their ``-pc`` correctors, …).

Every step of every solver is affine in (x, the recent x̂₀ evaluations, ξ) (see
:mod:`~s2n_theory.sampling.solvers.base`). The solver builds the coefficients of the whole grid
in float64 from the verified symbolic derivations before the loop; the loop itself only does
tensor arithmetic, so the same code runs on CPU and CUDA, in float32 or float64, for any batch
shape. B4's γ is applied to every evaluation, x̂₀_γ = (1 + γ) x_θ − γ x/α_t, and δ scales
the noise columns of the table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import S2NError
from ..schedule import Schedule
from .coefficients import Rho, prediction_transform
from .noise import StepNoise
from .solvers import SOLVERS, get_solver
from .validation import FiniteWatch, check_denoiser_output, check_sample_arguments

METHODS = tuple(SOLVERS)
"""Names of the registered solvers at import time (the registry itself is :data:`SOLVERS`)."""

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class SampleResult:
    """Samples at the end of the grid (or x̂₀ there, if ``denoise_final``) and the NFE count."""

    samples: torch.Tensor
    nfe: int


def step_table(schedule: Schedule, grid: torch.Tensor, method: str, rho: Rho = 0.0, delta: float = 0.0) -> np.ndarray:
    """The solver's per-step coefficient table for ``grid``, float64 (layout: ``SOLVERS[method].layout``).

    For the single-evaluation solvers a row is (A, B, C): x_s = A x + B x̂₀ + C ξ; ρ(t) is taken
    at each step's midpoint (``exact``, multistep) or start (``euler``).
    """
    times = grid.detach().cpu().double().numpy()
    return get_solver(method).coefficients(schedule, times, rho, delta)


def _check(x: torch.Tensor, grid: torch.Tensor, method: str, rho: Rho, schedule: Schedule) -> None:
    solver = get_solver(method)
    if grid.ndim != 1 or grid.numel() < 2:
        raise S2NError("grid must be a 1-D tensor of at least two times")
    times = grid.detach().cpu().double()
    if not bool(torch.all(times[1:] < times[:-1])):
        raise S2NError("grid must be strictly decreasing (noise end first)")
    if times[-1] < schedule.t_min or times[0] > schedule.t_max:
        raise S2NError(f"grid [{float(times[-1]):g}, {float(times[0]):g}] leaves the schedule's domain")
    solver.check_rho(rho)
    if not torch.is_floating_point(x):
        raise S2NError("x must be a floating-point tensor")


def _plan(table: np.ndarray, method: str) -> list[tuple]:
    """Per step: (A, [(j, B_j) ≠ 0], C, corrector or None) as Python floats, the cheapest scalars for torch."""
    lay = get_solver(method).layout
    plan = []
    for row in table.tolist():
        weights = [(j, w) for j, w in enumerate(row[lay.b]) if w != 0.0]
        corrector = None
        if lay.corrector and row[lay.flag] != 0.0:
            corrector = (row[lay.corrector_a], row[lay.corrector_p], row[lay.corrector_c],
                         [(j, w) for j, w in enumerate(row[lay.corrector_b]) if w != 0.0])
        plan.append((row[lay.a], weights, row[lay.c], corrector))
    return plan


def _combine(a: float, x: torch.Tensor, weights: list[tuple[int, float]], values: list[torch.Tensor]) -> torch.Tensor:
    out = a * x
    for j, w in weights:
        out = out.add(values[j], alpha=w)
    return out


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
    solver = get_solver(method)
    table = step_table(schedule, grid, method, rho, delta)
    plan = _plan(table, method)
    times_np = grid.detach().cpu().double().numpy()
    times = times_np.tolist()
    shift = prediction_transform(schedule, times_np, gamma)
    shift = None if shift is None else shift.tolist()
    batch = x.shape[0] if x.ndim else 1
    history_length = solver.layout.history

    def evaluate(state: torch.Tensor, index: int, step: int) -> torch.Tensor:
        out = denoiser(state, torch.full((batch,), times[index], dtype=state.dtype, device=state.device))
        out = check_denoiser_output(out, state, step, times[index])  # validation: reported as the step's
        watch.record(out, step, times[index])  # validation
        if shift is not None:  # B4: x̂₀_γ = (1 + γ) x_θ − γ x/α_t
            out = (1.0 + gamma) * out + shift[index] * state
        return out

    steps = range(len(times) - 1)
    if progress:
        from tqdm.auto import tqdm

        steps = tqdm(steps, desc=f"sampling ({method})", leave=False)
    # The steps that draw noise, known from the table: a counter-based source draws them in blocks.
    noisy = [k for k, (_, _, c, corrector) in enumerate(plan)
             if c != 0.0 or (corrector is not None and corrector[2] != 0.0)]
    step_noise = StepNoise(x, generator, noisy)
    nfe = 0
    history: list[torch.Tensor] = []
    pending: torch.Tensor | None = None
    for k in steps:
        a, weights, c, corrector = plan[k]
        if pending is None:
            x0_hat = evaluate(x, k, k)
            nfe += 1
        else:
            x0_hat, pending = pending, None
        history = [x0_hat, *history[: history_length - 1]]
        noise = None
        if c != 0.0 or (corrector is not None and corrector[2] != 0.0):
            noise = step_noise(k)
        predicted = _combine(a, x, weights, history)
        if c != 0.0:
            predicted = predicted.add(noise, alpha=c)
        if corrector is None:
            x = predicted
        else:
            a_c, p_c, c_c, weights_c = corrector
            x0_end = evaluate(predicted, k + 1, k)
            nfe += 1
            x = _combine(a_c, x, weights_c, [x0_end, *history])
            if p_c != 0.0:
                x = x.add(predicted, alpha=p_c)
            if c_c != 0.0:
                x = x.add(noise, alpha=c_c)
            if solver.reuse:
                pending = x0_end
        if callback is not None:
            callback({"step": k, "t": times[k + 1], "x": x, "x0_hat": x0_hat})
    if denoise_final:
        x = evaluate(x, len(times) - 1, len(times) - 1)
        nfe += 1
    watch.verify(x)  # validation: one host sync, after the loop
    return SampleResult(x, nfe)
