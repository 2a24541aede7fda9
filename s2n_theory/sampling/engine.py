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

from collections.abc import Callable, Sequence
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


Coefficient = float | torch.Tensor
"""A step coefficient: a Python float (one run), or a tensor of shape (runs, 1, …, 1) over the stacked runs of
:func:`sample_rhos` where they differ."""


def _plan(tables: list[np.ndarray], method: str, like: torch.Tensor) -> list[tuple]:
    """Per step: (A, [(j, B_j) ≠ 0], C, corrector or None), each coefficient a :data:`Coefficient`: a Python float
    (the cheapest scalar for torch) where every run has the same value, else one value per run."""
    lay = get_solver(method).layout
    stacked = np.stack(tables)  # (runs, steps, width)
    if lay.corrector and np.any(stacked[:, :, lay.flag] != stacked[:1, :, lay.flag]):
        raise S2NError(f"{method}: the runs' corrector steps differ; they cannot share one batch")
    first, same = stacked[0].tolist(), np.all(stacked == stacked[:1], axis=0).tolist()
    used = np.any(stacked != 0.0, axis=0).tolist()
    shape = (len(tables),) + (1,) * like.ndim

    def coefficient(k: int, column: int) -> Coefficient:
        if same[k][column]:
            return first[k][column]
        return torch.as_tensor(stacked[:, k, column], dtype=like.dtype, device=like.device).reshape(shape)

    def nonzero(k: int, columns: slice) -> list[tuple[int, Coefficient]]:
        return [(j, coefficient(k, col)) for j, col in enumerate(range(columns.start, columns.stop)) if used[k][col]]

    plan = []
    for k in range(stacked.shape[1]):
        corrector = None
        if lay.corrector and first[k][lay.flag] != 0.0:
            corrector = (coefficient(k, lay.corrector_a), coefficient(k, lay.corrector_p),
                         coefficient(k, lay.corrector_c), nonzero(k, lay.corrector_b))
        plan.append((coefficient(k, lay.a), nonzero(k, lay.b), coefficient(k, lay.c), corrector))
    return plan


def _is_zero(c: Coefficient) -> bool:
    return isinstance(c, float) and c == 0.0


def _axpy(out: torch.Tensor, value: torch.Tensor, w: Coefficient) -> torch.Tensor:
    """out += w · value, in place: ``out`` is always a tensor the step has just made (no caller holds it yet), and a
    step adds up to six terms, each of which would otherwise allocate a state-sized tensor."""
    return out.add_(value, alpha=w) if isinstance(w, float) else out.addcmul_(value, w)


def _combine(a: Coefficient, x: torch.Tensor, weights: list[tuple[int, Coefficient]],
             values: list[torch.Tensor]) -> torch.Tensor:
    out = a * x
    for j, w in weights:
        _axpy(out, values[j], w)
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
    return _run(denoiser, x, schedule, grid, [(method, [rho], False)], gamma, delta, generator, callback, progress,
                denoise_final)[0][0]


def sample_rhos(
    denoiser: Denoiser,
    x: torch.Tensor,
    schedule: Schedule,
    grid: torch.Tensor,
    method: str,
    rhos: Sequence[Rho],
    gamma: float = 0.0,
    delta: float = 0.0,
    generator: int | torch.Generator | None = None,
    callback: Callable[[dict], None] | None = None,
    denoise_final: bool = True,
) -> list[SampleResult]:
    """:func:`sample` from the same ``x`` at every ρ of ``rhos``, run as one batch: one denoiser call per
    evaluation for all of them (the runs' states stacked on a new first axis), so a family of runs costs one
    run's per-step overhead.

    Run i equals ``sample(…, rho=rhos[i])`` with the same arguments, its counter-based noise included (every
    run draws the noise of sample ids 0…B−1; a ``torch.Generator`` is drawn once per step for all runs, so the
    runs share their noise there too). ``callback`` receives the stacked states, shape ``(len(rhos), *x.shape)``.
    """
    if len(rhos) == 0:
        raise S2NError("sample_rhos needs at least one rho")
    return _run(denoiser, x, schedule, grid, [(method, list(rhos), True)], gamma, delta, generator, callback,
                False, denoise_final)[0]


