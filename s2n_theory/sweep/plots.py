"""Figures of a sweep's rows: metric against γ, ρ and NFE with bootstrap intervals, and γ × δ heat maps."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ..plotting import SAVE_DPI, cell_text_colour, panel_grid, plain_log_axis


def make_figures(rows: list[dict[str, Any]], folder: Path | str, metric: str) -> list[Path]:
    """Metric vs γ (ρ = 0), γ × δ heat maps (ρ = 1), metric vs ρ and metric vs NFE; returns the files."""
    import matplotlib  # lazy: only drawing needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rows = [r for r in rows if r.get(metric) is not None and math.isfinite(r[metric])]
    made: list[Path] = []

    def errorbar(ax, subset, xkey, label):
        subset = sorted(subset, key=lambda r: r[xkey])
        xs = [r[xkey] for r in subset]
        ys = np.array([r[metric] for r in subset])
        lo = np.array([np.nan if r.get(f"{metric}_lo") is None else r[f"{metric}_lo"] for r in subset], dtype=float)
        hi = np.array([np.nan if r.get(f"{metric}_hi") is None else r[f"{metric}_hi"] for r in subset], dtype=float)
        yerr = np.vstack([np.clip(ys - lo, 0, None), np.clip(hi - ys, 0, None)])
        ax.errorbar(xs, ys, yerr=None if np.isnan(yerr).any() else yerr, marker="o", capsize=3, label=label)

    def lines(by: tuple[str, ...], xkey: str, keep, name: str, xlabel: str, logx: bool = False) -> None:
        groups: dict[tuple, list] = {}
        for r in rows:
            if keep(r):
                groups.setdefault(tuple(r[k] for k in by), []).append(r)
        groups = {k: v for k, v in groups.items() if len({r[xkey] for r in v}) > 1}
        if not groups:
            return
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        for key, members in sorted(groups.items()):
            errorbar(ax, members, xkey, ", ".join(f"{k}={v}" for k, v in zip(by, key, strict=False)))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"{metric} (95% bootstrap CI)")
        if logx:
            ax.set_xscale("log")
            plain_log_axis(ax.xaxis, [r[xkey] for members in groups.values() for r in members])
        ax.legend(fontsize=8)
        ax.set_title(f"{rows[0]['target']}: {name}", fontsize=10)
        fig.tight_layout()
        path = folder / f"{name.split(' ')[0]}_{metric}.png"
        fig.savefig(path, dpi=SAVE_DPI)
        plt.close(fig)
        made.append(path)

    lines(("method", "nfe", "seed"), "gamma", lambda r: r["rho"] == 0.0, "gamma (deterministic, rho=0)", "γ")
    lines(("method", "nfe", "seed"), "rho", lambda r: r["gamma"] == 0.0 and r["delta"] == 0.0,
          "rho (gamma=delta=0)", "ρ")
    lines(("method", "rho", "seed"), "nfe", lambda r: r["gamma"] == 0.0 and r["delta"] == 0.0,
          "nfe (gamma=delta=0)", "NFE", logx=True)
    stochastic = [r for r in rows if r["rho"] == 1.0]
    panels: dict[tuple, list] = {}
    for r in stochastic:
        panels.setdefault((r["method"], r["nfe"]), []).append(r)
    panels = {k: v for k, v in panels.items() if len({r["gamma"] for r in v}) > 1 and len({r["delta"] for r in v}) > 1}
    if panels:
        fig, axes = panel_grid(plt, len(panels), panel=(5.2, 4.4))
        for ax, ((method, nfe), members) in zip(axes, sorted(panels.items()), strict=False):
            gammas = sorted({r["gamma"] for r in members})
            deltas = sorted({r["delta"] for r in members})
            table = np.full((len(deltas), len(gammas)), np.nan)
            for r in members:  # several seeds: their mean
                i, j = deltas.index(r["delta"]), gammas.index(r["gamma"])
                table[i, j] = r[metric] if np.isnan(table[i, j]) else 0.5 * (table[i, j] + r[metric])
            image = ax.imshow(table, origin="lower", aspect="auto", cmap="viridis")
            ax.set_xticks(range(len(gammas)), [f"{g:g}" for g in gammas], fontsize=9)
            ax.set_yticks(range(len(deltas)), [f"{d:g}" for d in deltas], fontsize=9)
            # Cell numbers sized to the cell (fewer cells, larger text) and coloured against their background.
            size = max(7.0, min(12.0, 40.0 / max(len(gammas), len(deltas))))
            for i in range(len(deltas)):
                for j in range(len(gammas)):
                    colour = cell_text_colour(image.cmap(image.norm(table[i, j])))
                    ax.text(j, i, f"{table[i, j]:.3g}", ha="center", va="center", fontsize=size, color=colour)
            ax.set_xlabel("γ")
            ax.set_ylabel("δ")
            ax.set_title(f"{method}, NFE={nfe}, ρ=1: {metric}", fontsize=10)
            fig.colorbar(image, ax=ax)
        fig.tight_layout()
        path = folder / f"heatmap_{metric}.png"
        fig.savefig(path, dpi=SAVE_DPI)
        plt.close(fig)
        made.append(path)
    return made
