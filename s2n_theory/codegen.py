"""Export a schedule as standalone, numerically stable code (numpy, torch, jax, C, LaTeX).

The exported functions are ``alpha, sigma, log_snr, snr, f, g2, dlog_snr`` of t,
the transition coefficients ``alpha_ts(t, s)``, ``sigma2_ts(t, s)`` (F3) and the
inverse ``t_of_log_snr(lam)``. Their formulas come from the schedule's SymPy
expressions (F1 for f and g², F3 for the transition), never typed by hand.

How the code is kept stable
---------------------------
1. :func:`stable_rewrite` rewrites an expression bottom-up into forms without
   cancellation: ``exp(x) − 1 → expm1(x)``, ``log(1 + y) → log1p(y)``,
   ``log(1 + eˣ) → softplus(x)``, ``log(eˣ − 1) → logexpm1(x)``,
   ``log(1 − eˣ) → log1mexp(x)``, ``c eᵃ − c eᵇ → c eᵇ expm1(a − b)``,
   ``softplus(x) − x → softplus(−x)``, ``1 − cos u → 2 sin²(u/2)``,
   ``1 − cos²u/cos²v → sin(u − v) sin(u + v)/cos²v``, ``log cos u → log1p(−2 sin²(u/2))``
   and the conjugate form of ``√Q − R`` when ``Q − R²`` cancels symbolically.
2. For every exported function several mathematically equal *candidates* are
   built: the rewritten derivation, forms through log α (``f = (log α)′``,
   ``α_{t|s} = e^{log α_t − log α_s}``), the F1/F3 identities
   (``g² = −σ² λ′``, ``σ²_{t|s} = −σ_t² expm1(λ_t − λ_s)``) and, for variance
   preserving schedules (α² + σ² = 1), ``σ² = −expm1(2 log α)``, ``g² = −2f``.
3. :func:`export_forms` evaluates every candidate in float64 and float32 on
   probe points that include both endpoints and points crowding them, measures
   its error against the schedule's original expressions evaluated by mpmath at
   50 digits, and keeps the cheapest candidate within the targets (1e-12 relative
   in float64, 1e-5 in float32); if none is, the most accurate one. The choice
   is therefore measured, not assumed; the tests then check the result on other
   points.

The inverse is SymPy's closed form (rewritten the same way) when SymPy finds one
and it meets the targets, otherwise a vectorised safeguarded Newton iteration
(Newton steps that leave the bisection bracket are replaced by bisection).

All SymPy and mpmath work happens once, when a schedule is exported; the
generated code contains only arithmetic on its backend.
"""

from __future__ import annotations

import keyword
import linecache
import math
import re
import types
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import mpmath
import numpy as np
import sympy as sp
from mpmath.libmp import prec_to_dps

from .errors import S2NError
from .expressions import T

if TYPE_CHECKING:
    from .schedule import Schedule


class CodegenError(S2NError):
    """A schedule cannot be exported (unknown function, general schedule, bad backend)."""


def _symbols() -> tuple[sp.Symbol, sp.Symbol]:
    from .schedule import LAMBDA, S

    return S, LAMBDA


ONE_ARG = ("alpha", "sigma", "log_snr", "snr", "f", "g2", "dlog_snr")
TWO_ARG = ("alpha_ts", "sigma2_ts")
EXPORTED = (*ONE_ARG, *TWO_ARG, "t_of_log_snr")
BACKENDS = ("numpy", "torch", "jax", "c", "latex")
PYTHON_BACKENDS = ("numpy", "torch", "jax")

RTOL64 = 1e-12
"""Target relative error in float64 against 50-digit evaluation of the schedule's expressions."""
RTOL32 = 1e-5
"""Target relative error in float32."""
SELECTION_MARGIN = 0.1
"""A candidate is accepted when its measured error is below this fraction of the target."""
REFERENCE_DPS = 50
NEWTON_ITERATIONS = 60
"""Upper bound on safeguarded Newton steps in the generated inverse (each step at least bisects)."""


# ---------------------------------------------------------------------------- stable functions
class _StableFunction(sp.Function):
    """A one-argument function with an elementary definition, kept unevaluated for printing."""

    nargs = 1
    latex_name = ""

    def elementary(self) -> sp.Expr:  # pragma: no cover - overridden
        raise NotImplementedError

    def _eval_evalf(self, prec: int) -> sp.Expr:
        return self.elementary().evalf(prec_to_dps(prec))

    def _latex(self, printer: Any) -> str:
        return rf"\operatorname{{{self.latex_name}}}\left({printer._print(self.args[0])}\right)"

    def _sympystr(self, printer: Any) -> str:
        return f"{self.latex_name}({printer._print(self.args[0])})"


class Expm1(_StableFunction):
    """eˣ − 1 without cancellation near x = 0."""

    latex_name = "expm1"

    def elementary(self) -> sp.Expr:
        return sp.exp(self.args[0]) - 1


class Log1p(_StableFunction):
    """log(1 + x) without cancellation near x = 0."""

    latex_name = "log1p"

    def elementary(self) -> sp.Expr:
        return sp.log(1 + self.args[0])


class Softplus(_StableFunction):
    """log(1 + eˣ), finite for every x (log-sigmoid is −softplus(−x))."""

    latex_name = "softplus"

    def elementary(self) -> sp.Expr:
        return sp.log(1 + sp.exp(self.args[0]))


class LogExpm1(_StableFunction):
    """log(eˣ − 1) for x > 0, as x + log(−expm1(−x)) so that large x cannot overflow."""

    latex_name = "logexpm1"

    def elementary(self) -> sp.Expr:
        return sp.log(sp.exp(self.args[0]) - 1)


class Log1mExp(_StableFunction):
    """log(1 − eˣ) for x < 0, as log(−expm1(x))."""

    latex_name = "log1mexp"

    def elementary(self) -> sp.Expr:
        return sp.log(1 - sp.exp(self.args[0]))


class Hold(_StableFunction):
    """The identity, wrapping a difference such as ``1 − t`` or ``t − s`` so that SymPy does not
    distribute a coefficient over it: ``c·(1 − t)`` is exact near t = 1, ``c − c·t`` is not."""

    latex_name = ""

    def elementary(self) -> sp.Expr:
        return self.args[0]

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return sp.Integer(1)

    def _latex(self, printer: Any) -> str:
        return rf"\left({printer._print(self.args[0])}\right)"

    def _sympystr(self, printer: Any) -> str:
        return f"({printer._print(self.args[0])})"


def _hold_adds(expr: sp.Expr) -> sp.Expr:
    """Wrap the Add factors of a product in :class:`Hold`."""
    if expr.is_Add and not _is_const(expr):
        return Hold(expr)
    if expr.is_Mul:
        return sp.Mul(*[_hold_adds(f) for f in expr.args])
    if expr.is_Pow and expr.base.is_Add and not _is_const(expr.base):
        return Hold(expr.base) ** expr.exp
    return expr


class LogCos(_StableFunction):
    """log cos(u), given u and w = π/2 − u each computed without cancellation (w from an exact t* − t).

    Evaluated as log1p(−2 sin²(u/2)) for u < π/4 and log(sin w) beyond: the first keeps the
    digits of log cos u ≈ −u²/2 near u = 0, the second those of cos u → 0 near u = π/2.
    """

    nargs = 2
    latex_name = "logcos"

    def elementary(self) -> sp.Expr:
        return sp.log(sp.cos(self.args[0]))

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        u = self.args[0]
        return -sp.tan(u) if argindex == 1 else sp.Integer(0)

    def _latex(self, printer: Any) -> str:
        return rf"\log\cos\left({printer._print(self.args[0])}\right)"

    def _sympystr(self, printer: Any) -> str:
        return f"log(cos({printer._print(self.args[0])}))"


