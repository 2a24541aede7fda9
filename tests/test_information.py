"""Information theory (docs/theory.md, I1–I5): values against independent computations,
properties, the parser and CLI, the figure, and injected errors that the checks must catch."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import integrate, special, stats

from s2n_theory import distribution_spec, figures, information
from s2n_theory.distributions import Binary, Gaussian, Mixture1D, MixtureND, Uniform
from s2n_theory.errors import S2NError, SpecError
from s2n_theory.schedule_spec import get_schedule
from s2n_theory.verification import information_checks as checks
from s2n_theory.verification.registry import Outcome

ROOT3 = math.sqrt(3.0)
SNRS = np.array([0.05, 0.5, 3.0, 25.0])


def _quad(f, lo=-np.inf, hi=np.inf):
    return integrate.quad(f, lo, hi, epsabs=1e-13, epsrel=1e-12, limit=400)[0]


# ---------------------------------------------------------------------------- values
def test_gaussian_closed_form_matches_quadrature_of_a_one_component_mixture():
    closed = information.information(Gaussian(2.5), SNRS)
    quad = information.information(Mixture1D((1.0,), (0.7,), (2.5,)), SNRS)
    for name in ("mutual_information", "mmse", "mmse_derivative"):
        a, b = getattr(closed, name), getattr(quad, name)
        np.testing.assert_allclose(b.value, a.value, rtol=1e-10, atol=1e-13)
        assert np.all(b.error < 1e-9)


def test_gaussian_textbook_values():
    v = 0.8
    np.testing.assert_allclose(information.mutual_information(Gaussian(v), SNRS), 0.5 * np.log1p(SNRS * v))
    np.testing.assert_allclose(information.mmse(Gaussian(v), SNRS), v / (1 + SNRS * v))


@pytest.mark.parametrize("snr", [0.3, 2.0, 9.0])
def test_binary_against_tanh_formulas(snr):
    # x0 = +1 by symmetry: mmse = 1 − E tanh(snr + √snr Z), I = snr − E log cosh(snr + √snr Z).
    def expect(g):
        return _quad(lambda z: stats.norm.pdf(z) * g(snr + math.sqrt(snr) * z), -40, 40)

    mmse_ref = 1 - expect(np.tanh)
    info_ref = snr - expect(lambda w: abs(w) + math.log1p(math.exp(-2 * abs(w))) - math.log(2))
    assert information.mmse(Binary(), snr) == pytest.approx(mmse_ref, rel=1e-9, abs=1e-13)
    assert information.mutual_information(Binary(), snr) == pytest.approx(info_ref, rel=1e-9)


@pytest.mark.parametrize("snr", [0.2, 1.0, 12.0])
def test_uniform_against_truncated_normal_quadrature(snr):
    a, b = -1.0, 2.0
    r = math.sqrt(snr)

    def density(y):
        if y > r * (a + b) / 2:  # right tail: differences of survival functions keep their digits
            return (stats.norm.sf(y - r * b) - stats.norm.sf(y - r * a)) / (r * (b - a))
        return (stats.norm.cdf(y - r * a) - stats.norm.cdf(y - r * b)) / (r * (b - a))

    def posterior_mean(y):
        lo, hi = r * a - y, r * b - y
        return y / r + stats.truncnorm.mean(lo, hi) / r

    lo_y, hi_y = r * a - 12, r * b + 12
    second = _quad(lambda y: density(y) * posterior_mean(y) ** 2, lo_y, hi_y)
    mmse_ref = (a**2 + a * b + b**2) / 3 - second
    h_y = -_quad(lambda y: special.xlogy(density(y), density(y)), lo_y, hi_y)
    info_ref = h_y - 0.5 * math.log(2 * math.pi * math.e)
    assert information.mmse(Uniform(a, b), snr) == pytest.approx(mmse_ref, rel=1e-7)
    assert information.mutual_information(Uniform(a, b), snr) == pytest.approx(info_ref, rel=1e-7)


def test_snr_zero_is_the_prior():
    dist = Mixture1D((0.25, 0.75), (-1.0, 2.0), (0.5, 0.1))
    var = 0.25 * (0.5 + 1) + 0.75 * (0.1 + 4) - (0.25 * -1 + 0.75 * 2) ** 2
    table = information.information(dist, [0.0])
    assert table.mutual_information.value[0] == 0
    assert table.mmse.value[0] == pytest.approx(var)
    assert table.mmse_derivative.value[0] == pytest.approx(-var**2)


def test_montecarlo_single_gaussian_matches_closed_form():
    cov = np.array([[0.6, 0.2], [0.2, 0.3]])
    dist = MixtureND((1.0,), ((0.5, -0.2),), (cov,), samples=6000, seed=3)
    snr = np.array([0.4, 4.0])
    table = information.information(dist, snr)
    for i, s in enumerate(snr):
        post = np.linalg.inv(np.linalg.inv(cov) + s * np.eye(2))
        info = 0.5 * np.linalg.slogdet(np.eye(2) + s * cov)[1]
        assert abs(table.mutual_information.value[i] - info) < 4 * table.mutual_information.error[i]
        assert abs(table.mmse.value[i] - np.trace(post)) < 4 * table.mmse.error[i]
        # Cov[x0|y] does not depend on y for Gaussian data: no Monte Carlo spread at all.
        assert table.mmse_derivative.value[i] == pytest.approx(-np.trace(post @ post), rel=1e-10)


def test_torch_free_api_shapes_and_scalars():
    assert np.ndim(information.mmse(Binary(), 1.0)) == 0
    assert information.mmse(Binary(), np.ones((2, 3))).shape == (2, 3)
    value, error = information.mutual_information(Uniform(-1, 1), [0.5, 2.0], with_error=True)
    assert value.shape == error.shape == (2,)
    with pytest.raises(SpecError):
        information.mmse(Binary(), -1.0)


# ---------------------------------------------------------------------------- properties
mixtures = st.integers(1, 3).flatmap(lambda k: st.tuples(
    st.lists(st.floats(0.1, 1.0), min_size=k, max_size=k),
    st.lists(st.floats(-2.0, 2.0), min_size=k, max_size=k),
    st.lists(st.floats(0.0, 1.5), min_size=k, max_size=k),
)).map(lambda w_m_v: Mixture1D(tuple(np.array(w_m_v[0]) / sum(w_m_v[0])), tuple(w_m_v[1]), tuple(w_m_v[2])))

distributions = st.one_of(
    mixtures,
    st.tuples(st.floats(-2, 1), st.floats(0.2, 3)).map(lambda ab: Uniform(ab[0], ab[0] + ab[1])),
    st.just(Binary()),
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dist=distributions, lo=st.floats(0.01, 20.0), ratio=st.floats(1.05, 4.0))
def test_information_increasing_concave_mmse_decreasing_and_gaussian_bound(dist, lo, ratio):
    snr = np.array([lo, math.sqrt(ratio) * lo, ratio * lo])
    table = information.information(dist, snr)
    info, info_err = table.mutual_information.value, table.mutual_information.error
    mm = table.mmse.value
    slack = 1e-10 + 10 * info_err.max()
    assert np.all(np.diff(info) >= -slack)  # I increasing
    # Concave: the chord between the outer points lies below I at the (geometric) middle point.
    w = (snr[2] - snr[1]) / (snr[2] - snr[0])
    assert info[1] >= w * info[0] + (1 - w) * info[2] - slack
    assert np.all(np.diff(mm) <= 1e-12)  # mmse decreasing
    assert np.all(table.mmse_derivative.value <= 1e-15)
    var = float(dist.covariance()[0, 0])
    assert np.all(mm <= var / (1 + snr * var) * (1 + 1e-9) + 1e-14)  # the Gaussian has the largest mmse
    assert np.all(info <= 0.5 * np.log1p(snr * var) + slack)  # and the largest I


# ---------------------------------------------------------------------------- parser and CLI
@pytest.mark.parametrize("spec, expected", [
    ("gaussian(2)", Gaussian(2.0)),
    ("binary", Binary()),
    ("Binary()", Binary()),
    ("uniform(-1.7320508,1.7320508)", Uniform(-1.7320508, 1.7320508)),
    ("uniform(-sqrt(3), sqrt(3))", Uniform(-ROOT3, ROOT3)),
    ("mixture(0.3,0.7;-1,1;0.1,0.2)", Mixture1D((0.3, 0.7), (-1.0, 1.0), (0.1, 0.2))),
])
def test_parse_valid(spec, expected):
    parsed = distribution_spec.parse_distribution(spec)
    assert parsed == expected
    assert distribution_spec.parse_distribution(parsed.spec()) == parsed


@pytest.mark.parametrize("spec", [
    "", "gauss(1)", "gaussian()", "gaussian(0)", "gaussian(1,2)", "gaussian(__import__('os'))", "binary(1)",
    "uniform(1,1)", "uniform(1)", "mixture(1;0)", "mixture(0.5,0.5;0;1,1)", "mixture(0.5,0.6;0,1;1,1)",
    "mixture(1;0;-1)", "mixture(-1,2;0,1;1,1)", "uniform(a,b)", "gaussian(1e999)", "uniform(0,,1)", "x" * 3000,
])
def test_parse_invalid_raises_spec_error(spec):
    with pytest.raises(SpecError):
        distribution_spec.parse_distribution(spec)


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=40))
def test_parser_never_raises_anything_but_s2n_errors(text):
    try:
        distribution_spec.parse_distribution(text)
    except S2NError:
        pass


@pytest.fixture()
def runner_app():
    from typer.testing import CliRunner

    import s2n_theory.cli  # noqa: F401  (registers the command)
    from s2n_theory.cli import app

    return CliRunner(), app


@pytest.mark.parametrize("spec", ["uniform(-1.7320508,1.7320508)", "gaussian(0.5)", "binary",
                                  "mixture(0.3,0.7;-1,1;0.1,0.2)"])
def test_cli_info_every_distribution(runner_app, tmp_path, spec):
    runner, app = runner_app
    out = tmp_path / "info.json"
    result = runner.invoke(app, ["info", "--dist", spec, "--snr", "0.1,1,10", "--json", str(out)])
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert distribution_spec.parse_distribution(payload["dist"]) == distribution_spec.parse_distribution(spec)
    assert [row["snr"] for row in payload["rows"]] == [0.1, 1.0, 10.0]
    for row in payload["rows"]:
        assert set(row) == {"snr", "I", "mmse", "dI_dsnr", "residual"}
        assert abs(row["residual"]) < 1e-8
        assert row["dI_dsnr"] == pytest.approx(row["mmse"] / 2, rel=1e-8)
    assert "snr" in result.output and "I1 residual" in result.output


@pytest.mark.parametrize("args", [["--dist", "poisson(1)", "--snr", "1"], ["--dist", "binary", "--snr", "1,-1"],
                                  ["--dist", "gaussian(1", "--snr", "1"], ["--dist", "binary", "--snr", "x"]])
def test_cli_info_bad_input_exits_2_with_one_line(runner_app, args):
    runner, app = runner_app
    result = runner.invoke(app, ["info", *args])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:")


def test_information_figure(tmp_path):
    path = figures.information_figure(tmp_path / "information.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


# ---------------------------------------------------------------------------- I4 estimator
def test_likelihood_estimate_gaussian_data_and_a_wrong_denoiser():
    from s2n_theory.gaussian_mixture import GaussianMixture

    schedule = get_schedule("vdm")
    oracle = GaussianMixture([1.0], [[0.3, -0.5]], [[[0.8, 0.1], [0.1, 0.5]]])
    points = np.array([[0.0, 0.0], [1.5, -1.0]])
    exact = stats.multivariate_normal([0.3, -0.5], [[0.8, 0.1], [0.1, 0.5]]).logpdf(points) * -1
    good = information.likelihood_estimate(oracle.denoiser(schedule), points, schedule, samples=8192, seed=2)
    assert np.all(np.abs(good.nll - exact) < 3 * good.standard_error)
    shrunk = information.likelihood_estimate(lambda x, t: 0.9 * oracle.x0_hat(x, t, schedule), points, schedule,
                                             samples=8192, seed=2)
    assert np.any(np.abs(shrunk.nll - exact) > 5 * shrunk.standard_error)


# ---------------------------------------------------------------------------- the checks and injected errors
def _run(check, schedule="general", level="quick") -> Outcome:
    return check(get_schedule(schedule), level)


def test_every_information_check_passes_on_a_fast_schedule():
    for check, schedule in [(checks.check_i1, "general"), (checks.check_i3, "general"), (checks.check_i2, "vdm"),
                            (checks.check_i5, "vdm"), (checks.check_i4, "vdm"),
                            (checks.check_i1_montecarlo, "general"), (checks.check_i3_montecarlo, "general")]:
        outcome = _run(check, schedule)
        assert outcome.passed, (check.__name__, outcome)


def test_i1_injected_error_fails_symbolic_numeric_and_montecarlo(monkeypatch, short_budget):
    monkeypatch.setattr(information, "dI_dsnr_from_mmse", lambda m: 0.505 * m)
    monkeypatch.setattr(information, "dI_dlog_snr_from_mmse", lambda s, m: 0.505 * s * m)
    monkeypatch.setattr(checks, "ONE_D", {"mixture": checks.ONE_D["mixture"]})
    assert not _run(checks.check_i1).passed
    assert not _run(checks.check_i1_quadrature).passed
    # Monte Carlo cannot see a 1% error at this sample size; a 10% one it must.
    monkeypatch.setattr(information, "dI_dsnr_from_mmse", lambda m: 0.55 * m)
    assert not _run(checks.check_i1_montecarlo).passed


def test_i2_injected_error_fails(monkeypatch, short_budget):
    monkeypatch.setattr(information, "time_rate", lambda dl, snr, m: 0.49 * dl * snr * m)
    assert not _run(checks.check_i2, "vdm").passed
    assert not _run(checks.check_i2, "general").passed
    assert not _run(checks.check_i2_quadrature, "vdm").passed


def test_i2_sign_is_part_of_the_check(monkeypatch):
    # A rate with the wrong sign everywhere must fail even if it were matched by the derivative.
    monkeypatch.setattr(information, "time_rate", lambda dl, snr, m: -0.5 * dl * snr * m)
    assert not _run(checks.check_i2_quadrature, "vdm").passed


def test_i3_injected_errors_fail(monkeypatch, short_budget):
    import sympy as sp

    monkeypatch.setattr(information, "gaussian_posterior_variance_expr",
                        lambda snr=information.SNR, v=information.VARIANCE: 1 / (1 / v + 1.01 * snr))
    assert not _run(checks.check_i3).passed
    monkeypatch.setattr(checks, "ONE_D", {"mixture": checks.ONE_D["mixture"]})
    original = information.mmse_derivative
    def wrong_derivative(d, s, with_error=False):
        value, error = original(d, s, with_error=True)
        return 1.001 * np.asarray(value), error

    monkeypatch.setattr(information, "mmse_derivative", wrong_derivative)
    assert not _run(checks.check_i3_quadrature).passed
    original_terms = MixtureND.per_sample

    def wrong_terms(self, snr, covariance=False):
        out = original_terms(self, snr, covariance=covariance)
        if covariance:
            out["tr_cov2"] = 1.1 * out["tr_cov2"]
        return out

    monkeypatch.setattr(MixtureND, "per_sample", wrong_terms)
    assert not _run(checks.check_i3_montecarlo).passed
    assert sp  # sympy imported for the patched expression


def test_i4_injected_error_fails(monkeypatch, short_budget):
    monkeypatch.setattr(information, "kong_integrand", lambda snr, e2, err: 1.05 * snr / (1 + snr) * e2 - err)
    assert not _run(checks.check_i4, "vdm").passed


def test_i5_injected_errors_fail(monkeypatch, short_budget):
    from s2n_theory import snspace

    monkeypatch.setattr(snspace, "loss_integrand_t", lambda s, mmse=snspace.MMSE: -s.dlog_snr * __import__(
        "sympy").exp(s.log_snr) * mmse(__import__("sympy").exp(s.log_snr)) * 0.51)
    assert not _run(checks.check_i5, "vdm").passed
    monkeypatch.setattr(snspace, "_numeric_t_integrand", lambda num, t, mse: -num.dlog_snr(t) * np.exp(
        num.log_snr(t)) * mse * 0.501)
    assert not _run(checks.check_i5_quadrature, "vdm").passed
