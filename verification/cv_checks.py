"""Checks of the non-Markovian CV model, docs/theory.md: C1–C5 (all symbolic).

C1 by the laws of total mean and variance; C2 by its moment ODEs and its
Fokker–Planck equation; C3 by the Fokker–Planck equation of the Markovian
projection for Gaussian data and by comparing the reversed drift with B1/B2;
C4 by matching coefficients with B3; C5 from B2's ρ = 0 drift and from the B3
step at ρ = 0. Square roots are compared through their squares where both sides
are non-negative by construction (stated in each label).
"""

from __future__ import annotations

import sympy as sp

from s2n_theory import backward, cv_model, forward, inference
from s2n_theory.backward import RHO, RHO_T
from s2n_theory.forward import X0, X
from s2n_theory.schedule import Schedule
from s2n_theory.symbols import S, T

from .backward_checks import RANGES, RHO_VALUE, gaussian_log_density, pointwise_rho
from .inference_checks import gaussian_posterior
from .prove import prove_identities
from .registry import Outcome, claim_check

C2 = cv_model.C2_SYMBOL


def _log_fokker_planck(ell: sp.Expr, drift: sp.Expr, noise2: sp.Expr, sign: int = 1) -> tuple[sp.Expr, sp.Expr]:
    """(ℓ_t, RHS) of ∂_t p = −∂_x(drift p) + sign · ½ noise2 ∂²_x p divided by p, with ℓ = log p."""
    ell_x = sp.diff(ell, X)
    rhs = -sp.diff(drift, X) - drift * ell_x + sign * noise2 * (sp.diff(ell_x, X) + ell_x**2) / 2
    return sp.diff(ell, T), rhs


@claim_check("C1", "symbolic", "discrete family q_c keeps q(x_s|x₀) = N(α_s x₀, σ_s²); c² = σ̃² is the posterior F4")
def check_c1(schedule: Schedule, level: str) -> Outcome:
    k_x, k_0, c2 = cv_model.discrete_kernel(schedule, C2)
    alpha_t, sigma2_t = schedule.alpha, schedule.sigma**2
    alpha_s, sigma2_s = schedule.at(schedule.alpha, S), schedule.at(schedule.sigma, S) ** 2
    m_x, m_0, m_c2 = cv_model.discrete_kernel(schedule, cv_model.markov_c2(schedule))
    post_xt, post_x0, post_var = forward.posterior(schedule)
    return prove_identities([
        # x_t | x₀ ~ N(α_t x₀, σ_t²): E[x_s | x₀] = k_x α_t x₀ + k_0 x₀, Var = k_x² σ_t² + c².
        ("mean: k_x alpha_t x0 + k_0 x0 = alpha_s x0", k_x * alpha_t * X0 + k_0 * X0, alpha_s * X0),
        ("variance: k_x^2 sigma_t^2 + c^2 = sigma_s^2", k_x**2 * sigma2_t + c2, sigma2_s),
        ("Markov member: c^2 = posterior variance", m_c2, post_var),
        ("Markov member: coefficient of x_t (squares, both > 0)", m_x**2, post_xt**2),
        ("Markov member: coefficient of x0, via alpha_s - k_0 = k_x alpha_t (squares, both > 0)",
         (alpha_s - m_0) ** 2, (alpha_s - post_x0) ** 2),
    ], schedule, {**RANGES, C2: (0.0, 0.01)}, level)


@claim_check("C2", "symbolic", "CV SDE given x₀: marginals N(αx₀, σ²) for every ρ(t); ρ = 1 is F1; ρ = 0 is DDIM")
def check_c2(schedule: Schedule, level: str) -> Outcome:
    a, b, noise2 = cv_model.cv_sde(schedule, RHO_T)
    mean, var = schedule.alpha * X0, schedule.sigma**2
    ell = sp.expand_log(gaussian_log_density(X, mean, var), force=True)
    lhs, rhs = _log_fokker_planck(ell, a * X + b * X0, noise2)
    a1, b1, _ = cv_model.cv_sde(schedule, sp.Integer(1))
    a0, b0, noise0 = cv_model.cv_sde(schedule, sp.Integer(0))
    # ρ = 0: the path through x_t at time t, x(s) = α_s x₀ + (σ_s/σ_t)(x_t − α_t x₀), solves the ODE.
    path = schedule.at(schedule.alpha, S) * X0 + schedule.at(schedule.sigma, S) / schedule.sigma * (
        X - schedule.alpha * X0)
    c_x, c_x0, _ = backward.exact_step_coefficients(schedule, RHO)
    return prove_identities([
        ("mean ODE m' = a m + b x0", sp.diff(mean, T), pointwise_rho(a * mean + b * X0)),
        ("variance ODE v' = 2 a v + rho^2 g^2", sp.diff(var, T), pointwise_rho(2 * a * var + noise2)),
        ("Fokker-Planck of N(alpha x0, sigma^2)", lhs, pointwise_rho(rhs)),
        ("rho = 1: a = f", a1, forward.drift(schedule)),
        ("rho = 1: b = 0", b1, 0),
        ("rho = 0: DDIM path solves the ODE", sp.diff(path, S), _at_s_drift(schedule, a0, b0, path)),
        ("rho = 0: no noise", noise0, 0),
        ("rho = 0: path is the B3 rho = 0 step", path, (c_x * X + c_x0 * X0).subs(RHO, 0)),
    ], schedule, RANGES, level)


