"""Monte Carlo claims M1-M4: they pass on the true theory and fail when a formula is wrong."""

import dataclasses
import re

import numpy as np
import pytest
import sympy as sp
from scipy import stats

from s2n_theory import backward, forward
from s2n_theory.sampling import engine
from s2n_theory.schedule_spec import get_schedule
from s2n_theory.verification import montecarlo_checks as mc
from s2n_theory.verification import power, suite


@pytest.mark.slow  # > 10 s on two cores: runs in `pytest -m slow` (CI)
def test_montecarlo_claims_pass_on_vdm():
    results = suite.run(["M1", "M2", "M3", "M4"], ["vdm", "general"])
    concrete = [r for r in results if r.schedule == "vdm"]
    assert {(r.claim, r.method) for r in concrete} == {("M1", "montecarlo"), ("M2", "montecarlo"),
                                                       ("M3", "montecarlo"), ("M4", "montecarlo"), ("M4", "numeric")}
    assert all(r.status == "pass" for r in concrete), [r.detail for r in concrete if r.status != "pass"]
    assert all(r.status == "skip" for r in results if r.schedule == "general")


@pytest.mark.slow  # > 10 s on two cores: runs in `pytest -m slow` (CI)
def test_m1_fails_with_doubled_g2(monkeypatch):
    original = forward.diffusion_squared
    monkeypatch.setattr(forward, "diffusion_squared", lambda s: 2 * original(s))
    outcome = mc.check_m1(get_schedule("vdm"), "quick")
    assert not outcome.passed


@pytest.mark.slow  # > 10 s on two cores: runs in `pytest -m slow` (CI)
def test_m1_detects_the_declared_g2_error_at_the_quick_level(monkeypatch):
    # The power M1 states in its row (power 0.99 against g² off by δ) is real at the quick sizes:
    # g² off by exactly the declared δ is caught, and so is a smaller-than-doubled error on another schedule.
    paths, _ = mc.M1_SIZES["quick"]
    delta = power.variance_detectable(paths, mc.m1_declared_threshold(paths, "quick", mc._z_threshold(12)))
    assert 0.0 < delta < 0.2
    original = forward.diffusion_squared
    monkeypatch.setattr(forward, "diffusion_squared", lambda s: (1 + sp.Float(delta)) * original(s))
    for name in ("vdm", "vp-cosine"):
        outcome = mc.check_m1(get_schedule(name), "quick")
        assert not outcome.passed, outcome.detail
        assert f"g² off by ≥ {delta:.0%}" in outcome.detail


def test_declared_power_formulas_against_simulation():
    # The variance z-test's power formula, checked by simulation independent of the checks.
    rng = np.random.default_rng(0)
    paths, z_star = 400, 3.0
    delta = power.variance_detectable(paths, z_star)
    samples = rng.normal(0.0, np.sqrt(1 + delta), size=(2000, paths))
    z = (samples.var(axis=1, ddof=1) - 1.0) / np.sqrt(2.0 / (paths - 1))
    assert np.mean(np.abs(z) > z_star) >= 1 - power.MISS - 0.01
    # KS: a unit-normal sample tested against a law whose CDF is Δ away is rejected at the stated rate.
    n, level = 500, 1e-3
    shift = power.ks_detectable(n, level)  # a location shift of d moves the normal CDF by up to 2Φ(d/2) − 1
    d = 2 * stats.norm.ppf((1 + shift) / 2)
    rejected = [stats.kstest(rng.normal(d, 1.0, n), "norm").pvalue < level for _ in range(300)]
    assert np.mean(rejected) >= 1 - power.MISS - 0.02


@pytest.mark.slow  # sampling at the quick sizes (~5 s each): runs in `pytest -m slow` (CI), like M1's
def test_m2_fails_with_wrong_exponent_in_b3(monkeypatch):
    original = backward.exact_step_coefficients

    def wrong(schedule, rho=backward.RHO):
        c_x, c_x0, c_xi = original(schedule, rho)
        h = backward.step_h(schedule)
        return c_x * sp.exp(-(rho**2) * h), c_x0, c_xi  # e^{-2 rho^2 h} instead of e^{-rho^2 h}

    monkeypatch.setattr(backward, "exact_step_coefficients", wrong)
    backward.numeric_coefficients.cache_clear()
    outcome = mc.check_m2(get_schedule("vdm"), "quick")
    backward.numeric_coefficients.cache_clear()
    assert not outcome.passed and "exact rho=1" in outcome.detail


