"""``euler``: Euler–Maruyama on the data-prediction SDE B2 (ρ(t) at each step's start)."""

from __future__ import annotations

import numpy as np

from ...schedule import Schedule
from ..coefficients import Rho, euler_coefficients, rho_values
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
        c_x, c_x0, c_xi = euler_coefficients(schedule, t, s, rho_values(rho, t), delta)
        table[:, lay.a], table[:, lay.b.start], table[:, lay.c] = c_x, c_x0, c_xi
        return table
