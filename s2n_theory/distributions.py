"""Distributions of x₀ for the Gaussian channel y = √snr x₀ + ε of the information claims (I1–I5).

Each class knows its moments and how :mod:`s2n_theory.information` evaluates it:

* :class:`Gaussian`: closed form;
* :class:`Mixture1D` (and :class:`Binary`, two atoms) and :class:`Uniform`: 1-D inputs whose
  :meth:`OneDimensional.channel` gives log p(y) and Var[x₀ | y] for adaptive quadrature over y,
  between the breakpoints of :meth:`OneDimensional.edges`;
* :class:`MixtureND`: d-D Gaussian mixtures by Monte Carlo with common random numbers.

The posterior quantities of 1-D mixtures are Bayes' rule per component in closed form (one pass
over the components); those of d-D mixtures come from the exact oracle
:class:`s2n_theory.gaussian_mixture.GaussianMixture` evaluated at α = √snr, σ = 1, posterior covariances
being the Jacobian of its E[x₀ | y] (Cov = ∂x̂₀/∂y / √snr), taken by torch autograd.
The text form of these distributions is read by :mod:`s2n_theory.distribution_spec`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import torch
from scipy import special

from .errors import SpecError
from .gaussian_mixture import GaussianMixture

LOG_2PI = math.log(2 * math.pi)


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
    def oracle(self) -> GaussianMixture:
        return GaussianMixture(np.array(self.weights), np.array(self.means)[:, None], np.array(self.variances)[:, None])

    def mean(self) -> np.ndarray:
        return self.oracle.mean()

    def covariance(self) -> np.ndarray:
        return self.oracle.covariance()

    def channel(self, y: np.ndarray, snr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # One pass over the components (y_k ~ N(r μ_k, 1 + r² v_k), Bayes per component), the posterior
        # variance by the law of total variance about the posterior mean: no cancellation between
        # large second moments, and no autograd pass (cost O(nodes · K) instead of twice that and more).
        # Components first, (K, *y.shape): the sums over the few components add K contiguous arrays (a
        # small last axis is slow to reduce).
        w, m, v = (np.array(a).reshape((-1,) + (1,) * np.ndim(y)) for a in (self.weights, self.means, self.variances))
        r = np.sqrt(snr)[None]
        var_y = 1 + r * r * v
        d = y[None] - r * m
        log_comp = np.log(w) - 0.5 * (LOG_2PI + np.log(var_y) + d * d / var_y)
        # log-sum-exp by hand (scipy's generic one was half of the I5/S3 quadratures' time): one exp serves
        # both log p and the responsibilities.
        top = np.max(log_comp, axis=0)
        top = np.where(np.isfinite(top), top, 0.0)
        scaled = np.exp(log_comp - top)
        total = np.sum(scaled, axis=0)
        with np.errstate(divide="ignore"):
            log_p = top + np.log(total)
        resp = scaled / total
        post_mean = m + r * v * d / var_y
        mean = np.sum(resp * post_mean, axis=0)
        post_var = np.sum(resp * (v / var_y + (post_mean - mean) ** 2), axis=0)
        return log_p, post_var

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
