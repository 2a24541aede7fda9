"""Training objectives in signal-to-noise space: claims W1–W3.

Convention (Kingma & Gao 2024), used by this module, its checks, the recipes and ``s2n weighting``:

    L = ½ ∫_{λ_min}^{λ_max} w(λ) E‖ε̂ − ε‖² dλ   ( = ½ E_{t~U(0,1)}[w(λ_t) (−dλ/dt) ‖ε̂ − ε‖²] for a
                                                    schedule on [0, 1] ),

where ε̂ is the noise implied by the model's output at x_t = α x₀ + σ ε. A *recipe* trains a model
on a target h (ε, x₀, v, score, flow velocity, EDM's F) with a time density p(t) and a per-time
loss weight m(t):

    L = ½ ∫_{t_min}^{t_max} p(t) m(t) E‖ĥ − h‖² dt = ½ E_{t~p}[m(t) ‖ĥ − h‖²] · ∫p.

p need not be normalised (``"1"`` is uniform); its total ``mass`` is reported.

* W1: every target is affine in ε at fixed x_t, h = A(t) x_t + B(t) ε, so ĥ − h = B (ε̂ − ε)
  and ‖ĥ − h‖² = c ‖ε̂ − ε‖² with c = B². B is *derived* here by substituting
  x₀ = (x_t − σ ε)/α into the target's textbook definition and differentiating in ε.
* W2: with t → λ(t), w(λ) = p(t) m(t) c(t)/(−λ′(t)) and the λ-density p_λ(λ) = p(t)/(−λ′(t)),
  both at t = t(λ). w ≡ 1 is the continuous-time ELBO (VDM), ½ ∫ E‖ε̂ − ε‖² dλ, which depends
  on the schedule only through λ at the two ends.
* W3: so the loss depends on a recipe only through w(λ) (and, for the estimator's law, p_λ):
  two recipes with the same w and p_λ give the same loss, whatever their schedules and targets.

Time densities and weights are user text read by the safe parser
(:func:`s2n_theory.expressions.parse_expression`) with the names ``t``, ``alpha``, ``sigma``,
``logsnr`` (λ(t)) and ``dlogsnr`` (λ′(t)) of the schedule, so that e.g. the ELBO is the
ε-recipe with weight ``-dlogsnr`` on any schedule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

from . import symbolic_memo
from .arrays import compile_expression
from .errors import SpecError
from .expressions import parse_expression
from .forward import X0, X
from .numeric_schedule import compile_schedule
from .quadrature import integrate
from .schedule import Schedule
from .schedule_spec import get_schedule
from .symbols import LAMBDA, T
from .time_limit import TimeLimitExceeded, latest_within

EPS = sp.Symbol("epsilon", real=True)
"""The noise ε of x_t = α x₀ + σ ε."""

PREDICTIONS: dict[str, str] = {
    "eps": "noise ε",
    "x0": "data x₀ (also EDM's D)",
    "v": "v = α ε − σ x₀ (Salimans & Ho 2022)",
    "score": "conditional score ∇log q(x_t | x₀) = −ε/σ",
    "flow": "velocity of the conditional path, dx_t/dt = α′ x₀ + σ′ ε (flow matching)",
    "edm": "EDM's network output F, D = c_skip y + c_out F on y = x_t/α, σ̄ = e^{−λ/2} (Karras et al. 2022)",
}
"""Prediction targets (W1) and what each one is."""

DEFAULT_SIGMA_DATA = 0.5
INVERSE_SECONDS = 4.0
"""Budget for SymPy to solve σ/α = e^{−λ/2} for t when the schedule's own inverse failed."""
SIMPLIFY_SECONDS = 8.0
"""Budget for simplifying w(λ) and p_λ(λ) after substituting t(λ)."""


def _check_prediction(prediction: str) -> None:
    if prediction not in PREDICTIONS:
        raise SpecError(f"unknown prediction {prediction!r} (choose one of {', '.join(PREDICTIONS)})")


