"""Checks of the multistep exponential integrators: B5 (the step), B6 (its order), and their orders measured.

B5 (symbolic; the schedule-free identities on the general schedule only): the moments
M_j(h) = ∫₀^h κ τ^j dτ solve
their defining ODE dM_j/dh = c h^j − c M_j with M_j(0) = 0 (so the closed form is the
integral) and equal h^j ψ_j(c h); on the schedule itself, the step's mean with x̂₀ a
polynomial in λ solves B2's mean ODE (exact integration in λ, ρ frozen); the one-node step
is B3; the two-node steps are the published DPM-Solver++(2M) formulas written out by hand
(exact integral at ρ = 0 and ρ = 1, and the midpoint weighting).
B5 (numeric): the solvers' grid tables equal α_s × the symbolic weights (mpmath, 60 digits),
including steps far smaller than the series switch.
B6 (symbolic, general; schedule-free identities in λ-time): with k nodes the weights
reproduce every polynomial of degree < k exactly, and the residual on the first polynomial
they miss is O(h^{k+1}) (series in h, for symbolic step ratios r_i and ρ); the corrector
(k + 1 nodes) one order more.
M4 (numeric, built-ins): the one-step error of every multistep solver on the exact mixture
oracle (history taken from a fine reference path) falls like h^{k+1}; the global orders
(ODE, with warm-up) and the weak order at ρ = 1 (exact moments of the scheme for Gaussian
data, no sampling error) are fitted on doubling step counts.
"""

from __future__ import annotations

import functools

import mpmath
import numpy as np
import sympy as sp
import torch

from s2n_theory import backward, multistep, symbolic_memo
from s2n_theory.backward import RHO
from s2n_theory.forward import X
from s2n_theory.gaussian_mixture import GaussianMixture
from s2n_theory.multistep import H, Z
from s2n_theory.numeric_schedule import compile_schedule
from s2n_theory.sampling import NoiseSource, sample, time_grid
from s2n_theory.sampling.solvers import SOLVERS, Multistep
from s2n_theory.schedule import Schedule
from s2n_theory.symbols import S, T

from .montecarlo_checks import (
    ODE_REFERENCE,
    ORDER_TOLERANCE,
    REFERENCE_SOLVER,
    fitted_order,
    grid_oracle,
    mixture_2d,
    ode_grid,
    ode_reference,
    ode_solves,
)
from .prove import prove_identities
from .registry import Outcome, claim_check

COEFFICIENTS = tuple(sp.Symbol(f"a{j}", real=True) for j in range(3))
"""x̂₀(τ) = a0 + a1 τ + a2 τ²: a polynomial in half log-SNR for the on-schedule mean ODE."""

RANGES = {H: (0.01, 2.0), Z: (0.01, 5.0), RHO: (0.0, 2.0), X: (-3.0, 3.0),
          **{sym: (-2.0, 2.0) for sym in COEFFICIENTS},
          **{sym: (0.3, 3.0) for sym in multistep.ratio_symbols(4)}}


def _psi_at(j: int, value: sp.Expr) -> sp.Expr:
    return multistep.psi(j).subs(Z, value)


SERIES_CHECK_TERMS = 8
"""Terms of ψ_j's series compared with SymPy's expansion (the coefficient formula is the same for every term)."""


def moment_identities() -> list[tuple[str, sp.Expr, sp.Expr]]:
    """M_j solves dM/dh = c h^j − c M, M(0) = 0 (so it is the integral), and M_j = h^j ψ_j(c h)."""
    c = 1 + RHO**2
    identities = []
    for j in range(4):
        m = multistep.moment(j)
        identities += [
            (f"M_{j}: dM/dh = c h^j - c M", sp.diff(m, H), c * H**j - c * m),
            (f"M_{j}(0) = 0", m.subs(H, 0), 0),
            (f"M_{j} = h^j psi_{j}((1 + rho^2) h)", m, H**j * _psi_at(j, c * H)),
            # The solvers' small-step series (a formula in multistep.psi_series) against SymPy's own series.
            (f"psi_{j} series: first {SERIES_CHECK_TERMS} terms", multistep.psi_series(j, SERIES_CHECK_TERMS),
             sp.series(multistep.psi(j), Z, 0, SERIES_CHECK_TERMS + 1).removeO()),
        ]
    return identities


