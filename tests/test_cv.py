"""Non-Markovian CV model C1–C5 and inference P1–P3: the checks pass, and fail on injected errors."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from s2n_theory import cv_model, gaussian_mixture, inference
from s2n_theory.numeric_schedule import compile_schedule
from s2n_theory.schedule import Schedule
from s2n_theory.schedule_spec import get_schedule
from s2n_theory.symbols import S, T
from s2n_theory.verification import cv_checks, inference_checks, suite

GENERAL = Schedule.general()


@pytest.mark.parametrize("check", [cv_checks.check_c1, cv_checks.check_c2, cv_checks.check_c3, cv_checks.check_c4,
                                   cv_checks.check_c5])
def test_cv_checks_are_symbolic_on_general(check) -> None:
    outcome = check(GENERAL, "quick")
    assert outcome.passed and outcome.method == "symbolic", outcome


def test_registry_runs_every_owned_claim_on_a_builtin() -> None:
    claims = ["P1", "P2", "P3", "B1", "B2", "B3", "B4", "C1", "C2", "C3", "C4", "C5"]
    results = suite.run(claims, ["edm"], "quick")
    assert {r.claim for r in results} == set(claims)
    assert all(r.status in ("pass", "skip") for r in results), [r for r in results if r.status not in ("pass", "skip")]


# ------------------------------------------------------------------ injected errors
def test_c1_detects_wrong_kernel(monkeypatch, short_budget) -> None:
    def wrong(schedule, c2=cv_model.C2_SYMBOL):  # √(σ_s² − c²)/σ_s instead of /σ_t
        sigma_s, alpha_s = schedule.at(schedule.sigma, S), schedule.at(schedule.alpha, S)
        k_x = sp.sqrt(sigma_s**2 - c2) / sigma_s
        return k_x, alpha_s - k_x * schedule.alpha, c2

    monkeypatch.setattr(cv_model, "discrete_kernel", wrong)
    assert not cv_checks.check_c1(GENERAL, "quick").passed


def test_c2_detects_wrong_a(monkeypatch, short_budget) -> None:
    right = cv_model.cv_sde

    def wrong(schedule, rho=cv_model.RHO_T):  # ρ² λ′ instead of ½ ρ² λ′
        a, b, noise2 = right(schedule, rho)
        a_wrong = a + rho**2 * schedule.dlog_snr / 2
        return a_wrong, sp.diff(schedule.alpha, T) - a_wrong * schedule.alpha, noise2

    monkeypatch.setattr(cv_model, "cv_sde", wrong)
    assert not cv_checks.check_c2(GENERAL, "quick").passed


def test_c3_detects_wrong_reversal(monkeypatch, short_budget) -> None:
    def wrong(schedule, x, x0_hat, score, rho=cv_model.RHO_T):  # + ρ² g² ∇log p instead of −
        a, b, noise2 = cv_model.cv_sde(schedule, rho)
        return a * x + b * x0_hat + noise2 * score

    monkeypatch.setattr(cv_model, "cv_reverse_drift", wrong)
    assert not cv_checks.check_c3(GENERAL, "quick").passed


def test_c4_detects_wrong_c2(monkeypatch, short_budget) -> None:
    def wrong(schedule, rho):  # e^{−ρ² h} instead of e^{−2ρ² h}
        from s2n_theory.backward import step_h

        return schedule.at(schedule.sigma, S) ** 2 * (1 - sp.exp(-rho**2 * step_h(schedule)))

    monkeypatch.setattr(cv_model, "exact_step_c2", wrong)
    assert not cv_checks.check_c4(GENERAL, "quick").passed


def test_c5_detects_wrong_sn_velocity(monkeypatch, short_budget) -> None:
    monkeypatch.setattr(cv_model, "ddim_sn_velocity",
                        lambda schedule, eps: eps * sp.diff(schedule.sigma**2 / schedule.alpha**2, T))
    assert not cv_checks.check_c5(GENERAL, "quick").passed


def test_p1_detects_wrong_tweedie(monkeypatch, short_budget) -> None:
    monkeypatch.setattr(inference, "score_from_x0", lambda x, x0, a, s: (a * x0 - x) / s)
    assert not inference_checks.check_p1(GENERAL, "quick").passed
    assert not inference_checks.check_p1_mixture(get_schedule("ve"), "quick").passed


def test_p2_detects_wrong_edm_noise_level(monkeypatch, short_budget) -> None:
    monkeypatch.setattr(inference, "edm_noise_level", lambda lam: sp.exp(-lam) if isinstance(lam, sp.Basic)
                        else np.exp(-lam))
    assert not inference_checks.check_p2(GENERAL, "quick").passed
    assert not inference_checks.check_p2_mixture(get_schedule("ve"), "quick").passed


def test_p3_detects_wrong_component_posterior(monkeypatch, short_budget) -> None:
    def wrong(z, alpha, sigma, s):  # x̂₀ shift without the factor α
        zc = z / (alpha**2 * s + sigma**2)
        return zc, -zc, sigma * zc, s * zc

    monkeypatch.setattr(gaussian_mixture, "eigen_terms", wrong)
    monkeypatch.setattr(inference_checks, "eigen_terms", wrong)
    assert not inference_checks.check_p3_components(GENERAL, "quick").passed
    assert not inference_checks.check_p3(get_schedule("vp-linear"), "quick").passed


# ------------------------------------------------------------------ C1 by simulation
def test_c1_family_preserves_marginal_monte_carlo() -> None:
    """Draw x_t | x₀, then x_s ~ q_c(· | x_t, x₀); the sample mean/variance match N(α_s x₀, σ_s²) (z-tests)."""
    schedule = get_schedule("vp-cosine")
    num = compile_schedule(schedule, "numpy")
    t, s, x0, n = np.float64(0.8), np.float64(0.35), 0.7, 200_000
    rng = np.random.default_rng(3)
    k_x, k_0, _ = (sp.lambdify([T, S, cv_model.C2_SYMBOL], e) for e in cv_model.discrete_kernel(schedule))
    for frac in (0.0, 0.3, 0.9):
        c2 = frac * num.sigma(s) ** 2
        x_t = num.alpha(t) * x0 + num.sigma(t) * rng.standard_normal(n)
        x_s = k_x(t, s, c2) * x_t + k_0(t, s, c2) * x0 + np.sqrt(c2) * rng.standard_normal(n)
        var = num.sigma(s) ** 2
        assert abs(x_s.mean() - num.alpha(s) * x0) < 5 * np.sqrt(var / n)
        assert abs(x_s.var() - var) < 5 * np.sqrt(2 / (n - 1)) * var
