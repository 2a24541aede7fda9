"""The torch sampling engine: grids, one-step formulas written by hand, reproducible noise, errors."""

import numpy as np
import pytest
import torch

from s2n_theory.errors import S2NError
from s2n_theory.numeric_schedule import compile_schedule
from s2n_theory.sampling import NoiseSource, sample, simulate_forward, time_grid
from s2n_theory.schedule_spec import get_schedule

SCHED = get_schedule("vp-cosine")
NUM = compile_schedule(SCHED, "numpy")


def frozen(value):
    """A denoiser that always predicts ``value`` (so one step is a closed-form map)."""
    return lambda x, t: torch.full_like(x, value)


@pytest.mark.parametrize("kind", ["uniform-t", "uniform-lambda", "karras"])
def test_grid_shape_endpoints_and_order(kind):
    grid = time_grid(SCHED, 20, kind)
    assert grid.shape == (21,) and grid.dtype == torch.float64
    assert grid[0] == SCHED.t_max and grid[-1] == SCHED.t_min
    assert torch.all(grid[1:] < grid[:-1])


def test_uniform_lambda_grid_has_equal_log_snr_steps():
    lam = NUM.log_snr(time_grid(SCHED, 16, "uniform-lambda").numpy())
    np.testing.assert_allclose(np.diff(lam), np.full(16, (lam[-1] - lam[0]) / 16), rtol=1e-8)


def test_karras_grid_matches_the_edm_formula_in_sigma():
    sched = get_schedule("edm")
    grid = time_grid(sched, 10, "karras", exponent=7, sigma_min=0.01, sigma_max=40.0).numpy()
    i = np.arange(11) / 10
    expected = (40.0 ** (1 / 7) + i * (0.01 ** (1 / 7) - 40.0 ** (1 / 7))) ** 7  # EDM eq. (5); sigma = t on EDM
    np.testing.assert_allclose(grid, expected, rtol=1e-10)
    vp = time_grid(SCHED, 10, "karras").numpy()
    sig = np.exp(-NUM.log_snr(vp) / 2)
    smax, smin = sig[0], sig[-1]
    np.testing.assert_allclose(sig, (smax ** (1 / 7) + i * (smin ** (1 / 7) - smax ** (1 / 7))) ** 7, rtol=1e-8)


@pytest.mark.parametrize("kwargs, message", [
    ({"kind": "cosine"}, "unknown grid kind"),
    ({"sigma_min": 1e-9}, "karras grid"),
    ({"t_max": 5.0}, "inside the schedule's domain"),
])
def test_grid_errors(kwargs, message):
    kind = kwargs.pop("kind", "karras")
    with pytest.raises(S2NError, match=message):
        time_grid(SCHED, 10, kind, **kwargs)


def _two_times():
    t, s = 0.7, 0.55
    return torch.tensor([t, s], dtype=torch.float64), t, s


def test_exact_step_rho0_is_ddim():
    grid, t, s = _two_times()
    x = torch.randn(5, 3, dtype=torch.float64)
    out = sample(frozen(0.3), x, SCHED, grid, method="exact", rho=0.0, denoise_final=False)
    a_t, s_t, a_s, s_s = float(NUM.alpha(t)), float(NUM.sigma(t)), float(NUM.alpha(s)), float(NUM.sigma(s))
    ddim = a_s * 0.3 + s_s * (x - a_t * 0.3) / s_t
    torch.testing.assert_close(out.samples, ddim, rtol=1e-12, atol=1e-12)
    assert out.nfe == 1


