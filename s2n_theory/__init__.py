"""s2n-theory: the theory of signal-to-noise diffusion models, derived, checked and exported.

The mathematics is specified in THEORY.md (claims F1…I5); each module derives one part:
:mod:`s2n_theory.forward` (F1–F5), and the schedule core in :mod:`s2n_theory.schedule`.
"""

from .errors import ExpressionError, S2NError, ScheduleError, SpecError
from .expressions import T, parse_expression
from .library import BUILTINS, builtin_names, get_schedule
from .schedule import LAMBDA, NumericSchedule, S, Schedule

__version__ = "0.1.0"

__all__ = [
    "BUILTINS",
    "LAMBDA",
    "S",
    "T",
    "ExpressionError",
    "NumericSchedule",
    "S2NError",
    "Schedule",
    "ScheduleError",
    "SpecError",
    "builtin_names",
    "get_schedule",
    "parse_expression",
    "__version__",
]
