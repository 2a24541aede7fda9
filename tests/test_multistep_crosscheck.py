"""B5 special cases against other projects' own code, to float64 round-off.

* diffusers ``DPMSolverMultistepScheduler`` with ``solver_order=2, solver_type="heun"``:
  ``algorithm_type="dpmsolver++"`` is ms2 at ρ = 0 and ``"sde-dpmsolver++"`` is ms2 at ρ = 1
  (same noise, passed as the update's ``noise``). As in ``test_diffusers_crosscheck.py`` the
  scheduler's float32 tables are replaced by the float64 ones its betas define and its update
  functions are called directly (its public ``step`` computes in float32).
* k-diffusion's ``sampling.py`` (loaded by :func:`s2n_theory.sampling.peers.kdiffusion_sampling`,
  skipped when no copy is available): ``sample_dpmpp_2m`` is ms2-midpoint at ρ = 0 and
  ``sample_dpmpp_2m_sde(eta=ρ², solver_type=…)`` is ms2 / ms2-midpoint at ρ, on the EDM schedule
  (α = 1, σ = t), with k-diffusion's final step to σ = 0 being our final denoising call.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from s2n_theory.gaussian_mixture import GaussianMixture
from s2n_theory.numeric_schedule import compile_schedule
from s2n_theory.sampling import NoiseSource, sample
from s2n_theory.schedule_spec import get_schedule

diffusers = pytest.importorskip("diffusers")

N_TRAIN = 1000
MIXTURE = GaussianMixture([0.4, 0.6], [[-1.0, 0.5], [1.2, -0.4]], [[0.05, 0.2], [0.3, 0.1]])


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / (b.abs().max() + 1.0))


def start(schedule, t: float, n: int = 64, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    num = compile_schedule(schedule, "numpy")
    x0 = MIXTURE.sample(n, gen)
    return float(num.alpha(t)) * x0 + float(num.sigma(t)) * torch.randn(x0.shape, generator=gen, dtype=torch.float64)


def oracle(schedule):
    return lambda x, t: MIXTURE.x0_hat(x, t, schedule)


# ----------------------------------------------------------------------------- diffusers
def diffusers_run(name: str, algorithm: str, steps: int, seed: int):
    schedule = get_schedule(name)
    tau = np.clip(np.arange(1, N_TRAIN + 1) / N_TRAIN, schedule.t_min, schedule.t_max)
    alpha_bar = compile_schedule(schedule, "numpy").alpha(tau) ** 2
    betas = 1.0 - alpha_bar / np.concatenate([[1.0], alpha_bar[:-1]])
    scheduler = diffusers.DPMSolverMultistepScheduler(
        num_train_timesteps=N_TRAIN, trained_betas=betas.tolist(), algorithm_type=algorithm, solver_order=2,
        solver_type="heun", prediction_type="sample", final_sigmas_type="sigma_min")
    scheduler.set_timesteps(steps)
    index = scheduler.timesteps.numpy()
    table = np.sqrt((1 - alpha_bar) / alpha_bar)  # float64 σ = √((1 − ᾱ)/ᾱ), without set_timesteps' float32 cast
    scheduler.sigmas = torch.tensor(np.concatenate([table[index], [table[0]]]), dtype=torch.float64)
    grid = torch.tensor(np.concatenate([tau[index], [tau[0]]]), dtype=torch.float64)
    return schedule, scheduler, grid


@pytest.mark.parametrize("name", ["vp-linear", "vp-cosine"])
@pytest.mark.parametrize("algorithm,rho", [("dpmsolver++", 0.0), ("sde-dpmsolver++", 1.0)])
def test_ms2_is_diffusers_dpmsolver_pp_2m_heun(name: str, algorithm: str, rho: float) -> None:
    schedule, scheduler, grid = diffusers_run(name, algorithm, 25, seed=1)
    x = start(schedule, float(grid[0]), seed=1)
    denoiser = oracle(schedule)
    ours = sample(denoiser, x.clone(), schedule, grid, method="ms2", rho=rho, generator=5,
                  denoise_final=False).samples
    theirs, outputs = x.clone(), []
    for i in range(len(grid) - 1):
        outputs.append(denoiser(theirs, float(grid[i])))
        noise = NoiseSource(5).normal(tuple(x.shape), step=i, dtype=torch.float64) if rho > 0 else None
        scheduler._step_index = i
        if i == 0:  # diffusers' warm-up, as ours: the first step is first order
            theirs = scheduler.dpm_solver_first_order_update(outputs[-1], sample=theirs, noise=noise)
        else:
            theirs = scheduler.multistep_dpm_solver_second_order_update(outputs[-2:], sample=theirs, noise=noise)
        assert theirs.dtype == torch.float64
    assert relative(ours, theirs) < 1e-10


# ----------------------------------------------------------------------------- k-diffusion
@pytest.fixture(scope="module")
def kdiff():
    from s2n_theory.sampling.peers import kdiffusion_sampling

    try:
        return kdiffusion_sampling()
    except ImportError as exc:
        pytest.skip(str(exc))


def karras(n: int, sigma_min: float = 0.002, sigma_max: float = 80.0) -> torch.Tensor:
    ramp = torch.linspace(0, 1, n, dtype=torch.float64)
    return (sigma_max ** (1 / 7) + ramp * (sigma_min ** (1 / 7) - sigma_max ** (1 / 7))) ** 7


class StepNoise:
    """k-diffusion's noise_sampler(σ, σ_next) returning our per-step noise for that step."""

    def __init__(self, sigmas: torch.Tensor, shape: tuple[int, ...], seed: int):
        self.index = {float(s): i for i, s in enumerate(sigmas.tolist())}
        self.shape, self.seed = shape, seed

    def __call__(self, sigma, sigma_next):
        return NoiseSource(self.seed).normal(self.shape, step=self.index[float(sigma)], dtype=torch.float64)


