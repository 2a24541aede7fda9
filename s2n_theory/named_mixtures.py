"""Named Gaussian mixtures with exact oracles (P3): the data of the Monte Carlo claims M1–M4 and
the ``mixture:NAME`` targets of ``s2n sweep``.

They live in the package, below both users, so that sweeps run on exactly the mixtures the
checks validate without the package importing the checks.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .gaussian_mixture import GaussianMixture


def mixture_1d() -> GaussianMixture:
    return GaussianMixture([0.35, 0.65], [[-1.2], [0.9]], [[0.08], [0.3]])


def mixture_2d() -> GaussianMixture:
    return GaussianMixture([0.3, 0.5, 0.2], [[-1.5, 0.5], [1.0, 1.0], [0.5, -1.5]],
                           [[0.10, 0.05], [0.20, 0.10], [0.05, 0.15]])


def mixture_16d() -> GaussianMixture:
    rng = np.random.default_rng(16)
    means = rng.normal(0.0, 1.0, size=(4, 16))
    variances = rng.uniform(0.05, 0.3, size=(4, 16))
    return GaussianMixture([0.25, 0.25, 0.3, 0.2], means, variances)


NAMED_MIXTURES: dict[str, Callable[[], GaussianMixture]] = {"1d": mixture_1d, "2d": mixture_2d, "16d": mixture_16d}
"""Name (as in ``mixture:NAME``) → factory of the mixture."""
