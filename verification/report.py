"""The visual verification report: ``s2n verify --report DIR``.

:func:`write_report` turns the registry's results into ``DIR/index.html`` (inline CSS, no
JavaScript, no network: the page only references image files next to it) and ``DIR/report.md``,
both with

* the provenance of the run (package version, commit, level, seeds, platform, library versions),
* a claim × schedule matrix (one cell per claim and schedule, the worst status of its checks; a
  skipped cell says why),
* the full table of checks (claim, schedule, method, status, residual, tolerance, margin, time, detail),
* the statement of every claim in the results (from :mod:`.claims`), which every claim id links to,
* the figures of :mod:`s2n_theory.figures` as PNG files under ``DIR/figures/``.
"""

from __future__ import annotations

import datetime as _dt
import html
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from s2n_theory.figures import write_all

from .claims import CLAIMS
from .registry import STATUSES, CheckResult, skip_reasons, summary_line

FIGURE_DIR = "figures"
_COLOURS = {"pass": "#1b7f3b", "fail": "#b3261e", "error": "#8e24aa", "skip": "#9a7b00"}
_SYMBOLS = {"pass": "✓", "fail": "✗", "error": "!", "skip": "–"}

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1150px;
       color: #1d1d1f; background: #ffffff; line-height: 1.4; }
