"""``s2n verify``: run the claim checks and print one row per claim × schedule × method."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import torch
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ..schedule_spec import get_schedule
from ..verification import registry, runner, suite
from ..verification.cache import Cache, default_dir
from ..verification.report import write_report
from ..verification.run_info import FULL_LEVEL_COST, payload, provenance
from .app import app, split_values, user_errors_exit_2
from .output import check_output_dir, check_output_file, write_atomic, write_directory_atomic

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
    jobs: int = typer.Option(None, "--jobs", "-j", help="Worker processes (default: the machine's cores)."),
    no_cache: bool = typer.Option(
        False, "--no-cache", help="Recompute everything; do not read or write the on-disk cache (s2n cache clear)."),
) -> None:
    """Check every claim (docs/theory.md) on the general schedule and every built-in (or those given)."""
    # The checks' tensors are small: one thread avoids pool start-up and contention costs.
    torch.set_num_threads(1)
    console = Console(highlight=False)
    if json_path is not None:
        check_output_file(json_path, "--json")
    if report_dir is not None:
        check_output_dir(report_dir, "--report")
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

    jobs = runner.default_jobs() if jobs is None else jobs
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="s2n-run-") as private:
        # --no-cache still shares the run's form selections between workers, through a folder of its own.
        cache = Cache(private) if no_cache else Cache(default_dir())
        with _progress_display(console) as on_progress:
            results = suite.run(claims, schedules, level, on_result=show, jobs=jobs, cache=cache,
                                on_progress=on_progress)
    wall = time.monotonic() - started
    summary = registry.summarize(results)
    total = sum(r.seconds for r in results)
    console.print(registry.summary_line(results) + f" ({len(results)} checks, {total:.1f}s)", soft_wrap=True)
    cached = sum(r.detail.endswith(runner.CACHED_NOTE) for r in results)
    console.print(f"wall {wall:.1f}s with -j {jobs}; {cached} results from the cache"
                  + (" (disabled: --no-cache)" if no_cache else f" ({escape(str(default_dir()))})"), soft_wrap=True)
    info = provenance(level, [s.name for s in schedules] if schedules else None)
    if json_path is not None:
        write_atomic(json_path, json.dumps(payload(results, info), indent=2), "--json")
    if report_dir is not None:
        written = write_directory_atomic(report_dir, lambda staging: write_report(results, staging, provenance=info),
                                         "--report")
        console.print(f"report: {written['html']} and {written['markdown']} ({len(written['figures'])} figures)")
    failing = sorted({(r.claim, r.schedule) for r in results if r.status in ("fail", "error")})
    for claim_id, schedule_name in failing:
        console.print(f"{claim_id} on {escape(schedule_name)}: statement, derivation and checks: "
                      f"s2n claims {claim_id} --schedule '{escape(schedule_name)}'", soft_wrap=True)
    if summary["fail"] or summary["error"]:
        raise typer.Exit(1)


class _progress_display:
    """Checks done / total, elapsed and ETA: a bar under the rows on a terminal, plain lines on stderr otherwise."""

    PLAIN_EVERY_S = 10.0

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress: Progress | None = None
        self.task = None
        self.started = time.monotonic()
        self.last_line = self.started

    def __enter__(self):
        if self.console.is_terminal:
            # Rows printed through the same console appear above the bar.
            self.progress = Progress(TextColumn("checks"), BarColumn(), MofNCompleteColumn(), TextColumn("elapsed"),
                                     TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                                     console=self.console, transient=True)
            self.progress.start()
        return self.update

    def update(self, done: int, total: int) -> None:
        if self.progress is not None:
            if self.task is None:
                self.task = self.progress.add_task("checks", total=total)
            self.progress.update(self.task, completed=done)
            return
        now = time.monotonic()
        if now - self.last_line >= self.PLAIN_EVERY_S or done == total:
            self.last_line = now
            elapsed = now - self.started
            eta = elapsed / done * (total - done)
            print(f"progress: {done}/{total} checks, elapsed {elapsed:.0f}s, ETA {eta:.0f}s", file=sys.stderr,
                  flush=True)

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()
