"""Stochastic samplers' exact output law on Gaussian data: their weak error with no sampling noise at all.

For data x₀ ~ N(μ, s²) (1-D) the exact denoiser is affine in x, so every sampler here (ours at
ρ = 1 and k-diffusion's at η = 1) is an affine map of (x_T, ξ_0, ξ_1, …): its output is
Gaussian, and its mean and variance follow exactly from running the sampler once on a batch of
basis inputs (row 0 carries the constant part, row 1 the coefficient of x_T's standard normal,
row 2 + k that of ξ_k; the noise sources hand step k the k-th basis vector). The error is
W₂² between N(mean, variance) and N(μ, s²). This complements bench_stochastic.py (mixtures,
MMD² with a floor) where the MMD cannot resolve two samplers: it shows the solvers' weak error
structure exactly, on the linear case only (the mixture's non-linear x̂₀ is not covered).

Run:  python benchmarks/bench_stochastic_gaussian.py [--schedules edm,vp-linear]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from bench_solvers import VE, kdiffusion

from s2n_theory.gaussian_mixture import GaussianMixture
from s2n_theory.sampling import SOLVERS, sample, time_grid
from s2n_theory.sampling.noise import NoiseSource
from s2n_theory.schedule_spec import get_schedule

DATA = (0.7, 0.04)
"""(μ, s²) of the 1-D Gaussian data: s = 0.2, a component's scale in the mixtures."""
OURS = ("exact", "ms2", "ms3", "ms2-pc", "ms3-pc")
ANCHORS = ("euler_ancestral", "dpmpp_2m_sde", "dpmpp_3m_sde")
NFES = (10, 20, 50, 100)


class BasisNoise(NoiseSource):
    """Step k's "noise" is the basis vector e_{2+k} over the batch rows."""

    def normal(self, batch_shape, step, stream=0, *, sample_ids=None, dtype=torch.float32, device=None):
        out = torch.zeros(batch_shape, dtype=dtype)
        out[2 + step] = 1.0
        return out


def basis_start(rows: int, mean: float, sd: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(x with x[0] = mean, x[1] = sd, the rest 0; the indicator of the constant row)."""
    x, const = torch.zeros(rows, 1, dtype=torch.float64), torch.zeros(rows, 1, dtype=torch.float64)
    x[0], x[1], const[0] = mean, sd, 1.0
    return x, const


def w2(out: torch.Tensor) -> float:
    mu, s2 = DATA
    mean, var = float(out[0, 0]), float((out[1:, 0] ** 2).sum())
    return (mean - mu) ** 2 + (np.sqrt(var) - np.sqrt(s2)) ** 2


def ours(schedule, num, method: str, grid: torch.Tensor) -> float:
    mu, s2 = DATA
    a_T, s_T = float(num.alpha(schedule.t_max)), float(num.sigma(schedule.t_max))
    x, const = basis_start(len(grid) + 2, a_T * mu, np.sqrt(a_T**2 * s2 + s_T**2))

    def denoiser(y, t):  # E[x₀ | x_t = y] = μ + g (y − α μ), the constant part on row 0 only
        a, s = float(num.alpha(float(t[0]))), float(num.sigma(float(t[0])))
        g = a * s2 / (a * a * s2 + s * s)
        return g * y + (mu - g * a * mu) * const

    return w2(sample(denoiser, x, schedule, grid, method=method, rho=1.0, generator=BasisNoise(0)).samples)


def anchor(kd, ve: VE, name: str, grid_label: str, nfe: int) -> float:
    mu, s2 = DATA
    sigmas = torch.cat([ve.sigmas(nfe, grid_label), torch.zeros(1, dtype=torch.float64)])
    x, const = basis_start(nfe + 2, mu, np.sqrt(s2 + float(sigmas[0]) ** 2))  # VE: y_T ~ N(μ, s² + σ_max²)

    def denoiser(y, sigma):
        g = s2 / (s2 + float(sigma.reshape(-1)[0]) ** 2)
        return g * y + (mu - g * mu) * const

    step = [0]

    def noise(sigma, sigma_next):
        out = torch.zeros(nfe + 2, 1, dtype=torch.float64)
        out[2 + step[0]] = 1.0
        step[0] += 1
        return out

    return w2(getattr(kd, f"sample_{name}")(denoiser, x, sigmas, disable=True, eta=1.0, noise_sampler=noise))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schedules", default="edm,vp-linear")
    args = parser.parse_args()
    torch.set_num_threads(1)
    kd = kdiffusion()
    for schedule_name in args.schedules.split(","):
        schedule = get_schedule(schedule_name)
        ve = VE(schedule, GaussianMixture([1.0], [[DATA[0]]], [DATA[1]]))
        print(f"\n{schedule_name}, 1-D Gaussian data: W₂² of the exact output law (best of Karras-7 / uniform-λ):\n")
        print("| sampler | " + " | ".join(f"NFE {n}" for n in NFES) + " |")
        print("|---|" + "---|" * len(NFES))
        for method in OURS:
            cells = []
            for nfe in NFES:
                steps = SOLVERS[method].steps_for_nfe(nfe - 1)
                cells.append(min(ours(schedule, ve.num, method, time_grid(schedule, steps, kind))
                                 for kind in ("karras", "uniform-lambda")))
            print(f"| {method} ρ=1 | " + " | ".join(f"{c:.1e}" for c in cells) + " |")
        if kd is not None:
            for name in ANCHORS:
                cells = [min(anchor(kd, ve, name, g, nfe) for g in ("karras-7", "uniform-lambda")) for nfe in NFES]
                print(f"| kd {name}(η=1) | " + " | ".join(f"{c:.1e}" for c in cells) + " |")


if __name__ == "__main__":
    main()