# ---------------------------------------------------------------------------- W1: targets and conversions
def target(prediction: str, schedule: Schedule, sigma_data: float | sp.Expr = DEFAULT_SIGMA_DATA) -> sp.Expr:
    """W1: the target h of ``prediction`` by its textbook definition, in x₀ (``X0``), ε (``EPS``) and t."""
    _check_prediction(prediction)
    alpha, sigma = schedule.alpha, schedule.sigma
    if prediction == "eps":
        return EPS
    if prediction == "x0":
        return X0
    if prediction == "v":
        return alpha * EPS - sigma * X0
    if prediction == "score":
        return -EPS / sigma
    if prediction == "flow":
        return sp.diff(alpha, T) * X0 + sp.diff(sigma, T) * EPS
    # EDM (P2): y = x_t/α = x₀ + σ̄ ε with σ̄ = e^{−λ/2}; D = c_skip y + c_out F is trained towards x₀.
    sd = sp.nsimplify(sigma_data) if isinstance(sigma_data, float) else sp.sympify(sigma_data)
    noise = sp.exp(-schedule.log_snr / 2)
    c_skip = sd**2 / (noise**2 + sd**2)
    c_out = noise * sd / sp.sqrt(noise**2 + sd**2)
    return (X0 - c_skip * (X0 + noise * EPS)) / c_out


def conversion(prediction: str, schedule: Schedule,
               sigma_data: float | sp.Expr = DEFAULT_SIGMA_DATA) -> tuple[sp.Expr, sp.Expr]:
    """W1: (A, B) with h = A x_t + B ε, derived from :func:`target` by x₀ = (x_t − σ ε)/α."""
    return symbolic_memo.derived("objectives.conversion",
                                 (prediction, schedule.alpha, schedule.sigma, schedule.log_snr, sigma_data),
                                 lambda: _conversion(prediction, schedule, sigma_data))


