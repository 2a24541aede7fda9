"""Proving identities lhs = rhs: symbolically when SymPy can, numerically when it cannot.

:func:`prove_identities` first asks SymPy to reduce ``lhs − rhs`` to exactly 0,
trying cheap rewrites before ``simplify``. Only if none succeeds does it fall back
to evaluating both sides at 40 significant digits on seeded random points of the
domain, and then it reports the method as ``numeric``, never ``symbolic``. On the
general schedule the fallback replaces α(t), λ(t) by fixed smooth test functions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import mpmath
import numpy as np
import sympy as sp
from sympy.core.function import AppliedUndef

from s2n_theory.schedule import Schedule
from s2n_theory.symbols import S, T
from s2n_theory.time_limit import TimeLimitExceeded, call_within

from . import normal_form
from .registry import Outcome

R = sp.Symbol("r", positive=True)
"""A third time r < s < t for semigroup identities."""

NUMERIC_DIGITS = 40
NUMERIC_TOLERANCE = 1e-25
"""Relative tolerance of the 40-digit fallback: far above its round-off, far below any real error."""


def _test_alpha(u: sp.Expr) -> sp.Expr:
    return sp.exp(-u**2 / 3) * (1 + u / 4)


def _test_log_snr(u: sp.Expr) -> sp.Expr:
    return 3 - 5 * u - u**3


TEST_FUNCTIONS: dict[str, Callable[[sp.Expr], sp.Expr]] = {"alpha": _test_alpha, "lambda": _test_log_snr}
"""Stand-ins for the general schedule's α(t), λ(t) in numeric fallbacks (α > 0, λ decreasing on [0, 1])."""


def instantiate_general(expr: sp.Expr) -> sp.Expr:
    """Replace the undefined α(·), λ(·) by the test functions and evaluate derivatives."""

    def is_schedule_function(e: sp.Basic) -> bool:
        return isinstance(e, AppliedUndef) and e.func.__name__ in TEST_FUNCTIONS

    replaced = expr.replace(is_schedule_function, lambda e: TEST_FUNCTIONS[e.func.__name__](e.args[0]))
    return replaced.doit()


REWRITES: list[Callable[[sp.Expr], sp.Expr]] = [
    lambda e: e,
    sp.simplify,
    lambda e: sp.simplify(sp.expand(sp.powsimp(sp.expand_log(e, force=True), force=True))),
    lambda e: sp.cancel(sp.expand(e)),
]
"""Rewrites tried in order, cheap to costly, each on the original residual."""

SYMBOLIC_BUDGET_SECONDS = {"quick": 10.0, "full": 120.0}
"""Wall-clock budget for SymPy per identity before the numeric fallback takes over."""


SPACE_SYMBOLS = {sp.Symbol("x", real=True), sp.Symbol("x_0", real=True), sp.Symbol("mu", real=True)}
"""Symbols an identity is polynomial in; their coefficients are reduced separately."""


def reduces_to_zero(expr: sp.Expr) -> bool:
    """True if SymPy rewrites ``expr`` to exactly 0 (coefficient-wise for polynomials in x, x₀, μ)."""
    expr = sp.expand(sp.sympify(expr).doit())
    gens = sorted(expr.free_symbols & SPACE_SYMBOLS, key=str)
    if gens:
        try:
            coefficients = sp.Poly(expr, *gens).coeffs()
        except sp.PolynomialError:
            coefficients = [expr]
        return all(_coefficient_is_zero(c) for c in coefficients)
    return _coefficient_is_zero(expr)


def _coefficient_is_zero(expr: sp.Expr) -> bool:
    for rewrite in REWRITES:
        try:
            if rewrite(expr) == 0:
                return True
        except (TypeError, ValueError, NotImplementedError, RecursionError):
            continue
    return False


Ranges = Mapping[sp.Symbol, tuple[float, float]]


def sample_points(schedule: Schedule, symbols: set[sp.Symbol], ranges: Ranges, n: int, seed: int = 0) -> list[dict]:
    """Seeded points: t in the open domain, r < s < t where those appear, others from ``ranges``."""
    rng = np.random.default_rng(seed)
    lo, hi = schedule.t_min, schedule.t_max
    margin = 0.02 * (hi - lo)
    points = []
    for _ in range(n):
        t = rng.uniform(lo + margin, hi - margin)
        s = lo + margin / 2 + (t - lo - margin / 2) * rng.uniform(0.1, 0.9)
        r = lo + margin / 4 + (s - lo - margin / 4) * rng.uniform(0.1, 0.9)
        point: dict = {T: t, S: s, R: r}
        for sym in symbols - {T, S, R}:
            a, b = ranges.get(sym, (-2.0, 2.0))
            point[sym] = rng.uniform(a, b)
        points.append({k: sp.Float(v, NUMERIC_DIGITS) for k, v in point.items() if k in symbols})
    return points