STABLE_FUNCTIONS = (Expm1, Log1p, Softplus, LogExpm1, Log1mExp, Hold, LogCos)


def elementary(expr: sp.Expr) -> sp.Expr:
    """Replace the stable functions by their elementary definitions (for checks and LaTeX)."""
    return sp.sympify(expr).replace(lambda e: isinstance(e, _StableFunction), lambda e: e.elementary())


# ---------------------------------------------------------------------------- rewriting
def _variables() -> tuple[sp.Symbol, ...]:
    S, LAMBDA = _symbols()
    return (T, S, LAMBDA)


def _is_const(expr: sp.Expr) -> bool:
    return not (expr.free_symbols & set(_variables()))


def _positive_number(expr: sp.Expr) -> bool:
    return _is_const(expr) and bool(expr.is_extended_real) and expr.is_positive is True


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
    if expr.is_Pow and _is_const(expr.base) and not _is_const(expr.exp):
        return sp.exp(sp.expand(expr.exp * sp.log(expr.base)))
    return expr


def _rewrite_log(arg: sp.Expr) -> sp.Expr:
    if isinstance(arg, sp.exp):
        return arg.args[0]
    if isinstance(arg, Expm1):
        return LogExpm1(arg.args[0]) if _OVERFLOW_SAFE else sp.log(arg)
    if isinstance(-arg, Expm1):
        return Log1mExp((-arg).args[0])
    if arg.is_Pow and arg.exp.is_number and not _is_const(arg.base):
        return arg.exp * _rewrite_log(arg.base)
    if arg.is_Mul:
        coeff, rest = arg.as_independent(*_variables())
        if coeff.is_positive:
            factors = rest.args if rest.is_Mul else (rest,)
            return sp.log(coeff) + sp.Add(*[_rewrite_log(f) for f in factors])
        return sp.log(arg)
    if arg.is_Add:
        const, rest = arg.as_independent(*_variables())
        if _positive_number(const) and rest != 0:
            c, core = rest.as_independent(*_variables())
            if isinstance(core, sp.exp) and _positive_number(c):
                # log(k + c eᶻ) = log k + softplus(z + log(c/k))
                return sp.log(const) + Softplus(sp.expand(core.args[0] + sp.log(c / const)))
            return sp.log(const) + Log1p(_stable_rewrite(sp.expand(rest / const)))
    if isinstance(arg, sp.cos) and not _is_const(arg.args[0]):
        return Log1p(-2 * sp.sin(arg.args[0] / 2) ** 2)
    return sp.log(arg)


def _split_exp(term: sp.Expr) -> tuple[sp.Expr, sp.Expr] | None:
    """``term = c · exp(z)`` with constant c: (c, z), else None."""
    coeff, core = term.as_independent(*_variables())
    if isinstance(core, sp.exp):
        return coeff, core.args[0]
    return None


def _rewrite_add(expr: sp.Expr) -> sp.Expr:
    terms = list(expr.args)
    const = sp.Add(*[t for t in terms if _is_const(t)])
    # k + c·eᶻ with k = −c  →  c·expm1(z)
    if const != 0:
        for i, term in enumerate(terms):
            split = _split_exp(term)
            if split and sp.simplify(split[0] + const) == 0:
                rest = [t for j, t in enumerate(terms) if j != i and not _is_const(t)]
                replaced = split[0] * Expm1(split[1])
                return _stable_rewrite(sp.Add(*rest)) + replaced if rest else replaced
            # k + c·cos(u) with k = −c  →  −2c sin²(u/2)
            coeff, core = term.as_independent(*_variables())
            if isinstance(core, sp.cos) and sp.simplify(coeff + const) == 0:
                rest = [t for j, t in enumerate(terms) if j != i and not _is_const(t)]
                return sp.Add(*rest) - 2 * coeff * sp.sin(core.args[0] / 2) ** 2
            # 1 − a·cos²(u) with a = 1/cos²v  →  a·sin(u − v)·sin(u + v)
            if (core.is_Pow and core.exp == 2 and isinstance(core.base, sp.cos) and _positive_number(-coeff)
                    and _positive_number(const)):
                a = -coeff / const
                v = sp.acos(1 / sp.sqrt(a))
                u = core.base.args[0]
                rest = [t for j, t in enumerate(terms) if j != i and not _is_const(t)]
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
        coeff, core = term.as_independent(*_variables())
        if isinstance(core, Softplus):
            rest = sp.Add(*[t for j, t in enumerate(terms) if j != i])
            merged = sp.expand(rest + coeff * core.args[0])
            if sp.count_ops(merged) < sp.count_ops(rest):
                return coeff * Softplus(sp.expand(-core.args[0])) + merged
    # c·√Q + R  →  (c²Q − R²)/(c√Q − R) when c²Q − R² cancels symbolically
    for i, term in enumerate(terms):
        coeff, core = term.as_independent(*_variables())
        if core.is_Pow and core.exp == sp.Rational(1, 2):
            rest = sp.Add(*[t for j, t in enumerate(terms) if j != i])
            if rest == 0 or core.base.has(sp.sqrt(core.base)):
                continue
            numerator = sp.expand(coeff**2 * core.base - rest**2)
            if sp.count_ops(numerator) < sp.count_ops(sp.expand(coeff**2 * core.base)):
                return _stable_rewrite(numerator) / (coeff * core - rest)
    return expr


def difference(expr: sp.Expr) -> sp.Expr:
    """h(t) − h(s) for h = ``expr`` (in t), built so that nearby t and s do not cancel.

    Polynomial and rational parts are factored (so ``t − s`` appears and is exact in
    floating point), and differences of exp/log/softplus/trig are turned into
    expm1/log1p/sin of the difference of their arguments.
    """
    S, _ = _symbols()
    expr = sp.sympify(expr)
    at_s = expr.subs(T, S)
    if _is_const(expr):
        return sp.Integer(0)
    if T not in expr.free_symbols:
        return expr - at_s
    if expr.is_Add:
        return sp.Add(*[difference(term) for term in expr.args])
    if not expr.has(_StableFunction) and expr.is_rational_function(T):
        return _hold_adds(sp.factor(sp.together(expr - at_s)))
    if expr.is_Pow and _is_const(expr.base):
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
    if expr.is_Pow and _is_const(expr.exp) and not _is_const(expr.base):
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
    if not (_is_const(a) and _is_const(b)):
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


def fold_constants(expr: sp.Expr, digits: int = 30) -> sp.Expr:
    """Constant subexpressions → float literals; ``b**x`` with constant b → ``exp(x log b)``."""
    expr = sp.sympify(expr)
    if _is_const(expr):
        if expr.is_Integer:
            return expr
        value = sp.N(expr, digits)
        if value.is_real is False or value.has(sp.I):
            raise CodegenError(f"constant {expr} is not real")
        return sp.Float(value, digits)
    if expr.is_Atom:
        return expr
    if expr.is_Mul or expr.is_Add:
        const, rest = expr.as_independent(*_variables())
        neutral = 1 if expr.is_Mul else 0
        if const != neutral:
            return expr.func(fold_constants(const, digits), fold_constants(rest, digits), evaluate=False)
    if expr.is_Pow:
        base, exponent = expr.args
        if _is_const(base):
            return sp.exp(fold_constants(exponent * sp.log(base), digits))
        if exponent.is_Integer or exponent in (sp.Rational(1, 2), sp.Rational(-1, 2)):
            return sp.Pow(fold_constants(base, digits), exponent, evaluate=False)
        return sp.Pow(fold_constants(base, digits), fold_constants(exponent, digits), evaluate=False)
    return expr.func(*[fold_constants(a, digits) for a in expr.args], evaluate=False)


