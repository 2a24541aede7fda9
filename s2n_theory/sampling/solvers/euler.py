"""``euler``: Euler–Maruyama on the data-prediction SDE B2 (ρ(t) at each step's start)."""

from __future__ import annotations

from .base import OneStep


class Euler(OneStep):
    name = "euler"
    order = 1
    weak_order = 1
    claims = ("B2", "B4")
    summary = "Euler–Maruyama on the B2 form; ρ(t) at each step's start"
    kind = "euler"
    rho_at = "start"
