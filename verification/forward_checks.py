"""Checks of the forward theory, docs/theory.md: F1–F5.

Each check compares a derivation from :mod:`s2n_theory.forward` with an
independent computation (the definition, Bayes' rule, or the Fokker–Planck
equation applied by SymPy or by finite differences).
"""

from __future__ import annotations

import mpmath
import numpy as np
import sympy as sp

from s2n_theory import forward
from s2n_theory.arrays import compile_expression
from s2n_theory.forward import MU, X0, V, X
from s2n_theory.numeric_schedule import compile_schedule
from s2n_theory.quadrature import integrate
from s2n_theory.schedule import Schedule
from s2n_theory.symbols import S, T

from .prove import R, prove_identities
from .registry import Outcome, claim_check

X_RANGES = {X: (-3.0, 3.0), X0: (-2.0, 2.0), MU: (-1.5, 1.5), V: (0.05, 2.0)}


def _fokker_planck_identity(label: str, density: sp.Expr, schedule: Schedule) -> tuple[str, sp.Expr, sp.Expr]:
    """∂_t p = −∂_x(f x p) + ½ g² ∂²_x p divided by p, with f and g² taken from the library.

    Dividing by p is done through ℓ = log p (∂p/p = ∂ℓ, ∂²p/p = ∂²ℓ + (∂ℓ)²), which
    leaves a polynomial in x whose coefficients SymPy can reduce one by one.
    """
    ell = sp.expand_log(sp.log(density), force=True)
    ell_x = sp.diff(ell, X)
    rhs = -forward.drift(schedule) - forward.drift(schedule) * X * ell_x + forward.diffusion_squared(schedule) * (sp.diff(ell_x, X) + ell_x**2) / 2
    return label, sp.diff(ell, T), rhs


@claim_check("F1", "symbolic", "f = α′/α, g² = −σ²λ′ = (σ²)′ − 2fσ², and N(αx₀, σ²) solves the SDE's Fokker–Planck")
def check_f1(schedule: Schedule, level: str) -> Outcome:
    f, g2, sigma2 = forward.drift(schedule), forward.diffusion_squared(schedule), schedule.sigma**2
    density = forward.gaussian_density(X, schedule.alpha * X0, sigma2)
    return prove_identities([
        ("f = alpha'/alpha", f * schedule.alpha, sp.diff(schedule.alpha, T)),
        ("g2 = -sigma^2 lambda'", g2, -sigma2 * sp.diff(schedule.log_snr, T)),
        ("g2 = (sigma^2)' - 2 f sigma^2", g2, sp.diff(sigma2, T) - 2 * f * sigma2),
        _fokker_planck_identity("Fokker-Planck of q(x_t|x_0)", density, schedule),
    ], schedule, X_RANGES, level)


@claim_check("F2", "symbolic", "moment ODEs m′ = f m, v′ = 2 f v + g² for m = αx₀, v = σ²")
def check_f2(schedule: Schedule, level: str) -> Outcome:
    mean, variance = schedule.alpha * X0, schedule.sigma**2
    mean_rate, variance_rate = forward.moment_rates(schedule, mean, variance)
    return prove_identities([
        ("m' = f m", sp.diff(mean, T), mean_rate),
        ("v' = 2 f v + g2", sp.diff(variance, T), variance_rate),
    ], schedule, X_RANGES, level)


