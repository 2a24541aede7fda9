"""``docs/theory.md``, generated from the claim statements and the registered checks.

``python -m s2n_theory.verification.theory_doc`` rewrites the file; a test fails when the
committed file differs from what this module renders.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .claims import CLAIMS, PARTS, Claim
from .registry import Check
from .suite import load_checks

HEADER = """# The theory that `s2n verify` checks

Generated from `verification/claims.py` by `python -m s2n_theory.verification.theory_doc`;
do not edit by hand. Each claim below is derived once in the package (*derived in*) and
checked by at least one registered check (*checked by*) on the general schedule, whose
α(t) and λ(t) are undefined functions (so a symbolic proof holds for every schedule), and on
every built-in schedule. `s2n claims ID --schedule NAME` prints the derivation for a schedule.

**Notation.** A schedule gives q(x_t | x_0) = N(α(t) x_0, σ(t)² I) on a domain [t_min, t_max],
with α, σ > 0 and log-SNR λ(t) = log(α²/σ²) strictly decreasing; SNR = e^λ and σ² = α² e^{−λ}.
Primes are d/dt, data sit at t = 0, ε and ξ are standard normal, s < t for transitions and
backward steps, and h = (λ_s − λ_t)/2 > 0 is a step's half log-SNR increment. ρ(t) ≥ 0 is the
stochasticity of the backward family (ρ = 0: probability-flow ODE; ρ = 1: reverse SDE).

**Methods.** *symbolic*: SymPy reduced lhs − rhs to exactly 0. *numeric*: evaluated (40-digit
points, quadrature, finite differences or float64 code) — reported as numeric, never as
symbolic. *montecarlo*: seeded simulation with a tolerance from the statistic's standard error.
*gpu*: the sampler on a CUDA device.
"""


def anchor(claim_id: str) -> str:
    """The Markdown anchor of a claim's heading (GitHub's slug of "F1. Title" starts with the id)."""
    claim = CLAIMS[claim_id]
    slug = "".join(ch for ch in f"{claim.id}. {claim.title}".lower() if ch.isalnum() or ch in " -_")
    return slug.replace(" ", "-")


def _checks_line(checks: list[Check]) -> str:
    parts = []
    for check in checks:
        module = check.func.__module__.rsplit(".", 1)[-1]
        parts.append(f"`verification/{module}.py::{check.func.__name__}` ({check.method})")
    return ", ".join(parts) if parts else "**no check registered**"


def _section(claim: Claim, checks: list[Check]) -> str:
    derived = ", ".join(f"`{name}`" for name in claim.derived_in)
    return "\n".join([
        f"### {claim.id}. {claim.title}",
        "",
        "$$",
        claim.latex,
        "$$",
        "",
        claim.text,
        "",
        f"- *Assumptions:* {claim.assumptions}.",
        f"- *Derived in:* {derived}.",
        f"- *Checked by:* {_checks_line(checks)}.",
        f"- *Source:* {claim.reference}.",
        "",
    ])


def claims_markdown(claim_ids: list[str]) -> str:
    """The statements of ``claim_ids`` as Markdown with LaTeX, for notebooks and reports."""
    blocks = []
    for claim_id in claim_ids:
        claim = CLAIMS[claim_id]
        blocks.append(f"**{claim.id}. {claim.title}.** {claim.text}\n\n$$\n{claim.latex}\n$$\n\n"
                      f"*Assumptions:* {claim.assumptions}. *Source:* {claim.reference}.")
    return "\n\n".join(blocks)


def render() -> str:
    """The whole of docs/theory.md."""
    checks = load_checks()
    lines = [HEADER]
    for part, heading in PARTS.items():
        members = [c for c in CLAIMS.values() if c.part == part]
        if not members:
            continue
        lines.append(f"## {heading}\n")
        lines.append("| id | claim |\n|---|---|")
        lines.extend(f"| [{c.id}](#{anchor(c.id)}) | {c.title} |" for c in members)
        lines.append("")
        lines.extend(_section(c, [k for k in checks if k.claim == c.id]) for c in members)
    return "\n".join(lines).rstrip() + "\n"


DOC_PATH = Path(__file__).resolve().parents[1] / "docs" / "theory.md"


def main() -> int:
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DOC_PATH
    target.write_text(render(), encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
