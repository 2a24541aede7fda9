"""F3's numeric row: the transition variance against quadrature of its integral form, at both levels."""

from __future__ import annotations

import dataclasses

import pytest

from s2n_theory import forward
from s2n_theory.numeric_schedule import compile_schedule
from s2n_theory.schedule_spec import get_schedule
from s2n_theory.verification import forward_checks

VDM = get_schedule("vdm")


@pytest.mark.parametrize("name", ["vdm", "sub-vp"])
def test_f3_quadrature_passes_at_quick(name) -> None:
    outcome = forward_checks.check_f3_quadrature(get_schedule(name), "quick")
    assert outcome.passed and outcome.method == "numeric", outcome.detail


def test_f3_quadrature_fails_with_a_wrong_integrand(monkeypatch) -> None:
    # A kernel off by a factor 1 + 1e-6 (far below what a plot shows, far above the 1e-10 tolerance).
    original = forward.transition_variance_integrand
    monkeypatch.setattr(forward, "transition_variance_integrand", lambda s, u: original(s, u) * (1 + 1e-6))
    assert not forward_checks.check_f3_quadrature(VDM, "quick").passed


def test_f3_quadrature_fails_when_the_compiled_variance_is_wrong(monkeypatch) -> None:
    # The other side: the compiled σ²_{t|s} the row compares with, off by 1e-8 relative.
    num = compile_schedule(VDM, "numpy")
    wrong = dataclasses.replace(num, sigma2_ts=lambda t, s: num.sigma2_ts(t, s) * (1 + 1e-8))
    monkeypatch.setattr(forward_checks, "compile_schedule", lambda schedule, backend="numpy": wrong)
    assert not forward_checks.check_f3_quadrature(VDM, "quick").passed


@pytest.mark.slow
def test_f3_quadrature_full_level_agrees() -> None:
    assert forward_checks.check_f3_quadrature(VDM, "full").passed
