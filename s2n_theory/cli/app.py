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
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from ..errors import S2NError
from ..verification.run_info import package_version

F = TypeVar("F", bound=Callable[..., Any])


def _value_label(param: TyperOption | TyperArgument) -> str:
    """A plain metavar (TEXT, INTEGER, PATH, …; TEXT… when repeatable); none for a flag."""
    if getattr(param, "is_flag", False):
        return ""
    element = param.bare_type().removeprefix("list[").removesuffix("]")
    name = {"str": "TEXT", "int": "INTEGER", "float": "NUMBER", "Path": "PATH", "bool": "BOOLEAN"}.get(element, "TEXT")
    return f"{name}…" if param.type_descriptor.is_list else name


def _plain_metavars(params: list[Any]) -> list[Any]:
    for param in params:
        if param.metavar is not None:
            continue
        if isinstance(param, TyperOption):
            param.metavar = _value_label(param)
        elif isinstance(param, TyperArgument):
            # An argument's metavar would also rename it in the usage line: replace only its type label.
            param.display_type_rich = lambda ctx, label=_value_label(param): label
    return params


class ReadableCommand(TyperCommand):
    """A command whose help shows plain value labels (TEXT, PATH) instead of Python types (<list[str]>, <bool>)."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _plain_metavars(super().get_params(ctx))


class ReadableGroup(TyperGroup):
    """The ``s2n`` group itself, with the same plain labels (``--version``, ``--help``)."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _plain_metavars(super().get_params(ctx))


class S2NTyper(typer.Typer):
    """Every command of ``s2n`` is a :class:`ReadableCommand` unless it asks for another class."""

    def command(self, *args: Any, cls: type[TyperCommand] | None = None, **kwargs: Any) -> Callable[[F], F]:
        return super().command(*args, cls=cls or ReadableCommand, **kwargs)


app = S2NTyper(cls=ReadableGroup, add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
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
