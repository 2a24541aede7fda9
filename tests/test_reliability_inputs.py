"""Issue 13: inputs that used to give wrong mathematics, tracebacks or hangs, one test per class.

Each class is validated at one place (the expression parser, schedule construction, the
CLI output helper, the information quadrature, the generated module, the numeric fallback
of the prover); these tests go through the public surfaces a user reaches.
"""

import json
import math
import os

import numpy as np
import pytest
import sympy as sp
import torch
from typer.testing import CliRunner

import s2n_theory.cli  # noqa: F401 - registers the commands
from s2n_theory import forward
from s2n_theory.builtin_schedules import BUILTINS
from s2n_theory.cli import app
from s2n_theory.cli.info import _evaluate
from s2n_theory.cli.output import write_atomic
from s2n_theory.codegen.functions import ONE_ARG
from s2n_theory.distribution_spec import parse_distribution
from s2n_theory.errors import S2NError, ScheduleError, SpecError
from s2n_theory.expressions import parse_expression
from s2n_theory.information import information
from s2n_theory.numeric_schedule import compile_schedule
from s2n_theory.schedule_spec import get_schedule, read_spec_file
from s2n_theory.symbols import S, T
from s2n_theory.verification import normal_form, prove


def cli(*args):
    result = CliRunner().invoke(app, list(args))
    return result


def assert_one_line_exit_2(result, fragment=""):
    assert result.exit_code == 2, (result.output, result.exception)
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    lines = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    assert fragment in lines[0], lines[0]


# ---------------------------------------------------------------------------- §0 the caret is a power
@pytest.mark.parametrize("text", ["exp(-2*t^2)", "1/sqrt(1+t^2)", "-t^2", "2^3^2", "t^-1", "-2*t^2 + 3*t^3",
                                  "(1+t)^2^(1/2)", "t^2*3"])
def test_caret_parses_exactly_like_double_star(text):
    assert parse_expression(text) == parse_expression(text.replace("^", "**"))


def test_caret_binds_tighter_than_unary_minus_and_groups_right():
    assert parse_expression("-t^2") == -T**2
    assert parse_expression("2^3^2") == 2**9
    assert parse_expression("exp(-2*t^2)") == sp.exp(-2 * T**2)
    sched = get_schedule("alpha=exp(-2*t^2); lambda=5-12*t")
    assert sched.alpha == sp.exp(-2 * T**2)


def test_domain_with_negative_time_is_refused():
    # t is declared positive, so sqrt(t**2) = t: exp(-sqrt(t^2)) at t = -1 would be computed as e, not 1/e.
    with pytest.raises(ScheduleError, match=r"t < 0.*declared positive"):
        get_schedule("alpha=exp(-sqrt(t**2)); lambda=-t; domain=[-1,-0.5]")
    with pytest.raises(ScheduleError, match="t < 0"):
        get_schedule("edm(t_min=-1)")


# ---------------------------------------------------------------------------- §2 singular ends
@pytest.mark.parametrize("spec, end, value", [
    ("alpha=cos(pi*t/2); sigma=sin(pi*t/2)", "t_min", "0"),
    ("alpha=cos(pi*t/2); sigma=sin(pi*t/2); domain=[0.1, 1]", "t_max", "1"),
    ("edm(t_min=0)", "t_min", "0"),
    ("vp-linear(t_min=0)", "t_min", "0"),
    ("sub-vp(t_min=0)", "t_min", "0"),
    ("rectified-flow(t_min=0)", "t_min", "0"),
    ("rectified-flow(t_max=1)", "t_max", "1"),
    ("alpha=sin(t)/t; lambda=1-t", "t_min", "0"),  # 0/0 at the end: undefined there
])
def test_schedule_singular_at_an_end_is_refused_naming_the_end(spec, end, value):
    with pytest.raises(ScheduleError, match=rf"{end} = {value}\b"):
        get_schedule(spec)


def test_schedule_stopping_short_of_the_singular_end_is_accepted_and_exports_finite_code():
    sched = get_schedule("alpha=cos(pi*t/2); sigma=sin(pi*t/2); domain=[1e-3, 0.999]")
    num = compile_schedule(sched, "numpy")
    t = np.linspace(sched.t_min, sched.t_max, 101)
    assert np.all(np.isfinite(num.log_snr(t))) and np.all(np.isfinite(num.t_of_log_snr(num.log_snr(t))))


