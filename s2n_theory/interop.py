"""Interop with tools users already have: diffusers' discrete schedulers and k-diffusion style σ arrays.

Conventions (docs/theory.md, converted here at the boundary and nowhere else):

* diffusers: ``alphas_cumprod[i] = ᾱ_i = α(t_i)²`` for a VP schedule, with
  ``trained_betas[i] = 1 − ᾱ_i/ᾱ_{i−1}`` (ᾱ_{−1} = 1), so that diffusers'
  ``cumprod(1 − betas)`` gives back ᾱ. The grid is ``t_i = t_min + i (t_max − t_min)/(N − 1)``,
  i = 0 … N − 1, both endpoints included.
* A schedule that is not variance preserving is replaced by the VP schedule with the
  same log-SNR, ᾱ = sigmoid(λ): diffusers' samplers only see the SNR path, and the
  x/α rescaling between the two is the S2 equivalence (same λ, same SN-space process).
* k-diffusion: σ = e^{−λ/2} (the noise level of the equivalent VE process x₀ + σε,
  P2), in decreasing order with a trailing 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import S2NError
from .numeric_schedule import compile_schedule
from .schedule import Schedule


class InteropError(S2NError):
    """Arguments that no diffusers/k-diffusion array can be built from."""


@dataclass
class DiffusersArrays:
    """What :func:`to_diffusers` returns."""

    trained_betas: np.ndarray
    alphas_cumprod: np.ndarray
    times: np.ndarray
    variance_preserving: bool
    note: str


def _numeric(schedule: Schedule):
    if schedule.is_general:
        raise InteropError("the general schedule has no numeric values; pick a concrete one")
    return compile_schedule(schedule, "numpy")


def to_diffusers(schedule: Schedule, num_train_timesteps: int = 1000) -> DiffusersArrays:
    """``trained_betas`` and ``alphas_cumprod`` (float64) for ``DDIMScheduler(trained_betas=...)``.

    log ᾱ_i = 2 log α(t_i) for a VP schedule, −softplus(−λ(t_i)) otherwise, and
    β_i = −expm1(log ᾱ_i − log ᾱ_{i−1}), which keeps small β exact.
    """
    if int(num_train_timesteps) < 2:
        raise InteropError("num_train_timesteps must be at least 2")
    n = int(num_train_timesteps)
    num = _numeric(schedule)
    times = np.linspace(schedule.t_min, schedule.t_max, n)
    alpha, sigma = num.alpha(times), num.sigma(times)
    vp = bool(np.allclose(alpha**2 + sigma**2, 1.0, rtol=0, atol=1e-12))
    if vp:
        log_abar = 2 * np.log(alpha)
        note = "variance-preserving schedule: alphas_cumprod = alpha(t)^2"
    else:
        lam = num.log_snr(times)
        log_abar = -np.logaddexp(0.0, -lam)
        note = (f"{schedule.name} is not variance preserving: these arrays are the VP schedule with the same "
                "log-SNR (alphas_cumprod = sigmoid(lambda)); model inputs differ by the factor alpha_VP/alpha")
    prev = np.concatenate([[0.0], log_abar[:-1]])
    betas = -np.expm1(log_abar - prev)
    if not (np.all(np.isfinite(betas)) and np.all(betas > 0) and np.all(betas < 1)):
        raise InteropError(f"{schedule.name}: betas outside (0, 1); is lambda strictly decreasing on the grid?")
    return DiffusersArrays(betas, np.exp(log_abar), times, vp, note)


def karras_grid(sigma_min: float, sigma_max: float, n: int, exponent: float = 7.0) -> np.ndarray:
    """The EDM/Karras σ-grid (decreasing, n points from σ_max to σ_min, grid exponent k):
    σ_i = (σ_max^{1/k} + i/(n−1) (σ_min^{1/k} − σ_max^{1/k}))^k."""
    ramp = np.linspace(0.0, 1.0, n)
    lo, hi = float(sigma_min) ** (1 / float(exponent)), float(sigma_max) ** (1 / float(exponent))
    return (hi + ramp * (lo - hi)) ** exponent


def to_karras_sigmas(schedule: Schedule, n: int, *, grid: str = "karras", exponent: float = 7.0) -> np.ndarray:
    """The σ = e^{−λ/2} array (decreasing, with the trailing 0) that k-diffusion style samplers take.

    ``grid="karras"``: the Karras grid between the schedule's σ(t_min) and σ(t_max);
    ``grid="time"``: σ at n times uniform in t, from t_max down to t_min.
    """
    if int(n) < 2:
        raise InteropError("n must be at least 2")
    num = _numeric(schedule)
    ends = num.log_snr(np.array([schedule.t_min, schedule.t_max]))
    sigma_min, sigma_max = np.exp(-ends / 2)
    if grid == "karras":
        sigmas = karras_grid(float(sigma_min), float(sigma_max), int(n), exponent)
    elif grid == "time":
        sigmas = np.exp(-num.log_snr(np.linspace(schedule.t_max, schedule.t_min, int(n))) / 2)
    else:
        raise InteropError(f"unknown grid {grid!r} (karras or time)")
    return np.concatenate([sigmas, [0.0]])


def karras_times(schedule: Schedule, sigmas: np.ndarray) -> np.ndarray:
    """The schedule times of VE noise levels σ > 0: t = λ⁻¹(−2 log σ)."""
    num = _numeric(schedule)
    sigmas = np.asarray(sigmas, dtype=np.float64)
    return num.t_of_log_snr(-2 * np.log(sigmas))
