"""The figures' numbers (which the notebooks assert on) pass on the library and fail when a
formula is injected wrong (a forward kernel with the wrong variance, a B3 step with the wrong
noise); the convergence orders read off the error-vs-NFE study are the expected ones."""

from __future__ import annotations

import numpy as np
import pytest

from s2n_theory import backward, figures
from s2n_theory.builtin_schedules import builtin_names
from s2n_theory.numeric_schedule import compile_schedule
from s2n_theory.schedule_spec import get_schedule


@pytest.fixture(autouse=True)
def _fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S2N_FAST", "1")


def test_schedule_curves_are_consistent_for_every_builtin() -> None:
    for name in builtin_names():
        c = figures.schedule_curves(name, points=50)
        assert np.allclose(c["log_snr"], np.log(c["alpha"] ** 2 / c["sigma"] ** 2), rtol=1e-8, atol=1e-8)
        # g² = −σ²λ′: compare with finite differences of λ on the same grid.
        dlam = np.gradient(c["log_snr"], c["t"])
        inner = slice(5, -5)
        assert np.allclose(c["g2"][inner], -(c["sigma"] ** 2 * dlam)[inner], rtol=2e-2), name


def test_forward_histogram_detects_a_wrong_transition_variance(monkeypatch: pytest.MonkeyPatch) -> None:
    sched = get_schedule("vp-linear")
    _, good = figures.forward_histogram_figure(schedule=sched, n=3000)
    assert np.all(good["ks_pvalues"] > 1e-3)
    # compile_schedule hands out the functions of one generated module per schedule: break it there.
    module = compile_schedule(sched, "numpy").module
    right = module.sigma2_ts
    monkeypatch.setattr(module, "sigma2_ts", lambda t, s: 2.0 * right(t, s))
    _, bad = figures.forward_histogram_figure(schedule=sched, n=3000)
    assert bad["ks_pvalues"][0] > 1e-3  # t_min is the data itself, untouched
    assert np.all(bad["ks_pvalues"][1:] < 1e-6)


def test_rho_trajectories_detect_a_wrong_b3_noise(monkeypatch: pytest.MonkeyPatch) -> None:
    right = backward.parametric_step_coefficients

    def wrong(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        c_x, c_theta, c_noise = right(*args, **kwargs)
        return c_x, c_theta, 1.6 * c_noise

    monkeypatch.setattr(backward, "parametric_step_coefficients", wrong)
    # A fresh schedule object: the engine caches compiled coefficients per schedule.
    _, bad = figures.rho_trajectories_figure(schedule=get_schedule("vp-linear"), rhos=(0.0, 1.0), steps=40, n=1000)
    assert bad["ks_pvalues"][0.0] > 1e-3  # ρ = 0 has no noise term
    assert bad["ks_pvalues"][1.0] < 1e-6


def test_error_vs_nfe_heun_converges_faster_than_euler() -> None:
    rows = figures.error_vs_nfe(methods=("euler", "heun"), nfes=(4, 8, 16, 32), n=128, reference_steps=128)
    assert figures.convergence_order(rows, "heun") < figures.convergence_order(rows, "euler") < -0.8
    flat = [dict(r, error=0.3) for r in rows]
    assert abs(figures.convergence_order(flat, "euler")) < 1e-12
