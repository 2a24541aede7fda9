"""Stable functions: one-argument functions with an elementary definition, kept unevaluated.

SymPy would turn ``expm1(x)`` back into ``exp(x) − 1``; these classes keep the stable form
in the expression tree until a printer writes it with the backend's own stable routine,
while :func:`elementary` gives the plain definition for checks and LaTeX.
"""

from __future__ import annotations

from typing import Any

import sympy as sp
from mpmath.libmp import prec_to_dps

from ..symbols import LAMBDA, S, T

VARIABLES = (T, S, LAMBDA)
"""The symbols exported functions are written in; everything else in them is a constant."""


def is_constant(expr: sp.Expr) -> bool:
    """True when ``expr`` depends on none of t, s, λ."""
    return not (expr.free_symbols & set(VARIABLES))


def positive_number(expr: sp.Expr) -> bool:
    return is_constant(expr) and bool(expr.is_extended_real) and expr.is_positive is True


class StableFunction(sp.Function):
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


class Expm1(StableFunction):
    """eˣ − 1 without cancellation near x = 0."""

    latex_name = "expm1"

    def elementary(self) -> sp.Expr:
        return sp.exp(self.args[0]) - 1


class Log1p(StableFunction):
    """log(1 + x) without cancellation near x = 0."""

    latex_name = "log1p"

    def elementary(self) -> sp.Expr:
        return sp.log(1 + self.args[0])


class Softplus(StableFunction):
    """log(1 + eˣ), finite for every x (log-sigmoid is −softplus(−x))."""

    latex_name = "softplus"

    def elementary(self) -> sp.Expr:
        return sp.log(1 + sp.exp(self.args[0]))


class LogExpm1(StableFunction):
    """log(eˣ − 1) for x > 0, as x + log(−expm1(−x)) so that large x cannot overflow."""

    latex_name = "logexpm1"

    def elementary(self) -> sp.Expr:
        return sp.log(sp.exp(self.args[0]) - 1)


class Log1mExp(StableFunction):
    """log(1 − eˣ) for x < 0, as log(−expm1(x))."""

    latex_name = "log1mexp"

    def elementary(self) -> sp.Expr:
        return sp.log(1 - sp.exp(self.args[0]))


class Hold(StableFunction):
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


class LogCos(StableFunction):
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


def elementary(expr: sp.Expr) -> sp.Expr:
    """Replace the stable functions by their elementary definitions (for checks and LaTeX)."""
    return sp.sympify(expr).replace(lambda e: isinstance(e, StableFunction), lambda e: e.elementary())

