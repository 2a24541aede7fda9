"""Figures of the theory, shared by the notebooks (``notebooks/``) and the verification report.

Each ``*_figure`` function computes what it draws with the library itself, returns
``(fig, data)`` where ``data`` holds the numbers behind the plot (so a notebook can
assert on them), and saves a PNG when given a ``path``. Sizes default to small values
when the environment variable ``S2N_FAST=1`` is set (tests, CI) and to larger ones otherwise.

* :func:`schedules_figure`: α, σ, λ and g² (F1) of every built-in schedule;
* :func:`forward_histogram_figure`: Monte Carlo of the forward process (F3 kernel chained
  over a grid) against the exact marginal density of a Gaussian mixture (P3, F5);
* :func:`rho_trajectories_figure`: paths of the ρ-family sampler (B3) for several ρ, and
  their end points against p₀;
* :func:`error_vs_nfe` / :func:`error_vs_nfe_figure`: path error of the registry's solvers at
  ρ = 0 against a fine fourth-order reference, per NFE (§7);
* :func:`information_figure`: I(snr) and mmse(snr) of :func:`reference_distributions` (I1–I3).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import kstest, norm

from . import forward
from .arrays import compile_expression
from .builtin_schedules import builtin_names
from .distributions import Binary, Distribution, Gaussian, Mixture1D, MixtureND, Uniform
from .gaussian_mixture import GaussianMixture
from .information import information
from .numeric_schedule import compile_schedule
from .plotting import SAVE_DPI, panel_grid, plain_log_axis
from .sampling.engine import sample
from .sampling.forward import simulate_forward
from .sampling.grids import time_grid
from .sampling.solvers import SOLVERS, get_solver
from .schedule_spec import get_schedule
from .symbols import T


def fast() -> bool:
    """True when the environment variable ``S2N_FAST`` asks for small sizes (tests and CI)."""
    return os.environ.get("S2N_FAST", "0").lower() not in ("", "0", "false", "no")


def _plt() -> Any:
    import matplotlib  # lazy: only drawing needs it

    if "matplotlib.pyplot" not in sys.modules:  # a notebook keeps its inline backend
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | Path | None) -> None:
    if path is not None:
        fig.savefig(path, dpi=SAVE_DPI)


def demo_mixture() -> Any:
    """The 1-D two-component mixture the figures use as data (asymmetric on purpose)."""
    return GaussianMixture([0.3, 0.7], [[-2.0], [1.5]], [0.15, 0.35])


# ----------------------------------------------------------------------------- schedules (F1)
def schedule_curves(name: str, points: int = 200) -> dict[str, np.ndarray]:
    """α, σ, λ, g² of a schedule on its domain; ``tau`` is t rescaled to [0, 1]."""
    schedule = get_schedule(name)
    # Stay a hair inside the domain: some built-ins have λ = ±∞ or g² = 0 exactly at an end.
    lo, hi = schedule.t_min, schedule.t_max
    t = np.linspace(lo, hi, points)
    t[0], t[-1] = lo + 1e-9 * (hi - lo), hi - 1e-9 * (hi - lo)
    # Compile only the four curves (compile_schedule would also look for λ's inverse).
    exprs = {"alpha": schedule.alpha, "sigma": schedule.sigma, "log_snr": schedule.log_snr,
             "g2": forward.diffusion_squared(schedule)}
    curves = {key: compile_expression([T], expr)(t) for key, expr in exprs.items()}
    out = {"t": t, "tau": (t - lo) / (hi - lo)}
    out.update({key: np.broadcast_to(np.asarray(v, dtype=float), t.shape).copy() for key, v in curves.items()})
    return out


def schedules_figure(path: str | Path | None = None, names: Sequence[str] | None = None) -> tuple[Any, dict]:
    """α, σ, λ, g² against rescaled time for every built-in (or ``names``)."""
    plt = _plt()
    names = list(names or builtin_names())
    data = {name: schedule_curves(name) for name in names}
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    panels = [("alpha", "α(t)", "linear"), ("sigma", "σ(t)", "log"), ("log_snr", "λ(t) = log(α²/σ²)", "linear"),
              ("g2", "g(t)² = −σ²λ′", "log")]
    for ax, (key, label, scale) in zip(axes.flat, panels, strict=True):
        for name in names:
            ax.plot(data[name]["tau"], data[name][key], label=name, lw=1.4)
        ax.set(title=label, xlabel="(t − t_min)/(t_max − t_min)", yscale=scale)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=9, ncol=2)
    fig.suptitle("built-in schedules (F1: f = α′/α, g² = −σ²λ′)")
    fig.tight_layout()
    _save(fig, path)
    return fig, data


# ----------------------------------------------------------------------------- forward Monte Carlo
def mixture_cdf(mixture: Any, x: np.ndarray) -> np.ndarray:
    """CDF of a 1-D Gaussian mixture (for KS tests against Monte Carlo samples)."""
    sd = np.sqrt(np.asarray(mixture.covs, dtype=float).reshape(mixture.n_components))
    mu = np.asarray(mixture.means, dtype=float).reshape(mixture.n_components)
    x = np.asarray(x, dtype=float)[..., None]
    return np.sum(mixture.weights * norm.cdf((x - mu) / sd), axis=-1)


def forward_histogram_figure(
    path: str | Path | None = None,
    schedule: Any = "vp-linear",
    n: int | None = None,
    fractions: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0),
    seed: int = 0,
) -> tuple[Any, dict]:
    """Simulate x₀ ~ mixture forward with the F3 kernel chained through ``fractions`` of the
    domain and compare histograms with the exact marginal density; KS p-values in ``data``."""
    plt = _plt()
    n = n or (4000 if fast() else 40000)
    sched = get_schedule(schedule)
    mixture = demo_mixture()
    lo, hi = sched.t_min, sched.t_max
    times = lo + np.asarray(fractions, dtype=float) * (hi - lo)
    x0 = torch.as_tensor(mixture.sample(n, seed), dtype=torch.float64)
    path_x = simulate_forward(x0, sched, torch.as_tensor(times), method="exact", generator=seed, return_path=True)
    fig, axes = panel_grid(plt, len(times), panel=(4.0, 3.4))
    pvalues = []
    for ax, t, xt in zip(axes, times, path_x, strict=True):
        samples = xt[:, 0].numpy()
        marginal = mixture.marginal(float(t), sched)
        grid = np.linspace(samples.min(), samples.max(), 300)
        density = np.exp(mixture.log_prob(grid[:, None], float(t), sched))
        pvalue = float(kstest(samples, lambda v, m=marginal: mixture_cdf(m, v)).pvalue)
        pvalues.append(pvalue)
        ax.hist(samples, bins=60, density=True, alpha=0.5, color="tab:blue", label="Monte Carlo")
        ax.plot(grid, density, color="black", lw=1.3, label="exact p_t")
        ax.set(title=f"t = {t:.3g}\nKS p = {pvalue:.2f}", xlabel="x")
    axes[0].legend(fontsize=9)
    fig.suptitle(f"forward process on {sched.name}: {n} samples through the F3 kernel vs the exact marginal")
    fig.tight_layout()
    _save(fig, path)
    return fig, {"times": times, "ks_pvalues": np.array(pvalues), "n": n}


# ----------------------------------------------------------------------------- ρ-family trajectories
def rho_trajectories_figure(
    path: str | Path | None = None,
    schedule: Any = "vp-linear",
    rhos: Sequence[float] = (0.0, 0.5, 1.0),
    steps: int | None = None,
    n: int | None = None,
    paths_shown: int = 24,
    seed: int = 0,
) -> tuple[Any, dict]:
    """Run the exact step (B3) with the oracle denoiser for each ρ from the same x_T; plot the
    first paths against λ(t) and the end points against p₀; KS p-values in ``data``."""
    plt = _plt()
    steps = steps or (100 if fast() else 400)
    n = n or (1000 if fast() else 10000)
    sched = get_schedule(schedule)
    num = compile_schedule(sched, "numpy")
    mixture = demo_mixture()
    grid = time_grid(sched, steps, "uniform-lambda")
    lam = np.asarray(num.log_snr(grid.numpy()), dtype=float)
    t_max = float(grid[0])
    prior = mixture.marginal(t_max, sched)
    x_start = torch.as_tensor(prior.sample(n, seed), dtype=torch.float64)
    denoiser = mixture.denoiser(sched)
    # Panels in a near-square grid (one row of four was 4:1 and shrank every label).
    fig, axes = panel_grid(plt, len(rhos) + 1, panel=(5.2, 4.2))
    ends, pvalues = {}, {}
    t_end = float(grid[-1])
    target = mixture.marginal(t_end, sched)
    for ax, rho in zip(axes, rhos, strict=False):
        states = [x_start[:paths_shown, 0].clone()]
        result = sample(denoiser, x_start, sched, grid, method="exact", rho=float(rho), generator=seed + 1,
                        callback=lambda info, s=states: s.append(info["x"][:paths_shown, 0].clone()),
                        denoise_final=False)
        ax.plot(lam, torch.stack(states).numpy(), lw=0.7, alpha=0.8)
        ax.set(title=f"ρ = {rho:g}", xlabel="λ(t)  (noise → data)", ylabel="x_t")
        ax.grid(alpha=0.3)
        end = result.samples[:, 0].numpy()
        ends[float(rho)] = end
        pvalues[float(rho)] = float(kstest(end, lambda v: mixture_cdf(target, v)).pvalue)
    ax = axes[-1]
    xs = np.linspace(-4.5, 4.0, 400)
    for rho, end in ends.items():
        ax.hist(end, bins=70, density=True, histtype="step", lw=1.2, label=f"ρ = {rho:g}  (KS p = {pvalues[rho]:.2f})")
    ax.plot(xs, np.exp(mixture.log_prob(xs[:, None], t_end, sched)), color="black", lw=1.2, label="exact p_t_min")
    ax.set(title="end points", xlabel="x", ylabel="density")
    ax.legend(fontsize=9)
    fig.suptitle(f"ρ-family (B3 exact step, oracle x̂₀) on {sched.name}, {steps} uniform-λ steps, {n} samples")
    fig.tight_layout()
    _save(fig, path)
    return fig, {"ks_pvalues": pvalues, "ends": ends, "steps": steps, "n": n}


# ----------------------------------------------------------------------------- error vs NFE
def error_vs_nfe(
    schedule: Any = "vp-linear",
    methods: Sequence[str] | None = None,
    nfes: Sequence[int] | None = None,
    grid_kind: str = "uniform-lambda",
    n: int | None = None,
    reference_steps: int | None = None,
    seed: int = 0,
) -> list[dict]:
    """Mean |x_N − x_ref| of the deterministic samplers (ρ = 0; default: every registered solver)
    from the same x_T, against a fourth-order (ms3-pc) solve on a fine grid; one row per (method,
    NFE). NFE counts every denoiser call, including the final denoising one."""
    methods = list(SOLVERS) if methods is None else list(methods)
    nfes = list(nfes or ((4, 8, 16, 32) if fast() else (4, 8, 16, 32, 64, 128)))
    n = n or (256 if fast() else 2000)
    reference_steps = reference_steps or (256 if fast() else 1024)
    sched = get_schedule(schedule)
    mixture = demo_mixture()
    denoiser = mixture.denoiser(sched)
    prior = mixture.marginal(sched.t_max, sched)
    x_start = torch.as_tensor(prior.sample(n, seed), dtype=torch.float64)
    reference = sample(denoiser, x_start, sched, time_grid(sched, reference_steps, grid_kind),
                       method="ms3-pc").samples
    rows = []
    for method in methods:
        for budget in nfes:
            # The solver's own NFE count per step, plus the final denoising call.
            solver = get_solver(method)
            if solver.nfe(1) + 1 > budget:
                continue
            steps = solver.steps_for_nfe(budget - 1)
            result = sample(denoiser, x_start, sched, time_grid(sched, steps, grid_kind), method=method)
            error = float((result.samples - reference).abs().mean())
            rows.append({"schedule": sched.name, "method": method, "grid": grid_kind, "steps": steps,
                         "nfe": result.nfe, "error": error})
    return rows


def convergence_order(rows: Sequence[dict], method: str) -> float:
    """Least-squares slope of log(error) against log(NFE) for one method (≈ −order)."""
    pts = [(r["nfe"], r["error"]) for r in rows if r["method"] == method and r["error"] > 0]
    x, y = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
    return float(np.polyfit(x, y, 1)[0])


def error_vs_nfe_figure(rows: Sequence[dict], path: str | Path | None = None,
                        metric: str = "error", title: str | None = None,
                        ylabel: str = "mean |x_N − x_ref|") -> tuple[Any, dict]:
    """Log-log plot of ``metric`` against NFE, one line per (method, grid, schedule, ρ) group."""
    plt = _plt()
    groups: dict[str, list[dict]] = {}
    keys = [k for k in ("method", "grid", "schedule", "rho") if any(k in r for r in rows)]
    for row in rows:
        label = ", ".join(f"{row[k]}" if k == "method" else f"{k}={row[k]}" for k in keys if k in row)
        groups.setdefault(label, []).append(row)
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for label, group in groups.items():
        group = sorted(group, key=lambda r: float(r["nfe"]))
        ax.plot([float(r["nfe"]) for r in group], [float(r[metric]) for r in group], "o-", ms=4, label=label)
    nfe_all = np.array([float(r["nfe"]) for r in rows])
    if len(nfe_all):
        ref = np.array([nfe_all.min(), nfe_all.max()])
        top = max(float(r[metric]) for r in rows)
        ax.plot(ref, top * (ref / ref[0]) ** -1.0, "k:", lw=0.8, label="slope −1")
        ax.plot(ref, top * (ref / ref[0]) ** -2.0, "k--", lw=0.8, label="slope −2")
    ax.set(xscale="log", yscale="log", xlabel="NFE (denoiser evaluations)", ylabel=ylabel,
           title=title or "ODE samplers (ρ = 0) with the exact denoiser: error vs NFE")
    plain_log_axis(ax.xaxis, nfe_all)  # ticks at the NFE values, 8 not 8×10⁰
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)
    return fig, {"groups": groups}


# ----------------------------------------------------------------------------- information (I1–I3)
def reference_distributions() -> dict[str, Distribution]:
    """The distributions of the report figure: unit-variance Gaussian, binary and uniform, and two mixtures."""
    root3 = math.sqrt(3.0)
    return {
        "gaussian(1)": Gaussian(1.0),
        "binary": Binary(),
        "uniform(-sqrt3,sqrt3)": Uniform(-root3, root3),
        "mixture 1-D": Mixture1D((0.3, 0.5, 0.2), (-1.5, 0.2, 2.0), (0.1, 0.4, 0.05)),
        "mixture 2-D (MC, summed over d=2)": MixtureND(
            (0.5, 0.3, 0.2), ((-1.0, 0.5), (1.0, -0.5), (0.0, 1.5)),
            ([[0.3, 0.1], [0.1, 0.2]], [[0.2, -0.05], [-0.05, 0.4]], [[0.1, 0.0], [0.0, 0.1]]),
            samples=4000, seed=1),
    }


def information_figure(path: Any, snr_range: tuple[float, float] = (1e-2, 1e3), close: bool = True) -> Any:
    """Save I(snr) and mmse(snr) for the reference distributions (matplotlib) to ``path``.

    Returns ``path``, or the figure when ``close`` is False (tests inspect it)."""
    plt = _plt()
    fig, (ax_i, ax_m) = plt.subplots(1, 2, figsize=(11, 4.8))
    dense = np.geomspace(*snr_range, 60)
    sparse = np.geomspace(*snr_range, 12)
    for label, dist in reference_distributions().items():
        grid = sparse if isinstance(dist, MixtureND) else dense
        table = information(dist, grid)
        if isinstance(dist, MixtureND):
            ax_i.errorbar(grid, table.mutual_information.value, yerr=2 * table.mutual_information.error,
                          fmt="o", ms=3, label=label)
            ax_m.errorbar(grid, table.mmse.value, yerr=2 * table.mmse.error, fmt="o", ms=3, label=label)
        else:
            ax_i.plot(grid, table.mutual_information.value, label=label)
            ax_m.plot(grid, table.mmse.value, label=label)
    ax_i.set(xscale="log", xlabel="snr", ylabel="I(snr) [nats]", title="mutual information I(x0; sqrt(snr) x0 + eps)")
    ax_m.set(xscale="log", yscale="log", xlabel="snr", ylabel="mmse(snr)", title="mmse (summed over dimensions)",
             ylim=(1e-5, 5))
    ax_i.axhline(math.log(2), color="grey", lw=0.6, ls=":")
    for ax in (ax_i, ax_m):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=SAVE_DPI)
    if not close:
        return fig
    plt.close(fig)
    return path


# ----------------------------------------------------------------------------- all figures
FIGURES = {
    "schedules.png": "α, σ, λ and g² of every built-in schedule (F1)",
    "forward_histogram.png": "Monte Carlo of the forward process vs the exact marginal density (F3, F5, P3)",
    "rho_trajectories.png": "ρ-family trajectories and end points against p₀ (B1, B3)",
    "information.png": "I(snr) and mmse(snr) of the reference distributions (I1–I3)",
    "error_vs_nfe.png": "ODE sampler error against NFE (§7)",
}
"""File name → caption of every figure :func:`write_all` produces."""


def write_all(directory: str | Path) -> dict[str, str]:
    """Write every figure of :data:`FIGURES` into ``directory``; return name → caption."""
    plt = _plt()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name, make in (
        ("schedules.png", lambda p: schedules_figure(p)),
        ("forward_histogram.png", lambda p: forward_histogram_figure(p)),
        ("rho_trajectories.png", lambda p: rho_trajectories_figure(p)),
        ("error_vs_nfe.png", lambda p: error_vs_nfe_figure(error_vs_nfe(), p)),
    ):
        fig, _ = make(directory / name)
        plt.close(fig)
    information_figure(directory / "information.png")
    return dict(FIGURES)