@pytest.mark.slow  # sampling at the quick sizes (~5 s each): runs in `pytest -m slow` (CI), like M1's
def test_m3_fails_with_wrong_one_plus_rho_squared(monkeypatch):
    def wrong(schedule, x, x0_hat, rho=backward.RHO_T):
        return forward.drift(schedule) * x + (1 + rho**2) * schedule.dlog_snr * (schedule.alpha * x0_hat - x) / 4

    monkeypatch.setattr(backward, "drift_from_x0", wrong)
    backward.numeric_coefficients.cache_clear()
    outcome = mc.check_m3(get_schedule("vdm"), "quick")
    backward.numeric_coefficients.cache_clear()
    assert not outcome.passed and "euler" in outcome.detail


def test_m4_fails_when_heun_loses_its_corrector(monkeypatch):
    original = engine.step_table

    def no_corrector(*args, **kwargs):
        table = original(*args, **kwargs)
        table[:, 3:] = 0.0  # drop the end-of-step slope: the trapezoid becomes half an Euler step
        return table

    monkeypatch.setattr(engine, "step_table", no_corrector)
    mc.ode_reference.cache_clear()  # the shared ODE reference is cached per process: not one built with this table
    try:
        outcome = mc.check_m4_orders(get_schedule("vdm"), "quick")
    finally:
        mc.ode_reference.cache_clear()
    assert not outcome.passed and "heun" in outcome.detail


def test_fitted_order_recovers_known_slopes():
    steps = [10, 20, 40, 80]
    assert mc.fitted_order(steps, [3.0 / n for n in steps]) == pytest.approx(1.0)
    assert mc.fitted_order(steps, [3.0 / n**2 for n in steps]) == pytest.approx(2.0)


def test_z_threshold_is_bonferroni():
    assert mc._z_threshold(1) == pytest.approx(3.2905, abs=1e-3)  # two-sided 1e-3
    assert mc._z_threshold(10) > mc._z_threshold(1)


def test_gpu_check_skips_cleanly_without_cuda():
    import torch

    from s2n_theory.verification import gpu_check

    if torch.cuda.is_available():
        pytest.skip("CUDA present: the GPU check really runs (tests/test_sampling.py::test_cuda_matches_cpu)")
    (result,) = suite.run(["GPU"], ["vp-linear"])
    assert result.status == "skip" and "no CUDA" in result.detail
    assert gpu_check.main() == 0


def test_null_thresholds_cover_fresh_oracle_pairs():
    # The oracle-vs-oracle threshold must not flag an independent oracle set (the false alarm it controls).
    sched = get_schedule("vdm")
    mixture = mc.mixture_2d()
    sw, mm = mc._null_threshold(mixture, sched, sched.t_min, 500, replicates=10, seed=500)
    limit = sw.mean() + mc._z_threshold(2) * sw.std(ddof=1)
    a, b = mc._prior(mixture, sched, sched.t_min, 500, 9001), mc._prior(mixture, sched, sched.t_min, 500, 9002)
    assert mc.sliced_wasserstein(a, b) < limit
    assert np.isfinite(mm).all()


def test_m2_and_m3_runs_come_from_the_solver_registry(monkeypatch):
    from s2n_theory.sampling import solvers

    class Renamed(solvers.Exact):
        name = "exact-copy"

    monkeypatch.setitem(solvers.SOLVERS, "exact-copy", Renamed())
    one_each = mc.solver_runs(None)
    assert {name for name, _ in one_each} == set(solvers.SOLVERS)
    assert all(rho == 0.0 for name, rho in one_each if solvers.SOLVERS[name].rho_zero_only)
    every = mc.solver_runs(mc.RHOS)
    assert ("exact-copy", 2.0) in every and ("heun", 0.5) not in every


@pytest.mark.slow  # two quick-level M2 runs (~10 s on two busy cores)
def test_m2_detects_the_declared_distance_at_the_quick_level(monkeypatch):
    # The power M2 states in its row (a landing law at sliced-Wasserstein distance ≳ D) is real at the
    # quick sizes: every sampler's output translated by v moves its law by SW = |v|/√d (the mean of
    # (v·θ)² over unit directions θ is |v|²/d), and a translation by the declared D fails in both cases.
    schedule = get_schedule("vdm")
    good = mc.check_m2(schedule, "quick")
    assert good.passed, good.detail
    found = re.search(r"distance ≳ 2-D ([0-9.e-]+), 16-D ([0-9.e-]+)", good.detail)
    distances = {2: float(found.group(1)), 16: float(found.group(2))}
    original = mc.sample_runs  # every M2 run lands through it (the runs of one grid in lockstep)

    def translated(*args, **kwargs):
        # v = (D, …, D): |v| = D √d, so SW = D
        return [dataclasses.replace(r, samples=r.samples + distances[r.samples.shape[1]])
                for r in original(*args, **kwargs)]

    monkeypatch.setattr(mc, "sample_runs", translated)
    outcome = mc.check_m2(schedule, "quick")
    assert not outcome.passed
    assert "2-D exact" in outcome.detail and "16-D exact" in outcome.detail, outcome.detail
