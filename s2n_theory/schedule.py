"""The symbolic noise schedule: α(t), σ(t), λ(t) = log(α²/σ²) on [t_min, t_max].

A :class:`Schedule` is built from any two of α, σ, λ, from a VP rate β(t), or
from an EDM noise level σ(t) with α ≡ 1 (docs/theory.md). It keeps all three as
SymPy expressions in the time symbol :data:`~s2n_theory.symbols.T` and finds the
inverse λ → t. Everything derived from a schedule lives with its theory (f, g²
and the transition in :mod:`s2n_theory.forward`); numeric callables come from
:func:`s2n_theory.numeric_schedule.compile_schedule`.

Construction validates the schedule: the domain lies in t ≥ 0 (the symbol t is
declared positive, so SymPy's simplifications such as √(t²) = t are only valid
there: a domain reaching t < 0 is refused rather than silently wrong); no
expression holds an infinite or undefined constant (a parameter that makes a
function singular); at each end of the domain, evaluated exactly, α and σ are
nonzero and α, σ, λ finite and defined (a λ that is infinite at an end cannot be
exported or checked; the error names the end and the value); on the domain, in
floating point, values real and finite, α > 0, σ > 0, λ strictly decreasing, λ
consistent with α and σ. A failure raises :class:`ScheduleError` naming the
condition and the end or a witness time. The name must be printable text
(no control characters: names reach terminals and generated code).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from functools import cached_property
from typing import Any

import numpy as np
import sympy as sp

from . import symbolic_memo
from .arrays import compile_expression
from .errors import ScheduleError
from .symbols import LAMBDA, T
from .time_limit import TimeLimitExceeded, latest_within

INVERSE_SOLVE_SECONDS = 4.0
"""Time limit for SymPy to find a closed-form inverse λ → t before the numeric inverse takes over."""


def _validation_times(t_min: float, t_max: float) -> np.ndarray:
    width = t_max - t_min
    u = np.concatenate([np.linspace(0.0, 1.0, 513)[1:-1], [1e-6, 1e-4, 1 - 1e-4, 1 - 1e-6]])
    return np.unique(t_min + width * u)


_SINGULAR = (sp.zoo, sp.oo, -sp.oo, sp.nan)


def check_schedule_name(name: object) -> str:
    """``name`` if it is printable text; a :class:`ScheduleError` otherwise.

    Names reach terminals (escape codes), rich markup (escaped where printed) and
    comments of generated code, so control characters are refused here, once.
    """
    if not isinstance(name, str) or not name:
        raise ScheduleError("schedule name must be a non-empty string")
    if not name.isprintable():
        bad = next(c for c in name if not c.isprintable())
        raise ScheduleError(f"schedule name {name!r} contains the control character {bad!r}")
    return name


class Schedule:
    """A noise schedule q(x_t | x_0) = N(α(t) x_0, σ(t)² I) on ``[t_min, t_max]``.

    Prefer the named constructors (:meth:`from_alpha_sigma`, :meth:`from_alpha_log_snr`,
    :meth:`from_sigma_log_snr`, :meth:`from_vp_beta`, :meth:`from_edm_sigma`,
    :meth:`general`). Symbolic attributes are SymPy expressions in ``T``.
    """

    def __init__(
        self,
        alpha: sp.Expr,
        sigma: sp.Expr,
        log_snr: sp.Expr,
        *,
        domain: tuple[float, float] = (0.0, 1.0),
        name: str = "custom",
        description: str = "",
        parameters: Mapping[str, float] | None = None,
        validate: bool = True,
    ):
        self.alpha = sp.sympify(alpha)
        self.sigma = sp.sympify(sigma)
        self.log_snr = sp.sympify(log_snr)
        self.name = check_schedule_name(name)
        self.description = description
        self.parameters = dict(parameters or {})
        t_min, t_max = (float(domain[0]), float(domain[1]))
        if not (np.isfinite(t_min) and np.isfinite(t_max) and t_min < t_max):
            raise ScheduleError(f"schedule {name!r}: domain [{t_min}, {t_max}] must be finite with t_min < t_max")
        if t_min < 0:
            raise ScheduleError(
                f"schedule {name!r}: domain [{t_min:g}, {t_max:g}] reaches t < 0, but t is declared positive "
                "(SymPy simplifies with that assumption, e.g. sqrt(t**2) = t, which is wrong for t < 0); "
                "shift time so that the domain lies in t >= 0")
        self.t_min, self.t_max = t_min, t_max
        extra = (self.alpha.free_symbols | self.sigma.free_symbols | self.log_snr.free_symbols) - {T}
        if extra:
            names = ", ".join(sorted(str(s) for s in extra))
            raise ScheduleError(f"schedule {name!r}: expressions depend on unknown symbols {names} (only t)")
        for label, expr in self._labelled():
            if expr.has(*_SINGULAR):
                raise ScheduleError(f"schedule {name!r}: {label} = {expr} holds an infinite or undefined constant "
                                    "(a parameter makes it singular)")
        if validate and not self.is_general:
            # α, σ, λ compiled once for both validations (compiling is most of a built-in's construction time).
            self._validate_ends(self._validate())

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_alpha_sigma(cls, alpha: sp.Expr, sigma: sp.Expr, **kw: Any) -> Schedule:
        alpha, sigma = sp.sympify(alpha), sp.sympify(sigma)
        return cls(alpha, sigma, 2 * sp.log(alpha) - 2 * sp.log(sigma), **kw)

    @classmethod
    def from_alpha_log_snr(cls, alpha: sp.Expr, log_snr: sp.Expr, **kw: Any) -> Schedule:
        alpha, log_snr = sp.sympify(alpha), sp.sympify(log_snr)
        return cls(alpha, alpha * sp.exp(-log_snr / 2), log_snr, **kw)

    @classmethod
    def from_sigma_log_snr(cls, sigma: sp.Expr, log_snr: sp.Expr, **kw: Any) -> Schedule:
        sigma, log_snr = sp.sympify(sigma), sp.sympify(log_snr)
        return cls(sigma * sp.exp(log_snr / 2), sigma, log_snr, **kw)

    @classmethod
    def from_vp_log_snr(cls, log_snr: sp.Expr, **kw: Any) -> Schedule:
        """Variance preserving (α² + σ² = 1) with the given λ: α² = sigmoid(λ)."""
        log_snr = sp.sympify(log_snr)
        alpha = 1 / sp.sqrt(1 + sp.exp(-log_snr))
        sigma = 1 / sp.sqrt(1 + sp.exp(log_snr))
        return cls(alpha, sigma, log_snr, **kw)

    @classmethod
    def from_vp_beta(cls, beta: sp.Expr, **kw: Any) -> Schedule:
        """VP SDE rate β(t): α = exp(−½B), σ² = 1 − exp(−B), B(t) = ∫₀ᵗ β (Song et al. 2021)."""
        u = sp.Dummy("u", positive=True)
        integral = sp.integrate(sp.sympify(beta).subs(T, u), (u, 0, T))
        if integral.has(sp.Integral):
            raise ScheduleError("beta: SymPy found no closed form for B(t) = ∫₀ᵗ β(u) du")
        return cls.from_vp_integrated_beta(integral, **kw)

    @classmethod
    def from_vp_integrated_beta(cls, integrated_beta: sp.Expr, **kw: Any) -> Schedule:
        B = sp.sympify(integrated_beta)
        # λ = log(α²/σ²) = −log(e^B − 1), the form without cancellation for small B.
        return cls(sp.exp(-B / 2), sp.sqrt(1 - sp.exp(-B)), -sp.log(sp.exp(B) - 1), **kw)

    @classmethod
    def from_edm_sigma(cls, sigma: sp.Expr, **kw: Any) -> Schedule:
        """EDM / variance-exploding form: α ≡ 1, noise level σ(t) (Karras et al. 2022)."""
        sigma = sp.sympify(sigma)
        return cls(sp.Integer(1), sigma, -2 * sp.log(sigma), **kw)

    @classmethod
    def general(cls) -> Schedule:
        """The general schedule: undefined functions α(t), λ(t), σ = α e^{−λ/2}.

        Symbolic proofs on this object hold for every schedule. It has no numeric values.
        """
        alpha = sp.Function("alpha", positive=True)(T)
        log_snr = sp.Function("lambda", real=True)(T)
        return cls(alpha, alpha * sp.exp(-log_snr / 2), log_snr, name="general",
                   description="α(t), λ(t) arbitrary smooth functions, σ = α e^{−λ/2}", validate=False)

    # ------------------------------------------------------------------ symbolic
    @cached_property
    def is_general(self) -> bool:
        # Cached: the numeric path asks on every call (each denoiser evaluation), and the expressions are fixed.
        return bool(self.log_snr.atoms(sp.core.function.AppliedUndef) or self.alpha.atoms(sp.core.function.AppliedUndef))

    @property
    def domain(self) -> tuple[float, float]:
        return (self.t_min, self.t_max)

    @property
    def snr(self) -> sp.Expr:
        return sp.exp(self.log_snr)

    @property
    def dlog_snr(self) -> sp.Expr:
        """λ′(t)."""
        return symbolic_memo.derived("Schedule.dlog_snr", (self.log_snr,), lambda: sp.diff(self.log_snr, T))

    def at(self, expr: sp.Expr, time: sp.Expr) -> sp.Expr:
        """``expr`` (written in t) evaluated at another time symbol or value."""
        return sp.sympify(expr).subs(T, time)

    @cached_property
    def inverse_log_snr(self) -> sp.Expr | None:
        """t as a closed-form function of :data:`LAMBDA`, or None if SymPy finds none in time."""
        if self.is_general:
            return None
        candidates = _solve_within(self.log_snr, INVERSE_SOLVE_SECONDS)
        if not candidates:
            return None
        probe_t = _validation_times(self.t_min, self.t_max)
        lam = compile_expression([T], self.log_snr)(probe_t)
        ok = np.isfinite(lam)
        for candidate in candidates:
            if candidate.free_symbols - {LAMBDA}:
                continue
            back = compile_expression([LAMBDA], candidate)(lam[ok])
            if np.all(np.isfinite(back)) and np.allclose(back, probe_t[ok], rtol=1e-9, atol=1e-12 * (self.t_max - self.t_min)):
                return candidate
        return None

    def _labelled(self) -> tuple[tuple[str, sp.Expr], ...]:
        return (("alpha", self.alpha), ("sigma", self.sigma), ("lambda", self.log_snr))

    def _validate_ends(self, compiled: Mapping[str, Callable[..., np.ndarray]]) -> None:
        """α, σ, λ at t_min and t_max themselves, exactly: the float check below cannot see that
        cos(π/2) is 0 (it rounds to 6e-17) and the open-domain samples never reach the end."""
        for end, value in (("t_min", self.t_min), ("t_max", self.t_max)):
            point = sp.Rational(repr(value))  # the float's shortest decimal, exactly
            for label, expr in self._labelled():
                exact = expr.subs(T, point)
                if exact.has(*_SINGULAR):
                    raise ScheduleError(
                        f"schedule {self.name!r}: {label} is infinite or undefined at {end} = {value:g} "
                        f"({label}({value:g}) = {exact}); choose a domain that stops short of it")
                if label != "lambda" and exact.is_zero:
                    raise ScheduleError(
                        f"schedule {self.name!r}: {label} = 0 at {end} = {value:g}, so lambda is infinite there; "
                        "choose a domain that stops short of it")
                with np.errstate(all="ignore"):
                    number = complex(compiled[label](np.array([value], dtype=np.complex128))[0])
                if not (np.isfinite(number) and abs(number.imag) <= 1e-12 * max(1.0, abs(number.real))) or (
                        label != "lambda" and number.real <= 0):
                    raise ScheduleError(
                        f"schedule {self.name!r}: {label} at {end} = {value:g} is {number.real:g} in float64 "
                        "(it must be finite, real, and > 0 for alpha and sigma); choose a smaller domain")

    def _validate(self) -> dict[str, Callable[..., np.ndarray]]:
        """Sampled checks on the open domain; returns α, σ, λ compiled (for :meth:`_validate_ends`)."""
        times = _validation_times(self.t_min, self.t_max)
        compiled: dict[str, Callable[..., np.ndarray]] = {}

        def fail(condition: str, mask: np.ndarray) -> None:
            witness = times[np.argmax(mask)]
            raise ScheduleError(f"schedule {self.name!r}: {condition} (e.g. at t = {witness:.6g})")

        def evaluate(label: str, expr: sp.Expr) -> np.ndarray:
            try:
                compiled[label] = compile_expression([T], expr)
                values = compiled[label](times.astype(np.complex128))
            except (TypeError, ValueError, ZeroDivisionError, OverflowError) as exc:
                raise ScheduleError(f"schedule {self.name!r}: cannot evaluate {label}: {exc}") from None
            bad = ~np.isfinite(values) | (np.abs(values.imag) > 1e-12 * np.maximum(1.0, np.abs(values.real)))
            if bad.any():
                fail(f"{label} is not real and finite", bad)
            return values.real

        alpha = evaluate("alpha", self.alpha)
        if (alpha <= 0).any():
            fail("alpha must be > 0 on the open domain", alpha <= 0)
        sigma = evaluate("sigma", self.sigma)
        if (sigma <= 0).any():
            fail("sigma must be > 0 on the open domain", sigma <= 0)
        lam = evaluate("lambda", self.log_snr)
        implied = 2 * np.log(alpha) - 2 * np.log(sigma)
        mismatch = np.abs(implied - lam) > 1e-8 * np.maximum(1.0, np.abs(lam))
        if mismatch.any():
            fail("lambda is inconsistent with log(alpha^2/sigma^2)", mismatch)
        rising = np.diff(lam) >= 0
        if rising.any():
            fail("lambda = log(alpha^2/sigma^2) must be strictly decreasing", np.append(rising, False))
        return compiled

    def __repr__(self) -> str:
        return f"Schedule({self.name!r}, alpha={self.alpha}, sigma={self.sigma}, domain={list(self.domain)})"


def _solve_steps(log_snr: sp.Expr) -> Iterator[list[sp.Expr]]:
    # Raw solutions first, simplified ones after: the caller keeps the last it receives in time.
    solutions = list(sp.solve(sp.Eq(log_snr, LAMBDA), T, simplify=False, check=False, rational=False))
    yield solutions
    yield [sp.simplify(s) for s in solutions] + solutions


_INVERSE_CACHE: dict[str, list[sp.Expr]] = {}


def solved_inverse(log_snr: sp.Expr) -> list[sp.Expr] | None:
    """What SymPy's solve for λ(t) = Λ gave in this process (empty: nothing within its limit), None if not run."""
    return _INVERSE_CACHE.get(sp.srepr(log_snr))


def remember_inverse(log_snr: sp.Expr, solutions: list[sp.Expr]) -> None:
    """Install the outcome of that solve made earlier (another process, the verification cache): it is not rerun."""
    _INVERSE_CACHE[sp.srepr(log_snr)] = list(solutions)


def _solve_within(log_snr: sp.Expr, seconds: float) -> list[sp.Expr]:
    """SymPy's solve for λ(t) = Λ, abandoned after ``seconds`` (the iDDPM cosine in
    its textbook form takes ~35 s; sub-VP has no closed form and fails after ~7 s)."""
    key = sp.srepr(log_snr)
    if key not in _INVERSE_CACHE:
        try:
            _INVERSE_CACHE[key] = latest_within(_solve_steps, (log_snr,), seconds)
        except (TimeLimitExceeded, RuntimeError):
            _INVERSE_CACHE[key] = []
    return _INVERSE_CACHE[key]
