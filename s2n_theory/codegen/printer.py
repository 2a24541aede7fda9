"""Printing folded SymPy expressions as numpy, torch, jax or C code (:class:`Printer`)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import sympy as sp

from ..arrays import fold_constants
from .functions import CodegenError
from .stable import Expm1, Hold, Log1mExp, Log1p, LogCos, LogExpm1, Softplus

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
        if expr.has(sp.I):  # fold_constants keeps a non-real constant complex; code cannot hold it
            raise CodegenError(f"a constant in {expr} is not real")
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


def compile_numpy(args: Sequence[sp.Symbol], expr: sp.Expr) -> Callable[..., np.ndarray]:
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


def safe_comment(text: str) -> str:
    """A schedule name as a safe one-line comment in C or a Python docstring (user specs may contain
    anything printable): characters outside a small set become ``?``, and ``*/`` / ``/*`` are split
    so that the name can neither close nor open a C comment."""
    kept = re.sub(r"[^A-Za-z0-9_\-+*/().,=;\[\] ^]", "?", text)[:200]
    while "*/" in kept or "/*" in kept:
        kept = kept.replace("*/", "* /").replace("/*", "/ *")
    return kept
