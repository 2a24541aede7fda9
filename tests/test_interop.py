"""Interop: diffusers arrays drive diffusers' own schedulers; k-diffusion σ arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

from s2n_theory.interop import InteropError, karras_times, to_diffusers, to_karras_sigmas
from s2n_theory.numeric_schedule import compile_schedule
from s2n_theory.schedule_spec import get_schedule

diffusers = pytest.importorskip("diffusers")
torch = pytest.importorskip("torch")

N = 1000
FLOAT32_CUMPROD_RTOL = 2 * N * 2.0**-24
"""diffusers stores betas in float32 and multiplies N factors: a relative error of at most ~2N float32 ulps."""


@pytest.fixture(scope="module")
def schedules():
    return {name: get_schedule(name) for name in ("vp-linear", "vp-cosine", "edm", "rectified-flow")}


def exact_alpha2(schedule, times):
    """α(t)² from the schedule's SymPy expression at 30 digits (independent of the exported code)."""
    f = sp.lambdify([sp.Symbol("t", positive=True)], schedule.alpha**2 + 0, modules="mpmath")
    import mpmath

    with mpmath.workdps(30):
        return np.array([float(f(mpmath.mpf(float(t)))) for t in times])


def exact_sigmoid_lambda(schedule, times):
    import mpmath

    f = sp.lambdify(list(schedule.log_snr.free_symbols), schedule.log_snr, modules="mpmath")
    with mpmath.workdps(30):
        return np.array([float(1 / (1 + mpmath.exp(-f(mpmath.mpf(float(t)))))) for t in times])


@pytest.mark.parametrize("name", ["vp-linear", "vp-cosine"])
def test_vp_arrays_drive_diffusers_schedulers(schedules, name):
    schedule = schedules[name]
    arrays = to_diffusers(schedule, N)
    assert arrays.variance_preserving
    expected = exact_alpha2(schedule, arrays.times)
    np.testing.assert_allclose(arrays.alphas_cumprod, expected, rtol=1e-12)
    for cls in (diffusers.DDIMScheduler, diffusers.DDPMScheduler):
        sched = cls(num_train_timesteps=N, trained_betas=arrays.trained_betas)
        abar = sched.alphas_cumprod.double().numpy()
        np.testing.assert_allclose(abar, expected, rtol=FLOAT32_CUMPROD_RTOL)


def test_euler_scheduler_sigmas_are_the_schedule_noise_levels(schedules):
    schedule = schedules["vp-linear"]
    arrays = to_diffusers(schedule, N)
    sched = diffusers.EulerDiscreteScheduler(num_train_timesteps=N, trained_betas=arrays.trained_betas)
    # diffusers keeps sqrt((1 - abar)/abar) = e^{-lambda/2} for every train step, largest first
    sigmas = np.sqrt((1 - sched.alphas_cumprod.double().numpy()) / sched.alphas_cumprod.double().numpy())
    lam = compile_schedule(schedule, "numpy").log_snr(arrays.times)
    np.testing.assert_allclose(sigmas, np.exp(-lam / 2), rtol=FLOAT32_CUMPROD_RTOL * 5)


@pytest.mark.parametrize("name", ["edm", "rectified-flow"])
def test_non_vp_gives_vp_with_same_log_snr(schedules, name):
    schedule = schedules[name]
    arrays = to_diffusers(schedule, N)
    assert not arrays.variance_preserving and "same log-SNR" in arrays.note
    expected = exact_sigmoid_lambda(schedule, arrays.times)
    np.testing.assert_allclose(arrays.alphas_cumprod, expected, rtol=1e-12)
    sched = diffusers.DDIMScheduler(num_train_timesteps=N, trained_betas=arrays.trained_betas)
    np.testing.assert_allclose(sched.alphas_cumprod.double().numpy(), expected, rtol=FLOAT32_CUMPROD_RTOL)


def test_ddim_steps_with_exported_betas_follow_the_schedule(schedules):
    """Every diffusers DDIM step equals the deterministic step x_s = α_s x̂₀ + σ_s ε̂ (B3 with ρ = 0)
    written with the schedule's own α, σ at the grid times (float64, independent of diffusers)."""
    schedule = schedules["vp-linear"]
    arrays = to_diffusers(schedule, N)
    num = compile_schedule(schedule, "numpy")
    sched = diffusers.DDIMScheduler(num_train_timesteps=N, trained_betas=arrays.trained_betas,
                                    prediction_type="epsilon", clip_sample=False, set_alpha_to_one=True)
    sched.set_timesteps(50)
    mu, v = 0.7, 0.04
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(256, generator=gen, dtype=torch.float32)
    steps = [int(s) for s in sched.timesteps]
    for k, step in enumerate(steps):
        t = arrays.times[step]
        a, s2 = float(num.alpha(t)), float(num.sigma(t)) ** 2
        x0_hat = mu + a * v * (x.double() - a * mu) / (a * a * v + s2)  # exact E[x0 | x_t] for N(mu, v) data
        eps = (x.double() - a * x0_hat) / math.sqrt(s2)
        new = sched.step(eps.float(), step, x).prev_sample
        if k + 1 < len(steps):
            t_prev = arrays.times[steps[k + 1]]
            expected = float(num.alpha(t_prev)) * x0_hat + float(num.sigma(t_prev)) * eps
        else:
            expected = x0_hat  # set_alpha_to_one: the last step lands on the data
        np.testing.assert_allclose(new.double().numpy(), expected.numpy(), rtol=1e-4, atol=1e-4)
        x = new
    assert torch.isfinite(x).all()


def test_karras_sigmas(schedules):
    schedule = schedules["vp-linear"]
    sigmas = to_karras_sigmas(schedule, 10)
    assert sigmas[-1] == 0 and len(sigmas) == 11 and np.all(np.diff(sigmas) < 0)
    lam = compile_schedule(schedule, "numpy").log_snr(np.array([schedule.t_min, schedule.t_max]))
    smin, smax = np.exp(-lam / 2)
    k = 7.0
    # docs/theory.md grid written out independently
    expected = [(smax ** (1 / k) + i / 9 * (smin ** (1 / k) - smax ** (1 / k))) ** k for i in range(10)]
    np.testing.assert_allclose(sigmas[:-1], expected, rtol=1e-13)
    # the grid's times give back the same noise levels through the schedule
    times = karras_times(schedule, sigmas[:-1])
    back = np.exp(-compile_schedule(schedule, "numpy").log_snr(times) / 2)
    np.testing.assert_allclose(back, sigmas[:-1], rtol=1e-10)
    time_grid = to_karras_sigmas(schedule, 5, grid="time")
    np.testing.assert_allclose(time_grid[0], smax, rtol=1e-13)
    np.testing.assert_allclose(time_grid[-2], smin, rtol=1e-13)


def test_edm_karras_sigmas_are_edm_times(schedules):
    sigmas = to_karras_sigmas(schedules["edm"], 6)
    assert math.isclose(sigmas[0], 80.0, rel_tol=1e-12) and math.isclose(sigmas[-2], 0.002, rel_tol=1e-12)


def test_interop_errors(schedules):
    with pytest.raises(InteropError):
        to_diffusers(schedules["vp-linear"], 1)
    with pytest.raises(InteropError):
        to_karras_sigmas(schedules["vp-linear"], 5, grid="nope")
    with pytest.raises(InteropError):
        to_diffusers(get_schedule("general"))
