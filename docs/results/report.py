"""Regenerate the tables (tables.md) and figures (docs/figures/) that EXPERIMENTS.md quotes.

Run from the repository root after the sweeps of configs/*.toml:
    PYTHONPATH=. python docs/results/report.py
The paired comparisons need the per-run samples the sweeps saved under docs/results/*/samples/.
"""

import shutil
from pathlib import Path

import torch

from s2n_theory import sweep

torch.set_num_threads(1)
ROOT = Path("docs/results")
FIGURES = Path("docs/figures")
FIGURES.mkdir(parents=True, exist_ok=True)
STUDIES = {"mixture16d": (["sw", "fd"], "sw"), "digits": (["fdd", "fd", "sw"], "fdd")}
parts = []
for prefix, (metrics, _main) in STUDIES.items():
    for study in ("gamma", "gamma_confirm", "gamma_delta", "rho", "nfe"):
        out = ROOT / f"{prefix}_{study}"
        if not (out / "results.jsonl").exists():
            continue
        parts.append(f"### {prefix}_{study}\n\n{sweep.markdown_rows(out, metrics)}\n")
        if study in ("gamma", "gamma_confirm", "gamma_delta"):
            for metric in metrics[:2]:
                parts.append(f"Best vs baseline by {metric} (paired bootstrap, 500 replicates):\n\n"
                             f"{sweep.markdown_comparisons(out, metric)}\n")
        rows = sweep.read_rows(out)
        for metric in metrics[:1]:
            for path in sweep.make_figures(rows, out / "figures", metric):
                kind = path.stem.split("_")[0]
                if (study, kind) in {("gamma", "gamma"), ("gamma_delta", "heatmap"), ("rho", "rho"), ("nfe", "nfe")}:
                    shutil.copy(path, FIGURES / f"{prefix}_{path.name}")
(ROOT / "tables.md").write_text("\n".join(parts))
print("\n".join(parts))
