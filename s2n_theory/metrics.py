"""Distances between sample sets (docs/theory.md), in torch (any device, float64 advised).

* :func:`sliced_wasserstein`: mean over random unit directions of the 1-D W₂ distance
  (sorted projections; equal sample sizes); :class:`SlicedReference` sorts a fixed reference once;
* :func:`mmd`: unbiased squared MMD with a Gaussian kernel; :class:`MMDReference` computes a fixed
  reference's own kernel mean once;
* :func:`mmd_to_mixture` (:func:`mmd_to_mixture_bandwidths` for several kernels in one pass):
  the squared MMD of a sample set to the *exact* law of a Gaussian mixture (closed-form kernel
  mean embedding), with its jackknife standard error, and :func:`paired_mmd_difference` for two
  runs paired row by row;
* :func:`frechet_distance`: the Fréchet (W₂) distance between Gaussian fits ("FD");
* :func:`bootstrap_ci` and :func:`paired_difference_ci`: percentile bootstrap intervals for any
  of them, for one run and for the difference between two paired runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy import linalg

from .errors import S2NError
from .gaussian_mixture import GaussianMixture


def _directions(d: int, k: int, seed: int, like: torch.Tensor) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(d, k, generator=g, dtype=torch.float64)
    return (v / v.norm(dim=0, keepdim=True)).to(device=like.device, dtype=like.dtype)


class SlicedReference:
    """Sliced Wasserstein to one fixed set ``y`` (n, d): its sorted projections are computed once.

    ``SlicedReference(y)(x)`` equals ``sliced_wasserstein(x, y)``; a check that compares many sample
    sets with one reference (M2) sorts the reference once.
    """

    def __init__(self, y: torch.Tensor, projections: int = 128, seed: int = 0):
        self.shape = tuple(y.shape)
        self.dirs = _directions(y.shape[1], projections, seed, y)
        self.sorted = _sorted_projections(y, self.dirs)

    def __call__(self, x: torch.Tensor) -> float:
        if tuple(x.shape) != self.shape:
            raise ValueError("sliced_wasserstein needs sample sets of equal shape")
        return float(((_sorted_projections(x, self.dirs) - self.sorted) ** 2).mean().sqrt())


def _sorted_projections(x: torch.Tensor, dirs: torch.Tensor) -> torch.Tensor:
    """The projections x @ dirs sorted along the samples; (directions, n). On CPU numpy sorts (several times
    faster than torch's sort on these shapes); the numbers are the same."""
    projected = (x @ dirs).T
    if projected.device.type == "cpu":
        return torch.from_numpy(np.sort(projected.detach().numpy(), axis=1))
    return torch.sort(projected, dim=1).values


def sliced_wasserstein(x: torch.Tensor, y: torch.Tensor, projections: int = 128, seed: int = 0) -> float:
    """√(mean over directions of W₂² between the projected samples); x, y of shape (n, d)."""
    if x.shape != y.shape:
        raise ValueError("sliced_wasserstein needs sample sets of equal shape")
    return SlicedReference(y, projections, seed)(x)


MMD_BLOCK_ENTRIES = 2**22
"""Kernel entries per block of :func:`mmd` and :func:`mmd_to_mixture` (32 MiB in float64): memory stays flat in n."""


def _kernel_total(a: torch.Tensor, b: torch.Tensor, h2: float) -> float:
    """Sum over all pairs of exp(−‖a_i − b_j‖²/(2 h²)), over row blocks.

    The exponent a·b/h² − ‖a‖²/(2h²) − ‖b‖²/(2h²) is one matrix product with its bias, then one exp
    in place: no (rows, n, d) difference tensor, no square root and re-square as with cdist.
    """
    sa, sb = (a * a).sum(1) * (-0.5 / h2), (b * b).sum(1) * (-0.5 / h2)
    rows = max(1, MMD_BLOCK_ENTRIES // max(1, b.shape[0]))
    total = 0.0
    for start in range(0, a.shape[0], rows):
        block = torch.addmm(sa[start:start + rows, None], a[start:start + rows], b.T, alpha=1.0 / h2)
        total += float(block.add_(sb[None, :]).clamp_(max=0.0).exp_().sum())
    return total


def _cross_kernel_mean(a: torch.Tensor, b: torch.Tensor, h2: float) -> float:
    return _kernel_total(a, b, h2) / (a.shape[0] * b.shape[0])


def _self_kernel_mean(a: torch.Tensor, h2: float) -> float:
    """Mean of exp(−‖a_i − a_j‖²/(2 h²)) over the pairs i ≠ j: the full sum less the n diagonal ones
    (exp(0) = 1; the product form leaves each within 1e-15 of it)."""
    n = a.shape[0]
    return (_kernel_total(a, a, h2) - n) / (n * (n - 1))


class MMDReference:
    """Unbiased MMD² to one fixed set ``y``: y's own kernel mean is computed once.

    ``MMDReference(y, bandwidth)(x)`` equals ``mmd(x, y, bandwidth)``; a check that compares many
    sample sets with one reference (M2) pays for the reference's n² kernel entries once.
    """

    def __init__(self, y: torch.Tensor, bandwidth: float | None = None):
        self.y = y
        self.h2 = float(y.shape[1]) if bandwidth is None else float(bandwidth) ** 2
        self.self_term = _self_kernel_mean(y, self.h2)

    def __call__(self, x: torch.Tensor) -> float:
        return _self_kernel_mean(x, self.h2) + self.self_term - 2.0 * _cross_kernel_mean(x, self.y, self.h2)


def mmd(x: torch.Tensor, y: torch.Tensor, bandwidth: float | None = None) -> float:
    """Unbiased MMD² with kernel exp(−‖a − b‖²/(2 h²)); h defaults to √d (data scaled to unit order).

    The kernel sums run over row blocks: an n × n matrix at n = 10⁴ would take 0.8 GB per temporary.
    """
    return MMDReference(y, bandwidth)(x)


def frechet_distance(x: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray) -> float:
    """‖μ_x − μ_y‖² + tr(Σ_x + Σ_y − 2 (Σ_x Σ_y)^{1/2}) of the Gaussian fits."""
    a = np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x, dtype=np.float64)
    b = np.asarray(y.detach().cpu() if isinstance(y, torch.Tensor) else y, dtype=np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    root = linalg.sqrtm(cov_a @ cov_b)
    root = root.real if np.iscomplexobj(root) else root
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2 * root))


