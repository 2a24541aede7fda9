"""The SymPy symbols every schedule expression is written in.

:data:`T` is the time of a schedule, :data:`S` the earlier time s < t of a
transition (F3, F4) and :data:`LAMBDA` the log-SNR value in which the inverse
λ → t is written. They live here, below every other module, so that the
derivations and the code generator share them without importing each other.
"""

from __future__ import annotations

import sympy as sp

T = sp.Symbol("t", positive=True)
"""The time symbol every schedule expression is written in."""

S = sp.Symbol("s", positive=True)
"""The earlier time of a transition s < t (F3, F4)."""

LAMBDA = sp.Symbol("lambda", real=True)
"""The log-SNR value the inverse λ → t is written in."""