def test_exact_step_rho1_is_the_posterior_f4_with_gamma_delta():
    grid, t, s = _two_times()
    x = torch.randn(5, 3, dtype=torch.float64)
    gamma, delta = 0.2, 0.1
    out = sample(frozen(0.3), x, SCHED, grid, method="exact", rho=1.0, gamma=gamma, delta=delta, generator=9,
                 denoise_final=False)
    a_t, s_t, a_s, s_s = float(NUM.alpha(t)), float(NUM.sigma(t)), float(NUM.alpha(s)), float(NUM.sigma(s))
    x0 = (1 + gamma) * 0.3 - gamma * x / a_t
    a_ts = a_t / a_s
    var_ts = s_t**2 - a_ts**2 * s_s**2
    mean = a_ts * s_s**2 / s_t**2 * x + a_s * var_ts / s_t**2 * x0
    std = s_s * np.sqrt(1 - np.exp(float(NUM.log_snr(t)) - float(NUM.log_snr(s))))
    xi = NoiseSource(9).normal((5, 3), step=0, dtype=torch.float64)
    torch.testing.assert_close(out.samples, mean + (1 + delta) * std * xi, rtol=1e-10, atol=1e-12)


def test_euler_step_matches_the_b2_sde_by_hand():
    grid, t, s = _two_times()
    x = torch.randn(4, 2, dtype=torch.float64)
    rho = 0.7
    out = sample(frozen(-0.4), x, SCHED, grid, method="euler", rho=rho, generator=3, denoise_final=False)
    dt = t - s
    f, dlam, a_t, s_t = float(NUM.f(t)), float(NUM.dlog_snr(t)), float(NUM.alpha(t)), float(NUM.sigma(t))
    drift = f * x + 0.5 * (1 + rho**2) * dlam * (a_t * -0.4 - x)
    xi = NoiseSource(3).normal((4, 2), step=0, dtype=torch.float64)
    expected = x - drift * dt + rho * s_t * np.sqrt(-dlam * dt) * xi
    torch.testing.assert_close(out.samples, expected, rtol=1e-10, atol=1e-12)


def test_heun_step_is_the_trapezoid_rule_then_euler():
    grid = torch.tensor([0.8, 0.6, 0.5], dtype=torch.float64)
    x = torch.randn(3, 2, dtype=torch.float64)

    def denoiser(y, t):
        return 0.5 * torch.tanh(y) * (1 + t[:, None])

    def slope(y, t):  # probability-flow ODE in data-prediction form (B2, rho = 0)
        tt = torch.full((y.shape[0],), t, dtype=y.dtype)
        return float(NUM.f(t)) * y + 0.5 * float(NUM.dlog_snr(t)) * (float(NUM.alpha(t)) * denoiser(y, tt) - y)

    out = sample(denoiser, x, SCHED, grid, method="heun", denoise_final=False)
    h1, h2 = 0.2, 0.1
    k1 = slope(x, 0.8)
    pred = x - h1 * k1
    x1 = x - h1 * 0.5 * (k1 + slope(pred, 0.6))
    x2 = x1 - h2 * slope(x1, 0.6)  # last step: Euler
    torch.testing.assert_close(out.samples, x2, rtol=1e-10, atol=1e-12)
    assert out.nfe == 3


def test_nfe_counts():
    grid = time_grid(SCHED, 10, "uniform-lambda")
    x = torch.zeros(2, 2)
    assert sample(frozen(0.0), x, SCHED, grid, method="exact").nfe == 11
    assert sample(frozen(0.0), x, SCHED, grid, method="heun").nfe == 2 * 10 - 1 + 1


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_any_batch_shape_and_dtype(dtype):
    grid = time_grid(SCHED, 8, "karras")
    seen = []

    def denoiser(x, t):
        seen.append(t.shape)
        return 0.1 * x

    x = torch.randn(6, 3, 4, dtype=dtype)
    out = sample(denoiser, x, SCHED, grid, method="exact", rho=0.5, generator=1)
    assert out.samples.shape == (6, 3, 4) and out.samples.dtype == dtype
    assert torch.isfinite(out.samples).all() and seen[0] == (6,)


