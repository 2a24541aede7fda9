"""Generalized backward SDE, docs/theory.md (paper Theorems 2–3): claims B1–B4.

For any stochasticity ρ(t) ≥ 0, run from T down to 0,

    dx = [f x − ½(1 + ρ²) g² ∇log p_t(x)] dt + ρ g dw̄           (B1)
       = [f x + ½(1 + ρ²) λ′ (α x̂₀ − x)] dt + ρ σ √(−λ′) dw̄       (B2)

(ρ = 0: probability-flow ODE, ρ = 1: the reverse SDE; after Zhang & Chen 2022).
Freezing x̂₀ on [s, t] makes B2 linear; its exact solution is the step (B3)

    x_s = (σ_s/σ_t) e^{−ρ² h} x_t + α_s (1 − e^{−(1+ρ²) h}) x̂₀ + σ_s √(1 − e^{−2ρ² h}) ξ,
    h = (λ_s − λ_t)/2 > 0.

B4 is this toolkit's parametric step: x̂₀ is replaced by
x̂₀_γ = (1 + γ) x_θ − γ x/α_t (equivalently ε̂_γ = (1 + γ) ε_θ) and ξ by (1 + δ) ξ.
The symbolic functions return SymPy expressions in t (and s). Their numeric form is derived once,
on :data:`VALUES` (α, σ, λ, α′, λ′ as inputs), compiled per backend and fed the schedule's
generated values (:func:`step_coefficients`): :func:`exact_step`, :func:`euler_maruyama_step`
(numpy or torch, one time per sample allowed) and the sampling engine's per-grid tables all
evaluate that one implementation.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import sympy as sp
import torch
from sympy.codegen.rewriting import expm1_opt, optimize

from . import forward, symbolic_memo
from .arrays import append_dims, backend_of, compile_expression
from .arrays import like as like_array
from .numeric_schedule import compile_schedule
from .schedule import Schedule
from .symbols import S, T

RHO = sp.Symbol("rho", nonnegative=True)
"""A constant stochasticity ρ (the exact step freezes ρ on [s, t])."""

RHO_T = sp.Function("rho", nonnegative=True)(T)
"""A general stochasticity schedule ρ(t)."""

GAMMA = sp.Symbol("gamma", real=True)
"""B4: the prediction scale γ (ε̂_γ = (1 + γ) ε_θ)."""

DELTA = sp.Symbol("delta", real=True)
"""B4: the noise scale δ (noise (1 + δ) ξ)."""


# ---------------------------------------------------------------------- B1, B2: the SDE family
def drift_from_score(schedule: Schedule, x: sp.Expr, score: sp.Expr, rho: sp.Expr = RHO_T) -> sp.Expr:
    """B1: the drift f x − ½(1 + ρ²) g² ∇log p_t(x) of the ρ-family (reverse time)."""
    return forward.drift(schedule) * x - (1 + rho**2) * forward.diffusion_squared(schedule) * score / 2


def noise_variance_rate(schedule: Schedule, rho: sp.Expr = RHO_T) -> sp.Expr:
    """B1: the squared noise coefficient ρ² g² of the ρ-family."""
    return rho**2 * forward.diffusion_squared(schedule)


def drift_from_x0(schedule: Schedule, x: sp.Expr, x0_hat: sp.Expr, rho: sp.Expr = RHO_T) -> sp.Expr:
    """B2: the drift in data-prediction form, f x + ½(1 + ρ²) λ′ (α x̂₀ − x)."""
    return forward.drift(schedule) * x + (1 + rho**2) * schedule.dlog_snr * (schedule.alpha * x0_hat - x) / 2


def noise_scale_data_form(schedule: Schedule, rho: sp.Expr = RHO_T) -> sp.Expr:
    """B2: the noise coefficient ρ σ √(−λ′) (λ′ < 0)."""
    return rho * schedule.sigma * sp.sqrt(-schedule.dlog_snr)


# ---------------------------------------------------------------------- B3: the exact step
def step_h(schedule: Schedule) -> sp.Expr:
    """h = (λ_s − λ_t)/2 > 0 for s < t."""
    return (schedule.at(schedule.log_snr, S) - schedule.log_snr) / 2


def exact_step_coefficients(schedule: Schedule, rho: sp.Expr = RHO) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """B3: (c_x, c_x0, c_ξ) with x_s = c_x x_t + c_x0 x̂₀ + c_ξ ξ, in symbols t and s.

    c_x = (σ_s/σ_t) e^{−ρ² h}, c_x0 = α_s (1 − e^{−(1+ρ²) h}), c_ξ = σ_s √(1 − e^{−2ρ² h}).
    """
    return symbolic_memo.derived("backward.exact_step_coefficients",
                                 (schedule.alpha, schedule.sigma, schedule.log_snr, sp.sympify(rho)),
                                 lambda: _exact_step_coefficients(schedule, rho))


def _exact_step_coefficients(schedule: Schedule, rho: sp.Expr) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    h = step_h(schedule)
    sigma_s, alpha_s = schedule.at(schedule.sigma, S), schedule.at(schedule.alpha, S)
    return (
        sigma_s / schedule.sigma * sp.exp(-rho**2 * h),
        alpha_s * (1 - sp.exp(-(1 + rho**2) * h)),
        sigma_s * sp.sqrt(1 - sp.exp(-2 * rho**2 * h)),
    )


# ---------------------------------------------------------------------- B4: the parametric step
def parametric_x0(x: Any, x0_model: Any, alpha: Any, gamma: Any) -> Any:
    """B4: x̂₀_γ = (1 + γ) x_θ − γ x/α_t, the data prediction whose ε̂ is (1 + γ) ε_θ."""
    return (1 + gamma) * x0_model - gamma * x / alpha


def parametric_step_coefficients(
    schedule: Schedule, rho: sp.Expr = RHO, gamma: sp.Expr = GAMMA, delta: sp.Expr = DELTA
) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """B4: (c_x, c_θ, c_ξ) with x_s = c_x x_t + c_θ x_θ + c_ξ ξ: B3 with x̂₀_γ and noise (1 + δ) ξ."""
    c_x, c_x0, c_noise = exact_step_coefficients(schedule, rho)
    return c_x - c_x0 * gamma / schedule.alpha, c_x0 * (1 + gamma), c_noise * (1 + delta)


# ---------------------------------------------------------------------- B2 + B4: the Euler–Maruyama step
def drift_coefficients(
    schedule: Schedule, rho: sp.Expr = RHO, gamma: sp.Expr = GAMMA
) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """B2 with B4's x̂₀_γ: (a, b, c) with drift a x + b x_θ and noise coefficient c = ρ σ √(−λ′), at time t."""
    return symbolic_memo.derived("backward.drift_coefficients",
                                 (schedule.alpha, schedule.sigma, schedule.log_snr, sp.sympify(rho), sp.sympify(gamma)),
                                 lambda: _drift_coefficients(schedule, rho, gamma))


