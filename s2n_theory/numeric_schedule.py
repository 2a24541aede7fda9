"""From a symbolic schedule to the record the code generator compiles.

:func:`schedule_functions` collects a :class:`~s2n_theory.schedule.Schedule`'s
expressions into a :class:`~s2n_theory.codegen.ScheduleFunctions` record: α, σ,
λ, SNR and λ′ from the schedule, f and g² from F1 and the transition
(α_{t|s}, σ²_{t|s}) from F3 (:mod:`s2n_theory.forward`), and the closed-form
inverse λ → t when SymPy finds one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import forward
from .codegen import ScheduleFunctions

if TYPE_CHECKING:
    from .schedule import Schedule


def schedule_functions(schedule: Schedule) -> ScheduleFunctions:
    """The record of ``schedule``'s functions that :mod:`s2n_theory.codegen` exports (F1, F3)."""
    alpha_ts, sigma2_ts = forward.transition(schedule)
    return ScheduleFunctions(
        name=schedule.name, t_min=schedule.t_min, t_max=schedule.t_max,
        alpha=schedule.alpha, sigma=schedule.sigma, log_snr=schedule.log_snr, snr=schedule.snr,
        f=forward.drift(schedule), g2=forward.diffusion_squared(schedule), dlog_snr=schedule.dlog_snr,
        alpha_ts=alpha_ts, sigma2_ts=sigma2_ts, inverse_log_snr=schedule.inverse_log_snr,
    )