h1 { font-size: 1.7em; margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
.summary span { display: inline-block; margin-right: 1.2em; font-weight: 600; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.6em 0; }
th, td { border: 1px solid #d0d0d0; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #f1f3f5; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.cell { text-align: center; font-weight: 700; color: #fff; }
td.cell small { display: block; font-weight: 400; font-size: 0.75em; color: #3a3000; }
.provenance td { font-size: 0.95em; }
.pass { background: #1b7f3b; } .fail { background: #b3261e; } .error { background: #8e24aa; }
.skip { background: #c9a400; } .none { background: #eee; color: #999; }
td.status { font-weight: 700; }
figure { margin: 1.2em 0; } figure img { max-width: 100%; border: 1px solid #e0e0e0; }
figcaption { font-size: 0.9em; color: #444; }
.detail { color: #555; max-width: 38em; }
"""


def _as_results(results: Iterable[CheckResult | dict]) -> list[CheckResult]:
    out = []
    names = tuple(CheckResult.__dataclass_fields__)
    for r in results:
        out.append(r if isinstance(r, CheckResult) else CheckResult(**{k: r[k] for k in names if k in r}))
    return out


def _ordered(values: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for v in values:
        seen.setdefault(v, None)
    return list(seen)


def matrix(results: Sequence[CheckResult]) -> tuple[list[str], list[str], dict[tuple[str, str], str]]:
    """Claims, schedules and the status shown per (claim, schedule)."""
    claims, schedules = _ordered(r.claim for r in results), _ordered(r.schedule for r in results)
    statuses: dict[tuple[str, str], set[str]] = {}
    for r in results:
        statuses.setdefault((r.claim, r.schedule), set()).add(r.status)
    # error beats fail beats pass beats skip: a skipped check never hides a passing one.
    cells = {key: next(s for s in ("error", "fail", "pass", "skip") if s in found) for key, found in statuses.items()}
    return claims, schedules, cells


def summary(results: Sequence[CheckResult]) -> dict[str, int]:
    counts = {s: 0 for s in STATUSES}
    for r in results:
        counts[r.status] += 1
    return counts


def _residual(r: CheckResult) -> str:
    return "-" if r.residual is None else f"{r.residual:.2e}"


def _tolerance(r: CheckResult) -> str:
    return "-" if r.tolerance is None else f"{r.tolerance:.2e}"


def _margin(r: CheckResult) -> str:
    """The unused share of the tolerance, 1 − residual/tolerance; "exact" for a symbolic 0 against 0."""
    if r.margin is not None:
        return f"{100 * r.margin:.0f}%" if r.margin > -10 else "< -999%"
    return "exact" if r.tolerance == 0 and r.residual == 0 else "-"


def skip_cells(results: Sequence[CheckResult]) -> dict[tuple[str, str], str]:
    """Why each skipped (claim, schedule) cell was skipped: its checks' skip reasons, joined."""
    reasons: dict[tuple[str, str], dict[str, None]] = {}
    for r in results:
        if r.status == "skip":
            reasons.setdefault((r.claim, r.schedule), {}).setdefault(r.reason or "not applicable", None)
    return {key: ", ".join(found) for key, found in reasons.items()}


PROVENANCE_FIELDS = (("version", "package version"), ("commit", "git commit"), ("level", "level"),
                     ("schedules", "schedules"), ("seeds", "seeds"), ("false_alarm_rate", "false-alarm rate"),
                     ("started", "started"), ("platform", "platform"), ("python", "Python"), ("torch", "torch"),
                     ("sympy", "SymPy"), ("numpy", "NumPy"), ("scipy", "SciPy"), ("cuda", "CUDA"))


def _provenance_rows(provenance: dict[str, Any] | None) -> list[tuple[str, str]]:
    if not provenance:
        return []
    rows = []
    for key, label in PROVENANCE_FIELDS:
        if key in provenance:
            value = provenance[key]
            rows.append((label, ", ".join(value) if isinstance(value, list) else
                         "not a git checkout" if value is None else str(value)))
    return rows


CONVENTION = ("Every row has a residual and a tolerance in the same sense: the check passes exactly when "
              "residual ≤ tolerance. Symbolic rows: 0 against 0. Numeric rows: an error against its bound. "
              "Statistical rows: the statistic against its threshold at the stated false-alarm rate. "
              "Margin = 1 − residual/tolerance, the share of the tolerance left.")


def _claim_link_html(claim_id: str) -> str:
    e = html.escape
    if claim_id not in CLAIMS:
        return e(claim_id)
    return f'<a href="#claim-{e(claim_id)}" title="{e(CLAIMS[claim_id].title)}">{e(claim_id)}</a>'


def _statements_html(claims: Sequence[str]) -> list[str]:
    e = html.escape
    parts = ["<h2>Claims</h2>"]
    for claim_id in claims:
        if claim_id not in CLAIMS:
            continue
        c = CLAIMS[claim_id]
        parts.append(f'<h3 id="claim-{e(c.id)}">{e(c.id)}. {e(c.title)}</h3>')
        parts.append(f"<p>{e(c.text)}</p>")
        parts.append(f'<p class="detail">Assumptions: {e(c.assumptions)}. Derived in: '
                     f"{e(', '.join(c.derived_in))}. Source: {e(c.reference)}.</p>")
    return parts


def _html(results: Sequence[CheckResult], figure_captions: dict[str, str], title: str,
          provenance: dict[str, Any] | None = None) -> str:
    e = html.escape
    claims, schedules, cells = matrix(results)
    skipped = skip_cells(results)
    counts = summary(results)
    reasons = skip_reasons(results)
    total = sum(r.seconds for r in results)
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f"<title>{e(title)}</title>", f"<style>{_CSS}</style>", "</head>", "<body>",
        f"<h1>{e(title)}</h1>",
        f"<p>Generated {e(_dt.datetime.now(_dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'))}: "
        f"{len(results)} checks of the claims of docs/theory.md in {total:.1f} s.</p>",
        '<p class="summary">' + "".join(
            f'<span style="color:{_COLOURS[s]}">{counts[s]} {s}</span>' for s in STATUSES) + "</p>",
        (f"<p>Skipped, by reason: {e(', '.join(f'{n} {k}' for k, n in reasons.items()))}.</p>" if reasons else ""),
        f"<p>{e(CONVENTION)}</p>",
    ]
    rows = _provenance_rows(provenance)
    if rows:
        parts += ["<h2>Provenance</h2>", '<table class="provenance">']
        parts += [f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in rows]
        parts.append("</table>")
    parts += [
        "<h2>Claims × schedules</h2>",
        "<p>Each cell is the worst status of the claim's checks on that schedule "
        "(✓ pass, ✗ fail, ! error, – skip with its reason; a skip never hides a pass).</p>",
        "<table><tr><th>claim</th>" + "".join(f"<th>{e(s)}</th>" for s in schedules) + "</tr>",
    ]
    for c in claims:
        row = [f"<td><b>{_claim_link_html(c)}</b></td>"]
        for s in schedules:
            status = cells.get((c, s))
            why = skipped.get((c, s), "") if status == "skip" else ""
            note = f' title="skipped: {e(why)}"' if why else ""
            small = f"<small>{e(why)}</small>" if why else ""
            row.append(f'<td class="cell {status or "none"}"{note}>{_SYMBOLS.get(status, "")}{small}</td>')
        parts.append("<tr>" + "".join(row) + "</tr>")
    parts.append("</table>")
    if figure_captions:
        parts.append("<h2>Figures</h2>")
        for name, caption in figure_captions.items():
            parts.append(f'<figure><img src="{FIGURE_DIR}/{e(name)}" alt="{e(caption)}">'
                         f"<figcaption>{e(caption)}</figcaption></figure>")
    parts += [
        "<h2>All checks</h2>",
        "<table><tr><th>claim</th><th>schedule</th><th>method</th><th>status</th><th>residual</th>"
        "<th>tolerance</th><th>margin</th><th>time</th><th>detail</th></tr>",
    ]
    for r in results:
        detail = f"skipped ({r.reason}): {r.detail}" if r.status == "skip" and r.reason else r.detail
        parts.append(
            f"<tr><td>{_claim_link_html(r.claim)}</td><td>{e(r.schedule)}</td><td>{e(r.method)}</td>"
            f'<td class="status" style="color:{_COLOURS[r.status]}">{e(r.status)}</td>'
            f'<td class="num">{_residual(r)}</td><td class="num">{_tolerance(r)}</td>'
            f'<td class="num">{e(_margin(r))}</td><td class="num">{r.seconds:.2f} s</td>'
            f'<td class="detail">{e(detail)}</td></tr>')
    parts.append("</table>")
    parts += _statements_html(claims)
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_grid_cell(status: str | None, why: str) -> str:
    symbol = _SYMBOLS.get(status or "", " ")
    return f"{symbol} {why}" if status == "skip" and why else symbol


def _markdown(results: Sequence[CheckResult], figure_captions: dict[str, str], title: str,
              provenance: dict[str, Any] | None = None) -> str:
    claims, schedules, cells = matrix(results)
    skipped = skip_cells(results)
    lines = [f"# {title}", "", f"{len(results)} checks: {summary_line(results)}.", "", CONVENTION, ""]
    rows = _provenance_rows(provenance)
    if rows:
        lines += ["## Provenance", "", "| | |", "|---|---|"]
        lines += [f"| {k} | {_md_cell(v)} |" for k, v in rows]
        lines.append("")
    lines += ["## Claims × schedules", "",
              "Worst status of the claim's checks per schedule (✓ pass, ✗ fail, ! error, – skip with its reason).", "",
              "| claim | " + " | ".join(schedules) + " |", "|---" * (len(schedules) + 1) + "|"]
    for c in claims:
        lines.append(f"| {_claim_link_md(c)} | " + " | ".join(
            _md_grid_cell(cells.get((c, s)), skipped.get((c, s), "")) for s in schedules) + " |")
    if figure_captions:
        lines += ["", "## Figures", ""]
        for name, caption in figure_captions.items():
            lines += [f"![{caption}]({FIGURE_DIR}/{name})", "", f"*{caption}*", ""]
    lines += ["", "## All checks", "",
              "| claim | schedule | method | status | residual | tolerance | margin | time | detail |",
              "|---|---|---|---|---:|---:|---:|---:|---|"]
    for r in results:
        detail = f"skipped ({r.reason}): {r.detail}" if r.status == "skip" and r.reason else r.detail
        lines.append(f"| {_claim_link_md(r.claim)} | {_md_cell(r.schedule)} | {r.method} | {r.status} | {_residual(r)} | "
                     f"{_tolerance(r)} | {_margin(r)} | {r.seconds:.2f} s | {_md_cell(detail)} |")
    lines += ["", "## Claims", ""]
    for claim_id in claims:
        if claim_id in CLAIMS:
            c = CLAIMS[claim_id]
            lines += [f'<a id="claim-{c.id}"></a>', "", f"### {c.id}. {c.title}", "", c.text, "",
                      f"*Assumptions:* {c.assumptions}. *Derived in:* {', '.join(c.derived_in)}. "
                      f"*Source:* {c.reference}.", ""]
    return "\n".join(lines) + "\n"


def _claim_link_md(claim_id: str) -> str:
    return f"[{claim_id}](#claim-{claim_id})" if claim_id in CLAIMS else claim_id


def write_report(results: Iterable[CheckResult | dict], directory: str | Path, figures: bool = True,
                 title: str = "s2n-theory verification report",
                 provenance: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write ``index.html``, ``report.md`` and (with ``figures``) ``figures/*.png`` into ``directory``.

    ``provenance`` (:func:`.run_info.provenance`) is shown in both files when given.

    Returns the paths written: ``{"html": ..., "markdown": ..., "figures": [...]}``.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rows = _as_results(results)
    captions: dict[str, str] = {}
    if figures:
        captions = write_all(directory / FIGURE_DIR)
    index = directory / "index.html"
    index.write_text(_html(rows, captions, title, provenance), encoding="utf-8")
    markdown = directory / "report.md"
    markdown.write_text(_markdown(rows, captions, title, provenance), encoding="utf-8")
    return {"html": index, "markdown": markdown, "figures": [directory / FIGURE_DIR / n for n in captions]}
