"""The solver registry: name → :class:`Solver` (order, supported ρ, NFE, per-grid coefficient table).

Built-in entries, one file each: ``exact`` (B3/B4), ``euler`` (Euler–Maruyama on B2), ``heun``
(ODE only), and the B5 multistep exponential integrators ``ms2``, ``ms3``, ``ms4``, their
no-extra-NFE corrector versions ``ms2-pc``, ``ms3-pc`` and ``ms2-midpoint``.
"""

from __future__ import annotations

from ...errors import S2NError
from .base import Layout, OneStep, Solver
from .euler import Euler
from .exact import Exact
from .heun import Heun
from .multistep import Multistep

SOLVERS: dict[str, Solver] = {}


def register(solver: Solver) -> Solver:
    """Add ``solver`` to :data:`SOLVERS` under its name (replacing one of the same name)."""
    SOLVERS[solver.name] = solver
    return solver


def get_solver(name: str) -> Solver:
    if name not in SOLVERS:
        raise S2NError(f"unknown method {name!r} (choose {', '.join(SOLVERS)})")
    return SOLVERS[name]


for _solver in (Exact(), Euler(), Heun(), Multistep(2), Multistep(3), Multistep(4), Multistep(2, corrector=True),
                Multistep(3, corrector=True), Multistep(2, midpoint=True)):
    register(_solver)

__all__ = ["SOLVERS", "Euler", "Exact", "Heun", "Layout", "Multistep", "OneStep", "Solver", "get_solver", "register"]
