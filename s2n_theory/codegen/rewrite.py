"""Rewriting into cancellation-free forms: :func:`stable_rewrite`, :func:`difference` and the
complementary-angle forms of cos, tan and log cos (see the package docstring for the rules)."""

from __future__ import annotations

import sympy as sp

from ..symbols import S, T
from .stable import (
    VARIABLES,
    Expm1,
    Hold,
    Log1mExp,
    Log1p,
    LogCos,
    LogExpm1,
    Softplus,
    StableFunction,
    is_constant,
    positive_number,
)


def stable_rewrite(expr: sp.Expr, overflow_safe: bool = True) -> sp.Expr:
    """Rewrite ``expr`` bottom-up into cancellation-free forms (see the module docstring).

    Every rule is an identity for the values the schedule takes on its domain; the
    caller still measures the result (a rule such as log(ab) = log a + log b needs
    a, b > 0, which holds for the schedule quantities it is applied to). With
    ``overflow_safe=False``, log(expm1(x)) stays as it is (cheaper; overflows only
    for x beyond ~88 in float32 and ~709 in float64).
    """
    global _OVERFLOW_SAFE
    previous, _OVERFLOW_SAFE = _OVERFLOW_SAFE, overflow_safe
    try:
        return _stable_rewrite(expr)
    finally:
        _OVERFLOW_SAFE = previous


_OVERFLOW_SAFE = True


def _stable_rewrite(expr: sp.Expr) -> sp.Expr:
    expr = sp.sympify(expr)
    if expr.is_Atom:
        return expr
    args = tuple(_stable_rewrite(a) for a in expr.args)
    if args != expr.args:
        expr = expr.func(*args)
    if expr.is_Atom:
        return expr
    if isinstance(expr, sp.log):
        return _rewrite_log(expr.args[0])
    if expr.is_Add:
        return _rewrite_add(expr)
    if expr.is_Pow and is_constant(expr.base) and not is_constant(expr.exp):
        return sp.exp(sp.expand(expr.exp * sp.log(expr.base)))
    return expr


def _rewrite_log(arg: sp.Expr) -> sp.Expr:
    if isinstance(arg, sp.exp):
        return arg.args[0]
    if isinstance(arg, Expm1):
        return LogExpm1(arg.args[0]) if _OVERFLOW_SAFE else sp.log(arg)
    if isinstance(-arg, Expm1):
        return Log1mExp((-arg).args[0])
    if arg.is_Pow and arg.exp.is_number and not is_constant(arg.base):
        return arg.exp * _rewrite_log(arg.base)
    if arg.is_Mul:
        coeff, rest = arg.as_independent(*VARIABLES)
        if coeff.is_positive:
            factors = rest.args if rest.is_Mul else (rest,)
            return sp.log(coeff) + sp.Add(*[_rewrite_log(f) for f in factors])
        return sp.log(arg)
    if arg.is_Add:
        const, rest = arg.as_independent(*VARIABLES)
        if positive_number(const) and rest != 0:
            c, core = rest.as_independent(*VARIABLES)
            if isinstance(core, sp.exp) and positive_number(c):
                # log(k + c eᶻ) = log k + softplus(z + log(c/k))
                return sp.log(const) + Softplus(sp.expand(core.args[0] + sp.log(c / const)))
            return sp.log(const) + Log1p(_stable_rewrite(sp.expand(rest / const)))
    if isinstance(arg, sp.cos) and not is_constant(arg.args[0]):
        return Log1p(-2 * sp.sin(arg.args[0] / 2) ** 2)
    return sp.log(arg)


def _split_exp(term: sp.Expr) -> tuple[sp.Expr, sp.Expr] | None:
    """``term = c · exp(z)`` with constant c: (c, z), else None."""
    coeff, core = term.as_independent(*VARIABLES)
    if isinstance(core, sp.exp):
        return coeff, core.args[0]
    return None


