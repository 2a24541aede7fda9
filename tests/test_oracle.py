"""The exact Gaussian-mixture oracle (P3) and the parameterization conversions (P1, P2)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import special, stats

from s2n_theory import gaussian_mixture, inference
from s2n_theory.gaussian_mixture import GaussianMixture, OracleError
from s2n_theory.numeric_schedule import compile_schedule
from s2n_theory.schedule_spec import get_schedule

SCHEDULES = {name: get_schedule(name) for name in ("vp-linear", "ve", "rectified-flow", "vdm")}
"""A few built-ins, built once (their numeric callables are compiled on first use)."""


@st.composite
def mixtures(draw, max_dim: int = 3, max_components: int = 3):
    k = draw(st.integers(1, max_components))
    d = draw(st.integers(1, max_dim))
    seed = draw(st.integers(0, 2**32 - 1))
    full = draw(st.booleans())
    rng = np.random.default_rng(seed)
    weights = rng.uniform(0.1, 1.0, k)
    means = rng.normal(0.0, 2.0, (k, d))
    if full:
        a = rng.normal(size=(k, d, d))
        covs = a @ np.swapaxes(a, 1, 2) / d + 0.05 * np.eye(d)
    else:
        covs = rng.uniform(0.02, 1.5, (k, d))
    return GaussianMixture(weights, means, covs)


def draw_inputs(gm: GaussianMixture, schedule, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    lo, hi = schedule.t_min, schedule.t_max
    t = lo + (hi - lo) * rng.uniform(0.02, 0.98, n)
    num = compile_schedule(schedule, "numpy")
    x0 = gm.sample(n, rng)
    x = num.alpha(t)[:, None] * x0 + 2.0 * num.sigma(t)[:, None] * rng.standard_normal(x0.shape)
    return x, t


COMMON = settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


@COMMON
@given(gm=mixtures(), name=st.sampled_from(sorted(SCHEDULES)), seed=st.integers(0, 10**6))
def test_autograd_score_equals_closed_form(gm: GaussianMixture, name: str, seed: int) -> None:
    schedule = SCHEDULES[name]
    x, t = draw_inputs(gm, schedule, 16, seed)
    xt = torch.tensor(x, requires_grad=True)
    (grad,) = torch.autograd.grad(gm.log_prob(xt, torch.tensor(t), schedule).sum(), xt)
    score = gm.score(x, t, schedule)
    np.testing.assert_allclose(score, grad.numpy(), rtol=1e-9, atol=1e-9 * (1 + np.abs(score).max()))


@COMMON
@given(gm=mixtures(), name=st.sampled_from(sorted(SCHEDULES)), seed=st.integers(0, 10**6))
def test_tweedie_decomposition(gm: GaussianMixture, name: str, seed: int) -> None:
    schedule = SCHEDULES[name]
    num = compile_schedule(schedule, "numpy")
    x, t = draw_inputs(gm, schedule, 16, seed)
    a, s = num.alpha(t)[:, None], num.sigma(t)[:, None]
    x0, eps, score = gm.x0_hat(x, t, schedule), gm.eps_hat(x, t, schedule), gm.score(x, t, schedule)
    np.testing.assert_allclose(a * x0 + s * eps, x, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(-s * score, eps, rtol=1e-9, atol=1e-9)


@COMMON
@given(gm=mixtures(), name=st.sampled_from(sorted(SCHEDULES)), seed=st.integers(0, 10**6))
def test_numpy_and_torch_agree(gm: GaussianMixture, name: str, seed: int) -> None:
    schedule = SCHEDULES[name]
    x, t = draw_inputs(gm, schedule, 8, seed)
    xt, tt = torch.tensor(x), torch.tensor(t)
    for method in ("log_prob", "score", "x0_hat", "eps_hat"):
        a = getattr(gm, method)(x, t, schedule)
        b = getattr(gm, method)(xt, tt, schedule)
        assert isinstance(b, torch.Tensor) and b.dtype == torch.float64
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-12, atol=1e-12)


@COMMON
@given(gm=mixtures(max_dim=3), seed=st.integers(0, 10**6))
def test_log_prob_matches_scipy(gm: GaussianMixture, seed: int) -> None:
    schedule = SCHEDULES["vp-linear"]
    num = compile_schedule(schedule, "numpy")
    x, t = draw_inputs(gm, schedule, 6, seed)
    got = gm.log_prob(x, t, schedule)
    covs = gm.full_covs()
    for xi, ti, gi in zip(x, t, got, strict=True):
        a, s = float(num.alpha(ti)), float(num.sigma(ti))
        comps = zip(gm.weights, gm.means, covs, strict=True)
        eye = np.eye(gm.dim)
        ref = special.logsumexp([np.log(w) + stats.multivariate_normal(a * m, a**2 * c + s**2 * eye).logpdf(xi)
                                 for w, m, c in comps])
        assert abs(gi - ref) < 1e-9 * (1 + abs(ref))


def test_far_from_modes_is_finite() -> None:
    gm = GaussianMixture([0.5, 0.5], [[-1.0, 0.0], [1.0, 0.0]], [[0.01, 0.01], [0.02, 0.01]])
    schedule = SCHEDULES["ve"]
    x = np.array([[1e4, -1e4], [-3e3, 50.0]])
    for method in ("log_prob", "score", "x0_hat", "eps_hat"):
        assert np.all(np.isfinite(getattr(gm, method)(x, 1e-3, schedule)))
    # Far out on the right, the right-hand component owns the point: x̂₀ tends to its posterior mean.
    x0 = gm.x0_hat(np.array([[1e3, 0.0]]), 0.5, schedule)
    assert x0[0, 0] > 1.0


def test_scalar_and_per_sample_times_agree_and_dtype_follows_input() -> None:
    gm = GaussianMixture([1.0, 2.0], [[0.0], [3.0]], [0.5, 0.1])
    schedule = SCHEDULES["vdm"]
    x = np.linspace(-2, 5, 7)[:, None]
    np.testing.assert_allclose(gm.score(x, 0.3, schedule), gm.score(x, np.full(7, 0.3), schedule), rtol=1e-15)
    x32 = torch.tensor(x, dtype=torch.float32)
    out = gm.x0_hat(x32, 0.3, schedule)
    assert out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), gm.x0_hat(x, 0.3, schedule), rtol=1e-5, atol=1e-5)


def test_diagonal_and_full_representations_agree() -> None:
    rng = np.random.default_rng(0)
    variances = rng.uniform(0.1, 1.0, (2, 3))
    diag = GaussianMixture([0.3, 0.7], rng.normal(size=(2, 3)), variances)
    full = GaussianMixture([0.3, 0.7], diag.means, np.stack([np.diag(v) for v in variances]))
    x = rng.normal(size=(10, 3))
    for method in ("log_prob", "score", "x0_hat", "eps_hat"):
        np.testing.assert_allclose(getattr(diag, method)(x, 0.4, SCHEDULES["vp-linear"]),
                                   getattr(full, method)(x, 0.4, SCHEDULES["vp-linear"]), rtol=1e-12, atol=1e-12)


def test_sample_moments_within_standard_errors() -> None:
    gm = GaussianMixture([0.2, 0.8], [[-2.0, 1.0], [1.0, 0.0]], [[[0.5, 0.2], [0.2, 0.3]], [[0.1, 0.0], [0.0, 0.4]]])
    n = 40_000
    for generator in (np.random.default_rng(5), torch.Generator().manual_seed(5)):
        draws = gm.sample(n, generator)
        draws = draws.numpy() if isinstance(draws, torch.Tensor) else draws
        se = np.sqrt(np.diag(gm.covariance()) / n)
        z = (draws.mean(0) - gm.mean()) / se
        assert np.all(np.abs(z) < 4.5), z
        # Variance of the sample variance for a non-Gaussian law: (μ₄ − σ⁴)/n, estimated from the draws.
        centred = draws - draws.mean(0)
        var_se = np.sqrt((np.mean(centred**4, 0) - np.var(draws, 0) ** 2) / n)
        assert np.all(np.abs(np.var(draws, 0) - np.diag(gm.covariance())) < 4.5 * var_se)


def test_marginal_is_the_law_of_alpha_x0_plus_sigma_eps() -> None:
    gm = GaussianMixture([0.5, 0.5], [[0.0], [2.0]], [0.3, 0.1])
    schedule = SCHEDULES["vp-linear"]
    num = compile_schedule(schedule, "numpy")
    x = np.linspace(-3, 3, 9)[:, None]
    pt = gm.marginal(0.4, schedule)
    np.testing.assert_allclose(pt.log_prob_at(x, 1.0, 0.0), gm.log_prob(x, 0.4, schedule), rtol=1e-12)
    assert np.isclose(pt.covariance()[0, 0], num.alpha(0.4) ** 2 * gm.covariance()[0, 0] + num.sigma(0.4) ** 2)


@pytest.mark.parametrize("args", [
    ([1.0], [[0.0, 1.0]], [[[1.0, 2.0], [0.0, 1.0]]]),  # not symmetric
    ([1.0], [[0.0]], [-1.0]),  # negative variance
    ([-1.0, 2.0], [[0.0], [1.0]], [1.0, 1.0]),  # negative weight
    ([1.0], [0.0, 1.0], [1.0]),  # means not (K, d)
])
def test_invalid_parameters_raise(args) -> None:
    with pytest.raises(OracleError):
        GaussianMixture(*args)


def test_wrong_dimension_raises() -> None:
    gm = GaussianMixture([1.0], [[0.0, 0.0]], [[1.0, 1.0]])
    with pytest.raises(OracleError):
        gm.score(np.zeros((3, 3)), 0.5, SCHEDULES["ve"])


# ------------------------------------------------------------------ P1 / P2 conversions and adapters
def test_adapters_recover_the_oracle_denoiser() -> None:
    gm = GaussianMixture([0.4, 0.6], [[-1.0, 0.5], [1.2, -0.4]], [[0.05, 0.2], [0.3, 0.1]])
    schedule = SCHEDULES["vp-linear"]
    x, t = draw_inputs(gm, schedule, 32, 7)
    exact = gm.x0_hat(x, t, schedule)
    eps_model = lambda x, t: gm.eps_hat(x, t, schedule)  # noqa: E731
    score_model = lambda x, t: gm.score(x, t, schedule)  # noqa: E731
    num = compile_schedule(schedule, "numpy")

    def v_model(x, t):
        a, s = num.alpha(t)[:, None], num.sigma(t)[:, None]
        return inference.v_from_x0_eps(gm.x0_hat(x, t, schedule), gm.eps_hat(x, t, schedule), a, s)

    def edm(y, sigma_bar):  # the VE denoiser of the same data: α = 1, σ = σ̄
        return gm.x0_hat_at(y, 1.0, sigma_bar[..., 0])

    for adapter, model in ((inference.denoiser_from_eps, eps_model), (inference.denoiser_from_score, score_model),
                           (inference.denoiser_from_v, v_model), (inference.denoiser_from_edm, edm)):
        np.testing.assert_allclose(adapter(model, schedule)(x, t), exact, rtol=1e-9, atol=1e-9)
    denoiser = gm.denoiser(schedule)
    np.testing.assert_allclose(inference.eps_model_from_denoiser(denoiser, schedule)(x, t), eps_model(x, t),
                               rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(inference.score_model_from_denoiser(denoiser, schedule)(x, t), score_model(x, t),
                               rtol=1e-9, atol=1e-9)
    # torch input: the adapters follow the input's backend.
    out = inference.denoiser_from_eps(eps_model, schedule)(torch.tensor(x), torch.tensor(t))
    assert isinstance(out, torch.Tensor)
    np.testing.assert_allclose(out.numpy(), exact, rtol=1e-9, atol=1e-9)


# ------------------------------------------------------------------ CUDA (skipped without a GPU)
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_follows_device_and_matches_cpu() -> None:
    from s2n_theory import backward

    gm = GaussianMixture([0.3, 0.7], [[-1.0, 0.5], [1.2, -0.4]], [[[0.2, 0.05], [0.05, 0.1]], [[0.3, 0.0], [0.0, 0.1]]])
    schedule = SCHEDULES["vp-linear"]
    x, t = draw_inputs(gm, schedule, 64, 9)
    xc, tc = torch.tensor(x, device="cuda"), torch.tensor(t, device="cuda")
    for method in ("log_prob", "score", "x0_hat", "eps_hat"):
        out = getattr(gm, method)(xc, tc, schedule)
        assert out.device.type == "cuda" and out.dtype == torch.float64
        np.testing.assert_allclose(out.cpu().numpy(), getattr(gm, method)(x, t, schedule), rtol=1e-12, atol=1e-12)
    out32 = gm.x0_hat(xc.float(), tc.float(), schedule)
    assert out32.dtype == torch.float32 and out32.device.type == "cuda"
    draws = gm.sample(1000, torch.Generator(device="cuda").manual_seed(0))
    assert draws.device.type == "cuda" and draws.shape == (1000, 2)
    x0 = gm.x0_hat(x, t, schedule)
    noise = np.random.default_rng(0).standard_normal(x.shape)
    s = t * 0.5
    step_gpu = backward.exact_step(xc, torch.tensor(x0, device="cuda"), tc, torch.tensor(s, device="cuda"), schedule,
                                   rho=0.7, gamma=0.1, delta=0.2, noise=torch.tensor(noise, device="cuda"))
    step_cpu = backward.exact_step(x, x0, t, s, schedule, rho=0.7, gamma=0.1, delta=0.2, noise=noise)
    assert step_gpu.device.type == "cuda"
    np.testing.assert_allclose(step_gpu.cpu().numpy(), step_cpu, rtol=1e-12, atol=1e-12)
    denoised = inference.denoiser_from_eps(lambda x, t: gm.eps_hat(x, t, schedule), schedule)(xc, tc)
    np.testing.assert_allclose(denoised.cpu().numpy(), x0, rtol=1e-10, atol=1e-10)


def test_one_time_batch_path_equals_the_per_sample_path() -> None:
    # A batch at one (α, σ) takes the components-first path (terms once per time); α and σ given per
    # sample take the general one. Both are the same closed forms, on numpy and torch, any batch shape.
    rng = np.random.default_rng(1)
    gm = GaussianMixture([0.2, 0.5, 0.3], rng.normal(size=(3, 4)), rng.uniform(0.05, 1.0, (3, 4)))
    for x in (rng.normal(size=(40, 4)), rng.normal(size=(3, 5, 4)), torch.as_tensor(rng.normal(size=(40, 4)))):
        alpha, sigma = np.full(x.shape[:-1], 0.8), np.full(x.shape[:-1], 0.35)
        if isinstance(x, torch.Tensor):
            alpha, sigma = torch.as_tensor(alpha), torch.as_tensor(sigma)
        for method in ("log_prob_at", "responsibilities_at", "score_at", "x0_hat_at", "eps_hat_at"):
            one = np.asarray(getattr(gm, method)(x, 0.8, 0.35))
            each = np.asarray(getattr(gm, method)(x, alpha, sigma))
            np.testing.assert_allclose(one, each, rtol=1e-12, atol=1e-12)
    # Through a schedule: a tensor of equal times equals the scalar time and the per-sample times.
    x = torch.as_tensor(rng.normal(size=(30, 4)))
    t = torch.full((30,), 0.45, dtype=torch.float64)
    varied = t.clone()
    varied[0] = 0.4500000001  # not all equal: the general path, per-sample α(t), σ(t)
    schedule = SCHEDULES["vdm"]
    np.testing.assert_allclose(gm.x0_hat(x, t, schedule)[1:], gm.x0_hat(x, varied, schedule)[1:], rtol=1e-12)
    np.testing.assert_allclose(gm.x0_hat(x, t, schedule), gm.x0_hat(x, 0.45, schedule), rtol=1e-15)


@pytest.mark.parametrize("covs", [[[0.5, 0.2], [0.1, 0.3]], [[[0.5, 0.2], [0.2, 0.3]], [[0.1, 0.0], [0.0, 0.4]]]],
                         ids=["diagonal", "full"])
def test_remembered_grid_gives_the_values_of_a_fresh_mixture(covs) -> None:
    # A grid's α, σ and per-component terms are computed at once (remember_times); each call at a grid time must
    # return what a mixture that never saw the grid computes for that time alone, in every backend and dtype.
    args = ([0.4, 0.6], [[-1.0, 0.5], [1.0, -0.5]], covs)
    schedule = SCHEDULES["vdm"]
    grid = torch.linspace(0.9, 0.05, 17, dtype=torch.float64)
    remembered = GaussianMixture(*args)
    remembered.remember_times(schedule, grid)
    x = np.random.default_rng(4).normal(size=(5, 2))
    for t in grid.tolist()[::3]:
        for like in (x, torch.tensor(x), torch.tensor(x, dtype=torch.float32)):
            times = torch.full((5,), t, dtype=like.dtype) if isinstance(like, torch.Tensor) else t
            for method in ("x0_hat", "eps_hat", "score", "log_prob"):
                got = getattr(remembered, method)(like, times, schedule)
                want = getattr(GaussianMixture(*args), method)(like, times, schedule)
                assert type(got) is type(want) and got.dtype == want.dtype
                np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_remembered_grid_is_not_served_after_the_formula_changes(monkeypatch) -> None:
    gm = GaussianMixture([1.0], [[0.5]], [0.2])
    schedule = SCHEDULES["vp-linear"]
    grid = torch.linspace(0.8, 0.1, 5, dtype=torch.float64)
    gm.remember_times(schedule, grid)
    x = torch.linspace(-1.0, 1.0, 4, dtype=torch.float64)[:, None]
    t = torch.full((4,), float(grid[2]), dtype=torch.float64)
    right = gm.x0_hat(x, t, schedule)
    original = gaussian_mixture.eigen_terms
    monkeypatch.setattr(gaussian_mixture, "eigen_terms",
                        lambda z, a, s, ev: tuple(2 * v for v in original(z, a, s, ev)))
    assert not torch.allclose(gm.x0_hat(x, t, schedule), right)
