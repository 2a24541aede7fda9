"""``s2n export`` and ``s2n derive``: exported code and derived formulas of a schedule.

SCHEDULE is a built-in name (with parameters), a user spec ``"alpha=…; lambda=…"``,
or a ``.toml``/``.json`` file whose keys are the fields of a spec
(``alpha``, ``sigma``, ``lambda``/``log_snr``, ``beta``, ``domain``, ``name``, parameters).
"""

from __future__ import annotations

from pathlib import Path

import sympy as sp
import typer

from .. import codegen
from ..errors import S2NError
from ..numeric_schedule import schedule_functions
from ..schedule_spec import get_schedule
from .app import app, user_errors_exit_2
from .display import readable
from .output import check_output_file, write_atomic

REPORT_HELP = (f"Print the chosen stable forms and their measured errors on stderr (the form selection has a "
               f"{codegen.selection.SELECTION_SECONDS:g} s limit; past it the plain derived forms are exported, "
               "unmeasured, and the report says so).")
C_SUFFIXES = ("", ".c", ".h")
"""What ``-o`` may end in for the C backend: it names the pair FILE.c and FILE.h."""


def _output_paths(output: Path, backend: str, force: bool) -> list[Path]:
    """The files ``-o`` makes ``backend`` write, each checked (C: FILE.h then FILE.c, from -o FILE[.c|.h])."""
    if backend == "c":
        if output.suffix not in C_SUFFIXES:
            raise S2NError(f"-o {output}: the C backend writes FILE.c and FILE.h; give FILE, FILE.c or FILE.h "
                           f"(not a {output.suffix} file)")
        stem = output.with_suffix("")
        paths = [stem.with_name(stem.name + ".h"), stem.with_name(stem.name + ".c")]
    else:
        paths = [output]
    return [check_output_file(path, "-o", overwrite=force) for path in paths]


@app.command("export")
@user_errors_exit_2
def export_command(
    schedule: str = typer.Argument(..., help="Built-in name (with parameters), a spec 'alpha=…; lambda=…', "
                                             "or a .toml/.json spec file."),
    backend: str = typer.Option("numpy", "--backend", "-b", help="numpy, torch, jax, c or latex."),
    output: Path = typer.Option(None, "--output", "-o", help="Write here instead of stdout. C: -o FILE (or FILE.c "
                                                             "or FILE.h) writes FILE.c and FILE.h."),
    force: bool = typer.Option(False, "--force", help="Overwrite existing output files (refused otherwise)."),
    prefix: str = typer.Option("s2n", "--prefix", help="C: prefix of the exported function names."),
    report: bool = typer.Option(False, "--report", help=REPORT_HELP),
) -> None:
    """Export a schedule as standalone, numerically stable code (or its formulas in LaTeX)."""
    if backend not in codegen.BACKENDS:
        raise codegen.CodegenError(f"unknown backend {backend!r} (choose one of {', '.join(codegen.BACKENDS)})")
    paths = _output_paths(output, backend, force) if output is not None else []
    sched = get_schedule(schedule)
    functions = schedule_functions(sched)
    header_name = paths[0].name if backend == "c" and paths else None
    files = codegen.export(functions, backend, prefix=prefix, header_name=header_name)
    if report:
        typer.echo(codegen.export_forms(functions).report(), err=True)
    if backend == "c":
        if not paths:
            typer.echo(f"/* ---- {prefix}.h ---- */\n{files['header']}\n/* ---- {prefix}.c ---- */\n{files['source']}")
            return
        header_path, source_path = paths
        write_atomic(header_path, files["header"], "-o")
        write_atomic(source_path, files["source"], "-o")
        typer.echo(f"wrote {header_path} and {source_path}", err=True)
        return
    text = next(iter(files.values()))
    if not paths:
        typer.echo(text, nl=False)
    else:
        write_atomic(paths[0], text, "-o")
        typer.echo(f"wrote {paths[0]}", err=True)


@app.command("derive")
@user_errors_exit_2
def derive_command(
    schedule: str = typer.Argument(..., help="Built-in name, 'general', a spec, or a .toml/.json spec file."),
    latex: bool = typer.Option(False, "--latex", help="LaTeX instead of pretty text."),
    raw: bool = typer.Option(False, "--raw", help="Print SymPy's raw forms, without simplifying."),
) -> None:
    """Print f, g², λ′, the transition kernel (α_{t|s}, σ²_{t|s}) and the inverse t(λ) of a schedule."""
    sched = get_schedule(schedule)
    exprs = codegen.derived_formulas(schedule_functions(sched))
    keys = ("alpha", "sigma", "log_snr", "f", "g2", "dlog_snr", "alpha_ts", "sigma2_ts", "t_of_log_snr")
    if not raw:
        exprs = dict(zip(keys, readable([exprs[k] for k in keys]), strict=True))
    if latex:
        lines = [r"\begin{align*}"]
        for key in keys:
            expr = exprs[key]
            body = sp.latex(expr) if expr is not None else (
                r"\text{no closed form (numeric inverse)}" if not sched.is_general else r"\lambda^{-1}(\lambda)")
            lines.append(f"  {codegen.DERIVED_LABELS[key]} &= {body} \\\\")
        lines.append(r"  q(x_t \mid x_s) &= \mathcal{N}\left(\alpha_{t|s} x_s,\ \sigma^2_{t|s} I\right)")
        lines.append(r"\end{align*}")
        typer.echo("\n".join(lines))
        return
    typer.echo(f"schedule {sched.name} on [{sched.t_min:g}, {sched.t_max:g}]" if not sched.is_general
               else "general schedule: alpha(t), lambda(t) arbitrary")
    for key in keys:
        expr = exprs[key]
        label = codegen.TEXT_LABELS[key]
        if expr is None:
            text = "(no closed form: safeguarded Newton on lambda(t) = lambda)" if not sched.is_general \
                else "lambda^{-1}(lambda)"
            typer.echo(f"{label} = {text}")
            continue
        pretty = sp.pretty(expr, use_unicode=True)
        if "\n" in pretty:
            typer.echo(f"{label} =\n{pretty}\n")
        else:
            typer.echo(f"{label} = {pretty}")
    typer.echo("transition: q(x_t | x_s) = N(alpha_{t|s} x_s, sigma^2_{t|s} I), s < t (F3)")
