"""Distances between sample sets (THEORY.md §8), in torch (any device, float64 advised).

* :func:`sliced_wasserstein`: mean over random unit directions of the 1-D W₂ distance
  (sorted projections; equal sample sizes);
* :func:`mmd`: unbiased squared MMD with a Gaussian kernel;
* :func:`frechet_distance`: the Fréchet (W₂) distance between Gaussian fits ("FD").
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


def mmd(x: torch.Tensor, y: torch.Tensor, bandwidth: float | None = None) -> float:
    """Unbiased MMD² with kernel exp(−‖a − b‖²/(2 h²)); h defaults to √d (data scaled to unit order)."""
    h2 = float(x.shape[1]) if bandwidth is None else float(bandwidth) ** 2

    def mean_kernel(a: torch.Tensor, b: torch.Tensor, same: bool) -> torch.Tensor:
        k = torch.exp(-torch.cdist(a, b) ** 2 / (2 * h2))
        if same:
            n = a.shape[0]
            return (k.sum() - k.diagonal().sum()) / (n * (n - 1))
        return k.mean()

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
