"""Checks of the generalized backward SDE, docs/theory.md: B1–B4.

B1 applies the reverse-time Fokker–Planck equation to the Gaussian-data marginal
(SymPy, general ρ(t)) and to a Gaussian mixture (finite differences on the exact
oracle). B2 rewrites the score drift with Tweedie (P1). B3 verifies that the exact
step solves the mean and variance ODEs of B2 with x̂₀ frozen, written in λ-time,
with the right initial values, and reduces to DDIM (ρ = 0) and to F4 (ρ = 1). B4
checks the γ/δ parameterization and that γ = δ = 0 is B3.
"""

from __future__ import annotations

import numpy as np
import sympy as sp
import torch

from s2n_theory import backward, forward, inference, symbolic_memo
from s2n_theory.backward import DELTA, GAMMA, RHO, RHO_T
from s2n_theory.forward import MU, X0, V, X
from s2n_theory.gaussian_mixture import GaussianMixture
from s2n_theory.numeric_schedule import compile_schedule
from s2n_theory.schedule import Schedule
from s2n_theory.symbols import S, T

from .prove import prove_identities
from .registry import Outcome, claim_check

RHO_VALUE = sp.Symbol("rho_t", nonnegative=True)
"""The value ρ(t) at the time of a pointwise identity."""

RANGES = {X: (-3.0, 3.0), X0: (-2.0, 2.0), MU: (-1.5, 1.5), V: (0.05, 2.0), RHO: (0.0, 2.0), RHO_VALUE: (0.0, 2.0),
          GAMMA: (-0.5, 1.0), DELTA: (-0.5, 1.0)}


def pointwise_rho(expr: sp.Expr) -> sp.Expr:
    """Replace ρ(t) by its value at t: valid when no derivative of ρ appears (asserted)."""
    expr = sp.sympify(expr)
    if any(d.has(RHO_T) for d in expr.atoms(sp.Derivative)):
        raise AssertionError("the identity involves a derivative of rho(t)")
    return expr.subs(RHO_T, RHO_VALUE)


def gaussian_log_density(x: sp.Expr, mean: sp.Expr, variance: sp.Expr) -> sp.Expr:
    """log N(x; mean, variance), written without the square root of the variance."""
    return -((x - mean) ** 2) / (2 * variance) - sp.log(2 * sp.pi * variance) / 2


def reverse_fokker_planck_identity(label: str, log_density: sp.Expr,
                                   schedule: Schedule) -> tuple[str, sp.Expr, sp.Expr]:
    """B1: ∂_t p = −∂_x(b p) − ½ ρ² g² ∂²_x p for the ρ-family drift b (score = ∂_x log p), divided by p.

    A diffusion run backward in time with drift b and noise ρ g has forward-time density
    equation ∂_t p = −∂_x(b p) − ½ ρ² g² ∂²_x p. With ℓ = log p: ∂_x(b p)/p = b_x + b ℓ_x and
    ∂²_x p/p = ℓ_xx + ℓ_x², leaving an identity polynomial in x.
    """
    ell = sp.expand_log(log_density, force=True)
    ell_x = sp.diff(ell, X)
    b = backward.drift_from_score(schedule, X, ell_x, RHO_T)
    noise2 = backward.noise_variance_rate(schedule, RHO_T)
    rhs = -sp.diff(b, X) - b * ell_x - noise2 * (sp.diff(ell_x, X) + ell_x**2) / 2
    return label, sp.diff(ell, T), pointwise_rho(rhs)


@claim_check("B1", "symbolic", "reverse-time Fokker–Planck of the ρ(t)-family for Gaussian data x₀ ~ N(μ, v)")
def check_b1(schedule: Schedule, level: str) -> Outcome:
    mean, variance = forward.gaussian_marginal(schedule)
    ell = gaussian_log_density(X, mean, variance)
    return prove_identities([reverse_fokker_planck_identity("reverse FP of N(alpha mu, alpha^2 v + sigma^2)",
                                                            ell, schedule)], schedule, RANGES, level)


