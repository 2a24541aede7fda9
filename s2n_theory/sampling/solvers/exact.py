"""``exact``: the exact inference step B3/B4 (x̂₀ frozen on each step; DDIM at ρ = 0)."""

from __future__ import annotations

from .base import OneStep


class Exact(OneStep):
    name = "exact"
    order = 1
    weak_order = 1
    claims = ("B3", "B4")
    summary = "exact step with x̂₀ frozen (DDIM at ρ = 0, ancestral at ρ = 1); ρ(t) at each step's midpoint"
    kind = "exact"
    rho_at = "midpoint"
