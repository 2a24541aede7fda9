"""``s2n cache``: where ``s2n verify`` keeps its cached symbolic results and codegen forms, and emptying it."""

from __future__ import annotations

import typer

from ..verification.cache import Cache, default_dir
from .app import app, user_errors_exit_2

cache_app = typer.Typer(no_args_is_help=True, help="The on-disk cache of s2n verify (symbolic results, codegen forms).")
app.add_typer(cache_app, name="cache")


@cache_app.command("clear")
@user_errors_exit_2
def clear() -> None:
    """Remove every cached entry (the next s2n verify recomputes everything)."""
    removed = Cache(default_dir()).clear()
    typer.echo(f"removed {removed} files from {default_dir()}")


@cache_app.command("path")
@user_errors_exit_2
def path() -> None:
    """Print the cache folder ($S2N_CACHE_DIR, else $XDG_CACHE_HOME/s2n-theory, else ~/.cache/s2n-theory)."""
    typer.echo(str(default_dir()))