# ---------------------------------------------------------------------------- printing
_PY_FUNCS = {
    "numpy": {"exp": "_np.exp", "log": "_np.log", "sqrt": "_np.sqrt", "sin": "_np.sin", "cos": "_np.cos",
              "tan": "_np.tan", "asin": "_np.arcsin", "acos": "_np.arccos", "atan": "_np.arctan",
              "sinh": "_np.sinh", "cosh": "_np.cosh", "tanh": "_np.tanh", "expm1": "_np.expm1",
              "log1p": "_np.log1p", "abs": "_np.abs", "erf": "_erf", "erfc": "_erfc"},
    "torch": {"exp": "_torch.exp", "log": "_torch.log", "sqrt": "_torch.sqrt", "sin": "_torch.sin",
              "cos": "_torch.cos", "tan": "_torch.tan", "asin": "_torch.asin", "acos": "_torch.acos",
              "atan": "_torch.atan", "sinh": "_torch.sinh", "cosh": "_torch.cosh", "tanh": "_torch.tanh",
              "expm1": "_torch.expm1", "log1p": "_torch.log1p", "abs": "_torch.abs",
              "erf": "_torch.special.erf", "erfc": "_torch.special.erfc"},
    "jax": {"exp": "_jnp.exp", "log": "_jnp.log", "sqrt": "_jnp.sqrt", "sin": "_jnp.sin", "cos": "_jnp.cos",
            "tan": "_jnp.tan", "asin": "_jnp.arcsin", "acos": "_jnp.arccos", "atan": "_jnp.arctan",
            "sinh": "_jnp.sinh", "cosh": "_jnp.cosh", "tanh": "_jnp.tanh", "expm1": "_jnp.expm1",
            "log1p": "_jnp.log1p", "abs": "_jnp.abs", "erf": "_jsp.erf", "erfc": "_jsp.erfc"},
    "c": {name: name for name in ("exp", "log", "sqrt", "sin", "cos", "tan", "asin", "acos", "atan", "sinh",
                                  "cosh", "tanh", "expm1", "log1p", "erf", "erfc")} | {"abs": "fabs"},
}
_SYMPY_FUNCS = {sp.exp: "exp", sp.log: "log", sp.sin: "sin", sp.cos: "cos", sp.tan: "tan", sp.asin: "asin",
                sp.acos: "acos", sp.atan: "atan", sp.sinh: "sinh", sp.cosh: "cosh", sp.tanh: "tanh",
                sp.erf: "erf", sp.erfc: "erfc", sp.Abs: "abs", Expm1: "expm1", Log1p: "log1p"}


class Printer:
    """Prints a folded SymPy expression as code for one language (numpy, torch, jax or c)."""

    def __init__(self, lang: str, names: Mapping[sp.Symbol, str]):
        self.lang = lang
        self.names = dict(names)
        self.funcs = _PY_FUNCS[lang]

    def number(self, value: sp.Expr) -> str:
        x = float(value)
        if not math.isfinite(x):
            raise CodegenError(f"constant {value} is not finite")
        text = repr(x)
        if self.lang == "c":
            return f"S2N_C({text})"
        return text

    def call(self, name: str, inner: str) -> str:
        return f"{self.funcs[name]}({inner})"

    def __call__(self, expr: sp.Expr) -> str:
        return self.p(expr)

    def p(self, e: sp.Expr) -> str:  # noqa: C901 - one dispatch
        if e in self.names:
            return self.names[e]
        if e.is_Number:
            text = self.number(e)
            return f"({text})" if float(e) < 0 else text
        if e.is_Symbol:
            raise CodegenError(f"unexpected symbol {e} in exported expression")
        if e.is_Add:
            parts = []
            for i, term in enumerate(sorted(e.args, key=sp.default_sort_key)):
                text = self.p(term)
                if i and text.startswith("-"):
                    parts.append(" - " + text[1:])
                elif i:
                    parts.append(" + " + text)
                else:
                    parts.append(text)
            return "(" + "".join(parts) + ")"
        if e.is_Mul:
            return self.mul(e)
        if e.is_Pow:
            return self.pow(e.base, e.exp)
        if isinstance(e, Softplus):
            return self.softplus(self.p(e.args[0]))
        if isinstance(e, LogExpm1):
            x = self.p(e.args[0])
            return f"({x} + {self.call('log', '-' + self.call('expm1', '-' + x))})"
        if isinstance(e, Log1mExp):
            return self.call("log", "-" + self.call("expm1", self.p(e.args[0])))
        if isinstance(e, LogCos):
            u, w = e.args
            small = Log1p(-2 * sp.sin(u / 2) ** 2)
            large = sp.log(sp.sin(w))
            if self.lang == "c":
                return f"(({self.p(u)}) < S2N_C(0.7853981633974483) ? {self.p(small)} : {self.p(large)})"
            return f"_where({self.p(u)} < 0.7853981633974483, {self.p(small)}, {self.p(large)})"
        if isinstance(e, Hold):
            inner = self.p(e.args[0])
            return inner if inner.startswith("(") else f"({inner})"
        if e.func in _SYMPY_FUNCS:
            return self.call(_SYMPY_FUNCS[e.func], self.p(e.args[0]))
        raise CodegenError(f"cannot export function {e.func} (no stable printer for it)")

    def softplus(self, x: str) -> str:
        if self.lang == "numpy":
            return f"_np.logaddexp(0.0, {x})"
        if self.lang == "jax":
            return f"_jnp.logaddexp(0.0, {x})"
        if self.lang == "torch":
            return f"_softplus({x})"
        return f"s2n_softplus({x})"

    def mul(self, e: sp.Expr) -> str:
        coeff, rest = e.as_coeff_Mul()
        num, den = [], []
        for factor in (rest.args if rest.is_Mul else (rest,)):
            if factor.is_Pow and factor.exp.is_number and factor.exp.is_negative:
                den.append(factor.base if factor.exp == -1 else sp.Pow(factor.base, -factor.exp, evaluate=False))
            else:
                num.append(factor)
        sign = ""
        if coeff == -1:
            sign = "-"
        elif coeff != 1:
            num.insert(0, sp.Float(abs(float(coeff))) if coeff.is_negative else coeff)
            sign = "-" if coeff.is_negative else ""
        top = "*".join(self.p(f) for f in num) if num else self.number(sp.Integer(1))
        if den:
            bottom = "*".join(self.p(f) for f in den)
            body = f"{top}/({bottom})" if len(den) > 1 else f"{top}/{bottom}"
        else:
            body = top
        return f"{sign}({body})" if sign else f"({body})"

    def pow(self, base: sp.Expr, exponent: sp.Expr) -> str:
        b = self.p(base)
        if exponent == sp.Rational(1, 2):
            return self.call("sqrt", b)
        if exponent == sp.Rational(-1, 2):
            if self.lang == "torch":
                return f"_torch.rsqrt({b})"
            return f"({self.number(sp.Integer(1))}/{self.call('sqrt', b)})"
        if exponent.is_Integer:
            n = int(exponent)
            if n == 1:
                return b
            if n < 0:
                return f"({self.number(sp.Integer(1))}/{self.pow(base, -exponent)})"
            if self.lang == "c" and n in (2, 3):
                return f"s2n_pow{n}({b})"
            if self.lang != "c":
                return f"({b}**{n})"
        ex = self.p(exponent)
        if self.lang == "c":
            return f"pow({b}, {ex})"
        return f"({b}**{ex})"


def _compile_numpy(args: Sequence[sp.Symbol], expr: sp.Expr) -> Callable[..., np.ndarray]:
    """A numpy function of ``expr`` for measuring a candidate (not used in exported code)."""
    names = {a: f"_a{i}" for i, a in enumerate(args)}
    code = Printer("numpy", names)(fold_constants(expr))
    params = ", ".join(names.values())
    namespace: dict[str, Any] = {"_np": np, "_erf": _np_erf, "_erfc": _np_erfc, "_where": np.where}
    exec(compile(f"def _f({params}):\n    return {code}\n", "<s2n-candidate>", "exec"), namespace)  # noqa: S102
    return namespace["_f"]


