"""Cost of the sampler's boundary checks (s2n_theory/sampling/validation.py), side by side in this process.

``sample()`` as shipped (denoiser output checked each call: type, shape, device, dtype, one
``aminmax`` reduction kept on the device, flags read once after the loop) against the same
call with the per-step checks replaced by no-ops. CPU, one torch thread, ``exact``, ρ = 0, 50 steps,
cheap denoiser ``0.5·tanh(x)``; runs interleaved, best of ``--repeat``.

Run:  python benchmarks/bench_sampler_checks.py [--repeat 30]
"""

from __future__ import annotations

import argparse
import time

import torch

from s2n_theory.sampling import engine, sample, time_grid
from s2n_theory.schedule_spec import get_schedule


class _NoWatch:
    def record(self, *args):
        pass

    def verify(self, *args):
        pass


def _unchecked(x0_hat, x, step, t):
    return x0_hat


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(1)
    schedule = get_schedule("vp-linear")
    grid = time_grid(schedule, 50, "uniform-t")

    def denoiser(x, t):
        return 0.5 * torch.tanh(x)

    checked = (engine.check_denoiser_output, engine.FiniteWatch)
    for batch, dim in ((64, 2), (4096, 64)):
        x = torch.randn(batch, dim, generator=torch.Generator().manual_seed(0))
        sample(denoiser, x, schedule, grid)  # warm caches (coefficients, lambdified functions)
        best = {"checked": float("inf"), "unchecked": float("inf")}
        for _ in range(args.repeat):
            for name in ("checked", "unchecked"):
                engine.check_denoiser_output, engine.FiniteWatch = checked if name == "checked" else (
                    _unchecked, _NoWatch)
                started = time.perf_counter()
                sample(denoiser, x, schedule, grid)
                best[name] = min(best[name], time.perf_counter() - started)
        engine.check_denoiser_output, engine.FiniteWatch = checked
        per_step = (best["checked"] - best["unchecked"]) / 51 * 1e6  # 50 steps + the final denoising
        print(f"batch {batch}, d = {dim}: checked {best['checked'] * 1e3:.2f} ms, unchecked "
              f"{best['unchecked'] * 1e3:.2f} ms, ratio {best['checked'] / best['unchecked']:.3f}, "
              f"{per_step:.1f} µs per denoiser call")


if __name__ == "__main__":
    main()