def _drift_coefficients(schedule: Schedule, rho: sp.Expr, gamma: sp.Expr) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    x, x0 = sp.Symbol("x", real=True), sp.Symbol("x0", real=True)
    drift = sp.expand(drift_from_x0(schedule, x, parametric_x0(x, x0, schedule.alpha, gamma), rho))
    return sp.diff(drift, x), sp.diff(drift, x0), noise_scale_data_form(schedule, rho)


def euler_maruyama_step_coefficients(
    schedule: Schedule, rho: sp.Expr = RHO, gamma: sp.Expr = GAMMA, delta: sp.Expr = DELTA
) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """B2/B4: (c_x, c_θ, c_ξ) of one Euler–Maruyama step of B2 from t down to s,
    x_s = x_t − d Δt + (1 + δ) c √Δt ξ with Δt = t − s and d, c from :func:`drift_coefficients`."""
    a, b, c = drift_coefficients(schedule, rho, gamma)
    dt = T - S
    return 1 - a * dt, -b * dt, (1 + delta) * c * sp.sqrt(dt)


# ---------------------------------------------------------------------- the numeric form of the steps
VALUES = Schedule(sp.Function("alpha", positive=True)(T), sp.Function("sigma", positive=True)(T),
                  sp.Function("lambda", real=True)(T), name="values", validate=False,
                  description="α(t), σ(t), λ(t) as independent inputs: the numeric form of a step")
"""The schedule the numeric steps are derived on: α, σ, λ (and α′, λ′) enter as values, which
:func:`step_coefficients` reads from the schedule's generated code (stable forms, any dtype)."""

