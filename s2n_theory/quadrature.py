"""Vectorised adaptive quadrature with error estimates (used by §5 and §6: S3, I1–I5).

:func:`integrate` computes a batch of one-dimensional integrals at once: every
batch element has its own breakpoints (a sorted row of edges), each segment
between two edges is cut into ``p`` equal panels carrying a Gauss–Legendre rule,
and ``p`` is doubled until two successive results agree to the requested
tolerance for the whole batch. The reported error is the difference between the
last two results, an upper bound on the error of the coarser one and therefore a
conservative estimate for the finer one, which is the value returned.

Each batch element stops doubling once its own estimate has converged, so only the
elements that need finer panels pay for them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

GAUSS_POINTS = 20
"""Gauss–Legendre points per panel."""

_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(GAUSS_POINTS)


@dataclass
class Quadrature:
    """Integrals of a batch: ``value`` and ``error`` have shape (n_integrands, batch)."""

    value: np.ndarray
    error: np.ndarray
    panels: int
    converged: bool


def _nodes(edges: np.ndarray, panels: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights, shape (batch, segments * panels * GAUSS_POINTS)."""
    lo, hi = edges[:, :-1], edges[:, 1:]
    frac = np.arange(panels + 1) / panels
    cuts = lo[..., None] + (hi - lo)[..., None] * frac  # (batch, segments, panels + 1)
    a, b = cuts[..., :-1], cuts[..., 1:]
    half = 0.5 * (b - a)
    mid = 0.5 * (a + b)
    x = mid[..., None] + half[..., None] * _NODES  # (batch, segments, panels, G)
    w = half[..., None] * _WEIGHTS
    batch = edges.shape[0]
    return x.reshape(batch, -1), np.broadcast_to(w, x.shape).reshape(batch, -1)


def integrate(
    func: Callable[[np.ndarray, np.ndarray], np.ndarray],
    edges: np.ndarray,
    *,
    rtol: float = 1e-12,
    atol: float = 1e-14,
    start_panels: int = 1,
    max_panels: int = 64,
) -> Quadrature:
    """∫ func over [edges[:, 0], edges[:, -1]] for every row of ``edges``.

    ``func(x, rows)`` gets nodes of shape (len(rows), n) for the batch rows ``rows`` and returns
    (n_integrands, len(rows), n) (or (len(rows), n) for one integrand). Rows are refined until
    their own estimate converges (all integrands of the row). Segments of zero length are allowed.
    """
    edges = np.sort(np.atleast_2d(np.asarray(edges, dtype=np.float64)), axis=-1)
    batch = edges.shape[0]

    def rule(panels: int, rows: np.ndarray) -> np.ndarray:
        x, w = _nodes(edges[rows], panels)
        values = np.asarray(func(x, rows), dtype=np.float64)
        if values.ndim == 2:
            values = values[None]
        return np.sum(values * w, axis=-1)

    panels = max(1, int(start_panels))
    active = np.arange(batch)
    previous = rule(panels, active)
    value = np.zeros_like(previous)
    error = np.full_like(previous, np.inf)
    used = np.zeros(batch, dtype=int)
    while active.size:
        panels *= 2
        current = rule(panels, active)
        diff = np.abs(current - previous)
        value[:, active], error[:, active], used[active] = current, diff, panels
        done = np.all(diff <= atol + rtol * np.abs(current), axis=0)
        if panels >= max_panels:
            break
        active, previous = active[~done], current[:, ~done]
    converged = bool(np.all(error <= atol + rtol * np.abs(value)))
    return Quadrature(value, error, int(used.max()), converged)
