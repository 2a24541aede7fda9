"""Sweep targets: the denoiser, the start distribution x_T and the reference set of a
``mixture:NAME``, ``digits`` or ``module:callable`` target, and the metric functions."""

from __future__ import annotations

import functools
import importlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .. import digits, metrics
from ..inference import denoiser_from_edm
from ..named_mixtures import NAMED_MIXTURES
from ..numeric_schedule import compile_schedule
from ..sampling import NoiseSource
from .config import SweepError


def named_mixtures() -> dict[str, Any]:
    """The targets ``mixture:NAME``: name → factory of the Gaussian mixture (see :mod:`s2n_theory.named_mixtures`)."""
    return dict(NAMED_MIXTURES)


@dataclass
class Target:
    denoiser_factory: Any  # schedule -> denoiser(x, t)
    start: Any  # (schedule, t_max, n, seed, dtype, device) -> x_T
    reference: torch.Tensor | None
    dim: int


def _gaussian_start(dim: int, sigma_data: float):
    def start(schedule, t_max, n, seed, dtype, device):
        num = compile_schedule(schedule, "numpy")
        scale = math.sqrt(float(num.sigma(t_max)) ** 2 + float(num.alpha(t_max)) ** 2 * sigma_data**2)
        return scale * NoiseSource(seed).normal((n, dim), step=0, stream=7, dtype=dtype, device=device)

    return start


@functools.lru_cache(maxsize=8)
def load_target(target: str, checkpoint: str | None, edm: bool, reference: str | None, sigma_data: float,
                samples: int, device: str) -> Target:
    """Build (once per process) the denoiser factory, the start sampler and the reference set."""
    if target.startswith("mixture:"):
        name = target.split(":", 1)[1]
        mixtures = named_mixtures()
        if name not in mixtures:
            raise SweepError(f"unknown mixture {name!r} (choose {', '.join(mixtures)})")
        mixture = mixtures[name]()

        def start(schedule, t_max, n, seed, dtype, device_):
            draw = mixture.marginal(t_max, schedule).sample(n, np.random.default_rng(seed))
            return torch.as_tensor(draw, dtype=dtype, device=device_)

        ref = torch.as_tensor(mixture.sample(samples, np.random.default_rng(10**6 + 1)), dtype=torch.float64)
        return Target(lambda schedule: mixture.denoiser(schedule), start, ref, ref.shape[1])
    if target == "digits":
        model = digits.load_model(checkpoint, device)
        ref, _ = digits.load_split("test")
        return Target(lambda schedule: denoiser_from_edm(lambda y, s: model(y, s), schedule),
                      _gaussian_start(digits.DIM, model.config.sigma_data), ref, digits.DIM)
    module_name, _, attr = target.partition(":")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise SweepError(f"cannot import target {target!r}: {exc}") from exc
    model = obj() if isinstance(obj, type) else obj
    ref = None
    if reference:
        data = np.load(reference)
        ref = torch.as_tensor(data, dtype=torch.float64).reshape(data.shape[0], -1)
    dim = int(getattr(model, "dim", ref.shape[1] if ref is not None else 0))
    if dim <= 0:
        raise SweepError("a module target needs a `dim` attribute or a reference .npy to know the data size")
    factory = (lambda schedule: denoiser_from_edm(model, schedule)) if edm else (lambda schedule: model)
    return Target(factory, _gaussian_start(dim, sigma_data), ref, dim)


def metric_function(name: str):
    if name == "sw":
        return metrics.sliced_wasserstein_unequal
    if name == "mmd":
        return metrics.mmd
    if name == "fd":
        return metrics.frechet_distance
    return digits.frechet_digits_distance