def schedule_identities(schedule: Schedule) -> list[tuple[str, sp.Expr, sp.Expr]]:
    """On the schedule: the step's mean with x̂₀ quadratic in λ solves B2's mean ODE; one node is B3."""
    # With x̂₀(τ) = Σ a_j τ^j (τ = half log-SNR elapsed since t), the step's mean
    # m(s) = c_x x + α_s Σ a_j M_j(h(s)) solves the B2 mean ODE backward from m(t) = x.
    h_s = backward.step_h(schedule)
    c_x, c_x0, _ = backward.exact_step_coefficients(schedule, RHO)
    alpha_s = schedule.at(schedule.alpha, S)
    mean = c_x * X + alpha_s * sum(a * multistep.moment(j).subs(H, h_s) for j, a in enumerate(COEFFICIENTS))
    x0_of_s = sum(a * h_s**j for j, a in enumerate(COEFFICIENTS))
    placeholder = sp.Dummy("y")
    drift_s = schedule.at(backward.drift_from_x0(schedule, placeholder, X, RHO), S)  # X stands for x̂₀ here
    drift_s = drift_s.subs(X, x0_of_s).subs(placeholder, mean)
    dlam_s = schedule.at(schedule.dlog_snr, S)
    identities = [
        ("initial mean at s = t", mean.subs(S, T), X),
        ("one node is B3", alpha_s * multistep.weights(multistep.nodes(1))[0].subs(Z, (1 + RHO**2) * h_s), c_x0),
    ]
    # The mean ODE is proved for arbitrary α(t), λ(t) on the general schedule, of which every
    # built-in is an instance; on trigonometric built-ins its normal form does not terminate.
    if schedule.is_general:
        identities.insert(0, ("mean ODE in lambda-time with x0_hat quadratic in lambda",
                              sp.diff(mean, S) / dlam_s, drift_s / dlam_s))
    return identities


def special_case_identities() -> list[tuple[str, sp.Expr, sp.Expr]]:
    """The published DPM-Solver++(2M) steps, written out by hand (D1 = (D0 − D_prev)/r)."""
    r = multistep.ratio_symbols(1)[0]
    w0, w1 = multistep.weights(multistep.nodes(2))
    m0, m1 = multistep.weights(multistep.nodes(2), midpoint=True)
    ode_d1 = (sp.exp(-H) - 1) / H + 1  # exact integral of the linear interpolant, ρ = 0
    sde_d1 = (1 - sp.exp(-2 * H)) / (-2 * H) + 1  # the same at ρ = 1 (c = 2)
    return [
        ("rho = 0, 2 nodes: current", w0.subs(Z, H), 1 - sp.exp(-H) + ode_d1 / r),
        ("rho = 0, 2 nodes: previous", w1.subs(Z, H), -ode_d1 / r),
        ("rho = 1, 2 nodes: current", w0.subs(Z, 2 * H), 1 - sp.exp(-2 * H) + sde_d1 / r),
        ("rho = 1, 2 nodes: previous", w1.subs(Z, 2 * H), -sde_d1 / r),
        ("midpoint, 2 nodes: current", m0, (1 - sp.exp(-Z)) * (1 + 1 / (2 * r))),
        ("midpoint, 2 nodes: previous", m1, -(1 - sp.exp(-Z)) / (2 * r)),
    ]


@claim_check("B5", "symbolic", "multistep step: exact λ-integral of the Lagrange x̂₀ (moments, mean ODE, known cases)")
def check_b5(schedule: Schedule, level: str) -> Outcome:
    # The moment identities and the published special cases do not involve the schedule (they live in
    # λ-time): proved once, on the general schedule; a concrete schedule adds only what is its own.
    identities = schedule_identities(schedule)
    if schedule.is_general:
        identities = moment_identities() + identities + special_case_identities()
    return prove_identities(identities, schedule, RANGES, level)


