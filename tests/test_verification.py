"""The claim registry and the F1-F5 checks: they pass on true statements and fail on wrong ones."""

import json

import pytest
import sympy as sp

from s2n_theory import forward
from s2n_theory.errors import S2NError
from s2n_theory.schedule_spec import get_schedule
from s2n_theory.verification import prove, registry, suite

FORWARD = ["F1", "F2", "F3", "F4", "F5"]
QUICK_SCHEDULES = ["general", "edm", "vdm"]


def _by(results):
    out = {}
    for r in results:
        out.setdefault((r.claim, r.schedule), []).append(r)
    return out


def test_forward_claims_pass_and_are_symbolic_where_the_sheet_says():
    results = suite.run(FORWARD, QUICK_SCHEDULES)
    assert registry.summarize(results)["fail"] == 0
    assert registry.summarize(results)["error"] == 0
    general = [r for r in results if r.schedule == "general" and r.status != "skip"]
    assert {r.claim for r in general} == set(FORWARD)
    assert all(r.method == "symbolic" for r in general)
    numeric_f5 = [r for r in results if r.claim == "F5" and r.method == "numeric" and r.schedule != "general"]
    assert numeric_f5 and all(r.status == "pass" for r in numeric_f5)


def test_every_forward_claim_registered_with_general_schedule():
    checks = suite.load_checks()
    for claim in FORWARD:
        assert any(c.claim == claim and c.general for c in checks)


@pytest.fixture
def doubled_g2(monkeypatch):
    original = forward.diffusion_squared
    monkeypatch.setattr(forward, "diffusion_squared", lambda schedule: 2 * original(schedule))


def test_wrong_g2_is_caught_by_f1_f2_f5(doubled_g2, short_budget):
    results = suite.run(["F1", "F2", "F5"], ["general", "edm"])
    for r in results:
        if r.status != "skip":
            assert r.status == "fail", r


@pytest.mark.slow  # > 10 s on two cores: runs in `pytest -m slow` (CI)
def test_wrong_drift_is_caught_by_f1_and_f2(monkeypatch, short_budget):
    monkeypatch.setattr(forward, "drift", lambda schedule: sp.diff(schedule.alpha, sp.Symbol("t", positive=True)))
    results = suite.run(["F1", "F2"], ["general", "vdm"])
    assert all(r.status == "fail" for r in results)


def test_wrong_transition_is_caught_by_f3(monkeypatch, short_budget):
    original = forward.transition
    monkeypatch.setattr(forward, "transition", lambda schedule: (original(schedule)[0], 1.01 * original(schedule)[1]))
    results = suite.run(["F3"], ["general", "edm"])
    assert [r.status for r in results if r.status != "skip"] == ["fail"] * 3


def test_wrong_posterior_is_caught_by_f4(monkeypatch, short_budget):
    original = forward.posterior

    def wrong(schedule):
        a, b, var = original(schedule)
        return a, b, var * sp.exp(schedule.log_snr - schedule.at(schedule.log_snr, forward.S))

    monkeypatch.setattr(forward, "posterior", wrong)
    results = suite.run(["F4"], ["general", "edm"])
    assert all(r.status == "fail" for r in results)


def test_wrong_mixture_fokker_planck_is_caught_numerically(doubled_g2, short_budget):
    results = suite.run(["F5"], ["vp-linear"])
    numeric = [r for r in results if r.method == "numeric"]
    assert numeric and all(r.status == "fail" for r in numeric)


def test_numeric_fallback_is_reported_as_numeric(monkeypatch):
    # Without SymPy's rewrites nothing reduces to 0, so the prover must fall back and say so.
    monkeypatch.setattr(prove, "REWRITES", [lambda e: e])
    sched = get_schedule("vp-linear")
    t = sp.Symbol("t", positive=True)
    true_identity = ("sin^2+cos^2=1", (sp.sin(t) ** 2 + sp.cos(t) ** 2) * sched.alpha, sched.alpha)
    outcome = prove.prove_identities([true_identity], sched)
    assert outcome.method == "numeric" and outcome.passed and outcome.residual < 1e-30
    false_identity = ("off by 1e-12", sched.alpha, sched.alpha * (1 + sp.Rational(1, 10**12)))
    outcome = prove.prove_identities([false_identity], sched)
    assert outcome.method == "numeric" and not outcome.passed
    general = get_schedule("general")
    outcome = prove.prove_identities([("alpha'", sp.diff(general.alpha, t), 2 * sp.diff(general.alpha, t))], general)
    assert outcome.method == "numeric" and not outcome.passed


def test_crashing_check_is_reported_as_error(monkeypatch):
    def boom(schedule):
        raise RuntimeError("boom")

    monkeypatch.setattr(forward, "moment_rates", lambda *a: boom(None))
    (result,) = suite.run(["F2"], ["edm"])
    assert result.status == "error" and "boom" in result.detail


def test_unknown_claim_rejected():
    with pytest.raises(S2NError, match="unknown claim"):
        suite.run(["Q7"], ["edm"])


def test_results_serialise_to_the_documented_json():
    results = suite.run(["F2"], ["general"])
    row = json.loads(json.dumps(results[0].to_dict()))
    # The original fields stay (backward compatible); the convention's fields are added.
    assert {"claim", "schedule", "method", "status", "residual", "seconds", "detail"} <= set(row)
    assert {"tolerance", "margin", "title", "check", "reason"} <= set(row)
    assert row["schedule"] == "general" and row["status"] in registry.STATUSES
    assert row["status"] != "pass" or row["residual"] <= row["tolerance"]
