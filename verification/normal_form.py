"""A fast, sound zero test for schedule identities: rational normal form in exponential generators.

Most residuals of the B and C claims on a concrete schedule are rational functions
of a few real exponentials of t and s (e^{B(t)} for VP rates, e^{λ(t)}) and of square
roots of such functions. SymPy's
``simplify`` struggles with them, but the following rewrites are exact identities
(for the positive quantities α, σ, variances that appear, which is what
``expand_log(force=True)`` and ``powsimp(force=True)`` assume, as in
:mod:`verification.prove`):

1. ``doit``, split logarithms, merge powers (``exp(c log u) → u^c``), split
   ``exp(a(t) + b(s))`` into one factor per time, split powers of products
   (``(a b)^c → a^c b^c``, again for positive a, b); trigonometric functions stay atoms;
2. every ``exp(c·m)`` with rational c and the same primitive part m becomes
   ``Y_m^k`` with an integer k (Y_m = exp(m/q), q the lcm of the denominators);
3. ``cancel`` over a common denominator, which decides whether a rational function
   is identically 0.

If the result is exactly 0 the identity holds; otherwise nothing is concluded and the
identity goes to :func:`verification.prove.prove_identities` unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import reduce

import sympy as sp

from s2n_theory.budget import BudgetExceeded, latest_within

Identity = tuple[str, sp.Expr, sp.Expr]

NORMAL_FORM_SECONDS = 6.0
"""Budget for the normal form of one residual before handing it to prove_identities."""


def _generators(expr: sp.Expr) -> dict[sp.Expr, sp.Expr]:
    groups: dict[sp.Expr, list[tuple[sp.Expr, sp.Rational]]] = {}
    for atom in expr.atoms(sp.exp):
        if not atom.args[0].is_real:
            continue
        content, primitive = sp.sympify(atom.args[0]).as_content_primitive()
        if primitive.could_extract_minus_sign():
            content, primitive = -content, -primitive
        if not content.is_Rational:
            continue
        groups.setdefault(primitive, []).append((atom, sp.Rational(content)))
    replacements: dict[sp.Expr, sp.Expr] = {}
    for index, members in enumerate(groups.values()):
        q = reduce(sp.ilcm, [c.q for _, c in members], 1)
        y = sp.Symbol(f"_Y{index}", positive=True)
        for atom, c in members:
            replacements[atom] = y ** int(c * q)
    return replacements


def _split_exponentials(expr: sp.Expr) -> sp.Expr:
    """exp(a(t) + b(s)) → exp(a(t)) exp(b(s)): one factor per set of free symbols, arguments expanded."""
    replacements = {}
    for atom in expr.atoms(sp.exp):
        groups: dict[frozenset, sp.Expr] = {}
        for term in sp.Add.make_args(sp.expand(atom.args[0])):
            key = frozenset(term.free_symbols)
            groups[key] = groups.get(key, sp.Integer(0)) + term
        replacements[atom] = sp.Mul(*[sp.exp(g) for g in groups.values()])
    return expr.xreplace(replacements)


def rational_normal_form(expr: sp.Expr) -> sp.Expr:
    """The residual after the exact rewrites above (0 proves the identity)."""
    e = sp.sympify(expr).doit()
    e = sp.powsimp(sp.expand_log(e, force=True), force=True)
    e = sp.expand_power_base(e, force=True)
    e = _split_exponentials(e)
    e = e.xreplace(_generators(e))
    return sp.cancel(sp.together(e))


def _steps(expr: sp.Expr) -> Iterator[bool]:
    yield rational_normal_form(expr) == 0


def is_zero(expr: sp.Expr, seconds: float | None = None) -> bool:
    """True if the rational normal form of ``expr`` is 0 within ``seconds`` (forked, so it can be abandoned)."""
    if sp.sympify(expr) == 0:
        return True
    try:
        return bool(latest_within(_steps, (expr,), NORMAL_FORM_SECONDS if seconds is None else seconds))
    except (BudgetExceeded, RuntimeError):
        return False


def prepare(identities: Sequence[Identity], seconds: float | None = None) -> list[Identity]:
    """Identities whose residual has a zero rational normal form become ``(label, 0, 0)``; the rest are kept
    as they are for :func:`verification.prove.prove_identities` (SymPy's rewrites, then the numeric fallback)."""
    out: list[Identity] = []
    for label, lhs, rhs in identities:
        if is_zero(sp.sympify(lhs) - sp.sympify(rhs), seconds):
            out.append((label, sp.Integer(0), sp.Integer(0)))
        else:
            out.append((label, lhs, rhs))
    return out


def prove(identities: Sequence[Identity], schedule, ranges=None, level: str = "quick"):
    """:func:`verification.prove.prove_identities` after :func:`prepare`."""
    from .prove import prove_identities

    return prove_identities(prepare(identities), schedule, ranges, level)