def _exactness_identities(order: int, corrector: bool) -> list[tuple[str, sp.Expr, sp.Expr]]:
    points = multistep.nodes(order, corrector=corrector)
    rows = multistep.lagrange_coefficients(points)
    count = len(points)
    label = f"{order} nodes" + (" + corrector" if corrector else "")
    # Every quantity below is a polynomial in h whose coefficients are rational functions of the ratios
    # r_i and ρ: SymPy's field of those rational functions (and the polynomial ring over it) does the
    # algebra exactly, each result in lowest terms, so a coefficient that is identically 0 comes out as 0
    # (the same cancellation as sp.cancel, without building and expanding expression trees).
    field = sp.field([*multistep.ratio_symbols(order - 1), RHO], sp.QQ)[0]
    ring = sp.ring([H], field)[0]
    lagrange = [[field.from_expr(entry) for entry in row] for row in rows]
    nodes = [field.from_expr(p) for p in points]
    identities = []
    for m in range(count):
        # Σ_i w_i u_i^m with w_i = Σ_j L_ij ψ_j must be ψ_m, for ψ_j arbitrary: compare each ψ_j's coefficient.
        for j in range(count):
            # (the field's 0**0 raises: u^0 = 1 for every node, u_0 = 0 included)
            coefficient = sum((row[j] * (p**m if m else field.one) for row, p in zip(lagrange, nodes, strict=True)),
                              field.zero)
            identities.append((f"{label}: exact for tau^{m}, psi_{j} term", coefficient.as_expr(), 1 if j == m else 0))
    # First missed monomial τ^count: the residual h^count (ψ_count(c h) − Σ_i w_i u_i^count) is O(h^{count+1}).
    # ψ_j are entire: with their Taylor polynomials (from the closed forms) the low powers of h are exact.
    c = 1 + RHO**2
    psis = [ring.from_expr(multistep.psi_series(j, count + 2).subs(Z, c * H)) for j in range(count + 1)]
    weights = [sum((psis[j] * coef for j, coef in enumerate(row)), ring.zero) for row in lagrange]
    interpolated = sum((w * p**count for w, p in zip(weights, nodes, strict=True)), ring.zero)
    residual = ring.from_expr(H**count) * (psis[count] - interpolated)
    h = ring.gens[0]
    for power in range(count + 1):
        identities.append((f"{label}: residual on tau^{count} has no h^{power} term",
                           residual.coeff(h**power).as_expr(), 0))
    leading = residual.coeff(h ** (count + 1)) - field.from_expr(c * _leading_constant(points))
    identities.append((f"{label}: its h^{count + 1} term is c times the integral of the node polynomial",
                       leading.as_expr(), 0))
    return identities


def _leading_constant(points: list[sp.Expr]) -> sp.Expr:
    """∫₀^1 Π_i (u − u_i) du: τ^n minus its interpolant is the node polynomial (n = number of nodes)."""
    u = multistep.U
    return sp.integrate(sp.expand(sp.prod([u - p for p in points])), (u, 0, 1))


@claim_check("B6", "symbolic", "k-node step exact for x̂₀ of degree < k in λ, local error O(h^{k+1})", concrete=False)
def check_b6(schedule: Schedule, level: str) -> Outcome:
    identities = []
    for order in (1, 2, 3, 4):
        identities += _exactness_identities(order, corrector=False)
    for order in (1, 2, 3):
        identities += _exactness_identities(order, corrector=True)
    return prove_identities(identities, schedule, RANGES, level)


# ---------------------------------------------------------------------- numeric: tables and orders
MULTISTEP = tuple(name for name, solver in SOLVERS.items() if isinstance(solver, Multistep))


MP_DIGITS = 60
"""Working digits of the reference weights: on the 4000-step grid (z ~ 1e-3) the closed forms cancel about
3 digits per power of z in ψ_j, so 60 working digits leave more than 30 (the check needs 1e-11)."""


@functools.lru_cache(maxsize=32)
def _symbolic_weights(order: int, corrector: bool, midpoint: bool) -> tuple[sp.Expr, ...]:
    """The B5 weights in z and the ratios (derived once per shape: the Lagrange algebra is the slow part)."""
    return tuple(multistep.weights(multistep.nodes(order, corrector=corrector), midpoint=midpoint))


@functools.lru_cache(maxsize=32)
def _mp_weight_function(order: int, corrector: bool, midpoint: bool):
    """The symbolic weights compiled for mpmath (arbitrary precision), as a function of z and the ratios."""
    return symbolic_memo.lambdify([Z, *multistep.ratio_symbols(order - 1)],
                                  list(_symbolic_weights(order, corrector, midpoint)), "mpmath")


def _mp_weights(order: int, z: float, ratios: list[float], corrector: bool, midpoint: bool) -> list[mpmath.mpf]:
    """The symbolic weights at one (z, r), evaluated with :data:`MP_DIGITS` working digits (exact float inputs)."""
    function = _mp_weight_function(order, corrector, midpoint)
    with mpmath.workdps(MP_DIGITS):
        return list(function(mpmath.mpf(z), *(mpmath.mpf(v) for v in ratios[:order - 1])))


