"""Numeric callables of a schedule: the one place where a Schedule (or its spec) becomes numbers.

:func:`compile_schedule` returns a :class:`NumericSchedule` whose functions are those of the
generated, numerically stable module that ``s2n export`` writes (:mod:`s2n_theory.codegen`),
loaded in process and cached per schedule and backend. The symbolic inputs of that module
(α, σ, λ and the F1/F3 derivations of :mod:`s2n_theory.forward`) are gathered by
:func:`schedule_functions`.
"""

from __future__ import annotations

import types
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import codegen, forward
from .arrays import NUMERIC_BACKENDS, append_dims, backend_of, like
from .errors import ScheduleError
from .schedule import Schedule
from .schedule_spec import get_schedule

_MODULES: weakref.WeakKeyDictionary[Schedule, dict[str, types.ModuleType]] = weakref.WeakKeyDictionary()
"""Generated modules per schedule and backend; they hold no reference back to the schedule."""


def schedule_functions(schedule: Schedule) -> codegen.ScheduleFunctions:
    """The expressions codegen exports for ``schedule``: α, σ, λ, SNR, λ′, f and g² (F1), the F3 kernel, t(λ)."""
    alpha_ts, sigma2_ts = forward.transition(schedule)
    return codegen.ScheduleFunctions(
        name=schedule.name, t_min=schedule.t_min, t_max=schedule.t_max,
        alpha=schedule.alpha, sigma=schedule.sigma, log_snr=schedule.log_snr, snr=schedule.snr,
        f=forward.drift(schedule), g2=forward.diffusion_squared(schedule), dlog_snr=schedule.dlog_snr,
        alpha_ts=alpha_ts, sigma2_ts=sigma2_ts,
        inverse_log_snr=None if schedule.is_general else schedule.inverse_log_snr)


@dataclass
class NumericSchedule:
    """Numeric callables of one schedule for one backend (arrays in, arrays out, same backend).

    ``t_of_log_snr`` is SymPy's closed-form inverse when one exists and meets the accuracy
    targets, otherwise a vectorised safeguarded Newton iteration on λ.
    """

    schedule: Schedule
    backend: str
    alpha: Callable[[Any], Any]
    sigma: Callable[[Any], Any]
    log_snr: Callable[[Any], Any]
    snr: Callable[[Any], Any]
    f: Callable[[Any], Any]
    g2: Callable[[Any], Any]
    dlog_snr: Callable[[Any], Any]
    alpha_ts: Callable[[Any, Any], Any]
    sigma2_ts: Callable[[Any, Any], Any]
    t_of_log_snr: Callable[[Any], Any]
    inverse_closed_form: Callable[[Any], Any] | None = field(default=None)
    module: Any = field(default=None, repr=False)


_FUNCTION_NAMES = ("alpha", "sigma", "log_snr", "snr", "f", "g2", "dlog_snr", "alpha_ts", "sigma2_ts", "t_of_log_snr")


def compile_schedule(schedule: Schedule | NumericSchedule | str, backend: str = "numpy") -> NumericSchedule:
    """Numeric callables of ``schedule`` (a Schedule, a NumericSchedule, a name or a spec) for ``backend``.

    Compiled once per schedule and backend ("numpy", "torch" or "jax").
    """
    if isinstance(schedule, NumericSchedule):
        if schedule.backend == backend:
            return schedule
        schedule = schedule.schedule
    schedule = get_schedule(schedule)
    if schedule.is_general:
        raise ScheduleError("the general schedule has no numeric values; pick a concrete one")
    if backend not in NUMERIC_BACKENDS:
        raise ScheduleError(f"unknown backend {backend!r}; choose one of {', '.join(NUMERIC_BACKENDS)}")
    modules = _MODULES.setdefault(schedule, {})
    if backend not in modules:
        modules[backend] = codegen.python_module(schedule_functions(schedule), backend)
    module = modules[backend]
    return NumericSchedule(schedule=schedule, backend=backend, inverse_closed_form=getattr(module, "_t_closed", None),
                           module=module, **{name: getattr(module, name) for name in _FUNCTION_NAMES})


def values_like(schedule: Schedule | NumericSchedule | str, x: Any, t: Any,
                names: tuple[str, ...] = ("alpha", "sigma", "log_snr")) -> tuple[Any, ...]:
    """The schedule's functions ``names`` at ``t``, in x's backend, dtype and device, shaped to broadcast
    against x (..., d): one value per sample gets a trailing axis."""
    num = compile_schedule(schedule, backend_of(x))
    tt = like(t, x)
    return tuple(append_dims(v, v.ndim + 1) if v.ndim else v for v in (getattr(num, name)(tt) for name in names))
