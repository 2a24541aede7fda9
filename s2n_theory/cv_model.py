"""Non-Markovian continuous variational (CV) model, docs/theory.md (paper Theorem 4): claims C1–C5.

C1  Discrete family, 0 ≤ c ≤ σ_s:
    q_c(x_s | x_t, x₀) = N(α_s x₀ + √(σ_s² − c²)(x_t − α_t x₀)/σ_t, c² I);
    it keeps q(x_s | x₀) = N(α_s x₀, σ_s²) and is the Markov posterior F4 at c² = σ̃².
C2  Continuous CV SDE given x₀: dx = [a x + b x₀] dt + ρ g dw with
    a = σ′/σ + ½ ρ² λ′, b = α′ − a α; marginals N(α x₀, σ²) for every ρ(t).
C3  Reversing C2 (its Markovian projection, x₀ → x̂₀) gives the B-family drift.
C4  B3 is the member of C1 with c² = σ_s² (1 − e^{−2ρ² h}).
C5  DDIM ODE in signal-to-noise coordinates: d(x/α) = ε̂ d(σ/α).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sympy as sp

from . import forward
from .backward import RHO_T, step_h
from .symbols import S, T

if TYPE_CHECKING:
    from .schedule import Schedule

C2_SYMBOL = sp.Symbol("c2", nonnegative=True)
"""C1: the free variance c² of the discrete family, 0 ≤ c² ≤ σ_s²."""


def discrete_kernel(schedule: Schedule, c2: sp.Expr = C2_SYMBOL) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """C1: q_c(x_s | x_t, x₀) = N(k_x x_t + k_0 x₀, c²); returns (k_x, k_0, c²) in symbols t and s.

    k_x = √(σ_s² − c²)/σ_t, k_0 = α_s − k_x α_t.
    """
    sigma_s, alpha_s = schedule.at(schedule.sigma, S), schedule.at(schedule.alpha, S)
    k_x = sp.sqrt(sigma_s**2 - c2) / schedule.sigma
    return k_x, alpha_s - k_x * schedule.alpha, c2


def markov_c2(schedule: Schedule) -> sp.Expr:
    """C1: the c² of the Markov chain, σ̃² = σ_s² (1 − e^{λ_t − λ_s}) (F4)."""
    sigma_s = schedule.at(schedule.sigma, S)
    return sigma_s**2 * (1 - sp.exp(schedule.log_snr - schedule.at(schedule.log_snr, S)))


def exact_step_c2(schedule: Schedule, rho: sp.Expr) -> sp.Expr:
    """C4: the c² that makes C1 the exact step B3, σ_s² (1 − e^{−2ρ² h})."""
    sigma_s = schedule.at(schedule.sigma, S)
    return sigma_s**2 * (1 - sp.exp(-2 * rho**2 * step_h(schedule)))


def cv_sde(schedule: Schedule, rho: sp.Expr = RHO_T) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """C2: (a, b, ρ² g²) of dx = [a x + b x₀] dt + ρ g dw, a = σ′/σ + ½ ρ² λ′, b = α′ − a α."""
    a = sp.diff(schedule.sigma, T) / schedule.sigma + rho**2 * schedule.dlog_snr / 2
    b = sp.diff(schedule.alpha, T) - a * schedule.alpha
    return a, b, rho**2 * forward.diffusion_squared(schedule)


def cv_reverse_drift(schedule: Schedule, x: sp.Expr, x0_hat: sp.Expr, score: sp.Expr,
                     rho: sp.Expr = RHO_T) -> sp.Expr:
    """C3: the reverse-time drift of the CV process, a x + b x̂₀ − ρ² g² ∇log p_t.

    The forward CV process, averaged over x₀ given x_t = x, has drift a x + b x̂₀(x) and
    diffusion ρ² g² (its Markovian projection); reversing that diffusion subtracts ρ² g² ∇log p_t.
    """
    a, b, noise2 = cv_sde(schedule, rho)
    return a * x + b * x0_hat - noise2 * score


def ddim_sn_velocity(schedule: Schedule, eps_hat: sp.Expr) -> sp.Expr:
    """C5: the DDIM ODE in SN coordinates, d(x/α)/dt = ε̂ · d(σ/α)/dt (σ/α = e^{−λ/2})."""
    return eps_hat * sp.diff(schedule.sigma / schedule.alpha, T)
