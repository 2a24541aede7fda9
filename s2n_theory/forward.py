"""Forward process (the S2N paper's Theorem 1): claims F1–F5 of docs/theory.md.

Each function derives one object of the forward theory for any
:class:`~s2n_theory.schedule.Schedule`, the general one included. The checks in
``s2n_theory.verification.forward_checks`` test these derivations against
independent computations.
"""

from __future__ import annotations

import sympy as sp

from . import symbolic_memo
from .schedule import Schedule
from .symbols import S, T

X = sp.Symbol("x", real=True)
X0 = sp.Symbol("x_0", real=True)
MU = sp.Symbol("mu", real=True)
V = sp.Symbol("v", positive=True)


def drift(schedule: Schedule) -> sp.Expr:
    """F1: f(t) = α′(t)/α(t)."""
    return symbolic_memo.derived("forward.drift", (schedule.alpha,),
                                 lambda: sp.diff(schedule.alpha, T) / schedule.alpha)


def diffusion_squared(schedule: Schedule) -> sp.Expr:
    """F1: g(t)² = −e^{−λ} λ′ α² (equivalently −σ² λ′)."""
    return symbolic_memo.derived(
        "forward.diffusion_squared", (schedule.alpha, schedule.log_snr),
        lambda: -sp.exp(-schedule.log_snr) * sp.diff(schedule.log_snr, T) * schedule.alpha**2)


def moment_rates(schedule: Schedule, mean: sp.Expr, variance: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    """F2: the right-hand sides of the moment ODEs, m′ = f m and v′ = 2 f v + g²."""
    f, g2 = drift(schedule), diffusion_squared(schedule)
    return f * mean, 2 * f * variance + g2


def transition(schedule: Schedule) -> tuple[sp.Expr, sp.Expr]:
    """F3: (α_{t|s}, σ²_{t|s}) = (α_t/α_s, α_t² (e^{−λ_t} − e^{−λ_s})) for s < t."""
    return symbolic_memo.derived("forward.transition", (schedule.alpha, schedule.log_snr),
                                 lambda: _transition(schedule))


def _transition(schedule: Schedule) -> tuple[sp.Expr, sp.Expr]:
    alpha_t, alpha_s = schedule.alpha, schedule.at(schedule.alpha, S)
    lam_t, lam_s = schedule.log_snr, schedule.at(schedule.log_snr, S)
    return alpha_t / alpha_s, alpha_t**2 * (sp.exp(-lam_t) - sp.exp(-lam_s))


def transition_variance_integrand(schedule: Schedule, u: sp.Symbol) -> sp.Expr:
    """F3, integral form: σ²_{t|s} = ∫ₛᵗ (α_t/α_u)² g_u² du; this is the integrand at u."""
    return symbolic_memo.derived(
        "forward.transition_variance_integrand", (schedule.alpha, schedule.log_snr, u),
        lambda: (schedule.alpha / schedule.at(schedule.alpha, u)) ** 2 * schedule.at(diffusion_squared(schedule), u))


def posterior(schedule: Schedule) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """F4: q(x_s | x_t, x₀) = N(a x_t + b x₀, σ̃²), returns (a, b, σ̃²) in symbols t and s.

    a = α_{t|s} σ_s²/σ_t², b = α_s σ²_{t|s}/σ_t², σ̃² = σ_s² (1 − e^{λ_t − λ_s}).
    """
    alpha_ts, sigma2_ts = transition(schedule)
    sigma2_t, sigma2_s = schedule.sigma**2, schedule.at(schedule.sigma, S) ** 2
    alpha_s = schedule.at(schedule.alpha, S)
    lam_t, lam_s = schedule.log_snr, schedule.at(schedule.log_snr, S)
    return (
        alpha_ts * sigma2_s / sigma2_t,
        alpha_s * sigma2_ts / sigma2_t,
        sigma2_s * (1 - sp.exp(lam_t - lam_s)),
    )


def gaussian_marginal(schedule: Schedule, mean: sp.Expr = MU, variance: sp.Expr = V) -> tuple[sp.Expr, sp.Expr]:
    """F5: for x₀ ~ N(μ, v), x_t ~ N(α μ, α² v + σ²); returns (mean, variance)."""
    return schedule.alpha * mean, schedule.alpha**2 * variance + schedule.sigma**2


def gaussian_density(x: sp.Expr, mean: sp.Expr, variance: sp.Expr) -> sp.Expr:
    return sp.exp(-((x - mean) ** 2) / (2 * variance)) / sp.sqrt(2 * sp.pi * variance)


def fokker_planck_residual(density: sp.Expr, f: sp.Expr, g2: sp.Expr, x: sp.Symbol = X) -> sp.Expr:
    """F5: ∂_t p + ∂_x(f x p) − ½ g² ∂²_x p, zero when p solves the forward Fokker–Planck equation."""
    return sp.diff(density, T) + sp.diff(f * x * density, x) - g2 * sp.diff(density, x, 2) / 2
