"""``s2n schedules`` and ``s2n show``: the built-in library and one schedule's formulas."""

from __future__ import annotations

import typer

from .. import forward
from ..builtin_schedules import BUILTINS
from ..schedule_spec import get_schedule
from .app import app, user_errors_exit_2
from .display import readable


@app.command()
@user_errors_exit_2
def schedules() -> None:
    """List the built-in schedules and their parameters."""
    for builtin in BUILTINS.values():
        params = ", ".join(f"{k}={v:g}" for k, v in builtin.defaults.items())
        typer.echo(f"{builtin.name:16} {builtin.summary}  [{params}]")
    typer.echo(f"{'general':16} undefined alpha(t), lambda(t): symbolic proofs for every schedule")


@app.command()
@user_errors_exit_2
def show(
    spec: str = typer.Argument(..., help="Schedule name, spec, or .toml/.json spec file."),
    raw: bool = typer.Option(False, "--raw", help="Print SymPy's raw forms, without simplifying."),
) -> None:
    """Print a schedule's α, σ, λ, f, g² and the inverse λ → t (simplified; --raw for SymPy's raw forms)."""
    sched = get_schedule(spec)
    rows = [("alpha", sched.alpha), ("sigma", sched.sigma), ("lambda", sched.log_snr), ("f", forward.drift(sched)),
            ("g2", forward.diffusion_squared(sched)), ("lambda'", sched.dlog_snr)]
    inverse = None if sched.is_general else sched.inverse_log_snr
    exprs = [expr for _, expr in rows] + [inverse]
    if not raw:
        exprs = readable(exprs)
    for (label, _), expr in zip(rows, exprs, strict=False):
        typer.echo(f"{label:9} = {expr}")
    typer.echo(f"{'domain':9} = [{sched.t_min:g}, {sched.t_max:g}]")
    if not sched.is_general:
        shown = exprs[-1] if exprs[-1] is not None else "(no closed form: safeguarded Newton iteration on lambda)"
        typer.echo(f"{'t(lambda)':9} = {shown}")