def sample_runs(
    denoiser: Denoiser,
    x: torch.Tensor,
    schedule: Schedule,
    grid: torch.Tensor,
    runs: Sequence[tuple[str, Rho]],
    gamma: float = 0.0,
    delta: float = 0.0,
    generator: int | torch.Generator | None = None,
    denoise_final: bool = True,
) -> list[SampleResult]:
    """:func:`sample` from the same ``x`` on the same grid for every (method, ρ) of ``runs``, in lockstep: at each
    step the evaluations the runs need at one grid time go to the denoiser as one batch (at most two calls per
    step, whatever the number of runs), and the step's noise is drawn once.

    Run i equals ``sample(…, method=runs[i][0], rho=runs[i][1])`` with the same arguments, counter-based noise
    included (a ``torch.Generator`` is drawn once per step for all runs).
    """
    if len(runs) == 0:
        raise S2NError("sample_runs needs at least one (method, rho)")
    groups: dict[str, list[Rho]] = {}
    for method, rho in runs:  # the ρ of one method run stacked, as in sample_rhos
        groups.setdefault(method, []).append(rho)
    results = _run(denoiser, x, schedule, grid, [(m, rhos, True) for m, rhos in groups.items()], gamma, delta,
                   generator, None, False, denoise_final)
    by_method = {m: iter(r) for m, r in zip(groups, results, strict=True)}
    return [next(by_method[method]) for method, _ in runs]


class _Group:
    """One method's runs inside :func:`_run`: its plan, state (stacked over its ρ when ``stacked``) and history."""

    def __init__(self, method: str, plan: list[tuple], stacked: bool, runs: int, x: torch.Tensor):
        self.method, self.plan, self.stacked, self.runs = method, plan, stacked, runs
        self.solver = get_solver(method)
        self.x = x.unsqueeze(0).expand(runs, *x.shape).clone() if stacked else x
        self.history: list[torch.Tensor] = []
        self.pending: torch.Tensor | None = None
        self.predicted: torch.Tensor | None = None
        self.noise: torch.Tensor | None = None
        self.nfe = 0


