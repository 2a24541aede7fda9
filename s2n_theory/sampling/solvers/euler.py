"""``euler``: Euler–Maruyama on the data-prediction SDE B2 (ρ(t) at each step's start)."""

from __future__ import annotations

import numpy as np

from ...schedule import Schedule
from ..coefficients import Rho, drift_coefficients, rho_values
from .base import Solver


class Euler(Solver):
    name = "euler"
    order = 1
    weak_order = 1
    claims = ("B2", "B4")
    summary = "Euler–Maruyama on the B2 form; ρ(t) at each step's start"

    def coefficients(self, schedule: Schedule, times: np.ndarray, rho: Rho, delta: float) -> np.ndarray:
        t, s = times[:-1], times[1:]
        table, lay = self.empty_table(len(t)), self.layout
        a, b, c = drift_coefficients(schedule, t, rho_values(rho, t))
        dt = t - s
        table[:, lay.a], table[:, lay.b.start] = 1.0 - a * dt, -b * dt
        table[:, lay.c] = (1.0 + delta) * c * np.sqrt(dt)
        return table
