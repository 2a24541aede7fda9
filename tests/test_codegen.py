"""Exported code: every built-in to every backend, agreement with 50-digit SymPy/mpmath, stability, C, CLI."""

from __future__ import annotations

import ast
import ctypes
import math
import shutil
import subprocess
from pathlib import Path

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from s2n_theory import codegen
from s2n_theory.arrays import fold_constants
from s2n_theory.builtin_schedules import builtin_names
from s2n_theory.codegen import Expm1, Log1p, Softplus, difference, elementary, stable_rewrite
from s2n_theory.numeric_schedule import compile_schedule, schedule_functions
from s2n_theory.schedule_spec import get_schedule
from s2n_theory.symbols import S, T
from s2n_theory.verification import export_checks
from s2n_theory.verification.registry import Check, run_check

torch = pytest.importorskip("torch")

HYPOTHESIS = settings(max_examples=2, deadline=None, derandomize=True, phases=(Phase.explicit, Phase.generate),
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

OTHER_LIBM_FLOAT32_ALLOWANCE = 2.0
"""The forms are chosen by measuring numpy; torch and jax use other float32 libm kernels, which at the worst
point (vp-cosine's lambda at t_max: 0.65x the 1e-5 target in numpy) were measured at up to 1.14x. Their float32
comparison therefore allows 2x the target; float64 and numpy/C float32 are held to the target itself."""

KNOWN_FLOAT32_LIMITS: dict[tuple[str, str], float] = {}
"""(schedule, function) -> allowed multiple of the float32 target, for measured limitations (none at present)."""


@pytest.fixture(scope="module")
def builtins():
    return {name: get_schedule(name) for name in builtin_names()}


def _jax():
    try:
        import jax
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    return jax


def _converters(backend):
    if backend == "numpy":
        return np.asarray, lambda x: x
    if backend == "torch":
        return (lambda x: x.detach().cpu().numpy()), torch.from_numpy
    return np.asarray, lambda x: x


def _points(schedule, us, pair_us):
    width = schedule.t_max - schedule.t_min
    t = np.unique(np.clip(schedule.t_min + width * np.array([0.0, 1.0, *us]), schedule.t_min, schedule.t_max))
    t[-1] = schedule.t_max
    lo = np.array([min(a, b) for a, b in pair_us])
    hi = np.array([max(a, b) for a, b in pair_us])
    keep = hi - lo > 1e-9
    s2 = np.concatenate([[schedule.t_min], schedule.t_min + width * lo[keep]])
    t2 = np.concatenate([[schedule.t_max], schedule.t_min + width * hi[keep]])
    return t, t2, s2


def _assert_agrees(schedule, module, backend, points):
    to_numpy, from_numpy = _converters(backend)
    for dtype in (np.float64, np.float32):
        errors = export_checks.exported_errors(schedule, module, dtype, points, to_numpy, from_numpy)
        for name, (ratio, finite) in errors.items():
            limit = 1.0
            if dtype == np.float32:
                limit = KNOWN_FLOAT32_LIMITS.get((schedule.name, name), 1.0)
                if backend in ("torch", "jax"):
                    limit *= OTHER_LIBM_FLOAT32_ALLOWANCE
            assert finite, f"{schedule.name} {backend} {name} not finite in {np.dtype(dtype).name}"
            assert ratio <= limit, f"{schedule.name} {backend} {name} {np.dtype(dtype).name}: {ratio:.3g}x the target"


unit = st.floats(0.0, 1.0, allow_nan=False)
near_ends = st.one_of(unit, st.floats(1e-10, 1e-3).map(lambda x: x), st.floats(1e-10, 1e-3).map(lambda x: 1 - x))


@pytest.mark.parametrize("name", builtin_names())
def test_builtin_exports_agree_with_mpmath(builtins, name):
    """numpy, torch and jax modules agree with the 50-digit values (1e-12 / 1e-5) at drawn points."""
    schedule = builtins[name]
    functions = schedule_functions(schedule)
    modules = {backend: codegen.load_python_module(codegen.export(functions, backend)["module"], backend)
               for backend in ("numpy", "torch") + (("jax",) if _jax() else ())}

    @HYPOTHESIS
    @given(st.lists(near_ends, min_size=1, max_size=6), st.lists(st.tuples(unit, unit), min_size=1, max_size=4))
    def check(us, pair_us):
        points = _points(schedule, us, pair_us)
        for backend, module in modules.items():
            _assert_agrees(schedule, module, backend, points)

    check()


USER_FAMILIES = [
    ("beta={b0} + {b1}*t; domain=[1e-3, 1]", {"b0": (0.05, 1.0), "b1": (2.0, 25.0)}),
    ("alpha=exp(-{k}*t**2); lambda={l0} - {l1}*t; domain=[0, 1]", {"k": (0.1, 2.0), "l0": (-2.0, 8.0),
                                                                    "l1": (4.0, 16.0)}),
    ("alpha=1; sigma={s0}*exp({k}*t); domain=[0, 1]", {"s0": (0.01, 1.0), "k": (1.0, 8.0)}),
    ("alpha=cos(pi*t/2); sigma={c}*sin(pi*t/2); domain=[0.01, 0.99]", {"c": (0.5, 2.0)}),
]


@pytest.mark.slow  # > 10 s on two cores: runs in `pytest -m slow` (CI)
@settings(max_examples=4, deadline=None, derandomize=True, phases=(Phase.explicit, Phase.generate),
          suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(USER_FAMILIES) - 1), st.lists(st.floats(0, 1), min_size=3, max_size=3),
       st.lists(near_ends, min_size=1, max_size=5), st.lists(st.tuples(unit, unit), min_size=1, max_size=3))
