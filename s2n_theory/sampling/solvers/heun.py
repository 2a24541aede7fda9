"""``heun``: Heun's method (trapezoid) on the probability-flow ODE (B2 at ρ = 0), Euler on the last step."""

from __future__ import annotations

import numpy as np

from ...schedule import Schedule
from ..coefficients import Rho, drift_coefficients
from .base import Solver


class Heun(Solver):
    name = "heun"
    order = 2
    weak_order = None
    rho_zero_only = True
    corrector = True
    reuse = False  # the next step evaluates afresh at the corrected point: 2 NFE per step
    claims = ("B2",)
    summary = "Heun's second-order method on the probability-flow ODE (2 NFE per step, Euler last)"

    def coefficients(self, schedule: Schedule, times: np.ndarray, rho: Rho, delta: float) -> np.ndarray:
        t, s = times[:-1], times[1:]
        table, lay = self.empty_table(len(t)), self.layout
        zero = np.zeros_like(t)
        a, b, _ = drift_coefficients(schedule, t, zero)
        a_end, b_end, _ = drift_coefficients(schedule, s, zero)
        dt = t - s
        predictor_a, predictor_b = 1.0 - a * dt, -b * dt
        table[:, lay.a], table[:, lay.b.start] = predictor_a, predictor_b
        # Trapezoid: x_s = x − Δt (d_start + d_end)/2 with −Δt d_start = (A − 1) x + B x̂₀ and d_end
        # taken at the Euler predictor x̃: x_s = ½(1 + A) x + ½ B x̂₀ − ½Δt (a_end x̃ + b_end x̂₀(x̃)).
        table[:, lay.corrector_a] = 0.5 * (1.0 + predictor_a)
        table[:, lay.corrector_p] = -0.5 * a_end * dt
        table[:, lay.corrector_b.start] = -0.5 * b_end * dt
        table[:, lay.corrector_b.start + 1] = 0.5 * predictor_b
        table[:-1, lay.flag] = 1.0  # the last step is a plain Euler step
        return table
