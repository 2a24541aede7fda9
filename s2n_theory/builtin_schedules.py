"""The built-in schedules: name → builder with default parameters and its source.

Each builder returns a :class:`~s2n_theory.schedule.Schedule`; parameters are exact
rationals so that symbolic proofs see exact numbers. Names with parameters
(``"vp-linear(beta_max=10)"``) and user specs are read by :mod:`s2n_theory.schedule_spec`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import sympy as sp

from .schedule import Schedule
from .symbols import T

Builder = Callable[..., Schedule]


@dataclass(frozen=True)
class Builtin:
    name: str
    build: Builder
    defaults: Mapping[str, float]
    summary: str


BUILTINS: dict[str, Builtin] = {}


def _register(name: str, summary: str, **defaults: float) -> Callable[[Builder], Builder]:
    def decorate(build: Builder) -> Builder:
        BUILTINS[name] = Builtin(name, build, defaults, summary)
        return build

    return decorate


def _r(value: float) -> sp.Expr:
    """A parameter as an exact rational, so symbolic proofs see exact numbers."""
    return sp.Rational(repr(float(value)))


@_register("vp-linear", "VP SDE, linear beta(t) = beta_min + t (beta_max - beta_min)",
           beta_min=0.1, beta_max=20.0, t_min=1e-3, t_max=1.0)
def vp_linear(beta_min: float, beta_max: float, t_min: float, t_max: float) -> Schedule:
    """VP-linear (DDPM in continuous time; Song et al. 2021, "Score-based generative modeling through SDEs").

    β(t) = β_min + t (β_max − β_min), B(t) = β_min t + ½ (β_max − β_min) t²,
    α = e^{−B/2}, σ² = 1 − e^{−B}, λ = −log(e^{B} − 1). Defaults β ∈ [0.1, 20] on [1e-3, 1].
    """
    b0, b1 = _r(beta_min), _r(beta_max)
    B = b0 * T + (b1 - b0) * T**2 / 2
    return Schedule.from_vp_integrated_beta(B, domain=(t_min, t_max), name="vp-linear")


@_register("vp-cosine", "iDDPM cosine: alpha = cos(pi/2 (t+s)/(1+s)) / cos(pi/2 s/(1+s)), VP",
           s=0.008, t_min=1e-3, t_max=0.999)
def vp_cosine(s: float, t_min: float, t_max: float) -> Schedule:
    """VP-cosine (Nichol & Dhariwal 2021, "Improved DDPM").

    ᾱ(t) = α(t)² = cos²(π/2 · (t+s)/(1+s)) / cos²(π/2 · s/(1+s)), σ² = 1 − α², s = 0.008.
    α vanishes at t = 1, so the default domain stops at 0.999 (iDDPM clips β there too).
    """
    off = _r(s)
    alpha = sp.cos(sp.pi / 2 * (T + off) / (1 + off)) / sp.cos(sp.pi / 2 * off / (1 + off))
    return Schedule.from_alpha_sigma(alpha, sp.sqrt(1 - alpha**2), domain=(t_min, t_max), name="vp-cosine")


@_register("sub-vp", "sub-VP SDE: alpha = exp(-B/2), sigma = 1 - exp(-B), linear beta",
           beta_min=0.1, beta_max=20.0, t_min=1e-3, t_max=1.0)
def sub_vp(beta_min: float, beta_max: float, t_min: float, t_max: float) -> Schedule:
    """sub-VP (Song et al. 2021): same α as VP-linear, σ = 1 − e^{−B} (so σ² ≤ VP's σ²)."""
    b0, b1 = _r(beta_min), _r(beta_max)
    B = b0 * T + (b1 - b0) * T**2 / 2
    return Schedule(sp.exp(-B / 2), 1 - sp.exp(-B), -B - 2 * sp.log(1 - sp.exp(-B)),
                    domain=(t_min, t_max), name="sub-vp")


@_register("ve", "VE SDE: alpha = 1, sigma = sigma_min (sigma_max/sigma_min)^t",
           sigma_min=0.01, sigma_max=50.0, t_min=0.0, t_max=1.0)
def ve(sigma_min: float, sigma_max: float, t_min: float, t_max: float) -> Schedule:
    """VE (Song et al. 2021; SMLD): α ≡ 1, geometric σ(t) = σ_min (σ_max/σ_min)^t, σ ∈ [0.01, 50]."""
    lo, hi = _r(sigma_min), _r(sigma_max)
    return Schedule.from_edm_sigma(lo * (hi / lo) ** T, domain=(t_min, t_max), name="ve")


@_register("edm", "EDM: alpha = 1, sigma = t on [0.002, 80]", t_min=0.002, t_max=80.0)
def edm(t_min: float, t_max: float) -> Schedule:
    """EDM (Karras et al. 2022, "Elucidating the design space"): α ≡ 1, σ(t) = t, t ∈ [0.002, 80]."""
    return Schedule.from_edm_sigma(T, domain=(t_min, t_max), name="edm")


@_register("rectified-flow", "rectified flow / flow matching: alpha = 1 - t, sigma = t",
           t_min=1e-3, t_max=1 - 1e-3)
def rectified_flow(t_min: float, t_max: float) -> Schedule:
    """Rectified flow / flow matching (Liu et al. 2022; Lipman et al. 2022): α = 1 − t, σ = t.

    λ = 2 log((1 − t)/t) is infinite at both ends, so the default domain is [1e-3, 1 − 1e-3].
    """
    return Schedule(1 - T, T, 2 * sp.log(1 - T) - 2 * sp.log(T), domain=(t_min, t_max), name="rectified-flow")


@_register("vdm", "VDM linear log-SNR from lambda_max to lambda_min, VP alpha",
           lambda_max=13.3, lambda_min=-5.0, t_min=0.0, t_max=1.0)
def vdm(lambda_max: float, lambda_min: float, t_min: float, t_max: float) -> Schedule:
    """Linear log-SNR (Kingma et al. 2021, VDM): λ(t) = λ_max + (λ_min − λ_max) t, α² = sigmoid(λ)."""
    hi, lo = _r(lambda_max), _r(lambda_min)
    return Schedule.from_vp_log_snr(hi + (lo - hi) * T, domain=(t_min, t_max), name="vdm")


@_register("shifted-cosine", "cosine log-SNR shifted by 2 log(shift), VP alpha",
           shift=0.5, t_min=1e-3, t_max=1 - 1e-3)
def shifted_cosine(shift: float, t_min: float, t_max: float) -> Schedule:
    """Shifted cosine (Hoogeboom et al. 2023, "simple diffusion"): λ(t) = −2 log tan(πt/2) + 2 log(shift).

    shift = 1 is the plain cosine α = cos(πt/2); shift < 1 adds noise (for larger images).
    """
    return Schedule.from_vp_log_snr(-2 * sp.log(sp.tan(sp.pi * T / 2)) + 2 * sp.log(_r(shift)),
                                    domain=(t_min, t_max), name="shifted-cosine")


def builtin_names() -> list[str]:
    return list(BUILTINS)
