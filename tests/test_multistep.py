"""B5/B6 multistep solvers: the registry, the weights, the claims, and checks that fail on wrong weights."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
import sympy as sp
import torch
from scipy import integrate

from s2n_theory import multistep
from s2n_theory.errors import S2NError
from s2n_theory.numeric_schedule import compile_schedule
from s2n_theory.sampling import SOLVERS, NoiseSource, sample, time_grid
from s2n_theory.sampling.solvers import Multistep
from s2n_theory.schedule_spec import get_schedule
from s2n_theory.verification import multistep_checks as mc
from s2n_theory.verification.prove import prove_identities

SCHED = get_schedule("vp-cosine")
NUM = compile_schedule(SCHED, "numpy")


def test_registry_declares_every_solver():
    assert {"exact", "euler", "heun", "ms2", "ms3", "ms4", "ms2-pc", "ms3-pc", "ms2-midpoint"} <= set(SOLVERS)
    for name, solver in SOLVERS.items():
        assert solver.name == name and solver.order >= 1 and solver.supported_rho
        assert solver.nfe(10) >= 10 and solver.steps_for_nfe(solver.nfe(7)) == 7
    assert SOLVERS["heun"].rho_zero_only and SOLVERS["heun"].nfe(10) == 19
    assert SOLVERS["ms2-pc"].nfe(10) == 10 and SOLVERS["ms3-pc"].order == 4


@pytest.mark.parametrize("j", [0, 1, 2, 3, 4])
def test_psi_values_match_quadrature_from_tiny_to_large_z(j):
    z = np.array([1e-10, 1e-3, 0.49, 0.51, j + 1e-3, 2.5, 60.0, 900.0])
    got = multistep.psi_values(j, z)
    with mpmath.workdps(20):
        want = [float(mpmath.quad(lambda u, z=z_: z * mpmath.exp(-z * (1 - u)) * u**j, [0, 1])) for z_ in z]
    np.testing.assert_allclose(got, want, rtol=4e-16 * 8, atol=0)


@pytest.mark.parametrize("order", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("corrector", [False, True])
def test_numeric_lagrange_table_equals_the_sympy_table(order, corrector):
    # Exact rational ratios: SymPy's table is then exact, the numeric one must agree to round-off.
    rng = np.random.default_rng(order + 10 * corrector)
    ratios = [sp.Rational(int(v), 64) for v in rng.integers(8, 400, size=(6, max(order - 1, 1))).ravel()]
    ratios = np.array(ratios, dtype=object).reshape(6, -1)
    got = multistep.lagrange_table(multistep.node_points(order, ratios.astype(np.float64), corrector))
    for row, want_ratios in zip(got, ratios, strict=True):
        want = np.array(multistep.lagrange_coefficients(multistep.nodes(order, list(want_ratios), corrector)),
                        dtype=np.float64)
        np.testing.assert_allclose(row, want, rtol=1e-13, atol=1e-13 * np.abs(want).max())
        # and each basis polynomial is 1 at its own node, 0 at the others
        points = np.array(multistep.nodes(order, list(want_ratios), corrector), dtype=np.float64)
        np.testing.assert_allclose(row @ np.vander(points, increasing=True).T, np.eye(len(points)), atol=1e-12)


def test_psi_series_coefficients_are_the_series_polynomial():
    for j in (0, 3):
        poly = multistep.psi_series(j, 6)
        assert [poly.coeff(multistep.Z, m + 1) for m in range(6)] == list(multistep.psi_series_coefficients(j, 6))


@pytest.mark.parametrize("method", [name for name, solver in SOLVERS.items() if isinstance(solver, Multistep)])
def test_a_table_row_depends_only_on_the_grid_around_its_step(method):
    """local_errors reads one row from the table of a short stretch of grid (its k − 1 steps before, two after):
    the same numbers as the row of the whole grid's table."""
    schedule = get_schedule("vp-cosine")
    solver = SOLVERS[method]
    grid = time_grid(schedule, 256, "uniform-lambda").numpy()
    full = solver.coefficients(schedule, grid, 0.7, 0.0)
    for row in (solver.k - 1, 128, 253):
        first = row - (solver.k - 1)
        part = solver.coefficients(schedule, grid[first: row + 3], 0.7, 0.0)
        np.testing.assert_allclose(part[row - first], full[row], rtol=1e-14, atol=0.0)


