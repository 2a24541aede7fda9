"""Training objectives (W1–W3): closed-form weightings of the recipes against the literature's formulas,
the checks passing, and injected errors (a wrong conversion factor, target, integrand, weight or density)
making them fail; ``s2n weighting`` end to end."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest
import sympy as sp

from s2n_theory import arrays, objectives
from s2n_theory.errors import ExpressionError, SpecError
from s2n_theory.recipes import RECIPES, Recipe, equivalent_recipe, get_recipe
from s2n_theory.schedule import LAMBDA
from s2n_theory.schedule_spec import get_schedule
from s2n_theory.verification import objective_checks as checks

SN = 1 / (2 * np.pi)


def _gauss(lam, mean, sd):
    return np.exp(-((lam - mean) ** 2) / (2 * sd**2)) / (sd * np.sqrt(2 * np.pi))


def _vp_linear_eps(lam, b0=0.1, b1=20.0):
    # t uniform, ε-loss: w = 1/|λ′| at t(λ). With e^B = 1 + e^{−λ}: |λ′| = β e^B/(e^B − 1) = β (1 + e^λ).
    big_b = np.log1p(np.exp(-lam))
    t = (-b0 + np.sqrt(b0**2 + 2 * (b1 - b0) * big_b)) / (b1 - b0)
    return 1 / ((b0 + (b1 - b0) * t) * (1 + np.exp(lam)))


KNOWN = {  # w(λ) from the literature (Kingma & Gao 2024, Table 1) and by hand, convention L = ½∫w E‖ε̂−ε‖² dλ
    "eps-cosine": lambda lam: SN / np.cosh(lam / 2),
    "v-cosine": lambda lam: np.exp(-lam / 2) / np.pi,
    "flow": lambda lam: np.exp(-lam / 2) / 2,
    "vdm-elbo": lambda lam: np.ones_like(lam),
    "edm": lambda lam: _gauss(lam, 2.4, 2.4) * (np.exp(-lam) + 0.25) / 0.25,
    "ddpm": _vp_linear_eps,
}


class _Weightings(dict):
    def __missing__(self, name):
        self[name] = RECIPES[name].implied_weighting(closed_form=name in KNOWN)
        return self[name]


@pytest.fixture(scope="module")
def weightings():
    return _Weightings()


@pytest.mark.parametrize("name", list(KNOWN))
def test_recipes_have_the_known_closed_form(weightings, name):
    iw = weightings[name]
    assert iw.closed_form and not iw.weighting.free_symbols - {LAMBDA}
    lo, hi = iw.log_snr_range
    lam = np.linspace(lo, hi, 41)[1:-1]
    closed = np.broadcast_to(arrays.compile_expression([LAMBDA], iw.weighting)(lam), lam.shape)
    np.testing.assert_allclose(closed, KNOWN[name](lam), rtol=1e-9)
    np.testing.assert_allclose(iw.w(lam), KNOWN[name](lam), rtol=1e-8)  # the numeric path through t(λ)


def test_lambda_densities_integrate_to_the_time_mass(weightings):
    for name in ("eps-cosine", "edm", "flow"):
        assert weightings[name].mass() == pytest.approx(
            {"eps-cosine": 0.998, "flow": 0.998, "edm": 0.9999837}[name], abs=2e-7)
    # EDM: λ ~ N(2.4, 2.4²), so the λ-density is that normal density.
    lam = np.linspace(-5, 10, 7)
    np.testing.assert_allclose(weightings["edm"].density(lam), _gauss(lam, 2.4, 2.4), rtol=1e-9)


def test_equivalent_recipe_transports_w_and_density(weightings):
    source = weightings["v-cosine"]
    moved = equivalent_recipe(RECIPES["v-cosine"], "vdm", "x0").implied_weighting(closed_form=False)
    lam = np.linspace(-4.9, 12.8, 15)  # inside both λ-ranges
    np.testing.assert_allclose(moved.w(lam), source.w(lam), rtol=1e-9)
    np.testing.assert_allclose(moved.density(lam), source.density(lam), rtol=1e-9)


def test_bad_recipes_raise_named_errors():
    with pytest.raises(SpecError, match="unknown prediction"):
        objectives.implied_weighting("vdm", "epsilon")
    with pytest.raises(ExpressionError, match="not allowed"):
        objectives.implied_weighting("vdm", "eps", "__import__('os').getcwd()")
    with pytest.raises(SpecError, match=">= 0"):
        objectives.implied_weighting("vdm", "eps", "t - 0.5")
    with pytest.raises(SpecError, match="unknown recipe"):
        get_recipe("nope")
    assert get_recipe("edm(p_mean=-1.0, sigma_data=1)").sigma_data == 1.0


def test_mmse_eps_agrees_with_the_information_module():
    from s2n_theory.distributions import Mixture1D
    from s2n_theory.gaussian_mixture import GaussianMixture
    from s2n_theory.information import mmse

    weights, means, variances = checks.MIXTURE
    data = Mixture1D(tuple(weights), tuple(m[0] for m in means), tuple(variances))
    lam = np.array([-8.0, -2.0, 0.5, 4.0, 11.0])
    np.testing.assert_allclose(checks.mmse_eps(lam, GaussianMixture(*checks.MIXTURE)),
                               np.exp(lam) * mmse(data, np.exp(lam)), rtol=1e-5)


# ---------------------------------------------------------------------------- the checks and injected errors
SYMBOLIC = (checks.check_w1, checks.check_w2, checks.check_w3)


@pytest.mark.parametrize("schedule", ["general", "rectified-flow"])
def test_symbolic_checks_pass(schedule):
    for check in SYMBOLIC:
        outcome = check(get_schedule(schedule), "quick")
        assert outcome.passed and outcome.method == "symbolic", (check.__name__, outcome)


def test_wrong_conversion_factor_fails_every_symbolic_check(monkeypatch, short_budget):
    original = objectives.conversion_factor

    def wrong(prediction, schedule, sigma_data=0.5):  # the unsquared B for x0 (a classic slip)
        factor = original(prediction, schedule, sigma_data)
        return sp.sqrt(factor) if prediction == "x0" else factor

    monkeypatch.setattr(objectives, "conversion_factor", wrong)
    for check in SYMBOLIC:
        assert not check(get_schedule("general"), "quick").passed, check.__name__
    assert not checks.check_w1(get_schedule("vdm"), "quick").passed


def test_wrong_target_definition_fails_w1(monkeypatch, short_budget):
    original = objectives.target

    def wrong(prediction, schedule, sigma_data=0.5):  # v with the wrong sign of the x0 term
        if prediction == "v":
            return schedule.alpha * objectives.EPS + schedule.sigma * objectives.X0
        return original(prediction, schedule, sigma_data)

    monkeypatch.setattr(objectives, "target", wrong)
    assert not checks.check_w1(get_schedule("general"), "quick").passed


def test_wrong_loss_integrand_fails_w2(monkeypatch, short_budget):
    # Forgetting the conversion factor in the loss integrand: the ELBO is no longer a λ-integral.
    monkeypatch.setattr(objectives, "loss_integrand_t", lambda iw, error: iw.time_density_t * iw.weight_t * error(
        iw.schedule.log_snr) / 2)
    assert not checks.check_w2(get_schedule("general"), "quick").passed


MC_N = 6000


def test_w3_montecarlo_passes():
    outcome = checks.w3_montecarlo(get_schedule("vdm"), MC_N)
    assert outcome.passed and outcome.method == "montecarlo", outcome


def test_w3_montecarlo_catches_a_wrong_weight_or_density():
    schedule = get_schedule("vdm")
    good = checks.mc_recipes(schedule)
    no_sigma2 = Recipe("v weight without sigma^2", schedule, "v", good[2].time_density,
                       "(exp(-logsnr) + 0.25)/(0.25*exp(-logsnr)*(1 + exp(logsnr))**2)", 0.5)
    assert not checks.w3_montecarlo(schedule, MC_N, [good[0], no_sigma2]).passed
    heavy_tailed = Recipe("v weight without (1+SNR)^2", schedule, "v", good[2].time_density,
                          "(exp(-logsnr) + 0.25)/(0.25*exp(-logsnr)*sigma**2)", 0.5)
    assert not checks.w3_montecarlo(schedule, MC_N, [good[0], heavy_tailed]).passed
    uniform_t = Recipe("uniform t", schedule, "edm", "1", "1", 0.5)
    assert not checks.w3_montecarlo(schedule, MC_N, [good[0], uniform_t]).passed


@pytest.mark.parametrize("name", ["vp-cosine", "rectified-flow"])
def test_w3_montecarlo_pieces_equal_the_sympy_forms_on_the_schedule(name):
    # W3's Monte Carlo evaluates a recipe through the schedule's values (its pieces derived once on the values
    # schedule); on a concrete schedule they equal the SymPy forms derived on it, for every prediction target.
    from s2n_theory.arrays import compile_expression
    from s2n_theory.forward import X0
    from s2n_theory.symbols import T

    schedule = get_schedule(name)
    t = np.linspace(schedule.t_min, schedule.t_max, 41)[1:-1]
    x0, eps = np.linspace(-1.5, 1.5, 39)[:, None], np.linspace(1.2, -0.7, 39)[:, None]
    for prediction in objectives.PREDICTIONS:
        recipe = Recipe(prediction, schedule, prediction, "exp(-logsnr**2/50)*(-dlogsnr)*(1 + t)",
                        "sigma**2/alpha + exp(logsnr/3)", 0.7)
        prep = checks.prepare_recipe(recipe)
        values = checks.schedule_values(prep.num, t)
        a, b = objectives.conversion(prediction, schedule, 0.7)
        expected = [(prep.density, objectives.recipe_expression(recipe.time_density, schedule, "density")),
                    (prep.weight, objectives.recipe_expression(recipe.weight, schedule, "weight")),
                    (prep.a, a), (prep.b, b)]
        for got, expr in expected:
            np.testing.assert_allclose(np.broadcast_to(got(*values), t.shape), compile_expression([T], expr)(t),
                                       rtol=1e-9, err_msg=f"{prediction}: {expr}")
        h = sp.lambdify([T, X0, objectives.EPS], objectives.target(prediction, schedule, 0.7), modules="numpy")
        np.testing.assert_allclose(prep.truth(*(v[:, None] for v in values), x0, eps), h(t[:, None], x0, eps),
                                   rtol=1e-9, atol=1e-12, err_msg=prediction)


def test_w3_montecarlo_catches_a_wrong_conversion(monkeypatch):
    original = objectives.conversion

    def wrong(prediction, schedule, sigma_data=0.5):  # B off by 10 % for EDM's F
        a, b = original(prediction, schedule, sigma_data)
        return (a, 1.1 * b) if prediction == "edm" else (a, b)

    monkeypatch.setattr(objectives, "conversion", wrong)
    assert not checks.w3_montecarlo(get_schedule("vdm"), MC_N).passed


# ---------------------------------------------------------------------------- s2n weighting
def test_cli_weighting_prints_closed_form_and_writes_json_and_plot(tmp_path, s2n_both_ways):
    out, png = tmp_path / "w.json", tmp_path / "w.png"
    proc = s2n_both_ways("weighting", "rectified-flow", "--prediction", "flow", "--compare", "vdm-elbo",
               "--json", str(out), "--plot", str(png))
    assert proc.returncode == 0, proc.stderr
    assert "w       = exp(-λ/2)/2" in proc.stdout
    data = json.loads(out.read_text())
    lam = np.array(data["grid"]["lambda"])
    np.testing.assert_allclose(data["grid"]["w"], np.exp(-lam / 2) / 2, rtol=1e-8)
    assert np.trapezoid(data["grid"]["w_normalised"], lam) == pytest.approx(1.0)
    assert [r["label"] for r in data["compare"]] == ["vdm-elbo"] and data["compare"][0]["w"] == "1"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_weighting_general_schedule_prints_forms_in_t(run_s2n):
    proc = run_s2n("weighting", "general", "-p", "x0", "--weight", "-dlogsnr*exp(logsnr)")
    assert proc.returncode == 0, proc.stderr
    assert "w       = 1" in proc.stdout


@pytest.mark.parametrize("args, message", [
    (["vdm", "-p", "velocity"], "unknown 'velocity'"),
    (["vdm", "-p", "eps", "--time-density", "open('x')"], "not allowed"),
    (["vdm", "-p", "eps", "--time-density", "t**"], "syntax error"),
    (["vdm", "-p", "eps", "--time-density", "t - 0.5"], ">= 0"),
    (["vdm", "-p", "eps", "--json", "/nonexistent-dir/w.json"], "does not exist"),
    (["vdm", "-p", "eps", "--plot", "w.pdf"], "must end in .png"),
    (["vdm", "-p", "eps", "--compare", "edm,bogus"], "unknown recipe"),
])
def test_cli_weighting_bad_input_exits_2_with_one_line(args, message):
    from typer.testing import CliRunner

    import s2n_theory.cli  # noqa: F401 - registers every command on the app
    from s2n_theory.cli import app

    result = CliRunner().invoke(app, ["weighting", *args])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_cli_weighting_bad_input_through_the_entry_point(run_s2n):
    # `s2n`'s own entry point (its handler for user errors, the exit status), in this process.
    proc = run_s2n("weighting", "vdm", "-p", "eps", "--json", "/nonexistent-dir/w.json")
    assert proc.returncode == 2 and proc.stderr.strip().startswith("error: --json")
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr + proc.stdout


@pytest.mark.slow  # the quick-level W3 run (~5 s on two busy cores, with its SymPy preparation)
def test_w3_montecarlo_detects_the_declared_scaling_at_the_quick_level():
    # The power W3 states in its row (losses scaled by ≥ δ) is real at the quick size: every recipe's
    # weight scaled by the δ the correct run declares (the paired differences stay zero) fails.
    schedule = get_schedule("vdm")
    n = checks.W3_SIZES["quick"]
    good = checks.w3_montecarlo(schedule, n)
    assert good.passed, good.detail
    delta = float(re.search(r"losses scaled by ≥ ([0-9.]+)%", good.detail).group(1)) / 100
    assert 0.0 < delta < 0.1
    scaled = [dataclasses.replace(r, weight=f"({r.weight})*{1 + delta!r}") for r in checks.mc_recipes(schedule)]
    outcome = checks.w3_montecarlo(schedule, n, scaled)
    assert not outcome.passed, outcome.detail
