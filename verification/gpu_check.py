"""GPU path of the sampling engine (claim id ``GPU``; also ``python -m s2n_theory.verification.gpu_check``).

On a CUDA device: (1) M2 at scale, the oracle sampler landing on the 16-D mixture with
every registered solver and ρ ∈ {0, 0.5, 1, 2}; (2) CPU/GPU agreement of the exact step in
float64 with identical per-sample counter-based noise; (3) throughput in
sample-steps per second. Without CUDA every part reports ``skip``. The whole script took
104 s on one H100 with three solvers; it now runs every registered solver (about three times
the runs) and has not been re-timed on a GPU since.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import torch

from s2n_theory.metrics import mmd, sliced_wasserstein
from s2n_theory.sampling import sample, time_grid
from s2n_theory.sampling.solvers import SOLVERS
from s2n_theory.schedule import Schedule
from s2n_theory.schedule_spec import get_schedule

from .montecarlo_checks import RHOS, STEP_FACTOR, _z_threshold, mixture_16d, solver_runs
from .registry import REGISTRY, Outcome, Skip, claim_check, run_check
from .stat_tests import rate_note

AGREEMENT_TOLERANCE = 1e-10
"""Relative CPU/GPU difference allowed after a whole float64 trajectory (transcendental
functions differ in the last bits between devices; the noise itself is bit-identical)."""


def _device() -> torch.device:
    if not torch.cuda.is_available():
        raise Skip("no CUDA device", "no CUDA")
    return torch.device("cuda")


def agreement(schedule: Schedule, n: int = 4096, steps: int = 50) -> float:
    """Max relative difference between CPU and CUDA trajectories of the exact step (ρ = 1)."""
    device = _device()
    mixture = mixture_16d()
    start = torch.as_tensor(mixture.marginal(schedule.t_max, schedule).sample(n, np.random.default_rng(0)))
    grid = time_grid(schedule, steps, "karras")
    outs = []
    for dev in ("cpu", device):
        x = start.to(dev, torch.float64)
        out = sample(lambda y, t: mixture.x0_hat(y, t, schedule), x, schedule, grid, method="exact", rho=1.0,
                     gamma=0.1, delta=0.05, generator=1234).samples
        outs.append(out.cpu())
    return float((outs[0] - outs[1]).abs().max() / outs[0].abs().max())


def throughput(schedule: Schedule, n: int = 262_144, steps: int = 100, dtype: torch.dtype = torch.float32) -> float:
    """Sample-steps per second of the exact sampler with the 16-D oracle on CUDA."""
    device = _device()
    mixture = mixture_16d()
    grid = time_grid(schedule, steps, "uniform-lambda")
    x = torch.randn(n, 16, device=device, dtype=dtype)
    denoiser = lambda y, t: mixture.x0_hat(y, t, schedule)  # noqa: E731
    sample(denoiser, x, schedule, time_grid(schedule, 2, "uniform-lambda"), rho=1.0, generator=0)  # warm-up
    torch.cuda.synchronize()
    started = time.perf_counter()
    sample(denoiser, x, schedule, grid, method="exact", rho=1.0, generator=0)
    torch.cuda.synchronize()
    return n * steps / (time.perf_counter() - started)


def landing_at_scale(schedule: Schedule, n: int = 50_000, steps: int = 200) -> tuple[bool, float, str]:
    """M2 on CUDA with n samples per run; thresholds from oracle-vs-oracle replicates."""
    device = _device()
    mixture = mixture_16d()

    def draw(t: float, seed: int) -> torch.Tensor:
        return torch.as_tensor(mixture.marginal(t, schedule).sample(n, np.random.default_rng(seed))).to(device)

    null_sw, null_mmd = [], []
    sub = 8000  # MMD is quadratic in n: computed on a fixed subsample
    for r in range(8):
        a, b = draw(schedule.t_min, 2 * r), draw(schedule.t_min, 2 * r + 1)
        null_sw.append(sliced_wasserstein(a, b))
        null_mmd.append(mmd(a[:sub], b[:sub]))
    runs = solver_runs(RHOS)
    z_star = _z_threshold(2 * len(runs))
    limit_sw = np.mean(null_sw) + z_star * np.std(null_sw, ddof=1)
    limit_mmd = np.mean(null_mmd) + z_star * np.std(null_mmd, ddof=1)
    reference, start = draw(schedule.t_min, 99), draw(schedule.t_max, 98)
    worst, failed = 0.0, []
    # At this n the statistics resolve discretization errors of a few 1e-3: first-order steps, and every
    # solver with noise (weak order ≤ 2), need many more steps than a high-order ODE solve.
    for method, rho in runs:
        factor = 1 if rho == 0.0 and SOLVERS[method].order >= 2 else 5 * STEP_FACTOR.get(method, 1)
        grid = time_grid(schedule, factor * steps, "uniform-lambda")
        out = sample(lambda y, t: mixture.x0_hat(y, t, schedule), start.clone(), schedule, grid, method=method,
                     rho=rho, generator=5, denoise_final=False).samples
        ratio = max(sliced_wasserstein(out, reference) / limit_sw, mmd(out[:sub], reference[:sub]) / limit_mmd)
        worst = max(worst, ratio)
        if ratio > 1:
            failed.append(f"{method} rho={rho:g}")
    detail = (f"failed: {', '.join(failed)}; " if failed else "") + \
        f"n={n}, {len(runs)} runs, max statistic/limit {worst:.2f} ({rate_note(2 * len(runs))})"
    return not failed, worst, detail


@claim_check("GPU", "gpu", "CUDA: M2 at scale, CPU/GPU agreement of the exact step, throughput", general=False)
def check_gpu(schedule: Schedule, level: str) -> Outcome:
    _device()
    if schedule.name != "vp-linear" and level == "quick":
        raise Skip("quick level runs the GPU check on vp-linear only", "level")
    diff = agreement(schedule)
    landed, worst, detail = landing_at_scale(schedule, n=50_000 if level == "quick" else 200_000)
    rate = throughput(schedule)
    passed = landed and diff <= AGREEMENT_TOLERANCE
    return Outcome(passed, "gpu", max(worst, diff / AGREEMENT_TOLERANCE),
                   f"CPU/GPU rel. diff {diff:.1e} (<= {AGREEMENT_TOLERANCE:g}); {detail}; "
                   f"throughput {rate:.3g} sample-steps/s (float32, 16-D oracle, exact step); residual = max of "
                   f"statistic/limit and diff/{AGREEMENT_TOLERANCE:g}, tolerance 1", tolerance=1.0)


def main() -> int:
    """Run the GPU check on vp-linear and edm, print a JSON line per result."""
    torch.set_num_threads(1)
    level = "full" if "--full" in sys.argv else "quick"
    checks = [check for check in REGISTRY if check.claim == "GPU"]
    results = [run_check(check, get_schedule(name), level) for check in checks for name in ("vp-linear", "edm")]
    for r in results:
        print(json.dumps(r.to_dict()))
    return 1 if any(r.status in ("fail", "error") for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