def sliced_wasserstein_unequal(x: torch.Tensor, y: torch.Tensor, projections: int = 128, seed: int = 0) -> float:
    """:func:`sliced_wasserstein` for sample sets of different sizes: the projected quantile
    functions are compared on a common grid of max(n_x, n_y) levels (linear interpolation)."""
    if x.shape == y.shape:
        return sliced_wasserstein(x, y, projections, seed)
    dirs = _directions(x.shape[1], projections, seed, x)
    m = max(x.shape[0], y.shape[0])
    levels = (torch.arange(m, dtype=x.dtype, device=x.device) + 0.5) / m
    qx = torch.quantile(x @ dirs, levels, dim=0)
    qy = torch.quantile(y @ dirs.to(y.dtype), levels.to(y.dtype), dim=0)
    return float(((qx - qy) ** 2).mean().sqrt())


def bootstrap_ci(metric, x: torch.Tensor, y: torch.Tensor, n_boot: int = 200, level: float = 0.95,
                 seed: int = 0) -> tuple[float, float, float]:
    """(value, lo, hi): ``metric(x, y)`` and a bootstrap interval at ``level``.

    Both sample sets are resampled with replacement, independently, so the interval covers the
    sampling noise of the generated set *and* of the reference set. Sample distances (FD, SW,
    FDD) are biased upward at finite n, and a resample's duplicated rows add more bias, so the
    raw percentile interval can miss the estimate itself. The interval is therefore the
    bootstrap distribution *re-centred on the estimate*: value + (q_tail − mean of replicates).
    It measures sampling variability; the finite-sample bias, shared by all runs with the same
    sample sizes, is not in it. To compare two runs use :func:`paired_difference_ci`.
    """
    value = float(metric(x, y))
    if n_boot <= 0:
        return value, float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    reps = np.empty(n_boot)
    for b in range(n_boot):
        i = torch.as_tensor(rng.integers(0, x.shape[0], x.shape[0]), device=x.device)
        j = torch.as_tensor(rng.integers(0, y.shape[0], y.shape[0]), device=y.device)
        reps[b] = metric(x[i], y[j])
    return (value, *_centred_interval(value, reps, level))