MIXTURE_1D = GaussianMixture([0.3, 0.5, 0.2], [[-1.5], [0.2], [2.0]], [0.1, 0.4, 0.05])
"""A fixed 1-D mixture for the finite-difference B1 check."""


@claim_check("B1", "numeric", "reverse-time Fokker–Planck for a Gaussian mixture (oracle score), finite differences",
             general=False)
def check_b1_mixture(schedule: Schedule, level: str) -> Outcome:
    num = compile_schedule(schedule, "numpy")
    lo, hi = schedule.t_min, schedule.t_max
    count = 5 if level == "quick" else 25
    times = lo + (hi - lo) * np.linspace(0.05, 0.95, count)

    def density(x: np.ndarray, t: float) -> np.ndarray:
        return np.exp(MIXTURE_1D.log_prob(x[:, None], t, schedule))

    def score(x: np.ndarray, t: float) -> np.ndarray:
        return MIXTURE_1D.score(x[:, None], t, schedule)[:, 0]

    def d1(fn, h):  # 4th-order central first derivative
        return (-fn(2 * h) + 8 * fn(h) - 8 * fn(-h) + fn(-2 * h)) / (12 * h)

    worst = 0.0
    for t in times:
        a, s2 = float(num.alpha(t)), float(num.sigma(t)) ** 2
        f, g2 = float(num.f(t)), float(num.g2(t))
        spread = np.sqrt(a**2 * 0.4 + s2)
        x = np.linspace(a * -1.5 - 3 * spread, a * 2.0 + 3 * spread, 41)
        hx = 1e-2 * np.sqrt(a**2 * 0.05 + s2)
        ht = 1e-3 * min(t - lo, hi - t, abs(t) + 1e-3)
        for rho in (0.0, 0.5, 1.0, 2.0):
            def flux(h: float, rho: float = rho, x: np.ndarray = x, t: float = t, f: float = f,
                     g2: float = g2) -> np.ndarray:
                y = x + h
                drift = f * y - (1 + rho**2) * g2 * score(y, t) / 2
                return drift * density(y, t)

            p_t = d1(lambda h, x=x, t=t: density(x, t + h), ht)
            dflux = d1(flux, hx)
            p_xx = (-density(x + 2 * hx, t) + 16 * density(x + hx, t) - 30 * density(x, t)
                    + 16 * density(x - hx, t) - density(x - 2 * hx, t)) / (12 * hx**2)
            noise = 0.5 * rho**2 * g2 * p_xx
            residual = p_t + dflux + noise
            scale = np.abs(p_t) + np.abs(dflux) + np.abs(noise)
            worst = max(worst, float(np.max(np.abs(residual)) / np.max(scale)))
    tolerance = 1e-6
    return Outcome(worst <= tolerance, "numeric", worst,
                   f"{count} times x 41 points x rho in (0, 0.5, 1, 2), tolerance {tolerance:g}", tolerance=tolerance)


@claim_check("B2", "symbolic", "data-prediction form: drift f x + ½(1+ρ²)λ′(αx̂₀ − x), noise ρσ√(−λ′)")
def check_b2(schedule: Schedule, level: str) -> Outcome:
    a, s = schedule.alpha, schedule.sigma
    score = inference.score_from_x0(X, X0, a, s)  # Tweedie (P1) with x̂₀ = x_0
    return prove_identities([
        ("drift: score form = data form", pointwise_rho(backward.drift_from_score(schedule, X, score, RHO_T)),
         pointwise_rho(backward.drift_from_x0(schedule, X, X0, RHO_T))),
        ("noise^2: rho^2 g^2 = rho^2 sigma^2 (-lambda')", pointwise_rho(backward.noise_variance_rate(schedule, RHO_T)),
         pointwise_rho(backward.noise_scale_data_form(schedule, RHO_T) ** 2)),
    ], schedule, RANGES, level)


def _at_s(schedule: Schedule, expr: sp.Expr) -> sp.Expr:
    """``expr`` written in t, evaluated at s (expr must not already contain t-dependence to keep)."""
    return schedule.at(expr, S)


