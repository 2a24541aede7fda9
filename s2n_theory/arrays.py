"""The numbers boundary: backends, array helpers, and expressions compiled to numpy/torch.

Every numeric function of the package takes numpy arrays or torch tensors and
answers in the same backend, dtype and device; :func:`backend_of`,
:func:`like` and :func:`append_dims` are the one place that decides how.
:func:`compile_expression` turns a SymPy expression into such a function
through :func:`sympy.lambdify`; nothing here is a hand-written formula. Two preparations make the generated code usable on both
backends: number-only subexpressions (``sqrt(2)``, ``pi/252``) are folded to
float literals so torch never receives a Python number where it wants a tensor,
and a constant result is broadcast to the shape of the input.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import sympy as sp
import torch
from scipy import special
from sympy.printing.pytorch import TorchPrinter

from . import symbolic_memo

NUMERIC_BACKENDS = ("numpy", "torch", "jax")
"""Array libraries the package computes in (jax only for exported schedule code)."""

EXPRESSION_BACKENDS = NUMERIC_BACKENDS[:2]
"""Backends :func:`compile_expression` compiles for."""


FOLD_DIGITS = 30
"""Significant digits of the literals :func:`fold_constants` writes. float64 needs 17 to round-trip;
30 keep the literal within 1e-30 relative of the constant, so it parses to the float64 (or float32)
nearest the constant itself unless the constant lies that close to a rounding boundary. (The code
generator used 30 and ``lambdify`` 20 before the two folders became this one.)"""


def fold_constants(expr: sp.Expr, digits: int = FOLD_DIGITS) -> sp.Expr:
    """Constant subexpressions → float literals; ``b**x`` with constant b → ``exp(x log b)``.

    The one constant folder of the package: :func:`compile_expression` and the code generator
    (:mod:`s2n_theory.codegen`) both print its result. A subexpression is constant when
    it has no free symbols. Integers stay exact (integer powers keep integer exponents),
    ``x**(±1/2)`` stays a square root, and the constant factors of a product (terms of a
    sum) fold into one literal. A constant whose value is not real (the log of a negative
    number) stays complex, visible to the caller: numeric evaluation returns complex
    values and the code printer refuses it.
    """
    return _fold(sp.sympify(expr), digits, {})


def _fold(expr: sp.Expr, digits: int, memo: dict[sp.Expr, sp.Expr]) -> sp.Expr:
    # Memoised: a SymPy tree shares subtrees (the derivative of 49 nested sines repeats each inner
    # sine ~49 times), and a plain recursion would visit every path through the shared graph.
    if expr in memo:
        return memo[expr]
    folded = _fold_node(expr, digits, memo)
    memo[expr] = folded
    return folded


def _fold_node(expr: sp.Expr, digits: int, memo: dict[sp.Expr, sp.Expr]) -> sp.Expr:
    if not expr.free_symbols:
        if expr.is_Integer:
            return expr
        value = sp.N(expr, digits)
        return sp.Float(value, digits) if value.is_real else value
    if expr.is_Atom:
        return expr
    if expr.is_Mul or expr.is_Add:
        const, rest = expr.as_independent(*expr.free_symbols)
        neutral = 1 if expr.is_Mul else 0
        if const != neutral:
            return expr.func(_fold(const, digits, memo), _fold(rest, digits, memo), evaluate=False)
    if expr.is_Pow:
        base, exponent = expr.args
        if not base.free_symbols:
            return sp.exp(_fold(exponent * sp.log(base), digits, memo))
        if exponent.is_Integer or exponent in (sp.Rational(1, 2), sp.Rational(-1, 2)):
            return sp.Pow(_fold(base, digits, memo), exponent, evaluate=False)
        return sp.Pow(_fold(base, digits, memo), _fold(exponent, digits, memo), evaluate=False)
    return expr.func(*[_fold(a, digits, memo) for a in expr.args], evaluate=False)


class _TorchPrinter(TorchPrinter):
    """SymPy's torch printer refuses erf and erfc (both on the expression allow-list): print them as
    torch.special's, which take tensors (and differentiate)."""

    def _print_erf(self, expr: sp.Expr) -> str:
        return f"torch.special.erf({self._print(expr.args[0])})"

    def _print_erfc(self, expr: sp.Expr) -> str:
        return f"torch.special.erfc({self._print(expr.args[0])})"

    def _print_expm1(self, expr: sp.Expr) -> str:  # SymPy's expm1 (sympy.codegen.cfunctions), a stable 1 − e^z
        return f"torch.expm1({self._print(expr.args[0])})"