@claim_check("B5", "numeric", "solver tables (every multistep entry) equal α_s × the symbolic weights", general=False)
def check_b5_tables(schedule: Schedule, level: str) -> Outcome:
    rng = np.random.default_rng(55)
    num = compile_schedule(schedule, "numpy")
    worst = 0.0
    count = 0
    for kind, n in (("uniform-lambda", 12), ("karras", 9), ("uniform-lambda", 4000)):
        grid = time_grid(schedule, n, kind)
        times = grid.numpy()
        lam = num.log_snr(times)
        h = 0.5 * (lam[1:] - lam[:-1])
        rows = rng.choice(len(h), size=min(len(h), 5 if level == "quick" else 12), replace=False)
        for name in MULTISTEP:
            solver = SOLVERS[name]
            rho = 0.0 if name.endswith("midpoint") else 0.7
            table = solver.coefficients(schedule, times, rho, 0.0)
            lay = solver.layout
            for row in rows.tolist():
                order = min(solver.k, row + 1)
                if order == 1:
                    continue  # the one-node weight is B3's coefficient, checked under B3
                ratios = [h[row - i] / h[row] for i in range(1, order)]
                z = (1 + rho**2) * h[row]
                alpha_s = float(num.alpha(times[row + 1]))
                expected = [alpha_s * float(v) for v in _mp_weights(order, z, ratios, False, solver.midpoint)]
                got = table[row, lay.b.start: lay.b.start + order]
                scale = max(abs(v) for v in expected)
                worst = max(worst, max(abs(g - e) for g, e in zip(got, expected, strict=True)) / scale)
                count += 1
                if lay.corrector and table[row, lay.flag]:
                    expected = [alpha_s * float(v) for v in _mp_weights(order, z, ratios, True, False)]
                    got = table[row, lay.corrector_b.start: lay.corrector_b.start + order + 1]
                    scale = max(abs(v) for v in expected)
                    worst = max(worst, max(abs(g - e) for g, e in zip(got, expected, strict=True)) / scale)
                    count += 1
    tolerance = 1e-11
    return Outcome(worst <= tolerance, "numeric", worst,
                   f"{count} table rows of {', '.join(MULTISTEP)} on uniform-lambda/karras grids (4000-step grid "
                   f"for small h) vs the symbolic weights in {MP_DIGITS}-digit mpmath, relative tolerance "
                   f"{tolerance:g}", tolerance=tolerance)


def _oracle(mixture: GaussianMixture, schedule: Schedule):
    return lambda x, t: mixture.x0_hat(x, t, schedule)


LOCAL_COUNTS = (128, 256, 512, 1024)
"""Step counts of the local (one-step) error fits, at every level: only a few steps of each are taken."""
REFERENCE_STEPS = 4096
"""The fine uniform-λ grid that refines every local grid (stride REFERENCE_STEPS / n)."""
SAMPLES = 64
WARM_UP = 16
"""Fine steps solved before the first state a local fit reads: the reference solver's own start-up steps
(lower order) stay outside the stretch the local errors are measured on."""


@functools.lru_cache(maxsize=4)
def _fine_grid(schedule: Schedule) -> torch.Tensor:
    # Every local fit slices this grid (its t(λ) inversion is the costly part of building it).
    return time_grid(schedule, REFERENCE_STEPS, "uniform-lambda")


@functools.lru_cache(maxsize=4)
def reference_path(schedule: Schedule) -> dict[int, torch.Tensor]:
    """States (by fine-grid index) of a fine ms3-pc solve over the stretch of the grid the local fits read.

    The local fits read the path at mid-grid: from k − 1 coarse steps before the middle (k ≤ 4 nodes) to
    one coarse step after it. Only that stretch (plus :data:`WARM_UP`) is solved, from SAMPLES exact draws
    of p_t at its start: a local error needs states on one exact trajectory, not where it came from.
    """
    mixture = mixture_2d()
    grid = _fine_grid(schedule)
    middle, widest = REFERENCE_STEPS // 2, REFERENCE_STEPS // min(LOCAL_COUNTS)
    first = middle - (max(SOLVERS[name].k for name in MULTISTEP) - 1) * widest - WARM_UP
    last = middle + widest
    start = torch.as_tensor(mixture.marginal(float(grid[first]), schedule).sample(SAMPLES, np.random.default_rng(9)),
                            dtype=torch.float64)
    path: dict[int, torch.Tensor] = {first: start}

    def keep(info: dict) -> None:
        path[first + info["step"] + 1] = info["x"]

    sample(_oracle(mixture, schedule), start.clone(), schedule, grid[first:last + 1], method="ms3-pc", callback=keep,
           denoise_final=False)
    return path


