"""Run a SymPy computation under a wall-clock time limit.

SymPy's solvers and simplifiers can run for minutes (or forever) on innocent-looking
input; Python cannot interrupt a thread, so the work runs in a forked child that is
killed when the time limit is reached. The result must be picklable.
"""

from __future__ import annotations

import multiprocessing
import pickle
import time
from collections.abc import Callable, Iterator
from typing import Any


class TimeLimitExceeded(Exception):
    """The computation did not finish within its time limit."""


def _worker(func: Callable[..., Iterator[Any]], args: tuple, conn: Any) -> None:
    try:
        for value in func(*args):
            conn.send(pickle.dumps(("value", value)))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        try:
            conn.send(pickle.dumps(("error", f"{type(exc).__name__}: {exc}")))
        except Exception:  # noqa: BLE001
            pass
    finally:
        conn.close()


def latest_within(func: Callable[..., Iterator[Any]], args: tuple, seconds: float) -> Any:
    """Run generator ``func(*args)`` in a child; return the last value it yielded in time.

    Raises :class:`TimeLimitExceeded` if nothing was yielded in ``seconds``, and
    ``RuntimeError`` if the child failed before yielding.
    """
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_worker, args=(func, args, child), daemon=True)
    proc.start()
    child.close()
    deadline = time.monotonic() + seconds
    latest: tuple[str, Any] | None = None
    try:
        while parent.poll(max(0.0, deadline - time.monotonic())):
            try:
                message = pickle.loads(parent.recv())
            except (EOFError, OSError):
                break
            if message[0] == "error" and latest is None:
                latest = message
                break
            latest = message
    finally:
        proc.kill()
        proc.join()
        parent.close()
    if latest is None:
        raise TimeLimitExceeded(f"no result within {seconds:g} s")
    if latest[0] == "error":
        raise RuntimeError(latest[1])
    return latest[1]