def test_random_user_schedules_export_and_agree(family, draws, us, pair_us):
    template, ranges = USER_FAMILIES[family]
    values = {key: round(lo + (hi - lo) * u, 3) for (key, (lo, hi)), u in zip(ranges.items(), draws, strict=False)}
    schedule = get_schedule(template.format(**values))
    module = compile_schedule(schedule, "numpy").module
    _assert_agrees(schedule, module, "numpy", _points(schedule, us, pair_us))


def test_generated_python_imports_only_its_backend(builtins):
    allowed = {"numpy": {"numpy", "math"}, "torch": {"torch"}, "jax": {"jax", "jax.numpy", "jax.scipy.special"}}
    for name in ("vp-linear", "vp-cosine"):
        for backend, ok in allowed.items():
            tree = ast.parse(codegen.export(schedule_functions(builtins[name]), backend)["module"])
            imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
            imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
            assert imported <= ok, (backend, imported)
            defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
            assert set(codegen.EXPORTED) <= defined


def test_lambdify_returns_the_generated_code(builtins):
    schedule = builtins["sub-vp"]
    num = compile_schedule(schedule, "numpy")
    text = codegen.export(schedule_functions(schedule), "numpy")["module"]
    module = codegen.load_python_module(text, "numpy")
    t = np.linspace(schedule.t_min, schedule.t_max, 11)
    for name in ("alpha", "sigma", "log_snr", "snr", "f", "g2", "dlog_snr"):
        np.testing.assert_array_equal(getattr(num, name)(t), getattr(module, name)(t))
    np.testing.assert_array_equal(num.sigma2_ts(t[5:], t[:6]), module.sigma2_ts(t[5:], t[:6]))
    np.testing.assert_array_equal(num.t_of_log_snr(num.log_snr(t)), module.t_of_log_snr(module.log_snr(t)))


