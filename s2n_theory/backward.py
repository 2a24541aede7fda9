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
The symbolic functions return SymPy expressions in t (and s); :func:`exact_step`
and :func:`euler_maruyama_step` are the numeric numpy/torch versions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy as sp
import torch

from . import forward
from .arrays import append_dims, backend_of, like
from .numeric_schedule import values_like
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


# ---------------------------------------------------------------------- numeric steps
def _noise_like(x: Any, generator: Any) -> Any:
    if backend_of(x) == "torch":
        return torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    rng = generator if isinstance(generator, np.random.Generator) else np.random.default_rng(generator)
    return rng.standard_normal(np.shape(x)).astype(np.asarray(x).dtype)


def _exp(v: Any) -> Any:
    return v.exp() if backend_of(v) == "torch" else np.exp(v)


def _expm1(v: Any) -> Any:
    return v.expm1() if backend_of(v) == "torch" else np.expm1(v)


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
    ρ = 0 is DDIM, ρ = 1 the ancestral posterior step (F4).
    """
    a_t, s_t, l_t = values_like(schedule, x, t)
    a_s, s_s, l_s = values_like(schedule, x, s)
    h = (l_s - l_t) / 2
    x0 = parametric_x0(x, x0_hat, a_t, gamma) if gamma else x0_hat
    rho2 = float(rho) ** 2
    out = (s_s / s_t) * _exp(-rho2 * h) * x
    out = out + a_s * (-_expm1(-(1 + rho2) * h)) * x0
    if rho2 > 0:
        if noise is None:
            noise = _noise_like(x, generator)
        scale = s_s * ((-_expm1(-2 * rho2 * h)) ** 0.5)
        out = out + (1 + delta) * scale * noise
    return out


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
    """Euler–Maruyama on the B2 form from t down to s, with B4's γ (prediction) and δ (noise)."""
    a_t, s_t, f, dlam = values_like(schedule, x, t, ("alpha", "sigma", "f", "dlog_snr"))
    dt = like(t, x) - like(s, x)
    dt = append_dims(dt, dt.ndim + 1) if dt.ndim else dt
    x0 = parametric_x0(x, x0_hat, a_t, gamma) if gamma else x0_hat
    rho2 = float(rho) ** 2
    drift = f * x + (1 + rho2) * dlam * (a_t * x0 - x) / 2
    out = x - drift * dt
    if rho2 > 0:
        if noise is None:
            noise = _noise_like(x, generator)
        out = out + (1 + delta) * (rho2 * s_t**2 * (-dlam) * dt) ** 0.5 * noise
    return out
