"""What a solver is: a name, its order, the ρ it supports, its NFE, and a per-grid coefficient table.

Every solver in the registry is one affine recipe that the engine's loop runs with tensor
arithmetic only. With D_n the (B4-transformed) prediction x̂₀ at grid time t_n and a history
[D_n, D_{n−1}, …, D_{n−K+1}] (most recent first), step n is

    predictor:  x̃ = A x + Σ_j B_j D_{n−j} + C ξ
    corrector:  (only where the row's flag is set) evaluate E = x̂₀(x̃, t_{n+1}), then
                x = A' x + P x̃ + B'_0 E + Σ_j B'_{j+1} D_{n−j} + C' ξ

and, when the solver ``reuses`` E, E is D_{n+1} (no extra NFE, the UniPC idea); otherwise
D_{n+1} is evaluated afresh at the corrected x (Heun). A table row holds
(A, B_0 … B_{K−1}, C) and, for a solver with a corrector, (A', P, C', B'_0 … B'_K, flag).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import S2NError
from ...schedule import Schedule
from ..coefficients import Rho, rho_values, step_table_coefficients


@dataclass(frozen=True)
class Layout:
    """Column positions of a table with history length K and an optional corrector."""

    history: int
    corrector: bool

    @property
    def width(self) -> int:
        return self.history + 2 + ((self.history + 5) if self.corrector else 0)

    @property
    def a(self) -> int:
        return 0

    @property
    def b(self) -> slice:
        return slice(1, 1 + self.history)

    @property
    def c(self) -> int:
        return 1 + self.history

    @property
    def corrector_a(self) -> int:
        return self.history + 2

    @property
    def corrector_p(self) -> int:
        return self.history + 3

    @property
    def corrector_c(self) -> int:
        return self.history + 4

    @property
    def corrector_b(self) -> slice:
        return slice(self.history + 5, 2 * self.history + 6)

    @property
    def flag(self) -> int:
        return 2 * self.history + 6


class Solver:
    """Base class of the registry's entries (see the module docstring).

    Subclasses set ``name``, ``order`` (deterministic order of convergence), ``weak_order``
    (for ρ > 0, None where only ρ = 0 is supported), ``rho_zero_only``, ``history``,
    ``corrector``, ``reuse`` and ``claims``, and implement :meth:`coefficients`.
    """

    name: str = ""
    order: int = 1
    weak_order: int | None = 1
    rho_zero_only: bool = False
    history: int = 1
    corrector: bool = False
    reuse: bool = False
    claims: tuple[str, ...] = ()
    summary: str = ""

    @property
    def layout(self) -> Layout:
        return Layout(self.history, self.corrector)

    @property
    def supported_rho(self) -> str:
        return "rho = 0" if self.rho_zero_only else "any rho(t) >= 0"

    def nfe(self, steps: int) -> int:
        """Denoiser calls for ``steps`` steps (without the optional final denoising call)."""
        return steps + (steps - 1 if self.corrector and not self.reuse else 0)

    def steps_for_nfe(self, nfe: int) -> int:
        """The most steps whose :meth:`nfe` does not exceed ``nfe`` (at least one)."""
        steps = 1
        while self.nfe(steps + 1) <= nfe:
            steps += 1
        return steps

    def check_rho(self, rho: Rho) -> None:
        if self.rho_zero_only and (callable(rho) or float(rho) != 0.0):
            raise S2NError(f"{self.name} integrates the probability-flow ODE: rho must be 0")

    def coefficients(self, schedule: Schedule, times: np.ndarray, rho: Rho, delta: float) -> np.ndarray:
        """The (steps, layout.width) float64 table for the decreasing grid ``times``."""
        raise NotImplementedError

    def empty_table(self, steps: int) -> np.ndarray:
        return np.zeros((steps, self.layout.width))

    def __repr__(self) -> str:
        return f"<solver {self.name}: order {self.order}, {self.supported_rho}>"


class OneStep(Solver):
    """A single-evaluation step x_s = c_x x + c_θ x̂₀ + c_ξ ξ from the one numeric form of B2–B4.

    Subclasses name the step's ``kind`` (``backward.step_coefficients``: "exact" or "euler") and
    where ρ(t) is read on each step (``rho_at``: "start" or "midpoint").
    """

    kind: str = ""
    rho_at: str = "start"

    def coefficients(self, schedule: Schedule, times: np.ndarray, rho: Rho, delta: float) -> np.ndarray:
        t, s = times[:-1], times[1:]
        table, lay = self.empty_table(len(t)), self.layout
        rho_times = t if self.rho_at == "start" else 0.5 * (t + s)
        table[:, lay.a], table[:, lay.b.start], table[:, lay.c] = step_table_coefficients(
            self.kind, schedule, t, s, rho_values(rho, rho_times), delta)
        return table