def _at_s_drift(schedule: Schedule, a: sp.Expr, b: sp.Expr, x_value: sp.Expr) -> sp.Expr:
    """a(s) x + b(s) x₀ at x = ``x_value`` (which may depend on t as a parameter)."""
    return schedule.at(a, S) * x_value + schedule.at(b, S) * X0


@claim_check("C3", "symbolic", "reversing C2 (x₀ → x̂₀) gives the B-family drift; Gaussian data, general ρ(t)")
def check_c3(schedule: Schedule, level: str) -> Outcome:
    g = gaussian_posterior(schedule)
    a, b, noise2 = cv_model.cv_sde(schedule, RHO_T)
    ell, score, x0_hat = g["log_density"], g["score"], g["x0_hat"]
    # Markovian projection: p_t of x₀ ~ N(μ, v) solves FP with drift a x + b x̂₀(x) and noise ρ² g².
    lhs, rhs = _log_fokker_planck(sp.expand_log(ell, force=True), a * X + b * x0_hat, noise2)
    tweedie_score = inference.score_from_x0(X, X0, schedule.alpha, schedule.sigma)
    return prove_identities([
        ("Fokker-Planck of the projected CV process (Gaussian data)", lhs, pointwise_rho(rhs)),
        ("reversed CV drift = B1 drift (Gaussian data)",
         pointwise_rho(cv_model.cv_reverse_drift(schedule, X, x0_hat, score, RHO_T)),
         pointwise_rho(backward.drift_from_score(schedule, X, score, RHO_T))),
        ("reversed CV drift = B2 drift (any data, Tweedie)",
         pointwise_rho(cv_model.cv_reverse_drift(schedule, X, X0, tweedie_score, RHO_T)),
         pointwise_rho(backward.drift_from_x0(schedule, X, X0, RHO_T))),
    ], schedule, {**RANGES, RHO_VALUE: (0.0, 2.0)}, level)


@claim_check("C4", "symbolic", "B3 is the C1 member with c² = σ_s²(1 − e^{−2ρ²h})")
def check_c4(schedule: Schedule, level: str) -> Outcome:
    k_x, k_0, c2 = cv_model.discrete_kernel(schedule, cv_model.exact_step_c2(schedule, RHO))
    c_x, c_x0, c_noise = backward.exact_step_coefficients(schedule, RHO)
    alpha_s = schedule.at(schedule.alpha, S)
    return prove_identities([
        ("variance c^2 = B3 noise^2", c2, c_noise**2),
        ("coefficient of x_t (squares, both > 0)", k_x**2, c_x**2),
        ("coefficient of x0 via alpha_s - k_0 (squares, both > 0)", (alpha_s - k_0) ** 2, (alpha_s - c_x0) ** 2),
    ], schedule, RANGES, level)


@claim_check("C5", "symbolic", "DDIM ODE in SN coordinates: d(x/α) = ε̂ d(σ/α)")
def check_c5(schedule: Schedule, level: str) -> Outcome:
    alpha, sigma = schedule.alpha, schedule.sigma
    eps_hat = inference.eps_from_x0(X, X0, alpha, sigma)
    drift = backward.drift_from_x0(schedule, X, X0, sp.Integer(0))  # probability-flow ODE, B2 at ρ = 0
    c_x, c_x0, _ = backward.exact_step_coefficients(schedule, RHO)
    x_s = (c_x * X + c_x0 * X0).subs(RHO, 0)
    sn_t, sn_s = sigma / alpha, schedule.at(sigma / alpha, S)
    return prove_identities([
        ("d(x/alpha)/dt along the ODE = eps_hat d(sigma/alpha)/dt",
         drift / alpha - X * sp.diff(alpha, T) / alpha**2, cv_model.ddim_sn_velocity(schedule, eps_hat)),
        ("B3 rho = 0 step: x_s/alpha_s - x_t/alpha_t = eps_hat (sigma_s/alpha_s - sigma_t/alpha_t)",
         x_s / schedule.at(alpha, S) - X / alpha, eps_hat * (sn_s - sn_t)),
    ], schedule, RANGES, level)
