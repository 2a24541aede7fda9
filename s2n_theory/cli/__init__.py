"""The ``s2n`` command line, a thin layer over the library and the claim registry.

Each command lives in its own module and is imported here by name, so a missing
module is an ImportError, never a silently missing command. Every user error prints
one line ``error: …`` on stderr and exits with status 2.
"""

from __future__ import annotations

import sys

from ..errors import S2NError
from . import cache, claims, export, info, schedules, sweep, verify, weighting  # noqa: F401 - importing a module adds its commands
from .app import app

__all__ = ["app", "main"]


def main() -> None:
    try:
        app()
    except S2NError as exc:  # errors raised while typer parses options
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
