"""Checks of signal-to-noise space, docs/theory.md: S1–S3.

S1 and the change of variables of S3 are SymPy identities on the general
schedule and every built-in; S2 runs the exact step B3 (ρ = 0 and ρ = 1) under
each schedule and compares SN trajectories; S3's numeric check integrates the
exact denoiser's loss in t under the schedule and under a different schedule
with the same λ endpoints.
"""

from __future__ import annotations

import functools

import numpy as np
import sympy as sp

from s2n_theory import backward, forward, snspace
from s2n_theory.forward import X0, X
from s2n_theory.gaussian_mixture import GaussianMixture
from s2n_theory.numeric_schedule import NumericSchedule, compile_schedule
from s2n_theory.schedule import Schedule
from s2n_theory.symbols import LAMBDA, T

from .prove import prove_identities
from .registry import Outcome, Skip, claim_check

X_RANGES = {X: (-3.0, 3.0), X0: (-2.0, 2.0)}

S2_GRID = np.linspace(-4.0, 8.0, 25)
"""The common λ-grid of S2 (noise to data); every built-in's λ-range covers it."""

MIXTURE = ([0.3, 0.5, 0.2], [[-1.5], [0.2], [2.0]], [0.1, 0.4, 0.05])
"""1-D mixture data (weights, means, variances) for S2 and S3."""


def _oracle() -> GaussianMixture:
    return GaussianMixture(*MIXTURE)


def _log_snr_range(schedule: Schedule) -> tuple[float, float]:
    num = compile_schedule(schedule, "numpy")
    return (float(num.log_snr(np.float64(schedule.t_max))), float(num.log_snr(np.float64(schedule.t_min))))


@claim_check("S1", "symbolic", "Itô on x = α(t) y(u(t)), dy = dW_u, gives F1; y = x/α is a Brownian motion in u")
def check_s1(schedule: Schedule, level: str) -> Outcome:
    u, y = snspace.sn_coordinates(schedule)
    f, g2 = snspace.ito_from_sn(schedule)
    drift_y, diffusion_y = snspace.ito_to_sn(schedule)
    mean_x, var_x = schedule.alpha * X0, schedule.sigma**2  # q(x_t | x₀), F1's marginal
    return prove_identities([
        ("Ito drift of alpha*y(u) = F1 f", f, forward.drift(schedule)),
        ("Ito diffusion^2 of alpha*y(u) = F1 g^2", g2, forward.diffusion_squared(schedule)),
        ("y = x/alpha has zero drift under F1", drift_y, 0),
        ("y's diffusion^2 per dt = du/dt (clock u)", diffusion_y, sp.diff(u, T)),
        ("E[y | x0] = x0", y.subs(X, mean_x), X0),
        ("Var[y | x0] = u", var_x / schedule.alpha**2, u),
    ], schedule, X_RANGES, level)


@claim_check("S2", "numeric", "same λ-grid, same denoiser: the exact step gives the same y-trajectory", general=False)
def check_s2(schedule: Schedule, level: str) -> Outcome:
    lo, hi = _log_snr_range(schedule)
    if not (lo <= S2_GRID.min() and S2_GRID.max() <= hi):
        raise Skip(f"λ-range [{lo:.3g}, {hi:.3g}] does not cover the grid [{S2_GRID.min()}, {S2_GRID.max()}]",
                   "not applicable")
    oracle = _oracle()
    rng = np.random.default_rng(7)
    n = 32 if level == "quick" else 256
    y_start = rng.standard_normal((n, 1)) * np.exp(-S2_GRID[0] / 2) + oracle.mean()
    noises = rng.standard_normal((len(S2_GRID) - 1, n, 1))
    # The SN clock compiled plainly with its closed-form inverse: its exact step is the plain formula.
    reference = snspace.sn_clock_numeric(S2_GRID.min() - 0.5, S2_GRID.max() + 0.5)
    rhos = [0.0, 1.0]  # DDIM, and the ancestral step with the same noise under every schedule
    worst = 0.0
    for rho in rhos:
        ours = snspace.sn_trajectory(schedule, S2_GRID, oracle.denoiser(schedule), y_start, rho=rho, noises=noises,
                                     step=backward.exact_step)
        ref = snspace.sn_trajectory(reference, S2_GRID, oracle.denoiser(reference), y_start, rho=rho, noises=noises,
                                    step=backward.exact_step)
        worst = max(worst, float(np.max(np.abs(ours - ref)) / np.max(np.abs(ref))))
    # Round-off: ~1e-16 per operation over 24 steps, amplified by the λ → t inversion (~1e-13).
    tolerance = 1e-11
    return Outcome(worst <= tolerance, "numeric", worst,
                   f"B3 exact step, rho in {rhos}, {len(S2_GRID) - 1} steps on lambda in [-4, 8], {n} paths "
                   f"vs SN clock (alpha=1, sigma^2=u); tolerance {tolerance:g}", tolerance=tolerance)