def paired_difference_ci(metric, a: torch.Tensor, b: torch.Tensor, y: torch.Tensor, n_boot: int = 200,
                         level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """(d, lo, hi) for d = metric(a, y) − metric(b, y), with a paired percentile bootstrap.

    ``a`` and ``b`` must be paired row by row (same start noise and per-sample noise, as a
    sweep produces with one seed): each replicate draws one set of row indices for both and
    one resample of ``y``, so the common noise cancels and the interval is the one that says
    whether a setting really beats another. An interval that contains 0 means "within noise".
    The interval is re-centred on the estimate as in :func:`bootstrap_ci`.
    """
    if a.shape != b.shape:
        raise ValueError("paired_difference_ci needs paired sample sets of equal shape")
    value = float(metric(a, y)) - float(metric(b, y))
    rng = np.random.default_rng(seed)
    reps = np.empty(n_boot)
    for k in range(n_boot):
        i = torch.as_tensor(rng.integers(0, a.shape[0], a.shape[0]), device=a.device)
        j = torch.as_tensor(rng.integers(0, y.shape[0], y.shape[0]), device=y.device)
        reps[k] = metric(a[i], y[j]) - metric(b[i], y[j])
    return (value, *_centred_interval(value, reps, level))


def _centred_interval(value: float, reps: np.ndarray, level: float) -> tuple[float, float]:
    """The replicates' central ``level`` interval, shifted so that their mean sits on ``value``."""
    tail = (1.0 - level) / 2
    lo, hi = np.quantile(reps, [tail, 1.0 - tail])
    shift = value - float(reps.mean())
    return float(lo + shift), float(hi + shift)


# ---------------------------------------------------------------------- MMD to an exact mixture law
@dataclass(frozen=True)
class MixtureMMD:
    """The one-sample MMD² of :func:`mmd_to_mixture`, its jackknife s.e. and the leave-one-out values."""

    value: float
    se: float
    n: int
    leave_one_out: np.ndarray


def _kernel_scale(h2: float, d: int) -> float:
    """(2π h²)^{d/2}: the Gaussian kernel exp(−‖a − b‖²/(2h²)) is this times the density N(a; b, h² I)."""
    return math.exp(0.5 * d * math.log(2 * math.pi * h2))


def mixture_kernel_mean(mixture: GaussianMixture, x: torch.Tensor, h2: float) -> torch.Tensor:
    """m_p(x) = E_{y~p} k(x, y) = Σ_k π_k (2πh²)^{d/2} N(x; μ_k, Σ_k + h² I): the density of y + h ε, scaled."""
    return _kernel_scale(h2, mixture.dim) * torch.exp(mixture.log_prob_at(x, 1.0, math.sqrt(h2)))


def mixture_kernel_norm(mixture: GaussianMixture, h2: float) -> float:
    """‖m_p‖² = E k(y, y') = Σ_jk π_j π_k (2πh²)^{d/2} N(μ_j − μ_k; 0, Σ_j + Σ_k + h² I), y, y' ~ p independent."""
    covs, mu, w, d = mixture.full_covs(), mixture.means, mixture.weights, mixture.dim
    total = 0.0
    for j in range(mixture.n_components):
        for k in range(mixture.n_components):
            c = covs[j] + covs[k] + h2 * np.eye(d)
            diff = mu[j] - mu[k]
            _, logdet = np.linalg.slogdet(c)
            quad = float(diff @ np.linalg.solve(c, diff))
            total += w[j] * w[k] * math.exp(0.5 * d * math.log(h2) - 0.5 * logdet - 0.5 * quad)
    return total


def _kernel_row_sums(x: torch.Tensor, h2s: tuple[float, ...]) -> torch.Tensor:
    """Σ_{j≠i} k_h(x_i, x_j) for every i and every h² in ``h2s``, shape (len(h2s), n), over row blocks
    of the upper triangle (each pair computed once, the squared distances shared by the bandwidths)."""
    n = x.shape[0]
    sq = (x * x).sum(1)
    rows = torch.zeros(len(h2s), n, dtype=x.dtype, device=x.device)
    step = max(1, MMD_BLOCK_ENTRIES // max(1, n))
    for start in range(0, n, step):
        end = min(n, start + step)
        # ‖a‖² − 2 a·b + ‖b‖², in place: each pass over a block is memory traffic, the exp is the real work.
        d2 = torch.addmm(sq[start:end, None], x[start:end], x[start:].T, alpha=-2.0).add_(sq[None, start:])
        d2.clamp_(min=0.0)
        for b, h2 in enumerate(h2s):
            k = torch.exp(d2 * (-0.5 / h2))
            rows[b, start:end] += k.sum(1)
            rows[b, end:] += k[:, end - start:].sum(0)  # the block's transpose: the same pairs seen from the other side
    return rows - 1.0  # k(x_i, x_i) = 1


def mmd_to_mixture(x: torch.Tensor, mixture: GaussianMixture, bandwidth: float | None = None) -> MixtureMMD:
    """Unbiased MMD² between the samples x (n, d) and the exact law p of ``mixture``.

    With k(a, b) = exp(−‖a − b‖²/(2h²)) (h = √d by default, as :func:`mmd`), the squared MMD is
    E k(x, x') − 2 E m_p(x) + ‖m_p‖², and its unbiased estimate is the U-statistic
    (1/(n(n−1))) Σ_{i≠j} k(x_i, x_j) − (2/n) Σ_i m_p(x_i) + ‖m_p‖², where the mean embedding m_p
    and ‖m_p‖² are closed form for a Gaussian mixture (:func:`mixture_kernel_mean`,
    :func:`mixture_kernel_norm`). Only the samples are random, so the noise of a two-sample
    estimate's data half is gone: with x ~ p the statistic is a degenerate U-statistic, mean 0
    and s.d. √(2 E h̃²/(n(n−1))) with h̃ the centred kernel. The standard error is the
    jackknife's (leave-one-out values from the kernel row sums, no extra kernel evaluations),
    conservative for U-statistics. Sums are blocked (memory flat in n); pass float64.
    """
    return mmd_to_mixture_bandwidths(x, mixture, (float(x.shape[1]) ** 0.5 if bandwidth is None else bandwidth,))[0]


def mmd_to_mixture_bandwidths(x: torch.Tensor, mixture: GaussianMixture,
                              bandwidths: tuple[float, ...]) -> list[MixtureMMD]:
    """:func:`mmd_to_mixture` for several bandwidths at once (one pass over the pairs): a wide kernel
    sees the mixture's weights and positions, a narrow one the components' shapes."""
    if x.ndim != 2 or x.shape[1] != mixture.dim:
        raise S2NError(f"mmd_to_mixture needs samples of shape (n, {mixture.dim}), got {tuple(x.shape)}")
    n = x.shape[0]
    if n < 3:
        raise S2NError("mmd_to_mixture needs at least 3 samples (for the jackknife)")
    h2s = tuple(float(h) ** 2 for h in bandwidths)
    if not all(math.isfinite(h2) and h2 > 0 for h2 in h2s):
        raise S2NError(f"mmd_to_mixture needs finite bandwidths > 0, got {bandwidths}")
    out = []
    for h2, kernel_rows in zip(h2s, _kernel_row_sums(x, h2s), strict=True):
        m = mixture_kernel_mean(mixture, x, h2)
        norm = mixture_kernel_norm(mixture, h2)
        # Row sums of the centred kernel h̃(a, b) = k(a, b) − m(a) − m(b) + ‖m‖² over j ≠ i.
        row = kernel_rows - (n - 1) * m - (m.sum() - m) + (n - 1) * norm
        total = float(row.sum())
        row_np = row.detach().cpu().double().numpy()
        leave_one_out = (total - 2.0 * row_np) / ((n - 1) * (n - 2))
        out.append(MixtureMMD(total / (n * (n - 1)), _jackknife_se(leave_one_out), n, leave_one_out))
    return out


def _jackknife_se(values: np.ndarray) -> float:
    n = len(values)
    return float(math.sqrt((n - 1) / n * np.sum((values - values.mean()) ** 2)))


def paired_mmd_difference(a: MixtureMMD, b: MixtureMMD) -> tuple[float, float]:
    """(a − b, its jackknife s.e.) for two :func:`mmd_to_mixture` results whose rows are paired
    (the same start point and noise for row i), so that the common noise cancels."""
    if a.n != b.n:
        raise S2NError("paired_mmd_difference needs results over the same number of paired rows")
    return a.value - b.value, _jackknife_se(a.leave_one_out - b.leave_one_out)
