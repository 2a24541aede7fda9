"""Checks of the inference quantities, docs/theory.md: P1–P3.

P1 and P2 are proved symbolically for Gaussian data x₀ ~ N(μ, v), where E[x₀ | x_t]
and the score follow from the joint Gaussian law independently of the conversion
code; they are re-checked numerically against the Gaussian-mixture oracle (torch
autograd of its log-density). P3 compares the oracle with scipy's multivariate
normal, torch autograd and adaptive quadrature of Bayes' rule.
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp
import torch
from scipy import integrate, special, stats

from s2n_theory import inference
from s2n_theory.forward import MU, X0, V, X
from s2n_theory.gaussian_mixture import GaussianMixture, eigen_terms
from s2n_theory.numeric_schedule import compile_schedule
from s2n_theory.schedule import Schedule

from .prove import prove_identities
from .registry import Outcome, Skip, claim_check

X_RANGES = {X: (-3.0, 3.0), X0: (-2.0, 2.0), MU: (-1.5, 1.5), V: (0.05, 2.0)}
EPS = sp.Symbol("epsilon", real=True)


def gaussian_posterior(schedule: Schedule) -> dict[str, sp.Expr]:
    """For x₀ ~ N(μ, v): log p_t, its x-derivative, E[x₀ | x_t = x] and E[ε | x_t = x] from the joint Gaussian.

    Cov(x₀, x_t) = α v and Var x_t = α² v + σ², so E[x₀ | x] = μ + α v (x − α μ)/(α² v + σ²);
    E[ε | x] = σ (x − α μ)/(α² v + σ²) because Cov(ε, x_t) = σ.
    """
    alpha, sigma = schedule.alpha, schedule.sigma
    var = alpha**2 * V + sigma**2
    log_density = -(X - alpha * MU) ** 2 / (2 * var) - sp.log(2 * sp.pi * var) / 2
    return {
        "log_density": log_density,
        "score": sp.diff(log_density, X),
        "x0_hat": MU + alpha * V * (X - alpha * MU) / var,
        "eps_hat": sigma * (X - alpha * MU) / var,
    }


@claim_check("P1", "symbolic", "Tweedie: score = (αx̂₀ − x)/σ² = −ε̂/σ, x = αx̂₀ + σε̂; v-prediction round trip")
def check_p1(schedule: Schedule, level: str) -> Outcome:
    g = gaussian_posterior(schedule)
    a, s = schedule.alpha, schedule.sigma
    x0, eps, score = g["x0_hat"], g["eps_hat"], g["score"]
    v = inference.v_from_x0_eps(X0, EPS, a, s)
    xt = a * X0 + s * EPS
    return prove_identities([
        ("score = (alpha x0_hat - x)/sigma^2", score, inference.score_from_x0(X, x0, a, s)),
        ("score = -eps_hat/sigma", score, inference.score_from_eps(eps, s)),
        ("x = alpha x0_hat + sigma eps_hat", X, a * x0 + s * eps),
        ("eps_from_x0", inference.eps_from_x0(X, x0, a, s), eps),
        ("x0_from_eps", inference.x0_from_eps(X, eps, a, s), x0),
        ("x0_from_score", inference.x0_from_score(X, score, a, s), x0),
        ("eps_from_score", inference.eps_from_score(score, s), eps),
        ("x0_from_v(x_t, v) = x0", inference.x0_from_v(xt, v, a, s), X0),
        ("eps_from_v(x_t, v) = eps", inference.eps_from_v(xt, v, a, s), EPS),
    ], schedule, {**X_RANGES, EPS: (-2.0, 2.0)}, level)


MIXTURE = GaussianMixture(
    [0.3, 0.5, 0.2],
    [[-1.5, 0.5], [0.2, -0.3], [2.0, 1.0]],
    [[[0.1, 0.02], [0.02, 0.05]], [[0.4, -0.1], [-0.1, 0.3]], [[0.05, 0.0], [0.0, 0.2]]],
)
"""A fixed 2-D mixture with full covariances for the numeric P1–P3 checks."""


def _times(schedule: Schedule, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lo, hi = schedule.t_min, schedule.t_max
    return lo + (hi - lo) * rng.uniform(0.02, 0.98, size=n)


def _points(schedule: Schedule, times: np.ndarray, seed: int) -> np.ndarray:
    """Points spread over the bulk of p_t (and beyond) at each time."""
    num = compile_schedule(schedule, "numpy")
    rng = np.random.default_rng(seed)
    x0 = MIXTURE.sample(len(times), rng)
    a, s = num.alpha(times)[:, None], num.sigma(times)[:, None]
    return a * x0 + 1.5 * s * rng.standard_normal(x0.shape)


@claim_check("P1", "numeric", "Tweedie on the mixture oracle: torch autograd of log p_t vs (αx̂₀ − x)/σ², −ε̂/σ",
             general=False)
def check_p1_mixture(schedule: Schedule, level: str) -> Outcome:
    n = 64 if level == "quick" else 512
    times = _times(schedule, n, 11)
    x = _points(schedule, times, 12)
    num = compile_schedule(schedule, "numpy")
    a, s = num.alpha(times)[:, None], num.sigma(times)[:, None]
    xt = torch.tensor(x, requires_grad=True)
    (grad,) = torch.autograd.grad(MIXTURE.log_prob(xt, torch.tensor(times), schedule).sum(), xt)
    grad = grad.numpy()
    x0, eps = MIXTURE.x0_hat(x, times, schedule), MIXTURE.eps_hat(x, times, schedule)
    scale = np.abs(grad) + np.abs(x) / s**2 + 1.0
    errors = [
        np.max(np.abs(grad - inference.score_from_x0(x, x0, a, s)) / scale),
        np.max(np.abs(grad - inference.score_from_eps(eps, s)) / scale),
        np.max(np.abs(x - (a * x0 + s * eps)) / (np.abs(x) + 1.0)),
    ]
    if _is_vp(schedule):
        v = inference.v_from_x0_eps(x0, eps, a, s)
        errors.append(np.max(np.abs(a * x - s * v - x0)) / (np.max(np.abs(x0)) + 1.0))
    worst = float(max(errors))
    tolerance = 1e-9
    return Outcome(worst <= tolerance, "numeric", worst, f"{n} points, tolerance {tolerance:g}"
                   + ("; VP: x0 = alpha x - sigma v" if _is_vp(schedule) else ""), tolerance=tolerance)


def _is_vp(schedule: Schedule) -> bool:
    num = compile_schedule(schedule, "numpy")
    t = np.linspace(schedule.t_min, schedule.t_max, 17)[1:-1]
    return bool(np.allclose(num.alpha(t) ** 2 + num.sigma(t) ** 2, 1.0, rtol=0, atol=1e-12))


@claim_check("P2", "symbolic", "EDM bridge x̂₀(x, t) = D(x/α_t; e^{−λ_t/2}) with D the VE denoiser of N(μ, v)")
def check_p2(schedule: Schedule, level: str) -> Outcome:
    g = gaussian_posterior(schedule)

    def ve_denoiser(y: sp.Expr, sigma_bar: sp.Expr) -> sp.Expr:
        # E[x₀ | x₀ + σ̄ ε = y] for x₀ ~ N(μ, v): the EDM-trained optimum.
        return MU + V * (y - MU) / (V + sigma_bar**2)

    bridged = inference.x0_from_edm(ve_denoiser, X, schedule.alpha, schedule.log_snr)
    return prove_identities([
        ("sigma_bar = sigma/alpha", inference.edm_noise_level(schedule.log_snr) ** 2,
         (schedule.sigma / schedule.alpha) ** 2),
        ("D(x/alpha; e^{-lambda/2}) = E[x0 | x_t = x]", bridged, g["x0_hat"]),
    ], schedule, X_RANGES, level)


@claim_check("P2", "numeric", "EDM bridge on the mixture oracle: its VE denoiser, adapted, equals x̂₀(x, t)",
             general=False)
def check_p2_mixture(schedule: Schedule, level: str) -> Outcome:
    n = 64 if level == "quick" else 512
    times = _times(schedule, n, 21)
    x = _points(schedule, times, 22)

    def ve_denoiser(y: np.ndarray, sigma_bar: np.ndarray) -> np.ndarray:
        return MIXTURE.x0_hat_at(y, 1.0, np.broadcast_to(sigma_bar, y.shape)[..., 0])

    bridged = inference.denoiser_from_edm(ve_denoiser, schedule)(x, times)
    exact = MIXTURE.x0_hat(x, times, schedule)
    worst = float(np.max(np.abs(bridged - exact)) / (np.max(np.abs(exact)) + 1.0))
    tolerance = 1e-10
    return Outcome(worst <= tolerance, "numeric", worst, f"{n} points, tolerance {tolerance:g}", tolerance=tolerance)


@claim_check("P3", "symbolic", "oracle per-component closed forms: score, x̂₀ (conjugate Bayes), ε̂, x = αx̂₀ + σε̂",
             concrete=False)
def check_p3_components(schedule: Schedule, level: str) -> Outcome:
    alpha, sigma = schedule.alpha, schedule.sigma
    r = X - alpha * MU
    _, score, eps, shift = eigen_terms(r, alpha, sigma, V)
    var = alpha**2 * V + sigma**2
    log_density = -(X - alpha * MU) ** 2 / (2 * var) - sp.log(2 * sp.pi * var) / 2
    # Conjugate Gaussian posterior of x₀ ~ N(μ, v) given x = α x₀ + σ ε: precision-weighted mean.
    bayes_mean = (MU / V + alpha * X / sigma**2) / (1 / V + alpha**2 / sigma**2)
    return prove_identities([
        ("score_k = d/dx log N(x; alpha mu, alpha^2 v + sigma^2)", score,
         sp.diff(sp.expand_log(log_density, force=True), X)),
        ("x0_hat_k = conjugate posterior mean", MU + shift, bayes_mean),
        ("x = alpha x0_hat_k + sigma eps_hat_k", X, alpha * (MU + shift) + sigma * eps),
    ], schedule, X_RANGES, level)


@claim_check("P3", "numeric", "oracle vs scipy log-density, torch autograd score, quadrature of Bayes' rule",
             general=False)
def check_p3(schedule: Schedule, level: str) -> Outcome:
    if schedule.is_general:
        raise Skip("needs a concrete schedule", "concrete-only")
    num = compile_schedule(schedule, "numpy")
    n = 24 if level == "quick" else 128
    times = _times(schedule, n, 31)
    x = _points(schedule, times, 32)
    x[:3] *= 40.0  # far from every mode
    errors = {}
    # log-density against scipy, component by component.
    covs = MIXTURE.full_covs()
    ref = np.empty(n)
    for i, (t, xi) in enumerate(zip(times, x, strict=True)):
        a, s = float(num.alpha(t)), float(num.sigma(t))
        logs = [np.log(w) + stats.multivariate_normal(a * m, a**2 * c + s**2 * np.eye(2)).logpdf(xi)
                for w, m, c in zip(MIXTURE.weights, MIXTURE.means, covs, strict=True)]
        ref[i] = special.logsumexp(logs)
    errors["log_prob vs scipy"] = np.max(np.abs(MIXTURE.log_prob(x, times, schedule) - ref) / (1 + np.abs(ref)))
    # score against autograd of the log-density.
    xt = torch.tensor(x, requires_grad=True)
    (grad,) = torch.autograd.grad(MIXTURE.log_prob(xt, torch.tensor(times), schedule).sum(), xt)
    score = MIXTURE.score(x, times, schedule)
    errors["score vs autograd"] = np.max(np.abs(score - grad.numpy()) / (1 + np.abs(grad.numpy())))
    # numpy vs torch.
    x0_np = MIXTURE.x0_hat(x, times, schedule)
    x0_torch = MIXTURE.x0_hat(torch.tensor(x), torch.tensor(times), schedule).numpy()
    errors["numpy vs torch"] = np.max(np.abs(x0_np - x0_torch)) / (1 + np.max(np.abs(x0_np)))
    # 1-D marginal of coordinate 0: E[x₀ | x_t] by quadrature of Bayes' rule.
    line = GaussianMixture(MIXTURE.weights, MIXTURE.means[:, :1], MIXTURE.covs[:, 0, 0])
    means = line.means[:, 0]
    comps = list(zip(line.weights, means, np.sqrt(line.covs[:, 0]), strict=True))
    worst_quad = 0.0
    for t, xi in list(zip(times, x[:, :1], strict=True))[3: 3 + (6 if level == "quick" else 24)]:
        a, s = float(num.alpha(t)), float(num.sigma(t))


        def joint(z: float, power: int, a: float = a, s: float = s, xi: float = float(xi[0])) -> float:
            prior = sum(w * math.exp(-0.5 * ((z - m) / sd) ** 2) / sd for w, m, sd in comps)
            return z**power * prior * math.exp(-0.5 * ((xi - a * z) / s) ** 2)

        nodes = sorted(set(means.tolist()) | {float(xi[0]) / a})
        lo, hi = min(nodes) - 6.0, max(nodes) + 6.0
        num0 = integrate.quad(joint, lo, hi, args=(0,), points=nodes, limit=200, epsabs=0, epsrel=1e-11)[0]
        num1 = integrate.quad(joint, lo, hi, args=(1,), points=nodes, limit=200, epsabs=0, epsrel=1e-11)[0]
        exact = float(line.x0_hat(xi[None, :], t, schedule)[0, 0])
        worst_quad = max(worst_quad, abs(num1 / num0 - exact) / (1 + abs(exact)))
    errors["x0_hat vs quadrature"] = worst_quad
    worst = float(max(errors.values()))
    tolerance = 1e-8
    failed = [k for k, e in errors.items() if not e <= tolerance]
    detail = f"{n} points (3 far), tolerance {tolerance:g}" + (f"; failed: {', '.join(failed)}" if failed else "")
    return Outcome(not failed, "numeric", worst, detail, tolerance=tolerance)