def test_inverse_closed_form_or_newton(builtins):
    assert not compile_schedule(builtins["sub-vp"], "numpy").module.INVERSE_CLOSED_FORM  # SymPy finds no inverse
    assert compile_schedule(builtins["edm"], "numpy").module.INVERSE_CLOSED_FORM
    for name in ("sub-vp", "edm", "rectified-flow"):
        sched = builtins[name]
        for backend, to_numpy in (("numpy", np.asarray), ("torch", lambda x: x.numpy())):
            num = compile_schedule(sched, backend)
            t = np.linspace(sched.t_min, sched.t_max, 9)
            lam = num.log_snr(t if backend == "numpy" else torch.from_numpy(t))
            np.testing.assert_allclose(to_numpy(num.t_of_log_snr(lam)), t, rtol=1e-10)
            # out of range: clipped to the domain, finite
            out = to_numpy(num.t_of_log_snr(lam[:1] * 0 + np.array([1e3, -1e3])))
            np.testing.assert_allclose(out, [sched.t_min, sched.t_max])


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_newton_inverse_converges_in_few_iterations_endpoints_included(builtins, backend):
    # The safeguard once threw a converged point back to bisection (its last step, under an ulp, landed on the
    # bracket end just moved to t), so most inverses ran all 60 iterations; quadratic convergence needs ~15.
    newton = [name for name in builtin_names()
              if not compile_schedule(builtins[name], "numpy").module.INVERSE_CLOSED_FORM]
    assert newton, "no built-in uses the Newton inverse"
    for name in newton:
        sched = builtins[name]
        module = codegen.load_python_module(codegen.module_source(schedule_functions(sched), backend), backend)
        calls = []
        evaluate = module.log_snr
        module.log_snr = lambda t, evaluate=evaluate, calls=calls: calls.append(1) or evaluate(t)
        lam = np.linspace(module.LOG_SNR_MIN, module.LOG_SNR_MAX, 201)
        t = module.t_of_log_snr(lam if backend == "numpy" else torch.from_numpy(lam))
        t = np.asarray(t if backend == "numpy" else t.numpy())
        assert len(calls) <= 20, (name, len(calls))
        # λ of the answer, at 30 digits from the schedule's own expression, is the target.
        exact = sp.lambdify(T, sched.log_snr, "mpmath")
        with mpmath.workdps(30):
            back = np.array([float(exact(mpmath.mpf(float(x)))) for x in t])
        slope = np.abs(np.asarray(compile_schedule(sched, "numpy").dlog_snr(t)))
        # within a few ulps of t: |Δλ| ≤ |λ′| · 8 eps · t
        assert np.all(np.abs(back - lam) <= slope * 8 * np.finfo(float).eps * t + 1e-12 * (1 + np.abs(lam))), name


def test_torch_keeps_dtype_and_device(builtins):
    num = compile_schedule(builtins["vp-cosine"], "torch")
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        for dtype in (torch.float32, torch.float64):
            t = torch.linspace(0.001, 0.999, 7, dtype=dtype, device=device)
            for name in ("alpha", "g2", "t_of_log_snr"):
                out = getattr(num, name)(t)
                assert out.dtype == dtype and out.device == t.device and torch.isfinite(out).all()
            out = num.sigma2_ts(t[4:], t[:3])
            assert out.dtype == dtype and out.shape == (3,)


def test_vp_variance_needs_the_stable_form(builtins):
    """At t_min, σ² = 1 − e^{−B} is B ≈ 1e-4: the naive float32 form loses ~3 digits, the export does not."""
    sched = builtins["vp-linear"]
    t32 = np.float32(sched.t_min)
    B = sp.Rational(1, 10) * T + (20 - sp.Rational(1, 10)) * T**2 / 2
    with mpmath.workdps(40):
        exact = float(mpmath.sqrt(-mpmath.expm1(-sp.lambdify(T, B, "mpmath")(mpmath.mpf(float(t32))))))
    b32 = np.float32(0.1) * t32 + np.float32(9.95) * t32 * t32
    naive = np.sqrt(np.float32(1) - np.exp(-b32))
    exported = compile_schedule(sched, "numpy").sigma(t32)
    assert abs(naive - exact) / exact > 1e-5
    assert abs(float(exported) - exact) / exact < 1e-6