def local_errors(schedule: Schedule, name: str, counts=LOCAL_COUNTS) -> list[float]:
    """One-step errors of solver ``name`` at the middle of uniform-λ grids of ``counts`` steps.

    The history (and the start of the step) comes from the fine reference path, on a grid that
    refines every coarse one, so only the step's own (local) error is measured; for a corrector
    solver the corrected step is measured, its end evaluation taken at the predictor.
    """
    denoiser = _oracle(mixture_2d(), schedule)
    path = reference_path(schedule)
    grid = _fine_grid(schedule)
    solver = SOLVERS[name]
    lay = solver.layout
    errors = []
    for n in counts:
        stride = REFERENCE_STEPS // n
        coarse = grid[::stride]
        row = n // 2
        # The step's coefficients from the grid around it: a row of the table depends only on its own step and
        # the k − 1 before it, and on not being the grid's last step (which is never corrected).
        first = row - (solver.k - 1)
        coefficients = solver.coefficients(schedule, coarse[first: row + 3].numpy(), 0.0, 0.0)[row - first]
        history = [denoiser(path[(row - i) * stride], coarse[row - i].expand(SAMPLES)) for i in range(solver.k)]
        x = path[row * stride]
        predicted = coefficients[lay.a] * x + sum(w * d for w, d in zip(coefficients[lay.b], history, strict=True))
        if solver.full_corrector:
            end = denoiser(predicted, coarse[row + 1].expand(SAMPLES))
            predicted = coefficients[lay.corrector_a] * x + sum(
                w * d for w, d in zip(coefficients[lay.corrector_b], [end, *history], strict=True))
        errors.append(float((predicted - path[(row + 1) * stride]).norm(dim=1).mean()))
    return errors


def _local_order(solver: Multistep) -> int:
    return (2 if solver.midpoint else solver.k + (1 if solver.full_corrector else 0)) + 1


GLOBAL_RUNS = (("ms2", 2, (16, 32, 64), (32, 64, 128, 256)),
               ("ms2-midpoint", 2, (16, 32, 64), (32, 64, 128, 256)),
               ("ms3", 3, (32, 64, 128), (64, 128, 256, 512)),
               ("ms2-pc", 3, (64, 128), (64, 128, 256, 512)))
"""(solver, global order, step counts at the quick level, at the full level) fitted two-sided; ms4 and ms3-pc
see the note in check_m4_multistep. The quick counts are the cheapest doubling runs that are asymptotic on
every built-in (fits within 0.15 of the order, ms3 within 0.25: its fitted order sits at 3.1–3.25 at any n);
ms2-pc is pre-asymptotic below 64 (2.5–2.9 at 32–64) and fits 2.89–3.04 on the pair 64, 128 (256 evaluations
fewer than 64–256, which fits 2.96–3.05)."""


class _BasisNoise(NoiseSource):
    """Unit noise on sample 2 + k at step k, zero elsewhere: the scheme's response to each ξ_k."""

    def __init__(self):
        super().__init__(0)

    def normal(self, batch_shape, step, stream=0, *, sample_ids=None, dtype=torch.float32, device=None):
        out = torch.zeros(batch_shape, dtype=dtype, device=device)
        if step + 2 < batch_shape[0]:
            out[step + 2] = 1.0
        return out