@pytest.mark.parametrize("method,kwargs", [
    ("ms2-midpoint", {}),
])
def test_ms2_midpoint_is_kdiffusion_dpmpp_2m(kdiff, method: str, kwargs: dict) -> None:
    schedule = get_schedule("edm")  # α = 1, σ = t: k-diffusion's σ is our t
    grid = karras(12)
    x = start(schedule, float(grid[0]), seed=2)
    denoiser = oracle(schedule)
    ours = sample(denoiser, x.clone(), schedule, grid, method=method).samples
    sigmas = torch.cat([grid, grid.new_zeros(1)])
    theirs = kdiff.sample_dpmpp_2m(lambda y, s: denoiser(y, s), x.clone(), sigmas, disable=True)
    assert relative(ours, theirs) < 1e-10


@pytest.mark.parametrize("rho", [0.5, 1.0])
@pytest.mark.parametrize("method,solver_type", [("ms2", "heun"), ("ms2-midpoint", "midpoint")])
def test_ms2_is_kdiffusion_dpmpp_2m_sde(kdiff, rho: float, method: str, solver_type: str) -> None:
    schedule = get_schedule("edm")
    grid = karras(15)
    x = start(schedule, float(grid[0]), seed=3)
    denoiser = oracle(schedule)
    ours = sample(denoiser, x.clone(), schedule, grid, method=method, rho=rho, generator=11).samples
    sigmas = torch.cat([grid, grid.new_zeros(1)])
    theirs = kdiff.sample_dpmpp_2m_sde(lambda y, s: denoiser(y, s), x.clone(), sigmas, disable=True, eta=rho**2,
                                       noise_sampler=StepNoise(grid, tuple(x.shape), 11), solver_type=solver_type)
    assert relative(ours, theirs) < 1e-10


def test_ms2_differs_from_midpoint_so_the_comparisons_can_fail(kdiff) -> None:
    # The two weightings agree to O(h^3) per step only: a test that could not tell them apart would be empty.
    schedule = get_schedule("edm")
    grid = karras(12)
    x = start(schedule, float(grid[0]), seed=2)
    ours = sample(oracle(schedule), x.clone(), schedule, grid, method="ms2").samples
    sigmas = torch.cat([grid, grid.new_zeros(1)])
    theirs = kdiff.sample_dpmpp_2m(lambda y, s: oracle(schedule)(y, s), x.clone(), sigmas, disable=True)
    assert relative(ours, theirs) > 1e-6
