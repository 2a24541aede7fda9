"""Content-keyed memo of symbolic work, kept between runs of ``s2n verify`` by its cache.

Numeric and Monte Carlo checks start from SymPy: a derivation (a step's coefficients in value
symbols, a multistep solver's Lagrange algebra) and its compilation (``lambdify``: common
subexpressions and printing). That work depends on the expressions only, never on numbers, and
in a second run of unchanged code it was a fifth of each worker's time.

While the memo is *active* (``s2n verify`` with its cache: the runner loads the stored entries
before its workers start, and each worker stores what it computed when it ends),
:func:`derived` and :func:`lambdify` return the stored result of an input that is the same
expression, compared exactly (the same text as ``srepr``'s). Inactive (library use, tests, ``suite.run`` without
a cache) they compute every time, as if this module did not exist; an injected error
(a monkeypatched derivation) therefore never meets a stored result. The stored entries live
in a folder of the code fingerprint (:mod:`verification.cache`): any edit starts afresh.

A compiled function is stored as its generated source and the names it reads beyond its
modules' namespace (SymPy objects, or importable functions); a function whose namespace holds
anything else is compiled every time.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import linecache
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import sympy as sp
from sympy.core.function import AppliedUndef

Value = TypeVar("Value")

_STATE: dict[str, Any] = {"active": False}
_ENTRIES: dict[str, Any] = {}
"""key -> a derived value or a compiled function's record (source, names), in this process."""
_NEW: dict[str, Any] = {}
"""The entries this process computed since :func:`activate` (what it stores when it ends)."""
_BASES: dict[str, dict[str, Any]] = {}
"""label -> the namespace ``lambdify`` builds for those modules before any expression enters it."""
_FUNCTION_NAME = "_lambdifygenerated"


def activate(entries: dict[str, Any]) -> None:
    """Serve and record entries from now on, starting from ``entries`` (those stored by earlier runs)."""
    _ENTRIES.clear()
    _ENTRIES.update(entries)
    _NEW.clear()
    _STATE["active"] = True


def deactivate() -> None:
    """Compute every time again, and forget the entries held in this process."""
    _STATE["active"] = False
    _ENTRIES.clear()
    _NEW.clear()


def is_active() -> bool:
    return bool(_STATE["active"])


def new_entries() -> dict[str, Any]:
    """The entries computed in this process since it was activated."""
    return dict(_NEW)


@contextlib.contextmanager
def session(entries: dict[str, Any] | None, store: Callable[[dict[str, Any]], None]) -> Iterator[None]:
    """Active from ``entries`` for the block, then ``store(new entries)`` and inactive again; ``entries`` None: the
    block runs with the memo inactive (no cache to keep it in)."""
    if entries is None:
        yield
        return
    activate(entries)
    try:
        yield
        store(new_entries())
    finally:
        deactivate()


def _node_text(expr: sp.Basic, seen: dict[sp.Basic, str]) -> str:
    """An exact text of ``expr``, the same in every process: its class (module and name) and, recursively, its
    arguments; a symbol with its sorted assumptions, an undefined function with its own, any other atom by
    ``srepr``. (``srepr`` of a whole expression is the same text but took milliseconds; a pickle differs between
    processes: SymPy's assumption dictionaries are filled in hash order.)"""
    text = seen.get(expr)
    if text is not None:
        return text
    kind = type(expr)
    if isinstance(expr, sp.Dummy):
        text = f"Dummy({expr.name!r},{expr.dummy_index},{sorted(expr.assumptions0.items())})"
    elif isinstance(expr, sp.Symbol):
        text = f"{kind.__name__}({expr.name!r},{sorted(expr.assumptions0.items())})"
    elif expr.is_Atom:
        text = sp.srepr(expr)
    else:
        if isinstance(expr, AppliedUndef):
            head = f"Function({kind.__name__!r},{sorted(getattr(kind, '_kwargs', {}).items())})"
        else:
            head = f"{kind.__module__}.{kind.__qualname__}"
        text = head + "(" + ",".join(_node_text(a, seen) for a in expr.args) + ")"
    seen[expr] = text
    return text


def _text(part: Any, seen: dict[sp.Basic, str]) -> str:
    if isinstance(part, sp.Basic):
        return _node_text(part, seen)
    if isinstance(part, (list, tuple)):
        return "(" + ",".join(_text(p, seen) for p in part) + ")"
    if isinstance(part, (str, int, float, bool)) or part is None:
        return repr(part)
    raise TypeError(f"cannot key the symbolic memo by a {type(part).__name__}")