def test_first_multistep_step_is_the_exact_step():
    grid = time_grid(SCHED, 1, "uniform-lambda")
    x = torch.randn(4, 3, dtype=torch.float64)
    a = sample(lambda y, t: 0.3 * y, x, SCHED, grid, method="ms3", rho=0.7, generator=2, denoise_final=False)
    b = sample(lambda y, t: 0.3 * y, x, SCHED, grid, method="exact", rho=0.7, generator=2, denoise_final=False)
    torch.testing.assert_close(a.samples, b.samples, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("method", ["ms3", "ms3-pc", "ms2-pc", "ms4"])
def test_exact_for_a_denoiser_linear_in_log_snr(method):
    # x̂₀(t) = p(λ(t)) with p linear: every step with two or more nodes integrates it exactly, and these
    # solvers correct their one-node first step with the end evaluation (exact here, since x̂₀ ignores x).
    # The exact answer is the variation-of-constants integral in λ, done here by quadrature.
    sched = get_schedule("vp-linear")
    num = compile_schedule(sched, "numpy")

    def p(lam):
        return 0.4 - 0.05 * lam

    def denoiser(y, t):
        return p(torch.as_tensor(num.log_snr(t.numpy()), dtype=y.dtype))[:, None].expand_as(y)

    grid = time_grid(sched, 12, "karras")
    x = torch.randn(3, 2, dtype=torch.float64)
    out = sample(denoiser, x, sched, grid, method=method, denoise_final=False).samples
    t_hi, t_lo = float(grid[0]), float(grid[-1])
    lam_hi, lam_lo = float(num.log_snr(t_hi)), float(num.log_snr(t_lo))
    big_h = (lam_lo - lam_hi) / 2
    integral, _ = integrate.quad(lambda tau: np.exp(-(big_h - tau)) * p(lam_hi + 2 * tau), 0, big_h,
                                 epsabs=1e-14, epsrel=1e-13)
    exact = float(num.sigma(t_lo) / num.sigma(t_hi)) * x + float(num.alpha(t_lo)) * integral
    torch.testing.assert_close(out, exact, rtol=1e-10, atol=1e-11)
    if method == "ms3":  # ms2 (plain first-order warm-up) is not exact for it: the test can tell
        ms2 = sample(denoiser, x, sched, grid, method="ms2", denoise_final=False).samples
        assert float((ms2 - exact).abs().max()) > 1e-8  # 1000x the tolerance above


def test_corrector_costs_no_extra_nfe_and_noise_is_per_sample():
    grid = time_grid(SCHED, 10, "uniform-lambda")
    x = torch.randn(30, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    big = sample(lambda y, t: 0.2 * torch.tanh(y), x, SCHED, grid, method="ms3-pc", rho=1.0, generator=7)
    small = sample(lambda y, t: 0.2 * torch.tanh(y), x[:5], SCHED, grid, method="ms3-pc", rho=1.0, generator=7)
    assert big.nfe == 11
    torch.testing.assert_close(big.samples[:5], small.samples, rtol=0, atol=0)


def test_rho_function_of_t_and_float32():
    grid = time_grid(SCHED, 8, "karras")
    x = torch.randn(5, 2, dtype=torch.float64)
    const = sample(lambda y, t: 0.1 * y, x, SCHED, grid, method="ms3", rho=0.6, generator=1).samples
    func = sample(lambda y, t: 0.1 * y, x, SCHED, grid, method="ms3", rho=lambda t: 0.6 + 0 * t, generator=1).samples
    torch.testing.assert_close(const, func)
    out = sample(lambda y, t: 0.1 * y, x.float(), SCHED, grid, method="ms4", rho=0.6, generator=1).samples
    assert out.dtype == torch.float32 and torch.isfinite(out).all()


def test_gamma_applies_to_every_evaluation():
    # B4 with γ: the multistep history holds x̂₀_γ = (1 + γ) x_θ − γ x/α_t of each evaluation.
    grid = time_grid(SCHED, 5, "uniform-lambda")
    x = torch.randn(4, 2, dtype=torch.float64)
    gamma = 0.3

    def model(y, t):
        return 0.5 * torch.tanh(y)

    def by_hand(y, t):
        alpha = torch.as_tensor(NUM.alpha(t.numpy()), dtype=y.dtype)[:, None]
        return (1 + gamma) * model(y, t) - gamma * y / alpha

    a = sample(model, x, SCHED, grid, method="ms3-pc", gamma=gamma, denoise_final=False).samples
    b = sample(by_hand, x, SCHED, grid, method="ms3-pc", denoise_final=False).samples
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-13)


def test_unknown_method_names_the_registry():
    with pytest.raises(S2NError, match="unknown method.*ms3-pc"):
        sample(lambda y, t: y, torch.zeros(2, 2), SCHED, time_grid(SCHED, 4), method="dpm++")


# ----------------------------------------------------------------------------- the claims
@pytest.mark.slow
def test_b5_b6_are_symbolic_on_the_general_schedule():
    general = get_schedule("general")
    for check in (mc.check_b5, mc.check_b6):
        outcome = check(general, "quick")
        assert outcome.passed and outcome.method == "symbolic", outcome.detail


@pytest.mark.slow
def test_b6_fails_when_one_lagrange_coefficient_is_wrong(monkeypatch, short_budget):
    original = multistep.lagrange_coefficients

    def wrong(points):
        rows = original(points)
        if len(points) == 3:
            rows[1][1] = rows[1][1] * sp.Rational(101, 100)
        return rows

    monkeypatch.setattr(multistep, "lagrange_coefficients", wrong)
    outcome = mc.check_b6(get_schedule("general"), "quick")
    assert not outcome.passed and "3 nodes" in outcome.detail


def test_b5_moment_identities_fail_when_a_moment_is_wrong(monkeypatch, short_budget):
    original = multistep.moment

    def wrong(j, rho=multistep.RHO):
        return original(j, rho) * (1 + multistep.H / 50) if j == 2 else original(j, rho)

    monkeypatch.setattr(multistep, "moment", wrong)
    outcome = prove_identities(mc.moment_identities(), get_schedule("general"), mc.RANGES)
    assert not outcome.passed and "M_2" in outcome.detail


def test_b5_special_cases_fail_with_the_midpoint_weights_swapped(monkeypatch, short_budget):
    # The exact-integral and midpoint weightings differ: the hand-written DPM-Solver++ forms tell them apart.
    original = multistep.weights
    monkeypatch.setattr(multistep, "weights", lambda points, midpoint=False: original(points, not midpoint))
    outcome = prove_identities(mc.special_case_identities(), get_schedule("general"), mc.RANGES)
    assert not outcome.passed and "rho = 0, 2 nodes" in outcome.detail and "midpoint, 2 nodes" in outcome.detail


@pytest.fixture
def perturbed_weight(monkeypatch):
    """Scale the weight of the previous evaluation by 1.01 in every multistep table."""
    original = Multistep.coefficients

    def wrong(self, *args, **kwargs):
        table = original(self, *args, **kwargs)
        table[:, self.layout.b.start + 1] *= 1.01
        return table

    monkeypatch.setattr(Multistep, "coefficients", wrong)
    # The fine paths are cached per process: none may be built with, or outlive, the perturbed tables.
    mc.reference_path.cache_clear()
    mc.ode_reference.cache_clear()
    yield
    mc.reference_path.cache_clear()
    mc.ode_reference.cache_clear()


@pytest.mark.slow
def test_table_check_fails_with_a_perturbed_weight(perturbed_weight):
    outcome = mc.check_b5_tables(get_schedule("vdm"), "quick")
    assert not outcome.passed


@pytest.mark.slow
def test_order_check_fails_with_a_perturbed_weight(perturbed_weight):
    outcome = mc.check_m4_multistep(get_schedule("vdm"), "quick")
    assert not outcome.passed and "local ms3" in outcome.detail


@pytest.mark.slow
def test_order_check_passes_on_vdm():
    outcome = mc.check_m4_multistep(get_schedule("vdm"), "quick")
    assert outcome.passed, outcome.detail


def test_scheme_moments_agree_with_monte_carlo():
    # The affine-response trick behind the weak-order check, against plain sampling of the same scheme.
    sched = get_schedule("vdm")
    n_steps, paths, mean, var = 6, 200_000, 0.7, 0.05
    got_mean, got_var, _, _ = mc.scheme_moments(sched, "ms2", 1.0, n_steps, mean, var)
    grid = time_grid(sched, n_steps, "uniform-lambda")
    t_hi = float(grid[0])
    std_hi = np.sqrt(float(NUM_VDM.alpha(t_hi)) ** 2 * var + float(NUM_VDM.sigma(t_hi)) ** 2)
    x = float(NUM_VDM.alpha(t_hi)) * mean + std_hi * NoiseSource(3).normal((paths, 1), step=0, dtype=torch.float64)
    gaussian = mc.GaussianMixture([1.0], [[mean]], [[var]])
    out = sample(lambda y, t: gaussian.x0_hat(y, t, sched), x, sched, grid, method="ms2", rho=1.0, generator=4,
                 denoise_final=False).samples[:, 0]
    assert abs(float(out.mean()) - got_mean) < 5 * np.sqrt(got_var / paths)
    assert abs(float(out.var()) - got_var) < 5 * got_var * np.sqrt(2 / paths)


NUM_VDM = compile_schedule(get_schedule("vdm"), "numpy")


def test_sweep_accepts_the_registry_solvers():
    from s2n_theory.sweep import SweepConfig, expand, steps_for_nfe

    assert steps_for_nfe("ms3-pc", 20, True) == (19, 20)
    assert steps_for_nfe("heun", 20, True) == (10, 20)
    cfg = SweepConfig(target="mixture:2d", methods=["ms3", "heun"], rho=[0.0, 1.0], nfe=[10]).validate()
    runs = expand(cfg)
    assert {(r["method"], r["rho"]) for r in runs} == {("ms3", 0.0), ("ms3", 1.0), ("heun", 0.0)}


def test_tuned_grid_is_reproducible_and_reports_its_own_error():
    from s2n_theory.sampling.tuning import tuned_grid
    from s2n_theory.verification.montecarlo_checks import mixture_2d

    sched = get_schedule("edm")
    mixture = mixture_2d()

    def denoiser(y, t):
        return mixture.x0_hat(y, t, sched)

    x = torch.as_tensor(mixture.marginal(sched.t_max, sched).sample(16, np.random.default_rng(0)))
    kwargs = {"exponents": (7.0,), "powers": (0.6, 1.0), "stops": (1.0, 10.0), "reference_steps": 64}
    first = tuned_grid(sched, 6, "ms3", denoiser, x, **kwargs)
    again = tuned_grid(sched, 6, "ms3", denoiser, x, **kwargs)
    assert torch.equal(first.grid, again.grid) and len(first.errors) == 6
    assert first.error == min(first.errors.values())
    reference = sample(denoiser, x.clone(), sched, time_grid(sched, 64, "uniform-lambda"), method="ms3-pc").samples
    out = sample(denoiser, x.clone(), sched, first.grid, method="ms3").samples
    assert float((out - reference).norm(dim=1).mean()) == pytest.approx(first.error, rel=1e-12)
    assert first.grid.shape == (7,) and torch.all(first.grid[1:] < first.grid[:-1])
