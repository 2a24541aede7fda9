"""The accuracy targets of the export and the record of the forms chosen to meet them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import sympy as sp

from .functions import EXPORTED

RTOL64 = 1e-12
"""Target relative error in float64 against 50-digit evaluation of the schedule's expressions."""
RTOL32 = 1e-5
"""Target relative error in float32."""
SELECTION_MARGIN = 0.1
"""A candidate is accepted when its measured error is below this fraction of the target."""
NEWTON_ITERATIONS = 60
"""Upper bound on safeguarded Newton steps in the generated inverse (each step at least bisects)."""


@dataclass
class Candidate:
    """One form of an exported function, with its measured relative errors and its operation count."""

    label: str
    expr: sp.Expr | None  # None: the generated Newton inverse
    err64: float = math.inf
    err32: float = math.inf
    cost: int = 0

    @property
    def score(self) -> float:
        return max(self.err64 / RTOL64, self.err32 / RTOL32)


@dataclass
class ExportForms:
    """The stable forms chosen for one schedule, with the measured errors that chose them."""

    name: str
    t_min: float
    t_max: float
    log_snr_min: float
    log_snr_max: float
    exprs: dict[str, sp.Expr | None]
    inverse_closed_form: bool
    variance_preserving: bool
    chosen: dict[str, Candidate] = field(default_factory=dict)
    candidates: dict[str, list[Candidate]] = field(default_factory=dict)
    fallback: str = ""
    """Empty when the forms were selected by measurement; otherwise why they are the plain derived forms
    (the selection ran past its time limit), printed in the report and in the generated code."""
    sources: dict[tuple, str] = field(default_factory=dict, compare=False, repr=False)
    """Generated module text per Python backend and printed content, filled on first use: the copies that
    :func:`~s2n_theory.codegen.selection.export_forms` hands out share it, and the verification cache stores it
    with the forms, so printing the module (a few tenths of a second per schedule) happens once."""

    def report(self) -> str:
        lines = [f"note: {self.fallback}"] if self.fallback else []
        for name in EXPORTED:
            c = self.chosen[name]
            lines.append(f"{name:13} {c.label:34} err64={c.err64:.1e} err32={c.err32:.1e} cost={c.cost}")
        return "\n".join(lines)

