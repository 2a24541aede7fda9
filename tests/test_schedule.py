"""Schedules: construction, validation, built-ins against hand-written formulas, numeric backends."""

import math

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from s2n_theory.builtin_schedules import builtin_names
from s2n_theory.errors import S2NError, ScheduleError, SpecError
from s2n_theory.numeric_schedule import compile_schedule
from s2n_theory.schedule import Schedule
from s2n_theory.schedule_spec import get_schedule
from s2n_theory.symbols import T

BUILTINS = builtin_names()


def test_at_least_eight_builtins():
    assert {"vp-linear", "vp-cosine", "sub-vp", "ve", "edm", "rectified-flow", "vdm", "shifted-cosine"} <= set(BUILTINS)


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_invariants(name):
    sched = get_schedule(name)
    num = compile_schedule(sched, "numpy")
    t = np.linspace(sched.t_min, sched.t_max, 101)
    alpha, sigma, lam = num.alpha(t), num.sigma(t), num.log_snr(t)
    assert np.all(np.isfinite([alpha, sigma, lam]))
    assert np.all(alpha > 0) and np.all(sigma > 0)
    assert np.all(np.diff(lam) < 0)
    np.testing.assert_allclose(lam, np.log(alpha**2 / sigma**2), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(num.snr(t), np.exp(lam), rtol=1e-10)
    assert sched.description  # formula and source in the docstring


# Hand-written reference formulas (independent of the library's SymPy expressions).
def _vp_linear(t, b0=0.1, b1=20.0):
    B = b0 * t + 0.5 * (b1 - b0) * t**2
    return np.exp(-B / 2), np.sqrt(-np.expm1(-B))


def _cosine(t, s=0.008):
    a = np.cos(np.pi / 2 * (t + s) / (1 + s)) / np.cos(np.pi / 2 * s / (1 + s))
    return a, np.sqrt(1 - a**2)


REFERENCE = {
    "vp-linear": _vp_linear,
    "vp-cosine": _cosine,
    "sub-vp": lambda t: (_vp_linear(t)[0], -np.expm1(-(0.1 * t + 9.95 * t**2))),
    "ve": lambda t: (np.ones_like(t), 0.01 * 5000.0**t),
    "edm": lambda t: (np.ones_like(t), t),
    "rectified-flow": lambda t: (1 - t, t),
    "vdm": lambda t: (np.sqrt(1 / (1 + np.exp(-(13.3 - 18.3 * t)))), np.sqrt(1 / (1 + np.exp(13.3 - 18.3 * t)))),
    "shifted-cosine": lambda t: (
        np.sqrt(1 / (1 + np.tan(np.pi * t / 2) ** 2 / 0.25)),
        np.sqrt(1 / (1 + 0.25 / np.tan(np.pi * t / 2) ** 2)),
    ),
}


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_matches_reference_formula(name):
    sched = get_schedule(name)
    num = compile_schedule(sched, "numpy")
    t = np.linspace(sched.t_min, sched.t_max, 57)
    alpha, sigma = REFERENCE[name](t)
    np.testing.assert_allclose(num.alpha(t), alpha, rtol=1e-12)
    np.testing.assert_allclose(num.sigma(t), sigma, rtol=1e-9)


def test_vp_linear_f_and_g2_are_the_vp_sde():
    # For VP, f = -beta/2 and g^2 = beta (Song et al. 2021), written by hand here.
    num = compile_schedule(get_schedule("vp-linear"), )
    t = np.linspace(0.01, 1, 20)
    beta = 0.1 + t * 19.9
    np.testing.assert_allclose(num.f(t), -beta / 2, rtol=1e-12)
    np.testing.assert_allclose(num.g2(t), beta, rtol=1e-10)


def test_edm_g2_is_2t():
    num = compile_schedule(get_schedule("edm"), )
    t = np.array([0.1, 1.0, 50.0])
    np.testing.assert_allclose(num.g2(t), 2 * t, rtol=1e-14)
    np.testing.assert_allclose(num.f(t), 0 * t, atol=0)


@pytest.mark.parametrize("name", BUILTINS)
def test_inverse_log_snr_round_trip_numpy_and_torch(name):
    sched = get_schedule(name)
    t = np.linspace(sched.t_min, sched.t_max, 33)
    num, tor = compile_schedule(sched, "numpy"), compile_schedule(sched, "torch")
    back = num.t_of_log_snr(num.log_snr(t))
    np.testing.assert_allclose(back, t, rtol=1e-9, atol=1e-12 * sched.t_max)
    tt = torch.tensor(t, dtype=torch.float64)
    back_t = tor.t_of_log_snr(tor.log_snr(tt))
    np.testing.assert_allclose(back_t.numpy(), t, rtol=1e-9, atol=1e-12 * sched.t_max)


@pytest.mark.parametrize("name", BUILTINS)
def test_torch_agrees_with_numpy_and_keeps_dtype(name):
    sched = get_schedule(name)
    num, tor = compile_schedule(sched, "numpy"), compile_schedule(sched, "torch")
    t = np.linspace(sched.t_min, sched.t_max, 17)
    for field in ("alpha", "sigma", "log_snr", "f", "g2", "dlog_snr"):
        out = getattr(tor, field)(torch.tensor(t, dtype=torch.float64))
        assert out.dtype == torch.float64 and out.shape == (17,)
        np.testing.assert_allclose(out.numpy(), getattr(num, field)(t), rtol=1e-12, atol=1e-300)
    out32 = tor.alpha(torch.tensor(t, dtype=torch.float32))
    assert out32.dtype == torch.float32


def test_transition_numeric_matches_definition():
    num = compile_schedule(get_schedule("vp-cosine"), )
    t, s = 0.7, 0.3
    a_ts = num.alpha(t) / num.alpha(s)
    np.testing.assert_allclose(num.alpha_ts(t, s), a_ts, rtol=1e-13)
    np.testing.assert_allclose(num.sigma2_ts(t, s), num.sigma(t) ** 2 - a_ts**2 * num.sigma(s) ** 2, rtol=1e-12)


def test_parameters_from_spec():
    sched = get_schedule("vp-linear(beta_max=10)")
    assert sched.parameters["beta_max"] == 10
    np.testing.assert_allclose(compile_schedule(sched, ).alpha(1.0), math.exp(-(0.1 + 0.5 * 9.9) / 2), rtol=1e-14)
    assert get_schedule("edm(t_max=10)").t_max == 10


@pytest.mark.parametrize(
    "spec",
    [
        "alpha=1/sqrt(1+t**2); lambda=5-12*t",
        "alpha=1-t; sigma=t; domain=[0.01, 0.99]",
        "sigma=t; lambda=-2*log(t); domain=[0.002, 80]",
        "beta=0.1+19.9*t; domain=[1e-3, 1]",
        "k=3; alpha=exp(-k*t); sigma=sqrt(1-exp(-2*k*t)); domain=[0.01,1]",
    ],
)
def test_user_specs(spec):
    sched = get_schedule(spec)
    num = compile_schedule(sched, )
    t = np.linspace(sched.t_min, sched.t_max, 11)[1:-1]
    np.testing.assert_allclose(num.log_snr(t), np.log(num.alpha(t) ** 2 / num.sigma(t) ** 2), rtol=1e-10)


def test_beta_spec_equals_builtin():
    user = compile_schedule(get_schedule("beta=0.1+19.9*t; domain=[1e-3, 1]"), )
    builtin = compile_schedule(get_schedule("vp-linear"), )
    t = np.linspace(1e-3, 1, 9)
    np.testing.assert_allclose(user.sigma(t), builtin.sigma(t), rtol=1e-12)


@pytest.mark.parametrize(
    "spec, pattern",
    [
        ("alpha=1; lambda=5+12*t", r"strictly decreasing.*at t ="),
        ("alpha=-1; sigma=t", r"alpha must be > 0.*at t ="),
        ("alpha=1; sigma=t-0.5", r"sigma must be > 0.*at t ="),
        ("alpha=sqrt(t-0.5); sigma=1", r"alpha is not real"),
        ("alpha=1; sigma=t; lambda=t", r"exactly two"),
        ("alpha=1", r"exactly two"),
        ("alpha=1; sigma=t; domain=[1, 0]", r"t_min < t_max"),
        ("alpha=1; sigma=t; domain=0,1", r"domain"),
        ("vp-linear(beta_max=)", r"beta_max"),
        ("vp-linear(gamma=1)", r"unknown parameter"),
        ("nonsense-name", r"unknown schedule"),
        ("alpha=1; alpha=2", r"given twice"),
    ],
)
def test_invalid_specs_raise_named_errors(spec, pattern):
    with pytest.raises(S2NError, match=pattern):
        get_schedule(spec)


def test_schedule_error_is_raised_for_invalid_schedule():
    with pytest.raises(ScheduleError):
        Schedule.from_alpha_log_snr(sp.Integer(1), T)  # lambda increasing
    with pytest.raises(SpecError):
        get_schedule("")


def test_general_schedule_has_no_numbers():
    general = get_schedule("general")
    assert general.is_general
    with pytest.raises(ScheduleError):
        compile_schedule(general, )


@pytest.mark.slow  # > 10 s on two cores: runs in `pytest -m slow` (CI)
@settings(max_examples=20, deadline=None)
@given(
    a=st.floats(0.5, 20), b=st.floats(0.0, 5), c=st.floats(0.0, 3), k=st.floats(-2, 2),
)
def test_random_valid_schedules_construct(a, b, c, k):
    # λ = λ0 - a t - b t^3 - c t^5 is strictly decreasing; α = exp(k t²) is positive.
    lam = 4 - sp.Float(a) * T - sp.Float(b) * T**3 - sp.Float(c) * T**5
    sched = Schedule.from_alpha_log_snr(sp.exp(sp.Float(k) * T**2), lam)
    num = compile_schedule(sched, )
    t = np.linspace(0, 1, 7)
    np.testing.assert_allclose(num.g2(t), -num.sigma(t) ** 2 * num.dlog_snr(t), rtol=1e-12)


@settings(max_examples=20, deadline=None)
@given(a=st.floats(0.1, 20), where=st.floats(0.05, 0.95))
def test_random_invalid_schedules_raise(a, where):
    # λ rises after t = where: not strictly decreasing.
    lam = sp.Float(a) * (T - sp.Float(where)) ** 2
    with pytest.raises(ScheduleError, match="strictly decreasing"):
        Schedule.from_alpha_log_snr(sp.Integer(1), lam)
    with pytest.raises(ScheduleError, match="alpha must be > 0"):
        Schedule.from_alpha_log_snr(T - sp.Float(where), -sp.Float(a) * T)