@claim_check("F3", "symbolic", "transition α_{t|s}, σ²_{t|s}: definition, λ-form, integral form, semigroup")
def check_f3(schedule: Schedule, level: str) -> Outcome:
    alpha_ts, sigma2_ts = forward.transition(schedule)
    alpha_t, alpha_s = schedule.alpha, schedule.at(schedule.alpha, S)
    sigma2_t, sigma2_s = schedule.sigma**2, schedule.at(schedule.sigma, S) ** 2
    u = sp.Symbol("u", positive=True)
    # Integral form by the fundamental theorem of calculus: F(u) = α_t² e^{−λ_u} is an
    # antiderivative of the integrand, and F(t) − F(s) must equal σ²_{t|s}.
    antiderivative = alpha_t**2 * sp.exp(-schedule.at(schedule.log_snr, u))
    integrand = forward.transition_variance_integrand(schedule, u)

    def between(expr: sp.Expr, later: sp.Expr, earlier: sp.Expr) -> sp.Expr:
        return expr.subs({S: earlier}, simultaneous=True).subs({T: later}, simultaneous=True)

    alpha_sr, sigma2_sr = between(alpha_ts, S, R), between(sigma2_ts, S, R)
    alpha_tr, sigma2_tr = between(alpha_ts, T, R), between(sigma2_ts, T, R)
    return prove_identities([
        ("alpha_ts = alpha_t/alpha_s", alpha_ts, alpha_t / alpha_s),
        ("sigma2_ts = sigma_t^2 - alpha_ts^2 sigma_s^2", sigma2_ts, sigma2_t - alpha_ts**2 * sigma2_s),
        ("d/du antiderivative = (alpha_t/alpha_u)^2 g_u^2", sp.diff(antiderivative, u), integrand),
        ("integral = F(t) - F(s)", antiderivative.subs(u, T) - antiderivative.subs(u, S), sigma2_ts),
        ("alpha_{t|s} alpha_{s|r} = alpha_{t|r}", alpha_ts * alpha_sr, alpha_tr),
        ("sigma2_{t|r} = alpha_{t|s}^2 sigma2_{s|r} + sigma2_{t|s}", sigma2_tr, alpha_ts**2 * sigma2_sr + sigma2_ts),
    ], schedule, {u: (schedule.t_min, schedule.t_max)}, level)


F3_PAIRS = {"quick": 16, "full": 8}
"""(s, t) pairs of the numeric F3 check: at the quick level all in one vectorised float64 Gauss–Legendre
quadrature (with its error estimate), at the full level each by 30-digit mpmath quadrature."""


@claim_check("F3", "numeric", "σ²_{t|s} against adaptive quadrature of ∫ₛᵗ (α_t/α_u)² g_u² du", general=False)
def check_f3_quadrature(schedule: Schedule, level: str) -> Outcome:
    num = compile_schedule(schedule, "numpy")
    u = sp.Symbol("u", positive=True)
    expr = forward.transition_variance_integrand(schedule, u)
    rng = np.random.default_rng(3)
    lo, hi = schedule.t_min, schedule.t_max
    pairs = F3_PAIRS[level]
    s, t = np.sort(rng.uniform(lo + 0.01 * (hi - lo), hi - 0.01 * (hi - lo), size=(pairs, 2)), axis=1).T
    # Split each interval in 8 so steep integrands near s are resolved.
    nodes = s[:, None] + (t - s)[:, None] * np.arange(9) / 8
    exact = num.sigma2_ts(t, s)
    if level == "quick":
        integrand = compile_expression([u, T], expr)  # the derived integrand compiled plainly, not the export forms
        q = integrate(lambda v, rows: integrand(v, t[rows, None]), nodes, rtol=1e-14, atol=0.0)
        quad, how = q.value[0], "float64 Gauss-Legendre (panels doubled to 1e-14)"
    else:
        integrand = sp.lambdify([u, T], expr, modules="mpmath")
        with mpmath.workdps(30):
            quad = np.array([float(mpmath.quad(lambda v, ti=ti: integrand(v, ti), list(row)))
                             for row, ti in zip(nodes, t, strict=True)])
        how = "30-digit mpmath quadrature"
    worst = float(np.max(np.abs(quad - exact) / np.abs(exact)))
    tolerance = 1e-10
    return Outcome(worst <= tolerance, "numeric", worst, f"{pairs} (s, t) pairs, {how}, relative tolerance "
                   f"{tolerance:g}", tolerance=tolerance)