def _np_erf(x: np.ndarray) -> np.ndarray:
    return np.asarray(np.vectorize(math.erf, otypes=[float])(x), dtype=np.result_type(x, np.float32))


def _np_erfc(x: np.ndarray) -> np.ndarray:
    return np.asarray(np.vectorize(math.erfc, otypes=[float])(x), dtype=np.result_type(x, np.float32))


# ---------------------------------------------------------------------------- probes and references
def probe_times(t_min: float, t_max: float) -> np.ndarray:
    """Float64 probe times: both endpoints, points crowding each end, and an interior grid."""
    width = t_max - t_min
    near = np.array([1e-12, 1e-9, 1e-6, 1e-4, 1e-3, 1e-2])
    u = np.concatenate([[0.0, 1.0], near, 1 - near, np.linspace(0.03, 0.97, 17)])
    times = np.clip(t_min + width * u, t_min, t_max)
    times[u == 1.0] = t_max
    return np.unique(times)


def probe_pairs(times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(t, s) pairs with s < t: endpoints, neighbours and far pairs."""
    ts, ss = [], []
    n = len(times)
    for i in range(n):
        for j in range(i + 1, n):
            if j - i in (1, 3) or (i, j) == (0, n - 1) or (j - i) % 7 == 0:
                ts.append(times[j])
                ss.append(times[i])
    return np.array(ts), np.array(ss)


def _mp_function(args: Sequence[sp.Symbol], expr: sp.Expr) -> Callable[..., Any]:
    return sp.lambdify(list(args), elementary(expr), modules="mpmath")


def _mp_eval(func: Callable[..., Any], *columns: np.ndarray) -> np.ndarray:
    out = np.empty(len(columns[0]))
    with mpmath.workdps(REFERENCE_DPS):
        for k in range(len(out)):
            try:
                value = func(*(mpmath.mpf(float(c[k])) for c in columns))
                value = mpmath.mpmathify(value)
                out[k] = float(value.real) if abs(value.imag) <= 1e-30 * (1 + abs(value.real)) else np.nan
            except (ValueError, ZeroDivisionError, OverflowError):
                out[k] = np.nan
    return out


def reference_inverse(schedule: Schedule, lams: np.ndarray, guesses: np.ndarray) -> np.ndarray:
    """t with λ(t) = lam at 50 digits (mpmath root finding from ``guesses``), clipped to the domain."""
    lam_mp = _mp_function([T], schedule.log_snr)
    out = np.empty(len(lams))
    lo_t, hi_t = schedule.t_min, schedule.t_max
    with mpmath.workdps(REFERENCE_DPS):
        lam_hi, lam_lo = lam_mp(mpmath.mpf(lo_t)), lam_mp(mpmath.mpf(hi_t))
        for k, (lam, guess) in enumerate(zip(lams, guesses, strict=False)):
            target = mpmath.mpf(float(lam))
            if target >= lam_hi:
                out[k] = lo_t
                continue
            if target <= lam_lo:
                out[k] = hi_t
                continue
            a, b = mpmath.mpf(lo_t), mpmath.mpf(hi_t)
            # a few bisection steps around the guess keep the root finder inside the domain
            x0 = mpmath.mpf(float(guess))
            try:
                root = mpmath.findroot(lambda x, y=target: lam_mp(x) - y, (x0, x0 + (b - a) * mpmath.mpf("1e-9")),
                                       solver="secant", tol=mpmath.mpf(10) ** (-40), maxsteps=100)
                ok = a <= root <= b and abs(lam_mp(root) - target) < mpmath.mpf(10) ** (-30) * (1 + abs(target))
            except (ValueError, ZeroDivisionError):
                ok = False
            if not ok:
                for _ in range(200):
                    mid = (a + b) / 2
                    if lam_mp(mid) > target:
                        a = mid
                    else:
                        b = mid
                root = (a + b) / 2
            out[k] = float(root)
    return out


# ---------------------------------------------------------------------------- candidate selection
@dataclass
class Candidate:
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

    def report(self) -> str:
        lines = []
        for name in EXPORTED:
            c = self.chosen[name]
            lines.append(f"{name:13} {c.label:34} err64={c.err64:.1e} err32={c.err32:.1e} cost={c.cost}")
        return "\n".join(lines)


def _relative_error(values: np.ndarray, ref: np.ndarray, floor: np.ndarray | float) -> float:
    values = np.asarray(values, dtype=np.float64)
    scale = np.abs(ref) + floor
    with np.errstate(all="ignore"):
        err = np.abs(values - ref)
        rel = np.where(err == 0, 0.0, err / np.where(scale > 0, scale, np.inf))
    rel = np.where(np.isfinite(ref) & ~np.isfinite(values), np.inf, rel)
    rel = np.where(np.isfinite(ref), rel, 0.0)
    return float(np.max(rel)) if rel.size else 0.0


def error_floor(name: str, ref: np.ndarray, dlam: np.ndarray | None = None) -> np.ndarray | float:
    """Absolute floor added to |value| in the relative error of ``name``.

    ``log_snr`` is a log-scale quantity and crosses 0, so its error is measured
    against |λ| + 1 (an absolute 1e-12 in λ is a relative 1e-12 in the SNR). The
    inverse is measured against |t| + |λ/λ′|, its condition: no algorithm that
    receives λ rounded to the working precision can do better. Every other
    function is measured purely relatively.
    """
    if name == "log_snr":
        return 1.0
    if name == "t_of_log_snr" and dlam is not None:
        return np.zeros_like(ref)
    return 0.0


_FORMS_CACHE: dict[tuple, ExportForms] = {}


def _schedule_key(schedule: Schedule) -> tuple:
    # Keyed by the derived expressions too (not only α, σ, λ): every exported function is chosen
    # against the library's derivation, so a different derivation must never reuse old forms.
    exprs = (schedule.alpha, schedule.sigma, schedule.log_snr, schedule.f, schedule.g2, schedule.dlog_snr,
             schedule.alpha_ts, schedule.sigma2_ts)
    return (*(sp.srepr(e) for e in exprs), schedule.t_min, schedule.t_max)


def export_forms(schedule: Schedule) -> ExportForms:
    """Choose and measure the stable form of every exported function (cached per schedule)."""
    if schedule.is_general:
        raise CodegenError("the general schedule has no numeric values; export a concrete schedule")
    key = _schedule_key(schedule)
    if key not in _FORMS_CACHE:
        _FORMS_CACHE[key] = _select_forms(schedule)
    return replace(_FORMS_CACHE[key], name=schedule.name)


def _log_form(expr: sp.Expr) -> sp.Expr:
    return sp.expand_log(sp.log(expr), force=True)


def _measure(cand: Candidate, args: Sequence[sp.Symbol], columns64: Sequence[np.ndarray],
             ref64: np.ndarray, columns32: Sequence[np.ndarray], ref32: np.ndarray,
             floor64: Any, floor32: Any) -> Candidate:
    assert cand.expr is not None
    try:
        folded = fold_constants(cand.expr)
        func = _compile_numpy(args, folded)
        with np.errstate(all="ignore"):
            v64 = np.broadcast_to(func(*columns64), columns64[0].shape)
            v32 = np.broadcast_to(func(*columns32), columns32[0].shape)
        cand.err64 = _relative_error(v64, ref64, floor64)
        cand.err32 = _relative_error(v32, ref32, floor32)
        if v32.dtype != np.float32 and not _is_const(cand.expr):
            cand.err32 = math.inf
        cand.cost = _cost(folded)
    except (CodegenError, TypeError, ValueError, ZeroDivisionError, OverflowError, AttributeError):
        cand.err64 = cand.err32 = math.inf
    return cand


def _cost(expr: sp.Expr) -> int:
    reduced, body = sp.cse(expr)
    total = sum(sp.count_ops(v) for _, v in reduced) + sp.count_ops(body[0])
    heavy = sum(1 for e in sp.preorder_traversal(expr) if isinstance(e, (Softplus, LogExpm1, Log1mExp)))
    return int(total + 2 * heavy)


def _pick(cands: list[Candidate]) -> Candidate:
    ok = [c for c in cands if c.score <= SELECTION_MARGIN]
    if ok:
        return min(ok, key=lambda c: (c.cost, c.score))
    return min(cands, key=lambda c: (c.score, c.cost))


def _unique(cands: list[Candidate]) -> list[Candidate]:
    seen: set[str] = set()
    out = []
    for c in cands:
        key = sp.srepr(c.expr) if c.expr is not None else "<newton>"
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out


def _select_forms(schedule: Schedule) -> ExportForms:  # noqa: C901 - one pipeline, read top to bottom
    S, LAMBDA = _symbols()
    times64 = probe_times(schedule.t_min, schedule.t_max)
    times32 = np.unique(times64.astype(np.float32))
    t64, s64 = probe_pairs(times64)
    t32, s32 = probe_pairs(times32)
    t32_64, s32_64 = t32.astype(np.float64), s32.astype(np.float64)

    reference = {
        "alpha": schedule.alpha, "sigma": schedule.sigma, "log_snr": schedule.log_snr, "snr": schedule.snr,
        "f": schedule.f, "g2": schedule.g2, "dlog_snr": schedule.dlog_snr,
    }
    refs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, expr in reference.items():
        func = _mp_function([T], expr)
        refs[name] = (_mp_eval(func, times64), _mp_eval(func, times32.astype(np.float64)))
    for name in TWO_ARG:
        func = _mp_function([T, S], getattr(schedule, name))
        refs[name] = (_mp_eval(func, t64, s64), _mp_eval(func, t32_64, s32_64))

    # variance preserving: α² + σ² = 1 at every probe (50 digits)
    vp_func = _mp_function([T], schedule.alpha**2 + schedule.sigma**2 - 1)
    vp_residual = _mp_eval(vp_func, times64)
    variance_preserving = bool(np.all(np.abs(vp_residual) < 1e-30))

    log_sigma = _log_form(schedule.sigma)
    chosen: dict[str, Candidate] = {}
    all_cands: dict[str, list[Candidate]] = {}

    def choose(name: str, exprs: list[tuple[str, sp.Expr]]) -> sp.Expr:
        args = [T, S] if name in TWO_ARG else [T]
        if name in TWO_ARG:
            cols64, cols32 = [t64, s64], [t32, s32]
        else:
            cols64, cols32 = [times64], [times32]
        ref64, ref32 = refs[name]
        cands = _unique([Candidate(label, expr) for label, expr in exprs])
        for cand in cands:
            _measure(cand, args, cols64, ref64, cols32, ref32, error_floor(name, ref64), error_floor(name, ref32))
        pick = _pick(cands)
        chosen[name], all_cands[name] = pick, cands
        return pick.expr

    def two(expr: sp.Expr) -> sp.Expr:
        return expr.subs(T, S)

    # Two variants of every building block: as written, and with cos/tan taken from the
    # complementary angle where that angle is exact (see trig_complement).
    variants = {"": lambda e: e, " [complement]": trig_complement, " [logcos]": log_cos_complement}

    def rewritten(label: str, build: Callable[[Callable[[sp.Expr], sp.Expr]], sp.Expr]) -> list[tuple[str, sp.Expr]]:
        out = []
        for tag, v in variants.items():
            raw = build(v)
            safe = stable_rewrite(raw)
            out.append((label + tag, safe))
            if safe.has(LogExpm1):
                out.append((label + tag + " [plain log(expm1)]", stable_rewrite(raw, overflow_safe=False)))
        return out

    a_forms = {tag: stable_rewrite(v(_log_form(schedule.alpha))) for tag, v in variants.items()}

    alpha = choose("alpha", [
        *rewritten("rewritten", lambda v: v(schedule.alpha)),
        *[(f"exp(log alpha){tag}", sp.exp(a)) for tag, a in a_forms.items()],
        ("as derived", schedule.alpha),
    ])
    lam_forms = rewritten("rewritten", lambda v: v(schedule.log_snr))
    sigma_cands = [
        *rewritten("rewritten", lambda v: v(schedule.sigma)),
        *rewritten("exp(log sigma)", lambda v: sp.exp(_log_form(v(schedule.sigma)))),
        *[(f"alpha exp(-lambda/2){tag}", alpha * sp.exp(-lam / 2)) for tag, lam in lam_forms],
        ("as derived", schedule.sigma),
    ]
    if variance_preserving:
        sigma_cands += [(f"VP sqrt(-expm1(2 log alpha)){tag}", sp.sqrt(-Expm1(2 * a))) for tag, a in a_forms.items()]
    sigma = choose("sigma", sigma_cands)
    lam_cands = [
        *lam_forms,
        *rewritten("2 log alpha - 2 log sigma",
                   lambda v: v(2 * _log_form(schedule.alpha) - 2 * _log_form(schedule.sigma))),
        *[(f"2 log alpha{tag} - 2 log sigma", 2 * a - 2 * stable_rewrite(log_sigma)) for tag, a in a_forms.items()],
        ("as derived", schedule.log_snr),
    ]
    if variance_preserving:
        lam_cands += [(f"VP 2a - log1mexp(2a){tag}", 2 * a - Log1mExp(2 * a)) for tag, a in a_forms.items()]
    lam = choose("log_snr", lam_cands)
    snr_cands = [
        ("exp(lambda)", sp.exp(lam)),
        ("alpha^2/sigma^2", alpha**2 / sigma**2),
        *rewritten("rewritten", lambda v: v(schedule.snr)),
    ]
    if variance_preserving:
        snr_cands += [(f"VP -exp(2a)/expm1(2a){tag}", -sp.exp(2 * a) / Expm1(2 * a)) for tag, a in a_forms.items()]
    choose("snr", snr_cands)
    f = choose("f", [
        *rewritten("(log alpha)'", lambda v: sp.diff(_log_form(v(schedule.alpha)), T)),
        *rewritten("rewritten", lambda v: v(schedule.f)),
        ("as derived", schedule.f),
    ])
    dlam_cands = [
        *rewritten("rewritten", lambda v: v(schedule.dlog_snr)),
        *rewritten("2(log alpha)' - 2(log sigma)'",
                   lambda v: sp.diff(2 * _log_form(v(schedule.alpha)) - 2 * _log_form(v(schedule.sigma)), T)),
        *[(f"(rewritten lambda)'{tag}", stable_rewrite(sp.diff(elementary(e), T))) for tag, e in lam_forms],
        ("as derived", schedule.dlog_snr),
    ]
    if variance_preserving:
        dlam_cands += [(f"VP -2f/expm1(2a){tag}", -2 * f / Expm1(2 * a)) for tag, a in a_forms.items()]
    dlam = choose("dlog_snr", dlam_cands)
    g2_cands = [
        ("-sigma^2 lambda' (F1)", -(sigma**2) * dlam),
        *rewritten("rewritten", lambda v: v(schedule.g2)),
        ("as derived", schedule.g2),
    ]
    if variance_preserving:
        g2_cands.insert(0, ("VP -2f", -2 * f))
    choose("g2", g2_cands)
    choose("alpha_ts", [
        ("alpha_t/alpha_s", alpha / two(alpha)),
        *[(f"exp(log alpha_t - log alpha_s){tag}", sp.exp(difference(a))) for tag, a in a_forms.items()],
    ])
    s2_cands = [
        ("-sigma_t^2 expm1(lambda_t - lambda_s)", -(sigma**2) * Expm1(difference(lam))),
        *[(f"-sigma_t^2 expm1(lambda_t - lambda_s){tag}", -(sigma**2) * Expm1(difference(e))) for tag, e in lam_forms],
        *rewritten("rewritten", lambda v: v(schedule.sigma2_ts)),
    ]
    if variance_preserving:
        s2_cands += [(f"VP -expm1(2(a_t - a_s)){tag}", -Expm1(2 * difference(a))) for tag, a in a_forms.items()]
    choose("sigma2_ts", s2_cands)

    # ---- inverse λ → t
    lam_func = _mp_function([T], schedule.log_snr)
    lam64 = _mp_eval(lam_func, times64)
    lam32 = lam64.astype(np.float32)
    inv64 = reference_inverse(schedule, lam64, times64)
    inv32 = reference_inverse(schedule, lam32.astype(np.float64), times64)
    dlam_ref = _mp_eval(_mp_function([T], schedule.dlog_snr), inv64)
    dlam_ref32 = _mp_eval(_mp_function([T], schedule.dlog_snr), inv32)
    floor64 = np.abs(lam64) / np.abs(dlam_ref) * (2.0**-52 / RTOL64) * 8
    floor32 = np.abs(lam32.astype(np.float64)) / np.abs(dlam_ref32) * (2.0**-23 / RTOL32) * 8
    lam_max, lam_min = float(lam64[0]), float(lam64[-1])
    closed = schedule.inverse_log_snr
    inv_cands: list[Candidate] = []
    if closed is not None:
        for label, expr in (("closed form, rewritten", stable_rewrite(closed)), ("closed form", closed)):
            cand = Candidate(label, expr)
            _measure(cand, [LAMBDA], [lam64], inv64, [lam32], inv32, floor64, floor32)
            inv_cands.append(cand)
    newton = Candidate("safeguarded Newton", None)
    module = _build_python_module(schedule.name, schedule.t_min, schedule.t_max, lam_min, lam_max,
                                  {**{k: c.expr for k, c in chosen.items()}, "t_of_log_snr": None}, "numpy")
    with np.errstate(all="ignore"):
        newton.err64 = _relative_error(module.t_of_log_snr(lam64), inv64, floor64)
        newton.err32 = _relative_error(module.t_of_log_snr(lam32), inv32, floor32)
    newton.cost = 10 * (chosen["log_snr"].cost + chosen["dlog_snr"].cost) + 100
    inv_cands.append(newton)
    chosen["t_of_log_snr"] = _pick(inv_cands)
    all_cands["t_of_log_snr"] = inv_cands

    return ExportForms(
        name=schedule.name, t_min=schedule.t_min, t_max=schedule.t_max, log_snr_min=lam_min, log_snr_max=lam_max,
        exprs={k: c.expr for k, c in chosen.items()},
        inverse_closed_form=chosen["t_of_log_snr"].expr is not None, variance_preserving=variance_preserving,
        chosen=chosen, candidates=all_cands,
    )


# ---------------------------------------------------------------------------- Python modules
_PY_PREAMBLE = {
    "numpy": '''import math as _math

import numpy as _np


def _arg(x):
    x = _np.asarray(x)
    if not _np.issubdtype(x.dtype, _np.floating):
        x = x.astype(_np.float64)
    return x


def _out(value, *like):
    shape = _np.broadcast_shapes(*(a.shape for a in like)) if len(like) > 1 else like[0].shape
    value = _np.asarray(value, dtype=_np.result_type(*like))
    if value.shape == shape:
        return value
    return _np.broadcast_to(value, shape).copy()


_erf_u = _np.vectorize(_math.erf, otypes=[float])
_erfc_u = _np.vectorize(_math.erfc, otypes=[float])


def _erf(x):
    return _np.asarray(_erf_u(x), dtype=x.dtype)


def _erfc(x):
    return _np.asarray(_erfc_u(x), dtype=x.dtype)


def _where(cond, a, b):
    return _np.where(cond, a, b)


def _clip(x, lo, hi):
    return _np.clip(x, lo, hi)


def _any(x):
    return bool(_np.any(x))
''',
    "torch": '''import torch as _torch


def _arg(x):
    if not isinstance(x, _torch.Tensor):
        x = _torch.as_tensor(x, dtype=_torch.float64)
    if not x.is_floating_point():
        x = x.to(_torch.float64)
    return x


def _out(value, *like):
    ref = _torch.broadcast_tensors(*like)[0] if len(like) > 1 else like[0]
    if not isinstance(value, _torch.Tensor):
        return _torch.full_like(ref, float(value))
    return value.to(ref.dtype).expand_as(ref)


def _softplus(x):
    return _torch.logaddexp(x, _torch.zeros_like(x))


def _where(cond, a, b):
    return _torch.where(cond, a, b)


def _clip(x, lo, hi):
    return _torch.clamp(x, lo, hi)


def _any(x):
    return bool(_torch.any(x))
''',
    "jax": '''import jax.numpy as _jnp
import jax.scipy.special as _jsp


def _arg(x):
    x = _jnp.asarray(x)
    if not _jnp.issubdtype(x.dtype, _jnp.floating):
        x = x.astype(_jnp.result_type(float))
    return x


def _out(value, *like):
    shape = _jnp.broadcast_shapes(*(a.shape for a in like))
    dtype = _jnp.result_type(*like)
    return _jnp.broadcast_to(_jnp.asarray(value, dtype=dtype), shape)


def _where(cond, a, b):
    return _jnp.where(cond, a, b)


def _clip(x, lo, hi):
    return _jnp.clip(x, lo, hi)


def _any(x):
    return None  # fixed iteration count: jit-compatible
''',
}

_DOCS = {
    "alpha": "Signal scale alpha(t).",
    "sigma": "Noise scale sigma(t).",
    "log_snr": "Log signal-to-noise ratio lambda(t) = log(alpha^2/sigma^2).",
    "snr": "Signal-to-noise ratio exp(lambda(t)).",
    "f": "Drift coefficient f(t) = alpha'/alpha (F1).",
    "g2": "Squared diffusion g(t)^2 = -sigma^2 lambda' (F1).",
    "dlog_snr": "lambda'(t).",
    "alpha_ts": "Transition scale alpha_{t|s} = alpha_t/alpha_s, s < t (F3).",
    "sigma2_ts": "Transition variance sigma^2_{t|s} = sigma_t^2 - alpha_{t|s}^2 sigma_s^2, s < t (F3).",
}

_NEWTON_PY = '''

def t_of_log_snr(lam):
    """Time t with lambda(t) = lam, clipped to [T_MIN, T_MAX] (safeguarded Newton on the decreasing lambda)."""
    lam = _arg(lam)
    target = _clip(lam, LOG_SNR_MIN, LOG_SNR_MAX)
    lo = target * 0.0 + T_MIN
    hi = target * 0.0 + T_MAX
    t = 0.5 * (lo + hi)
    for _ in range(NEWTON_ITERATIONS):
        value = log_snr(t) - target
        above = value > 0  # lambda decreasing: the root lies to the right of t
        lo = _where(above, t, lo)
        hi = _where(above, hi, t)
        step = value / dlog_snr(t)
        proposal = t - step
        inside = (proposal > lo) & (proposal < hi)
        new = _where(inside, proposal, 0.5 * (lo + hi))
        moved = _abs(new - t) > 4.0 * _eps(t) * (_abs(t) + 1e-300)
        t = new
        if _any(moved) is False:
            break
    return _clip(t, T_MIN, T_MAX)
'''

_EPS_ABS = {
    "numpy": "\n\ndef _eps(x):\n    return _np.finfo(x.dtype).eps\n\n\n_abs = _np.abs\n",
    "torch": "\n\ndef _eps(x):\n    return _torch.finfo(x.dtype).eps\n\n\n_abs = _torch.abs\n",
    "jax": "\n\ndef _eps(x):\n    return _jnp.finfo(x.dtype).eps\n\n\n_abs = _jnp.abs\n",
}


def _safe_comment(text: str) -> str:
    """A schedule name as a safe one-line comment (user specs may contain anything printable)."""
    return re.sub(r"[^A-Za-z0-9_\-+*/().,=;\[\] ^]", "?", text)[:200]


def _function_body(printer: Printer, expr: sp.Expr, args: Sequence[str], indent: str = "    ") -> list[str]:
    folded = fold_constants(expr)
    if _is_const(folded):
        return [f"{indent}return _out({printer(folded)}, {', '.join(args)})"]
    reduced, (body,) = sp.cse(folded, symbols=sp.numbered_symbols("_x"))
    lines = []
    for sym, sub in reduced:
        printer.names[sym] = str(sym)
        lines.append(f"{indent}{sym} = {printer(sub)}")
    lines.append(f"{indent}return _out({printer(body)}, {', '.join(args)})")
    return lines


def python_source(forms: ExportForms, backend: str) -> str:
    """The standalone module for ``backend`` (numpy, torch or jax) as text."""
    if backend not in PYTHON_BACKENDS:
        raise CodegenError(f"unknown Python backend {backend!r} (choose {', '.join(PYTHON_BACKENDS)})")
    S, LAMBDA = _symbols()
    out = [
        f'"""Noise schedule {_safe_comment(forms.name)!s}, exported by s2n-theory for {backend}.',
        "",
        "Generated code: standalone, imports only its backend. Functions accept scalars or arrays",
        "(tensors) and return the input's floating dtype; two-argument functions broadcast.",
        '"""',
        "",
        _PY_PREAMBLE[backend].rstrip() + "\n" + _EPS_ABS[backend],
        f"SCHEDULE = {forms.name!r}",
        f"T_MIN = {forms.t_min!r}",
        f"T_MAX = {forms.t_max!r}",
        f"LOG_SNR_MIN = {forms.log_snr_min!r}",
        f"LOG_SNR_MAX = {forms.log_snr_max!r}",
        f"NEWTON_ITERATIONS = {NEWTON_ITERATIONS}",
        f"INVERSE_CLOSED_FORM = {forms.inverse_closed_form!r}",
        f"VARIANCE_PRESERVING = {forms.variance_preserving!r}",
    ]
    for name in ONE_ARG:
        printer = Printer(backend, {T: "t"})
        out += ["", "", f"def {name}(t):", f'    """{_DOCS[name]}"""', "    t = _arg(t)"]
        out += _function_body(printer, forms.exprs[name], ["t"])
    for name in TWO_ARG:
        printer = Printer(backend, {T: "t", S: "s"})
        out += ["", "", f"def {name}(t, s):", f'    """{_DOCS[name]}"""', "    t, s = _arg(t), _arg(s)"]
        out += _function_body(printer, forms.exprs[name], ["t", "s"])
    inverse = forms.exprs.get("t_of_log_snr")
    if inverse is not None:
        printer = Printer(backend, {LAMBDA: "lam"})
        out += ["", "", "def _t_closed(lam):", "    lam = _arg(lam)"]
        out += _function_body(printer, inverse, ["lam"])
        out += ["", "", "def t_of_log_snr(lam):",
                '    """Time t with lambda(t) = lam (closed form), clipped to [T_MIN, T_MAX]."""',
                "    lam = _arg(lam)",
                "    return _clip(_t_closed(_clip(lam, LOG_SNR_MIN, LOG_SNR_MAX)), T_MIN, T_MAX)"]
    else:
        out.append(_NEWTON_PY.rstrip())
    out += ["", "", f"__all__ = {list(EXPORTED)!r}", ""]
    return "\n".join(out)


