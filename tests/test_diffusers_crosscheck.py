"""B3 against an independent implementation: diffusers' DDIM and DPM-Solver++ schedulers.

A VP schedule is handed to diffusers as its ``trained_betas`` on the DDPM grid
τ_i = (i + 1)/N (so ᾱ_i = α(τ_i)²). Like is compared with like:

* diffusers stores betas and ᾱ in float32 and ``DPMSolverMultistepScheduler.step``
  casts the sample to float32; for the float64 comparison the tables are replaced
  by the float64 ᾱ the same betas define, and DPM-Solver's first-order update
  (the function ``step`` dispatches to at order 1) is called directly. The public
  ``step`` is checked as well, to float32 accuracy.
* timestep spacing: each scheduler's own ``timesteps`` are mapped to τ and our
  step runs between exactly those times.
* final step: DDIM's last step goes to ``final_alpha_cumprod``; with
  ``set_alpha_to_one=False`` that is ᾱ_0, i.e. τ_0. DPM-Solver's default final σ is
  0 (λ = ∞, outside every schedule's domain); ``final_sigmas_type="sigma_min"``
  ends at τ_0 instead. The λ → ∞ limit of B3 (x_s = x̂₀ when α_s = 1) is tested
  separately against ``final_sigmas_type="zero"``.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")

from s2n_theory import backward, get_schedule  # noqa: E402
from s2n_theory.gaussian_mixture import GaussianMixture  # noqa: E402
from s2n_theory.numeric_schedule import compile_schedule

N_TRAIN = 1000
MIXTURE = GaussianMixture([0.4, 0.6], [[-1.0, 0.5], [1.2, -0.4]], [[0.05, 0.2], [0.3, 0.1]])


def vp_tables(name: str) -> tuple[object, np.ndarray, np.ndarray]:
    """(schedule, τ grid, ᾱ on the grid in float64) for a VP built-in."""
    schedule = get_schedule(name)
    tau = np.arange(1, N_TRAIN + 1) / N_TRAIN
    tau = np.clip(tau, schedule.t_min, schedule.t_max)
    alpha_bar = compile_schedule(schedule, "numpy").alpha(tau) ** 2
    return schedule, tau, alpha_bar


def trained_betas(alpha_bar: np.ndarray) -> np.ndarray:
    return 1.0 - alpha_bar / np.concatenate([[1.0], alpha_bar[:-1]])


def use_float64_tables(scheduler, alpha_bar: np.ndarray) -> None:
    """Replace diffusers' float32 tables by the float64 ones the same betas define."""
    ac = torch.tensor(alpha_bar, dtype=torch.float64)
    scheduler.alphas_cumprod = ac
    scheduler.betas = torch.tensor(trained_betas(alpha_bar), dtype=torch.float64)
    scheduler.alphas = 1.0 - scheduler.betas
    if hasattr(scheduler, "final_alpha_cumprod") and not scheduler.config.get("set_alpha_to_one", True):
        scheduler.final_alpha_cumprod = ac[0]
    if hasattr(scheduler, "lambda_t"):
        scheduler.alpha_t = torch.sqrt(ac)
        scheduler.sigma_t = torch.sqrt(1 - ac)
        scheduler.lambda_t = torch.log(scheduler.alpha_t) - torch.log(scheduler.sigma_t)