# ---------------------------------------------------------------------------- §2b every input path
def test_parameter_that_makes_a_builtin_singular_is_a_schedule_error():
    with pytest.raises(ScheduleError, match=r"vp-cosine\(s=-0.5\).*infinite or undefined constant"):
        get_schedule("vp-cosine(s=-0.5)")
    assert_one_line_exit_2(cli("show", "vp-cosine(s=-0.5)"), "vp-cosine")


@pytest.mark.parametrize("name, reference", [("erf", math.erf), ("erfc", math.erfc)])
def test_erf_and_erfc_take_t(name, reference):
    sched = get_schedule(f"alpha={name}(1+t); lambda=5-12*t")
    t = np.array([0.1, 0.5, 0.9])
    expected = [reference(1 + x) for x in t]
    np.testing.assert_allclose(compile_schedule(sched, "numpy").alpha(t), expected, rtol=1e-12)
    np.testing.assert_allclose(compile_schedule(sched, "torch").alpha(torch.tensor(t)).numpy(), expected,
                               rtol=1e-12)


def test_schedule_names_with_control_characters_are_refused():
    for bad in ("a\x1b[31mred", "two\nlines", "bell\x07"):
        with pytest.raises(ScheduleError, match="control character"):
            get_schedule(f"alpha=exp(-t); lambda=1-t; name={bad}")


def test_markup_in_a_name_is_printed_verbatim():
    result = cli("verify", "--only", "F2", "-s", "alpha=exp(-t); lambda=1-t; name=[/x]", "-s",
                 "alpha=exp(-t); lambda=1-t; name=[bold]b[/bold]\\")
    assert result.exit_code == 0, (result.output, result.exception)
    assert "[/x]" in result.output and "[bold]b[/bold]\\" in result.output


def test_c_comment_cannot_be_closed_by_a_name(tmp_path):
    result = cli("export", "alpha=exp(-t); lambda=1-t; name=x*/ int evil, /*", "-b", "c", "-o",
                 str(tmp_path / "s"))
    assert result.exit_code == 0, result.output
    for path in (tmp_path / "s.h", tmp_path / "s.c"):
        first = path.read_text().splitlines()[0]
        assert first.startswith("/*") and first.endswith("*/") and first.count("*/") == 1
        assert "/*" not in first[2:]


def test_c_output_names_its_files_and_never_overwrites_without_force(tmp_path):
    assert_one_line_exit_2(cli("export", "edm", "-b", "c", "-o", str(tmp_path / "x.txt")), "FILE.c and FILE.h")
    assert list(tmp_path.iterdir()) == []
    assert cli("export", "edm", "-b", "c", "-o", str(tmp_path / "x.c")).exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.c", "x.h"]
    (tmp_path / "x.h").write_text("mine")
    assert_one_line_exit_2(cli("export", "edm", "-b", "c", "-o", str(tmp_path / "x")), "--force")
    assert (tmp_path / "x.h").read_text() == "mine"
    assert cli("export", "edm", "-b", "c", "-o", str(tmp_path / "x"), "--force").exit_code == 0
    assert "#ifndef" in (tmp_path / "x.h").read_text()


@pytest.fixture
def places(tmp_path):
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("old")
    return {"dir": str(tmp_path / "dir"), "missing": str(tmp_path / "nope" / "out.json"),
            "file": str(tmp_path / "file")}


@pytest.mark.parametrize("args, place, fragment", [
    (["export", "edm", "-o"], "dir", "is a directory"),
    (["export", "edm", "-o"], "missing", "does not exist"),
    (["verify", "--only", "F2", "-s", "edm", "--json"], "dir", "is a directory"),
    (["verify", "--only", "F2", "-s", "edm", "--json"], "missing", "does not exist"),
    (["verify", "--only", "F2", "-s", "edm", "--report"], "file", "not a directory"),
    (["verify", "--only", "F2", "-s", "edm", "--report"], "missing", "does not exist"),
    (["info", "--dist", "binary", "--snr", "1", "--json"], "dir", "is a directory"),
    (["info", "--dist", "binary", "--snr", "1", "--json"], "missing", "does not exist"),
    (["claims", "--json"], "dir", "not a readable"),
])
def test_bad_output_paths_are_one_line_exit_2_before_any_work(args, place, fragment, places):
    assert_one_line_exit_2(cli(*args, places[place]), fragment)
    assert open(places["file"]).read() == "old"


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_directory_is_one_line_exit_2(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert_one_line_exit_2(cli("info", "--dist", "binary", "--snr", "1", "--json", str(locked / "a.json")),
                               "not writable")
    finally:
        locked.chmod(0o700)


def test_writes_are_atomic_and_leave_no_temporary_files(tmp_path, monkeypatch):
    target = tmp_path / "out.json"
    target.write_text("old")

    def refuse(*_):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(S2NError, match="No space left"):
        write_atomic(target, "new", "--json")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]
    monkeypatch.undo()
    write_atomic(target, "new", "--json")
    assert target.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_info_json_is_written_whole(tmp_path):
    out = tmp_path / "i.json"
    assert cli("info", "--dist", "gaussian(2)", "--snr", "0,1", "--json", str(out)).exit_code == 0
    rows = json.loads(out.read_text())["rows"]
    assert [r["mmse"] for r in rows] == pytest.approx([2.0, 2.0 / 3.0])  # v/(1 + snr v)