def test_stable_rewrites_are_identities():
    x, y = sp.symbols("x y", positive=True)
    assert stable_rewrite(sp.exp(T) - 1) == Expm1(T)
    assert stable_rewrite(sp.log(1 + sp.exp(T))) == Softplus(T)
    assert stable_rewrite(sp.log(1 + T**2)).has(Log1p)
    exprs = [sp.sqrt(1 - sp.exp(-T**2 - T)), -sp.log(sp.exp(3 * T) - 1), sp.log(1 - sp.exp(-T)),
             sp.sqrt(1 + 4 * T) - 1, sp.log(sp.exp(T) + 1) - T, 1 - sp.cos(T) ** 2 / sp.cos(sp.Rational(1, 5)) ** 2,
             sp.log(sp.cos(T / 3))]
    rng = np.random.default_rng(0)
    for expr in exprs:
        assert stable_rewrite(expr) != expr
        rewritten = elementary(stable_rewrite(expr))
        for value in (sp.Rational(repr(float(v))) for v in rng.uniform(0.3, 1.2, 5)):
            a = complex(expr.subs(T, value).evalf(30))
            gap = complex((expr - rewritten).subs(T, value).evalf(30))
            assert abs(gap) <= 1e-25 * max(1.0, abs(a)), expr
    for expr in (T**2 + T, sp.exp(T**2), sp.log(1 + T), sp.tan(T), sp.Rational(3, 2) ** T):
        d = elementary(difference(expr))
        for tv, sv in ((sp.Rational(7, 10), sp.Rational(1, 5)), (sp.Rational(1, 2), sp.Rational(49, 100))):
            exact = (expr.subs(T, tv) - expr.subs(T, sv)).evalf(30)
            assert abs(d.subs({T: tv, S: sv}).evalf(30) - exact) <= 1e-25 * max(1, abs(exact))


def _compile_c(schedule, tmp_path: Path, prefix: str):
    files = codegen.export(schedule_functions(schedule), "c", prefix=prefix, header_name=f"{prefix}.h")
    (tmp_path / f"{prefix}.h").write_text(files["header"])
    (tmp_path / f"{prefix}.c").write_text(files["source"])
    libs = {}
    for dtype, flags in ((np.float64, []), (np.float32, ["-DS2N_FLOAT"])):
        # One compiler run per precision: warnings are errors, and the shared library it builds is the one tested.
        lib = tmp_path / f"lib{prefix}{len(flags)}.so"
        subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", *flags,
                        str(tmp_path / f"{prefix}.c"), "-o", str(lib), "-lm"], check=True, capture_output=True)
        libs[dtype] = ctypes.CDLL(str(lib))
    return libs


class _CModule:
    """Calls the ``*_array`` functions of a compiled export like the Python modules."""

    def __init__(self, lib, prefix, dtype):
        self.lib, self.prefix, self.dtype = lib, prefix, dtype

    def __getattr__(self, name):
        if name not in codegen.EXPORTED:
            raise AttributeError(name)
        func = getattr(self.lib, f"{self.prefix}_{name}_array")
        func.restype = None

        def call(*arrays):
            arrays = [np.ascontiguousarray(a, dtype=self.dtype) for a in np.broadcast_arrays(*arrays)]
            out = np.empty_like(arrays[0])
            func(*(a.ctypes.data_as(ctypes.c_void_p) for a in arrays), out.ctypes.data_as(ctypes.c_void_p),
                 ctypes.c_size_t(out.size))
            return out

        return call


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
@pytest.mark.parametrize("name", builtin_names())
def test_c_export_compiles_and_agrees(builtins, name, tmp_path):
    schedule = builtins[name]
    prefix = codegen.c_identifier(name)
    libs = _compile_c(schedule, tmp_path, prefix)
    points = export_checks.test_points(schedule, n=8, seed=11)
    for dtype, lib in libs.items():
        module = _CModule(lib, prefix, dtype)
        errors = export_checks.exported_errors(schedule, module, dtype, points)
        for func, (ratio, finite) in errors.items():
            limit = KNOWN_FLOAT32_LIMITS.get((name, func), 1.0) if dtype == np.float32 else 1.0
            assert finite and ratio <= limit, (name, func, np.dtype(dtype).name, ratio)


@pytest.fixture
def quick_simplify(monkeypatch):
    monkeypatch.setattr(codegen.latex, "SIMPLIFY_SECONDS", 0.3)


def test_latex_export(builtins, quick_simplify):
    text = codegen.export(schedule_functions(builtins["vp-linear"]), "latex")["latex"]
    assert r"\begin{align*}" in text and r"\operatorname{expm1}" in text and "g(t)^2" in text


