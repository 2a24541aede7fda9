"""Multistep exponential integrators for the ρ-family: claims B5 and B6 (derivations).

A step t → s (s < t) of the backward SDE in data-prediction form (B2), written in the
half log-SNR elapsed since t, τ ∈ [0, h], h = (λ_s − λ_t)/2, has the exact solution

    x_s = (σ_s/σ_t) e^{−ρ² h} x_t + α_s ∫₀^h κ(τ) x̂₀(τ) dτ + σ_s √(1 − e^{−2ρ² h}) ξ,
    κ(τ) = c e^{−c (h − τ)},  c = 1 + ρ²   (ρ frozen on the step).

B3 freezes x̂₀; B5 replaces x̂₀(τ) by the polynomial through the last k evaluations
(nodes τ_i = h u_i, u_0 = 0, u_1 = −r_1, u_2 = −r_1 − r_2, …, with r_i the earlier step
sizes in units of h) and integrates it exactly. Everything reduces to the moments

    M_j(h) = ∫₀^h κ(τ) τ^j dτ = h^j ψ_j(c h),   ψ_j(z) = ∫₀^1 z e^{−z (1 − u)} u^j du,

so the weight of node i is α_s Σ_j L_ij ψ_j(z), with L_ij the coefficient of u^j in the
Lagrange basis polynomial ℓ_i(u). This module derives M_j, ψ_j, their series at z = 0
and the Lagrange coefficients with SymPy, and exports stable float64 evaluators
(closed form through expm1 for z ≥ ``SERIES_BELOW``, the Taylor series below).
B6 (order) is checked in ``verification/multistep_checks.py``.

Variants: ``midpoint`` freezes the polynomial at τ = h/2 instead of integrating it (the
weighting of k-diffusion's ``sample_dpmpp_2m``); a corrector adds the node u = 1 (the
evaluation at the step's end, made anyway for the next step), the UniPC idea.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np
import sympy as sp

from . import symbolic_memo
from .backward import RHO

H = sp.Symbol("h", positive=True)
"""The step in half log-SNR, (λ_s − λ_t)/2."""
TAU = sp.Symbol("tau", real=True)
"""Half log-SNR elapsed since the step's start."""
U = sp.Symbol("u", real=True)
"""τ/h."""
Z = sp.Symbol("z", positive=True)
"""(1 + ρ²) h."""

MAX_ORDER = 5
SERIES_BELOW = 0.5
"""ψ_j uses its series for z < max(SERIES_BELOW, j), where the closed form's terms in 1/z cancel."""
SERIES_TERMS = 40
"""Terms of the series: at z ≤ MAX_ORDER the truncation is below 5^41/41! (1e-21)."""


def ratio_symbols(count: int) -> tuple[sp.Symbol, ...]:
    """r_1, …, r_count: earlier step sizes in units of the current one."""
    return tuple(sp.Symbol(f"r{i}", positive=True) for i in range(1, count + 1))


def kernel(rho: sp.Expr = RHO) -> sp.Expr:
    """κ(τ) = (1 + ρ²) e^{−(1 + ρ²)(h − τ)}: the weight of x̂₀(τ) in the exact step (over α_s)."""
    c = 1 + rho**2
    return c * sp.exp(-c * (H - TAU))


_RATE = sp.Dummy("c", positive=True)
"""The rate 1 + ρ² of κ as one positive symbol while integrating."""


@functools.lru_cache(maxsize=16)
def moment(j: int, rho: sp.Expr = RHO) -> sp.Expr:
    """M_j(h) = ∫₀^h κ(τ) τ^j dτ in closed form (SymPy's integral).

    Integrated with the rate c = 1 + ρ² as one positive symbol and substituted after: SymPy
    integrates c e^{−c(h−τ)} τ^j in ~0.1 s, but took seconds per j with 1 + ρ² written out.
    """
    integral = sp.integrate(_RATE * sp.exp(-_RATE * (H - TAU)) * TAU**j, (TAU, 0, H))
    return integral.subs(_RATE, 1 + rho**2)


@functools.lru_cache(maxsize=16)
def psi(j: int) -> sp.Expr:
    """ψ_j(z) = ∫₀^1 z e^{−z(1−u)} u^j du in closed form, so that M_j(h) = h^j ψ_j((1 + ρ²) h).

    Integration by parts (v = e^{−z(1−u)}) gives ψ_0 = 1 − e^{−z} and ψ_j = 1 − (j/z) ψ_{j−1}:
    the closed form without SymPy's integrator, which took about a second per j in every process
    that builds a multistep table. The B5 check proves M_j = h^j ψ_j(ch) against SymPy's integral.
    """
    if j == 0:
        return 1 - sp.exp(-Z)
    return sp.expand(1 - j / Z * psi(j - 1))