@claim_check("F4", "symbolic", "posterior q(x_s|x_t, x₀) equals Bayes' rule on the two Gaussians")
def check_f4(schedule: Schedule, level: str) -> Outcome:
    coef_xt, coef_x0, variance = forward.posterior(schedule)
    alpha_s = schedule.at(schedule.alpha, S)
    sigma2_s = schedule.at(schedule.sigma, S) ** 2
    alpha_ts = schedule.alpha / alpha_s
    # Transition variance from its definition, not from F3's λ-form, to keep the check independent.
    sigma2_ts = schedule.sigma**2 - alpha_ts**2 * sigma2_s
    # Bayes: prior x_s ~ N(α_s x₀, σ_s²), likelihood x_t | x_s ~ N(α_{t|s} x_s, σ²_{t|s}).
    precision = 1 / sigma2_s + alpha_ts**2 / sigma2_ts
    return prove_identities([
        ("posterior variance", variance, 1 / precision),
        ("coefficient of x_t", coef_xt, (alpha_ts / sigma2_ts) / precision),
        ("coefficient of x_0", coef_x0, (alpha_s / sigma2_s) / precision),
    ], schedule, X_RANGES, level)


@claim_check("F5", "symbolic", "Fokker–Planck for Gaussian data x₀ ~ N(μ, v)")
def check_f5(schedule: Schedule, level: str) -> Outcome:
    mean, variance = forward.gaussian_marginal(schedule)
    density = forward.gaussian_density(X, mean, variance)
    return prove_identities([_fokker_planck_identity("Fokker-Planck of N(alpha mu, alpha^2 v + sigma^2)", density,
                                                     schedule)], schedule, X_RANGES, level)


MIXTURE_1D = (np.array([0.3, 0.5, 0.2]), np.array([-1.5, 0.2, 2.0]), np.array([0.1, 0.4, 0.05]))
"""A fixed 1-D mixture (weights, means, variances) for the numeric F5 check."""


@claim_check("F5", "numeric", "Fokker–Planck for a Gaussian mixture, 4th-order finite differences", general=False)
def check_f5_mixture(schedule: Schedule, level: str) -> Outcome:
    num = compile_schedule(schedule, "numpy")
    weights, means, variances = MIXTURE_1D

    def density(x: np.ndarray, t: np.ndarray) -> np.ndarray:
        a, s2 = num.alpha(t)[..., None], num.sigma(t)[..., None] ** 2
        var = a**2 * variances + s2
        comps = np.exp(-((x[..., None] - a * means) ** 2) / (2 * var)) / np.sqrt(2 * np.pi * var)
        return comps @ weights

    lo, hi = schedule.t_min, schedule.t_max
    count = 7 if level == "quick" else 25
    times = lo + (hi - lo) * np.linspace(0.05, 0.95, count)
    worst = 0.0
    for t in times:
        a, s2 = float(num.alpha(t)), float(num.sigma(t)) ** 2
        spread = np.sqrt(a**2 * variances.max() + s2)
        x = np.linspace(a * means.min() - 3 * spread, a * means.max() + 3 * spread, 41)
        hx = 1e-2 * np.sqrt(a**2 * variances.min() + s2)
        ht = 1e-3 * min(t - lo, hi - t, abs(t) + 1e-3)
        tt = np.full_like(x, t)

        def d1(fn, h):  # 4th-order central first derivative
            return (-fn(2 * h) + 8 * fn(h) - 8 * fn(-h) + fn(-2 * h)) / (12 * h)

        p_t = d1(lambda h: density(x, tt + h), ht)
        flux = lambda h: num.f(t) * (x + h) * density(x + h, tt)  # noqa: E731
        dflux = d1(flux, hx)
        p_xx = (-density(x + 2 * hx, tt) + 16 * density(x + hx, tt) - 30 * density(x, tt)
                + 16 * density(x - hx, tt) - density(x - 2 * hx, tt)) / (12 * hx**2)
        diffusion = 0.5 * num.g2(t) * p_xx
        residual = p_t + dflux - diffusion
        scale = np.abs(p_t) + np.abs(dflux) + np.abs(diffusion)
        worst = max(worst, float(np.max(np.abs(residual)) / np.max(scale)))
    # 4th-order stencils at these steps: truncation ~1e-8 relative, round-off ~1e-11.
    tolerance = 1e-6
    return Outcome(worst <= tolerance, "numeric", worst, f"{count} times x 41 points, tolerance {tolerance:g}", tolerance=tolerance)
