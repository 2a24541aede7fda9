"""Export a schedule as standalone, numerically stable code (numpy, torch, jax, C, LaTeX).

The exported functions are ``alpha, sigma, log_snr, snr, f, g2, dlog_snr`` of t,
the transition coefficients ``alpha_ts(t, s)``, ``sigma2_ts(t, s)`` (F3) and the
inverse ``t_of_log_snr(lam)``. Their formulas come from the schedule's SymPy
expressions (F1 for f and g², F3 for the transition), never typed by hand; the
generator reads them from a :class:`ScheduleFunctions` record
(:func:`s2n_theory.numeric_schedule.schedule_functions` builds one from a schedule).

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

Modules: :mod:`.functions` (the record, the exported names, the backends),
:mod:`.stable` (stable functions), :mod:`.rewrite` (stable rewriting),
:mod:`.printer` (code printer), :mod:`.references` (probes, 50-digit references),
:mod:`.forms` (targets, chosen forms), :mod:`.selection` (measuring the candidates),
:mod:`.python`, :mod:`.c` and :mod:`.latex` (the backends).
"""

from __future__ import annotations

import types
import weakref

from .c import c_identifier, c_source
from .forms import NEWTON_ITERATIONS, RTOL32, RTOL64, SELECTION_MARGIN, Candidate, ExportForms
from .functions import (
    BACKENDS,
    EXPORTED,
    ONE_ARG,
    PYTHON_BACKENDS,
    TWO_ARG,
    CodegenError,
    ScheduleFunctions,
)
from .latex import DERIVED_LABELS, SIMPLIFY_SECONDS, TEXT_LABELS, derived_formulas, latex_source
from .printer import Printer
from .python import load_python_module, python_source
from .references import REFERENCE_DPS, probe_pairs, probe_times, reference_inverse
from .rewrite import difference, log_cos_complement, stable_rewrite, trig_complement
from .selection import error_floor, export_forms
from .stable import Expm1, Hold, Log1mExp, Log1p, LogCos, LogExpm1, Softplus, elementary

_MODULE_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def python_module(schedule: ScheduleFunctions, backend: str) -> types.ModuleType:
    """The generated module for ``schedule`` on ``backend``, loaded.

    Cached per backend while the record (or one equal to it) is alive.
    """
    per = _MODULE_CACHE.setdefault(schedule, {})
    if backend not in per:
        per[backend] = load_python_module(module_source(schedule, backend), backend, schedule.name)
    return per[backend]


def module_source(schedule: ScheduleFunctions, backend: str) -> str:
    """The text of :func:`python_module`'s module, printed once per selected forms and backend."""
    forms = export_forms(schedule)
    # Keyed by everything the text is printed from: a copy of the forms with other expressions (``replace``
    # shares this dict) never gets the text of the original.
    key = (backend, forms.name, forms.t_min, forms.t_max, forms.log_snr_min, forms.log_snr_max,
           forms.inverse_closed_form, forms.variance_preserving, forms.fallback, tuple(forms.exprs.items()))
    if key not in forms.sources:
        forms.sources[key] = python_source(forms, backend)
    return forms.sources[key]


def export(schedule: ScheduleFunctions, backend: str, *, prefix: str = "s2n",
           header_name: str | None = None) -> dict[str, str]:
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


__all__ = [
    "BACKENDS",
    "DERIVED_LABELS",
    "EXPORTED",
    "NEWTON_ITERATIONS",
    "ONE_ARG",
    "PYTHON_BACKENDS",
    "REFERENCE_DPS",
    "RTOL32",
    "RTOL64",
    "SELECTION_MARGIN",
    "SIMPLIFY_SECONDS",
    "TEXT_LABELS",
    "TWO_ARG",
    "Candidate",
    "CodegenError",
    "ExportForms",
    "Expm1",
    "Hold",
    "Log1mExp",
    "Log1p",
    "LogCos",
    "LogExpm1",
    "Printer",
    "ScheduleFunctions",
    "Softplus",
    "c_identifier",
    "c_source",
    "derived_formulas",
    "difference",
    "elementary",
    "error_floor",
    "export",
    "export_forms",
    "latex_source",
    "load_python_module",
    "log_cos_complement",
    "module_source",
    "probe_pairs",
    "probe_times",
    "python_module",
    "python_source",
    "reference_inverse",
    "stable_rewrite",
    "trig_complement",
]
