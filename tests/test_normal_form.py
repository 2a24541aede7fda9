"""The rational normal form used before prove_identities: proves true identities, never false ones."""

from __future__ import annotations

import sympy as sp

from s2n_theory import forward
from s2n_theory.schedule_spec import get_schedule
from s2n_theory.symbols import S, T
from s2n_theory.verification import forward_checks
from s2n_theory.verification.normal_form import rational_normal_form


def test_proves_sigma_relation_on_concrete_schedules() -> None:
    for name in ("vp-linear", "sub-vp", "vdm", "rectified-flow"):
        sch = get_schedule(name)
        residual = sch.sigma**2 - sch.alpha**2 * sp.exp(-sch.log_snr)
        assert rational_normal_form(residual, sch.domain) == 0, name


def test_splits_exponentials_of_two_times() -> None:
    sch = get_schedule("vp-linear")
    lam_t, lam_s = sch.log_snr, sch.at(sch.log_snr, S)
    residual = sp.exp((lam_t - lam_s) / 2) - sp.exp(lam_t / 2) * sp.exp(-lam_s / 2)
    assert rational_normal_form(residual, sch.domain) == 0


def test_does_not_prove_false_identities() -> None:
    sch = get_schedule("sub-vp")
    wrong = [
        sch.sigma**2 - sch.alpha**2 * sp.exp(-sch.log_snr) * (1 + sp.Rational(1, 10**6)),
        sp.exp(T) - sp.exp(T / 2) ** 2 + T * sp.exp(-T) * 10**-9,
        forward.diffusion_squared(sch) - sch.sigma**2 * sp.diff(sch.log_snr, T),  # sign error: g² = −σ² λ′
    ]
    for residual in wrong:
        assert rational_normal_form(residual, sch.domain) != 0


def test_absolute_values_are_resolved_only_without_zeros() -> None:
    domain = (0.001, 0.999)
    assert rational_normal_form(sp.Abs(sp.tan(sp.pi * T / 2)) - sp.tan(sp.pi * T / 2), domain) == 0
    assert rational_normal_form(sp.Abs(sp.cos(sp.pi * T)) - sp.cos(sp.pi * T), domain) != 0  # changes sign at 1/2
    assert rational_normal_form(sp.Abs(T - 2) + T - 2, domain) == 0  # negative on the whole domain


def test_exponentials_of_sums_are_split_per_term_so_related_ones_share_generators() -> None:
    # Sub-VP's α = e^{−B/2} with B = 199t²/20 + t/10 and σ = 1 − e^{−B}: the Fokker–Planck residual of
    # q(x_t|x_0) holds exponentials of different combinations of t² and t, and |σ| with its sign.
    sch = get_schedule("sub-vp")
    density = forward.gaussian_density(forward.X, sch.alpha * forward.X0, sch.sigma**2)
    _, lhs, rhs = forward_checks._fokker_planck_identity("F1", density, sch)
    assert rational_normal_form(lhs - rhs, sch.domain) == 0
    wrong_g2 = rhs.subs(sp.exp(-sch.log_snr), 1.001 * sp.exp(-sch.log_snr))
    assert rational_normal_form(lhs - wrong_g2, sch.domain) != 0


def test_signs_are_resolved_only_without_zeros() -> None:
    u = sp.exp(-T) - 1
    assert rational_normal_form(sp.sign(u) + 1, (0.001, 1.0)) == 0  # u < 0 for t > 0
    assert rational_normal_form(sp.sign(u) + 1, (0.0, 1.0)) != 0  # u = 0 at t = 0: left alone
