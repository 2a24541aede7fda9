"""Choosing the stable form of every exported function by measuring its candidates.

:func:`export_forms` builds, for each function, several mathematically equal
candidates, evaluates each in float64 and float32 on the probe points of
:mod:`.references`, and keeps the cheapest within the targets of :mod:`.forms`
(see the package docstring).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import sympy as sp

from ..arrays import fold_constants
from ..errors import S2NError
from ..symbols import LAMBDA, S, T
from ..time_limit import TimeLimitExceeded, latest_within
from .forms import RTOL32, RTOL64, SELECTION_MARGIN, Candidate, ExportForms
from .functions import ONE_ARG, TWO_ARG, CodegenError, ScheduleFunctions
from .printer import compile_numpy
from .python import build_python_module
from .references import mp_eval, mp_function, probe_pairs, probe_times, reference_inverse
from .rewrite import difference, log_cos_complement, stable_rewrite, trig_complement
from .stable import Expm1, Log1mExp, LogExpm1, Softplus, elementary, is_constant


def _relative_error(values: np.ndarray, ref: np.ndarray, floor: np.ndarray | float) -> float:
    values = np.asarray(values, dtype=np.float64)
    scale = np.abs(ref) + floor
    with np.errstate(all="ignore"):
        err = np.abs(values - ref)
        rel = np.where(err == 0, 0.0, err / np.where(scale > 0, scale, np.inf))
    rel = np.where(np.isfinite(ref) & ~np.isfinite(values), np.inf, rel)
    rel = np.where(np.isfinite(ref), rel, 0.0)
    return float(np.max(rel)) if rel.size else 0.0


def error_floor(name: str, ref: np.ndarray, dlam: np.ndarray | None = None) -> np.ndarray | float:
    """Absolute floor added to |value| in the relative error of ``name``.

    ``log_snr`` is a log-scale quantity and crosses 0, so its error is measured
    against |λ| + 1 (an absolute 1e-12 in λ is a relative 1e-12 in the SNR). The
    inverse is measured against |t| + |λ/λ′|, its condition: no algorithm that
    receives λ rounded to the working precision can do better. Every other
    function is measured purely relatively.
    """
    if name == "log_snr":
        return 1.0
    if name == "t_of_log_snr" and dlam is not None:
        return np.zeros_like(ref)
    return 0.0


SELECTION_SECONDS = 60.0
"""Time limit for measuring the candidate forms of one schedule (each built-in takes under 5 s); past it the plain
derived forms are exported, flagged as such (:func:`plain_forms`)."""

_FORMS_CACHE: dict[tuple, ExportForms] = {}


def _schedule_key(schedule: ScheduleFunctions) -> tuple:
    # Keyed by every expression of the record (not only α, σ, λ): every exported function is chosen
    # against the record's derivation, so a different derivation must never reuse old forms.
    exprs = (schedule.alpha, schedule.sigma, schedule.log_snr, schedule.snr, schedule.f, schedule.g2,
             schedule.dlog_snr, schedule.alpha_ts, schedule.sigma2_ts, schedule.inverse_log_snr)
    # The expressions themselves (structural equality; hashes are cached per node, so a deeply shared
    # tree costs its distinct nodes, where srepr would print every path through it).
    return (*exprs, schedule.t_min, schedule.t_max)


def forms_key(schedule: ScheduleFunctions) -> tuple:
    """The key under which the forms of ``schedule`` are cached (every expression of the record, the domain)."""
    return _schedule_key(schedule)


def remember_forms(schedule: ScheduleFunctions, forms: ExportForms) -> None:
    """Install forms selected earlier (e.g. by another process, stored on disk) for ``schedule``."""
    _FORMS_CACHE[_schedule_key(schedule)] = forms


def export_forms(schedule: ScheduleFunctions) -> ExportForms:
    """Choose and measure the stable form of every exported function (cached per schedule).

    The selection runs under :data:`SELECTION_SECONDS`; past it the plain derived forms are exported
    instead, flagged in :attr:`ExportForms.fallback` (see :func:`_forms_within`).
    """
    if schedule.is_general:
        raise CodegenError("the general schedule has no numeric values; export a concrete schedule")
    key = _schedule_key(schedule)
    if key not in _FORMS_CACHE:
        _FORMS_CACHE[key] = _forms_within(schedule, SELECTION_SECONDS)
    return replace(_FORMS_CACHE[key], name=schedule.name)


def _forms_within(schedule: ScheduleFunctions, seconds: float) -> ExportForms:
    """The measured selection if it ends within ``seconds``, else the plain forms; a clear error if neither.

    The selection rewrites, differentiates, compiles and evaluates at 50 digits some hundred candidate
    trees, and each of those SymPy steps can blow up on a short valid input (a product of 64 factors
    spends minutes there), so the limit is on the whole selection, in one place, and the plain forms are
    the answer ready before it starts.
    """
    try:
        found = latest_within(_selection_steps, (schedule, seconds), seconds)
    except TimeLimitExceeded:
        raise CodegenError(f"schedule {schedule.name!r}: no exportable forms within the {seconds:g} s time limit "
                           "of the form selection (its expressions are too costly to evaluate)") from None
    if isinstance(found, S2NError):
        raise found
    return found


def _selection_steps(schedule: ScheduleFunctions, seconds: float) -> Iterator[ExportForms | S2NError]:
    # The plain forms first (cheap), then the measured selection: the caller keeps the last in time. A user
    # error is yielded, not raised: raised after the plain forms it would be lost behind them.
    try:
        yield plain_forms(schedule, f"the form selection ran past its {seconds:g} s time limit; "
                                    "these are the plain derived forms, not measured")
    except S2NError:
        pass
    try:
        yield _select_forms(schedule)
    except S2NError as exc:
        yield exc


def plain_forms(schedule: ScheduleFunctions, why: str) -> ExportForms:
    """The schedule's functions as derived, unmeasured, with the safeguarded Newton inverse (flagged ``why``).

    Cheap: two 50-digit values of λ (the ends the inverse clips to) and no rewriting, so it is ready
    where the measured selection is not; the exported code is the derivation itself.
    """
    ends = mp_eval(mp_function([T], schedule.log_snr), np.array([schedule.t_min, schedule.t_max]))
    if not np.all(np.isfinite(ends)):
        raise CodegenError(f"schedule {schedule.name!r}: lambda is not finite at an end of the domain")
    exprs: dict[str, sp.Expr | None] = {name: getattr(schedule, name) for name in (*ONE_ARG, *TWO_ARG)}
    exprs["t_of_log_snr"] = None
    label = "as derived (not measured)"
    chosen = {name: Candidate(label, expr, math.nan, math.nan) for name, expr in exprs.items()}
    chosen["t_of_log_snr"] = Candidate("safeguarded Newton (not measured)", None, math.nan, math.nan)
    return ExportForms(
        name=schedule.name, t_min=schedule.t_min, t_max=schedule.t_max,
        log_snr_min=float(ends[1]), log_snr_max=float(ends[0]), exprs=exprs, inverse_closed_form=False,
        variance_preserving=False, chosen=chosen, candidates={k: [c] for k, c in chosen.items()}, fallback=why)


def _log_form(expr: sp.Expr) -> sp.Expr:
    return sp.expand_log(sp.log(expr), force=True)


def _measure(cand: Candidate, args: Sequence[sp.Symbol], columns64: Sequence[np.ndarray],
             ref64: np.ndarray, columns32: Sequence[np.ndarray], ref32: np.ndarray,
             floor64: Any, floor32: Any) -> Candidate:
    assert cand.expr is not None
    try:
        folded = fold_constants(cand.expr)
        func = compile_numpy(args, folded)
        with np.errstate(all="ignore"):
            v64 = np.broadcast_to(func(*columns64), columns64[0].shape)
            v32 = np.broadcast_to(func(*columns32), columns32[0].shape)
        cand.err64 = _relative_error(v64, ref64, floor64)
        cand.err32 = _relative_error(v32, ref32, floor32)
        if v32.dtype != np.float32 and not is_constant(cand.expr):
            cand.err32 = math.inf
        cand.cost = _cost(folded)
    except (CodegenError, TypeError, ValueError, ZeroDivisionError, OverflowError, AttributeError):
        cand.err64 = cand.err32 = math.inf
    return cand


def _cost(expr: sp.Expr) -> int:
    reduced, body = sp.cse(expr)
    total = sum(sp.count_ops(v) for _, v in reduced) + sp.count_ops(body[0])
    heavy = sum(1 for e in sp.preorder_traversal(expr) if isinstance(e, (Softplus, LogExpm1, Log1mExp)))
    return int(total + 2 * heavy)


def _pick(cands: list[Candidate]) -> Candidate:
    ok = [c for c in cands if c.score <= SELECTION_MARGIN]
    if ok:
        return min(ok, key=lambda c: (c.cost, c.score))
    return min(cands, key=lambda c: (c.score, c.cost))


def _unique(cands: list[Candidate]) -> list[Candidate]:
    # Keyed by the expression itself: SymPy caches hashes per node, so shared subtrees are hashed
    # once, where srepr would print every path of a deeply shared tree.
    seen: set[sp.Expr | str] = set()
    out = []
    for c in cands:
        key = c.expr if c.expr is not None else "<newton>"
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out


def _select_forms(schedule: ScheduleFunctions) -> ExportForms:  # noqa: C901 - one pipeline, read top to bottom
    times64 = probe_times(schedule.t_min, schedule.t_max)
    times32 = np.unique(times64.astype(np.float32))
    t64, s64 = probe_pairs(times64)
    t32, s32 = probe_pairs(times32)
    t32_64, s32_64 = t32.astype(np.float64), s32.astype(np.float64)

    reference = {
        "alpha": schedule.alpha, "sigma": schedule.sigma, "log_snr": schedule.log_snr, "snr": schedule.snr,
        "f": schedule.f, "g2": schedule.g2, "dlog_snr": schedule.dlog_snr,
    }
    refs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, expr in reference.items():
        func = mp_function([T], expr)
        refs[name] = (mp_eval(func, times64), mp_eval(func, times32.astype(np.float64)))
    for name in TWO_ARG:
        func = mp_function([T, S], getattr(schedule, name))
        refs[name] = (mp_eval(func, t64, s64), mp_eval(func, t32_64, s32_64))

    # variance preserving: α² + σ² = 1 at every probe (50 digits)
    vp_func = mp_function([T], schedule.alpha**2 + schedule.sigma**2 - 1)
    vp_residual = mp_eval(vp_func, times64)
    variance_preserving = bool(np.all(np.abs(vp_residual) < 1e-30))

    log_sigma = _log_form(schedule.sigma)
    chosen: dict[str, Candidate] = {}
    all_cands: dict[str, list[Candidate]] = {}

    def choose(name: str, exprs: list[tuple[str, sp.Expr]]) -> sp.Expr:
        args = [T, S] if name in TWO_ARG else [T]
        if name in TWO_ARG:
            cols64, cols32 = [t64, s64], [t32, s32]
        else:
            cols64, cols32 = [times64], [times32]
        ref64, ref32 = refs[name]
        cands = _unique([Candidate(label, expr) for label, expr in exprs])
        for cand in cands:
            _measure(cand, args, cols64, ref64, cols32, ref32, error_floor(name, ref64), error_floor(name, ref32))
        pick = _pick(cands)
        chosen[name], all_cands[name] = pick, cands
        return pick.expr

    def two(expr: sp.Expr) -> sp.Expr:
        return expr.subs(T, S)

    # Two variants of every building block: as written, and with cos/tan taken from the
    # complementary angle where that angle is exact (see trig_complement).
    variants = {"": lambda e: e, " [complement]": trig_complement, " [logcos]": log_cos_complement}

    def rewritten(label: str, build: Callable[[Callable[[sp.Expr], sp.Expr]], sp.Expr]) -> list[tuple[str, sp.Expr]]:
        out = []
        for tag, v in variants.items():
            raw = build(v)
            safe = stable_rewrite(raw)
            out.append((label + tag, safe))
            if safe.has(LogExpm1):
                out.append((label + tag + " [plain log(expm1)]", stable_rewrite(raw, overflow_safe=False)))
        return out

    a_forms = {tag: stable_rewrite(v(_log_form(schedule.alpha))) for tag, v in variants.items()}

    alpha = choose("alpha", [
        *rewritten("rewritten", lambda v: v(schedule.alpha)),
        *[(f"exp(log alpha){tag}", sp.exp(a)) for tag, a in a_forms.items()],
        ("as derived", schedule.alpha),
    ])
    lam_forms = rewritten("rewritten", lambda v: v(schedule.log_snr))
    sigma_cands = [
        *rewritten("rewritten", lambda v: v(schedule.sigma)),
        *rewritten("exp(log sigma)", lambda v: sp.exp(_log_form(v(schedule.sigma)))),
        *[(f"alpha exp(-lambda/2){tag}", alpha * sp.exp(-lam / 2)) for tag, lam in lam_forms],
        ("as derived", schedule.sigma),
    ]
    if variance_preserving:
        sigma_cands += [(f"VP sqrt(-expm1(2 log alpha)){tag}", sp.sqrt(-Expm1(2 * a))) for tag, a in a_forms.items()]
    sigma = choose("sigma", sigma_cands)
    lam_cands = [
        *lam_forms,
        *rewritten("2 log alpha - 2 log sigma",
                   lambda v: v(2 * _log_form(schedule.alpha) - 2 * _log_form(schedule.sigma))),
        *[(f"2 log alpha{tag} - 2 log sigma", 2 * a - 2 * stable_rewrite(log_sigma)) for tag, a in a_forms.items()],
        ("as derived", schedule.log_snr),
    ]
    if variance_preserving:
        lam_cands += [(f"VP 2a - log1mexp(2a){tag}", 2 * a - Log1mExp(2 * a)) for tag, a in a_forms.items()]
    lam = choose("log_snr", lam_cands)
    snr_cands = [
        ("exp(lambda)", sp.exp(lam)),
        ("alpha^2/sigma^2", alpha**2 / sigma**2),
        *rewritten("rewritten", lambda v: v(schedule.snr)),
    ]
    if variance_preserving:
        snr_cands += [(f"VP -exp(2a)/expm1(2a){tag}", -sp.exp(2 * a) / Expm1(2 * a)) for tag, a in a_forms.items()]
    choose("snr", snr_cands)
    f = choose("f", [
        *rewritten("(log alpha)'", lambda v: sp.diff(_log_form(v(schedule.alpha)), T)),
        *rewritten("rewritten", lambda v: v(schedule.f)),
        ("as derived", schedule.f),
    ])
    dlam_cands = [
        *rewritten("rewritten", lambda v: v(schedule.dlog_snr)),
        *rewritten("2(log alpha)' - 2(log sigma)'",
                   lambda v: sp.diff(2 * _log_form(v(schedule.alpha)) - 2 * _log_form(v(schedule.sigma)), T)),
        *[(f"(rewritten lambda)'{tag}", stable_rewrite(sp.diff(elementary(e), T))) for tag, e in lam_forms],
        ("as derived", schedule.dlog_snr),
    ]
    if variance_preserving:
        dlam_cands += [(f"VP -2f/expm1(2a){tag}", -2 * f / Expm1(2 * a)) for tag, a in a_forms.items()]
    dlam = choose("dlog_snr", dlam_cands)
    g2_cands = [
        ("-sigma^2 lambda' (F1)", -(sigma**2) * dlam),
        *rewritten("rewritten", lambda v: v(schedule.g2)),
        ("as derived", schedule.g2),
    ]
    if variance_preserving:
        g2_cands.insert(0, ("VP -2f", -2 * f))
    choose("g2", g2_cands)
    choose("alpha_ts", [
        ("alpha_t/alpha_s", alpha / two(alpha)),
        *[(f"exp(log alpha_t - log alpha_s){tag}", sp.exp(difference(a))) for tag, a in a_forms.items()],
    ])
    s2_cands = [
        ("-sigma_t^2 expm1(lambda_t - lambda_s)", -(sigma**2) * Expm1(difference(lam))),
        *[(f"-sigma_t^2 expm1(lambda_t - lambda_s){tag}", -(sigma**2) * Expm1(difference(e))) for tag, e in lam_forms],
        *rewritten("rewritten", lambda v: v(schedule.sigma2_ts)),
    ]
    if variance_preserving:
        s2_cands += [(f"VP -expm1(2(a_t - a_s)){tag}", -Expm1(2 * difference(a))) for tag, a in a_forms.items()]
    choose("sigma2_ts", s2_cands)

    # ---- inverse λ → t
    lam_func = mp_function([T], schedule.log_snr)
    lam64 = mp_eval(lam_func, times64)
    lam32 = lam64.astype(np.float32)
    inv64 = reference_inverse(schedule, lam64, times64)
    inv32 = reference_inverse(schedule, lam32.astype(np.float64), times64)
    dlam_ref = mp_eval(mp_function([T], schedule.dlog_snr), inv64)
    dlam_ref32 = mp_eval(mp_function([T], schedule.dlog_snr), inv32)
    floor64 = np.abs(lam64) / np.abs(dlam_ref) * (2.0**-52 / RTOL64) * 8
    floor32 = np.abs(lam32.astype(np.float64)) / np.abs(dlam_ref32) * (2.0**-23 / RTOL32) * 8
    lam_max, lam_min = float(lam64[0]), float(lam64[-1])
    closed = schedule.inverse_log_snr
    inv_cands: list[Candidate] = []
    if closed is not None:
        for label, expr in (("closed form, rewritten", stable_rewrite(closed)), ("closed form", closed)):
            cand = Candidate(label, expr)
            _measure(cand, [LAMBDA], [lam64], inv64, [lam32], inv32, floor64, floor32)
            inv_cands.append(cand)
    newton = Candidate("safeguarded Newton", None)
    module = build_python_module(schedule.name, schedule.t_min, schedule.t_max, lam_min, lam_max,
                                  {**{k: c.expr for k, c in chosen.items()}, "t_of_log_snr": None}, "numpy")
    with np.errstate(all="ignore"):
        newton.err64 = _relative_error(module.t_of_log_snr(lam64), inv64, floor64)
        newton.err32 = _relative_error(module.t_of_log_snr(lam32), inv32, floor32)
    newton.cost = 10 * (chosen["log_snr"].cost + chosen["dlog_snr"].cost) + 100
    inv_cands.append(newton)
    chosen["t_of_log_snr"] = _pick(inv_cands)
    all_cands["t_of_log_snr"] = inv_cands

    return ExportForms(
        name=schedule.name, t_min=schedule.t_min, t_max=schedule.t_max, log_snr_min=lam_min, log_snr_max=lam_max,
        exprs={k: c.expr for k, c in chosen.items()},
        inverse_closed_form=chosen["t_of_log_snr"].expr is not None, variance_preserving=variance_preserving,
        chosen=chosen, candidates=all_cands,
    )
