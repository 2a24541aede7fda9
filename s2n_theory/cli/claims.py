"""``s2n claims``: what each claim states, where it is derived and checked, and its derivation."""

from __future__ import annotations

import json
from pathlib import Path

import sympy as sp
import typer

from ..errors import S2NError
from ..schedule_spec import get_schedule
from ..verification.claims import CLAIMS
from ..verification.suite import load_checks
from ..verification.theory_doc import anchor
from .app import app, user_errors_exit_2


def _statuses(results_path: Path) -> dict[str, str]:
    """Claim id → overall status of a ``s2n verify --json`` file (fail > error > pass > skip)."""
    try:
        rows = json.loads(results_path.read_text(encoding="utf-8"))["results"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise S2NError(f"--json {results_path}: not a readable `s2n verify --json` file ({exc})") from None
    rank = {"fail": 3, "error": 2, "pass": 1, "skip": 0}
    worst: dict[str, str] = {}
    for row in rows:
        claim, status = row.get("claim"), row.get("status")
        if status in rank and rank[status] >= rank.get(worst.get(claim, "skip"), 0):
            worst[claim] = status
    return worst


@app.command("claims")
@user_errors_exit_2
def claims_command(
    claim_id: str = typer.Argument(None, help="A claim id (e.g. B3) to print in full; omit to list all."),
    schedule: str = typer.Option("general", "--schedule", "-s",
                                 help="Schedule whose derivation is printed (built-in, spec, or 'general')."),
    latex: bool = typer.Option(False, "--latex", help="Print the statement and the derivation as LaTeX."),
    results: Path = typer.Option(None, "--json", help="A `s2n verify --json` file: show each claim's last status."),
) -> None:
    """List the claims, or print one claim's statement, assumptions, derivation and checks."""
    if claim_id is None:
        statuses = _statuses(results) if results is not None else {}
        for claim in CLAIMS.values():
            status = f"{statuses.get(claim.id, '-'):6} " if results is not None else ""
            typer.echo(f"{claim.id:4} {status}{claim.title}")
        typer.echo("statements: docs/theory.md; one claim in full: s2n claims ID")
        return
    key = claim_id.strip().upper()
    if key not in CLAIMS:
        raise S2NError(f"unknown claim id {claim_id!r} (known: {', '.join(CLAIMS)})")
    claim = CLAIMS[key]
    typer.echo(f"{claim.id}. {claim.title}")
    typer.echo(f"  {claim.latex if latex else claim.text}")
    typer.echo(f"assumptions: {claim.assumptions}")
    typer.echo(f"derived in:  {', '.join(claim.derived_in)}")
    checks = [c for c in load_checks() if c.claim == key]
    for check in checks:
        module = check.func.__module__.rsplit(".", 1)[-1]
        typer.echo(f"checked by:  verification/{module}.py::{check.func.__name__} ({check.method}): {check.title}")
    typer.echo(f"source:      {claim.reference}")
    typer.echo(f"docs:        docs/theory.md#{anchor(key)}")
    sched = get_schedule(schedule)
    derived = claim.derive(sched)
    if not derived:
        typer.echo("derivation:  numeric by nature (see the checks above)")
        return
    typer.echo(f"derivation on {sched.name}:")
    for name, expr in derived.items():
        shown = sp.latex(expr) if latex else sp.sstr(expr)
        typer.echo(f"  {name} = {shown}")
