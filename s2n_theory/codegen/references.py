"""Probe points and 50-digit references that the candidate forms are measured against."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import mpmath
import numpy as np
import sympy as sp

from ..symbols import T
from .functions import ScheduleFunctions
from .stable import elementary

REFERENCE_DPS = 50
"""Working precision (decimal digits) of the mpmath references."""


def probe_times(t_min: float, t_max: float) -> np.ndarray:
    """Float64 probe times: both endpoints, points crowding each end, and an interior grid."""
    width = t_max - t_min
    near = np.array([1e-12, 1e-9, 1e-6, 1e-4, 1e-3, 1e-2])
    u = np.concatenate([[0.0, 1.0], near, 1 - near, np.linspace(0.03, 0.97, 17)])
    times = np.clip(t_min + width * u, t_min, t_max)
    times[u == 1.0] = t_max
    return np.unique(times)


def probe_pairs(times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(t, s) pairs with s < t: endpoints, neighbours and far pairs."""
    ts, ss = [], []
    n = len(times)
    for i in range(n):
        for j in range(i + 1, n):
            if j - i in (1, 3) or (i, j) == (0, n - 1) or (j - i) % 7 == 0:
                ts.append(times[j])
                ss.append(times[i])
    return np.array(ts), np.array(ss)


def mp_function(args: Sequence[sp.Symbol], expr: sp.Expr) -> Callable[..., Any]:
    # cse: a shared subtree (a derivative repeats its inner functions) is computed once per call.
    return sp.lambdify(list(args), elementary(expr), modules="mpmath", cse=True)


def mp_eval(func: Callable[..., Any], *columns: np.ndarray) -> np.ndarray:
    out = np.empty(len(columns[0]))
    with mpmath.workdps(REFERENCE_DPS):
        for k in range(len(out)):
            try:
                value = func(*(mpmath.mpf(float(c[k])) for c in columns))
                value = mpmath.mpmathify(value)
                out[k] = float(value.real) if abs(value.imag) <= 1e-30 * (1 + abs(value.real)) else np.nan
            except (ValueError, ZeroDivisionError, OverflowError):
                out[k] = np.nan
    return out


def reference_inverse(schedule: ScheduleFunctions, lams: np.ndarray, guesses: np.ndarray) -> np.ndarray:
    """t with λ(t) = lam at 50 digits (mpmath root finding from ``guesses``), clipped to the domain."""
    lam_mp = mp_function([T], schedule.log_snr)
    out = np.empty(len(lams))
    lo_t, hi_t = schedule.t_min, schedule.t_max
    with mpmath.workdps(REFERENCE_DPS):
        lam_hi, lam_lo = lam_mp(mpmath.mpf(lo_t)), lam_mp(mpmath.mpf(hi_t))
        for k, (lam, guess) in enumerate(zip(lams, guesses, strict=False)):
            target = mpmath.mpf(float(lam))
            if target >= lam_hi:
                out[k] = lo_t
                continue
            if target <= lam_lo:
                out[k] = hi_t
                continue
            a, b = mpmath.mpf(lo_t), mpmath.mpf(hi_t)
            # a few bisection steps around the guess keep the root finder inside the domain
            x0 = mpmath.mpf(float(guess))
            try:
                root = mpmath.findroot(lambda x, y=target: lam_mp(x) - y, (x0, x0 + (b - a) * mpmath.mpf("1e-9")),
                                       solver="secant", tol=mpmath.mpf(10) ** (-40), maxsteps=100)
                ok = a <= root <= b and abs(lam_mp(root) - target) < mpmath.mpf(10) ** (-30) * (1 + abs(target))
            except (ValueError, ZeroDivisionError):
                ok = False
            if not ok:
                for _ in range(200):
                    mid = (a + b) / 2
                    if lam_mp(mid) > target:
                        a = mid
                    else:
                        b = mid
                root = (a + b) / 2
            out[k] = float(root)
    return out
