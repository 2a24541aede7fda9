"""Declared power of the Monte Carlo checks (M1–M3): the smallest error each one detects, from its sizes.

A Monte Carlo check has two error rates. Its false-alarm rate (a correct theory reported as
failing) is fixed by its threshold: ``FALSE_ALARM`` family-wise, Bonferroni over the tests
inside the check. Its power (a wrong theory reported as failing) depends on the sample size
and on how wrong the theory is; these functions turn the sizes of a check into the
alternative it detects with probability at least ``1 − MISS`` (power 0.99), so the row's
detail states both rates and ``--level quick`` can be sized for speed without hiding what is
given up.

* Variance z-test (M1): with n paths the sample variance has relative standard error
  ``se = √(2/(n−1))``. If g² is off by a factor 1 + δ, the variance of F1 from a fixed x₀
  (σ²_t = ∫ α_t²/α_s² g²(s) ds) is off by exactly the same factor, and the statistic is
  ``z ≈ δ/se + (1 + δ) Z``. It exceeds the threshold z* with probability ≥ 1 − MISS when
  ``δ/se − z* ≥ z_MISS (1 + δ)``, i.e. ``δ ≥ (z* + z_MISS) se / (1 − z_MISS se)``.
* Kolmogorov–Smirnov (M1, M3): the test rejects when D_n = sup|F_n − G| exceeds the
  critical value c (asymptotic, ``c = √(ln(2/a)/(2n))`` bounds it for level a). If the true
  law F differs from G by Δ = sup|F − G|, then D_n ≥ Δ − sup|F_n − F|, and by the
  Dvoretzky–Kiefer–Wolfowitz inequality sup|F_n − F| ≤ √(ln(2/MISS)/(2n)) with probability
  ≥ 1 − MISS; so every law with ``Δ ≥ c + √(ln(2/MISS)/(2n))`` is detected with power ≥ 1 − MISS.
* Mean z-test with an allowance (W3): the test rejects when |m̂ − m| > z* se + b (b: the
  deterministic allowance for grid and quadrature error). If the true mean is off by D, m̂ − m is
  D + (bias ≤ b) + se Z, so with probability ≥ 1 − MISS it exceeds the threshold once
  ``D ≥ (z* + z_MISS) se + 2 b``. If instead every sample is scaled by 1 + δ (so m and se both
  scale), detection needs ``δ (|m| − (z* + z_MISS) se) ≥ (z* + z_MISS) se + 2 b``.
* Sliced Wasserstein (M2, approximate): the statistic between the sampler's n points and n
  oracle points is at least the distance D between the two laws minus the two one-sample
  fluctuations; bounding each fluctuation by the upper (1 − MISS) quantile of the
  oracle-vs-oracle statistic q (measured by the check) gives detection when
  ``D ≥ limit + 2q``. This assumes the sampler's points fluctuate like the oracle's, hence "≈".
"""

from __future__ import annotations

import math

from scipy import stats

MISS = 0.01
"""Declared miss rate: every stated alternative is detected with probability ≥ 1 − MISS (power 0.99)."""


def _z(tail: float) -> float:
    return float(stats.norm.isf(tail))


def variance_detectable(paths: int, z_star: float, miss: float = MISS) -> float:
    """Smallest relative variance error δ (= relative error of g² for M1) detected with power ≥ 1 − miss."""
    se = math.sqrt(2.0 / (paths - 1))
    z_miss = _z(miss)
    return (z_star + z_miss) * se / (1.0 - z_miss * se)


def ks_detectable(n: int, level: float, miss: float = MISS) -> float:
    """Smallest sup-distance Δ between CDFs that a KS test at ``level`` with n points detects with power ≥ 1 − miss."""
    critical = math.sqrt(math.log(2.0 / level) / (2.0 * n))
    return critical + math.sqrt(math.log(2.0 / miss) / (2.0 * n))


def mean_detectable(se: float, z_star: float, allowance: float = 0.0, miss: float = MISS) -> float:
    """Smallest offset of a mean that a |z| ≤ z* test with a deterministic allowance detects (power ≥ 1 − miss)."""
    return (z_star + _z(miss)) * se + 2.0 * allowance


def scale_detectable(mean: float, se: float, z_star: float, allowance: float = 0.0, miss: float = MISS) -> float:
    """Smallest relative scaling δ of every sample that :func:`mean_detectable`'s test detects (power ≥ 1 − miss)."""
    spread = (z_star + _z(miss)) * se
    return (spread + 2.0 * allowance) / (abs(mean) - spread) if abs(mean) > spread else math.inf


def sw_detectable(limit: float, null_quantile: float) -> float:
    """Sliced-Wasserstein distance between laws that M2 detects (≈ power 1 − MISS): limit + 2 × null quantile."""
    return limit + 2.0 * null_quantile


def power_note(alternative: str, false_alarm: float, miss: float = MISS) -> str:
    """The phrase every Monte Carlo row ends with: both error rates and the stated alternative."""
    return f"false-alarm rate {false_alarm:g}; power {1 - miss:g} against {alternative}"