def test_spec_files_not_utf8_or_deeply_nested_are_spec_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b'alpha = "exp(-t)\xff"\nlambda = "1-t"\n')
    deep_toml = tmp_path / "deep.toml"
    deep_toml.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    deep_json = tmp_path / "deep.json"
    deep_json.write_text('{"alpha": ' + '{"a":' * 3000 + "1" + "}" * 3000 + "}")
    for path in (bad, deep_toml, deep_json):
        with pytest.raises(SpecError):
            read_spec_file(path)
        assert_one_line_exit_2(cli("show", str(path)))


# ---------------------------------------------------------------------------- §4 s2n info
@pytest.mark.parametrize("dist", ["mixture(0.5,0.5;-1e100,1e100;1,1)", "uniform(-1e100,1e100)"])
def test_far_apart_or_very_wide_inputs_give_a_clear_error_not_an_overflow(dist):
    with pytest.raises(SpecError, match="float64 cannot resolve"):
        information(parse_distribution(dist), np.array([1.0]))
    assert_one_line_exit_2(cli("info", "--dist", dist, "--snr", "1"), "rescale")


def test_huge_variance_at_snr_zero_is_inf_not_overflow_error():
    table = information(parse_distribution("uniform(-1e100,1e100)"), np.array([0.0]))
    variance = (2e100) ** 2 / 12
    assert table.mmse.value[0] == pytest.approx(variance)  # mmse(0) = Var[x0]
    assert table.mmse_derivative.value[0] == -np.inf  # -Var[x0]^2 is beyond float64


def test_info_in_blocks_with_progress_equals_one_batch():
    dist = parse_distribution("mixture(0.3,0.7;-1,2;0.5,0)")
    snr = np.linspace(0.0, 5.0, 40)
    table, derivative = _evaluate(dist, snr, progress=True)
    reference = information(dist, snr)
    np.testing.assert_allclose(table.mmse.value, reference.mmse.value, rtol=1e-12)
    np.testing.assert_allclose(table.mutual_information.value, reference.mutual_information.value, rtol=1e-12)
    assert derivative.value.shape == snr.shape


def test_mixture_posterior_variance_is_bayes_per_component():
    # Independent reference: Var[x0|y] by quadrature over x0 of prior × likelihood, one y at a time.
    dist = parse_distribution("mixture(0.2,0.5,0.3;-2,0.5,3;0.3,0,1.5)")
    snr = np.array([[0.7]])
    y = np.array([[-1.0, 0.2, 2.5]])
    _, post_var = dist.channel(y, snr)
    x = np.linspace(-15, 15, 200001)
    prior = sum(w * np.exp(-0.5 * (x - m) ** 2 / v) / np.sqrt(2 * np.pi * v) for w, m, v in
                zip((0.2, 0.3), (-2, 3), (0.3, 1.5), strict=True))
    for j, yj in enumerate(y[0]):
        like = np.exp(-0.5 * (yj - np.sqrt(0.7) * x) ** 2)
        atom = 0.5 * np.exp(-0.5 * (yj - np.sqrt(0.7) * 0.5) ** 2)  # the point mass at 0.5
        z = np.trapezoid(prior * like, x) + atom
        mean = (np.trapezoid(x * prior * like, x) + 0.5 * atom) / z
        second = (np.trapezoid(x**2 * prior * like, x) + 0.25 * atom) / z
        assert post_var[0, j] == pytest.approx(second - mean**2, rel=1e-6)


