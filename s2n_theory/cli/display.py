"""Expressions as ``s2n show`` and ``s2n derive`` print them: simplified under a time limit.

SymPy's raw forms of the built-ins are correct but hard to read (σ of vp-cosine comes out as
``sqrt(-cos(…)**2/cos(pi/252)**2 + 1)``). :func:`readable` tries a few rewrites of every
expression in one child process (:func:`s2n_theory.time_limit.latest_within`), keeps for each
the least cluttered form found in time (:func:`clutter`), and falls back to the raw form
for whatever the time limit cut off. ``--raw`` skips all of it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import sympy as sp

from ..time_limit import TimeLimitExceeded, latest_within

SIMPLIFY_SECONDS = 8.0
"""Wall-clock budget for simplifying all the expressions of one command."""

def _together_inside(expr: sp.Expr) -> sp.Expr:
    """Combine the fractions inside roots and logarithms, where they read worst."""
    return expr.replace(lambda e: isinstance(e, (sp.Pow, sp.log)) and not e.is_Atom,
                        lambda e: e.func(*[sp.together(a) for a in e.args]))


_REWRITES: tuple[Callable[[sp.Expr], sp.Expr], ...] = (
    sp.cancel,
    lambda e: sp.powdenest(sp.together(e)),
    lambda e: sp.powdenest(sp.together(_together_inside(e))),
    sp.trigsimp,
    lambda e: sp.simplify(e, ratio=1.0),
    lambda e: sp.simplify(sp.together(_together_inside(e))),
)
"""Tried in order, cheap to costly; a rewrite is kept only if it reads better (:func:`clutter`)."""


def _nested_divisions(expr: sp.Basic, inside: bool = False) -> int:
    own = int(inside and expr.is_Pow and expr.exp.is_number and bool(expr.exp.is_negative))
    inner = inside or isinstance(expr, sp.Function) or (expr.is_Pow and not expr.exp.is_Integer)
    return own + sum(_nested_divisions(a, inner) for a in expr.args)


def clutter(expr: sp.Expr) -> int:
    """How hard a form is to read: SymPy's operation count, plus 4 per fraction nested in a root or function."""
    return int(sp.count_ops(expr)) + 4 * _nested_divisions(expr)


def _shorter(candidate: sp.Expr, best: sp.Expr) -> bool:
    return clutter(candidate) < clutter(best)


def _simplify_all(exprs: Sequence[sp.Expr]) -> Iterator[list[sp.Expr]]:
    """Yield the best forms so far after every rewrite of every expression (the caller keeps the last)."""
    best = list(exprs)
    yield list(best)
    for rewrite in _REWRITES:
        for i, expr in enumerate(exprs):
            try:
                candidate = rewrite(expr)
            except (TypeError, ValueError, NotImplementedError, RecursionError, AttributeError):
                continue
            if _shorter(candidate, best[i]):  # SymPy's rewrites are identities: only the length changes
                best[i] = candidate
                yield list(best)


def readable(exprs: Sequence[sp.Expr | None], seconds: float = SIMPLIFY_SECONDS) -> list[sp.Expr | None]:
    """Each expression in its shortest form found within ``seconds`` in all (None entries pass through)."""
    present = [i for i, e in enumerate(exprs) if e is not None]
    out = list(exprs)
    if not present:
        return out
    try:
        found = latest_within(_simplify_all, ([exprs[i] for i in present],), seconds)
    except (TimeLimitExceeded, RuntimeError):
        return out
    for i, expr in zip(present, found, strict=True):
        out[i] = expr
    return out
