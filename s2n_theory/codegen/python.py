"""The standalone Python module of a schedule for numpy, torch or jax: its text and its loading.

The generated text imports only its backend; :func:`load_python_module` executes it
(the text is built here from SymPy trees, never from user strings) as a fresh module.
"""

from __future__ import annotations

import linecache
import types
from collections.abc import Mapping, Sequence

import sympy as sp

from ..arrays import fold_constants
from ..symbols import LAMBDA, S, T
from .forms import NEWTON_ITERATIONS, ExportForms
from .functions import EXPORTED, ONE_ARG, PYTHON_BACKENDS, TWO_ARG, CodegenError
from .printer import Printer, safe_comment
from .stable import is_constant

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


def _implicit(t, target):
    return t
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


def _implicit(t, target):
    # t solves log_snr(t) = target; the loop found it without a graph. The value stays t, the
    # gradient is the implicit-function one, dt/dlam = 1/lambda'(t).
    t = t.detach()
    return t + (target - target.detach()) / dlog_snr(t).detach()


def _where(cond, a, b):
    return _torch.where(cond, a, b)


def _clip(x, lo, hi):
    return _torch.clamp(x, lo, hi)


def _any(x):
    return bool(_torch.any(x))
''',
    "jax": '''import jax as _jax
import jax.numpy as _jnp
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


def _implicit(t, target):
    # The implicit-function gradient dt/dlam = 1/lambda'(t), not one unrolled through the loop.
    stop = _jax.lax.stop_gradient
    t = stop(t)
    return t + (target - stop(target)) / stop(dlog_snr(t))
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
    differentiable = _clip(lam, LOG_SNR_MIN, LOG_SNR_MAX)
    target = _detach(differentiable)
    lo = target * 0.0 + T_MIN
    hi = target * 0.0 + T_MAX
    # A target at an end of the range has its root at that end: start there (from inside, rounding pushes
    # every Newton step past the end and the bisection gains one bit per iteration).
    t = _where(target >= LOG_SNR_MAX, lo, _where(target <= LOG_SNR_MIN, hi, 0.5 * (lo + hi)))
    for _ in range(NEWTON_ITERATIONS):
        value = log_snr(t) - target
        above = value > 0  # lambda decreasing: the root lies to the right of t
        lo = _where(above, t, lo)
        hi = _where(above, hi, t)
        step = value / dlog_snr(t)
        proposal = t - step
        # A bracket end is inside: at the root the step is below an ulp and lands on the end just moved to t.
        inside = (proposal >= lo) & (proposal <= hi)
        new = _where(inside, proposal, 0.5 * (lo + hi))
        # Done where the step is at rounding level, or lambda(t) meets the target to rounding (there the
        # iterate may bounce between the floats around the root).
        moved = (_abs(new - t) > 4.0 * _eps(t) * (_abs(t) + 1e-300)) & \
            (_abs(value) > 4.0 * _eps(t) * (_abs(target) + 1.0))
        t = new
        if _any(moved) is False:
            break
    return _clip(_implicit(t, differentiable), T_MIN, T_MAX)
'''

_EPS_ABS = {
    "numpy": "\n\ndef _eps(x):\n    return _np.finfo(x.dtype).eps\n\n\n_abs = _np.abs\n\n\ndef _detach(x):\n    return x\n",
    "torch": "\n\ndef _eps(x):\n    return _torch.finfo(x.dtype).eps\n\n\n_abs = _torch.abs\n\n\ndef _detach(x):\n"
             "    return x.detach()\n",
    "jax": "\n\ndef _eps(x):\n    return _jnp.finfo(x.dtype).eps\n\n\n_abs = _jnp.abs\n\n\ndef _detach(x):\n"
           "    return _jax.lax.stop_gradient(x)\n",
}


def _function_body(printer: Printer, expr: sp.Expr, args: Sequence[str], indent: str = "    ") -> list[str]:
    folded = fold_constants(expr)
    if is_constant(folded):
        # c + 0*(args): the value c, NaN where an argument is NaN, and (torch, jax) still in the graph
        # of the arguments with derivative 0, instead of a fresh constant tensor.
        zero = " + ".join(f"0.0 * {a}" for a in args)
        return [f"{indent}return _out({printer(folded)} + {zero}, {', '.join(args)})"]
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
    out = [
        f'"""Noise schedule {safe_comment(forms.name)!s}, exported by s2n-theory for {backend}.',
        "",
        "Generated code: standalone, imports only its backend. Functions accept scalars or arrays",
        "(tensors) and return the input's floating dtype; two-argument functions broadcast.",
        *([f"Note: {safe_comment(forms.fallback)}."] if forms.fallback else []),
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
        f"FORMS_MEASURED = {not forms.fallback!r}",
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


def build_python_module(name: str, t_min: float, t_max: float, lam_min: float, lam_max: float,
                        exprs: Mapping[str, sp.Expr | None], backend: str) -> types.ModuleType:
    """A loaded module of the given forms (the inverse as Newton when ``exprs`` has none), for measuring it."""
    forms = ExportForms(name=name, t_min=t_min, t_max=t_max, log_snr_min=lam_min, log_snr_max=lam_max,
                        exprs=dict(exprs), inverse_closed_form=exprs.get("t_of_log_snr") is not None,
                        variance_preserving=False)
    return load_python_module(python_source(forms, backend), backend, name)

