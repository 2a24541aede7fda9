"""s2n-theory: the theory of signal-to-noise diffusion models, derived, checked and exported.

The claims (F1 … I5 and the rest) are stated in docs/theory.md. Layers, lowest first:

* foundations: :mod:`~s2n_theory.symbols`, :mod:`~s2n_theory.errors`, :mod:`~s2n_theory.arrays`
  (the numbers boundary), :mod:`~s2n_theory.expressions` (the safe parser),
  :mod:`~s2n_theory.time_limit`, :mod:`~s2n_theory.quadrature`, :mod:`~s2n_theory.codegen`;
* schedules: :mod:`~s2n_theory.schedule`, :mod:`~s2n_theory.builtin_schedules`,
  :mod:`~s2n_theory.schedule_spec`;
* derivations, one module per part of the theory: :mod:`~s2n_theory.forward` (F),
  :mod:`~s2n_theory.inference` and :mod:`~s2n_theory.gaussian_mixture` (P),
  :mod:`~s2n_theory.backward` (B), :mod:`~s2n_theory.cv_model` (C), :mod:`~s2n_theory.snspace` (S),
  :mod:`~s2n_theory.information` (I), with :mod:`~s2n_theory.numeric_schedule` turning a
  schedule into numbers;
* numerics built on them: :mod:`~s2n_theory.sampling`, :mod:`~s2n_theory.interop`,
  :mod:`~s2n_theory.metrics`;
* claims, figures, sweeps: :mod:`s2n_theory.verification`, :mod:`~s2n_theory.figures`,
  :mod:`~s2n_theory.sweep`; and the command line, :mod:`s2n_theory.cli`.
"""

import gc

# Importing the package imports SymPy, torch and NumPy: a few hundred thousand long-lived objects. The cyclic
# collector's passes over them during the import free nothing and took about 14 % of it (0.3-0.5 s of every
# process's start), so it is paused for the import, and what the import built joins the oldest generation directly
# (freeze, then unfreeze: a move, not a pass over them) instead of being walked once per younger generation.
_collecting, _frozen_by_caller = gc.isenabled(), gc.get_freeze_count()
gc.disable()
try:
    from .builtin_schedules import BUILTINS, builtin_names
    from .errors import ExpressionError, S2NError, ScheduleError, SpecError
    from .expressions import parse_expression
    from .numeric_schedule import NumericSchedule, compile_schedule
    from .schedule import Schedule
    from .schedule_spec import get_schedule
    from .symbols import LAMBDA, T
finally:
    if not _frozen_by_caller:  # unfreeze would also release what a caller froze on purpose
        gc.freeze()
        gc.unfreeze()
    if _collecting:
        gc.enable()

__version__ = "0.1.0"

__all__ = [
    "BUILTINS",
    "LAMBDA",
    "T",
    "ExpressionError",
    "NumericSchedule",
    "S2NError",
    "Schedule",
    "ScheduleError",
    "SpecError",
    "builtin_names",
    "compile_schedule",
    "get_schedule",
    "parse_expression",
    "__version__",
]