_MODULE_COUNTER = [0]


def load_python_module(source: str, backend: str, name: str = "schedule") -> types.ModuleType:
    """Execute generated module text as a fresh module object (the text is ours, built from SymPy trees)."""
    _MODULE_COUNTER[0] += 1
    filename = f"<s2n-export-{backend}-{_MODULE_COUNTER[0]}>"
    module = types.ModuleType(f"s2n_export_{backend}_{_MODULE_COUNTER[0]}")
    module.__file__ = filename
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), module.__dict__)  # noqa: S102
    return module


def _build_python_module(name: str, t_min: float, t_max: float, lam_min: float, lam_max: float,
                         exprs: Mapping[str, sp.Expr | None], backend: str) -> types.ModuleType:
    forms = ExportForms(name=name, t_min=t_min, t_max=t_max, log_snr_min=lam_min, log_snr_max=lam_max,
                        exprs=dict(exprs), inverse_closed_form=exprs.get("t_of_log_snr") is not None,
                        variance_preserving=False)
    return load_python_module(python_source(forms, backend), backend, name)


_MODULE_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def python_module(schedule: Schedule, backend: str) -> types.ModuleType:
    """The generated module for ``schedule`` on ``backend``, loaded (cached per schedule and backend)."""
    per = _MODULE_CACHE.setdefault(schedule, {})
    if backend not in per:
        source = python_source(export_forms(schedule), backend)
        per[backend] = load_python_module(source, backend, schedule.name)
    return per[backend]


