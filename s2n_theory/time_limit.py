"""Run a SymPy computation under a wall-clock time limit.

SymPy's solvers and simplifiers can run for minutes (or forever) on innocent-looking
input, so every open-ended symbolic step runs under a limit. Two ways, chosen per call:

* in the main thread of an ordinary process, a forked child that is killed at the limit
  (the strongest limit: it also stops C code and frees the memory); the result must be
  picklable;
* anywhere a child is not allowed or not safe — a daemonic process (Dask worker processes,
  ``multiprocessing.Pool`` workers), a thread other than the main one (Dask runs its tasks in
  threads), a platform without ``fork`` — a helper thread that is stopped at the limit by an
  exception raised inside it (SymPy is pure Python, so it stops at its next bytecode). No
  child process is started there.

Both give the same contract: the last value the generator yielded in time.

A result that comes back from the child is rebuilt verbatim (:func:`loads_verbatim`): SymPy
re-runs its automatic evaluation when it unpickles an expression, and that evaluation can be
the very step that needed the limit (``log(sqrt(1 - p(t)**2))`` with p a product of 64 factors
asks for the real roots of a degree-128 polynomial), so it must not run again, unlimited, in
the caller.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import pickle
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import sympy as sp


class TimeLimitExceeded(Exception):
    """The computation did not finish within its time limit."""


class _Abandoned(BaseException):
    """Raised inside a helper thread past its limit (BaseException: SymPy's ``except Exception`` cannot eat it)."""


def loads_verbatim(data: bytes) -> Any:
    """Unpickle ``data`` with SymPy's automatic evaluation off: every expression comes back as the
    tree that was pickled (already evaluated where it was built), without re-running that evaluation."""
    with sp.evaluate(False):
        return pickle.loads(data)


def child_process_allowed() -> bool:
    """True where forking a child is allowed and safe: the main thread of a non-daemonic process with ``fork``.

    Daemonic processes may not have children (``multiprocessing`` asserts it), and forking from a
    worker thread copies locks other threads hold.
    """
    return (threading.current_thread() is threading.main_thread()
            and not multiprocessing.current_process().daemon
            and "fork" in multiprocessing.get_all_start_methods())


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
    """Run generator ``func(*args)`` under a limit; return the last value it yielded in time.

    Raises :class:`TimeLimitExceeded` if nothing was yielded in ``seconds``, and
    ``RuntimeError`` if the computation failed before yielding. Safe in daemonic processes,
    worker threads and pools (see the module docstring).
    """
    if child_process_allowed():
        latest = _latest_in_child(func, args, seconds)
    else:
        latest = _latest_in_thread(func, args, seconds)
    if latest is None:
        raise TimeLimitExceeded(f"no result within {seconds:g} s")
    if latest[0] == "error":
        raise RuntimeError(latest[1])
    return latest[1]


def _keep(latest: tuple[str, Any] | None, message: tuple[str, Any]) -> tuple[tuple[str, Any] | None, bool]:
    """The message to keep and whether to stop reading: an error ends the run but never replaces a value."""
    if message[0] == "error":
        return (message if latest is None else latest), True
    return message, False


def _latest_in_child(func: Callable[..., Iterator[Any]], args: tuple, seconds: float) -> tuple[str, Any] | None:
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
                message = loads_verbatim(parent.recv())
            except (EOFError, OSError):
                break
            latest, stop = _keep(latest, message)
            if stop:
                break
    finally:
        proc.kill()
        proc.join()
        parent.close()
    return latest


def _latest_in_thread(func: Callable[..., Iterator[Any]], args: tuple, seconds: float) -> tuple[str, Any] | None:
    messages: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()

    def body() -> None:
        try:
            for value in func(*args):
                messages.put(("value", value))
        except _Abandoned:
            return
        except BaseException as exc:  # noqa: BLE001 - reported to the caller
            messages.put(("error", f"{type(exc).__name__}: {exc}"))
        messages.put(("done", None))

    helper = threading.Thread(target=body, name="s2n-time-limit", daemon=True)
    helper.start()
    deadline = time.monotonic() + seconds
    latest: tuple[str, Any] | None = None
    finished = False
    while not finished:
        try:
            message = messages.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        if message[0] == "done":
            finished = True
        else:
            latest, finished = _keep(latest, message)
    if not finished and helper.is_alive():
        # Stop the abandoned computation so it does not keep a core busy: the exception lands at
        # its next bytecode (a long C call finishes first; the caller does not wait for it).
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(helper.ident), ctypes.py_object(_Abandoned))
    return latest


def call_within(func: Callable[..., Any], args: tuple, seconds: float) -> Any:
    """``func(*args)`` in the calling thread, stopped at its next bytecode after ``seconds``.

    A watchdog thread raises an exception inside the caller at the limit, reported as
    :class:`TimeLimitExceeded`. The work stays in the calling thread, so whatever it does keeps
    its own rules (a SymPy step inside still forks its time-limited child where that is allowed;
    the child is killed on the way out). No process is started: a limit costs a thread, so it
    suits steps run many times (one identity of a proof) as well as a whole check. A long C call
    finishes before the exception lands.

    Calls nest: each raises its own exception class, so an inner limit never reports (or swallows)
    an enclosing one that fires while the inner call runs; that one passes on once the inner
    watchdog is stopped.
    """
    caller = threading.get_ident()
    lock = threading.Lock()
    state = {"finished": False, "fired": False, "landed": False}
    stop = threading.Event()
    mine = type("_AbandonedHere", (_Abandoned,), {})

    def watchdog() -> None:
        if stop.wait(seconds):
            return
        with lock:
            if not state["finished"]:
                state["fired"] = True
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(caller), ctypes.py_object(mine))

    guard = threading.Thread(target=watchdog, name="s2n-call-within", daemon=True)
    enclosing: _Abandoned | None = None
    try:
        guard.start()
        return func(*args)
    except mine:
        state["landed"] = True
        raise TimeLimitExceeded(f"stopped after its {seconds:g} s time limit") from None
    finally:
        while True:  # the exception may land here if it fired just as func returned: absorb and clear it
            try:
                stop.set()
                with lock:
                    state["finished"] = True
                    if state["fired"] and not state["landed"]:
                        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(caller), None)
                break
            except mine:
                state["landed"] = True
                continue
            except _Abandoned as exc:  # an enclosing limit fired meanwhile: passed on below
                enclosing = exc
                continue
        if enclosing is not None:
            raise enclosing
