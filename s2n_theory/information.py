"""Information theory of the Gaussian channel, docs/theory.md (paper Theorem 6): I1–I5.

The channel is y = √snr x₀ + ε, ε ~ N(0, I), with snr = e^{λ(t)}, so that
I(snr) = I(x₀; y) = I(x₀; x_t) and mmse(snr) = E‖x₀ − E[x₀ | y]‖² (summed over
dimensions). This module computes, vectorised over snr,

* :func:`mutual_information` I(snr) in nats,
* :func:`mmse` mmse(snr),
* :func:`mmse_derivative` d mmse/dsnr, computed as −E[tr Cov[x₀ | y]²] (I3),
* :func:`dI_dsnr`, the derivative of I itself (symbolic for the Gaussian,
  finite differences with step-size control otherwise), which I1 compares with
  ½ mmse,

for a Gaussian (closed form, derived symbolically), binary ±1, uniform on an
interval, 1-D Gaussian mixtures (adaptive quadrature over y with error
estimates) and d-D Gaussian mixtures (Monte Carlo with standard errors): the
classes of :mod:`s2n_theory.distributions`, whose text form is read by
:mod:`s2n_theory.distribution_spec`.

Mutual information is written as I = ½ log det(I + snr Cov[x₀]) − KL(p_y ‖ N),
N the Gaussian with the moments of y: both terms are well conditioned at every
snr (no cancellation as snr → 0), and the second is the non-Gaussianness of y.

I4 (Kong et al. 2023) is :func:`likelihood_estimate`: −log p(x₀) from any
denoiser, integrated over log-SNR by importance sampling.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp
from scipy import special
from scipy.differentiate import derivative

# Binary, Mixture1D, Uniform and mixture_edges are not used here: they stay importable from this
# module for callers written before the distribution classes had a module of their own.
from .distributions import (
    LOG_2PI,
    Distribution,
    Estimate,
    Gaussian,
    MixtureND,
    OneDimensional,
)
from .errors import SpecError
from .numeric_schedule import compile_schedule
from .quadrature import integrate
from .schedule_spec import get_schedule

SNR = sp.Symbol("snr", nonnegative=True)
"""The signal-to-noise ratio of the channel."""

VARIANCE = sp.Symbol("v", positive=True)
"""Variance of a Gaussian input."""


# ---------------------------------------------------------------------------- symbolic Gaussian
def gaussian_mmse_expr(snr: sp.Expr = SNR, variance: sp.Expr = VARIANCE) -> sp.Expr:
    """mmse of x₀ ~ N(m, v): E[(x₀ − x̂₀)²] with the linear estimator x̂₀ = m + √snr v (y − √snr m)/(1 + snr v).

    Derived by expanding the square with E[(x₀−m)²] = v, E[ε²] = 1, E[(x₀−m) ε] = 0, simplified
    in the symbols snr, v and only then evaluated at the arguments.
    """
    gain = sp.sqrt(SNR) * VARIANCE / (1 + SNR * VARIANCE)
    # x₀ − x̂₀ = (1 − √snr gain)(x₀ − m) − gain ε
    generic = sp.factor(sp.simplify((1 - sp.sqrt(SNR) * gain) ** 2 * VARIANCE + gain**2))
    return generic.subs({SNR: snr, VARIANCE: variance}, simultaneous=True)


def gaussian_mutual_information_expr(snr: sp.Expr = SNR, variance: sp.Expr = VARIANCE) -> sp.Expr:
    """I(snr) = h(y) − h(ε) = ½ log(2πe(1 + snr v)) − ½ log(2πe) for x₀ ~ N(m, v)."""
    h_y = sp.log(2 * sp.pi * sp.E * (1 + SNR * VARIANCE)) / 2
    h_noise = sp.log(2 * sp.pi * sp.E) / 2
    generic = sp.expand_log(h_y - h_noise, force=True)
    return generic.subs({SNR: snr, VARIANCE: variance}, simultaneous=True)


def gaussian_posterior_variance_expr(snr: sp.Expr = SNR, variance: sp.Expr = VARIANCE) -> sp.Expr:
    """Var[x₀ | y] for x₀ ~ N(m, v): Bayes adds the precisions 1/v and snr."""
    return (1 / (1 / VARIANCE + SNR)).subs({SNR: snr, VARIANCE: variance}, simultaneous=True)


def dI_dsnr_from_mmse(mmse_value: Any) -> Any:
    """I1: dI/dsnr = ½ mmse(snr)."""
    return mmse_value / 2


def dI_dlog_snr_from_mmse(snr: Any, mmse_value: Any) -> Any:
    """I1 in log-SNR: dI/dλ = ½ e^λ mmse(e^λ)."""
    return snr * mmse_value / 2


def time_rate(dlog_snr: Any, snr: Any, mmse_value: Any) -> Any:
    """I2: d/dt I(x₀; x_t) = ½ λ′(t) e^{λ(t)} mmse(e^{λ(t)}) (≤ 0, λ decreasing)."""
    return dlog_snr * snr * mmse_value / 2


# ---------------------------------------------------------------------------- evaluation
@dataclass
class InfoTable:
    """I, mmse and d mmse/dsnr at the given snr, each an :class:`Estimate`."""

    snr: np.ndarray
    mutual_information: Estimate
    mmse: Estimate
    mmse_derivative: Estimate
    extra: dict[str, Any] = field(default_factory=dict)


def _as_snr(snr: Any) -> np.ndarray:
    values = np.asarray(snr, dtype=np.float64)
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise SpecError("snr must be finite and >= 0")
    return values


QUAD_RTOL = 1e-12
QUAD_CHUNK = 256


QUAD_NODE_BUDGET = 2**21
"""Rows × segments² per quadrature batch (a K-component mixture has 9K segments and K terms per node)."""

MAX_QUADRATURE_Y = 1e11
"""Largest |y| at which the quadrature may place a breakpoint: float64 resolves 1e-5 of the unit noise
there. Beyond it (far-apart means, a very wide uniform at a large snr) breakpoints merge and the
integrals would be silently wrong."""


def _check_resolvable(dist: OneDimensional, snr: np.ndarray) -> None:
    if snr.size == 0:
        return
    with np.errstate(over="ignore", invalid="ignore"):
        reach = np.max(np.abs(dist.edges(np.array([snr.min(), snr.max()]))))
    if not reach <= MAX_QUADRATURE_Y:
        raise SpecError(f"{dist.spec()}: at snr up to {snr.max():g} the channel output y reaches {reach:.3g}, "
                        f"beyond {MAX_QUADRATURE_Y:g} where float64 cannot resolve the unit noise; rescale x0 "
                        "(I(snr; c x0) = I(c^2 snr; x0), mmse scales by c^2) or lower the snr")


def _quadrature_table(dist: OneDimensional, snr: np.ndarray) -> InfoTable:
    flat = snr.ravel()
    values = np.zeros((3, flat.size))
    errors = np.zeros((3, flat.size))
    m = np.float64(dist.mean()[0])
    v = np.float64(dist.covariance()[0, 0])
    with np.errstate(over="ignore"):  # v² beyond float64 is -inf, honestly, not an OverflowError
        values[:, flat == 0] = np.array([[0.0], [v], [-(v * v)]])
    positive = np.flatnonzero(flat > 0)
    _check_resolvable(dist, flat[positive])
    segments = dist.edges(np.ones(1)).shape[1]
    chunk = max(1, min(QUAD_CHUNK, QUAD_NODE_BUDGET // segments**2))  # the integrand costs ~ segments² a row
    for start in range(0, positive.size, chunk):
        idx = positive[start:start + chunk]
        s = flat[idx]
        col = s[:, None]
        ref_var = 1 + col * v

        def integrands(y: np.ndarray, rows: np.ndarray, col: np.ndarray = col,
                       ref_var: np.ndarray = ref_var) -> np.ndarray:
            c, rv = col[rows], ref_var[rows]
            log_p, post_var = dist.channel(y, c)
            p = np.exp(log_p)
            log_ref = -0.5 * (LOG_2PI + np.log(rv) + (y - np.sqrt(c) * m) ** 2 / rv)
            return np.stack([p * (log_p - log_ref), p * post_var, p * post_var**2, p])

        q = integrate(integrands, dist.edges(s), rtol=QUAD_RTOL)
        norm_error = np.abs(q.value[3] - 1)
        kl, mm, mm2 = q.value[:3]
        values[0, idx] = 0.5 * np.log1p(s * v) - kl
        values[1, idx] = mm
        values[2, idx] = -mm2
        # Quadrature error plus the mass the rule missed, propagated to each integral's scale.
        errors[0, idx] = q.error[0] + norm_error * (1 + np.abs(kl))
        errors[1, idx] = q.error[1] + norm_error * np.abs(mm)
        errors[2, idx] = q.error[2] + norm_error * np.abs(mm2)
    shape = snr.shape
    est = [Estimate(values[i].reshape(shape), errors[i].reshape(shape), "quadrature") for i in range(3)]
    return InfoTable(snr, *est)


def _gaussian_table(dist: Gaussian, snr: np.ndarray) -> InfoTable:
    zero = np.zeros_like(snr)
    funcs = _gaussian_functions()
    v = dist.variance
    return InfoTable(snr, *(Estimate(np.asarray(funcs[k](snr, v), dtype=np.float64) + zero, zero.copy(), "closed form")
                            for k in ("I", "mmse", "dmmse")))


_GAUSSIAN_CACHE: dict[str, Callable[..., Any]] = {}


def _gaussian_functions() -> dict[str, Callable[..., Any]]:
    if not _GAUSSIAN_CACHE:
        info = gaussian_mutual_information_expr()
        mm = gaussian_mmse_expr()
        exprs = {"I": info, "mmse": mm, "dmmse": sp.diff(mm, SNR), "dI": sp.diff(info, SNR)}
        for key, expr in exprs.items():
            _GAUSSIAN_CACHE[key] = sp.lambdify([SNR, VARIANCE], expr, "numpy")
    return _GAUSSIAN_CACHE


def _montecarlo_table(dist: MixtureND, snr: np.ndarray) -> InfoTable:
    flat = snr.ravel()
    n = dist.samples
    out = np.zeros((3, flat.size))
    err = np.zeros((3, flat.size))
    cov = dist.covariance()
    for i, s in enumerate(flat):
        if s == 0:
            out[:, i] = [0.0, np.trace(cov), -np.trace(cov @ cov)]
            continue
        terms = dist.per_sample(float(s), covariance=True)
        for row, key, sign in ((0, "info", 1), (1, "sq_error", 1), (2, "tr_cov2", -1)):
            out[row, i] = sign * terms[key].mean()
            err[row, i] = terms[key].std(ddof=1) / math.sqrt(n)
    shape = snr.shape
    return InfoTable(snr, *(Estimate(out[k].reshape(shape), err[k].reshape(shape), "montecarlo") for k in range(3)))


def information(dist: Distribution, snr: Any) -> InfoTable:
    """I, mmse and d mmse/dsnr (= −E tr Cov[x₀|y]², I3) at every snr, with error estimates."""
    values = _as_snr(snr)
    if isinstance(dist, Gaussian):
        return _gaussian_table(dist, values)
    if isinstance(dist, OneDimensional):
        return _quadrature_table(dist, values)
    if isinstance(dist, MixtureND):
        return _montecarlo_table(dist, values)
    raise TypeError(f"unsupported distribution {dist!r}")


def _result(estimate: Estimate, with_error: bool) -> Any:
    value = estimate.value[()] if estimate.value.ndim == 0 else estimate.value
    if with_error:
        error = estimate.error[()] if estimate.error.ndim == 0 else estimate.error
        return value, error
    return value


def mutual_information(dist: Distribution, snr: Any, *, with_error: bool = False) -> Any:
    """I(x₀; √snr x₀ + ε) in nats (with its error estimate if ``with_error``)."""
    return _result(information(dist, snr).mutual_information, with_error)


def mmse(dist: Distribution, snr: Any, *, with_error: bool = False) -> Any:
    """mmse(snr) = E‖x₀ − E[x₀ | y]‖², summed over dimensions."""
    return _result(information(dist, snr).mmse, with_error)


def mmse_derivative(dist: Distribution, snr: Any, *, with_error: bool = False) -> Any:
    """d mmse/dsnr, computed as −E[tr Cov[x₀ | y]²] (I3)."""
    return _result(information(dist, snr).mmse_derivative, with_error)


def finite_difference(func: Callable[[np.ndarray], np.ndarray], x: np.ndarray, step: np.ndarray,
                      lower: float | None = None) -> Estimate:
    """Derivative of a vectorised ``func`` at ``x`` with step-size control (scipy.differentiate).

    The initial step is ``step``; points closer than it to ``lower`` use one-sided stencils.
    """
    x = np.asarray(x, dtype=np.float64)
    direction = np.zeros_like(x)
    if lower is not None:
        direction = np.where(x - 1.01 * step <= lower, 1.0, 0.0)

    def f(points: np.ndarray) -> np.ndarray:
        return np.asarray(func(points.ravel()), dtype=np.float64).reshape(points.shape)

    res = derivative(f, x, initial_step=step, step_direction=direction, tolerances={"rtol": 1e-10, "atol": 1e-14},
                     order=6, maxiter=12)
    return Estimate(np.asarray(res.df), np.asarray(res.error), "finite differences")


def dI_dsnr(dist: Distribution, snr: Any) -> Estimate:
    """dI/dsnr from I alone: the symbolic derivative for the Gaussian, finite differences (1-D)
    or the pathwise derivative of the common-random-number Monte Carlo estimate (d-D)."""
    values = _as_snr(snr)
    if isinstance(dist, Gaussian):
        d = np.asarray(_gaussian_functions()["dI"](values, dist.variance), dtype=np.float64) + 0 * values
        return Estimate(d, np.zeros_like(values), "symbolic")
    if isinstance(dist, MixtureND):
        flat = values.ravel()
        out, err = np.zeros_like(flat), np.zeros_like(flat)
        for i, s in enumerate(flat):
            terms = pathwise_derivatives(dist, float(s))
            out[i], err[i] = terms["dinfo"].mean(), terms["dinfo"].std(ddof=1) / math.sqrt(dist.samples)
        return Estimate(out.reshape(values.shape), err.reshape(values.shape), "montecarlo")
    step = np.where(values > 0, 0.25 * values, 1e-2)
    return finite_difference(lambda s: mutual_information(dist, s), values, step, lower=0.0)


def pathwise_derivatives(dist: MixtureND, snr: float) -> dict[str, np.ndarray]:
    """Per-draw derivatives in snr of the information and squared-error terms (same draws),
    by a central difference of relative step 1e-4 on each smooth per-draw function."""
    h = 1e-4 * snr if snr > 0 else 1e-6
    lo, hi = max(snr - h, 0.0), snr + h
    a, b = dist.per_sample(lo), dist.per_sample(hi)
    return {"dinfo": (b["info"] - a["info"]) / (hi - lo), "dsq_error": (b["sq_error"] - a["sq_error"]) / (hi - lo)}


# ---------------------------------------------------------------------------- I4: likelihood
@dataclass
class LikelihoodEstimate:
    """−log p(x₀) estimated from a denoiser, with its Monte Carlo standard error."""

    nll: np.ndarray
    standard_error: np.ndarray
    samples: int
    log_snr_range: tuple[float, float]


def kong_integrand(snr: Any, eps_sq: Any, weighted_sq_error: Any) -> Any:
    """I4 integrand in λ = log snr for one noise draw (Kong et al. 2023, pointwise I-MMSE).

    −log p(x₀) = (d/2) log(2πe) − ½ ∫ (d snr/(1+snr) − snr mmse(x₀, snr)) dλ. The term d snr/(1+snr)
    is replaced by its unbiased single-draw form snr/(1+snr)‖ε‖² (E‖ε‖² = d) with the same ε as the
    error term snr‖x₀ − x̂₀‖², which makes the integrand vanish in both tails.
    """
    return snr / (1 + snr) * eps_sq - weighted_sq_error


def likelihood_estimate(
    denoiser: Callable[[Any, Any], Any],
    x0: Any,
    schedule: Any,
    *,
    samples: int = 4096,
    seed: int = 0,
    loc: float | None = None,
    scale: float | None = None,
) -> LikelihoodEstimate:
    """I4: −log p(x₀) for each row of ``x0`` (shape (n, d)) from any ``denoiser(x, t) -> x̂₀``.

    The λ-integral runs over the schedule's log-SNR range [λ(t_max), λ(t_min)] by importance
    sampling from a logistic(loc, scale) proposal truncated to that range (defaults: the middle of
    the range and a sixth of its width); contributions outside the range are left out (they vanish
    like e^{λ_min} and e^{−λ_max}). Reports the standard error over the λ, ε draws.
    """
    sched = get_schedule(schedule) if isinstance(schedule, str) else schedule
    num = compile_schedule(sched, "numpy")
    lam_lo, lam_hi = (float(num.log_snr(np.float64(v))) for v in (sched.t_max, sched.t_min))
    loc = 0.5 * (lam_lo + lam_hi) if loc is None else float(loc)
    scale = (lam_hi - lam_lo) / 6 if scale is None else float(scale)
    x0 = np.atleast_2d(np.asarray(x0, dtype=np.float64))
    n_points, d = x0.shape
    rng = np.random.default_rng(seed)
    cdf = lambda lam: special.expit((lam - loc) / scale)  # noqa: E731
    c_lo, c_hi = cdf(lam_lo), cdf(lam_hi)
    u = rng.uniform(c_lo, c_hi, size=(n_points, samples))
    lam = loc + scale * special.logit(u)
    # Density of the truncated logistic at λ.
    z = (lam - loc) / scale
    density = special.expit(z) * special.expit(-z) / scale / (c_hi - c_lo)
    t = num.t_of_log_snr(lam)
    lam = num.log_snr(t)  # the λ actually used (inversion to round-off)
    alpha, sigma = num.alpha(t)[..., None], num.sigma(t)[..., None]
    eps = rng.standard_normal((n_points, samples, d))
    xt = alpha * x0[:, None, :] + sigma * eps
    x0_hat = np.asarray(denoiser(xt.reshape(-1, d), t.reshape(-1))).reshape(n_points, samples, d)
    snr = np.exp(lam)
    g = kong_integrand(snr, np.sum(eps**2, axis=-1), snr * np.sum((x0[:, None, :] - x0_hat) ** 2, axis=-1))
    weighted = g / density
    integral = weighted.mean(axis=1)
    se = weighted.std(axis=1, ddof=1) / math.sqrt(samples)
    nll = 0.5 * d * (LOG_2PI + 1) - 0.5 * integral
    return LikelihoodEstimate(nll, 0.5 * se, samples, (lam_lo, lam_hi))
