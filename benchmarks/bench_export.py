"""Exported numpy/torch schedule functions against hand-written versions of the same formulas.

Run: ``PYTHONPATH=. python benchmarks/bench_export.py [--n 10000000] [--repeat 3]``.
Prints, per schedule, function and backend, the best-of-``repeat`` time of the exported function
and of a hand-written one-liner of the same formula, and their ratio (target: within 1.2x).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from s2n_theory.numeric_schedule import compile_schedule
from s2n_theory.schedule_spec import get_schedule


def hand_written(xp):
    """Hand-written formulas, as a user would type them with ``xp`` = numpy or torch."""
    b0, b1 = 0.1, 20.0
    s = 0.008
    c0 = math.cos(math.pi / 2 * s / (1 + s))

    def vp_B(t):
        return b0 * t + 0.5 * (b1 - b0) * t * t

    def cos_alpha(t):
        return xp.cos(math.pi / 2 * (t + s) / (1 + s)) / c0

    return {
        "vp-linear": {
            "alpha": lambda t: xp.exp(-0.5 * vp_B(t)),
            "sigma": lambda t: xp.sqrt(-xp.expm1(-vp_B(t))),
            "log_snr": lambda t: -xp.log(xp.expm1(vp_B(t))),
            "g2": lambda t: b0 + (b1 - b0) * t,
            "dlog_snr": lambda t: -(b0 + (b1 - b0) * t) / (-xp.expm1(-vp_B(t))),
        },
        "vp-cosine": {
            "alpha": cos_alpha,
            "sigma": lambda t: xp.sqrt(1 - cos_alpha(t) ** 2),
            "log_snr": lambda t: xp.log(cos_alpha(t) ** 2 / (1 - cos_alpha(t) ** 2)),
            "f": lambda t: -math.pi / 2 / (1 + s) * xp.tan(math.pi / 2 * (t + s) / (1 + s)),
        },
        "vdm": {
            "alpha": lambda t: xp.sqrt(xp.sigmoid(13.3 - 18.3 * t)) if xp is torch else
            1 / np.sqrt(1 + np.exp(-(13.3 - 18.3 * t))),
            "sigma": lambda t: xp.sqrt(xp.sigmoid(-(13.3 - 18.3 * t))) if xp is torch else
            1 / np.sqrt(1 + np.exp(13.3 - 18.3 * t)),
            "log_snr": lambda t: 13.3 - 18.3 * t,
        },
    }


def best_time(func, arg, repeat):
    func(arg)  # warm up
    best = math.inf
    for _ in range(repeat):
        started = time.perf_counter()
        func(arg)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (numpy is single-threaded)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"N = {args.n:.0e} float64 points, best of {args.repeat}, torch threads = {args.threads}")
    print(f"{'schedule':12} {'function':9} {'backend':7} {'exported':>10} {'hand':>10} {'ratio':>6}")
    ratios = []
    for backend, xp in (("numpy", np), ("torch", torch)):
        hand = hand_written(xp)
        for name, funcs in hand.items():
            schedule = get_schedule(name)
            num = compile_schedule(schedule, backend)
            t_np = np.linspace(schedule.t_min, schedule.t_max, args.n)
            t = t_np if backend == "numpy" else torch.from_numpy(t_np)
            for fname, hand_func in funcs.items():
                exported = getattr(num, fname)
                ref = np.asarray(hand_func(t))
                got = np.asarray(exported(t))
                agree = np.max(np.abs(got - ref) / np.maximum(np.abs(ref), 1e-300))
                te, th = best_time(exported, t, args.repeat), best_time(hand_func, t, args.repeat)
                ratios.append(te / th)
                print(f"{name:12} {fname:9} {backend:7} {te:9.4f}s {th:9.4f}s {te / th:6.2f}"
                      f"   (max rel. difference {agree:.1e})")
    print(f"median ratio {np.median(ratios):.2f}, max {np.max(ratios):.2f}")


if __name__ == "__main__":
    main()