VALUE_NAMES = ("alpha", "sigma", "log_snr", "f", "dlog_snr")
"""The schedule functions a numeric step reads, named as in ``compile_schedule``."""

STEP_KINDS = {
    "exact": lambda: parametric_step_coefficients(VALUES, RHO, GAMMA, DELTA),
    "euler": lambda: euler_maruyama_step_coefficients(VALUES, RHO, GAMMA, DELTA),
    "drift": lambda: drift_coefficients(VALUES, RHO, GAMMA),
}
"""The coefficient triples of the numeric steps (B4 exact step, B2/B4 Euler–Maruyama step, B2 drift),
looked up at compile time so that a replaced derivation is what gets compiled."""


def _value_symbol(name: str, time: sp.Symbol) -> sp.Symbol:
    return sp.Symbol(f"{name}_{time}", real=True)


INPUTS = (T, S, *(_value_symbol(n, time) for time in (T, S) for n in VALUE_NAMES), RHO, GAMMA, DELTA)
"""Everything a numeric step's coefficients may depend on, in the order :func:`numeric_coefficients` lists them."""


def value_symbols(time: sp.Symbol) -> tuple[sp.Symbol, ...]:
    """The value symbols of :data:`VALUE_NAMES` at ``time`` (T or S), as :func:`numeric_form` writes them."""
    return tuple(_value_symbol(name, time) for name in VALUE_NAMES)


def numeric_form(expr: sp.Expr, extra: tuple[sp.Symbol, ...] = ()) -> sp.Expr:
    """``expr`` (derived on :data:`VALUES`) with α, σ, λ, α′, σ′ and λ′ at t and s replaced by value symbols;
    ``extra``: the other symbols it may keep (the checks' x₀ and ε)."""
    expr = sp.sympify(expr)
    return symbolic_memo.derived("backward.numeric_form", (expr, tuple(extra)), lambda: _numeric_form(expr, extra))


def _numeric_form(expr: sp.Expr, extra: tuple[sp.Symbol, ...]) -> sp.Expr:
    for time in (T, S):
        alpha, sigma, lam = (VALUES.at(e, time) for e in (VALUES.alpha, VALUES.sigma, VALUES.log_snr))
        f, dlam = _value_symbol("f", time), _value_symbol("dlog_snr", time)
        # f = α′/α (F1), and σ′/σ = f − λ′/2 since λ = 2 log(α/σ)
        expr = expr.subs({sp.Derivative(alpha, time): f * alpha, sp.Derivative(sigma, time): sigma * (f - dlam / 2),
                          sp.Derivative(lam, time): dlam})
        expr = expr.subs({alpha: _value_symbol("alpha", time), sigma: _value_symbol("sigma", time),
                          lam: _value_symbol("log_snr", time)})
    if expr.atoms(sp.core.function.AppliedUndef) or expr.free_symbols - {*INPUTS, *extra}:
        raise ValueError(f"a step coefficient depends on more than the schedule's values: {expr}")
    # 1 − e^{−z} for small z (fine grids) loses digits: SymPy's rewrite to expm1 keeps them.
    return optimize(expr, [expm1_opt])


@functools.lru_cache(maxsize=32)
def _numeric_forms(exprs: tuple[sp.Expr, ...]) -> tuple[sp.Expr, ...]:
    """:func:`numeric_form` of each derived coefficient, shared by the backends: keyed by the derived expressions
    themselves, so a replaced derivation (the injected-error tests) is never served a stale form."""
    return tuple(numeric_form(e) for e in exprs)


@functools.cache
def numeric_coefficients(kind: str, backend: str) -> tuple[tuple[sp.Symbol, ...], Callable[..., list[Any]]]:
    """The coefficients of step ``kind`` (see :data:`STEP_KINDS`) compiled for ``backend``: the inputs they
    read (a sub-tuple of :data:`INPUTS`) and a function of those inputs returning the three coefficients.

    One compilation per kind and backend serves every schedule. Call ``numeric_coefficients.cache_clear()``
    after replacing a derivation.
    """
    exprs = _numeric_forms(tuple(sp.sympify(e) for e in STEP_KINDS[kind]()))
    used = set().union(*(e.free_symbols for e in exprs))
    inputs = tuple(v for v in INPUTS if v in used)
    compiled = [compile_expression(inputs, e, backend) for e in exprs]
    return inputs, lambda *values: [f(*values) for f in compiled]


