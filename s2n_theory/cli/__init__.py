"""The ``s2n`` command line, a thin layer over the library and the claim registry.

Each command lives in its own module and is imported here by name, so a missing
module is an ImportError, never a silently missing command. Every user error prints
one line ``error: …`` on stderr and exits with status 2.
"""

from __future__ import annotations

import os
import sys

from ..errors import S2NError
from ..verification.runner import frozen_heap
from . import cache, claims, export, info, schedules, sweep, verify, weighting  # noqa: F401 - importing a module adds its commands
from .app import app

__all__ = ["app", "main", "program"]


def main() -> None:
    try:
        app()
    except S2NError as exc:  # errors raised while typer parses options
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


FAST_EXIT_COMMANDS = ("verify",)
"""Commands whose process ends without the interpreter's teardown: with SymPy, SciPy and torch loaded, freeing
every object at exit takes about a second, paid after the last row is printed. ``verify`` joins its workers and
closes its files itself; other commands (a sweep's Dask client, for one) keep the ordinary exit and its handlers."""


def _exit_status(exc: SystemExit) -> int:
    if exc.code is None or isinstance(exc.code, int):
        return exc.code or 0
    print(exc.code, file=sys.stderr)  # what the interpreter does with a non-integer exit code
    return 1


def program() -> None:
    """The ``s2n`` program (the installed script and ``python -m s2n_theory.cli``): :func:`main`, then, for the
    commands of :data:`FAST_EXIT_COMMANDS`, the exit without teardown once its output is flushed."""
    # The process's imports live until it exits: frozen, the collector's full passes skip them (one such pass, set
    # off while typer imports pydantic to parse the options, cost about 0.2 s of every command's start).
    with frozen_heap():
        if len(sys.argv) < 2 or sys.argv[1] not in FAST_EXIT_COMMANDS:
            main()
            return
        try:
            main()
            status = 0
        except SystemExit as exc:
            status = _exit_status(exc)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