# ---------------------------------------------------------------------------- C
def c_identifier(text: str) -> str:
    ident = re.sub(r"[^A-Za-z0-9_]", "_", text).strip("_").lower() or "s2n"
    if ident[0].isdigit() or keyword.iskeyword(ident):
        ident = "s2n_" + ident
    return ident[:40]


_C_HELPERS = """
#include <tgmath.h>

#define S2N_C(x) ((s2n_real)(x))

static inline s2n_real s2n_softplus(s2n_real x) {
    return fmax(x, S2N_C(0.0)) + log1p(exp(-fabs(x)));
}

static inline s2n_real s2n_pow2(s2n_real x) { return x * x; }
static inline s2n_real s2n_pow3(s2n_real x) { return x * x * x; }
"""


def c_source(forms: ExportForms, prefix: str = "s2n", header_name: str | None = None) -> tuple[str, str]:
    """(header, source) of the C export; compile with ``cc -O2 -c`` (add ``-DS2N_FLOAT`` for float)."""
    S, LAMBDA = _symbols()
    prefix = c_identifier(prefix)
    guard = f"{prefix.upper()}_SCHEDULE_H"
    header_name = header_name or f"{prefix}.h"
    proto: list[str] = []
    body: list[str] = []

    def emit(name: str, expr: sp.Expr, params: list[tuple[sp.Symbol, str]], public: bool = True) -> None:
        printer = Printer("c", {sym: cname for sym, cname in params})
        args = ", ".join(f"s2n_real {cname}" for _, cname in params)
        storage = "" if public else "static "
        signature = f"{storage}s2n_real {prefix}_{name}({args})"
        if public:
            proto.append(signature + ";")
        folded = fold_constants(expr)
        lines = [signature + " {"]
        if _is_const(folded):
            lines += [f"    (void){cname};" for _, cname in params]
            lines.append(f"    return {printer(folded)};")
        else:
            reduced, (value,) = sp.cse(folded, symbols=sp.numbered_symbols("x"))
            for sym, sub in reduced:
                printer.names[sym] = str(sym)
                lines.append(f"    const s2n_real {sym} = {printer(sub)};")
            lines.append(f"    return {printer(value)};")
        lines.append("}")
        body.append("\n".join(lines))

    def emit_array(name: str, nargs: int) -> None:
        ins = ", ".join(f"const s2n_real *{a}" for a in ("t", "s")[:nargs]) if name != "t_of_log_snr" \
            else "const s2n_real *lam"
        call = ", ".join(f"{a}[i]" for a in ("t", "s")[:nargs]) if name != "t_of_log_snr" else "lam[i]"
        signature = f"void {prefix}_{name}_array({ins}, s2n_real *out, size_t n)"
        proto.append(signature + ";")
        body.append(f"{signature} {{\n    for (size_t i = 0; i < n; ++i) out[i] = {prefix}_{name}({call});\n}}")

    for name in ONE_ARG:
        emit(name, forms.exprs[name], [(T, "t")])
        emit_array(name, 1)
    for name in TWO_ARG:
        emit(name, forms.exprs[name], [(T, "t"), (S, "s")])
        emit_array(name, 2)
    clamp = (f"    if (lam < S2N_C({forms.log_snr_min!r})) lam = S2N_C({forms.log_snr_min!r});\n"
             f"    if (lam > S2N_C({forms.log_snr_max!r})) lam = S2N_C({forms.log_snr_max!r});\n")
    tclamp = (f"    if (!(t >= S2N_C({forms.t_min!r}))) t = S2N_C({forms.t_min!r});\n"
              f"    if (!(t <= S2N_C({forms.t_max!r}))) t = S2N_C({forms.t_max!r});\n    return t;\n")
    inverse = forms.exprs.get("t_of_log_snr")
    if inverse is not None:
        emit("t_closed", inverse, [(LAMBDA, "lam")], public=False)
        code = (f"s2n_real {prefix}_t_of_log_snr(s2n_real lam) {{\n{clamp}"
                f"    s2n_real t = {prefix}_t_closed(lam);\n{tclamp}}}")
    else:
        code = (
            f"s2n_real {prefix}_t_of_log_snr(s2n_real lam) {{\n{clamp}"
            f"    s2n_real lo = S2N_C({forms.t_min!r}), hi = S2N_C({forms.t_max!r}), t = S2N_C(0.5) * (lo + hi);\n"
            f"    for (int k = 0; k < {NEWTON_ITERATIONS}; ++k) {{\n"
            f"        const s2n_real value = {prefix}_log_snr(t) - lam;\n"
            f"        if (value > 0) lo = t; else hi = t;\n"
            f"        s2n_real next = t - value / {prefix}_dlog_snr(t);\n"
            f"        if (!(next > lo && next < hi)) next = S2N_C(0.5) * (lo + hi);\n"
            f"        const int done = fabs(next - t) <= S2N_C(4.0) * S2N_EPS * fabs(t);\n"
            f"        t = next;\n"
            f"        if (done) break;\n    }}\n{tclamp}}}"
        )
    proto.append(f"s2n_real {prefix}_t_of_log_snr(s2n_real lam);")
    body.append(code)
    emit_array("t_of_log_snr", 1)

    header = "\n".join([
        f"/* Noise schedule {_safe_comment(forms.name)}, exported by s2n-theory. Generated code. */",
        f"#ifndef {guard}", f"#define {guard}", "", "#include <stddef.h>", "",
        "#ifdef S2N_FLOAT", "typedef float s2n_real;", "#define S2N_EPS 1.1920929e-07f", "#else",
        "typedef double s2n_real;", "#define S2N_EPS 2.220446049250313e-16", "#endif", "",
        f"#define {prefix.upper()}_T_MIN {forms.t_min!r}", f"#define {prefix.upper()}_T_MAX {forms.t_max!r}", "",
        *proto, "", f"#endif /* {guard} */", "",
    ])
    source = "\n".join([
        f"/* Noise schedule {_safe_comment(forms.name)}, exported by s2n-theory. Generated code. */",
        f'#include "{header_name}"', _C_HELPERS, "\n\n".join(body), "",
    ])
    return header, source


