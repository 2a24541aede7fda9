"""``ms2``, ``ms3``, ``ms4`` (+ ``-pc`` corrector, ``ms2-midpoint``): multistep exponential integrators, B5/B6.

Step n integrates the data-prediction form of the ρ-family exactly in λ with x̂₀ replaced by
its Lagrange polynomial in λ through the last k evaluations (B5). The x_t and noise terms are
the exact ones of B3; the x̂₀ weights are α_s Σ_j L_ij ψ_j((1 + ρ²) h), derived in
:mod:`s2n_theory.multistep`. The first steps warm up with orders 1, 2, … (one new evaluation
per step). Special cases, equal to round-off in the tests: ms2 at ρ = 0 is DPM-Solver++(2M)
with the exact integral of the linear interpolant (diffusers' ``solver_type="heun"``), at
ρ = 1 SDE-DPM-Solver++(2M) likewise; ``ms2-midpoint`` freezes the polynomial at the step's
middle, k-diffusion's ``sample_dpmpp_2m`` (ρ = 0) and ``sample_dpmpp_2m_sde`` (η = ρ²).

``-pc``: a corrector at no extra NFE (the UniPC idea): after the predictor lands at x̃, the
evaluation E = x̂₀(x̃, s) that the next step needs anyway joins the nodes (u = 1) and the same
step is redone with the k + 1 nodes, same noise. E is then kept as the next step's D, so the
order rises by one at the same NFE.

Warm-up: the first step of a k-step method is first order (local error O(h²)), which would cap
the global order at 2. For k ≥ 3 the plain methods therefore correct their warm-up steps
(steps with fewer than k nodes) in the same way, which costs no NFE; ms2 keeps the plain
warm-up that DPM-Solver++(2M) uses, which is enough for order 2.
"""

from __future__ import annotations

import numpy as np

from ... import multistep
from ...numeric_schedule import compile_schedule
from ...schedule import Schedule
from ..coefficients import Rho, exact_coefficients, rho_values
from .base import Solver


def step_ratios(h: np.ndarray, width: int) -> np.ndarray:
    """r_i = h_{n−i}/h_n for i = 1 … width (NaN where the step n − i does not exist)."""
    out = np.full((len(h), max(width, 1)), np.nan)
    for i in range(1, width + 1):
        out[i:, i - 1] = h[:-i] / h[i:]
    return out


class Multistep(Solver):

    def __init__(self, k: int, corrector: bool = False, midpoint: bool = False):
        self.k = k
        self.history = k
        self.corrector = corrector or k >= 3  # the table layout has corrector columns; warm-up uses them
        self.full_corrector = corrector
        self.reuse = True
        self.midpoint = midpoint
        self.order = 2 if midpoint else k + (1 if corrector else 0)
        # At ρ > 0 the x̂₀ history lies on a rough path: the weak order is 2 for every k ≥ 2 (measured by
        # check_m4_multistep on every built-in; B3's exact noise term keeps it from falling to 1).
        self.weak_order = 1 if k == 1 else 2
        self.name = f"ms{k}" + ("-midpoint" if midpoint else "") + ("-pc" if corrector else "")
        self.claims = ("B5", "B6")
        self.summary = (f"{k}-step exponential integrator (x̂₀ Lagrange in λ"
                        + (", frozen at the step's middle" if midpoint else ", integrated exactly")
                        + (", + corrector at no extra NFE" if corrector else "") + "), any ρ(t)")

    def nfe(self, steps: int) -> int:
        return steps

    def coefficients(self, schedule: Schedule, times: np.ndarray, rho: Rho, delta: float) -> np.ndarray:
        t, s = times[:-1], times[1:]
        n = len(t)
        table, lay = self.empty_table(n), self.layout
        rho_k = rho_values(rho, 0.5 * (t + s))
        c_x, c_x0, c_xi = exact_coefficients(schedule, t, s, rho_k, delta)
        num = compile_schedule(schedule, "numpy")
        lam = np.asarray(num.log_snr(times), dtype=np.float64)
        alpha_s = np.broadcast_to(np.asarray(num.alpha(s), dtype=np.float64), s.shape)
        h = 0.5 * (lam[1:] - lam[:-1])
        z = (1.0 + rho_k**2) * h
        ratios = step_ratios(h, self.k)
        table[:, lay.a], table[:, lay.c] = c_x, c_xi
        orders = np.minimum(self.k, np.arange(n) + 1)  # warm-up: one more node per step
        corrected = np.zeros(n, dtype=bool)
        if self.corrector:
            corrected[:-1] = True if self.full_corrector else orders[:-1] < self.k
        for order in np.unique(orders).tolist():
            rows = np.flatnonzero(orders == order)
            r = ratios[rows, : max(order - 1, 1)]
            if order == 1:
                # The one-node weight α_s ψ_0(z) is B3's x̂₀ coefficient: take it from the B3 derivation.
                table[rows, lay.b.start] = c_x0[rows]
            else:
                w = multistep.node_weights(order, z[rows], r, midpoint=self.midpoint)
                table[rows, lay.b.start : lay.b.start + order] = alpha_s[rows, None] * w
            rows = rows[corrected[rows]]
            if len(rows):
                wc = multistep.node_weights(order, z[rows], ratios[rows, : max(order - 1, 1)], corrector=True)
                table[rows, lay.corrector_a], table[rows, lay.corrector_c] = c_x[rows], c_xi[rows]
                table[rows, lay.corrector_b.start : lay.corrector_b.start + order + 1] = alpha_s[rows, None] * wc
                table[rows, lay.flag] = 1.0
        return table
