"""Sampling benchmarks, each a ratio of runs made side by side in this process.

1. The sampling loop against diffusers' DPMSolverMultistepScheduler (order 1,
   prediction_type="sample"), same cheap denoiser, same 50 steps, CPU, one thread,
   in the overhead-bound case (batch 64, d = 2) and the tensor-bound case
   (batch 4096, d = 64); plus the engine's overhead per step over bare denoiser calls.
2. Forward Monte Carlo (`simulate_forward`, Euler) against `torchsde.sdeint`
   (Euler, same paths and steps), with the accuracy of each (variance error at T).
3. Error against NFE of `exact`, `euler` and `heun` on a 2-D mixture (sliced
   Wasserstein to oracle samples), as a table and a figure.

Run:  python benchmarks/bench_sampling.py [--quick] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from s2n_theory.gaussian_mixture import GaussianMixture
from s2n_theory.metrics import sliced_wasserstein
from s2n_theory.numeric_schedule import compile_schedule
from s2n_theory.sampling import sample, simulate_forward, time_grid
from s2n_theory.schedule_spec import get_schedule


def best_of(func, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return min(times)


def cheap_denoiser(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return 0.5 * torch.tanh(x)


def bench_loop_vs_diffusers(repeats: int) -> list[dict]:
    from diffusers import DPMSolverMultistepScheduler

    from s2n_theory.schedule import Schedule

    steps, train_steps = 50, 1000
    # The discrete VP schedule diffusers uses (linear betas), as a continuous schedule in t = step index / 1000.
    betas = np.linspace(1e-4, 0.02, train_steps)
    scheduler = DPMSolverMultistepScheduler(num_train_timesteps=train_steps, trained_betas=betas, solver_order=1,
                                            prediction_type="sample", algorithm_type="dpmsolver++")
    scheduler.set_timesteps(steps)
    alphas_cumprod = scheduler.alphas_cumprod.double().numpy()
    schedule = get_schedule("vp-linear")
    assert isinstance(schedule, Schedule)
    # Our grid: the same λ values diffusers visits, mapped to t on vp-linear (the loop work is identical).
    timesteps = scheduler.timesteps.numpy()
    lam = np.log(alphas_cumprod[timesteps] / (1 - alphas_cumprod[timesteps]))
    num = compile_schedule(schedule, "numpy")
    lam = np.clip(lam, float(num.log_snr(schedule.t_max)), float(num.log_snr(schedule.t_min)))
    grid = torch.as_tensor(np.append(num.t_of_log_snr(lam), schedule.t_min))
    grid = torch.unique(grid).flip(0)
    rows = []
    for batch, dim in ((64, 2), (4096, 64)):
        x0 = torch.randn(batch, dim, generator=torch.Generator().manual_seed(0))

        def ours() -> None:
            sample(cheap_denoiser, x0, schedule, grid, method="exact", rho=0.0, denoise_final=False)

        def theirs() -> None:
            scheduler.set_timesteps(steps)
            x = x0
            for t in scheduler.timesteps:
                x = scheduler.step(cheap_denoiser(x, t), t, x).prev_sample

        def bare() -> None:
            x = x0
            tt = torch.zeros(batch)
            for _ in range(len(grid) - 1):
                x = cheap_denoiser(x, tt)

        ours(), theirs(), bare()
        t_ours, t_theirs, t_bare = best_of(ours, repeats), best_of(theirs, repeats), best_of(bare, repeats)
        rows.append({"batch": batch, "dim": dim, "steps": steps, "ours_s": t_ours, "diffusers_s": t_theirs,
                     "bare_denoiser_s": t_bare, "speedup": t_theirs / t_ours,
                     "overhead_per_step_us": (t_ours - t_bare) / (len(grid) - 1) * 1e6})
    return rows


def bench_forward_vs_torchsde(repeats: int, paths: int, steps: int) -> dict:
    import torchsde

    schedule = get_schedule("vp-linear")
    num, tor = compile_schedule(schedule, "numpy"), compile_schedule(schedule, "torch")
    grid = torch.linspace(schedule.t_min, schedule.t_max, steps + 1, dtype=torch.float64)
    x0 = torch.full((paths, 1), 0.8, dtype=torch.float64)

    class VPSDE(torch.nn.Module):
        noise_type, sde_type = "diagonal", "ito"

        def f(self, t, y):
            return tor.f(t) * y

        def g(self, t, y):
            return torch.sqrt(tor.g2(t)).expand_as(y)

    sde = VPSDE()
    dt = float(grid[1] - grid[0])

    def ours() -> torch.Tensor:
        return simulate_forward(x0, schedule, grid, "euler", generator=torch.Generator().manual_seed(1))

    def theirs() -> torch.Tensor:
        torch.manual_seed(1)
        return torchsde.sdeint(sde, x0, grid[[0, -1]], method="euler", dt=dt)[-1]

    target = float(num.sigma(schedule.t_max)) ** 2 + (float(num.alpha(schedule.t_max)) * 0.8) ** 2
    error_ours = abs(float((ours() ** 2).mean()) - target)
    error_theirs = abs(float((theirs() ** 2).mean()) - target)
    t_ours, t_theirs = best_of(ours, repeats), best_of(theirs, repeats)
    se = target * np.sqrt(2.0 / paths)
    return {"paths": paths, "steps": steps, "ours_s": t_ours, "torchsde_s": t_theirs, "speedup": t_theirs / t_ours,
            "second_moment_error_ours": error_ours, "second_moment_error_torchsde": error_theirs,
            "monte_carlo_standard_error": se}


def bench_error_vs_nfe(out: Path, n: int) -> list[dict]:
    schedule = get_schedule("vp-linear")
    mixture = GaussianMixture([0.3, 0.5, 0.2], [[-1.5, 0.5], [1.0, 1.0], [0.5, -1.5]],
                              [[0.10, 0.05], [0.20, 0.10], [0.05, 0.15]])
    rng = np.random.default_rng(0)
    start = torch.as_tensor(mixture.marginal(schedule.t_max, schedule).sample(n, rng))
    reference = torch.as_tensor(mixture.marginal(schedule.t_min, schedule).sample(n, rng))
    # Noise floor: the mean statistic between independent oracle sets of the same size.
    floor = float(np.mean([sliced_wasserstein(torch.as_tensor(mixture.marginal(schedule.t_min, schedule).sample(n, rng)),
                                              reference) for _ in range(5)]))
    denoiser = lambda x, t: mixture.x0_hat(x, t, schedule)  # noqa: E731
    # The sliced Wasserstein to oracle samples bottoms out at the sampling noise (the floor); the
    # discretization error itself is measured against a fine Heun solution from the same start.
    fine = sample(denoiser, start.clone(), schedule, time_grid(schedule, 2048, "karras"), method="heun",
                  denoise_final=False).samples
    rows = []
    for method in ("exact", "euler", "heun"):
        for steps in (4, 8, 16, 32, 64, 128):
            grid = time_grid(schedule, steps, "karras")
            result = sample(denoiser, start.clone(), schedule, grid, method=method, denoise_final=False)
            rows.append({"method": method, "steps": steps, "nfe": result.nfe,
                         "sliced_wasserstein": sliced_wasserstein(result.samples, reference),
                         "oracle_floor": floor,
                         "error_to_fine_solution": float((result.samples - fine).norm(dim=1).mean())})
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for method in ("exact", "euler", "heun"):
        pts = [(r["nfe"], r["sliced_wasserstein"]) for r in rows if r["method"] == method]
        axes[0].loglog(*zip(*pts, strict=True), marker="o", label=method)
        pts = [(r["nfe"], r["error_to_fine_solution"]) for r in rows if r["method"] == method]
        axes[1].loglog(*zip(*pts, strict=True), marker="o", label=method)
    axes[0].axhline(floor, color="grey", ls="--", label="oracle vs oracle (mean)")
    axes[0].set_ylabel("sliced Wasserstein to p_data")
    axes[1].set_ylabel("mean |x - x_fine| (same start)")
    for ax in axes:
        ax.set_xlabel("NFE")
        ax.legend()
    fig.suptitle("ODE sampling (rho = 0), vp-linear, Karras grid, 2-D mixture, exact denoiser")
    fig.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "error_vs_nfe.png", dpi=120)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats and paths")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    repeats = 3 if args.quick else 7
    results = {
        "torch": torch.__version__,
        "loop_vs_diffusers": bench_loop_vs_diffusers(repeats),
        "forward_vs_torchsde": bench_forward_vs_torchsde(repeats, 2000 if args.quick else 10_000, 500),
        "error_vs_nfe": bench_error_vs_nfe(args.out, 2000 if args.quick else 10_000),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "sampling.json").write_text(json.dumps(results, indent=2))
    for row in results["loop_vs_diffusers"]:
        print(f"loop vs diffusers, batch {row['batch']} d {row['dim']}: ours {row['ours_s'] * 1e3:.1f} ms, "
              f"diffusers {row['diffusers_s'] * 1e3:.1f} ms, speed-up {row['speedup']:.2f}x, "
              f"overhead {row['overhead_per_step_us']:.0f} us/step")
    fw = results["forward_vs_torchsde"]
    print(f"forward vs torchsde: ours {fw['ours_s'] * 1e3:.1f} ms, torchsde {fw['torchsde_s'] * 1e3:.1f} ms, "
          f"speed-up {fw['speedup']:.1f}x; E[x_T^2] error ours {fw['second_moment_error_ours']:.2e}, "
          f"torchsde {fw['second_moment_error_torchsde']:.2e} (MC s.e. {fw['monte_carlo_standard_error']:.2e})")
    for row in results["error_vs_nfe"]:
        print(f"{row['method']:6} steps {row['steps']:4} NFE {row['nfe']:4} SW {row['sliced_wasserstein']:.4f} "
              f"(floor {row['oracle_floor']:.4f}), error to fine solution {row['error_to_fine_solution']:.2e}")


if __name__ == "__main__":
    main()