def _rewrite_add(expr: sp.Expr) -> sp.Expr:
    terms = list(expr.args)
    const = sp.Add(*[t for t in terms if is_constant(t)])
    # k + c·eᶻ with k = −c  →  c·expm1(z)
    if const != 0:
        for i, term in enumerate(terms):
            split = _split_exp(term)
            if split and sp.simplify(split[0] + const) == 0:
                rest = [t for j, t in enumerate(terms) if j != i and not is_constant(t)]
                replaced = split[0] * Expm1(split[1])
                return _stable_rewrite(sp.Add(*rest)) + replaced if rest else replaced
            # k + c·cos(u) with k = −c  →  −2c sin²(u/2)
            coeff, core = term.as_independent(*VARIABLES)
            if isinstance(core, sp.cos) and sp.simplify(coeff + const) == 0:
                rest = [t for j, t in enumerate(terms) if j != i and not is_constant(t)]
                return sp.Add(*rest) - 2 * coeff * sp.sin(core.args[0] / 2) ** 2
            # 1 − a·cos²(u) with a = 1/cos²v  →  a·sin(u − v)·sin(u + v)
            if (core.is_Pow and core.exp == 2 and isinstance(core.base, sp.cos) and positive_number(-coeff)
                    and positive_number(const)):
                a = -coeff / const
                v = sp.acos(1 / sp.sqrt(a))
                u = core.base.args[0]
                rest = [t for j, t in enumerate(terms) if j != i and not is_constant(t)]
                return sp.Add(*rest) + const * a * sp.sin(sp.expand(u - v)) * sp.sin(sp.expand(u + v))
    # c·eᵃ − c·eᵇ  →  c·eᵇ·expm1(a − b)
    for i, first in enumerate(terms):
        a = _split_exp(first)
        if not a:
            continue
        for j in range(i + 1, len(terms)):
            b = _split_exp(terms[j])
            if b and sp.simplify(a[0] + b[0]) == 0:
                rest = [t for k, t in enumerate(terms) if k not in (i, j)]
                diff = sp.expand(a[1] - b[1])
                return sp.Add(*rest) + a[0] * sp.exp(b[1]) * Expm1(diff)
    # a·softplus(x) + R  →  a·softplus(−x) + (a·x + R) when a·x + R cancels
    for i, term in enumerate(terms):
        coeff, core = term.as_independent(*VARIABLES)
        if isinstance(core, Softplus):
            rest = sp.Add(*[t for j, t in enumerate(terms) if j != i])
            merged = sp.expand(rest + coeff * core.args[0])
            if sp.count_ops(merged) < sp.count_ops(rest):
                return coeff * Softplus(sp.expand(-core.args[0])) + merged
    # c·√Q + R  →  (c²Q − R²)/(c√Q − R) when c²Q − R² cancels symbolically
    for i, term in enumerate(terms):
        coeff, core = term.as_independent(*VARIABLES)
        if core.is_Pow and core.exp == sp.Rational(1, 2):
            rest = sp.Add(*[t for j, t in enumerate(terms) if j != i])
            if rest == 0 or core.base.has(sp.sqrt(core.base)):
                continue
            numerator = sp.expand(coeff**2 * core.base - rest**2)
            if sp.count_ops(numerator) < sp.count_ops(sp.expand(coeff**2 * core.base)):
                return _stable_rewrite(numerator) / (coeff * core - rest)
    return expr


def _hold_adds(expr: sp.Expr) -> sp.Expr:
    """Wrap the Add factors of a product in :class:`Hold`."""
    if expr.is_Add and not is_constant(expr):
        return Hold(expr)
    if expr.is_Mul:
        return sp.Mul(*[_hold_adds(f) for f in expr.args])
    if expr.is_Pow and expr.base.is_Add and not is_constant(expr.base):
        return Hold(expr.base) ** expr.exp
    return expr