def exact_text(parts: Sequence[Any]) -> str:
    """The exact text the memo keys by, of SymPy objects, strings, numbers and tuples of them: equal for equal
    inputs in every process, different for unequal ones (a cache key)."""
    return _text(tuple(parts), {})


def _key(kind: str, inputs: Sequence[Any]) -> str:
    return hashlib.sha256(f"{kind}\x1f{_text(tuple(inputs), {})}".encode()).hexdigest()


def derived(kind: str, inputs: Sequence[Any], compute: Callable[[], Value]) -> Value:
    """``compute()``, or, while active, the stored value of the same ``kind`` and ``inputs`` (SymPy objects,
    strings, numbers and tuples of them). ``compute`` must depend on nothing but ``inputs`` and the code."""
    if not _STATE["active"]:
        return compute()
    key = _key(kind, inputs)
    if key in _ENTRIES:
        return _ENTRIES[key]
    value = compute()
    _ENTRIES[key] = _NEW[key] = value
    return value


def _base(label: str, modules: Any, printer: Any) -> dict[str, Any]:
    if label not in _BASES:
        _BASES[label] = dict(sp.lambdify([], sp.Integer(0), modules=modules, printer=printer).__globals__)
    return _BASES[label]


def _record(function: Callable[..., Any], base: dict[str, Any]) -> tuple[str, dict[str, tuple]] | None:
    """(source, {name: how to rebuild it}) of a lambdified function, or None when it cannot be rebuilt."""
    lines = linecache.cache.get(function.__code__.co_filename)
    if lines is None or function.__name__ != _FUNCTION_NAME:
        return None
    names: dict[str, tuple] = {}
    for name, value in function.__globals__.items():
        if name in base and base[name] is value:
            continue
        if isinstance(value, sp.Basic):
            names[name] = ("object", value)
            continue
        # What lambdify imported for the expression ("from torch import sin"): the module's attribute of that name.
        module = getattr(value, "__module__", None)
        try:
            found = importlib.import_module(module) if isinstance(module, str) else None
        except ImportError:
            found = None
        if found is None or getattr(found, name, None) is not value:
            return None
        names[name] = ("import", module, name)
    return "".join(lines[2]), names


def _rebuild(record: tuple[str, dict[str, tuple]], base: dict[str, Any]) -> Callable[..., Any]:
    source, names = record
    namespace = dict(base)
    for name, how in names.items():
        namespace[name] = how[1] if how[0] == "object" else getattr(importlib.import_module(how[1]), how[2])
    filename = f"<lambdifygenerated-memo-{hashlib.sha256(source.encode()).hexdigest()[:12]}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)  # inspect.getsource works
    local: dict[str, Any] = {}
    exec(compile(source, filename, "exec"), namespace, local)  # noqa: S102 - SymPy's own generated code
    return local[_FUNCTION_NAME]


def lambdify(args: Sequence[Any], expr: Any, modules: Any, *, label: str | None = None, printer: Any = None,
             cse: bool = False, prepare: Callable[[Any], Any] | None = None) -> Callable[..., Any]:
    """``sympy.lambdify(args, prepare(expr), modules, printer=printer, cse=cse)``; while active, the stored source
    of the same arguments and expression is compiled instead of preparing and printing it again.

    ``label`` names the modules, printer and ``prepare`` (required unless ``modules`` is a string and there is no
    ``prepare``): equal labels must mean equal modules, printer settings and preparation.
    """
    if not _STATE["active"]:
        return sp.lambdify(args, expr if prepare is None else prepare(expr), modules=modules, printer=printer, cse=cse)
    if label is None:
        if not isinstance(modules, str) or prepare is not None:
            raise TypeError("symbolic_memo.lambdify needs a label for modules that are not a name, or a preparation")
        label = modules
    key = _key("lambdify", (label, cse, tuple(args), expr if isinstance(expr, sp.Basic) else tuple(expr)))
    base = _base(label, modules, printer)
    record = _ENTRIES.get(key)
    if record is not None:
        return _rebuild(record, base)
    function = sp.lambdify(args, expr if prepare is None else prepare(expr), modules=modules, printer=printer, cse=cse)
    record = _record(function, base)
    if record is not None:
        _ENTRIES[key] = _NEW[key] = record
    return function
