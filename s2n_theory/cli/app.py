"""The ``s2n`` Typer application and the one rule every command follows.

A user error (:class:`~s2n_theory.errors.S2NError`: bad schedule text, unknown claim,
invalid schedule, bad option) prints one line ``error: …`` on stderr and exits with
status 2; no traceback reaches the user.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from ..errors import S2NError
from ..verification.run_info import package_version

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Signal-to-noise diffusion theory: derive, verify, export.")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"s2n-theory {package_version()}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: bool = typer.Option(False, "--version", help="Print the package version and exit.",
                                 callback=_print_version, is_eager=True),
) -> None:
    """Signal-to-noise diffusion theory: derive, verify, export."""

F = TypeVar("F", bound=Callable[..., Any])


def user_errors_exit_2(func: F) -> F:
    """Turn an S2NError raised by a command into one line on stderr and exit status 2."""
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except S2NError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def split_values(values: list[str] | None) -> list[str] | None:
    """Repeatable, comma-separated option values as one flat list (None when none were given)."""
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]