def test_general_schedule_cannot_be_exported():
    with pytest.raises(codegen.CodegenError):
        codegen.export(schedule_functions(get_schedule("general")), "numpy")
    with pytest.raises(codegen.CodegenError):
        codegen.export(schedule_functions(get_schedule("edm")), "fortran")


def test_folded_constants_keep_their_value_and_a_non_real_one_is_refused():
    """The one constant folder (arrays.fold_constants) is what the printer prints; it keeps a complex constant
    complex, and the printer refuses to write it."""
    expr = sp.sqrt(2) * sp.pi * T**2 + sp.Rational(3, 7) ** T + sp.sqrt(T + sp.exp(1))
    folded = fold_constants(expr)
    assert not folded.has(sp.pi, sp.E, sp.Rational(3, 7)) and folded.has(sp.Pow(T, 2, evaluate=False))
    for value in (sp.Rational(1, 3), sp.Rational(17, 10)):
        exact = expr.subs(T, value).evalf(40)
        assert abs(folded.subs(T, value).evalf(40) - exact) <= 1e-28 * abs(exact)
    complex_const = fold_constants(sp.log(-2) * T)
    assert complex_const.has(sp.I)
    with pytest.raises(codegen.CodegenError, match="not real"):
        codegen.Printer("numpy", {T: "t"})(complex_const)


# ---------------------------------------------------------------------------- the X1 check
def _x1() -> Check:
    return Check("X1", "numeric", "x1", export_checks.check_x1)


def test_x1_passes_and_skips_general(builtins):
    assert run_check(_x1(), builtins["edm"]).status == "pass"
    assert run_check(_x1(), get_schedule("general")).status == "skip"


@pytest.mark.parametrize("wrong", ["g2 off by 1e-9", "naive sigma"])
def test_x1_fails_on_a_wrong_or_unstable_export(monkeypatch, wrong):
    from dataclasses import replace

    schedule = get_schedule("vp-linear")
    original = codegen.export_forms

    def injected(sched):
        forms = original(sched)
        exprs = dict(forms.exprs)
        if wrong == "g2 off by 1e-9":
            exprs["g2"] = exprs["g2"] * (1 + sp.Rational(1, 10**9))
        else:
            exprs["sigma"] = sched.sigma  # sqrt(1 - exp(-B)): cancels near t_min in float32
        return replace(forms, exprs=exprs)

    monkeypatch.setattr(codegen, "export_forms", injected)
    result = run_check(_x1(), schedule)
    assert result.status == "fail", result.detail


# ---------------------------------------------------------------------------- CLI
def _cli(args):
    from typer.testing import CliRunner

    import s2n_theory.cli  # noqa: F401 - registers the commands
    from s2n_theory.cli import app

    return CliRunner().invoke(app, args)


def test_cli_export_and_derive(tmp_path, quick_simplify):
    out = tmp_path / "edm.py"
    result = _cli(["export", "edm", "--backend", "numpy", "-o", str(out)])
    assert result.exit_code == 0, result.output
    module = codegen.load_python_module(out.read_text(), "numpy")
    assert math.isclose(float(module.sigma(2.0)), 2.0)
    result = _cli(["export", "edm", "--backend", "c", "-o", str(tmp_path / "edm_sched")])
    assert result.exit_code == 0 and (tmp_path / "edm_sched.h").exists() and (tmp_path / "edm_sched.c").exists()
    spec = tmp_path / "mine.toml"
    spec.write_text('alpha = "1"\nsigma = "0.5*exp(3*t)"\ndomain = [0, 1]\nname = "mine"\n')
    result = _cli(["derive", str(spec)])
    assert result.exit_code == 0 and "g(t)^2" in result.output, result.output
    result = _cli(["derive", "vp-linear", "--latex"])
    assert result.exit_code == 0 and r"\begin{align*}" in result.output
    result = _cli(["export", "alpha=__import__('os').system('true'); sigma=t"])
    assert result.exit_code == 2
    bad = tmp_path / "bad.json"
    bad.write_text('{"alpha": "t; beta=1", "sigma": "t"}')
    assert _cli(["export", str(bad)]).exit_code == 2