def step_coefficients(kind: str, schedule: Any, t: Any, s: Any, rho: Any = 0.0, gamma: Any = 0.0,
                      delta: Any = 0.0, like: Any = None) -> list[Any]:
    """Numeric (c_x, c_θ, c_ξ) of the step ``kind`` from t down to s on a concrete ``schedule``.

    Arrays of the broadcast shape of (t, s, ρ, γ, δ), in the backend, floating dtype and device of
    ``like`` (default: float64 numpy). The one numeric implementation of B2–B4: :func:`exact_step`,
    :func:`euler_maruyama_step` and the sampling engine's tables all evaluate it.
    """
    ref = np.float64(0.0) if like is None else like
    num = compile_schedule(schedule, backend_of(ref))
    inputs, function = numeric_coefficients(kind, backend_of(ref))
    times = {T: like_array(t, ref), S: like_array(s, ref)}
    known = {**times, RHO: like_array(rho, ref), GAMMA: like_array(gamma, ref), DELTA: like_array(delta, ref)}
    values = []
    for symbol in inputs:
        if symbol not in known:
            name, _, time = symbol.name.rpartition("_")
            known[symbol] = getattr(num, name)(times[T if time == T.name else S])
        values.append(known[symbol])
    return function(*values)


# ---------------------------------------------------------------------- numeric steps
def _noise_like(x: Any, generator: Any) -> Any:
    if backend_of(x) == "torch":
        return torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    rng = generator if isinstance(generator, np.random.Generator) else np.random.default_rng(generator)
    return rng.standard_normal(np.shape(x)).astype(np.asarray(x).dtype)


def _apply(kind: str, x: Any, x0_hat: Any, t: Any, s: Any, schedule: Any, rho: float, gamma: float, delta: float,
           noise: Any, generator: Any) -> Any:
    coefficients = step_coefficients(kind, schedule, t, s, rho, gamma, delta, like=x)
    # One time per sample: the coefficients get a trailing axis to broadcast against x (..., d).
    c_x, c_theta, c_xi = (append_dims(c, c.ndim + 1) if c.ndim else c for c in coefficients)
    out = c_x * x + c_theta * x0_hat
    if float(rho) > 0:
        if noise is None:
            noise = _noise_like(x, generator)
        out = out + c_xi * noise
    return out


def exact_step(
    x: Any,
    x0_hat: Any,
    t: Any,
    s: Any,
    schedule: Any,
    rho: float = 0.0,
    gamma: float = 0.0,
    delta: float = 0.0,
    noise: Any = None,
    generator: Any = None,
) -> Any:
    """B3/B4: one exact step from time t down to s < t with x̂₀ frozen (numpy or torch).

    ``x0_hat`` is the model's data prediction x_θ(x, t); with γ ≠ 0 it is replaced by
    (1 + γ) x_θ − γ x/α_t, and the noise ξ by (1 + δ) ξ. ``noise`` is ξ ~ N(0, I) (drawn
    from ``generator`` when None and ρ > 0). t, s: scalars or one time per sample.
    ρ = 0 is DDIM, ρ = 1 the ancestral posterior step (F4). The coefficients are those of
    :func:`parametric_step_coefficients`, compiled (:func:`step_coefficients`) and evaluated in x's
    backend, dtype and device, so a torch step stays on its device and is differentiable.
    """
    return _apply("exact", x, x0_hat, t, s, schedule, rho, gamma, delta, noise, generator)


def euler_maruyama_step(
    x: Any,
    x0_hat: Any,
    t: Any,
    s: Any,
    schedule: Any,
    rho: float = 0.0,
    gamma: float = 0.0,
    delta: float = 0.0,
    noise: Any = None,
    generator: Any = None,
) -> Any:
    """Euler–Maruyama on the B2 form from t down to s, with B4's γ (prediction) and δ (noise): the
    coefficients of :func:`euler_maruyama_step_coefficients`, evaluated like :func:`exact_step`'s."""
    return _apply("euler", x, x0_hat, t, s, schedule, rho, gamma, delta, noise, generator)
