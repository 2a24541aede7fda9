# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]

# %% [markdown]
# # 6. Sampler experiments (docs/theory.md)
#
# Two parts:
#
# 1. a small, always-computed study: every registered solver at ρ = 0 (exact step B3, Euler
#    on B2, Heun, and the multistep exponential integrators of B5) against a fine fourth-order
#    reference from the same x_T, with the exact mixture oracle as denoiser, error against NFE;
# 2. the results of `s2n sweep` if present: every `results.csv` / `results.jsonl` under
#    `$S2N_SWEEP_RESULTS` (a file or a directory) or, by default, `docs/results/`.

# %%
import csv
import json
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

from s2n_theory import figures
from s2n_theory.verification.theory_doc import claims_markdown

FAST = figures.fast()

# %% [markdown]
# The claims behind these experiments, as the claim registry states them (the same text as docs/theory.md):

# %%
display(Markdown(claims_markdown(["M2", "M4"])))

# %% [markdown]
# ## Error against NFE with the exact oracle
# NFE counts every denoiser call, the final denoising one included. The exact step and Euler
# are first-order methods (slope ≈ −1 in log-log), Heun is second order on smooth stretches;
# with few steps near the data, where the mixture's denoiser bends sharply, all slopes are
# shallower than the asymptotic ones. The multistep solvers (ms2 … ms4, the -pc correctors)
# spend one evaluation per step and reach far lower errors at the same NFE.

# %%
rows = figures.error_vs_nfe(schedule="vp-linear", grid_kind="uniform-lambda")
fig, _ = figures.error_vs_nfe_figure(rows, title="vp-linear, uniform-λ grid: mean |x − x_ref| vs NFE")
plt.show()
slopes = {m: figures.convergence_order(rows, m) for m in sorted({r["method"] for r in rows})}
print("fitted log-log slopes:", {k: round(v, 2) for k, v in slopes.items()})
orders = {m: slopes[m] for m in ("exact", "euler", "heun")}
for method in orders:
    errors = [r["error"] for r in sorted(rows, key=lambda r: r["nfe"]) if r["method"] == method]
    assert all(b < a for a, b in zip(errors, errors[1:], strict=False)), (method, errors)  # more NFE, less error
    assert orders[method] < -0.8, orders
assert orders["heun"] < orders["euler"] - 0.2, orders  # the second-order method converges faster
at_16 = {r["method"]: r["error"] for r in rows if r["nfe"] == 16}
assert at_16["ms3"] < at_16["heun"] and at_16["ms2"] < at_16["exact"], at_16  # one evaluation per step, higher order

# %% [markdown]
# ## Results of `s2n sweep`
# Each results table is plotted as its metric (sliced Wasserstein `sw`, else `fd`) against the
# first swept parameter among NFE, ρ, γ, δ and the grid exponent, one line per combination of
# the other swept settings, averaged over seeds.

# %%
def find_results():
    given = os.environ.get("S2N_SWEEP_RESULTS")
    # Default: docs/results/ of the checkout this library was imported from.
    root = Path(given) if given else Path(figures.__file__).resolve().parents[1] / "docs" / "results"
    if root.is_file():
        return [root]
    if not root.exists():
        return []
    found = {}
    for path in sorted(root.rglob("results.*")):
        if path.suffix in (".csv", ".jsonl", ".json"):
            found.setdefault(path.parent, path)  # one table per sweep directory
    return list(found.values())


def load_rows(path):
    if path.suffix == ".csv":
        with open(path, newline="") as fh:
            return list(csv.DictReader(fh))
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    payload = json.loads(path.read_text())
    return payload["rows"] if isinstance(payload, dict) and "rows" in payload else payload


def as_float(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


tables = find_results()
print("sweep results found:", [str(p) for p in tables] or "none (run `s2n sweep` to add some)")
for path in tables:
    table = [r for r in load_rows(path) if str(r.get("finite", True)).lower() != "false"]
    metric = next((m for m in ("sw", "fd", "mmd", "error") if table and as_float(table[0].get(m)) is not None), None)
    if metric is None:
        print(f"{path}: no metric column, skipped")
        continue
    values = np.array([as_float(r[metric]) for r in table])
    assert np.all(np.isfinite(values)) and np.all(values >= 0), path  # distances are non-negative
    swept = [k for k in ("nfe", "rho", "gamma", "delta", "exponent") if len({str(r.get(k)) for r in table}) > 1]
    others = [k for k in ("schedule", "grid", "method", "rho", "gamma", "delta", "exponent", "nfe")
              if k not in swept[:1] and len({str(r.get(k)) for r in table}) > 1]
    if not swept:
        print(f"{path}: a single setting, {metric} = {values.mean():.4g}")
        continue
    x_key = swept[0]
    groups = {}
    for r in table:
        label = ", ".join(f"{k}={r.get(k)}" for k in others) or metric
        groups.setdefault(label, {}).setdefault(as_float(r[x_key]), []).append(as_float(r[metric]))
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for label, by_x in groups.items():
        xs = sorted(by_x)
        ax.plot(xs, [np.mean(by_x[x]) for x in xs], "o-", ms=4, label=label)
    ax.set(xlabel=x_key, ylabel=metric, title=f"{path.parent.name}: {metric} vs {x_key}",
           xscale="log" if x_key == "nfe" else "linear", yscale="log")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    fig.tight_layout()
    plt.show()
