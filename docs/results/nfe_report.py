"""The NFE study across solvers (EXPERIMENTS.md §4): one table, one figure and paired comparisons per target.

Run from the repository root after the sweeps of configs/<target>_nfe.toml, <target>_nfe_ms.toml and
<target>_nfe_ms_rho1.toml (and mixture16d_nfe_ms_ulambda.toml), all with --out docs/results/<config name>:
    PYTHONPATH=. python docs/results/nfe_report.py
    PYTHONPATH=. python docs/results/nfe_report.py digits      # one target only
Writes docs/results/nfe_solvers_<target>.md and docs/figures/<target>_nfe_solvers_<metric>.png. The
paired comparisons (each multistep row at NFE ≤ 35 against the exact step at the same grid, ρ and NFE target:
same seed, so the same start noise; the main metric only) need the per-run samples the sweeps saved
under docs/results/*/samples/.
"""

import math
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from s2n_theory import sweep  # noqa: E402
from s2n_theory.metrics import paired_difference_ci  # noqa: E402
from s2n_theory.plotting import SAVE_DPI, plain_log_axis  # noqa: E402

torch.set_num_threads(1)
ROOT = Path("docs/results")
FIGURES = Path("docs/figures")
TARGETS = {"mixture16d": ["sw", "fd"], "digits": ["fdd", "fd"]}
STUDIES = ("nfe", "nfe_ms", "nfe_ms_rho1", "nfe_ms_ulambda")
METHOD_ORDER = ("exact", "euler", "heun", "ms2", "ms3", "ms4", "ms2-pc", "ms3-pc")
N_BOOT = 200
COMPARE_UP_TO = 35


def rows_of(prefix):
    rows = []
    for study in STUDIES:
        for row in sweep.read_rows(ROOT / f"{prefix}_{study}"):
            if "error" not in row:
                rows.append({**row, "study": f"{prefix}_{study}"})
    return rows


def label(row):
    grid = "" if row["grid"] == "karras" else f", {row['grid']}"
    return f"{row['method']}, ρ = {row['rho']:g}{grid}"


def table(rows, metric, nfe_targets):
    cells = {}
    for r in rows:
        cells[(r["method"], r["rho"], r["grid"], r["nfe_target"])] = r
    lines = ["| method, ρ | " + " | ".join(f"NFE ≈ {n}" for n in nfe_targets) + " |",
             "|---|" + "---|" * len(nfe_targets)]
    for grid, rho in (("karras", 0.0), ("karras", 1.0), ("uniform-lambda", 0.0)):
        for method in METHOD_ORDER:
            if not any((method, rho, grid, n) in cells for n in nfe_targets):
                continue
            row = [label({"method": method, "rho": rho, "grid": grid})]
            for n in nfe_targets:
                r = cells.get((method, rho, grid, n))
                row.append("—" if r is None else
                           f"{r[metric]:.4g} [{r[metric + '_lo']:.3g}, {r[metric + '_hi']:.3g}]"
                           + (f" (NFE {r['nfe']})" if r["nfe"] != n else ""))
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def reference_of(row):
    c = row["config"]
    return sweep.load_target(row["target"], c["checkpoint"], c["edm"], c["reference"], c["sigma_data"],
                             row["samples"], c["device"]).reference


def samples_of(row):
    path = ROOT / row["study"] / "samples" / f"{row['run_id']}.npy"
    return torch.as_tensor(np.load(path), dtype=torch.float64) if path.exists() else None


def comparisons(rows, metric):
    """Each multistep row minus the exact row at the same ρ and NFE target, paired bootstrap."""
    exact = {(r["grid"], r["rho"], r["nfe_target"]): r for r in rows if r["method"] == "exact"}
    function = sweep.metric_function(metric)
    reference = None
    lines = [f"| method, ρ (grid Karras-7 unless named) | NFE | {metric}: method − exact on the same grid "
             "[95 % paired CI] | verdict |", "|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["grid"], r["rho"], METHOD_ORDER.index(r["method"]), r["nfe_target"])):
        base = exact.get((r["grid"], r["rho"], r["nfe_target"]))
        if not r["method"].startswith("ms") or base is None or r["nfe_target"] > COMPARE_UP_TO:
            continue
        a, b = samples_of(r), samples_of(base)
        if a is None or b is None:
            lines.append(f"| {label(r)} | {r['nfe']} | (samples missing) | |")
            continue
        reference = reference_of(r) if reference is None else reference
        d, lo, hi = paired_difference_ci(function, a, b, reference, n_boot=N_BOOT, seed=1)
        verdict = "better" if hi < 0 else "worse" if lo > 0 else "within noise"
        lines.append(f"| {label(r)} | {r['nfe']} | {d:+.3g} [{lo:+.3g}, {hi:+.3g}] | {verdict} |")
        print(lines[-1], flush=True)
    return "\n".join(lines)


def figure(rows, prefix, metric):
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, rho in zip(axes, (0.0, 1.0), strict=True):
        for method in METHOD_ORDER:
            subset = sorted((r for r in rows if r["method"] == method and r["rho"] == rho and r["grid"] == "karras"),
                            key=lambda r: r["nfe"])
            if len(subset) < 2:
                continue
            xs = [r["nfe"] for r in subset]
            ys = np.array([r[metric] for r in subset])
            err = np.vstack([np.clip(ys - [r[metric + "_lo"] for r in subset], 0, None),
                             np.clip([r[metric + "_hi"] for r in subset] - ys, 0, None)])
            style = "-" if method.startswith("ms") else "--"
            ax.errorbar(xs, ys, yerr=err, marker="o", ms=4, capsize=2, ls=style, label=method)
        ax.set_xscale("log")
        ax.set_yscale("log")
        plain_log_axis(ax.xaxis, [r["nfe"] for r in rows])
        ax.set_xlabel("NFE")
        ax.set_title(f"{rows[0]['target']}, ρ = {rho:g} (edm, Karras-7 grid)", fontsize=10)
        ax.legend(fontsize=8)
    axes[0].set_ylabel(f"{metric} (95 % bootstrap CI)")
    fig.tight_layout()
    path = FIGURES / f"{prefix}_nfe_solvers_{metric}.png"
    fig.savefig(path, dpi=SAVE_DPI)
    plt.close(fig)
    return path


for prefix, metrics in TARGETS.items():
    if len(sys.argv) > 1 and prefix not in sys.argv[1:]:
        continue
    rows = [r for r in rows_of(prefix) if all(r.get(m) is not None and math.isfinite(r[m]) for m in metrics)]
    if not rows:
        continue
    parts = [f"# {prefix}: the NFE study across solvers (generated by docs/results/nfe_report.py)\n"]
    print("figure:", figure(rows, prefix, metrics[0]), flush=True)
    nfe_targets = sorted({r["nfe_target"] for r in rows})
    for metric in metrics:
        parts.append(f"## {metric} vs NFE (95 % bootstrap interval)\n\n{table(rows, metric, nfe_targets)}\n")
    parts.append(f"## multistep vs exact step, {metrics[0]} (paired bootstrap, {N_BOOT} replicates)\n\n"
                 f"{comparisons(rows, metrics[0])}\n")
    (ROOT / f"nfe_solvers_{prefix}.md").write_text("\n".join(parts))
    print("\n".join(parts))