# ---------------------------------------------------------------------------- §5 differentiable exports
def _symbolic_one_arg(sched):
    return {"alpha": sched.alpha, "sigma": sched.sigma, "log_snr": sched.log_snr, "snr": sp.exp(sched.log_snr),
            "f": forward.drift(sched), "g2": forward.diffusion_squared(sched), "dlog_snr": sched.dlog_snr}


@pytest.mark.parametrize("name", list(BUILTINS))
def test_torch_exports_have_the_symbolic_derivatives(name):
    sched = get_schedule(name)
    num = compile_schedule(sched, "torch")
    lo, hi = sched.t_min, sched.t_max
    times = np.linspace(lo + 0.05 * (hi - lo), hi - 0.05 * (hi - lo), 5)
    exprs = _symbolic_one_arg(sched)
    assert set(exprs) == set(ONE_ARG)
    for key, expr in exprs.items():
        t = torch.tensor(times, requires_grad=True)
        (grad,) = torch.autograd.grad(getattr(num, key)(t).sum(), t)
        expected = [float(sp.diff(expr, T).subs(T, sp.Float(x, 30)).evalf(20)) for x in times]
        np.testing.assert_allclose(grad.numpy(), expected, rtol=1e-7, atol=1e-12, err_msg=f"{name} d{key}/dt")
    # the inverse: dt/dlambda = 1/lambda'(t) at t(lambda)
    lam = num.log_snr(torch.tensor(times)).detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(num.t_of_log_snr(lam).sum(), lam)
    expected = [1 / float(sched.dlog_snr.subs(T, sp.Float(x, 30)).evalf(20)) for x in times]
    np.testing.assert_allclose(grad.numpy(), expected, rtol=1e-7, err_msg=f"{name} dt/dlambda")
    # the transition, both arguments
    alpha_ts, sigma2_ts = forward.transition(sched)
    t = torch.tensor(times[1:], requires_grad=True)
    s = torch.tensor(times[:-1], requires_grad=True)
    for key, expr in (("alpha_ts", alpha_ts), ("sigma2_ts", sigma2_ts)):
        gt, gs = torch.autograd.grad(getattr(num, key)(t, s).sum(), (t, s))
        for grad, var in ((gt, T), (gs, S)):
            expected = [float(sp.diff(expr, var).subs({T: sp.Float(a, 30), S: sp.Float(b, 30)}).evalf(20))
                        for a, b in zip(times[1:], times[:-1], strict=True)]
            np.testing.assert_allclose(grad.numpy(), expected, rtol=1e-7, atol=1e-12, err_msg=f"{name} {key} {var}")


@pytest.mark.parametrize("name", ["edm", "ve"])
def test_constant_functions_stay_in_the_graph_and_propagate_nan(name):
    num = compile_schedule(get_schedule(name), "torch")
    t = torch.tensor([0.5, float("nan")], dtype=torch.float64, requires_grad=True)
    alpha = num.alpha(t)
    assert alpha.requires_grad
    assert alpha[0].item() == 1.0 and math.isnan(alpha[1].item())
    (grad,) = torch.autograd.grad(alpha[0], t)
    assert grad.tolist() == [0.0, 0.0]
    assert math.isnan(compile_schedule(get_schedule(name), "numpy").alpha(np.array([np.nan]))[0])


# ---------------------------------------------------------------------------- §6 symbolic blow-up
def test_numeric_fallback_on_a_deeply_shared_expression_is_quick_and_honest(monkeypatch):
    # 30 nested sines: the second derivative repeats each inner sine ~30 times per term; walking the
    # tree with evalf took minutes, the compiled form with shared subexpressions takes a moment.
    monkeypatch.setattr(normal_form, "NORMAL_FORM_SECONDS", 0.5)
    monkeypatch.setattr(prove, "SYMBOLIC_BUDGET_SECONDS", {"quick": 0.5, "full": 0.5})
    nested = T + 1
    for _ in range(30):
        nested = sp.sin(nested)
    sched = get_schedule("edm")
    lhs = sp.diff(nested, T, 2)
    rhs = sp.diff(nested * sp.diff(sp.log(nested), T), T)  # the same function, written differently
    result = prove.prove_identity("nested", lhs, rhs, sched)
    assert result.method in ("symbolic", "numeric") and result.passed
    wrong = prove.prove_identity("nested, wrong", lhs, rhs * (1 + sp.Rational(1, 10**12)), sched)
    assert not wrong.passed  # the fallback still tells a wrong identity apart
