"""The SymPy symbols every derivation shares.

:data:`T` is the time of the forward marginal q(x_t | x_0), :data:`S` the earlier
time of a transition or a backward step (s < t), and :data:`LAMBDA` the log-SNR
value in which the inverse λ → t is written.
"""

from __future__ import annotations

import sympy as sp

T = sp.Symbol("t", positive=True)
"""Time, positive (data at t = 0): every schedule expression is written in T."""

S = sp.Symbol("s", positive=True)
"""The earlier time of a transition s < t (F3, F4) and the target of a backward step (B3)."""

LAMBDA = sp.Symbol("lambda", real=True)
"""A log-SNR value: the variable of the inverse λ → t."""