def difference(expr: sp.Expr) -> sp.Expr:
    """h(t) − h(s) for h = ``expr`` (in t), built so that nearby t and s do not cancel.

    Polynomial and rational parts are factored (so ``t − s`` appears and is exact in
    floating point), and differences of exp/log/softplus/trig are turned into
    expm1/log1p/sin of the difference of their arguments.
    """
    expr = sp.sympify(expr)
    at_s = expr.subs(T, S)
    if is_constant(expr):
        return sp.Integer(0)
    if T not in expr.free_symbols:
        return expr - at_s
    if expr.is_Add:
        return sp.Add(*[difference(term) for term in expr.args])
    if not expr.has(StableFunction) and expr.is_rational_function(T):
        return _hold_adds(sp.factor(sp.together(expr - at_s)))
    if expr.is_Pow and is_constant(expr.base):
        return difference(sp.exp(expr.exp * sp.log(expr.base)))
    if expr.is_Mul:
        coeff, rest = expr.as_independent(T)
        if coeff != 1:
            return coeff * difference(rest)
        first, *others = rest.args
        second = sp.Mul(*others)
        return difference(first) * second + first.subs(T, S) * difference(second)
    arg = expr.args[0] if expr.args else None
    if isinstance(expr, Hold):
        return difference(arg)
    if isinstance(expr, (sp.exp, Expm1)):
        return sp.exp(arg.subs(T, S)) * Expm1(difference(arg))
    if isinstance(expr, sp.log):
        return Log1p(difference(arg) / arg.subs(T, S))
    if isinstance(expr, Log1p):
        return Log1p(difference(arg) / (1 + arg.subs(T, S)))
    if isinstance(expr, Softplus):
        # log(1 + e^{u_t}) − log(1 + e^{u_s}) = log1p(sigmoid(u_s) expm1(u_t − u_s))
        return Log1p(sp.exp(-Softplus(-arg.subs(T, S))) * Expm1(difference(arg)))
    if isinstance(expr, LogExpm1):
        return difference(arg) + difference(Log1mExp(-arg))
    if isinstance(expr, Log1mExp):
        u_s = arg.subs(T, S)
        return Log1p(sp.exp(u_s) * Expm1(difference(arg)) / Expm1(u_s))
    if isinstance(expr, sp.sin):
        return 2 * sp.cos((arg + arg.subs(T, S)) / 2) * sp.sin(difference(arg) / 2)
    if isinstance(expr, sp.cos):
        return -2 * sp.sin((arg + arg.subs(T, S)) / 2) * sp.sin(difference(arg) / 2)
    if isinstance(expr, sp.tan):
        return sp.sin(difference(arg)) / (sp.cos(arg) * sp.cos(arg.subs(T, S)))
    if expr.is_Pow and is_constant(expr.exp) and not is_constant(expr.base):
        base_s = expr.base.subs(T, S)
        if expr.exp.is_Integer and expr.exp > 0:
            n = int(expr.exp)
            return difference(expr.base) * sp.Add(*[expr.base**k * base_s ** (n - 1 - k) for k in range(n)])
        return base_s**expr.exp * Expm1(expr.exp * Log1p(difference(expr.base) / base_s))
    return expr - at_s


def _complement_angle(u: sp.Expr) -> sp.Expr | None:
    """a·(t* − t) (with t* − t held exact) for u = a t + b when u(t*) = π/2 at a rational t*, else None."""
    u = sp.expand(u)
    if not u.is_polynomial(T) or sp.degree(u, T) != 1:
        return None
    a, b = sp.Poly(u, T).all_coeffs()
    if not (is_constant(a) and is_constant(b)):
        return None
    t_star = sp.simplify((sp.pi / 2 - b) / a)
    if not t_star.is_Rational:
        return None
    return a * Hold(t_star - T)


def log_cos_complement(expr: sp.Expr) -> sp.Expr:
    """Expand logs and replace each log cos(u) that has an exact complement by :class:`LogCos`."""
    expanded = sp.expand_log(sp.sympify(expr), force=True)

    def swap(e: sp.Expr) -> sp.Expr:
        w = _complement_angle(e.args[0].args[0])
        return LogCos(e.args[0].args[0], w) if w is not None else e

    return expanded.replace(lambda e: isinstance(e, sp.log) and isinstance(e.args[0], sp.cos), swap)


def trig_complement(expr: sp.Expr) -> sp.Expr:
    """cos(u) → sin(a(t* − t)) and tan(u) → sin(u)/sin(a(t* − t)) for u = a t + b with u(t*) = π/2.

    Applied only when t* is an exact rational (for instance the end t = 1 of a cosine
    schedule): t* − t is then computed exactly near t*, where cos(u) → 0 would otherwise
    lose every digit of u's rounding.
    """

    def complement(u: sp.Expr) -> sp.Expr | None:
        w = _complement_angle(u)
        return sp.sin(w) if w is not None else None

    def visit(e: sp.Expr) -> sp.Expr:
        if e.is_Atom:
            return e
        e = e.func(*[visit(a) for a in e.args])
        if isinstance(e, sp.cos):
            c = complement(e.args[0])
            return c if c is not None else e
        if isinstance(e, sp.tan):
            c = complement(e.args[0])
            return sp.sin(e.args[0]) / c if c is not None else e
        return e

    return visit(sp.sympify(expr))
