"""Named exceptions. Every error a user can cause is one of these, with a message
that says which condition failed and where."""


class S2NError(ValueError):
    """Base class of the toolkit's user-facing errors (the CLI prints one line, exits 2)."""


class ExpressionError(S2NError):
    """A user expression is not allowed or cannot be parsed."""


class ScheduleError(S2NError):
    """A schedule is invalid (non-positive α or σ, λ not decreasing, non-finite values, …)."""


class SpecError(S2NError):
    """A schedule or distribution spec string is malformed."""
