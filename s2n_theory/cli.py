"""The ``s2n`` command line, a thin layer over the library and the claim registry.

Every user error (bad schedule text, unknown claim, invalid schedule) prints one
line ``error: …`` on stderr and exits with status 2.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from .errors import S2NError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Signal-to-noise diffusion theory: derive, verify, export.")

F = TypeVar("F", bound=Callable[..., Any])


def user_errors_exit_2(func: F) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except S2NError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def _split(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


@app.command()
@user_errors_exit_2
def verify(
    only: list[str] = typer.Option(None, "--only", help="Claim ids, e.g. F1,F3 (repeatable)."),
    schedule: list[str] = typer.Option(
        None, "--schedule", "-s",
        help="Built-in name (with parameters), 'general', or a spec 'alpha=…; lambda=…' (repeatable)."),
    level: str = typer.Option("quick", "--level", help="quick or full."),
    json_path: Path = typer.Option(None, "--json", help="Write results and summary as JSON here."),
    report_dir: Path = typer.Option(
        None, "--report", help="Write a report here: index.html, report.md and figures/*.png (no network, no JS)."),
) -> None:
    """Check every claim of THEORY.md on the general schedule and every built-in (or those given)."""
    import torch
    from rich.console import Console

    from s2n_theory.library import get_schedule
    from verification import registry

    # The checks' tensors are small: one thread avoids pool start-up and contention costs.
    torch.set_num_threads(1)
    console = Console(highlight=False)
    claims = _split(only)
    schedules = [get_schedule(s) for s in schedule] if schedule else None
    registry.select(claims)  # unknown claim ids fail before any work starts
    colours = {"pass": "green", "fail": "red", "error": "magenta", "skip": "yellow"}
    console.print(f"{'claim':6} {'schedule':28} {'method':10} {'status':6} {'residual':>10} {'time':>8}  detail", soft_wrap=True)

    def show(result: registry.CheckResult) -> None:
        residual = "-" if result.residual is None else f"{result.residual:.2e}"
        colour = colours[result.status]
        console.print(
            f"{result.claim:6} {result.schedule[:28]:28} {result.method:10} [{colour}]{result.status:6}[/{colour}] "
            f"{residual:>10} {result.seconds:7.2f}s  {result.detail}", soft_wrap=True)

    results = registry.run(claims, schedules, level, on_result=show)
    summary = registry.summarize(results)
    total = sum(r.seconds for r in results)
    console.print(", ".join(f"{n} {k}" for k, n in summary.items()) + f" ({len(results)} checks, {total:.1f}s)")
    if json_path is not None:
        payload = {"results": [r.to_dict() for r in results], "summary": summary}
        json_path.write_text(json.dumps(payload, indent=2))
    if report_dir is not None:
        from verification.report import write_report

        written = write_report(results, report_dir)
        console.print(f"report: {written['html']} and {written['markdown']} ({len(written['figures'])} figures)")
    if summary["fail"] or summary["error"]:
        raise typer.Exit(1)


@app.command()
@user_errors_exit_2
def schedules() -> None:
    """List the built-in schedules and their parameters."""
    from s2n_theory.library import BUILTINS

    for builtin in BUILTINS.values():
        params = ", ".join(f"{k}={v:g}" for k, v in builtin.defaults.items())
        typer.echo(f"{builtin.name:16} {builtin.summary}  [{params}]")
    typer.echo(f"{'general':16} undefined alpha(t), lambda(t): symbolic proofs for every schedule")


@app.command()
@user_errors_exit_2
def show(spec: str = typer.Argument(..., help="Schedule name or spec.")) -> None:
    """Print a schedule's α, σ, λ, f, g² and the inverse λ → t."""
    from s2n_theory.library import get_schedule

    sched = get_schedule(spec)
    rows = [("alpha", sched.alpha), ("sigma", sched.sigma), ("lambda", sched.log_snr), ("f", sched.f),
            ("g2", sched.g2), ("lambda'", sched.dlog_snr)]
    for label, expr in rows:
        typer.echo(f"{label:9} = {expr}")
    typer.echo(f"{'domain':9} = [{sched.t_min:g}, {sched.t_max:g}]")
    if not sched.is_general:
        inverse = sched.inverse_log_snr
        typer.echo(f"{'t(lambda)':9} = {inverse if inverse is not None else '(no closed form: bisection on lambda)'}")


COMMAND_MODULES = ("cli_export", "cli_info", "cli_sweep", "cli_weighting")
"""Modules that add commands to ``app`` when imported (each: ``from .cli import app``)."""


def _load_command_modules() -> None:
    import importlib
    import importlib.util

    for name in COMMAND_MODULES:
        if importlib.util.find_spec(f"{__package__}.{name}") is not None:
            importlib.import_module(f"{__package__}.{name}")


def main() -> None:
    _load_command_modules()
    try:
        app()
    except S2NError as exc:  # errors raised while typer parses options
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    # Run through the importable module, so that commands registered on s2n_theory.cli.app
    # by the command modules are the ones this process sees.
    from s2n_theory.cli import main as _main

    _main()
