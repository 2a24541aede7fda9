"""The verification report as a user sees it: ``s2n verify --report DIR`` writes index.html,
report.md and the figures; headless Chromium renders the page (skipped without a chromium
binary) and the screenshot is not blank; every image the page references exists."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from s2n_theory.cli import app
from s2n_theory.verification.registry import CheckResult
from s2n_theory.verification.report import matrix, write_report

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.scripts = 0
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "img":
            self.images.append(a.get("src") or "")
        if tag == "script":
            self.scripts += 1
        if tag in ("link", "iframe", "object", "embed"):
            self.links.append(a.get("href") or a.get("src") or "")


def _results() -> list[CheckResult]:
    return [
        CheckResult("F1", "general", "symbolic", "pass", 0.0, 0.1, "4 identities reduced to 0"),
        CheckResult("F3", "vdm", "symbolic", "pass", 0.0, 0.2, ""),
        CheckResult("F3", "vdm", "numeric", "skip", None, 0.0, "needs <something> & more"),
        CheckResult("B3", "ve", "numeric", "fail", 1.5e-3, 0.3, "residual | too big"),
        CheckResult("B3", "general", "symbolic", "error", None, 0.0, "RuntimeError: boom"),
        CheckResult("S2", "general", "numeric", "skip", None, 0.0, "needs a concrete schedule"),
    ]


def test_matrix_shows_the_worst_status_and_never_lets_a_skip_hide_a_pass() -> None:
    claims, schedules, cells = matrix(_results())
    assert claims == ["F1", "F3", "B3", "S2"] and schedules == ["general", "vdm", "ve"]
    assert cells[("F3", "vdm")] == "pass"
    assert cells[("B3", "ve")] == "fail" and cells[("B3", "general")] == "error"
    assert cells[("S2", "general")] == "skip" and ("F1", "vdm") not in cells


def test_report_without_figures_escapes_text_and_has_no_script(tmp_path: Path) -> None:
    written = write_report(_results(), tmp_path, figures=False)
    page = written["html"].read_text()
    assert "needs &lt;something&gt; &amp; more" in page  # details are escaped
    parser = _Page()
    parser.feed(page)
    assert parser.scripts == 0 and parser.links == [] and parser.images == []
    md = written["markdown"].read_text()
    assert "residual \\| too big" in md  # a pipe in a detail does not break the table
    # One row per check in both tables.
    assert page.count("<td class=\"detail\">") == len(_results()) and md.count("\n| [B3](#claim-B3) | ve | ") == 1


@pytest.mark.slow
def test_verify_report_renders_in_headless_chromium(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S2N_FAST", "1")
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["verify", "--only", "F1,F2", "-s", "general", "-s", "vdm", "--report", str(out)])
    assert result.exit_code == 0, result.output
    index, md = out / "index.html", out / "report.md"
    assert index.is_file() and md.is_file()
    page = index.read_text()
    parser = _Page()
    parser.feed(page)
    # Self-contained: no scripts, no external resources, every image a local file that exists.
    assert parser.scripts == 0 and parser.links == []
    assert len(parser.images) == 5
    for src in parser.images:
        assert not re.match(r"^[a-z]+:", src), src
        image = out / src
        assert image.is_file() and image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", src
    for src in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md.read_text()):
        assert (out / src).is_file(), src
    # The claim × schedule table has both claims on both schedules.
    for claim in ("F1", "F2"):
        assert f'<td><b><a href="#claim-{claim}"' in page and f'id="claim-{claim}"' in page

    if CHROMIUM is None:
        pytest.skip("no chromium binary: the page was checked, not rendered")
    shot = tmp_path / "shot.png"
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run",
               f"--user-data-dir={tmp_path / 'chromium-profile'}", f"--screenshot={shot}", "--window-size=1200,4000",
               index.resolve().as_uri()]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)[..., :3]
    # Tall enough to reach the figures below the claim grid and the provenance table.
    assert pixels.shape[:2] == (4000, 1200)
    # Not blank: a white page has zero variance; text, tables and figures give plenty.
    assert float(pixels.std()) > 0.05
    # Figures were drawn: a blank page, or one with only text, has no strongly coloured pixels.
    saturation = pixels.max(axis=2) - pixels.min(axis=2)
    assert float(np.mean(saturation > 0.3)) > 0.01


def test_report_shows_provenance_margins_and_why_a_cell_was_skipped(tmp_path: Path) -> None:
    rows = [CheckResult("F1", "general", "symbolic", "pass", 0.0, 0.1, "", tolerance=0.0, title="Forward SDE"),
            CheckResult("F3", "vdm", "numeric", "pass", 2.5e-11, 0.2, "", tolerance=1e-10, margin=0.75),
            CheckResult("I1", "vdm", "symbolic", "skip", None, 0.0, "runs on the general schedule only",
                        reason="general-only")]
    provenance = {"version": "9.9.9", "commit": None, "level": "quick", "torch": "2.x", "sympy": "1.x",
                  "platform": "TestOS", "seeds": "fixed"}
    written = write_report(rows, tmp_path, figures=False, provenance=provenance)
    page, md = written["html"].read_text(), written["markdown"].read_text()
    for text in (page, md):
        assert "9.9.9" in text and "not a git checkout" in text and "TestOS" in text
        assert "75%" in text and "exact" in text  # margins: 1 − residual/tolerance, and symbolic 0 = 0
        assert "1.00e-10" in text  # the tolerance column
        assert "general-only" in text  # the skipped cell says why
    assert 'title="skipped: general-only"' in page
    assert "1 skip (1 general-only)" in md
