"""``exact``: the exact inference step B3/B4 (x̂₀ frozen on each step; DDIM at ρ = 0)."""

from __future__ import annotations

import numpy as np

from ...schedule import Schedule
from ..coefficients import Rho, exact_coefficients, rho_values
from .base import Solver


class Exact(Solver):
    name = "exact"
    order = 1
    weak_order = 1
    claims = ("B3", "B4")
    summary = "exact step with x̂₀ frozen (DDIM at ρ = 0, ancestral at ρ = 1); ρ(t) at each step's midpoint"

    def coefficients(self, schedule: Schedule, times: np.ndarray, rho: Rho, delta: float) -> np.ndarray:
        t, s = times[:-1], times[1:]
        table, lay = self.empty_table(len(t)), self.layout
        c_x, c_x0, c_xi = exact_coefficients(schedule, t, s, rho_values(rho, 0.5 * (t + s)), delta)
        table[:, lay.a], table[:, lay.b.start], table[:, lay.c] = c_x, c_x0, c_xi
        return table