def _stand_in_mmse(snr: sp.Expr) -> sp.Expr:
    """A concrete positive decreasing mmse for the numeric fallback (the undefined one has no values)."""
    return 1 / (1 + snr) + snr / (2 + snr) ** 3


@claim_check("S3", "symbolic", "∫ −½λ′e^λ mmse(e^λ) dt = ∫ ½e^λ mmse(e^λ) dλ (change of variables)")
def check_s3(schedule: Schedule, level: str) -> Outcome:
    # d/dt G(λ(t)) = −(t-integrand): integrating over [t_min, t_max] gives G(λ(t_min)) − G(λ(t_max)),
    # the λ-integral between the endpoints, whatever λ(t) does in between. First with an arbitrary
    # (undefined) mmse; if SymPy cannot close that, with a concrete stand-in that numbers can evaluate.
    for mmse in (snspace.MMSE, _stand_in_mmse):
        identity = ("d/dt G(lambda(t)) = -(loss integrand in t)",
                    sp.diff(snspace.loss_antiderivative(schedule, mmse), T), -snspace.loss_integrand_t(schedule, mmse))
        try:
            outcome = prove_identities([identity], schedule, {}, level)
        except TypeError:  # the numeric fallback cannot evaluate an undefined mmse
            continue
        if mmse is _stand_in_mmse:
            outcome.detail += "; undefined mmse not closed symbolically, checked with a stand-in mmse"
        return outcome
    raise AssertionError("unreachable: the stand-in mmse always evaluates")


def reference_schedule(schedule: Schedule, *, validate: bool = True) -> Schedule:
    """A schedule unlike every built-in with the same λ endpoints: λ = λ_max + (λ_min − λ_max) w(t),
    w = (e^{2t} − 1)/(e² − 1), and α = 1/(1 + t) on [0, 1] (neither VP nor VE, λ not linear).

    Valid by construction (α > 0; λ decreasing since λ_min < λ_max): ``validate=False`` skips the
    Schedule's own sampling checks (~0.2 s)."""
    lo, hi = _log_snr_range(schedule)
    lo_r, hi_r = sp.Float(lo, 30), sp.Float(hi, 30)
    return Schedule.from_alpha_log_snr(1 / (1 + T), hi_r + (lo_r - hi_r) * (sp.exp(2 * T) - 1) / (sp.exp(2) - 1),
                                       domain=(0.0, 1.0), name="exp-lambda, alpha=1/(1+t)", validate=validate)


@functools.lru_cache(maxsize=16)  # one build per schedule and process: S3 and W3 (Monte Carlo) share it
def reference_numeric(schedule: Schedule) -> NumericSchedule:
    """:func:`reference_schedule` compiled plainly, with its inverse t = ½ log(1 + (e² − 1)(λ − λ_max)/(λ_min − λ_max))
    (checked against λ(t) when built): no codegen form selection for a schedule used once."""
    other = reference_schedule(schedule, validate=False)
    lo, hi = _log_snr_range(schedule)
    lo_r, hi_r = sp.Float(lo, 30), sp.Float(hi, 30)
    return snspace.closed_form_numeric(other, sp.log(1 + (sp.exp(2) - 1) * (LAMBDA - hi_r) / (lo_r - hi_r)) / 2)


@claim_check("S3", "numeric", "exact denoiser's diffusion loss in t: same value for a schedule with equal λ ends",
             general=False)
def check_s3_quadrature(schedule: Schedule, level: str) -> Outcome:
    oracle = _oracle()
    other = reference_numeric(schedule)
    segments, rtol = (8, 1e-8) if level == "quick" else (24, 1e-10)
    losses = [snspace.diffusion_loss_in_t(s, snspace.exact_denoiser_mse(oracle, s, rtol=rtol * 1e-2),
                                          segments=segments, rtol=rtol) for s in (schedule, other)]
    diff = abs(float(losses[0].value - losses[1].value))
    # Quadrature error estimates of both, plus the round-off floor of E[x0^2] - E[x0_hat^2] (~1e-11 relative).
    tolerance = 10 * float(losses[0].error + losses[1].error) + 1e-9 * abs(float(losses[1].value))
    # Residual and tolerance both relative to |L|, so the row reads as a relative error.
    scale = abs(float(losses[1].value))
    return Outcome(diff <= tolerance, "numeric", diff / scale,
                   f"L = {float(losses[0].value):.12g} vs {float(losses[1].value):.12g} ({other.schedule.name}); "
                   f"|diff| {diff:.2e} <= tol {tolerance:.2e}; residual and tolerance relative to |L|",
                   tolerance=tolerance / scale)