@claim_check("B3", "symbolic", "exact step solves B2's mean/variance ODEs (x̂₀ frozen, λ-time); ρ=0 DDIM, ρ=1 F4")
def check_b3(schedule: Schedule, level: str) -> Outcome:
    c_x, c_x0, c_noise = backward.exact_step_coefficients(schedule, RHO)
    mean, var = c_x * X + c_x0 * X0, c_noise**2  # law of x_s given x_t = x, x̂₀ = x_0
    placeholder = sp.Dummy("y")
    drift_s = _at_s(schedule, backward.drift_from_x0(schedule, placeholder, X0, RHO))
    slope_s = sp.diff(drift_s, placeholder)  # ∂b/∂x at time s
    source_s = drift_s.subs(placeholder, 0).subs(X0, 1)  # b(s, x) = slope x + source x̂₀
    noise2_s = _at_s(schedule, backward.noise_scale_data_form(schedule, RHO) ** 2)
    dlam_s = _at_s(schedule, schedule.dlog_snr)
    # Backward in time, d/ds of the mean is the drift and d/ds of the variance is 2 b_x V − ρ² g²;
    # dividing by λ′(s) writes both in λ-time (d/dλ_s = (1/λ′(s)) d/ds). The mean ODE is checked
    # coefficient by coefficient, that of x_t (c_x > 0) as d log c_x/dλ_s.
    ddim0, ddim_x0, ddim_noise = (e.subs(RHO, 0) for e in (c_x, c_x0, c_noise))
    post_xt, post_x0, post_var = forward.posterior(schedule)
    eps_hat = inference.eps_from_x0(X, X0, schedule.alpha, schedule.sigma)
    alpha_s, sigma_s = _at_s(schedule, schedule.alpha), _at_s(schedule, schedule.sigma)
    return prove_identities([
        ("drift is affine: b = slope x + source x0_hat", drift_s, slope_s * placeholder + source_s * X0),
        ("mean ODE in lambda-time, x_t coefficient (log form)",
         sp.diff(sp.expand_log(sp.log(c_x), force=True), S) / dlam_s, slope_s / dlam_s),
        ("mean ODE in lambda-time, x0 coefficient", sp.diff(c_x0, S) / dlam_s,
         (slope_s * c_x0 + source_s) / dlam_s),
        ("variance ODE in lambda-time", sp.diff(var, S) / dlam_s, (2 * slope_s * var - noise2_s) / dlam_s),
        ("initial mean at s = t", mean.subs(S, T), X),
        ("initial variance at s = t", var.subs(S, T), 0),
        ("rho = 0 is DDIM: x_s = alpha_s x0_hat + sigma_s eps_hat", ddim0 * X + ddim_x0 * X0,
         alpha_s * X0 + sigma_s * eps_hat),
        ("rho = 0 is deterministic", ddim_noise, 0),
        ("rho = 1, coefficient of x_t = F4", c_x.subs(RHO, 1), post_xt),
        ("rho = 1, coefficient of x0 = F4", c_x0.subs(RHO, 1), post_x0),
        ("rho = 1, variance = F4", c_noise.subs(RHO, 1) ** 2, post_var),
    ], schedule, RANGES, level)


