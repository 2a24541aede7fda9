"""Check of the exported code (claim X1): it agrees with SymPy at high precision and is finite.

X1: for a concrete schedule, every function of the generated numpy module
(``alpha … t_of_log_snr``, :mod:`s2n_theory.codegen`) agrees with the schedule's
own SymPy expressions (F1 for f and g², F3 for the transition) evaluated by
mpmath at 50 digits to 1e-12 relative in float64 and 1e-5 in float32, and is
finite, on points of the domain that include both endpoints. The inverse is
compared with a 50-digit root of λ(t) = λ found by mpmath, independent of SymPy's
closed form. The test points are seeded and differ from the probe points that
the code generator used to choose its forms.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

import mpmath
import numpy as np

from s2n_theory import codegen, symbolic_memo
from s2n_theory.numeric_schedule import schedule_functions
from s2n_theory.schedule import Schedule
from s2n_theory.symbols import S, T

from .registry import Outcome, Skip, claim_check

DPS = 50


_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _mp(schedule: Schedule, name: str) -> Callable[..., mpmath.mpf]:
    """mpmath function of the schedule's SymPy expression ``name`` (compiled once per schedule)."""
    per = _COMPILED.setdefault(schedule, {})
    if name not in per:
        expr = getattr(schedule_functions(schedule), name)
        args = [T, S] if name in codegen.TWO_ARG else [T]
        per[name] = symbolic_memo.lambdify(args, expr, "mpmath")
    return per[name]


def reference_function(schedule: Schedule, name: str) -> Callable[..., float]:
    """The exact function ``name`` of the schedule, evaluated by mpmath at 50 digits."""
    if name == "t_of_log_snr":
        return lambda lam: float(reference_inverse(schedule, float(lam)))
    func = _mp(schedule, name)

    def evaluate(*values: float) -> float:
        with mpmath.workdps(DPS):
            out = mpmath.mpmathify(func(*(mpmath.mpf(float(v)) for v in values)))
            return float(out.real)

    return evaluate


def reference_inverse(schedule: Schedule, lam: float, guess: float | None = None) -> mpmath.mpf:
    """t in the domain with λ(t) = lam (clipped), at 50 digits: secant from ``guess`` when it
    lands on a verified root inside the domain, else bisection on the decreasing λ."""
    lam_mp = _mp(schedule, "log_snr")
    with mpmath.workdps(DPS):
        a, b = mpmath.mpf(schedule.t_min), mpmath.mpf(schedule.t_max)
        target = mpmath.mpf(lam)
        if target >= lam_mp(a):
            return a
        if target <= lam_mp(b):
            return b
        if guess is not None:
            x0 = mpmath.mpf(guess)
            try:
                root = mpmath.findroot(lambda x: lam_mp(x) - target, (x0, x0 + (b - a) * mpmath.mpf("1e-9")),
                                       solver="secant", tol=mpmath.mpf(10) ** -45, maxsteps=60)
                if a <= root <= b and abs(lam_mp(root) - target) <= mpmath.mpf(10) ** -40 * (1 + abs(target)):
                    return root
            except (ValueError, ZeroDivisionError):
                pass
        for _ in range(180):
            mid = (a + b) / 2
            if lam_mp(mid) > target:
                a = mid
            else:
                b = mid
        return (a + b) / 2


def error_scale(schedule: Schedule, name: str, ref: np.ndarray, inputs: np.ndarray, eps: float) -> np.ndarray:
    """What a relative error is measured against: |value|, plus 1 for λ (a log-scale value that
    crosses 0), plus for the inverse its conditioning |λ/λ′|·eps/rtol (see codegen.error_floor)."""
    if name == "log_snr":
        return np.abs(ref) + 1.0
    if name == "t_of_log_snr":
        dlam = reference_function(schedule, "dlog_snr")
        cond = np.array([abs(lam) / abs(dlam(t)) for lam, t in zip(inputs, ref, strict=True)])
        rtol = codegen.RTOL64 if eps < 1e-10 else codegen.RTOL32
        return np.abs(ref) + cond * 8 * eps / rtol
    return np.abs(ref)