def start(schedule, tau0: float, n: int = 48, seed: int = 0) -> tuple[torch.Tensor, list[torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    a, s = (float(v) for v in (compile_schedule(schedule, "numpy").alpha(tau0), compile_schedule(schedule, "numpy").sigma(tau0)))
    x0 = MIXTURE.sample(n, gen)
    x = a * x0 + s * torch.randn(x0.shape, generator=gen, dtype=torch.float64)
    noises = [torch.randn(x0.shape, generator=gen, dtype=torch.float64) for _ in range(200)]
    return x, noises


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / (b.abs().max() + 1.0))


@pytest.mark.parametrize("name", ["vp-linear", "vp-cosine"])
@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_ddim_matches_b3(name: str, eta: float) -> None:
    schedule, tau, alpha_bar = vp_tables(name)
    scheduler = diffusers.DDIMScheduler(num_train_timesteps=N_TRAIN, trained_betas=trained_betas(alpha_bar).tolist(),
                                        clip_sample=False, set_alpha_to_one=False, prediction_type="sample")
    use_float64_tables(scheduler, alpha_bar)
    scheduler.set_timesteps(25)
    steps = scheduler.timesteps.tolist()
    stride = N_TRAIN // 25
    x, noises = start(schedule, tau[steps[0]])
    ours, theirs = x.clone(), x.clone()
    for i, k in enumerate(steps):
        prev = k - stride
        t, s = tau[k], tau[prev] if prev >= 0 else tau[0]  # diffusers: final_alpha_cumprod = ᾱ_0
        ours = backward.exact_step(ours, MIXTURE.x0_hat(ours, t, schedule), t, s, schedule, rho=eta, noise=noises[i])
        out = scheduler.step(MIXTURE.x0_hat(theirs, t, schedule), k, theirs, eta=eta,
                             variance_noise=noises[i] if eta > 0 else None)
        theirs = out.prev_sample
        assert theirs.dtype == torch.float64
    assert relative(ours, theirs) < 1e-10


def dpm_scheduler(alpha_bar: np.ndarray, algorithm: str, final: str = "sigma_min"):
    scheduler = diffusers.DPMSolverMultistepScheduler(
        num_train_timesteps=N_TRAIN, trained_betas=trained_betas(alpha_bar).tolist(), algorithm_type=algorithm,
        solver_order=1, prediction_type="sample", final_sigmas_type=final, lower_order_final=True)
    use_float64_tables(scheduler, alpha_bar)
    return scheduler


def float64_sigmas(scheduler, alpha_bar: np.ndarray, last: float) -> torch.Tensor:
    """The σ = √((1−ᾱ)/ᾱ) table set_timesteps builds, without its float32 cast."""
    steps = scheduler.timesteps.numpy()
    table = np.sqrt((1 - alpha_bar) / alpha_bar)
    return torch.tensor(np.concatenate([table[steps], [last]]), dtype=torch.float64)


@pytest.mark.parametrize("name", ["vp-linear", "vp-cosine"])
@pytest.mark.parametrize("algorithm,rho", [("dpmsolver++", 0.0), ("sde-dpmsolver++", 1.0)])
def test_dpmsolver_first_order_matches_b3(name: str, algorithm: str, rho: float) -> None:
    schedule, tau, alpha_bar = vp_tables(name)
    scheduler = dpm_scheduler(alpha_bar, algorithm)
    scheduler.set_timesteps(25)
    steps = scheduler.timesteps.tolist()
    scheduler.sigmas = float64_sigmas(scheduler, alpha_bar, float(np.sqrt((1 - alpha_bar[0]) / alpha_bar[0])))
    targets = [*steps[1:], 0]  # "sigma_min": the final σ is that of index 0
    x, noises = start(schedule, tau[steps[0]], seed=1)
    ours, theirs = x.clone(), x.clone()
    for i, (k, prev) in enumerate(zip(steps, targets, strict=True)):
        ours = backward.exact_step(ours, MIXTURE.x0_hat(ours, tau[k], schedule), tau[k], tau[prev], schedule,
                                   rho=rho, noise=noises[i])
        scheduler._step_index = i  # the first-order update reads σ_i, σ_{i+1} through step_index
        theirs = scheduler.dpm_solver_first_order_update(MIXTURE.x0_hat(theirs, tau[k], schedule), sample=theirs,
                                                         noise=noises[i] if rho > 0 else None)
        assert theirs.dtype == torch.float64
    assert relative(ours, theirs) < 1e-10


@pytest.mark.parametrize("algorithm,rho", [("dpmsolver++", 0.0), ("sde-dpmsolver++", 1.0)])
def test_dpmsolver_public_step_float32(algorithm: str, rho: float) -> None:
    """The public ``step`` (which computes in float32) agrees with B3 to float32 accuracy."""
    schedule, tau, alpha_bar = vp_tables("vp-linear")
    scheduler = dpm_scheduler(alpha_bar, algorithm)
    scheduler.set_timesteps(20)
    steps = scheduler.timesteps.tolist()
    targets = [*steps[1:], 0]
    x, noises = start(schedule, tau[steps[0]], seed=2)
    ours, theirs = x.clone(), x.clone()
    for i, (k, prev) in enumerate(zip(steps, targets, strict=True)):
        ours = backward.exact_step(ours, MIXTURE.x0_hat(ours, tau[k], schedule), tau[k], tau[prev], schedule,
                                   rho=rho, noise=noises[i])
        theirs = scheduler.step(MIXTURE.x0_hat(theirs, tau[k], schedule), k, theirs,
                                variance_noise=noises[i] if rho > 0 else None).prev_sample
    # float32 tables and arithmetic: a few float32 ulps (6e-8) per step over 20 steps.
    assert relative(ours, theirs) < 20 * 8 * float(np.finfo(np.float32).eps)


def test_dpmsolver_final_step_to_zero_noise_is_b3_limit() -> None:
    """final_sigmas_type="zero": the last step lands on x̂₀, the λ_s → ∞ limit of B3 (α_s → 1 on VP)."""
    schedule, tau, alpha_bar = vp_tables("vp-linear")
    scheduler = dpm_scheduler(alpha_bar, "dpmsolver++", final="zero")
    scheduler.set_timesteps(10)
    scheduler.sigmas = float64_sigmas(scheduler, alpha_bar, 0.0)
    last = len(scheduler.timesteps) - 1
    k = scheduler.timesteps[last].item()
    x, _ = start(schedule, tau[k], seed=3)
    x0 = MIXTURE.x0_hat(x, tau[k], schedule)
    scheduler._step_index = last
    final = scheduler.dpm_solver_first_order_update(x0, sample=x)
    # B3 coefficients as λ_s → ∞ with σ_s → 0, α_s → 1: c_x = (σ_s/σ_t) e^{−ρ²h} → 0, c_x0 → α_s = 1.
    assert relative(final, x0) < 1e-14
