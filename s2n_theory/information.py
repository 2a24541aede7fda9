"""Information theory of the Gaussian channel, THEORY.md §6 (paper Theorem 6): I1–I5.

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
estimates) and d-D Gaussian mixtures (Monte Carlo with standard errors). The
posterior quantities of mixtures (density of y, E[x₀ | y]) come from the exact
oracle :class:`s2n_theory.oracle.GaussianMixture` evaluated at α = √snr, σ = 1;
posterior covariances are the Jacobian of its E[x₀ | y] (Cov = ∂x̂₀/∂y / √snr),
taken by torch autograd.

Mutual information is written as I = ½ log det(I + snr Cov[x₀]) − KL(p_y ‖ N),
N the Gaussian with the moments of y: both terms are well conditioned at every
snr (no cancellation as snr → 0), and the second is the non-Gaussianness of y.

I4 (Kong et al. 2023) is :func:`likelihood_estimate`: −log p(x₀) from any
denoiser, integrated over log-SNR by importance sampling.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import sympy as sp
from scipy import special

from .errors import ExpressionError, SpecError
from .quadrature import integrate

SNR = sp.Symbol("snr", nonnegative=True)
"""The signal-to-noise ratio of the channel."""

VARIANCE = sp.Symbol("v", positive=True)
"""Variance of a Gaussian input."""

LOG_2PI = math.log(2 * math.pi)


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


# ---------------------------------------------------------------------------- distributions
@dataclass
class Estimate:
    """Values with error estimates (absolute; a standard error for Monte Carlo)."""

    value: np.ndarray
    error: np.ndarray
    method: str


class Distribution:
    """A distribution of x₀ for the channel y = √snr x₀ + ε."""

    dim: int = 1
    method: str = "quadrature"

    def spec(self) -> str:
        raise NotImplementedError

    def mean(self) -> np.ndarray:
        raise NotImplementedError

    def covariance(self) -> np.ndarray:
        raise NotImplementedError

    def __str__(self) -> str:
        return self.spec()


def _fmt(value: float) -> str:
    """Shortest text that parses back to the same float."""
    return repr(float(value))


@dataclass(frozen=True)
class Gaussian(Distribution):
    """x₀ ~ N(mean, variance), closed form."""

    variance: float
    mean_value: float = 0.0
    method = "closed form"

    def __post_init__(self) -> None:
        if not (np.isfinite(self.variance) and self.variance > 0):
            raise SpecError(f"gaussian: variance must be a finite number > 0, got {self.variance}")

    def spec(self) -> str:
        return f"gaussian({_fmt(self.variance)})" if self.mean_value == 0 else \
            f"gaussian({_fmt(self.variance)}) + {_fmt(self.mean_value)}"

    def mean(self) -> np.ndarray:
        return np.array([self.mean_value])

    def covariance(self) -> np.ndarray:
        return np.array([[self.variance]])


class OneDimensional(Distribution):
    """A 1-D input handled by adaptive quadrature over y."""

    def channel(self, y: np.ndarray, snr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(log p(y), Var[x₀ | y]) at y of shape (B, n) for snr of shape (B, 1), snr > 0."""
        raise NotImplementedError

    def edges(self, snr: np.ndarray) -> np.ndarray:
        """Breakpoints in y for each snr (B,), shape (B, m), covering all but a negligible tail."""
        raise NotImplementedError


EDGE_OFFSETS = np.array([-12.0, -6.0, -3.0, -1.0, 0.0, 1.0, 3.0, 6.0, 12.0])
"""Breakpoints around each Gaussian bump of y, in its standard deviations (12 sd: tail below e^-72)."""