def test_points(schedule: Schedule, n: int = 24, seed: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(t, t2, s2): seeded times with both endpoints, and pairs s2 < t2 for the transition."""
    rng = np.random.default_rng(seed)
    width = schedule.t_max - schedule.t_min
    u = np.concatenate([[0.0, 1.0, 1e-7, 1 - 1e-7], rng.uniform(0, 1, n), 10 ** rng.uniform(-8, -1, 4),
                        1 - 10 ** rng.uniform(-8, -1, 4)])
    t = np.clip(schedule.t_min + width * u, schedule.t_min, schedule.t_max)
    t[u == 1.0] = schedule.t_max
    a, b = rng.uniform(0, 1, n), rng.uniform(0, 1, n)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    s2 = np.concatenate([[schedule.t_min], schedule.t_min + width * lo])
    t2 = np.concatenate([[schedule.t_max], schedule.t_min + width * hi])
    keep = t2 > s2
    return np.unique(t), t2[keep], s2[keep]


def exported_errors(schedule: Schedule, module: object, dtype: type, points: tuple | None = None,
                    to_numpy: Callable[[object], np.ndarray] = np.asarray,
                    from_numpy: Callable[[np.ndarray], object] = lambda x: x) -> dict[str, tuple[float, bool]]:
    """For every exported function: (max error / target, all finite) of ``module`` in ``dtype``."""
    t, t2, s2 = points if points is not None else test_points(schedule)
    t, t2, s2 = (np.asarray(x, dtype=dtype) for x in (t, t2, s2))
    rtol = codegen.RTOL64 if dtype == np.float64 else codegen.RTOL32
    eps = float(np.finfo(dtype).eps)
    results: dict[str, tuple[float, bool]] = {}
    lam_exact = reference_function(schedule, "log_snr")
    lam_in = np.array([lam_exact(x) for x in t], dtype=dtype)
    for name in codegen.EXPORTED:
        func = getattr(module, name)
        if name in codegen.TWO_ARG:
            inputs = (t2, s2)
        elif name == "t_of_log_snr":
            inputs = (lam_in,)
        else:
            inputs = (t,)
        with np.errstate(all="ignore"):
            values = np.asarray(to_numpy(func(*(from_numpy(x) for x in inputs))), dtype=np.float64)
        if name == "t_of_log_snr":
            ref = np.array([float(reference_inverse(schedule, float(x), float(g)))
                            for x, g in zip(lam_in, t, strict=True)])
        else:
            ref_func = reference_function(schedule, name)
            ref = np.array([ref_func(*(float(c[k]) for c in inputs)) for k in range(len(inputs[0]))])
        finite = bool(np.all(np.isfinite(values)))
        scale = error_scale(schedule, name, ref, inputs[0].astype(np.float64), eps)
        err = np.abs(values - ref)
        ratio = np.where(err == 0, 0.0, err / np.where(scale > 0, scale, np.inf)) / rtol
        results[name] = (float(np.max(np.where(np.isfinite(ratio), ratio, np.inf))), finite)
    return results


PLAIN_FORMS_NOTE = "; plain derived forms (form selection past its time limit)"
"""Appended to X1's detail when the exported code is the unmeasured fallback (codegen.selection.plain_forms)."""


@claim_check("X1", "numeric", "exported code agrees with SymPy at high precision and is finite in float32/float64 "
             "on the domain incl. endpoints", general=True)
def check_x1(schedule: Schedule, level: str) -> Outcome:
    if schedule.is_general:
        raise Skip("the general schedule has no numeric values to export", "concrete-only")
    module = codegen.python_module(schedule_functions(schedule), "numpy")
    worst, worst_where, finite = 0.0, "", True
    n = 24 if level == "quick" else 96
    points = test_points(schedule, n=n)
    for dtype in (np.float64, np.float32):
        for name, (ratio, ok) in exported_errors(schedule, module, dtype, points).items():
            finite &= ok
            if ratio >= worst:
                worst, worst_where = ratio, f"{name} in {np.dtype(dtype).name}"
    passed = finite and worst <= 1.0
    # Residual: the worst error as a multiple of its target (tolerance 1); a non-finite value is an infinite error.
    residual = worst if finite else float("inf")
    detail = (f"max error {worst:.2g}x the target (1e-12 float64, 1e-5 float32) at {worst_where}; "
              f"{'all finite' if finite else 'NON-FINITE values'}; inverse "
              f"{'closed form' if getattr(module, 'INVERSE_CLOSED_FORM', False) else 'safeguarded Newton'}"
              f"{'' if getattr(module, 'FORMS_MEASURED', True) else PLAIN_FORMS_NOTE}")
    return Outcome(passed, "numeric", residual, detail, tolerance=1.0)
