"""The derived formulas of a schedule as SymPy, LaTeX and text labels (``s2n derive``, LaTeX export)."""

from __future__ import annotations

from typing import Any

import sympy as sp

from ..time_limit import TimeLimitExceeded, latest_within
from .forms import ExportForms
from .functions import EXPORTED, ScheduleFunctions
from .printer import safe_comment

DERIVED_LABELS = {
    "alpha": r"\alpha(t)", "sigma": r"\sigma(t)", "log_snr": r"\lambda(t)", "snr": r"\mathrm{SNR}(t)",
    "f": r"f(t)", "g2": r"g(t)^2", "dlog_snr": r"\lambda'(t)", "alpha_ts": r"\alpha_{t|s}",
    "sigma2_ts": r"\sigma^2_{t|s}", "t_of_log_snr": r"t(\lambda)",
}
TEXT_LABELS = {
    "alpha": "alpha(t)", "sigma": "sigma(t)", "log_snr": "lambda(t)", "snr": "SNR(t)", "f": "f(t)",
    "g2": "g(t)^2", "dlog_snr": "lambda'(t)", "alpha_ts": "alpha_{t|s}", "sigma2_ts": "sigma^2_{t|s}",
    "t_of_log_snr": "t(lambda)",
}
SIMPLIFY_SECONDS = 1.5


def _simplify_steps(expr: sp.Expr) -> Any:
    yield expr
    yield sp.simplify(expr)


def derived_formulas(schedule: ScheduleFunctions, simplify: bool = True) -> dict[str, sp.Expr | None]:
    """α, σ, λ, SNR, f, g², λ′, α_{t|s}, σ²_{t|s} and t(λ) as SymPy expressions (simplified within a budget)."""
    exprs: dict[str, sp.Expr | None] = {
        "alpha": schedule.alpha, "sigma": schedule.sigma, "log_snr": schedule.log_snr, "snr": schedule.snr,
        "f": schedule.f, "g2": schedule.g2, "dlog_snr": schedule.dlog_snr,
        "alpha_ts": schedule.alpha_ts, "sigma2_ts": schedule.sigma2_ts,
        "t_of_log_snr": schedule.inverse_log_snr,
    }
    if simplify:
        for key, expr in exprs.items():
            if expr is None:
                continue
            try:
                candidate = latest_within(_simplify_steps, (expr,), SIMPLIFY_SECONDS)
            except (TimeLimitExceeded, RuntimeError):
                continue
            if sp.count_ops(candidate) <= sp.count_ops(expr):
                exprs[key] = candidate
    return exprs


def latex_source(schedule: ScheduleFunctions, forms: ExportForms | None = None) -> str:
    """The derived formulas in LaTeX (an ``align*`` block), plus the exported stable forms when given."""
    exprs = derived_formulas(schedule)
    lines = [f"% Noise schedule {safe_comment(schedule.name)}, derived by s2n-theory (claims F1, F3 of docs/theory.md)",
             r"\begin{align*}"]
    for key in EXPORTED:
        expr = exprs[key]
        if expr is None:
            body = r"\text{no closed form: safeguarded Newton on } \lambda(t) = \lambda"
        else:
            body = sp.latex(expr)
        lines.append(f"  {DERIVED_LABELS[key]} &= {body} \\\\")
    lines.append(rf"  t &\in [{sp.latex(sp.Float(schedule.t_min, 6))}, {sp.latex(sp.Float(schedule.t_max, 6))}]")
    lines.append(r"\end{align*}")
    if forms is not None:
        lines += ["% Stable forms used by the exported code", r"\begin{align*}"]
        rows = []
        for key in EXPORTED:
            expr = forms.exprs.get(key)
            if expr is not None:
                rows.append(f"  {DERIVED_LABELS[key]} &= {sp.latex(expr)}")
        lines.append(" \\\\\n".join(rows))
        lines.append(r"\end{align*}")
    return "\n".join(lines) + "\n"
