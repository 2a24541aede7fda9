"""The sampler's boundary checks: its arguments, its grids and what its denoiser returns.

One place for every condition the sampling engine and the time grids rely on, each failing
with an :class:`~s2n_theory.errors.S2NError` that says what was wrong (and, for non-finite
denoiser output, at which step and time). The per-step check is one reduction per
denoiser call (its min and max), kept on the device (no host synchronisation inside the loop);
:meth:`FiniteWatch.verify` looks at the flags once, after the loop.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
import torch

from ..errors import S2NError


def _finite_real(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise S2NError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise S2NError(f"{name} must be finite, got {value}")
    return value


def check_sample_arguments(x: Any, gamma: Any, delta: Any) -> None:
    """``sample()``'s own inputs: x a finite floating-point tensor with a batch dimension; γ, δ finite reals."""
    if not isinstance(x, torch.Tensor):
        raise S2NError(f"x must be a torch tensor, got {type(x).__name__}")
    if not torch.is_floating_point(x):
        raise S2NError(f"x must be a floating-point tensor, got {x.dtype}")
    if x.ndim == 0:
        raise S2NError("x must have a batch dimension (shape (batch, ...)), got a 0-d tensor")
    if x.numel() and not bool(torch.isfinite(x).all()):
        raise S2NError("x (the starting samples) contains NaN or inf")
    _finite_real("gamma", gamma)
    _finite_real("delta", delta)


def check_grid_arguments(n: Any, exponent: Any) -> int:
    """``time_grid``'s step count (a positive integer, not a bool) and Karras exponent (finite, > 0); returns n."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral | float | np.floating):
        raise S2NError(f"n (the number of steps) must be an integer, got {n!r}")
    if isinstance(n, float | np.floating) and not (math.isfinite(n) and float(n).is_integer()):
        raise S2NError(f"n (the number of steps) must be a whole number, got {n!r}")
    if int(n) < 1:
        raise S2NError(f"a grid needs at least one step (got n = {n})")
    if _finite_real("exponent", exponent) <= 0:
        raise S2NError(f"the karras grid exponent must be > 0, got {exponent}")
    return int(n)


def check_denoiser_output(x0_hat: Any, x: torch.Tensor, step: int, t: float) -> torch.Tensor:
    """The denoiser's x̂₀ at ``step`` (time ``t``): a tensor of x's shape on x's device; returned in x's dtype
    (so a float32 run stays float32). Finiteness is checked by :class:`FiniteWatch`, without a sync."""
    if not isinstance(x0_hat, torch.Tensor):
        raise S2NError(f"the denoiser returned {type(x0_hat).__name__} at step {step} (t = {t:.6g}); "
                       f"it must return a torch tensor")
    if x0_hat.shape != x.shape:
        raise S2NError(f"the denoiser returned shape {tuple(x0_hat.shape)} for x of shape {tuple(x.shape)} "
                       f"at step {step} (t = {t:.6g})")
    if x0_hat.device != x.device:
        raise S2NError(f"the denoiser returned a tensor on {x0_hat.device} for x on {x.device} at step {step}")
    if not torch.is_floating_point(x0_hat):
        raise S2NError(f"the denoiser returned dtype {x0_hat.dtype} at step {step} (t = {t:.6g})")
    return x0_hat if x0_hat.dtype == x.dtype else x0_hat.to(x.dtype)


class FiniteWatch:
    """Per-call finiteness flags of the denoiser output, kept on the device and read once by :meth:`verify`."""

    def __init__(self) -> None:
        self._ranges: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._where: list[tuple[int, float]] = []

    def record(self, x0_hat: torch.Tensor, step: int, t: float) -> None:
        # (min, max) is finite exactly when every element is (NaN propagates, ±inf shows at an end), and one
        # aminmax pass is ~15x cheaper on CPU than isfinite(x).all() (a full boolean tensor, then a reduction).
        if x0_hat.numel():
            self._ranges.append(tuple(torch.aminmax(x0_hat)))
            self._where.append((step, t))

    def verify(self, samples: torch.Tensor) -> None:
        """Raise naming the first step whose denoiser output was NaN/inf, or if the final samples are not finite."""
        if self._ranges:
            ok = torch.isfinite(torch.stack([torch.stack(r) for r in self._ranges])).all(dim=1).cpu()
            if not bool(ok.all()):
                step, t = self._where[int((~ok).nonzero()[0, 0])]
                raise S2NError(f"the denoiser returned NaN or inf at step {step} (t = {t:.6g}); "
                               f"no samples were produced")
        if not bool(torch.isfinite(samples).all()):
            raise S2NError("the sampler's result contains NaN or inf although every denoiser output was finite "
                           "(overflow: try float64 or a finer grid)")
