"""What the code generator exports and the record it reads it from.

:class:`ScheduleFunctions` holds a schedule's expressions as plain SymPy: the
code generator reads nothing else, so it depends on no schedule or derivation
module (:func:`s2n_theory.numeric_schedule.schedule_functions` builds the record
from a :class:`~s2n_theory.schedule.Schedule`, with f and g² from F1 and the
transition from F3).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..arrays import NUMERIC_BACKENDS
from ..errors import S2NError


class CodegenError(S2NError):
    """A schedule cannot be exported (unknown function, general schedule, bad backend)."""


ONE_ARG = ("alpha", "sigma", "log_snr", "snr", "f", "g2", "dlog_snr")
TWO_ARG = ("alpha_ts", "sigma2_ts")
EXPORTED = (*ONE_ARG, *TWO_ARG, "t_of_log_snr")
PYTHON_BACKENDS = NUMERIC_BACKENDS
"""Backends whose generated module can be loaded in process: the package's array backends."""
BACKENDS = (*PYTHON_BACKENDS, "c", "latex")


@dataclass(frozen=True)
class ScheduleFunctions:
    """A schedule's functions as SymPy expressions: the only input of the code generator.

    ``alpha … dlog_snr`` are expressions in :data:`~s2n_theory.symbols.T`, ``f`` and ``g2``
    the F1 coefficients, ``alpha_ts`` and ``sigma2_ts`` the F3 transition in T and
    :data:`~s2n_theory.symbols.S`, and ``inverse_log_snr`` the closed-form t(λ) in
    :data:`~s2n_theory.symbols.LAMBDA` (None when there is none). Records compare by value.
    """

    name: str
    t_min: float
    t_max: float
    alpha: sp.Expr
    sigma: sp.Expr
    log_snr: sp.Expr
    snr: sp.Expr
    f: sp.Expr
    g2: sp.Expr
    dlog_snr: sp.Expr
    alpha_ts: sp.Expr
    sigma2_ts: sp.Expr
    inverse_log_snr: sp.Expr | None

    @property
    def is_general(self) -> bool:
        """True for the general schedule (undefined α(t), λ(t)): symbolic only, nothing to evaluate."""
        undefined = sp.core.function.AppliedUndef
        return bool(self.log_snr.atoms(undefined) or self.alpha.atoms(undefined))
