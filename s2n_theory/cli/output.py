"""Where commands write: one check of every output path, and writes that never leave half a file.

Every ``-o``/``--json``/``--report`` of every command goes through here. A path is
checked *before* the command does its work (a verify run must not end by failing
to save), a bad one (a directory where a file is wanted, a file where a directory
is wanted, a missing parent, no write permission, an existing file without
``--force`` where the command asks for it) is one :class:`~s2n_theory.errors.S2NError`
line and exit 2, and a file is written to a temporary file next to it, then
renamed over the target, so a reader sees the old file or the new one, never a
part.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import S2NError
from ..files import replace_atomically


def _parent(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def _check_parent(path: Path, option: str) -> None:
    parent = _parent(path)
    if not parent.is_dir():
        what = "is not a directory" if parent.exists() else "does not exist"
        raise S2NError(f"{option} {path}: parent directory {parent} {what}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise S2NError(f"{option} {path}: directory {parent} is not writable")


def check_output_file(path: Path | str, option: str, *, overwrite: bool = True) -> Path:
    """``path`` as a file a command may write; an S2NError naming ``option`` otherwise."""
    path = Path(path)
    if path.is_dir():
        raise S2NError(f"{option} {path}: is a directory (expected a file name)")
    if path.exists() or path.is_symlink():
        if not overwrite:
            raise S2NError(f"{option} {path}: exists (use --force to overwrite)")
        if not path.is_file():
            raise S2NError(f"{option} {path}: exists and is not a regular file")
        if not os.access(path, os.W_OK):
            raise S2NError(f"{option} {path}: file is not writable")
    _check_parent(path, option)
    return path


def check_output_dir(path: Path | str, option: str) -> Path:
    """``path`` as a directory a command may create or write into; an S2NError otherwise."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise S2NError(f"{option} {path}: exists and is not a directory")
    if path.is_dir():
        if not os.access(path, os.W_OK | os.X_OK):
            raise S2NError(f"{option} {path}: directory is not writable")
        return path
    _check_parent(path, option)
    return path


def write_atomic(path: Path | str, data: str | bytes, option: str) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same directory and a rename."""
    path = Path(path)
    try:
        return replace_atomically(path, data)
    except OSError as exc:
        raise S2NError(f"{option} {path}: cannot write ({exc.strerror or exc})") from None


def write_directory_atomic(path: Path | str, writer: Callable[[Path], Any], option: str) -> Any:
    """Let ``writer`` fill a temporary directory next to ``path``, then move each file into ``path`` by
    rename: a failure part-way leaves ``path`` as it was. Returns what ``writer`` returned, with paths
    inside the temporary directory mapped to ``path``."""
    path = check_output_dir(path, option)
    try:
        staging = Path(tempfile.mkdtemp(dir=_parent(path), prefix=f".{path.name}.", suffix=".tmp"))
    except OSError as exc:
        raise S2NError(f"{option} {path}: cannot write ({exc.strerror or exc})") from None
    try:
        result = writer(staging)
        path.mkdir(exist_ok=True)
        for source in sorted(staging.rglob("*")):
            target = path / source.relative_to(staging)
            if source.is_dir():
                target.mkdir(exist_ok=True)
            else:
                os.replace(source, target)
    except OSError as exc:
        raise S2NError(f"{option} {path}: cannot write ({exc.strerror or exc})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return _relocate(result, staging, path)


def _relocate(value: Any, old: Path, new: Path) -> Any:
    if isinstance(value, Path):
        try:
            return new / value.relative_to(old)
        except ValueError:
            return value
    if isinstance(value, dict):
        return {k: _relocate(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_relocate(v, old, new) for v in value]
    return value