@functools.lru_cache(maxsize=16)
def psi_series(j: int, terms: int = SERIES_TERMS) -> sp.Expr:
    """The Taylor polynomial of ψ_j at z = 0 with ``terms`` terms (z¹ … z^terms).

    Expanding e^{−z(1−u)} under the integral and using ∫₀¹ (1 − u)^m u^j du = j! m!/(j + m + 1)!
    gives ψ_j(z) = Σ_m (−1)^m j! z^{m+1}/(j + m + 1)!: exact rational coefficients, with no series
    expansion of the closed form (SymPy's takes seconds at 40 terms). The B5 check compares the
    first terms with SymPy's series of :func:`psi`.
    """
    return sum(c * Z ** (m + 1) for m, c in enumerate(psi_series_coefficients(j, terms)))


@functools.lru_cache(maxsize=16)
def psi_series_coefficients(j: int, terms: int = SERIES_TERMS) -> tuple[sp.Rational, ...]:
    """The exact coefficients (−1)^m j!/(j + m + 1)! of z^{m+1}, m = 0 … terms − 1, in :func:`psi_series`."""
    return tuple(sp.Integer(-1) ** m * sp.factorial(j) / sp.factorial(j + m + 1) for m in range(terms))


def nodes(order: int, ratios: Sequence[sp.Expr] | None = None, corrector: bool = False) -> list[sp.Expr]:
    """The normalised nodes u_i = τ_i/h: [1 (corrector only)], 0, −r_1, −r_1 − r_2, …"""
    ratios = ratio_symbols(order - 1) if ratios is None else ratios
    points = [sp.Integer(0)]
    for r in ratios[: order - 1]:
        points.append(points[-1] - r)
    return ([sp.Integer(1)] if corrector else []) + points


def lagrange_coefficients(points: Sequence[sp.Expr]) -> list[list[sp.Expr]]:
    """L[i][j]: the coefficient of u^j in the Lagrange basis polynomial of node i."""
    rows = symbolic_memo.derived("multistep.lagrange_coefficients", tuple(points), lambda: _lagrange_rows(points))
    return [list(row) for row in rows]


def _lagrange_rows(points: Sequence[sp.Expr]) -> tuple[tuple[sp.Expr, ...], ...]:
    rows = []
    for i, ui in enumerate(points):
        basis = sp.Integer(1)
        for m, um in enumerate(points):
            if m != i:
                basis *= (U - um) / (ui - um)
        poly = sp.Poly(sp.expand(basis), U)
        rows.append(tuple(sp.factor(poly.coeff_monomial(U**j)) for j in range(len(points))))
    return tuple(rows)


def weights(points: Sequence[sp.Expr], midpoint: bool = False) -> list[sp.Expr]:
    """The weight of each node (over α_s) as a closed form in z, the ratios and ρ-free ψ_j.

    ``midpoint``: ψ_0(z) ℓ_i(1/2) (polynomial frozen at the step's middle), else Σ_j L_ij ψ_j(z).
    """
    table = lagrange_coefficients(points)
    if midpoint:
        return [psi(0) * sum(c * sp.Rational(1, 2) ** j for j, c in enumerate(row)) for row in table]
    return [sum(c * psi(j) for j, c in enumerate(row)) for row in table]


# ---------------------------------------------------------------------- numeric evaluation
@functools.lru_cache(maxsize=16)
def _psi_closed(j: int) -> Callable:
    """The closed form of ψ_j as a numpy function of z, its 1 − e^{−z} through expm1."""
    # ψ_j = P_j(1/z) + Q_j(1/z) e^{−z}; writing e^{−z} = 1 + expm1(−z) keeps every term of size O(1)
    # when z is moderate, and the series takes over where the polynomial parts would cancel.
    em1 = sp.Symbol("em1")
    closed = symbolic_memo.derived("multistep.psi_closed", (psi(j), em1),
                                   lambda: sp.expand(sp.expand(psi(j)).subs(sp.exp(-Z), 1 + em1)))
    closed_fn = symbolic_memo.lambdify([Z, em1], closed, "numpy")
    return lambda z: closed_fn(z, np.expm1(-z))