def _conversion(prediction: str, schedule: Schedule, sigma_data: float | sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    h = target(prediction, schedule, sigma_data).subs(X0, (X - schedule.sigma * EPS) / schedule.alpha)
    return sp.diff(h, X), sp.diff(h, EPS)


def conversion_factor(prediction: str, schedule: Schedule,
                      sigma_data: float | sp.Expr = DEFAULT_SIGMA_DATA) -> sp.Expr:
    """W1: c(t) = B(t)², so that ‖ĥ − h‖² = c ‖ε̂ − ε‖² (e.g. c = e^{−λ} for x₀)."""
    return conversion(prediction, schedule, sigma_data)[1] ** 2


# ---------------------------------------------------------------------------- recipe texts
def recipe_names(schedule: Schedule) -> dict[str, sp.Expr]:
    """Names a time density or weight text may use: t, alpha, sigma, logsnr = λ(t), dlogsnr = λ′(t)."""
    return {"t": T, "alpha": schedule.alpha, "sigma": schedule.sigma, "logsnr": schedule.log_snr,
            "dlogsnr": schedule.dlog_snr}


def recipe_expression(value: str | sp.Expr, schedule: Schedule, where: str) -> sp.Expr:
    """A time density or weight: user text through the safe parser, or a SymPy expression in t from code."""
    if isinstance(value, str):
        return parse_expression(value, recipe_names(schedule), where=where)
    expr = sp.sympify(value)
    extra = expr.free_symbols - {T}
    if extra:
        raise SpecError(f"{where}: depends on {', '.join(sorted(map(str, extra)))} (only t)")
    return expr


def elbo_weight(prediction: str, schedule: Schedule, sigma_data: float | sp.Expr = DEFAULT_SIGMA_DATA) -> sp.Expr:
    """W2: the weight m(t) = −λ′(t)/c(t) that makes the uniform-time ``prediction`` loss the ELBO (w ≡ 1)."""
    return -schedule.dlog_snr / conversion_factor(prediction, schedule, sigma_data)


# ---------------------------------------------------------------------------- t(λ)
def _ratio_inverse_steps(schedule: Schedule) -> Iterator[list[sp.Expr]]:
    yield list(sp.solve(sp.Eq(schedule.sigma / schedule.alpha, sp.exp(-LAMBDA / 2)), T))


def _accurate_inverse(schedule: Schedule, candidate: sp.Expr) -> bool:
    if candidate.free_symbols - {LAMBDA}:
        return False
    num = compile_schedule(schedule, "numpy")
    t = np.linspace(schedule.t_min, schedule.t_max, 41)[1:-1]
    lam = num.log_snr(t)
    with np.errstate(all="ignore"):
        back = compile_expression([LAMBDA], candidate)(lam)
    return bool(np.all(np.isfinite(back)) and np.allclose(back, t, rtol=1e-9, atol=1e-12))


_INVERSES: dict[str, sp.Expr | None] = {}


def inverse_log_snr(schedule: Schedule) -> sp.Expr | None:
    """t as a closed-form function of λ: the schedule's own inverse, else SymPy on σ/α = e^{−λ/2}
    (which closes rectified flow's t = 1/(1 + e^{λ/2})); None if neither works within budget."""
    if schedule.is_general:
        return None
    if schedule.inverse_log_snr is not None:
        return schedule.inverse_log_snr
    key = sp.srepr((schedule.alpha, schedule.sigma)) + repr(schedule.domain)
    if key not in _INVERSES:
        try:
            candidates = latest_within(_ratio_inverse_steps, (schedule,), INVERSE_SECONDS)
        except (TimeLimitExceeded, RuntimeError):
            candidates = []
        _INVERSES[key] = next((c for c in candidates if _accurate_inverse(schedule, c)), None)
    return _INVERSES[key]


def _in_exponential_generator(expr: sp.Expr) -> sp.Expr:
    """Rewrite a function of e^{aλ} (a rational) as a rational function of z = e^{λ/q}, cancel, and
    map back: this finds e.g. ½ e^{−λ/2} where ``simplify`` leaves a ratio of exponential sums."""
    expr = expr.rewrite(sp.exp)
    powers = [sp.expand(a.args[0]) for a in expr.atoms(sp.exp)]
    coefficients = [p.coeff(LAMBDA) for p in powers]
    if not powers or any(not (c.is_Rational and p == c * LAMBDA) for c, p in zip(coefficients, powers, strict=True)):
        return expr
    q = sp.ilcm(*[c.q for c in coefficients]) if len(coefficients) > 1 else coefficients[0].q
    z = sp.Symbol("z", positive=True)
    rational = expr.subs({sp.exp(p): z ** (c * q) for c, p in zip(coefficients, powers, strict=True)})
    if rational.has(LAMBDA):
        return expr
    return sp.factor(sp.cancel(rational)).subs(z, sp.exp(LAMBDA / q))


def _simplify_steps(exprs: tuple[sp.Expr, ...]) -> Iterator[tuple[sp.Expr, ...]]:
    yield exprs
    simplified = tuple(sp.simplify(e) for e in exprs)
    yield simplified
    yield tuple(min((s, _in_exponential_generator(s)), key=sp.count_ops) for s in simplified)


def in_log_snr(exprs: tuple[sp.Expr, ...], schedule: Schedule) -> tuple[sp.Expr, ...] | None:
    """Expressions in t rewritten in λ through t(λ) and simplified within budget; None without t(λ)."""
    inverse = inverse_log_snr(schedule)
    if inverse is None:
        return None
    substituted = tuple(sp.sympify(e).subs(T, inverse) for e in exprs)
    try:
        return latest_within(_simplify_steps, (substituted,), SIMPLIFY_SECONDS)
    except (TimeLimitExceeded, RuntimeError):
        return substituted


# ---------------------------------------------------------------------------- W2: the implied weighting
@dataclass
class ImpliedWeighting:
    """w(λ) and the λ-density of one recipe (module convention: L = ½ ∫ w(λ) E‖ε̂ − ε‖² dλ).

    ``weighting_t`` and ``density_t`` are w and p_λ as expressions in t (any schedule, the general
    one included); ``weighting``, ``log_snr_density`` and ``conversion`` (c) are the same in
    :data:`LAMBDA` when t(λ) has a closed form (else None). :meth:`w` and :meth:`density` evaluate them at arrays of λ.
    """

    schedule: Schedule
    prediction: str
    time_density_t: sp.Expr
    weight_t: sp.Expr
    conversion_t: sp.Expr
    weighting_t: sp.Expr
    density_t: sp.Expr
    weighting: sp.Expr | None = None
    log_snr_density: sp.Expr | None = None
    conversion: sp.Expr | None = None
    sigma_data: float = DEFAULT_SIGMA_DATA
    _compiled: dict[str, Callable[[Any], Any]] = field(default_factory=dict, repr=False)

    @property
    def closed_form(self) -> bool:
        return self.weighting is not None

    @property
    def log_snr_range(self) -> tuple[float, float]:
        """(λ_min, λ_max) = (λ(t_max), λ(t_min))."""
        num = compile_schedule(self.schedule, "numpy")
        ends = num.log_snr(np.array([self.schedule.t_max, self.schedule.t_min], dtype=np.float64))
        return float(ends[0]), float(ends[1])

    def _of_lambda(self, name: str, expr_t: sp.Expr, lam: Any) -> np.ndarray:
        if name not in self._compiled:
            self._compiled[name] = compile_expression([T], expr_t)
        num = compile_schedule(self.schedule, "numpy")
        t = num.t_of_log_snr(np.asarray(lam, dtype=np.float64))
        return np.asarray(self._compiled[name](np.asarray(t, dtype=np.float64)), dtype=np.float64)

    def w(self, lam: Any) -> np.ndarray:
        """w(λ) at an array of λ inside :attr:`log_snr_range` (through t(λ) numerically)."""
        return self._of_lambda("w", self.weighting_t, lam)

    def density(self, lam: Any) -> np.ndarray:
        """p_λ(λ), the density of λ_t for t ~ p(t) (unnormalised if p is)."""
        return self._of_lambda("density", self.density_t, lam)

    def mass(self) -> float:
        """∫ p(t) dt over the domain = ∫ p_λ dλ (1 for a normalised time density)."""

        lo, hi = self.log_snr_range
        edges = np.linspace(lo, hi, 65)[None, :]
        q = integrate(lambda lam, rows: self.density(lam.ravel()).reshape(lam.shape), edges, rtol=1e-10,
                      atol=0.0, max_panels=32)
        return float(q.value[0, 0])

    def normalised(self, lam: np.ndarray) -> np.ndarray:
        """w on the grid ``lam`` scaled to integrate to 1 over the grid (trapezoid), for plots."""
        values = self.w(lam)
        total = float(np.trapezoid(values, lam))
        return values / total if total > 0 else values


def implied_weighting(
    schedule: Schedule | str,
    prediction: str,
    time_density: str | sp.Expr = "1",
    *,
    weight: str | sp.Expr = "1",
    sigma_data: float = DEFAULT_SIGMA_DATA,
    closed_form: bool = True,
) -> ImpliedWeighting:
    """W2: w(λ) = p m c/(−λ′) and p_λ = p/(−λ′) at t = t(λ) for ``prediction`` trained with
    time density ``time_density`` and loss weight ``weight`` (texts in t, alpha, sigma, logsnr, dlogsnr).

    Raises :class:`SpecError` for an unknown prediction, :class:`ExpressionError` for bad text, and
    :class:`SpecError` when the density or weight is negative or not finite on the domain.
    """

    schedule = get_schedule(schedule)
    _check_prediction(prediction)
    if not (np.isfinite(sigma_data) and sigma_data > 0):
        raise SpecError(f"sigma_data must be a finite number > 0, got {sigma_data}")
    density = recipe_expression(time_density, schedule, "time density")
    loss_weight = recipe_expression(weight, schedule, "weight")
    factor = conversion_factor(prediction, schedule, sigma_data)
    if not schedule.is_general:
        _require_non_negative(density, schedule, "time density")
        _require_non_negative(loss_weight, schedule, "weight")
    rate = -schedule.dlog_snr
    result = ImpliedWeighting(schedule, prediction, density, loss_weight, factor,
                              weighting_t=density * loss_weight * factor / rate, density_t=density / rate,
                              sigma_data=float(sigma_data))
    if closed_form and not schedule.is_general:
        in_lambda = in_log_snr((result.weighting_t, result.density_t, factor), schedule)
        if in_lambda is not None:
            result.weighting, result.log_snr_density, result.conversion = in_lambda
    return result


def _require_non_negative(expr: sp.Expr, schedule: Schedule, where: str) -> None:
    t = np.linspace(schedule.t_min, schedule.t_max, 257)[1:-1]
    with np.errstate(all="ignore"):
        values = np.broadcast_to(np.asarray(compile_expression([T], expr)(t), dtype=np.complex128), t.shape)
    bad = ~np.isfinite(values) | (np.abs(values.imag) > 0) | (values.real < 0)
    if bad.any():
        raise SpecError(f"{where} must be real, finite and >= 0 on the domain (fails at t = {t[np.argmax(bad)]:.6g})")
    if not np.any(values.real > 0):
        raise SpecError(f"{where} is zero on the whole domain")


def loss_integrand_t(weighting: ImpliedWeighting, error: Callable[[sp.Expr], sp.Expr]) -> sp.Expr:
    """W2/W3: the recipe's loss integrand in t, ½ p(t) m(t) c(t) e(λ(t)), for a model whose ε-error
    E‖ε̂ − ε‖² at log-SNR λ is e(λ) (as for every model defined in SN space, S1)."""
    return weighting.time_density_t * weighting.weight_t * weighting.conversion_t * error(
        weighting.schedule.log_snr) / 2
