"""Thresholds of the statistical checks: one family-wise false-alarm rate, corrected for multiple comparisons.

Every statistical check (I1, I3, I4, M1–M3, GPU) tests a true claim against sampling noise, so
it fails with a small probability even when the code is right. That probability, the
*false-alarm rate*, is :data:`FALSE_ALARM` per check, whatever the number of comparisons inside
the check: the thresholds below split it over the ``m`` comparisons (Bonferroni), and each
check reports its statistic as a residual where larger is worse, against the matching
threshold as its tolerance (see :mod:`.registry`).

* :func:`z_threshold`: |z| of two-sided normal tests: the (1 − α/(2m)) normal quantile;
* :func:`p_statistic` and :func:`p_threshold`: a p-value as −log p, against −log(α/m), so the
  smallest p-value becomes the largest statistic.
"""

from __future__ import annotations

import math

from scipy import stats

FALSE_ALARM = 1e-3
"""Family-wise false-alarm rate of every statistical check (Bonferroni over its comparisons)."""


def z_threshold(tests: int, rate: float = FALSE_ALARM) -> float:
    """Two-sided normal quantile for ``tests`` comparisons at family-wise false-alarm ``rate`` (Bonferroni)."""
    if tests < 1 or not 0 < rate < 1:
        raise ValueError(f"z_threshold needs tests >= 1 and 0 < rate < 1 (got {tests}, {rate})")
    return float(stats.norm.isf(rate / (2 * tests)))


def p_statistic(p_value: float) -> float:
    """−log p: larger is worse, +inf for p = 0."""
    return math.inf if p_value <= 0 else -math.log(p_value)


def p_threshold(tests: int, rate: float = FALSE_ALARM) -> float:
    """−log(rate/tests): a p-value passes the Bonferroni test exactly when its −log p is at most this."""
    if tests < 1 or not 0 < rate < 1:
        raise ValueError(f"p_threshold needs tests >= 1 and 0 < rate < 1 (got {tests}, {rate})")
    return -math.log(rate / tests)


def rate_note(tests: int, rate: float = FALSE_ALARM) -> str:
    """The sentence every statistical detail ends with."""
    return f"false-alarm rate {rate:g}, Bonferroni over {tests} comparison{'s' if tests != 1 else ''}"