# ---------------------------------------------------------------------------- LaTeX and text
DERIVED_LABELS = {
    "alpha": r"\alpha(t)", "sigma": r"\sigma(t)", "log_snr": r"\lambda(t)", "snr": r"\mathrm{SNR}(t)",
    "f": r"f(t)", "g2": r"g(t)^2", "dlog_snr": r"\lambda'(t)", "alpha_ts": r"\alpha_{t|s}",
    "sigma2_ts": r"\sigma^2_{t|s}", "t_of_log_snr": r"t(\lambda)",
}
TEXT_LABELS = {
    "alpha": "alpha(t)", "sigma": "sigma(t)", "log_snr": "lambda(t)", "snr": "SNR(t)", "f": "f(t)",
    "g2": "g(t)^2", "dlog_snr": "lambda'(t)", "alpha_ts": "alpha_{t|s}", "sigma2_ts": "sigma^2_{t|s}",
    "t_of_log_snr": "t(lambda)",
}
SIMPLIFY_SECONDS = 1.5


def _simplify_steps(expr: sp.Expr) -> Any:
    yield expr
    yield sp.simplify(expr)


def derived_formulas(schedule: Schedule, simplify: bool = True) -> dict[str, sp.Expr | None]:
    """α, σ, λ, SNR, f, g², λ′, α_{t|s}, σ²_{t|s} and t(λ) as SymPy expressions (simplified within a budget)."""
    from .budget import BudgetExceeded, latest_within

    exprs: dict[str, sp.Expr | None] = {
        "alpha": schedule.alpha, "sigma": schedule.sigma, "log_snr": schedule.log_snr, "snr": schedule.snr,
        "f": schedule.f, "g2": schedule.g2, "dlog_snr": schedule.dlog_snr,
        "alpha_ts": schedule.alpha_ts, "sigma2_ts": schedule.sigma2_ts,
        "t_of_log_snr": None if schedule.is_general else schedule.inverse_log_snr,
    }
    if simplify:
        for key, expr in exprs.items():
            if expr is None:
                continue
            try:
                candidate = latest_within(_simplify_steps, (expr,), SIMPLIFY_SECONDS)
            except (BudgetExceeded, RuntimeError):
                continue
            if sp.count_ops(candidate) <= sp.count_ops(expr):
                exprs[key] = candidate
    return exprs