def _run(denoiser: Denoiser, x: torch.Tensor, schedule: Schedule, grid: torch.Tensor,
         groups: list[tuple[str, list[Rho], bool]], gamma: float, delta: float,
         generator: int | torch.Generator | None, callback: Callable[[dict], None] | None, progress: bool,
         denoise_final: bool) -> list[list[SampleResult]]:
    """The loop of :func:`sample`, :func:`sample_rhos` and :func:`sample_runs`: every group (a method and its ρ,
    stacked on a new first axis when asked) steps in lockstep; the evaluations due at one grid time are one
    denoiser call. Each coefficient is a float where a group's runs agree, else a tensor over them."""
    check_sample_arguments(x, gamma, delta)  # validation: arguments
    for method, rhos, stacked in groups:
        for rho in rhos:
            _check(x, grid, method, rho, schedule)
        if stacked and x.ndim == 0:
            raise S2NError("batched runs need x with a batch axis")
    watch = FiniteWatch()  # validation: denoiser output finite (flags read once, after the loop)
    runs = [_Group(method, _plan([step_table(schedule, grid, method, rho, delta) for rho in rhos], method, x),
                   stacked, len(rhos), x) for method, rhos, stacked in groups]
    times_np = grid.detach().cpu().double().numpy()
    times = times_np.tolist()
    shift = prediction_transform(schedule, times_np, gamma)
    shift = None if shift is None else shift.tolist()
    one_run = tuple(x.shape)

    def evaluate(states: list[torch.Tensor], index: int, step: int) -> list[torch.Tensor]:
        """x̂₀ of every state at grid time ``index`` in one denoiser call (states stacked or not, same event shape)."""
        flats = [state.reshape(-1, *one_run[1:]) if state.ndim > len(one_run) else state for state in states]
        flat = flats[0] if len(flats) == 1 else torch.cat(flats)
        count = flat.shape[0] if flat.ndim else 1
        out = denoiser(flat, torch.full((count,), times[index], dtype=flat.dtype, device=flat.device))
        out = check_denoiser_output(out, flat, step, times[index])  # validation: reported as the step's
        watch.record(out, step, times[index])  # validation
        parts = [out] if len(flats) == 1 else out.split([f.shape[0] for f in flats])
        outs = [part.reshape(state.shape) for part, state in zip(parts, states, strict=True)]
        if shift is not None:  # B4: x̂₀_γ = (1 + γ) x_θ − γ x/α_t
            outs = [(1.0 + gamma) * o + shift[index] * state for o, state in zip(outs, states, strict=True)]
        return outs

    steps = range(len(times) - 1)
    if progress:
        from tqdm.auto import tqdm

        steps = tqdm(steps, desc=f"sampling ({', '.join(m for m, _, _ in groups)})", leave=False)

    def draws_noise(step: tuple) -> bool:
        _, _, c, corrector = step
        return not _is_zero(c) or (corrector is not None and not _is_zero(corrector[2]))

    # The steps that draw noise, known from the tables: a counter-based source draws them in blocks, once for all
    # the runs (shaped like one run's x: the same numbers for every run, as separate runs would draw).
    noisy = sorted({k for g in runs for k, step in enumerate(g.plan) if draws_noise(step)})
    step_noise = StepNoise(x, generator, noisy)
    for k in steps:
        due = [g for g in runs if g.pending is None]
        fresh = iter(evaluate([g.x for g in due], k, k)) if due else iter(())
        noise = None
        for g in runs:
            if g.pending is None:
                x0_hat = next(fresh)
                g.nfe += 1
            else:
                x0_hat, g.pending = g.pending, None
            g.history = [x0_hat, *g.history[: g.solver.layout.history - 1]]
            a, weights, c, corrector = g.plan[k]
            if noise is None and draws_noise(g.plan[k]):
                noise = step_noise(k)
            g.noise = noise
            g.predicted = _combine(a, g.x, weights, g.history)
            if not _is_zero(c):
                _axpy(g.predicted, noise, c)
        correcting = [g for g in runs if g.plan[k][3] is not None]
        ends = evaluate([g.predicted for g in correcting], k + 1, k) if correcting else []
        for g, x0_end in zip(correcting, ends, strict=True):
            a_c, p_c, c_c, weights_c = g.plan[k][3]
            g.nfe += 1
            new = _combine(a_c, g.x, weights_c, [x0_end, *g.history])
            if not _is_zero(p_c):
                _axpy(new, g.predicted, p_c)
            if not _is_zero(c_c):
                _axpy(new, g.noise, c_c)
            g.x = new
            if g.solver.reuse:
                g.pending = x0_end
        for g in runs:
            if g.plan[k][3] is None:
                g.x = g.predicted
            g.predicted = g.noise = None
        if callback is not None:
            g = runs[0]
            callback({"step": k, "t": times[k + 1], "x": g.x, "x0_hat": g.history[0]})
    if denoise_final:
        for g, out in zip(runs, evaluate([g.x for g in runs], len(times) - 1, len(times) - 1), strict=True):
            g.x, g.nfe = out, g.nfe + 1
    watch.verify(runs[0].x if len(runs) == 1 else torch.cat([g.x.reshape(-1) for g in runs]))  # validation: one
    # host sync, after the loop
    return [[SampleResult(g.x[i], g.nfe) for i in range(g.runs)] if g.stacked else [SampleResult(g.x, g.nfe)]
            for g in runs]