def mixture_edges(centres: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """Sorted breakpoints (B, K·9) for sums of Gaussian bumps N(centre_k, sd_k²), clipped to the outermost."""
    points = (centres[..., None] + sd[..., None] * EDGE_OFFSETS).reshape(centres.shape[0], -1)
    lo = np.min(centres - 12 * sd, axis=1, keepdims=True)
    hi = np.max(centres + 12 * sd, axis=1, keepdims=True)
    return np.sort(np.clip(points, lo, hi), axis=1)


@dataclass(frozen=True)
class Mixture1D(OneDimensional):
    """x₀ ~ Σ_k π_k N(μ_k, v_k) on the line (v_k = 0 allowed: atoms)."""

    weights: tuple[float, ...]
    means: tuple[float, ...]
    variances: tuple[float, ...]

    def __post_init__(self) -> None:
        w, m, v = (np.asarray(a, dtype=np.float64) for a in (self.weights, self.means, self.variances))
        if not (w.ndim == m.ndim == v.ndim == 1 and w.size == m.size == v.size and w.size >= 1):
            raise SpecError("mixture: weights, means and variances must be lists of the same length >= 1")
        if not (np.all(np.isfinite(w)) and np.all(np.isfinite(m)) and np.all(np.isfinite(v))):
            raise SpecError("mixture: all numbers must be finite")
        if np.any(w <= 0):
            raise SpecError("mixture: weights must be > 0")
        if abs(w.sum() - 1) > 1e-6:
            raise SpecError(f"mixture: weights must sum to 1 (they sum to {w.sum():.10g})")
        if np.any(v < 0):
            raise SpecError("mixture: variances must be >= 0")
        object.__setattr__(self, "weights", tuple(float(x) for x in w / w.sum()))
        object.__setattr__(self, "means", tuple(float(x) for x in m))
        object.__setattr__(self, "variances", tuple(float(x) for x in v))

    def spec(self) -> str:
        lists = (self.weights, self.means, self.variances)
        return "mixture(" + ";".join(",".join(_fmt(x) for x in values) for values in lists) + ")"

    @cached_property
    def oracle(self) -> Any:
        from .oracle import GaussianMixture

        return GaussianMixture(np.array(self.weights), np.array(self.means)[:, None], np.array(self.variances)[:, None])

    def mean(self) -> np.ndarray:
        return self.oracle.mean()

    def covariance(self) -> np.ndarray:
        return self.oracle.covariance()

    def channel(self, y: np.ndarray, snr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        root = np.sqrt(snr)
        log_p = self.oracle.log_prob_at(y[..., None], root, 1.0)
        yt = torch.tensor(y, dtype=torch.float64, requires_grad=True)
        x0 = self.oracle.x0_hat_at(yt[..., None], torch.as_tensor(root), 1.0)[..., 0]
        (slope,) = torch.autograd.grad(x0.sum(), yt)  # each output depends on its own y only
        return log_p, slope.numpy() / root

    def edges(self, snr: np.ndarray) -> np.ndarray:
        root = np.sqrt(snr)[:, None]
        return mixture_edges(root * np.array(self.means), np.sqrt(1 + snr[:, None] * np.array(self.variances)))


@dataclass(frozen=True)
class Binary(Mixture1D):
    """x₀ = ±1 with probability ½ each (a mixture of two atoms)."""

    weights: tuple[float, ...] = (0.5, 0.5)
    means: tuple[float, ...] = (-1.0, 1.0)
    variances: tuple[float, ...] = (0.0, 0.0)

    def spec(self) -> str:
        return "binary"


_GL_X, _GL_W = np.polynomial.legendre.leggauss(48)


@dataclass(frozen=True)
class Uniform(OneDimensional):
    """x₀ uniform on [low, high]; the posterior of x₀ given y is a truncated normal."""

    low: float
    high: float

    def __post_init__(self) -> None:
        if not (np.isfinite(self.low) and np.isfinite(self.high) and self.low < self.high):
            raise SpecError(f"uniform: need finite a < b, got ({self.low}, {self.high})")

    def spec(self) -> str:
        return f"uniform({_fmt(self.low)},{_fmt(self.high)})"

    def mean(self) -> np.ndarray:
        return np.array([(self.low + self.high) / 2])

    def covariance(self) -> np.ndarray:
        return np.array([[(self.high - self.low) ** 2 / 12]])

    def channel(self, y: np.ndarray, snr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a, b = self.low, self.high
        width = b - a
        r = np.sqrt(snr)
        with np.errstate(all="ignore"):
            # Narrow posteriors (r·width ≤ 6): Gauss–Legendre over x ∈ [a, b], exact to round-off
            # because the integrand exp(−½(y − r x)²) varies on a scale ≥ width/6.
            x = a + width * (_GL_X + 1) / 2
            log_terms = np.log(width * _GL_W / 2) - 0.5 * (y[..., None] - r[..., None] * x) ** 2
            lse = special.logsumexp(log_terms, axis=-1)
            weights = np.exp(log_terms - lse[..., None])
            mean_gl = np.sum(weights * x, axis=-1)
            var_gl = np.sum(weights * (x - mean_gl[..., None]) ** 2, axis=-1)
            log_p_gl = lse - math.log(width) - 0.5 * LOG_2PI
            # Wide: truncated normal N(y/r, 1/r²) on [a, b] in standard units α, β, reflected so that
            # the interval lies mostly left of 0, where log Φ is accurate.
            alpha, beta = r * a - y, r * b - y
            flip = alpha + beta > 0
            lo, hi = np.where(flip, -beta, alpha), np.where(flip, -alpha, beta)
            log_hi = special.log_ndtr(hi)
            log_z = log_hi + np.log1p(-np.exp(special.log_ndtr(lo) - log_hi))
            ra = np.exp(-0.5 * lo**2 - 0.5 * LOG_2PI - log_z)
            rb = np.exp(-0.5 * hi**2 - 0.5 * LOG_2PI - log_z)
            var_std = 1 + lo * ra - hi * rb - (ra - rb) ** 2  # reflection leaves the variance unchanged
            var_tn = var_std / snr
            log_p_tn = log_z - np.log(r * width)
        narrow = r * width <= 6
        return np.where(narrow, log_p_gl, log_p_tn), np.where(narrow, var_gl, var_tn)

    def edges(self, snr: np.ndarray) -> np.ndarray:
        r = np.sqrt(snr)[:, None]
        a, b = r * self.low, r * self.high
        return np.sort(np.concatenate([a + EDGE_OFFSETS, b + EDGE_OFFSETS, (a + b) / 2], axis=1), axis=1)


@dataclass(frozen=True)
class MixtureND(Distribution):
    """x₀ ~ Σ_k π_k N(μ_k, Σ_k) in d dimensions, by Monte Carlo with the oracle's exact posterior.

    ``samples`` draws of (x₀, ε) are shared by all snr (common random numbers), so
    estimates are smooth in snr and differences across snr are accurate.
    """

    weights: Sequence[float]
    means: Sequence[Sequence[float]]
    covs: Sequence[Any]
    samples: int = 20000
    seed: int = 0
    method = "montecarlo"

    def __post_init__(self) -> None:
        from .oracle import GaussianMixture

        object.__setattr__(self, "_oracle", GaussianMixture(self.weights, self.means, self.covs))

    def __hash__(self) -> int:
        return id(self)

    @property
    def oracle(self) -> Any:
        return self._oracle  # type: ignore[attr-defined]

    @property
    def dim(self) -> int:  # type: ignore[override]
        return self.oracle.dim

    def spec(self) -> str:
        return f"mixture-{self.dim}d(K={self.oracle.n_components}, n={self.samples}, seed={self.seed})"

    def mean(self) -> np.ndarray:
        return self.oracle.mean()

    def covariance(self) -> np.ndarray:
        return self.oracle.covariance()

    @cached_property
    def draws(self) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(self.seed)
        x0 = self.oracle.sample(self.samples, rng)
        eps = rng.standard_normal(x0.shape)
        return x0, eps

    def per_sample(self, snr: float, *, covariance: bool = False) -> dict[str, np.ndarray]:
        """Per-draw terms at one snr > 0: information ℓ, squared error, and tr Cov[x₀|y]² if asked.

        ℓ = log N(y; √snr x₀, I) − log p(y) has mean I(snr); the squared error has mean mmse(snr).
        """
        import torch

        x0, eps = self.draws
        root = math.sqrt(snr)
        y = root * x0 + eps
        d = self.dim
        out = {
            "info": -0.5 * np.sum(eps**2, axis=1) - 0.5 * d * LOG_2PI - self.oracle.log_prob_at(y, root, 1.0),
        }
        if not covariance:
            out["sq_error"] = np.sum((x0 - self.oracle.x0_hat_at(y, root, 1.0)) ** 2, axis=1)
            return out
        yt = torch.tensor(y, dtype=torch.float64, requires_grad=True)
        x0_hat = self.oracle.x0_hat_at(yt, root, 1.0)
        rows = [torch.autograd.grad(x0_hat[:, i].sum(), yt, retain_graph=i < d - 1)[0] for i in range(d)]
        cov = torch.stack(rows, dim=1).numpy() / root  # (n, d, d): Cov[x₀|y] = ∂x̂₀/∂y / √snr
        out["sq_error"] = np.sum((x0 - x0_hat.detach().numpy()) ** 2, axis=1)
        out["tr_cov2"] = np.einsum("nij,nji->n", cov, cov)
        return out


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


def _quadrature_table(dist: OneDimensional, snr: np.ndarray) -> InfoTable:
    flat = snr.ravel()
    values = np.zeros((3, flat.size))
    errors = np.zeros((3, flat.size))
    m = float(dist.mean()[0])
    v = float(dist.covariance()[0, 0])
    values[:, flat == 0] = np.array([[0.0], [v], [-(v**2)]])
    positive = np.flatnonzero(flat > 0)
    for start in range(0, positive.size, QUAD_CHUNK):
        idx = positive[start:start + QUAD_CHUNK]
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
    from scipy.differentiate import derivative

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
    from .library import get_schedule

    sched = get_schedule(schedule) if isinstance(schedule, str) else schedule
    num = sched.lambdify("numpy")
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


# ---------------------------------------------------------------------------- parsing
_DIST = re.compile(r"^\s*([A-Za-z]+)\s*(?:\((.*)\))?\s*$", re.S)
MAX_SPEC_LENGTH = 2000
MAX_COMPONENTS = 64


def _numbers(text: str, where: str) -> list[float]:
    parts = [p.strip() for p in text.split(",")]
    if any(not p for p in parts):
        raise SpecError(f"{where}: empty number in {text!r}")
    try:
        return [parse_number_strict(p, where) for p in parts]
    except ExpressionError as exc:
        raise SpecError(str(exc)) from None


def parse_number_strict(text: str, where: str) -> float:
    from .expressions import parse_number

    return parse_number(text, where=where)


def parse_distribution(spec: str) -> Distribution:
    """``gaussian(var)``, ``binary``, ``uniform(a,b)`` or ``mixture(w1,w2;m1,m2;v1,v2)``.

    A strict parser: numbers go through :func:`s2n_theory.expressions.parse_number` (no eval);
    anything else raises :class:`SpecError` naming the problem.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise SpecError("dist: empty distribution spec")
    if len(spec) > MAX_SPEC_LENGTH:
        raise SpecError(f"dist: spec longer than {MAX_SPEC_LENGTH} characters")
    match = _DIST.match(spec)
    if not match:
        raise SpecError(f"dist: cannot read {spec!r} (expected gaussian(var), binary, uniform(a,b) or "
                        "mixture(weights;means;variances))")
    name, args = match.group(1).lower(), match.group(2)
    if name == "binary":
        if args is not None and args.strip():
            raise SpecError("binary: takes no parameters")
        return Binary()
    if args is None:
        raise SpecError(f"{name}: missing parameters in parentheses")
    if name == "gaussian":
        values = _numbers(args, "gaussian")
        if len(values) != 1:
            raise SpecError(f"gaussian: expected one variance, got {len(values)} numbers")
        return Gaussian(values[0])
    if name == "uniform":
        values = _numbers(args, "uniform")
        if len(values) != 2:
            raise SpecError(f"uniform: expected two numbers a,b, got {len(values)}")
        return Uniform(*values)
    if name == "mixture":
        groups = args.split(";")
        if len(groups) != 3:
            raise SpecError("mixture: expected three ';'-separated lists: weights;means;variances")
        labels = ("weights", "means", "variances")
        w, m, v = (_numbers(g, f"mixture {label}") for g, label in zip(groups, labels, strict=True))
        if not (len(w) == len(m) == len(v)):
            raise SpecError(f"mixture: lists have different lengths ({len(w)}, {len(m)}, {len(v)})")
        if len(w) > MAX_COMPONENTS:
            raise SpecError(f"mixture: at most {MAX_COMPONENTS} components")
        return Mixture1D(tuple(w), tuple(m), tuple(v))
    raise SpecError(f"dist: unknown distribution {name!r} (gaussian, binary, uniform, mixture)")


# ---------------------------------------------------------------------------- figure
def reference_distributions() -> dict[str, Distribution]:
    """The distributions of the report figure: unit-variance Gaussian, binary and uniform, and two mixtures."""
    root3 = math.sqrt(3.0)
    return {
        "gaussian(1)": Gaussian(1.0),
        "binary": Binary(),
        "uniform(-sqrt3,sqrt3)": Uniform(-root3, root3),
        "mixture 1-D": Mixture1D((0.3, 0.5, 0.2), (-1.5, 0.2, 2.0), (0.1, 0.4, 0.05)),
        "mixture 2-D (MC, summed over d=2)": MixtureND(
            (0.5, 0.3, 0.2), ((-1.0, 0.5), (1.0, -0.5), (0.0, 1.5)),
            ([[0.3, 0.1], [0.1, 0.2]], [[0.2, -0.05], [-0.05, 0.4]], [[0.1, 0.0], [0.0, 0.1]]),
            samples=4000, seed=1),
    }


def information_figure(path: Any, snr_range: tuple[float, float] = (1e-2, 1e3)) -> Any:
    """Save I(snr) and mmse(snr) for the reference distributions (matplotlib, Agg) to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_i, ax_m) = plt.subplots(1, 2, figsize=(11, 4.2))
    dense = np.geomspace(*snr_range, 60)
    sparse = np.geomspace(*snr_range, 12)
    for label, dist in reference_distributions().items():
        grid = sparse if isinstance(dist, MixtureND) else dense
        table = information(dist, grid)
        if isinstance(dist, MixtureND):
            ax_i.errorbar(grid, table.mutual_information.value, yerr=2 * table.mutual_information.error,
                          fmt="o", ms=3, label=label)
            ax_m.errorbar(grid, table.mmse.value, yerr=2 * table.mmse.error, fmt="o", ms=3, label=label)
        else:
            ax_i.plot(grid, table.mutual_information.value, label=label)
            ax_m.plot(grid, table.mmse.value, label=label)
    ax_i.set(xscale="log", xlabel="snr", ylabel="I(snr) [nats]", title="mutual information I(x0; sqrt(snr) x0 + eps)")
    ax_m.set(xscale="log", yscale="log", xlabel="snr", ylabel="mmse(snr)", title="mmse (summed over dimensions)",
             ylim=(1e-5, 5))
    ax_i.axhline(math.log(2), color="grey", lw=0.6, ls=":")
    for ax in (ax_i, ax_m):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