def test_per_sample_noise_does_not_depend_on_batch_size():
    grid = time_grid(SCHED, 12, "uniform-lambda")
    x = torch.randn(40, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    big = sample(frozen(0.2), x, SCHED, grid, method="euler", rho=1.0, generator=77).samples
    small = sample(frozen(0.2), x[:7], SCHED, grid, method="euler", rho=1.0, generator=77).samples
    torch.testing.assert_close(big[:7], small, rtol=0, atol=0)


def test_rho_may_be_a_function_of_t():
    grid = time_grid(SCHED, 6, "uniform-t")
    x = torch.randn(5, 2, dtype=torch.float64)
    constant = sample(frozen(0.1), x, SCHED, grid, rho=0.8, generator=2).samples
    function = sample(frozen(0.1), x, SCHED, grid, rho=lambda t: 0.8 + 0 * t, generator=2).samples
    torch.testing.assert_close(constant, function)


@pytest.mark.parametrize("kwargs, message", [
    ({"method": "heun", "rho": 1.0}, "rho must be 0"),
    ({"method": "ddpm"}, "unknown method"),
    ({"rho": -1.0}, "rho must be finite"),
])
def test_sampler_errors(kwargs, message):
    with pytest.raises(S2NError, match=message):
        sample(frozen(0.0), torch.zeros(2, 2), SCHED, time_grid(SCHED, 4), **kwargs)
    with pytest.raises(S2NError, match="strictly decreasing"):
        sample(frozen(0.0), torch.zeros(2, 2), SCHED, torch.tensor([0.1, 0.5], dtype=torch.float64))


def test_forward_exact_transitions_have_the_f3_marginal():
    sched = get_schedule("vdm")
    grid = torch.linspace(0.0, 1.0, 9, dtype=torch.float64)
    n = 40_000
    x = simulate_forward(torch.full((n, 1), 1.5, dtype=torch.float64), sched, grid, "exact", generator=4)[:, 0]
    num = compile_schedule(sched, )
    mean, std = num.alpha(1.0) * 1.5, num.sigma(1.0)
    assert abs(float(x.mean()) - mean) < 4.5 * std / np.sqrt(n)  # 4.5 sigma: false alarm < 1e-5
    assert abs(float(x.var()) - std**2) < 4.5 * std**2 * np.sqrt(2 / n)


def test_noise_source_is_standard_normal():
    z = NoiseSource(123).normal((100_000, 4), step=5, dtype=torch.float64)
    n = z.numel()
    assert abs(float(z.mean())) < 4.5 / np.sqrt(n)
    assert abs(float(z.var()) - 1) < 4.5 * np.sqrt(2 / n)
    assert abs(float((z[:, 0] * z[:, 1]).mean())) < 4.5 / np.sqrt(100_000)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    grid = time_grid(SCHED, 20, "karras")
    x = torch.randn(256, 8, dtype=torch.float64)
    cpu = sample(lambda y, t: 0.5 * torch.tanh(y), x, SCHED, grid, rho=1.0, generator=8).samples
    gpu = sample(lambda y, t: 0.5 * torch.tanh(y), x.cuda(), SCHED, grid, rho=1.0, generator=8).samples
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("method, step", [("exact", "exact_step"), ("euler", "euler_maruyama_step")])
def test_engine_step_equals_the_single_step_functions_of_backward(method, step):
    # The engine's table and backward's per-sample steps evaluate the one compiled form of the
    # B2/B3/B4 coefficients (backward.step_coefficients); this checks that the engine's loop applies
    # its table row (x, x̂₀_γ, noise column) as the single step does, to round-off.
    from s2n_theory import backward

    grid, t, s = _two_times()
    x = torch.randn(6, 3, dtype=torch.float64)
    x0 = torch.randn(6, 3, dtype=torch.float64)
    gamma, delta, rho = 0.15, 0.05, 0.8
    out = sample(lambda y, tt: x0, x, SCHED, grid, method=method, rho=rho, gamma=gamma, delta=delta,
                 generator=4, denoise_final=False).samples
    xi = NoiseSource(4).normal((6, 3), step=0, dtype=torch.float64)
    single = getattr(backward, step)(x, x0, t, s, SCHED, rho=rho, gamma=gamma, delta=delta, noise=xi)
    torch.testing.assert_close(out, single, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("method", ["exact", "euler", "heun", "ms3", "ms2-pc"])
def test_sample_rhos_equals_one_run_per_rho(method):
    # One batch for a family of runs (M3's runs): every run the same as its own `sample` call, noise included,
    # and the callback sees the runs stacked.
    from s2n_theory.named_mixtures import mixture_2d
    from s2n_theory.sampling import SOLVERS, sample_rhos

    mixture = mixture_2d()
    x = torch.as_tensor(mixture.marginal(SCHED.t_max, SCHED).sample(64, 5))
    grid = time_grid(SCHED, 12, "uniform-lambda")
    rhos = [0.0] if SOLVERS[method].rho_zero_only else [0.0, 0.5, 2.0, lambda t: 1.0 + 0 * t]
    seen = []
    batched = sample_rhos(mixture.denoiser(SCHED), x, SCHED, grid, method, rhos, gamma=0.2, generator=9,
                          callback=lambda info: seen.append(tuple(info["x"].shape)))
    assert seen == [(len(rhos), 64, 2)] * 12
    for rho, got in zip(rhos, batched, strict=True):
        alone = sample(mixture.denoiser(SCHED), x.clone(), SCHED, grid, method, rho=rho, gamma=0.2, generator=9)
        assert got.nfe == alone.nfe
        torch.testing.assert_close(got.samples, alone.samples, rtol=1e-11, atol=1e-12)  # the same up to round-off
    with pytest.raises(S2NError, match="at least one rho"):
        sample_rhos(mixture.denoiser(SCHED), x, SCHED, grid, method, [])


def test_sample_runs_equals_one_sample_call_per_run():
    # M2's lockstep runs (every solver on one grid, one denoiser call per grid time): each run the same as its
    # own `sample` call, noise included, with and without the final denoising.
    from s2n_theory.named_mixtures import mixture_2d
    from s2n_theory.sampling import SOLVERS, sample_runs

    mixture = mixture_2d()
    x = torch.as_tensor(mixture.marginal(SCHED.t_max, SCHED).sample(48, 6))
    grid = time_grid(SCHED, 10, "uniform-lambda")
    runs = [(name, 0.0 if solver.rho_zero_only else rho) for name, solver in SOLVERS.items() for rho in (0.0, 1.0)]
    calls = []

    def denoiser(v, t):
        calls.append(v.shape[0])
        return mixture.x0_hat(v, t, SCHED)

    for final in (False, True):
        calls.clear()
        together = sample_runs(denoiser, x, SCHED, grid, runs, gamma=0.1, generator=4, denoise_final=final)
        assert len(calls) <= 2 * 10 + 1  # at most two calls per step, however many runs
        for (method, rho), got in zip(runs, together, strict=True):
            alone = sample(mixture.denoiser(SCHED), x.clone(), SCHED, grid, method, rho=rho, gamma=0.1, generator=4,
                           denoise_final=final)
            assert got.nfe == alone.nfe
            torch.testing.assert_close(got.samples, alone.samples, rtol=1e-11, atol=1e-12)


def test_subdivide_cuts_every_step_into_equal_parts():
    from s2n_theory.sampling.grids import subdivide

    coarse = time_grid(SCHED, 5, "uniform-lambda").numpy()
    fine = subdivide(coarse, 4)
    assert len(fine) == 21 and np.array_equal(fine[::4], coarse)
    np.testing.assert_allclose(np.diff(fine).reshape(5, 4), np.repeat(np.diff(coarse)[:, None] / 4, 4, axis=1),
                               rtol=1e-12)
    with pytest.raises(S2NError, match="factor"):
        subdivide(coarse, 0)