_NUMPY_MODULES = [{"erf": special.erf, "erfc": special.erfc}, "numpy"]
"""numpy has no erf: without scipy's (arrays, complex too) lambdify falls back to math.erf on scalars."""


def _lambdify(args: Sequence[sp.Symbol], expr: sp.Expr, backend: str) -> Callable[..., Any]:
    """``expr`` with its constants folded (:func:`fold_constants`), compiled; stored by the symbolic memo."""
    if backend == "numpy":
        return symbolic_memo.lambdify(list(args), expr, _NUMPY_MODULES, label="numpy+scipy-erf, folded", cse=True,
                                      prepare=fold_constants)
    printer = _TorchPrinter({"fully_qualified_modules": False, "inline": True, "allow_unknown_functions": True,
                             "user_functions": {}})
    return symbolic_memo.lambdify(list(args), expr, "torch", label="torch+s2n-printer, folded", printer=printer,
                                  cse=True, prepare=fold_constants)


def _float_array(value: Any) -> np.ndarray:
    """Arrays keep their floating dtype (float32 stays float32); Python numbers and ints become float64."""
    array = np.asarray(value)
    if array.dtype.kind not in "fc":
        array = array.astype(np.float64)
    return array


def compile_expression(args: Sequence[sp.Symbol], expr: sp.Expr, backend: str = "numpy") -> Callable[..., Any]:
    """Compile ``expr`` of ``args`` for ``backend`` ("numpy" or "torch").

    The result accepts scalars or arrays/tensors (broadcast together) and always
    returns an array/tensor of the broadcast shape, in the dtype of the input
    (torch: on the input's device).
    """
    if backend not in EXPRESSION_BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(EXPRESSION_BACKENDS)}")
    compiled = _lambdify(args, sp.sympify(expr), backend)

    if backend == "numpy":

        def call_numpy(*values: Any) -> np.ndarray:
            arrays = [_float_array(v) for v in values]
            with np.errstate(all="ignore"):
                out = compiled(*arrays)
            shape = np.broadcast_shapes(*(a.shape for a in arrays))
            dtype = np.result_type(*arrays)
            if np.iscomplexobj(out):  # e.g. log of a negative constant: keep it visible, never drop it
                dtype = np.result_type(dtype, np.complex64)
            return np.broadcast_to(np.asarray(out, dtype=dtype), shape).copy()

        return call_numpy

    def call_torch(*values: Any) -> torch.Tensor:
        tensors = [v if isinstance(v, torch.Tensor) else torch.as_tensor(v, dtype=torch.float64) for v in values]
        ref = torch.broadcast_tensors(*tensors)[0]
        out = compiled(*tensors)
        if not isinstance(out, torch.Tensor):
            out = torch.full_like(ref, float(out))
        return out.to(ref.dtype).expand_as(ref)

    return call_torch


def backend_of(x: Any) -> str:
    """"torch" for a torch tensor, "numpy" for anything else (arrays, numbers)."""
    return "torch" if isinstance(x, torch.Tensor) else "numpy"


def like(value: Any, x: Any) -> Any:
    """``value`` as an array of x's backend and floating dtype (and device): float32 stays float32,
    integers become float64."""
    if isinstance(x, torch.Tensor):
        return torch.as_tensor(value, dtype=x.dtype, device=x.device)
    dtype = np.asarray(x).dtype
    return np.asarray(value, dtype=dtype if dtype.kind == "f" else np.float64)


def append_dims(x: Any, target_ndim: int) -> Any:
    """``x`` with trailing axes of length 1 added until it has ``target_ndim`` axes (broadcast per sample)."""
    missing = target_ndim - x.ndim
    if missing < 0:
        raise ValueError(f"cannot broadcast an array with {x.ndim} axes to {target_ndim}")
    return x[(...,) + (None,) * missing]
