"""Backward SDE family B1–B4: the checks pass, they fail on injected errors, and the numeric steps are right."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
import torch

from s2n_theory import backward, forward
from s2n_theory.numeric_schedule import compile_schedule
from s2n_theory.schedule import Schedule
from s2n_theory.schedule_spec import get_schedule
from s2n_theory.verification import backward_checks, inference_checks

GENERAL = Schedule.general()
VE = get_schedule("ve")
VP = get_schedule("vp-linear")


@pytest.mark.parametrize("check", [backward_checks.check_b1, backward_checks.check_b2, backward_checks.check_b3,
                                   backward_checks.check_b4, inference_checks.check_p1, inference_checks.check_p2,
                                   inference_checks.check_p3_components])
def test_symbolic_checks_pass_on_general(check) -> None:
    outcome = check(GENERAL, "quick")
    assert outcome.passed and outcome.method == "symbolic", outcome


@pytest.mark.parametrize("check", [backward_checks.check_b1_mixture, backward_checks.check_b3_numeric,
                                   backward_checks.check_b4_numeric, inference_checks.check_p1_mixture,
                                   inference_checks.check_p2_mixture, inference_checks.check_p3])
def test_numeric_checks_pass_on_a_builtin(check) -> None:
    assert check(VE, "quick").passed


# ------------------------------------------------------------------ injected errors
def test_b1_detects_wrong_one_plus_rho_squared_half(monkeypatch, short_budget) -> None:
    def wrong(schedule, x, score, rho=backward.RHO_T):  # (1 + ρ²) instead of (1 + ρ²)/2
        return forward.drift(schedule) * x - (1 + rho**2) * forward.diffusion_squared(schedule) * score

    monkeypatch.setattr(backward, "drift_from_score", wrong)
    assert not backward_checks.check_b1(GENERAL, "quick").passed


def test_b1_numeric_detects_wrong_noise_weight(monkeypatch) -> None:
    # The mixture check uses the drift with (1 + ρ²)/2 written out; perturb the oracle score instead.
    original = backward_checks.MIXTURE_1D.score
    monkeypatch.setattr(backward_checks.MIXTURE_1D, "score", lambda x, t, s: 1.01 * original(x, t, s))
    assert not backward_checks.check_b1_mixture(VE, "quick").passed


def test_b2_detects_wrong_data_form(monkeypatch, short_budget) -> None:
    def wrong(schedule, x, x0_hat, rho=backward.RHO_T):  # ρ² instead of (1 + ρ²)
        return forward.drift(schedule) * x + rho**2 * schedule.dlog_snr * (schedule.alpha * x0_hat - x) / 2

    monkeypatch.setattr(backward, "drift_from_x0", wrong)
    assert not backward_checks.check_b2(GENERAL, "quick").passed


def test_b3_detects_wrong_exponent(monkeypatch, short_budget) -> None:
    right = backward.exact_step_coefficients

    def wrong(schedule, rho=backward.RHO):  # e^{−2ρ²h} on x_t instead of e^{−ρ²h}
        c_x, c_x0, c_noise = right(schedule, rho)
        return c_x * sp.exp(-rho**2 * backward.step_h(schedule)), c_x0, c_noise

    monkeypatch.setattr(backward, "exact_step_coefficients", wrong)
    assert not backward_checks.check_b3(GENERAL, "quick").passed


def test_b3_detects_wrong_noise(monkeypatch, short_budget) -> None:
    right = backward.exact_step_coefficients

    def wrong(schedule, rho=backward.RHO):  # σ_s √(1 − e^{−ρ² h}) instead of √(1 − e^{−2ρ² h})
        c_x, c_x0, _ = right(schedule, rho)
        sigma_s = schedule.at(schedule.sigma, forward.S)
        return c_x, c_x0, sigma_s * sp.sqrt(1 - sp.exp(-rho**2 * backward.step_h(schedule)))

    monkeypatch.setattr(backward, "exact_step_coefficients", wrong)
    assert not backward_checks.check_b3(GENERAL, "quick").passed


def test_b3_numeric_detects_wrong_step(monkeypatch) -> None:
    right = backward.exact_step
    monkeypatch.setattr(backward, "exact_step", lambda x, *a, **k: right(x, *a, **k) * (1 + 1e-6))
    assert not backward_checks.check_b3_numeric(VE, "quick").passed


def test_b4_detects_wrong_gamma(monkeypatch, short_budget) -> None:
    monkeypatch.setattr(backward, "parametric_x0", lambda x, x0, alpha, gamma: (1 + gamma) * x0 + gamma * x / alpha)
    assert not backward_checks.check_b4(GENERAL, "quick").passed


def test_b4_numeric_detects_wrong_gamma_in_the_compiled_step(monkeypatch, fresh_numeric_steps) -> None:
    right = backward.parametric_step_coefficients

    def wrong(schedule, rho=backward.RHO, gamma=backward.GAMMA, delta=backward.DELTA):
        c_x, c_theta, c_xi = right(schedule, rho, gamma, delta)
        return c_x + 2 * c_theta * gamma / (1 + gamma) / schedule.alpha, c_theta, c_xi  # +γ x/α_t instead of −

    monkeypatch.setattr(backward, "parametric_step_coefficients", wrong)
    assert not backward_checks.check_b4_numeric(VE, "quick").passed


# ------------------------------------------------------------------ the numeric steps
def _grid(schedule, n=16, seed=0):
    rng = np.random.default_rng(seed)
    lo, hi = schedule.t_min, schedule.t_max
    t = lo + (hi - lo) * rng.uniform(0.1, 0.95, n)
    s = lo + (t - lo) * rng.uniform(0.05, 0.95, n)
    x, x0, xi = rng.standard_normal((3, n, 3))
    return t, s, x, x0, xi


@pytest.mark.parametrize("schedule", [VP, VE], ids=["vp-linear", "ve"])
def test_exact_step_special_cases(schedule) -> None:
    num = compile_schedule(schedule, "numpy")
    t, s, x, x0, xi = _grid(schedule)
    a_t, s_t = num.alpha(t)[:, None], num.sigma(t)[:, None]
    a_s, s_s = num.alpha(s)[:, None], num.sigma(s)[:, None]
    # ρ = 0: DDIM, x_s = α_s x̂₀ + σ_s ε̂ with ε̂ = (x_t − α_t x̂₀)/σ_t.
    ddim = a_s * x0 + s_s * (x - a_t * x0) / s_t
    np.testing.assert_allclose(backward.exact_step(x, x0, t, s, schedule, rho=0.0), ddim, rtol=1e-11, atol=1e-11)
    # ρ = 1: the posterior F4 q(x_s | x_t, x₀ = x̂₀) with noise ξ.
    a_post, b_post, v_post = (sp.lambdify([forward.T, forward.S], e) for e in forward.posterior(schedule))
    post = a_post(t, s)[:, None] * x + b_post(t, s)[:, None] * x0 + np.sqrt(v_post(t, s))[:, None] * xi
    np.testing.assert_allclose(backward.exact_step(x, x0, t, s, schedule, rho=1.0, noise=xi), post,
                               rtol=1e-10, atol=1e-10)


def test_exact_step_torch_follows_input_and_draws_noise() -> None:
    t, s, x, x0, xi = _grid(VP)
    xt = torch.tensor(x, dtype=torch.float32)
    out = backward.exact_step(xt, torch.tensor(x0, dtype=torch.float32), float(t[0]), float(s[0]), VP, rho=0.5,
                              generator=torch.Generator().manual_seed(0))
    assert out.dtype == torch.float32 and out.shape == xt.shape
    # Scalar times, noise given: equals numpy to float32 accuracy.
    ref = backward.exact_step(x, x0, t[0], s[0], VP, rho=0.5, noise=xi)
    got = backward.exact_step(xt, torch.tensor(x0, dtype=torch.float32), t[0], s[0], VP, rho=0.5,
                              noise=torch.tensor(xi, dtype=torch.float32))
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-5, atol=1e-5)


def test_steps_are_differentiable_per_sample_in_torch() -> None:
    """d x_s/d x_t is c_x = σ_s/σ_t at ρ = 0 (DDIM), and d x_s/d t agrees with a central difference in float64."""
    num = compile_schedule(VP, "numpy")
    t, s, x, x0, _ = _grid(VP, n=6)
    xt = torch.tensor(x, requires_grad=True)
    tt = torch.tensor(t, requires_grad=True)
    for step in (backward.exact_step, backward.euler_maruyama_step):
        out = step(xt, torch.tensor(x0), tt, torch.tensor(s), VP, rho=0.0, gamma=0.2)
        grad_x, grad_t = torch.autograd.grad(out.sum(), (xt, tt))
        eps = 1e-6
        up, down = (step(x, x0, t + e, s, VP, rho=0.0, gamma=0.2) for e in (eps, -eps))
        fd = (up - down) / (2 * eps)
        np.testing.assert_allclose(grad_t.numpy(), fd.sum(axis=1), rtol=1e-6, atol=1e-8)
        assert grad_x.shape == xt.shape and torch.all(torch.isfinite(grad_x))
    ddim = backward.exact_step(xt, torch.tensor(x0), tt, torch.tensor(s), VP)
    (grad_x,) = torch.autograd.grad(ddim.sum(), xt)
    expected = (num.sigma(s) / num.sigma(t))[:, None] * np.ones_like(x)
    np.testing.assert_allclose(grad_x.numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize("step", [backward.exact_step, backward.euler_maruyama_step])
def test_steps_keep_float32_and_per_sample_times(step) -> None:
    t, s, x, x0, xi = _grid(VE, n=5)
    kw = {"rho": 0.8, "gamma": 0.1, "delta": 0.2}
    per_sample = step(x, x0, t, s, VE, noise=xi, **kw)
    one_by_one = np.stack([step(x[i], x0[i], t[i], s[i], VE, noise=xi[i], **kw) for i in range(len(t))])
    np.testing.assert_allclose(per_sample, one_by_one, rtol=1e-13, atol=1e-14)
    f32 = [v.astype(np.float32) for v in (x, x0, xi)]
    got_np = step(f32[0], f32[1], t.astype(np.float32), s.astype(np.float32), VE, noise=f32[2], **kw)
    got_torch = step(*(torch.tensor(v) for v in (f32[0], f32[1], t.astype(np.float32), s.astype(np.float32))), VE,
                     noise=torch.tensor(f32[2]), **kw)
    assert got_np.dtype == np.float32 and got_torch.dtype == torch.float32
    np.testing.assert_allclose(got_np, per_sample, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got_torch.numpy(), per_sample, rtol=1e-4, atol=1e-4)


def test_exact_step_noise_variance_monte_carlo() -> None:
    """The step's conditional variance is c_ξ² = σ_s²(1 − e^{−2ρ²h}): z-test on the sample variance."""
    num = compile_schedule(VP, "numpy")
    t, s, rho, n = 0.7, 0.4, 0.8, 200_000
    x = np.full((n, 1), 0.3)
    out = backward.exact_step(x, np.zeros_like(x), t, s, VP, rho=rho, generator=np.random.default_rng(1))
    h = (num.log_snr(np.float64(s)) - num.log_snr(np.float64(t))) / 2
    var = num.sigma(np.float64(s)) ** 2 * (1 - np.exp(-2 * rho**2 * h))
    # Gaussian: Var of the sample variance is 2 var²/(n − 1).
    assert abs(out.var() - var) < 5 * np.sqrt(2 / (n - 1)) * var


def test_euler_maruyama_converges_to_exact_step() -> None:
    """With x̂₀ frozen, many small Euler–Maruyama steps of B2 approach the B3 mean (ρ = 0.5, no noise part)."""
    x, x0 = np.array([[0.7, -1.2]]), np.array([[0.2, 0.4]])
    t, s = 0.6, 0.3
    exact = backward.exact_step(x, x0, t, s, VP, rho=0.5, noise=np.zeros_like(x))
    errors = []
    for steps in (50, 100):
        y = x.copy()
        grid = np.linspace(t, s, steps + 1)
        for a, b in zip(grid[:-1], grid[1:], strict=True):
            y = backward.euler_maruyama_step(y, x0, a, b, VP, rho=0.5, noise=np.zeros_like(y))
        errors.append(np.abs(y - exact).max())
    assert errors[1] < 0.6 * errors[0]  # first order: halving the step roughly halves the error
    assert errors[1] < 1e-2
