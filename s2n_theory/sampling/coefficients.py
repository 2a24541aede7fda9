"""The solvers' tables read the one numeric form of the B2–B4 steps (``backward.step_coefficients``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import backward
from ..errors import S2NError
from ..numeric_schedule import compile_schedule
from ..schedule import Schedule

Rho = float | Callable[[Any], Any]


def _float64(values: list[Any], shape: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    return tuple(np.broadcast_to(np.asarray(v, dtype=np.float64), shape).copy() for v in values)


def step_table_coefficients(kind: str, schedule: Schedule, t: np.ndarray, s: np.ndarray, rho: np.ndarray,
                            delta: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(c_x, c_x0, c_ξ) of step ``kind`` ("exact": B3, "euler": Euler–Maruyama on B2), B4's δ, γ = 0, for
    steps t → s: float64 arrays."""
    return _float64(backward.step_coefficients(kind, schedule, t, s, rho, 0.0, delta), np.shape(t))


def exact_coefficients(schedule: Schedule, t: np.ndarray, s: np.ndarray, rho: np.ndarray,
                       delta: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """B3 with B4's δ (γ = 0): (c_x, c_x0, c_ξ) for steps t → s, float64 arrays."""
    return step_table_coefficients("exact", schedule, t, s, rho, delta)


def drift_coefficients(schedule: Schedule, t: np.ndarray, rho: np.ndarray) -> tuple[np.ndarray, ...]:
    """B2 (γ = 0): drift a x + b x̂₀ and noise scale c at times t, float64 arrays."""
    return _float64(backward.step_coefficients("drift", schedule, t, t, rho), np.shape(t))


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
