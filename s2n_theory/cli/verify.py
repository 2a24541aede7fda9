"""``s2n verify``: run the claim checks and print one row per claim × schedule × method."""

from __future__ import annotations

import json
from pathlib import Path

import torch
import typer
from rich.console import Console
from rich.markup import escape

from ..schedule_spec import get_schedule
from ..verification import registry, suite
from ..verification.report import write_report
from ..verification.run_info import FULL_LEVEL_COST, payload, provenance
from .app import app, split_values, user_errors_exit_2

STATUS_COLOURS = {"pass": "green", "fail": "red", "error": "magenta", "skip": "yellow"}


@app.command()
@user_errors_exit_2
def verify(
    only: list[str] = typer.Option(None, "--only", help="Claim ids, e.g. F1,F3 (repeatable)."),
    schedule: list[str] = typer.Option(
        None, "--schedule", "-s",
        help="Built-in name (with parameters), 'general', a spec 'alpha=…; lambda=…', or a .toml/.json spec file "
             "(repeatable)."),
    level: str = typer.Option("quick", "--level", help="quick or full."),
    json_path: Path = typer.Option(None, "--json", help="Write results and summary as JSON here."),
    report_dir: Path = typer.Option(
        None, "--report", help="Write a report here: index.html, report.md and figures/*.png (no network, no JS)."),
) -> None:
    """Check every claim (docs/theory.md) on the general schedule and every built-in (or those given)."""
    # The checks' tensors are small: one thread avoids pool start-up and contention costs.
    torch.set_num_threads(1)
    console = Console(highlight=False)
    claims = split_values(only)
    schedules = [get_schedule(s) for s in schedule] if schedule else None
    suite.select(claims)  # unknown claim ids fail before any work starts
    if level == "full":
        console.print(FULL_LEVEL_COST, soft_wrap=True)
    console.print(f"{'claim':6} {'schedule':28} {'method':10} {'status':6} {'residual':>9} {'tolerance':>9} "
                  f"{'margin':>6} {'time':>8}  detail", soft_wrap=True)

    def show(result: registry.CheckResult) -> None:
        # margin: the share of the tolerance left (1 − residual/tolerance); "exact" for symbolic 0 = 0.
        residual = "-" if result.residual is None else f"{result.residual:.2e}"
        tolerance = "-" if result.tolerance is None else f"{result.tolerance:.2e}"
        if result.margin is not None:
            margin = f"{100 * result.margin:.0f}%" if result.margin > -10 else "<-999%"
        else:
            margin = "exact" if result.tolerance == 0 and result.residual == 0 else "-"
        colour = STATUS_COLOURS[result.status]
        console.print(
            f"{result.claim:6} {escape(result.schedule[:28]):28} {result.method:10} "
            f"[{colour}]{result.status:6}[/{colour}] {residual:>9} {tolerance:>9} {margin:>6} "
            f"{result.seconds:7.2f}s  {escape(result.detail)}", soft_wrap=True)

    results = suite.run(claims, schedules, level, on_result=show)
    summary = registry.summarize(results)
    total = sum(r.seconds for r in results)
    console.print(registry.summary_line(results) + f" ({len(results)} checks, {total:.1f}s)", soft_wrap=True)
    info = provenance(level, [s.name for s in schedules] if schedules else None)
    if json_path is not None:
        json_path.write_text(json.dumps(payload(results, info), indent=2))
    if report_dir is not None:
        written = write_report(results, report_dir, provenance=info)
        console.print(f"report: {written['html']} and {written['markdown']} ({len(written['figures'])} figures)")
    failing = sorted({(r.claim, r.schedule) for r in results if r.status in ("fail", "error")})
    for claim_id, schedule_name in failing:
        console.print(f"{claim_id} on {escape(schedule_name)}: statement, derivation and checks: "
                      f"s2n claims {claim_id} --schedule '{escape(schedule_name)}'", soft_wrap=True)
    if summary["fail"] or summary["error"]:
        raise typer.Exit(1)