def scheme_moments(schedule: Schedule, name: str, rho: float, n: int, mean: float = 0.7,
                   var: float = 0.05) -> tuple[float, float, float, float]:
    """(mean, variance) of solver ``name``'s output at t_min and of the true p_{t_min}, for Gaussian data N(mean, var).

    With Gaussian data x̂₀ is affine in x, so every solver is an affine map of (x_T, ξ_0 … ξ_{n−1});
    running the engine on the mean of p_T, on that mean + 1 and with one unit noise at a time
    gives that map, hence the output's exact mean and variance (no sampling error).
    """
    grid = ode_grid(schedule, n)
    num = compile_schedule(schedule, "numpy")
    t_hi, t_lo = float(grid[0]), float(grid[-1])
    mean_hi = float(num.alpha(t_hi)) * mean
    var_hi = float(num.alpha(t_hi)) ** 2 * var + float(num.sigma(t_hi)) ** 2
    x = torch.full((n + 2, 1), mean_hi, dtype=torch.float64)
    x[1, 0] += 1.0
    gaussian = GaussianMixture([1.0], [[mean]], [[var]])
    out = sample(grid_oracle(gaussian, schedule, grid), x, schedule, grid, method=name, rho=rho,
                 generator=_BasisNoise(), denoise_final=False).samples[:, 0]
    gain, responses = out[1] - out[0], out[2:] - out[0]
    want_mean = float(num.alpha(t_lo)) * mean
    want_var = float(num.alpha(t_lo)) ** 2 * var + float(num.sigma(t_lo)) ** 2
    return float(out[0]), float(gain**2 * var_hi + (responses**2).sum()), want_mean, want_var


def weak_error(schedule: Schedule, name: str, rho: float, n: int) -> float:
    """|E x − m| + |Var x − v| at t_min for Gaussian data (see :func:`scheme_moments`)."""
    got_mean, got_var, want_mean, want_var = scheme_moments(schedule, name, rho, n)
    return abs(got_mean - want_mean) + abs(got_var - want_var)


WEAK_RUNS = (("ms2", (16, 32), (64, 128, 256, 512)), ("ms3", (64, 128), (64, 128, 256, 512)))
"""(solver, step counts at the quick level, at the full level) whose weak order at ρ = 1 is measured against the
one they declare (``Solver.weak_order``). On every built-in ms2 fits 1.91–2.10 at 16–32 (2.00–2.09 at 16–64);
ms3's weak error is pre-asymptotic below n = 64 (slopes 2.4–3.6) and fits 2.09–2.21 on the pair 64, 128
(2.06–2.13 on 64–256, at 256 evaluations more)."""

_LEVEL = {"quick": 0, "full": 1}


@claim_check("M4", "numeric", "multistep orders: local h^{k+1} on the oracle; global ODE orders; weak order at ρ = 1",
             general=False)
def check_m4_multistep(schedule: Schedule, level: str) -> Outcome:
    found, expected = {}, {}
    counts = list(LOCAL_COUNTS)
    for name in MULTISTEP:
        solver = SOLVERS[name]
        found[f"local {name}"] = fitted_order(counts, local_errors(schedule, name, counts)) - 1.0
        expected[f"local {name}"] = _local_order(solver) - 1.0  # error per step h^{p+1}: report p
    # The ODE reference is the one check_m4_orders fits the one-step solvers against (one solve per process).
    _, reference = ode_reference(schedule, level)
    which = _LEVEL[level]
    solved = ode_solves(schedule, level, {name: steps[which] for name, _, *steps in GLOBAL_RUNS})
    used = {}
    for name, order, *steps in GLOBAL_RUNS:
        n_list = list(steps[which])
        errors = [float((solved[name, n] - reference).norm(dim=1).mean()) for n in n_list]
        found[f"global {name}"], expected[f"global {name}"] = fitted_order(n_list, errors), float(order)
        used[f"global {name}"] = n_list
    for name, *steps in WEAK_RUNS:
        order = SOLVERS[name].weak_order
        n_list = list(steps[which])
        errors = [weak_error(schedule, name, 1.0, n) for n in n_list]
        found[f"weak rho=1 {name}"], expected[f"weak rho=1 {name}"] = fitted_order(n_list, errors), float(order)
        used[f"weak rho=1 {name}"] = n_list
    deviation = max(abs(found[k] - expected[k]) for k in found)
    detail = ", ".join(f"{k} {found[k]:.2f} ({expected[k]:g}" + (f", n = {used[k]})" if k in used else ")")
                       for k in found)
    points, steps = ODE_REFERENCE[level]
    return Outcome(deviation <= ORDER_TOLERANCE, "numeric", deviation,
                   detail + f"; local: one step at mid-grid, n = {counts}, history from a fine ms3-pc path "
                   f"({REFERENCE_STEPS}-step grid); global: {points} points against {REFERENCE_SOLVER} at {steps} "
                   f"steps; residual max |fitted - theoretical order| against a fixed {ORDER_TOLERANCE} "
                   "(a fit, not a hypothesis test)", tolerance=ORDER_TOLERANCE)