def latex_source(schedule: Schedule, forms: ExportForms | None = None) -> str:
    """The derived formulas in LaTeX (an ``align*`` block), plus the exported stable forms when given."""
    exprs = derived_formulas(schedule)
    lines = [f"% Noise schedule {_safe_comment(schedule.name)}, derived by s2n-theory (THEORY.md F1, F3)",
             r"\begin{align*}"]
    for key in EXPORTED:
        expr = exprs[key]
        if expr is None:
            body = r"\text{no closed form: safeguarded Newton on } \lambda(t) = \lambda"
        else:
            body = sp.latex(expr)
        lines.append(f"  {DERIVED_LABELS[key]} &= {body} \\\\")
    lines.append(rf"  t &\in [{sp.latex(sp.Float(schedule.t_min, 6))}, {sp.latex(sp.Float(schedule.t_max, 6))}]")
    lines.append(r"\end{align*}")
    if forms is not None:
        lines += ["% Stable forms used by the exported code", r"\begin{align*}"]
        rows = []
        for key in EXPORTED:
            expr = forms.exprs.get(key)
            if expr is not None:
                rows.append(f"  {DERIVED_LABELS[key]} &= {sp.latex(expr)}")
        lines.append(" \\\\\n".join(rows))
        lines.append(r"\end{align*}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- entry points
def export(schedule: Schedule, backend: str, *, prefix: str = "s2n", header_name: str | None = None) -> dict[str, str]:
    """Exported code for ``backend``: ``{"module": text}`` (Python), ``{"header", "source"}`` (C),
    ``{"latex": text}`` (LaTeX)."""
    if backend not in BACKENDS:
        raise CodegenError(f"unknown backend {backend!r} (choose one of {', '.join(BACKENDS)})")
    if schedule.is_general:
        raise CodegenError("the general schedule has no numeric values; export a concrete schedule")
    forms = export_forms(schedule)
    if backend in PYTHON_BACKENDS:
        return {"module": python_source(forms, backend)}
    if backend == "c":
        header, source = c_source(forms, prefix, header_name)
        return {"header": header, "source": source}
    return {"latex": latex_source(schedule, forms)}