@functools.lru_cache(maxsize=16)
def _series_coefficients(count: int) -> np.ndarray:
    """Column j: the series coefficients of ψ_j, z⁰ (none) to z^SERIES_TERMS, for j < count (read only).
    Read off the exact rationals (the polynomial's .coeff per power took ~0.2 s per j)."""
    table = np.array([[0.0, *(float(c) for c in psi_series_coefficients(j))] for j in range(count)]).T
    table.flags.writeable = False
    return table


def psi_table(count: int, z: np.ndarray) -> np.ndarray:
    """ψ_0 … ψ_{count−1} at every z ≥ 0, shape (len(z), count), float64: ψ_j by its series below
    max(``SERIES_BELOW``, j), by its closed form above.

    The series of every j in one Horner pass (highest power first), each column the same operations as a
    pass of its own: a table of a few dozen steps costs SERIES_TERMS array operations, not count times as many.
    """
    z = np.atleast_1d(np.asarray(z, dtype=np.float64))
    out = np.empty((len(z), count))
    # The series only where some ψ_j takes it (far above, z^SERIES_TERMS would only make overflow warnings).
    near = z < max(SERIES_BELOW, float(count - 1))
    zs, series = z[near][:, None], np.zeros((int(near.sum()), count))
    for row in _series_coefficients(count)[::-1]:
        series = series * zs + row
    out[near] = series
    for j in range(count):
        big = z >= max(SERIES_BELOW, float(j))
        if np.any(big):
            out[big, j] = _psi_closed(j)(z[big])
    return out


def psi_values(j: int, z: np.ndarray) -> np.ndarray:
    """ψ_j(z) in float64 for z ≥ 0: the series below max(``SERIES_BELOW``, j), the closed form above."""
    z = np.asarray(z, dtype=np.float64)
    return psi_table(j + 1, z.ravel())[:, j].reshape(z.shape)


def lagrange_table(points: np.ndarray) -> np.ndarray:
    """Numeric :func:`lagrange_coefficients` for many node sets at once: ``points`` (steps, n) → L (steps, n, n),
    L[:, i, j] the coefficient of u^j in ℓ_i(u) = Π_{m≠i} (u − u_m)/(u_i − u_m).

    The numerator is expanded by multiplying in one linear factor at a time (its coefficients are
    elementary symmetric functions of the other nodes, no linear solve), then divided by the
    denominator: float64 throughout, vectorised over the steps. It replaces compiling the SymPy table
    (factored per entry: seconds per process for 4–5 nodes); tests/test_multistep.py compares the two.
    """
    u = np.asarray(points, dtype=np.float64)
    steps, n = u.shape
    table = np.empty((steps, n, n))
    for i in range(n):
        poly = np.zeros((steps, n))
        poly[:, 0] = 1.0
        denominator = np.ones(steps)
        degree = 0
        for m in range(n):
            if m == i:
                continue
            # poly ← poly · (u − u_m): shift up one power, subtract u_m times the old coefficients.
            poly[:, 1:degree + 2] = poly[:, 0:degree + 1] - u[:, m, None] * poly[:, 1:degree + 2]
            poly[:, 0] *= -u[:, m]
            degree += 1
            denominator *= u[:, i] - u[:, m]
        table[:, i, :] = poly / denominator[:, None]
    return table


def node_points(order: int, ratios: np.ndarray, corrector: bool = False) -> np.ndarray:
    """Numeric :func:`nodes` for many steps: ``ratios`` (steps, ≥ order − 1) → u (steps, nodes)."""
    ratios = np.asarray(ratios, dtype=np.float64)
    past = np.concatenate([np.zeros((len(ratios), 1)), -np.cumsum(ratios[:, :order - 1], axis=1)], axis=1)
    return np.concatenate([np.ones((len(ratios), 1)), past], axis=1) if corrector else past


def node_weights(order: int, z: np.ndarray, ratios: np.ndarray, corrector: bool = False,
                 midpoint: bool = False) -> np.ndarray:
    """Weights (over α_s) of each node for many steps at once: shape (steps, nodes).

    ``z`` = (1 + ρ²) h per step, ``ratios`` shape (steps, ≥ order − 1): r_i = h_{n−i}/h_n.
    """
    z = np.atleast_1d(np.asarray(z, dtype=np.float64))
    n_nodes = order + (1 if corrector else 0)
    ratios = np.asarray(ratios, dtype=np.float64).reshape(len(z), -1)
    table = lagrange_table(node_points(order, ratios, corrector))
    if midpoint:
        return psi_values(0, z)[:, None] * (table @ (0.5 ** np.arange(n_nodes)))
    return np.einsum("sij,sj->si", table, psi_table(n_nodes, z))
