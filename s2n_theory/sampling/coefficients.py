"""The verified symbolic step formulas (B2–B4), lambdified once per schedule for the solvers' tables."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import sympy as sp

from .. import backward
from ..arrays import compile_expression
from ..errors import S2NError
from ..numeric_schedule import compile_schedule
from ..schedule import Schedule
from ..symbols import S, T

_X, _X0 = sp.Symbol("x", real=True), sp.Symbol("x0", real=True)

Rho = float | Callable[[Any], Any]


@functools.lru_cache(maxsize=64)
def _exact_coefficients(schedule: Schedule) -> Callable[..., Any]:
    """B4 step coefficients (c_x, c_θ, c_ξ) as numpy functions of (t, s, ρ, γ, δ)."""
    coefficients = backward.parametric_step_coefficients(schedule, backward.RHO, backward.GAMMA, backward.DELTA)
    args = [T, S, backward.RHO, backward.GAMMA, backward.DELTA]
    compiled = [compile_expression(args, c) for c in coefficients]
    return lambda *values: [f(*values) for f in compiled]


@functools.lru_cache(maxsize=64)
def _drift_coefficients(schedule: Schedule) -> Callable[..., Any]:
    """B2 drift with B4's x̂₀_γ, as d = a x + b x_θ, and the noise scale c: numpy functions of (t, ρ, γ)."""
    x0_gamma = backward.parametric_x0(_X, _X0, schedule.alpha, backward.GAMMA)
    drift = sp.expand(backward.drift_from_x0(schedule, _X, x0_gamma, backward.RHO))
    parts = [sp.diff(drift, _X), sp.diff(drift, _X0), backward.noise_scale_data_form(schedule, backward.RHO)]
    args = [T, backward.RHO, backward.GAMMA]
    compiled = [compile_expression(args, p) for p in parts]
    return lambda *values: [f(*values) for f in compiled]


def exact_coefficients(schedule: Schedule, t: np.ndarray, s: np.ndarray, rho: np.ndarray,
                       delta: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """B3 with B4's δ (γ = 0): (c_x, c_x0, c_ξ) for steps t → s, float64 arrays."""
    values = _exact_coefficients(schedule)(t, s, rho, 0.0, delta)
    return tuple(np.broadcast_to(np.asarray(v, dtype=np.float64), np.shape(t)).copy() for v in values)


def drift_coefficients(schedule: Schedule, t: np.ndarray, rho: np.ndarray) -> tuple[np.ndarray, ...]:
    """B2 (γ = 0): drift a x + b x̂₀ and noise scale c at times t, float64 arrays."""
    values = _drift_coefficients(schedule)(t, rho, 0.0)
    return tuple(np.broadcast_to(np.asarray(v, dtype=np.float64), np.shape(t)).copy() for v in values)


def rho_values(rho: Rho, times: np.ndarray) -> np.ndarray:
    """ρ(t) on ``times`` (a constant or a function of t), checked finite and ≥ 0."""
    values = np.asarray(rho(times) if callable(rho) else np.full_like(times, float(rho)), dtype=np.float64)
    values = np.broadcast_to(values, times.shape)
    if np.any(~np.isfinite(values)) or np.any(values < 0):
        raise S2NError("rho must be finite and >= 0 on the grid")
    return values


def prediction_transform(schedule: Schedule, times: np.ndarray, gamma: float) -> np.ndarray | None:
    """B4 on every evaluation: x̂₀_γ = (1 + γ) x_θ + g x with g = −γ/α(t); the g per grid time, or None if γ = 0."""
    if gamma == 0.0:
        return None
    alpha = np.asarray(compile_schedule(schedule, "numpy").alpha(times), dtype=np.float64)
    return np.broadcast_to(-gamma / alpha, times.shape).copy()