@dataclass
class IdentityResult:
    label: str
    method: str
    residual: float
    passed: bool


def _reduces_to_zero_within(expr: sp.Expr, seconds: float) -> bool:
    """:func:`reduces_to_zero` stopped after ``seconds`` (in this process, as in :func:`normal_form.is_zero`)."""
    if sp.sympify(expr) == 0:
        return True
    try:
        return bool(call_within(reduces_to_zero, (expr,), seconds))
    except (TimeLimitExceeded, Exception):  # noqa: BLE001 - no conclusion: the numeric fallback decides
        return False


EVALUATION_DIGITS = 60
"""Working precision of the compiled fallback: 20 guard digits over NUMERIC_DIGITS for cancellation
inside one side."""


def _high_precision(symbols: Sequence[sp.Symbol], lhs: sp.Expr, rhs: sp.Expr
                    ) -> Callable[[Mapping[sp.Symbol, sp.Expr]], tuple[complex, complex]]:
    """Both sides as one mpmath function with common subexpressions computed once.

    ``evalf(subs=...)`` walks the tree, so a shared subtree (the derivative of 49 nested sines holds
    each inner sine ~49 times) is evaluated once per path: minutes where the compiled form takes
    milliseconds. Expressions the mpmath printer cannot print fall back to ``evalf``.
    """
    try:
        compiled = sp.lambdify(list(symbols), [lhs, rhs], modules="mpmath", cse=True)
    except Exception:  # noqa: BLE001 - an unprintable construct: the slower evalf still decides
        compiled = None

    def by_evalf(point: Mapping[sp.Symbol, sp.Expr]) -> tuple[complex, complex]:
        return complex(lhs.evalf(NUMERIC_DIGITS, subs=point)), complex(rhs.evalf(NUMERIC_DIGITS, subs=point))

    def evaluate(point: Mapping[sp.Symbol, sp.Expr]) -> tuple[complex, complex]:
        if compiled is None:
            return by_evalf(point)
        try:
            with mpmath.workdps(EVALUATION_DIGITS):
                a, b = compiled(*[mpmath.mpf(str(point[sym])) for sym in symbols])
                return complex(a), complex(b)
        except (NameError, TypeError):  # e.g. an undefined function the printer wrote as a name: evalf decides
            return by_evalf(point)

    return evaluate


def prove_identity(label: str, lhs: sp.Expr, rhs: sp.Expr, schedule: Schedule, ranges: Ranges | None = None,
                   points: int = 24, level: str = "quick") -> IdentityResult:
    lhs, rhs = sp.sympify(lhs), sp.sympify(rhs)
    domain = None if schedule.is_general else (schedule.t_min, schedule.t_max)
    # The rational normal form in exponential generators is fast and decides most schedule
    # identities; SymPy's general rewrites come second, the numeric fallback last.
    if normal_form.is_zero(lhs - rhs, domain=domain) or _reduces_to_zero_within(lhs - rhs,
                                                                                SYMBOLIC_BUDGET_SECONDS[level]):
        return IdentityResult(label, "symbolic", 0.0, True)
    if schedule.is_general:
        lhs, rhs = instantiate_general(lhs), instantiate_general(rhs)
    symbols = lhs.free_symbols | rhs.free_symbols
    worst = 0.0
    evaluate = _high_precision(sorted(symbols, key=str), lhs, rhs)
    for point in sample_points(schedule, symbols, ranges or {}, points):
        a, b = evaluate(point)
        scale = abs(a) + abs(b)
        rel = abs(a - b) / scale if scale > 0 else 0.0
        worst = max(worst, rel if np.isfinite(rel) else np.inf)
    return IdentityResult(label, "numeric", worst, worst <= NUMERIC_TOLERANCE)


def prove_identities(
    identities: Sequence[tuple[str, sp.Expr, sp.Expr]],
    schedule: Schedule,
    ranges: Ranges | None = None,
    level: str = "quick",
) -> Outcome:
    """Prove each (label, lhs, rhs); the outcome is symbolic only if every identity was."""
    results = [prove_identity(label, lhs, rhs, schedule, ranges, level=level) for label, lhs, rhs in identities]
    method = "symbolic" if all(r.method == "symbolic" for r in results) else "numeric"
    failed = [r.label for r in results if not r.passed]
    numeric_labels = [r.label for r in results if r.method == "numeric"]
    detail = "; ".join(
        ([f"failed: {', '.join(failed)}"] if failed else [])
        + ([f"numeric fallback (40 digits) for: {', '.join(numeric_labels)}"] if numeric_labels else [])
    ) or f"{len(results)} identit{'y' if len(results) == 1 else 'ies'} reduced to 0"
    # Symbolic: residual 0 against tolerance 0; any numeric fallback: the worst relative error against its tolerance.
    tolerance = 0.0 if method == "symbolic" else NUMERIC_TOLERANCE
    return Outcome(not failed, method, max(r.residual for r in results), detail, tolerance=tolerance)
