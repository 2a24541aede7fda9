"""Exact oracle for Gaussian-mixture data, docs/theory.md: claim P3.

For data x₀ ~ Σ_k π_k N(μ_k, Σ_k) the forward marginal at time t is again a
mixture, p_t = Σ_k π_k N(α_t μ_k, C_k) with C_k = α_t² Σ_k + σ_t² I, so the
log-density, the score and the posterior means are closed form:

* component posterior responsibilities w_k(x) = π_k N(x; α μ_k, C_k) / p_t(x)
  (computed by log-sum-exp, so they stay exact far from every mode);
* ε̂_k = σ C_k⁻¹ (x − α μ_k), x̂₀_k = μ_k + α Σ_k C_k⁻¹ (x − α μ_k), and
  x = α x̂₀_k + σ ε̂_k for every component (Tweedie, P1);
* score = −Σ_k w_k C_k⁻¹ (x − α μ_k) = −ε̂/σ, x̂₀ = Σ_k w_k x̂₀_k, ε̂ = Σ_k w_k ε̂_k.

Each Σ_k is diagonalised once (Σ_k = U_k diag(s_k) U_kᵀ), after which
C_k⁻¹ = U_k diag(1/(α² s_k + σ²)) U_kᵀ for every time at O(d²) per point; a
diagonal Σ_k needs no rotation at all. ε̂ is formed directly, never as
(x − α x̂₀)/σ, so it is accurate when σ is small.

Every method takes numpy arrays or torch tensors; the result has the type,
dtype and device of ``x``. ``t`` is a scalar or one time per sample
(shape ``x.shape[:-1]``). ``schedule`` is a :class:`~s2n_theory.schedule.Schedule`,
its :class:`~s2n_theory.schedule.NumericSchedule`, or a spec string.
The ``*_at`` methods take α and σ directly instead of a time and schedule.

A batch at one time (a scalar ``t``, or a CPU/numpy array of equal times: what the samplers
pass) is evaluated with α and σ as scalars, and the per-component terms (α μ_k, the log-normaliser,
the coefficients of :func:`eigen_terms`) are computed once per (α, σ) and reused: a sampler calls
the oracle once per step, so this per-call work, not the arithmetic on the batch, dominated.
:meth:`GaussianMixture.remember_times` evaluates them for a whole grid of times at once.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from .arrays import backend_of
from .errors import S2NError
from .numeric_schedule import compile_schedule


class OracleError(S2NError):
    """Invalid mixture parameters or inputs of the exact oracle."""


def eigen_terms(z: Any, alpha: Any, sigma: Any, s: Any) -> tuple[Any, Any, Any, Any]:
    """Per-component closed forms in the eigenbasis of Σ_k (eigenvalue s, coordinate z of x − α μ_k).

    Returns (C⁻¹ r, score_k, ε̂_k, x̂₀_k − μ_k) coordinates: z/(α² s + σ²), −z/(α² s + σ²),
    σ z/(α² s + σ²), α s z/(α² s + σ²). Pure algebra: SymPy, numpy and torch alike.
    """
    zc = z / (alpha**2 * s + sigma**2)
    return zc, -zc, sigma * zc, alpha * s * zc


class _NumpyOps:
    name = "numpy"

    def __init__(self, ref: np.ndarray):
        self.dtype = ref.dtype
        self.key = ("numpy", self.dtype)

    def asarray(self, value: Any) -> np.ndarray:
        return np.asarray(value, dtype=self.dtype)

    exp = staticmethod(np.exp)
    log = staticmethod(np.log)

    @staticmethod
    def einsum(spec: str, *ops: Any) -> np.ndarray:
        return np.einsum(spec, *ops)

    @staticmethod
    def logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
        m = np.max(a, axis=axis, keepdims=True)
        m = np.where(np.isfinite(m), m, 0.0)
        return np.squeeze(m, axis) + np.log(np.sum(np.exp(a - m), axis=axis))

    @staticmethod
    def softmax(a: np.ndarray, axis: int) -> np.ndarray:
        m = np.max(a, axis=axis, keepdims=True)
        e = np.exp(a - m)
        return e / np.sum(e, axis=axis, keepdims=True)

    @staticmethod
    def sum(a: np.ndarray, axis: int) -> np.ndarray:
        return np.sum(a, axis=axis)


class _TorchOps:
    name = "torch"

    def __init__(self, ref: Any):
        self.torch = torch
        self.dtype = ref.dtype
        self.device = ref.device
        self.key = ("torch", self.dtype, self.device)

    def asarray(self, value: Any) -> Any:
        return self.torch.as_tensor(value, dtype=self.dtype, device=self.device)

    def exp(self, a: Any) -> Any:
        return self.torch.exp(a)

    def log(self, a: Any) -> Any:
        return self.torch.log(a)

    def einsum(self, spec: str, *ops: Any) -> Any:
        return self.torch.einsum(spec, *ops)

    def logsumexp(self, a: Any, axis: int) -> Any:
        return self.torch.logsumexp(a, dim=axis)

    def softmax(self, a: Any, axis: int) -> Any:
        return self.torch.softmax(a, dim=axis)

    def sum(self, a: Any, axis: int) -> Any:
        return self.torch.sum(a, dim=axis)


def _ops_for(x: Any) -> _NumpyOps | _TorchOps:
    if backend_of(x) == "torch":
        if not x.is_floating_point():
            raise OracleError("x must be a floating-point tensor")
        return _TorchOps(x)
    return _NumpyOps(x)


def _prepare(x: Any) -> Any:
    """Tensors pass through; anything else becomes a floating numpy array (float64 unless it was float)."""
    if backend_of(x) == "torch":
        return x
    x = np.asarray(x)
    return x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float64)


class GaussianMixture:
    """Data distribution Σ_k π_k N(μ_k, Σ_k) in d dimensions and its exact forward marginals (P3).

    Parameters
    ----------
    weights : (K,) non-negative, normalised here (must not all be zero).
    means : (K, d).
    covs : (K, d, d) full covariances (symmetric positive semi-definite),
        or (K, d) diagonal variances, or (K,) one isotropic variance per component.
    """

    def __init__(self, weights: Any, means: Any, covs: Any):
        w = np.asarray(_to_numpy(weights), dtype=np.float64)
        mu = np.asarray(_to_numpy(means), dtype=np.float64)
        cov = np.asarray(_to_numpy(covs), dtype=np.float64)
        if w.ndim != 1 or w.size == 0:
            raise OracleError(f"weights must be a non-empty vector, got shape {w.shape}")
        if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise OracleError("weights must be finite, non-negative and not all zero")
        k = w.size
        if mu.ndim != 2 or mu.shape[0] != k:
            raise OracleError(f"means must have shape (K, d) = ({k}, d), got {mu.shape}")
        d = mu.shape[1]
        if cov.shape == (k,):
            cov = np.repeat(cov[:, None], d, axis=1)
        if cov.shape == (k, d):
            self.diagonal = True
            if np.any(cov < 0):
                raise OracleError("diagonal variances must be >= 0")
            eigvals, eigvecs = cov.copy(), None
        elif cov.shape == (k, d, d):
            self.diagonal = False
            if not np.allclose(cov, np.swapaxes(cov, 1, 2), rtol=1e-12, atol=1e-14):
                raise OracleError("covariances must be symmetric")
            eigvals, eigvecs = np.linalg.eigh(cov)
            if np.any(eigvals < -1e-10 * np.maximum(1.0, np.abs(eigvals).max())):
                raise OracleError("covariances must be positive semi-definite")
            eigvals = np.clip(eigvals, 0.0, None)
        else:
            raise OracleError(f"covs must have shape (K, d, d), (K, d) or (K,), got {cov.shape}")
        if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(cov))):
            raise OracleError("means and covariances must be finite")
        self.weights = w / w.sum()
        self.means = mu
        self.covs = cov
        self.n_components, self.dim = k, d
        self._eigvals, self._eigvecs = eigvals, eigvecs
        self._log_weights = np.log(np.where(self.weights > 0, self.weights, 1.0)) + np.where(
            self.weights > 0, 0.0, -np.inf)
        self._cache: dict[Any, dict[str, Any]] = {}
        self._times: dict[tuple, tuple] = {}  # (id of the schedule as passed, t) -> (that schedule, α, σ)
        self._scalar_terms: dict[tuple, tuple] = {}  # (backend, α, σ) -> terms of _components
        self._rows: dict[tuple, tuple] = {}  # (α, σ) of a remembered time -> (its _TermBlock, row)

    # ------------------------------------------------------------------ helpers
    def __repr__(self) -> str:
        kind = "diagonal" if self.diagonal else "full"
        return f"GaussianMixture(K={self.n_components}, d={self.dim}, {kind} covariances)"

    def full_covs(self) -> np.ndarray:
        """The covariances as (K, d, d) matrices."""
        if self.diagonal:
            return np.stack([np.diag(c) for c in self.covs])
        return self.covs.copy()

    def mean(self) -> np.ndarray:
        """E[x₀], shape (d,)."""
        return self.weights @ self.means

    def covariance(self) -> np.ndarray:
        """Cov[x₀], shape (d, d): Σ_k π_k (Σ_k + μ_k μ_kᵀ) − m mᵀ."""
        m = self.mean()
        outer = np.einsum("ki,kj->kij", self.means, self.means)
        second = np.einsum("k,kij->ij", self.weights, self.full_covs() + outer)
        return second - np.outer(m, m)

    def marginal(self, t: float, schedule: Any) -> GaussianMixture:
        """The mixture p_t = Σ_k π_k N(α_t μ_k, α_t² Σ_k + σ_t² I) at one time t."""
        num = compile_schedule(schedule, "numpy")
        tt = np.asarray(t, dtype=np.float64)  # a bare Python float would be evaluated in float32
        a, s = float(num.alpha(tt)), float(num.sigma(tt))
        return self.marginal_at(a, s)

    def marginal_at(self, alpha: float, sigma: float) -> GaussianMixture:
        """The mixture law of α x₀ + σ ε."""
        if self.diagonal:
            covs = alpha**2 * self.covs + sigma**2
        else:
            covs = alpha**2 * self.covs + sigma**2 * np.eye(self.dim)
        return GaussianMixture(self.weights, alpha * self.means, covs)

    def _params(self, ops: _NumpyOps | _TorchOps) -> dict[str, Any]:
        key = ops.key
        if key not in self._cache:
            self._cache[key] = {
                "log_w": ops.asarray(self._log_weights),
                "mu": ops.asarray(self.means),
                "s": ops.asarray(self._eigvals),
                "U": None if self._eigvecs is None else ops.asarray(self._eigvecs),
                "ones": ops.asarray(np.ones(self.dim)),
            }
        return self._cache[key]

    def _coefficients(self, x: Any, t: Any, schedule: Any) -> tuple[Any, Any]:
        t0 = _common_time(t)
        if t0 is not None:
            # One time for the whole batch (what the samplers pass): α and σ as two float64 scalars,
            # so the per-component terms below are computed once per time, not once per sample.
            return self._scalar_coefficients(t0, schedule)
        ops = _ops_for(x)
        num = compile_schedule(schedule, ops.name)
        tt = ops.asarray(t)
        return num.alpha(tt), num.sigma(tt)

    def _scalar_coefficients(self, t: float, schedule: Any) -> tuple[float, float]:
        # Keyed by the schedule object the caller passes (kept in the entry, so a recycled id never matches).
        hit = self._times.get((id(schedule), t))
        if hit is None or hit[0] is not schedule:
            # A time of no remembered grid: α and σ only (its terms are computed, once, when first needed).
            num = compile_schedule(schedule, "numpy")
            tt = np.float64(t)
            self._make_room(1)
            hit = self._times[(id(schedule), t)] = (schedule, float(num.alpha(tt)), float(num.sigma(tt)))
        return hit[1], hit[2]

    def remember_times(self, schedule: Any, times: Any) -> None:
        """α and σ of every time of ``times`` (e.g. a sampler's grid) in one vectorised evaluation, with the
        per-component terms of each, kept for the calls at those times that follow (one time per batch, as the
        samplers call): per time, a first call otherwise evaluates them on its own, which cost more than the
        arithmetic on a small batch."""
        num = compile_schedule(schedule, "numpy")
        tt = np.asarray(times.detach().cpu() if isinstance(times, torch.Tensor) else times, dtype=np.float64).ravel()
        self._make_room(len(tt))
        alphas = np.broadcast_to(num.alpha(tt), tt.shape).astype(np.float64)
        sigmas = np.broadcast_to(num.sigma(tt), tt.shape).astype(np.float64)
        # The same formulas as a single time's, on arrays: every entry equals that time's own evaluation.
        ops = _NumpyOps(alphas)
        block = _TermBlock(eigen_terms, self._terms(ops, self._params(ops), alphas, sigmas))
        for row, (t, a, s) in enumerate(zip(tt.tolist(), alphas.tolist(), sigmas.tolist(), strict=True)):
            self._times[(id(schedule), t)] = (schedule, a, s)
            self._rows[(a, s)] = (block, row)

    def _make_room(self, count: int) -> None:
        """Forget the remembered times (and their terms) when ``count`` more would pass :data:`_MAX_CACHED_TIMES`."""
        if len(self._times) + count > _MAX_CACHED_TIMES:
            self._times.clear()
            self._rows.clear()

    def _terms(self, ops: _NumpyOps | _TorchOps, p: dict[str, Any], alpha: Any, sigma: Any) -> tuple[Any, ...]:
        """(α μ_k, per-component constant of log N, the four coefficients of :func:`eigen_terms`, and
        μ_k − c_shift,k α μ_k).

        :func:`eigen_terms` is linear in z, so its coefficients are its value at z = 1; for scalar α
        and σ they are computed once per (α, σ) in float64 and reused for every sample.
        """
        scalar = (type(alpha) is float and type(sigma) is float) or (_is_scalar(alpha) and _is_scalar(sigma))
        # eigen_terms is part of the key: a replaced formula (the injected-error tests) is never served stale.
        key = (eigen_terms, ops.key, float(alpha), float(sigma)) if scalar else None
        if key is not None and key in self._scalar_terms:
            return self._scalar_terms[key]
        remembered = self._rows.get((key[2], key[3])) if scalar else None
        if remembered is not None and remembered[0].formula is eigen_terms:
            return remembered[0].row(ops, remembered[1])  # a list lookup: no second copy in _scalar_terms
        if scalar:
            a, s, ev = np.float64(alpha), np.float64(sigma), self._eigvals
            mu_a, log_w = a * self.means, self._log_weights
        else:
            a, s, ev = ops.asarray(alpha)[..., None, None], ops.asarray(sigma)[..., None, None], p["s"]
            mu_a, log_w = a * p["mu"], p["log_w"]
        denom = a**2 * ev + s**2  # eigenvalues of C_k
        logdet = (np.log(denom) if scalar else ops.log(denom)).sum(-1)
        const = log_w - 0.5 * (self.dim * math.log(2 * math.pi) + logdet)  # (..., K)
        coef = eigen_terms(1.0, a, s, ev)
        # μ_k − c_shift,k ⊙ α μ_k: with it a diagonal x̂₀ is x ⊙ (w c_shift) + w (μ − c_shift α μ), two products.
        offset = (self.means if scalar else p["mu"]) - coef[3] * mu_a
        terms = (mu_a, const, *coef, offset)
        if scalar:
            terms = tuple(ops.asarray(v) for v in terms)
            if len(self._scalar_terms) > _MAX_CACHED_TIMES:
                self._scalar_terms.clear()
            self._scalar_terms[key] = terms
        return terms

    def _components(self, x: Any, alpha: Any, sigma: Any) -> dict[str, Any]:
        """Per-component quantities at (x, α, σ); x (..., d), α and σ scalars or broadcast to x.shape[:-1].

        ``log_comp`` (..., K) is log π_k N(x; α μ_k, C_k); ``z`` the eigen-coordinates of x − α μ_k, to be
        scaled by a coefficient of :func:`eigen_terms` (``c_zc``, ``c_eps``, ``c_shift``).
        """
        ops = _ops_for(x)
        if x.ndim == 0 or x.shape[-1] != self.dim:
            raise OracleError(f"x must have last dimension d = {self.dim}, got shape {tuple(x.shape)}")
        p = self._params(ops)
        mu_a, const, c_zc, _, c_eps, c_shift, offset = self._terms(ops, p, alpha, sigma)
        c = {"ops": ops, "p": p, "c_zc": c_zc, "c_eps": c_eps, "c_shift": c_shift, "mu_a": mu_a, "offset": offset}
        # Diagonal Σ_k, one (α, σ) for the batch, x of shape (n, d): components first, (K, n, d), so that
        # the sums over d and over k run along contiguous memory (small last axes are slow to reduce).
        c["flat"] = p["U"] is None and c_zc.ndim == 2 and x.ndim == 2
        if c["flat"]:
            r = x[None] - mu_a[:, None, :]
            if self.dim == 1:  # one coordinate: a plain product (a batched matmul with inner size 1 is ~5x slower)
                r1 = r[..., 0]
                log_comp_t = const[:, None] - 0.5 * c_zc[:, :1] * (r1 * r1)
            elif ops.name == "torch":
                log_comp_t = torch.baddbmm(const[:, None, None], r * r, c_zc[:, :, None], alpha=-0.5)[..., 0]
            else:
                log_comp_t = const[:, None] - 0.5 * np.matmul(r * r, c_zc[:, :, None])[..., 0]
            c["log_comp_t"], c["log_comp"] = log_comp_t, log_comp_t.T
            return c
        r = x[..., None, :] - mu_a  # (..., K, d)
        z = r if p["U"] is None else ops.einsum("kji,...kj->...ki", p["U"], r)
        c["z"] = z
        c["log_comp"] = const - 0.5 * ((z * (z * c_zc)) @ p["ones"])  # (..., K)
        return c

    @staticmethod
    def _weights(c: dict[str, Any]) -> Any:
        """The responsibilities w (..., K)."""
        if c["flat"]:
            return c["ops"].softmax(c["log_comp_t"], 0).T
        return c["ops"].softmax(c["log_comp"], -1)

    @staticmethod
    def _weighted(c: dict[str, Any], w: Any, coef: Any, x: Any) -> Any:
        """Σ_k w_k U_k (coef_k ⊙ z_k): the posterior mean of a term of :func:`eigen_terms`.

        Flat case: Σ_k w_k c_k (x − α μ_k) = x (w c) − w (c α μ), two small matrix products.
        """
        if c["flat"]:
            return x * (w @ coef) - w @ (coef * c["mu_a"])
        return c["ops"].sum(w[..., None] * GaussianMixture._rotate(c, c["z"] * coef), -2)

    @staticmethod
    def _rotate(c: dict[str, Any], v: Any) -> Any:
        U = c["p"]["U"]
        return v if U is None else c["ops"].einsum("kij,...kj->...ki", U, v)

    # ------------------------------------------------------------------ closed forms at (α, σ)
    def log_prob_at(self, x: Any, alpha: Any, sigma: Any) -> Any:
        """log of the density of α x₀ + σ ε at x, shape x.shape[:-1]."""
        x = _prepare(x)
        c = self._components(x, alpha, sigma)
        return c["ops"].logsumexp(c["log_comp"], -1)

    def responsibilities_at(self, x: Any, alpha: Any, sigma: Any) -> Any:
        """P(component k | α x₀ + σ ε = x), shape x.shape[:-1] + (K,)."""
        x = _prepare(x)
        return self._weights(self._components(x, alpha, sigma))

    def score_at(self, x: Any, alpha: Any, sigma: Any) -> Any:
        """∇ₓ log p(x) for x = α x₀ + σ ε."""
        x = _prepare(x)
        c = self._components(x, alpha, sigma)
        return -self._weighted(c, self._weights(c), c["c_zc"], x)

    def eps_hat_at(self, x: Any, alpha: Any, sigma: Any) -> Any:
        """E[ε | α x₀ + σ ε = x] = Σ_k w_k σ C_k⁻¹ (x − α μ_k)."""
        x = _prepare(x)
        c = self._components(x, alpha, sigma)
        return self._weighted(c, self._weights(c), c["c_eps"], x)

    def x0_hat_at(self, x: Any, alpha: Any, sigma: Any) -> Any:
        """E[x₀ | α x₀ + σ ε = x] = Σ_k w_k (μ_k + α Σ_k C_k⁻¹ (x − α μ_k))."""
        x = _prepare(x)
        c = self._components(x, alpha, sigma)
        w = self._weights(c)
        if c["flat"]:  # Σ_k w_k (μ_k + c_k ⊙ (x − α μ_k)) = x ⊙ (w c) + w (μ − c ⊙ α μ)
            return x * (w @ c["c_shift"]) + w @ c["offset"]
        return w @ c["p"]["mu"] + self._weighted(c, w, c["c_shift"], x)

    # ------------------------------------------------------------------ closed forms at (t, schedule)
    def log_prob(self, x: Any, t: Any, schedule: Any) -> Any:
        """log p_t(x) of the forward marginal at time t (scalar or one per sample)."""
        x = _prepare(x)
        a, s = self._coefficients(x, t, schedule)
        return self.log_prob_at(x, a, s)

    def score(self, x: Any, t: Any, schedule: Any) -> Any:
        """∇ₓ log p_t(x)."""
        x = _prepare(x)
        a, s = self._coefficients(x, t, schedule)
        return self.score_at(x, a, s)

    def x0_hat(self, x: Any, t: Any, schedule: Any) -> Any:
        """E[x₀ | x_t = x]."""
        x = _prepare(x)
        a, s = self._coefficients(x, t, schedule)
        return self.x0_hat_at(x, a, s)

    def eps_hat(self, x: Any, t: Any, schedule: Any) -> Any:
        """E[ε | x_t = x]."""
        x = _prepare(x)
        a, s = self._coefficients(x, t, schedule)
        return self.eps_hat_at(x, a, s)

    def denoiser(self, schedule: Any) -> Any:
        """The exact denoiser ``(x, t) -> x̂₀`` for ``schedule`` (the toolkit's denoiser convention)."""
        return lambda x, t: self.x0_hat(x, t, schedule)

    # ------------------------------------------------------------------ sampling
    def sample(self, n: int, generator: Any = None, *, device: Any = None, dtype: Any = None) -> Any:
        """n draws of x₀, shape (n, d).

        ``generator``: a ``torch.Generator`` gives a torch tensor (on the generator's device unless
        ``device`` says otherwise, dtype float64 unless ``dtype`` says otherwise); a
        ``numpy.random.Generator``, an int seed, or None gives a numpy array.
        """
        n = int(n)
        if n < 0:
            raise OracleError("n must be >= 0")
        if isinstance(generator, torch.Generator) or device is not None or isinstance(dtype, torch.dtype):
            return self._sample_torch(n, generator, device, dtype)
        rng = generator if isinstance(generator, np.random.Generator) else np.random.default_rng(generator)
        comp = rng.choice(self.n_components, size=n, p=self.weights)
        z = rng.standard_normal((n, self.dim))
        scaled = np.sqrt(self._eigvals[comp]) * z
        if self._eigvecs is not None:
            scaled = np.einsum("nij,nj->ni", self._eigvecs[comp], scaled)
        return (self.means[comp] + scaled).astype(dtype or np.float64)

    def _sample_torch(self, n: int, generator: Any, device: Any, dtype: Any) -> Any:
        if device is None:
            device = generator.device if generator is not None else "cpu"
        dtype = dtype or torch.float64
        ref = torch.empty(0, dtype=dtype, device=device)
        p = self._params(_TorchOps(ref))
        weights = torch.as_tensor(self.weights, dtype=torch.float64, device=device)
        comp = torch.multinomial(weights, n, replacement=True, generator=generator) if n else \
            torch.zeros(0, dtype=torch.long, device=device)
        z = torch.randn(n, self.dim, generator=generator, dtype=dtype, device=device)
        scaled = torch.sqrt(p["s"][comp]) * z
        if p["U"] is not None:
            scaled = torch.einsum("nij,nj->ni", p["U"][comp], scaled)
        return p["mu"][comp] + scaled


class _TermBlock:
    """The per-component terms of :meth:`GaussianMixture._terms` at many (α, σ) at once (float64 numpy, leading
    axis over the times), converted once per backend, dtype and device; ``formula`` is the :func:`eigen_terms`
    they were computed with (a replaced one is never served)."""

    def __init__(self, formula: Any, terms: tuple[np.ndarray, ...]):
        self.formula, self.terms = formula, terms
        self._converted: dict[tuple, tuple] = {}

    def row(self, ops: _NumpyOps | _TorchOps, index: int) -> tuple[Any, ...]:
        key = ops.key
        rows = self._converted.get(key)
        if rows is None:
            # One conversion per term, split into per-time views at once (cheaper than indexing row by row).
            converted = [ops.asarray(v) for v in self.terms]
            rows = self._converted[key] = list(zip(*(list(v.unbind(0)) if ops.name == "torch" else list(v)
                                                      for v in converted), strict=True))
        return rows[index]


_MAX_CACHED_TIMES = 4096
"""Times (and (α, σ) pairs) remembered per mixture; a sampler's grid has at most a few thousand."""


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (float, int, np.floating)) or (isinstance(value, np.ndarray) and value.ndim == 0)


def _common_time(t: Any) -> float | None:
    """The one time of ``t`` when it is a scalar or a CPU/numpy array of equal times, else None.

    Tensors on other devices return None: reading their value would synchronise with the device.
    """
    if _is_scalar(t):
        return float(t)
    if isinstance(t, torch.Tensor):
        if not t.is_cpu or t.numel() == 0 or not t.is_floating_point():
            return None
        # numpy shares the memory and compares a batch faster than torch (bfloat16 has no numpy type: a copy)
        t = (t.detach() if t.dtype != torch.bfloat16 else t.detach().double()).numpy()
    if isinstance(t, np.ndarray) and t.size and t.dtype.kind == "f":
        flat = t.reshape(-1)
        if (flat == flat[0]).all():
            return float(flat[0])
    return None


def _to_numpy(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().double().numpy()
    return value