@claim_check("B3", "numeric", "exact_step (numpy, torch) equals the symbolic B3 coefficients", general=False)
def check_b3_numeric(schedule: Schedule, level: str) -> Outcome:
    rng = np.random.default_rng(41)
    n = 32 if level == "quick" else 256
    lo, hi = schedule.t_min, schedule.t_max
    t = lo + (hi - lo) * rng.uniform(0.05, 0.98, n)
    s = lo + (t - lo) * rng.uniform(0.02, 0.98, n)
    x, x0, xi = rng.standard_normal((3, n, 2))
    worst = 0.0
    # Derived and compiled once: ρ is an argument of the compiled coefficients.
    funcs = [symbolic_memo.lambdify([T, S, RHO], c, "mpmath")
             for c in backward.exact_step_coefficients(schedule, RHO)]
    for rho in (0.0, 0.6, 1.0, 1.7):
        c = np.array([[float(fn(ti, si, rho)) for fn in funcs] for ti, si in zip(t, s, strict=True)])
        expected = c[:, :1] * x + c[:, 1:2] * x0 + c[:, 2:3] * xi
        got_np = backward.exact_step(x, x0, t, s, schedule, rho=rho, noise=xi)
        got_torch = backward.exact_step(*(torch.tensor(v) for v in (x, x0, t, s)), schedule, rho=rho,
                                        noise=torch.tensor(xi)).numpy()
        scale = np.abs(expected) + 1.0
        worst = max(worst, float(np.max(np.abs(got_np - expected) / scale)),
                    float(np.max(np.abs(got_torch - expected) / scale)))
    tolerance = 1e-11
    return Outcome(worst <= tolerance, "numeric", worst, f"{n} (s, t) pairs x 4 rho, tolerance {tolerance:g}", tolerance=tolerance)


@claim_check("B4", "symbolic", "parametric step: ε̂_γ = (1+γ)ε_θ, noise (1+δ)ξ, γ = δ = 0 is B3")
def check_b4(schedule: Schedule, level: str) -> Outcome:
    a, s = schedule.alpha, schedule.sigma
    x0_gamma = backward.parametric_x0(X, X0, a, GAMMA)
    c_x, c_x0, c_noise = backward.exact_step_coefficients(schedule, RHO)
    p_x, p_theta, p_noise = backward.parametric_step_coefficients(schedule, RHO, GAMMA, DELTA)
    zero = {GAMMA: 0, DELTA: 0}
    return prove_identities([
        ("eps of x0_gamma = (1 + gamma) eps_theta", inference.eps_from_x0(X, x0_gamma, a, s),
         (1 + GAMMA) * inference.eps_from_x0(X, X0, a, s)),
        ("step mean = B3 mean with x0_gamma", p_x * X + p_theta * X0, c_x * X + c_x0 * x0_gamma),
        ("step noise = (1 + delta) B3 noise", p_noise, (1 + DELTA) * c_noise),
        ("gamma = delta = 0: x_t coefficient", p_x.subs(zero), c_x),
        ("gamma = delta = 0: x0 coefficient", p_theta.subs(zero), c_x0),
        ("gamma = delta = 0: noise coefficient", p_noise.subs(zero), c_noise),
    ], schedule, RANGES, level)


@claim_check("B4", "numeric", "exact_step with γ, δ equals B3 applied to x̂₀_γ and (1+δ)ξ", general=False)
def check_b4_numeric(schedule: Schedule, level: str) -> Outcome:
    num = compile_schedule(schedule, "numpy")
    rng = np.random.default_rng(43)
    n = 32 if level == "quick" else 256
    lo, hi = schedule.t_min, schedule.t_max
    t = lo + (hi - lo) * rng.uniform(0.05, 0.98, n)
    s = lo + (t - lo) * rng.uniform(0.02, 0.98, n)
    x, x0, xi = rng.standard_normal((3, n, 2))
    a_t = num.alpha(t)[:, None]
    worst = 0.0
    for rho, gamma, delta in ((0.0, 0.3, 0.0), (1.0, -0.2, 0.5), (0.7, 0.0, 0.0), (1.3, 0.4, -0.3)):
        got = backward.exact_step(x, x0, t, s, schedule, rho=rho, gamma=gamma, delta=delta, noise=xi)
        x0_gamma = (1 + gamma) * x0 - gamma * x / a_t  # the sheet's definition, written out
        expected = backward.exact_step(x, x0_gamma, t, s, schedule, rho=rho, noise=(1 + delta) * xi)
        worst = max(worst, float(np.max(np.abs(got - expected) / (np.abs(expected) + 1.0))))
    tolerance = 1e-12
    return Outcome(worst <= tolerance, "numeric", worst, f"{n} pairs x 4 (rho, gamma, delta), tolerance {tolerance:g}", tolerance=tolerance)
