"""Inference quantities and their parameterizations, docs/theory.md: claims P1, P2.

P1 (Tweedie). For x = α x₀ + σ ε the posterior means x̂₀ = E[x₀ | x_t = x] and
ε̂ = E[ε | x_t = x] satisfy x = α x̂₀ + σ ε̂ and ∇log p_t(x) = (α x̂₀ − x)/σ² = −ε̂/σ.
v-prediction (Salimans & Ho 2022) is v = α ε − σ x₀; on a VP schedule
(α² + σ² = 1) it inverts as x₀ = α x − σ v, ε = σ x + α v; in general the
inverse divides by α² + σ².

P2 (EDM bridge). A denoiser D(y; σ̄) trained on the variance-exploding process
y = x₀ + σ̄ ε gives x̂₀(x, t) = D(x/α_t; σ̄ = e^{−λ_t/2}) under any S2N schedule,
because x_t/α_t = x₀ + (σ_t/α_t) ε and σ_t/α_t = e^{−λ_t/2}.

The conversion functions are pure algebra in (x, prediction, α, σ), so the same
code serves SymPy expressions, numpy arrays and torch tensors. The toolkit's one
internal model convention is the *denoiser* ``denoiser(x, t) -> x̂₀``; the
``denoiser_from_*`` adapters wrap networks of every other parameterization.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import sympy as sp

from .numeric_schedule import values_like

Denoiser = Callable[[Any, Any], Any]
"""``denoiser(x, t) -> x̂₀``: the toolkit's one internal model convention."""


# ---------------------------------------------------------------------- P1: algebra
def eps_from_x0(x: Any, x0_hat: Any, alpha: Any, sigma: Any) -> Any:
    """P1: ε̂ = (x − α x̂₀)/σ."""
    return (x - alpha * x0_hat) / sigma


def x0_from_eps(x: Any, eps_hat: Any, alpha: Any, sigma: Any) -> Any:
    """P1: x̂₀ = (x − σ ε̂)/α."""
    return (x - sigma * eps_hat) / alpha


def score_from_x0(x: Any, x0_hat: Any, alpha: Any, sigma: Any) -> Any:
    """P1: ∇log p_t(x) = (α x̂₀ − x)/σ²."""
    return (alpha * x0_hat - x) / sigma**2


def score_from_eps(eps_hat: Any, sigma: Any) -> Any:
    """P1: ∇log p_t(x) = −ε̂/σ."""
    return -eps_hat / sigma


def eps_from_score(score: Any, sigma: Any) -> Any:
    """P1: ε̂ = −σ ∇log p_t(x)."""
    return -sigma * score


def x0_from_score(x: Any, score: Any, alpha: Any, sigma: Any) -> Any:
    """P1: x̂₀ = (x + σ² ∇log p_t(x))/α."""
    return (x + sigma**2 * score) / alpha


def v_from_x0_eps(x0: Any, eps: Any, alpha: Any, sigma: Any) -> Any:
    """v-prediction target v = α ε − σ x₀."""
    return alpha * eps - sigma * x0


def x0_from_v(x: Any, v: Any, alpha: Any, sigma: Any) -> Any:
    """x̂₀ = (α x − σ v)/(α² + σ²) (= α x − σ v on VP schedules)."""
    return (alpha * x - sigma * v) / (alpha**2 + sigma**2)


def eps_from_v(x: Any, v: Any, alpha: Any, sigma: Any) -> Any:
    """ε̂ = (σ x + α v)/(α² + σ²) (= σ x + α v on VP schedules)."""
    return (sigma * x + alpha * v) / (alpha**2 + sigma**2)


# ---------------------------------------------------------------------- P2: EDM bridge
def edm_noise_level(log_snr: Any) -> Any:
    """P2: the VE noise level σ̄ = σ/α = e^{−λ/2} that corresponds to log-SNR λ."""
    if isinstance(log_snr, (int, float, np.ndarray, np.floating)):
        return np.exp(-np.asarray(log_snr) / 2)
    if hasattr(log_snr, "exp") and hasattr(log_snr, "device"):
        return (-log_snr / 2).exp()
    return sp.exp(-sp.sympify(log_snr) / 2)


def x0_from_edm(edm_denoiser: Callable[[Any, Any], Any], x: Any, alpha: Any, log_snr: Any) -> Any:
    """P2: x̂₀(x, t) = D(x/α_t; σ̄ = e^{−λ_t/2}) for a VE denoiser ``D(y, sigma_bar)``."""
    return edm_denoiser(x / alpha, edm_noise_level(log_snr))


# ---------------------------------------------------------------------- numeric adapters
def denoiser_from_eps(eps_model: Callable[[Any, Any], Any], schedule: Any) -> Denoiser:
    """Wrap ``eps_model(x, t) -> ε̂`` as ``denoiser(x, t) -> x̂₀`` (P1)."""

    def denoiser(x: Any, t: Any) -> Any:
        a, s, _ = values_like(schedule, x, t)
        return x0_from_eps(x, eps_model(x, t), a, s)

    return denoiser


def denoiser_from_score(score_model: Callable[[Any, Any], Any], schedule: Any) -> Denoiser:
    """Wrap ``score_model(x, t) -> ∇log p_t`` as a denoiser (P1)."""

    def denoiser(x: Any, t: Any) -> Any:
        a, s, _ = values_like(schedule, x, t)
        return x0_from_score(x, score_model(x, t), a, s)

    return denoiser


def denoiser_from_v(v_model: Callable[[Any, Any], Any], schedule: Any) -> Denoiser:
    """Wrap ``v_model(x, t) -> v̂`` (v = α ε − σ x₀) as a denoiser."""

    def denoiser(x: Any, t: Any) -> Any:
        a, s, _ = values_like(schedule, x, t)
        return x0_from_v(x, v_model(x, t), a, s)

    return denoiser


def denoiser_from_edm(edm_denoiser: Callable[[Any, Any], Any], schedule: Any) -> Denoiser:
    """Wrap an EDM/k-diffusion denoiser ``D(y, sigma_bar)`` (VE, α ≡ 1) for any schedule (P2).

    ``sigma_bar`` is passed with the shape that broadcasts against ``y`` (a trailing axis of size 1
    when ``t`` has one entry per sample).
    """

    def denoiser(x: Any, t: Any) -> Any:
        a, _, lam = values_like(schedule, x, t)
        return x0_from_edm(edm_denoiser, x, a, lam)

    return denoiser


def eps_model_from_denoiser(denoiser: Denoiser, schedule: Any) -> Callable[[Any, Any], Any]:
    """The ε-prediction ``(x, t) -> ε̂`` implied by a denoiser (P1)."""

    def eps_model(x: Any, t: Any) -> Any:
        a, s, _ = values_like(schedule, x, t)
        return eps_from_x0(x, denoiser(x, t), a, s)

    return eps_model


def score_model_from_denoiser(denoiser: Denoiser, schedule: Any) -> Callable[[Any, Any], Any]:
    """The score ``(x, t) -> ∇log p_t`` implied by a denoiser (P1)."""

    def score_model(x: Any, t: Any) -> Any:
        a, s, _ = values_like(schedule, x, t)
        return score_from_x0(x, denoiser(x, t), a, s)

    return score_model
