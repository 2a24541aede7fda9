"""Distances between sample sets (docs/theory.md), in torch (any device, float64 advised).

* :func:`sliced_wasserstein`: mean over random unit directions of the 1-D W₂ distance
  (sorted projections; equal sample sizes);
* :func:`mmd`: unbiased squared MMD with a Gaussian kernel;
* :func:`frechet_distance`: the Fréchet (W₂) distance between Gaussian fits ("FD");
* :func:`bootstrap_ci` and :func:`paired_difference_ci`: percentile bootstrap intervals for any
  of them, for one run and for the difference between two paired runs.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import linalg


def _directions(d: int, k: int, seed: int, like: torch.Tensor) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(d, k, generator=g, dtype=torch.float64)
    return (v / v.norm(dim=0, keepdim=True)).to(device=like.device, dtype=like.dtype)


def sliced_wasserstein(x: torch.Tensor, y: torch.Tensor, projections: int = 128, seed: int = 0) -> float:
    """√(mean over directions of W₂² between the projected samples); x, y of shape (n, d)."""
    if x.shape != y.shape:
        raise ValueError("sliced_wasserstein needs sample sets of equal shape")
    dirs = _directions(x.shape[1], projections, seed, x)
    px, _ = torch.sort(x @ dirs, dim=0)
    py, _ = torch.sort(y @ dirs, dim=0)
    return float(((px - py) ** 2).mean().sqrt())


MMD_BLOCK_ENTRIES = 2**22
"""Kernel entries per block of :func:`mmd` (32 MiB in float64): memory stays flat in n, the n × n matrix is never held."""


def mmd(x: torch.Tensor, y: torch.Tensor, bandwidth: float | None = None) -> float:
    """Unbiased MMD² with kernel exp(−‖a − b‖²/(2 h²)); h defaults to √d (data scaled to unit order).

    The kernel sums run over row blocks: an n × n matrix at n = 10⁴ would take 0.8 GB per temporary.
    """
    h2 = float(x.shape[1]) if bandwidth is None else float(bandwidth) ** 2

    def mean_kernel(a: torch.Tensor, b: torch.Tensor, same: bool) -> torch.Tensor:
        rows = max(1, MMD_BLOCK_ENTRIES // max(1, b.shape[0]))
        total = torch.zeros((), dtype=a.dtype, device=a.device)
        for start in range(0, a.shape[0], rows):
            k = torch.exp(-torch.cdist(a[start:start + rows], b) ** 2 / (2 * h2))
            total = total + k.sum()
        if same:
            n = a.shape[0]
            # k(a_i, a_i) = exp(0) = 1 on the diagonal.
            return (total - n) / (n * (n - 1))
        return total / (a.shape[0] * b.shape[0])

    return float(mean_kernel(x, x, True) + mean_kernel(y, y, True) - 2 * mean_kernel(x, y, False))


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
