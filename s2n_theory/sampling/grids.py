"""Time grids for sampling (docs/theory.md).

``time_grid(schedule, n, kind)`` returns ``n + 1`` decreasing times from the noise end
to the data end (``n`` steps), as a float64 CPU tensor:

* ``uniform-t``: equal steps in t;
* ``uniform-lambda``: equal steps in log-SNR λ, mapped to t by the schedule's inverse λ;
* ``karras``: the EDM σ-grid σ_i = (σ_max^{1/k} + i/n (σ_min^{1/k} − σ_max^{1/k}))^k with grid
  exponent k (default 7), built in σ/α = e^{−λ/2} and mapped to t by the inverse λ.

:func:`subdivide` cuts every step of a grid into equal parts (a finer grid with the coarse one's points, and
no inverse λ to evaluate on the fine points).
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import S2NError
from ..interop import karras_grid
from ..numeric_schedule import compile_schedule
from ..schedule import Schedule
from .validation import check_grid_arguments

GRID_KINDS = ("uniform-t", "uniform-lambda", "karras")


def time_grid(
    schedule: Schedule,
    n: int,
    kind: str = "uniform-t",
    *,
    exponent: float = 7.0,
    sigma_min: float | None = None,
    sigma_max: float | None = None,
    t_min: float | None = None,
    t_max: float | None = None,
) -> torch.Tensor:
    """``n + 1`` times t_max = t_0 > … > t_n = t_min (see module docstring)."""
    if kind not in GRID_KINDS:
        raise S2NError(f"unknown grid kind {kind!r} (choose {', '.join(GRID_KINDS)})")
    n = check_grid_arguments(n, exponent)  # validation: n a positive integer, exponent finite and > 0
    lo = schedule.t_min if t_min is None else float(t_min)
    hi = schedule.t_max if t_max is None else float(t_max)
    if not schedule.t_min <= lo < hi <= schedule.t_max:
        raise S2NError(f"grid range [{lo:g}, {hi:g}] must lie inside the schedule's domain "
                       f"[{schedule.t_min:g}, {schedule.t_max:g}] with t_min < t_max")
    num = compile_schedule(schedule, "numpy")
    if kind == "uniform-t":
        times = np.linspace(hi, lo, n + 1)
    else:
        lam_hi_t, lam_lo_t = float(num.log_snr(hi)), float(num.log_snr(lo))  # λ(t_max) < λ(t_min)
        if kind == "uniform-lambda":
            lam = np.linspace(lam_hi_t, lam_lo_t, n + 1)
        else:
            s_max = np.exp(-lam_hi_t / 2) if sigma_max is None else float(sigma_max)
            s_min = np.exp(-lam_lo_t / 2) if sigma_min is None else float(sigma_min)
            reach = (np.exp(-lam_lo_t / 2), np.exp(-lam_hi_t / 2))
            if not (reach[0] * (1 - 1e-9) <= s_min < s_max <= reach[1] * (1 + 1e-9)):
                raise S2NError(f"karras grid: need {reach[0]:.4g} <= sigma_min < sigma_max <= {reach[1]:.4g} "
                               f"(sigma = exp(-lambda/2) on this schedule), got [{s_min:g}, {s_max:g}]")
            lam = -2.0 * np.log(karras_grid(s_min, s_max, n + 1, exponent))
        times = num.t_of_log_snr(lam)
        if kind == "uniform-lambda" or sigma_max is None:
            times[0] = hi
        if kind == "uniform-lambda" or sigma_min is None:
            times[-1] = lo
    times = np.asarray(times, dtype=np.float64)
    if not np.all(np.diff(times) < 0):
        raise S2NError(f"{kind} grid with n = {n} is not strictly decreasing in t (too many steps for float64?)")
    return torch.from_numpy(times.copy())


def subdivide(times: np.ndarray, factor: int) -> np.ndarray:
    """``times`` (monotone, float64) with every interval cut into ``factor`` equal parts: point k of ``times`` is
    point k·factor of the result."""
    times = np.asarray(times, dtype=np.float64)
    if factor < 1 or times.ndim != 1 or len(times) < 2:
        raise S2NError("subdivide needs a 1-D grid of at least two times and a factor >= 1")
    parts = np.arange(factor) / factor
    inner = times[:-1, None] + np.diff(times)[:, None] * parts
    return np.concatenate([inner.ravel(), times[-1:]])
