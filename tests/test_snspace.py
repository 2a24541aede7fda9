"""Signal-to-noise space (docs/theory.md, S1–S3): the map, Itô, trajectories, the loss,
and injected errors that the checks must catch."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
import torch

from s2n_theory import distributions, information, snspace
from s2n_theory.builtin_schedules import builtin_names
from s2n_theory.gaussian_mixture import GaussianMixture
from s2n_theory.numeric_schedule import compile_schedule
from s2n_theory.schedule_spec import get_schedule
from s2n_theory.verification import snspace_checks as checks


def _run(check, schedule="general", level="quick"):
    return check(get_schedule(schedule), level)


@pytest.mark.parametrize("name", builtin_names())
def test_map_round_trip_and_brownian_form(name):
    schedule = get_schedule(name)
    num = compile_schedule(schedule, "numpy")
    rng = np.random.default_rng(0)
    lo, hi = schedule.t_min, schedule.t_max
    t = lo + (hi - lo) * rng.uniform(0.05, 0.95, size=6)
    x0 = rng.standard_normal((6, 2))
    eps = rng.standard_normal((6, 2))
    x = num.alpha(t)[:, None] * x0 + num.sigma(t)[:, None] * eps
    u, y = snspace.to_sn(t, x, schedule)
    # y(u) = x0 + W(u): the SN state is the data plus noise of variance u = e^{-λ}.
    np.testing.assert_allclose(y, x0 + np.sqrt(u)[:, None] * eps, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(u, np.exp(-num.log_snr(t)), rtol=1e-14)
    t_back, x_back = snspace.from_sn(u, y, schedule)
    np.testing.assert_allclose(t_back, t, rtol=1e-9, atol=1e-12 * (hi - lo))
    np.testing.assert_allclose(x_back, x, rtol=1e-8, atol=1e-10)


def test_map_torch_keeps_dtype():
    schedule = get_schedule("vdm")
    x = torch.randn(5, 3, dtype=torch.float32)
    u, y = snspace.to_sn(torch.full((5,), 0.3), x, schedule)
    assert u.dtype == torch.float32 and y.dtype == torch.float32 and y.shape == x.shape
    t, x_back = snspace.from_sn(u.double(), y.double(), schedule)
    assert torch.allclose(t, torch.full((5,), 0.3, dtype=torch.float64), atol=1e-6)
    assert torch.allclose(x_back, x.double(), atol=1e-5)


def test_sn_coordinates_symbolic():
    schedule = get_schedule("general")
    u, y = snspace.sn_coordinates(schedule)
    assert sp.simplify(u - schedule.sigma**2 / schedule.alpha**2) == 0


def test_diffusion_loss_in_log_snr_gaussian_closed_form():
    v = 0.7
    loss = snspace.diffusion_loss_in_log_snr(-3.0, 5.0, lambda snr: v / (1 + snr * v))
    exact = 0.5 * (np.log1p(np.exp(5.0) * v) - np.log1p(np.exp(-3.0) * v))
    assert float(loss.value) == pytest.approx(exact, rel=1e-11)


def test_exact_denoiser_mse_matches_channel_mmse():
    # The schedule-based error of the oracle's x̂₀ at t equals the channel mmse at snr = e^{λ(t)}.
    weights, means, variances = checks.MIXTURE
    oracle = GaussianMixture(weights, means, variances)
    dist = distributions.Mixture1D(tuple(weights), tuple(m[0] for m in means), tuple(variances))
    schedule = get_schedule("edm")
    num = compile_schedule(schedule, "numpy")
    t = np.array([0.01, 0.3, 2.0, 40.0])
    np.testing.assert_allclose(snspace.exact_denoiser_mse(oracle, schedule)(t), information.mmse(dist, num.snr(t)),
                               rtol=1e-8)


def test_every_snspace_check_passes_on_fast_schedules():
    for check, schedule in [(checks.check_s1, "general"), (checks.check_s1, "vdm"), (checks.check_s2, "edm"),
                            (checks.check_s3, "general"), (checks.check_s3, "vdm"),
                            (checks.check_s3_quadrature, "vdm")]:
        outcome = _run(check, schedule)
        assert outcome.passed, (check.__name__, schedule, outcome)


def test_s1_injected_error_fails(monkeypatch):
    original = snspace.ito_from_sn
    monkeypatch.setattr(snspace, "ito_from_sn", lambda s: (original(s)[0], 2 * original(s)[1]))
    assert not _run(checks.check_s1).passed
    assert not _run(checks.check_s1, "vdm").passed


def test_s1_injected_error_in_the_inverse_direction_fails(monkeypatch):
    # Forgetting the chain-rule factor 1/α² in y's diffusion.
    original = snspace.ito_to_sn
    monkeypatch.setattr(snspace, "ito_to_sn", lambda s: (original(s)[0], original(s)[1] * s.alpha**2))
    assert not _run(checks.check_s1).passed


def test_s2_injected_error_fails(monkeypatch):
    from s2n_theory import backward

    original = backward.exact_step

    def wrong_step(x, x0_hat, t, s, schedule, **kw):
        # A step that depends on the time parametrisation, not only on λ.
        return original(x, x0_hat, t, s, schedule, **kw) + 1e-3 * (t - s) * x0_hat

    monkeypatch.setattr(backward, "exact_step", wrong_step)
    assert not _run(checks.check_s2, "edm").passed


def test_s2_trajectories_differ_for_different_lambda_grids():
    # The control: the same schedule with a shifted λ-grid gives a different y path, so agreement is not trivial.
    oracle = GaussianMixture(*checks.MIXTURE)
    schedule = get_schedule("vdm")
    y0 = np.random.default_rng(1).standard_normal((8, 1)) * 7
    a = snspace.sn_trajectory(schedule, checks.S2_GRID, oracle.denoiser(schedule), y0)
    b = snspace.sn_trajectory(schedule, checks.S2_GRID + 0.1, oracle.denoiser(schedule), y0)
    assert np.max(np.abs(a[-1] - b[-1])) > 1e-3


def test_s3_injected_errors_fail(monkeypatch, short_budget):
    monkeypatch.setattr(snspace, "loss_integrand_t", lambda s, mmse=snspace.MMSE: -s.dlog_snr * sp.exp(
        s.log_snr) * mmse(sp.exp(s.log_snr)))
    assert not _run(checks.check_s3).passed
    assert not _run(checks.check_s3, "vdm").passed
    original = snspace.exact_denoiser_mse

    def wrong_mse(mixture, schedule, **kw):
        mse = original(mixture, schedule, **kw)
        return lambda t: mse(t) * (1 + 0.01 * t)  # depends on t, not only on λ(t)

    monkeypatch.setattr(snspace, "exact_denoiser_mse", wrong_mse)
    assert not _run(checks.check_s3_quadrature, "vdm").passed


def test_closed_form_references_match_the_compiled_schedules():
    # The plain compilation with a hand-given inverse (S2, S3 references) against the full codegen path,
    # which solves for t(λ) itself and selects its forms.
    sub_vp = get_schedule("sub-vp")
    for plain, full in [(checks.reference_numeric(sub_vp), checks.reference_schedule(sub_vp)),
                        (snspace.sn_clock_numeric(-4.5, 8.5), snspace.sn_clock_schedule(-4.5, 8.5))]:
        num = compile_schedule(full, "numpy")
        t = np.linspace(full.t_min, full.t_max, 41)[1:-1]
        lam = num.log_snr(t)
        for name in ("alpha", "sigma", "log_snr", "dlog_snr", "f", "g2"):
            np.testing.assert_allclose(getattr(plain, name)(t), getattr(num, name)(t), rtol=1e-11, err_msg=name)
        np.testing.assert_allclose(plain.sigma2_ts(t[20:], t[:19]), num.sigma2_ts(t[20:], t[:19]), rtol=1e-11)
        np.testing.assert_allclose(plain.t_of_log_snr(lam), t, rtol=1e-11)


def test_closed_form_numeric_rejects_a_wrong_inverse():
    with pytest.raises(ValueError, match="not the inverse"):
        snspace.closed_form_numeric(snspace.sn_clock_schedule(-4.0, 8.0), sp.exp(-2 * snspace.LAMBDA))
