"""``s2n weighting``: the weighting w(λ) and λ-density a training recipe implies (W1–W2).

Convention (Kingma & Gao): L = ½ ∫ w(λ) E‖ε̂ − ε‖² dλ; see :mod:`s2n_theory.objectives`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import sympy as sp
import typer

from ..errors import SpecError
from ..expressions import parse_number
from ..objectives import PREDICTIONS, ImpliedWeighting, implied_weighting
from ..recipes import get_recipe
from ..schedule_spec import get_schedule
from ..symbols import LAMBDA
from .app import app, split_values, user_errors_exit_2

CONVENTION = "L = 1/2 * Integral w(lambda) E|eps_hat - eps|^2 dlambda  (Kingma & Gao)"
PLOT_POINTS = 400


def _writable(path: Path | None, option: str, suffix: str | None = None) -> None:
    """Fail before any work if ``path`` cannot be written (missing directory, no permission, wrong type)."""
    if path is None:
        return
    if suffix is not None and path.suffix.lower() != suffix:
        raise SpecError(f"{option}: {path} must end in {suffix}")
    parent = path.resolve().parent
    if not parent.is_dir():
        raise SpecError(f"{option}: cannot write {path}: directory {parent} does not exist")
    if path.is_dir() or not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise SpecError(f"{option}: cannot write {path}: not a writable file")


def _text(expr: sp.Expr | None) -> str | None:
    return None if expr is None else str(expr).replace("lambda", "λ")


def describe(iw: ImpliedWeighting, label: str) -> dict[str, Any]:
    """The JSON record of one weighting: closed forms (strings in 'lambda'), range, mass and a λ-grid."""
    record: dict[str, Any] = {
        "label": label, "schedule": iw.schedule.name, "prediction": iw.prediction,
        "time_density": str(iw.time_density_t), "weight": str(iw.weight_t), "sigma_data": iw.sigma_data,
        "closed_form": iw.closed_form,
        "conversion_factor": str(iw.conversion if iw.conversion is not None else iw.conversion_t),
        "w": None if iw.weighting is None else str(iw.weighting),
        "log_snr_density": None if iw.log_snr_density is None else str(iw.log_snr_density),
        "w_latex": None if iw.weighting is None else sp.latex(iw.weighting),
        "w_of_t": str(iw.weighting_t), "log_snr_density_of_t": str(iw.density_t),
    }
    if not iw.schedule.is_general:
        lo, hi = iw.log_snr_range
        lam = np.linspace(lo, hi, PLOT_POINTS)[1:-1]
        record.update(log_snr_range=[lo, hi], mass=iw.mass(),
                      grid={"lambda": lam.tolist(), "w": iw.w(lam).tolist(),
                            "w_normalised": iw.normalised(lam).tolist(), "log_snr_density": iw.density(lam).tolist()})
    return record


def _print(iw: ImpliedWeighting, record: dict[str, Any]) -> None:
    t_forms = iw.weighting is None
    where = "(in t: no closed-form t(lambda))" if t_forms and not iw.schedule.is_general else ""
    typer.echo(f"  c       = {_text(iw.conversion) if iw.conversion is not None else iw.conversion_t}"
               "   (|h_hat - h|^2 = c |eps_hat - eps|^2)")
    typer.echo(f"  w       = {_text(iw.weighting) if not t_forms else iw.weighting_t} {where}".rstrip())
    typer.echo(f"  p_λ     = {_text(iw.log_snr_density) if not t_forms else iw.density_t} {where}".rstrip())
    if "log_snr_range" in record:
        lo, hi = record["log_snr_range"]
        typer.echo(f"  λ range = [{lo:.6g}, {hi:.6g}], ∫p(t)dt = {record['mass']:.6g}")


def _plot(records: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for record in records:
        ax.plot(record["grid"]["lambda"], record["grid"]["w_normalised"], label=record["label"])
    ax.set(xlabel="λ = log SNR", ylabel="w(λ), normalised to integrate to 1",
           title="implied weightings: L = ½ ∫ w(λ) E‖ε̂ − ε‖² dλ")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=110)
    except OSError as exc:
        raise SpecError(f"--plot: cannot write {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)


@app.command()
@user_errors_exit_2
def weighting(
    schedule: str = typer.Argument(..., help="Built-in name (with parameters), 'general', or a spec."),
    prediction: str = typer.Option(..., "--prediction", "-p", help=f"Target: {', '.join(PREDICTIONS)}."),
    time_density: str = typer.Option(
        "1", "--time-density", help="p(t), text in t, alpha, sigma, logsnr, dlogsnr (default uniform: 1)."),
    weight: str = typer.Option("1", "--weight", help="Loss weight m(t) on the target's squared error (same names)."),
    sigma_data: str = typer.Option("0.5", "--sigma-data", help="EDM's sigma_data (prediction edm)."),
    json_path: Path = typer.Option(None, "--json", help="Write closed forms, λ-range, mass and a λ-grid as JSON."),
    plot_path: Path = typer.Option(None, "--plot", help="PNG of w(λ), normalised, with the --compare recipes."),
    compare: list[str] = typer.Option(
        None, "--compare", help="Built-in recipes to add (repeatable or comma-separated): "
                                "ddpm, iddpm-cosine, eps-cosine, v-cosine, edm, flow, vdm-elbo."),
) -> None:
    """The weighting w(λ) and λ-density implied by training PREDICTION with time density p(t) on SCHEDULE."""

    if prediction not in PREDICTIONS:
        raise SpecError(f"--prediction: unknown {prediction!r} (choose one of {', '.join(PREDICTIONS)})")
    _writable(json_path, "--json")
    _writable(plot_path, "--plot", ".png")
    sched = get_schedule(schedule)
    if plot_path is not None and sched.is_general:
        raise SpecError("--plot: the general schedule has no numeric values; pick a concrete one")
    others = [get_recipe(name) for name in (split_values(compare) or [])]
    iw = implied_weighting(sched, prediction, time_density, weight=weight,
                           sigma_data=parse_number(sigma_data, where="--sigma-data"))
    typer.echo(f"convention: {CONVENTION}")
    typer.echo(f"{sched.name}: prediction {prediction}, p(t) = {time_density}, m(t) = {weight}")
    records = [describe(iw, f"{sched.name}, {prediction}")]
    _print(iw, records[0])
    for recipe in others:
        other = recipe.implied_weighting()
        records.append(describe(other, recipe.name))
        typer.echo(f"{recipe.name}: {recipe.summary}")
        _print(other, records[-1])
    if plot_path is not None:
        _plot(records, plot_path)
        typer.echo(f"plot: {plot_path}")
    if json_path is not None:
        payload = {"convention": CONVENTION, "lambda_symbol": str(LAMBDA), **records[0], "compare": records[1:]}
        try:
            json_path.write_text(json.dumps(payload, indent=2))
        except OSError as exc:
            raise SpecError(f"--json: cannot write {json_path}: {exc.strerror or exc}") from None
