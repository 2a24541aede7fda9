"""The theory inside the project: every claim is stated once, docs/theory.md is current, `s2n claims` works,
and nothing in the repository points outside it."""

from __future__ import annotations

import importlib
import subprocess
from pathlib import Path

import pytest
import sympy as sp

from s2n_theory.schedule import Schedule
from s2n_theory.verification import claims, registry, suite, theory_doc
from s2n_theory.verification.report import write_report

ROOT = Path(__file__).resolve().parents[1]


def test_docs_theory_md_is_generated_from_the_registry_and_current() -> None:
    committed = (ROOT / "docs" / "theory.md").read_text(encoding="utf-8")
    assert committed == theory_doc.render(), (
        "docs/theory.md is out of date: run `python -m s2n_theory.verification.theory_doc`")


def test_every_claim_is_stated_once_and_checked() -> None:
    checked = {check.claim for check in suite.load_checks()}
    stated = set(claims.CLAIMS)
    assert checked <= stated  # claim_check refuses unstated claims at import; this says so explicitly
    assert stated - checked == set(), f"claims with no check: {sorted(stated - checked)}"
    for claim in claims.CLAIMS.values():
        assert claim.title and claim.latex and claim.text and claim.assumptions and claim.reference, claim.id
        assert claim.id in theory_doc.render()


def test_a_check_of_an_unstated_claim_is_refused() -> None:
    with pytest.raises(ValueError, match="no statement"):
        registry.claim_check("Q9", "symbolic", "not a claim")


@pytest.mark.parametrize("claim_id", list(claims.CLAIMS))
def test_derived_in_names_exist(claim_id: str) -> None:
    for dotted in claims.CLAIMS[claim_id].derived_in:
        module_name, _, attribute = dotted.rpartition(".")
        module = importlib.import_module(module_name)
        assert hasattr(module, attribute), dotted


@pytest.mark.parametrize("claim_id", [c.id for c in claims.CLAIMS.values() if c.derivation is not None])
def test_derivations_print_for_the_general_schedule(claim_id: str) -> None:
    derived = claims.CLAIMS[claim_id].derive(Schedule.general())
    assert derived and all(isinstance(sp.sympify(v), sp.Basic) for v in derived.values())


def test_anchors_follow_github_slugs() -> None:
    assert theory_doc.anchor("F5") == "f5-fokkerplanck-equation-of-the-marginals"
    assert theory_doc.anchor("I1") == "i1-i-mmse-relation"


def test_nothing_in_the_repository_points_outside_it() -> None:
    outside = "shared" + "/"  # spelt apart so that this file does not match itself
    spec_name = "THEORY" + ".md"
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout")
    offenders = []
    for name in tracked:
        path = ROOT / name
        if path.suffix in {".png", ".jpg", ".pdf"} or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="ignore")
        if outside in text or spec_name in text:
            offenders.append(name)
    assert not offenders, f"files referring outside the repository: {offenders}"


def test_cli_claims_lists_and_explains(run_s2n, s2n_both_ways) -> None:
    listing = s2n_both_ways("claims")
    assert listing.returncode == 0, listing.stderr
    assert all(claim_id in listing.stdout for claim_id in claims.CLAIMS)
    one = run_s2n("claims", "b3", "--schedule", "vp-cosine")
    assert one.returncode == 0, one.stderr
    for needle in ("B3. Exact step", "derived in:", "backward_checks.py::check_b3", "source:",
                   "derivation on vp-cosine:", "c_x0 ="):
        assert needle in one.stdout
    latex = run_s2n("claims", "F1", "--latex")
    assert latex.returncode == 0 and r"\frac{\alpha'(t)}{\alpha(t)}" in latex.stdout
    numeric = run_s2n("claims", "M2")
    assert numeric.returncode == 0 and "numeric by nature" in numeric.stdout


def test_cli_claims_bad_input_is_one_line_exit_2(tmp_path: Path, run_s2n) -> None:
    unknown = run_s2n("claims", "Z9")
    assert unknown.returncode == 2 and unknown.stderr.strip().startswith("error: unknown claim id")
    assert len(unknown.stderr.strip().splitlines()) == 1
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{not json")
    broken = run_s2n("claims", "--json", str(bad_json))
    assert broken.returncode == 2 and len(broken.stderr.strip().splitlines()) == 1


def test_cli_claims_shows_the_last_status(tmp_path: Path, run_s2n) -> None:
    results = tmp_path / "r.json"
    results.write_text('{"results": [{"claim": "F1", "status": "pass"}, {"claim": "F2", "status": "fail"},'
                       ' {"claim": "F2", "status": "pass"}]}')
    out = run_s2n("claims", "--json", str(results)).stdout
    assert any(line.startswith("F1") and "pass" in line for line in out.splitlines())
    assert any(line.startswith("F2") and "fail" in line for line in out.splitlines())
    assert any(line.startswith("F3") and " - " in line for line in out.splitlines())


def test_report_links_rows_to_statements(tmp_path: Path) -> None:
    rows = [registry.CheckResult("B3", "edm", "symbolic", "pass", 0.0, 0.1, "")]
    written = write_report(rows, tmp_path, figures=False)
    page = written["html"].read_text(encoding="utf-8")
    assert 'href="#claim-B3"' in page and 'id="claim-B3"' in page
    assert claims.CLAIMS["B3"].text.split(";")[0] in page
    markdown = written["markdown"].read_text(encoding="utf-8")
    assert "[B3](#claim-B3)" in markdown and "### B3." in markdown
