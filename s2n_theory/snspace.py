"""Signal-to-noise space, docs/theory.md (paper Theorem 5): claims S1–S3.

SN coordinates of a forward state are u = e^{−λ(t)} (the SN clock, increasing in
t) and y = x_t/α_t. Since x_t = α_t x₀ + σ_t ε and σ_t²/α_t² = e^{−λ_t},
y = x₀ + √u ε: every schedule is the same Brownian motion y(u) = x₀ + W(u) run on
its own clock u(t) (S1). Only λ enters, so two schedules with the same λ-range
induce the same SN process (S2), and the continuous-time diffusion loss depends
on the schedule only through its λ endpoints (S3).

This module gives the map (t, x) ↔ (u, y) for any schedule (numeric) and its
symbolic form, Itô's formula in both directions (S1), SN trajectories of the
exact step B3 (S2), and the diffusion loss as an integral in t or in λ (S3).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import sympy as sp

from . import backward, forward, symbolic_memo
from .arrays import backend_of, compile_expression, like
from .distributions import Estimate, mixture_edges
from .forward import X
from .numeric_schedule import NumericSchedule, compile_schedule
from .quadrature import integrate
from .schedule import Schedule
from .symbols import LAMBDA, S, T

Y = sp.Symbol("y", real=True)
"""The SN-space state y = x/α."""

MMSE = sp.Function("mmse", positive=True)
"""An arbitrary mmse(snr) for the symbolic change of variables (S3)."""


# ---------------------------------------------------------------------------- the map
def sn_coordinates(schedule: Schedule) -> tuple[sp.Expr, sp.Expr]:
    """S1: (u, y) = (e^{−λ(t)}, x/α(t)) as expressions in t and x."""
    return sp.exp(-schedule.log_snr), X / schedule.alpha


def to_sn(t: Any, x: Any, schedule: Any) -> tuple[Any, Any]:
    """(t, x_t) ↦ (u, y) = (e^{−λ(t)}, x_t/α(t)); x has shape (..., d), t broadcasts to x.shape[:-1]."""
    num = compile_schedule(schedule, backend_of(x))
    tt = like(t, x)
    return _exp(-num.log_snr(tt)), x / num.alpha(tt)[..., None]


def from_sn(u: Any, y: Any, schedule: Any) -> tuple[Any, Any]:
    """(u, y) ↦ (t, x_t) = (λ⁻¹(−log u), α(t) y), the inverse of :func:`to_sn`."""
    num = compile_schedule(schedule, backend_of(y))
    uu = like(u, y)
    t = num.t_of_log_snr(-_log(uu))
    return t, num.alpha(t)[..., None] * y


def _exp(v: Any) -> Any:
    return v.exp() if backend_of(v) == "torch" else np.exp(v)


def _log(v: Any) -> Any:
    return v.log() if backend_of(v) == "torch" else np.log(v)


# ---------------------------------------------------------------------------- S1: Itô
def ito_from_sn(schedule: Schedule) -> tuple[sp.Expr, sp.Expr]:
    """S1: Itô's formula on x = F(t, y) = α(t) y with dy = dW_{u(t)} = √(u′(t)) dw_t.

    dx = (∂_t F + ½ u′ ∂²_y F) dt + ∂_y F √u′ dw, so the drift is f x and the squared
    diffusion g² with (f, g²) returned here (y replaced by x/α).
    """
    u = sp.exp(-schedule.log_snr)
    u_rate = sp.diff(u, T)
    F = schedule.alpha * Y
    drift = sp.diff(F, T) + u_rate * sp.diff(F, Y, 2) / 2
    diffusion2 = u_rate * sp.diff(F, Y) ** 2
    return drift.subs(Y, X / schedule.alpha) / X, diffusion2


def ito_to_sn(schedule: Schedule) -> tuple[sp.Expr, sp.Expr]:
    """S1 backwards: Itô's formula on y = x/α(t) under F1's SDE dx = f x dt + g dw.

    Returns (drift of y, squared diffusion of y per dt); S1 says they are 0 and u′(t).
    """
    f, g2 = forward.drift(schedule), forward.diffusion_squared(schedule)
    G = X / schedule.alpha
    drift = sp.diff(G, T) + f * X * sp.diff(G, X) + g2 * sp.diff(G, X, 2) / 2
    return drift, g2 * sp.diff(G, X) ** 2


# ---------------------------------------------------------------------------- S2: trajectories
def sn_clock_schedule(log_snr_min: float, log_snr_max: float) -> Schedule:
    """SN space itself as a schedule: time is the clock u, α ≡ 1, σ = √u (so x = y), λ = −log u."""
    return Schedule.from_edm_sigma(sp.sqrt(T), domain=(float(np.exp(-log_snr_max)), float(np.exp(-log_snr_min))),
                                   name="sn-clock")


@functools.lru_cache(maxsize=64)
def _compiled_template(args: tuple[sp.Symbol, ...], template: sp.Expr, constants: int) -> Callable[..., Any]:
    return compile_expression([*args, *_constant_symbols(constants)], template)


def _constant_symbols(count: int) -> list[sp.Symbol]:
    return [sp.Symbol(f"float_constant_{i}", real=True) for i in range(count)]


def _compile_floats_as_arguments(args: Sequence[sp.Symbol], expr: sp.Expr) -> Callable[..., Any]:
    """:func:`compile_expression` of ``expr`` with its Float constants passed as arguments.

    The reference schedules of S2 and S3 differ between schedules only in such constants (their λ ends):
    one compilation (lambdify and common subexpressions, ~20 ms per expression) then serves every schedule
    of a process with the same expression structure; another structure is simply compiled once more.
    """
    template, values = symbolic_memo.derived("snspace.float_template", (sp.sympify(expr),),
                                             lambda: _float_template(sp.sympify(expr)))
    compiled = _compiled_template(tuple(args), template, len(values))
    return lambda *inputs: compiled(*inputs, *values)


def _float_template(expr: sp.Expr) -> tuple[sp.Expr, tuple[float, ...]]:
    """``expr`` with its Float constants replaced by :func:`_constant_symbols`, and their values in that order."""
    floats = list(dict.fromkeys(a for a in sp.preorder_traversal(expr) if isinstance(a, sp.Float)))
    template = expr.xreplace(dict(zip(floats, _constant_symbols(len(floats)), strict=True)))
    return template, tuple(float(f) for f in floats)


def closed_form_numeric(schedule: Schedule, inverse_log_snr: sp.Expr) -> NumericSchedule:
    """Numeric callables (numpy, float64) of ``schedule`` by plain compilation of its expressions, with the
    inverse t(λ) given in closed form (an expression in :data:`LAMBDA`).

    For the reference schedules of S2 and S3, built inside a check: :func:`compile_schedule` would solve
    for t(λ) and measure the stable export forms (seconds per schedule); these references are smooth
    on their domain, where the plain forms are accurate. The inverse is compared with λ(t) on a grid
    (a wrong closed form raises ValueError).
    """
    alpha_ts, sigma2_ts = forward.transition(schedule)
    one = {name: _compile_floats_as_arguments([T], expr) for name, expr in (
        ("alpha", schedule.alpha), ("sigma", schedule.sigma), ("log_snr", schedule.log_snr), ("snr", schedule.snr),
        ("f", forward.drift(schedule)), ("g2", forward.diffusion_squared(schedule)),
        ("dlog_snr", schedule.dlog_snr))}
    inverse = _compile_floats_as_arguments([LAMBDA], inverse_log_snr)
    probe = np.linspace(schedule.t_min, schedule.t_max, 33)
    if not np.allclose(inverse(one["log_snr"](probe)), probe, rtol=1e-12, atol=1e-12 * schedule.t_max):
        raise ValueError(f"{inverse_log_snr} is not the inverse of lambda(t) = {schedule.log_snr}")
    return NumericSchedule(schedule=schedule, backend="numpy", t_of_log_snr=inverse, inverse_closed_form=inverse,
                           alpha_ts=_compile_floats_as_arguments([T, S], alpha_ts),
                           sigma2_ts=_compile_floats_as_arguments([T, S], sigma2_ts), **one)


@functools.lru_cache(maxsize=8)
def sn_clock_numeric(log_snr_min: float, log_snr_max: float) -> NumericSchedule:
    """:func:`sn_clock_schedule` with its numeric callables (t(λ) = e^{−λ}), without the codegen selection; one
    build per λ range and process (S2 compares every schedule with the same one; callers only read it)."""
    return closed_form_numeric(sn_clock_schedule(log_snr_min, log_snr_max), sp.exp(-LAMBDA))


def sn_trajectory(
    schedule: Any,
    log_snr_grid: np.ndarray,
    denoiser: Callable[[Any, Any], Any],
    y_start: np.ndarray,
    *,
    rho: float = 0.0,
    noises: np.ndarray | None = None,
    step: Callable[..., Any] | None = None,
) -> np.ndarray:
    """S2: run the exact step (B3, :func:`s2n_theory.backward.exact_step`, unless ``step`` is
    given) on the λ-grid (increasing λ: noise to data) under ``schedule``; return the SN states
    y_i = x_i/α(t_i), shape (len(grid), n, d).

    The start is x = α(t_0) y_start; ``noises[i]`` is the ξ of step i (shared across schedules).
    """
    num = compile_schedule(schedule, "numpy")
    step = backward.exact_step if step is None else step
    times = num.t_of_log_snr(np.asarray(log_snr_grid, dtype=np.float64))
    # Times stay float64 arrays: the compiled schedule evaluates a Python float in float32.
    x = num.alpha(times[0]) * np.asarray(y_start, dtype=np.float64)
    out = [x / num.alpha(times[0])]
    for i in range(len(times) - 1):
        t, s = times[i], times[i + 1]
        x0_hat = denoiser(x, t)
        kwargs = {"rho": rho, "noise": None if noises is None else noises[i]} if rho else {}
        x = step(x, x0_hat, t, s, num, **kwargs)
        out.append(x / num.alpha(s))
    return np.stack(out)


# ---------------------------------------------------------------------------- S3: the diffusion loss
def loss_integrand_t(schedule: Schedule, mmse: Callable[[sp.Expr], sp.Expr] = MMSE) -> sp.Expr:
    """S3: the integrand in t of the continuous-time diffusion loss, −½ λ′(t) e^{λ(t)} mmse(e^{λ(t)})."""
    return -schedule.dlog_snr * sp.exp(schedule.log_snr) * mmse(sp.exp(schedule.log_snr)) / 2


def loss_integrand_log_snr(mmse: Callable[[sp.Expr], sp.Expr] = MMSE, lam: sp.Symbol = LAMBDA) -> sp.Expr:
    """S3: the integrand in λ, ½ e^λ mmse(e^λ) (integrated from λ(t_max) to λ(t_min))."""
    return sp.exp(lam) * mmse(sp.exp(lam)) / 2


def loss_antiderivative(schedule: Schedule, mmse: Callable[[sp.Expr], sp.Expr] = MMSE) -> sp.Expr:
    """S3: G(λ(t)) with G(Λ) = ∫_0^Λ ½ e^v mmse(e^v) dv, so that ∫ (t-integrand) dt = G(λ_min…) − …."""
    v = sp.Dummy("v", real=True)
    return sp.Integral(loss_integrand_log_snr(mmse, v), (v, 0, schedule.log_snr))


def _numeric_t_integrand(num: Any, t: np.ndarray, mse: np.ndarray) -> np.ndarray:
    lam = num.log_snr(t)
    return -num.dlog_snr(t) * np.exp(lam) * mse / 2


def diffusion_loss_in_t(
    schedule: Any,
    mse_of_t: Callable[[np.ndarray], np.ndarray],
    *,
    segments: int = 24,
    rtol: float = 1e-10,
) -> Estimate:
    """S3: L = −½ ∫_{t_min}^{t_max} λ′ e^λ mse(t) dt by adaptive Gauss–Legendre in t.

    ``mse_of_t(t)`` is E‖x₀ − x̂₀(x_t, t)‖² at an array of times. Breakpoints sit at equal
    steps of λ, where the integrand is smooth.
    """
    num = compile_schedule(schedule, "numpy")
    sched = num.schedule
    lam_lo, lam_hi = (float(num.log_snr(np.float64(v))) for v in (sched.t_max, sched.t_min))
    edges = num.t_of_log_snr(np.linspace(lam_hi, lam_lo, segments + 1))
    edges[0], edges[-1] = sched.t_min, sched.t_max

    def integrand(t: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return _numeric_t_integrand(num, t, np.asarray(mse_of_t(t.ravel())).reshape(t.shape))

    q = integrate(integrand, edges[None, :], rtol=rtol, atol=0.0, max_panels=16)
    return Estimate(q.value[0, 0], q.error[0, 0], "quadrature")


def diffusion_loss_in_log_snr(
    log_snr_min: float,
    log_snr_max: float,
    mmse_of_snr: Callable[[np.ndarray], np.ndarray],
    *,
    segments: int = 24,
    rtol: float = 1e-10,
) -> Estimate:
    """S3: L = ½ ∫_{λ_min}^{λ_max} e^λ mmse(e^λ) dλ by adaptive Gauss–Legendre in λ."""
    edges = np.linspace(log_snr_min, log_snr_max, segments + 1)[None, :]

    def integrand(lam: np.ndarray, rows: np.ndarray) -> np.ndarray:
        snr = np.exp(lam)
        return snr * np.asarray(mmse_of_snr(snr.ravel())).reshape(lam.shape) / 2

    q = integrate(integrand, edges, rtol=rtol, atol=0.0, max_panels=16)
    return Estimate(q.value[0, 0], q.error[0, 0], "quadrature")


def exact_denoiser_mse(mixture: Any, schedule: Any, *, rtol: float = 1e-12) -> Callable[[np.ndarray], np.ndarray]:
    """E‖x₀ − x̂₀(x_t, t)‖² of the exact denoiser under ``schedule`` for 1-D mixture data (weights π_k, means
    μ_k, variances v_k: a :class:`~s2n_theory.gaussian_mixture.GaussianMixture` with d = 1).

    For the exact denoiser E[x₀ x̂₀] = E[x̂₀²], so the error is E[x₀²] − ∫ p_t(x) x̂₀(x, t)² dx, the
    x-integral by adaptive Gauss–Legendre. In 1-D the posterior is written out (vectorised over the
    quadrature nodes): component k has marginal N(α μ_k, α² v_k + σ²) and posterior mean
    μ_k + α v_k (x − α μ_k)/(α² v_k + σ²); x̂₀ is their average under the responsibilities.
    """
    num = compile_schedule(schedule, "numpy")
    if mixture.dim != 1:
        raise ValueError("exact_denoiser_mse integrates over x and needs 1-D data")
    weights = np.asarray(mixture.weights, dtype=np.float64)
    means = mixture.means[:, 0]
    variances = mixture.full_covs()[:, 0, 0]
    second_moment = float(weights @ (variances + means**2))

    def mse(t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=np.float64)
        a, s = num.alpha(t)[:, None], num.sigma(t)[:, None]
        var = a**2 * variances + s**2  # (times, K)
        edges = mixture_edges(a * means, np.sqrt(var))
        # Per (time, component) once, not per node: the normal's factor, its exponent's scale, the posterior gain.
        norm, rate, gain = weights / np.sqrt(2 * np.pi * var), -0.5 / var, a * variances / var

        def integrand(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
            # Components first, (K, rows, nodes): the sums over K add K contiguous arrays.
            offset = x[None] - (means[:, None] * a[rows][:, 0])[:, :, None]
            density = norm[rows].T[:, :, None] * np.exp(offset**2 * rate[rows].T[:, :, None])
            p = density.sum(axis=0)
            weighted_mean = (density * (means[:, None, None] + gain[rows].T[:, :, None] * offset)).sum(axis=0)  # p x̂₀
            # Far in the tails every component underflows: p = p x̂₀ = 0 there, and so is p x̂₀².
            safe = np.where(p > 0, p, 1.0)
            return np.stack([np.where(p > 0, weighted_mean**2 / safe, 0.0), p])

        q = integrate(integrand, edges, rtol=rtol, atol=1e-15)
        return second_moment - q.value[0] / q.value[1]

    return mse
