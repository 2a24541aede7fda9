"""Reading a schedule from text: a built-in name, ``general``, a user spec, or a spec file.

:func:`get_schedule` accepts

* a built-in name, optionally with parameters: ``"vp-linear"``,
  ``"vp-linear(beta_max=10, t_min=1e-4)"``;
* ``"general"``: the symbolic schedule with undefined α(t), λ(t);
* a user spec: ``"alpha=1/sqrt(1+t**2); lambda=5-12*t; domain=[0,1]"`` with any
  two of ``alpha``, ``sigma``, ``lambda`` (alias ``log_snr``), or ``beta=…``
  (VP rate), plus optional ``domain=[a,b]``, ``name=…`` and constant
  parameters (``k=2; alpha=exp(-k*t); sigma=...``);
* a ``.toml`` / ``.json`` file whose keys are the fields of a spec.

Every expression goes through :func:`s2n_theory.expressions.parse_expression`;
nothing a user writes is evaluated as code.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import sympy as sp

from .builtin_schedules import BUILTINS
from .errors import S2NError, ScheduleError, SpecError
from .expressions import parse_expression, parse_number
from .schedule import Schedule
from .symbols import T
from .time_limit import TimeLimitExceeded, latest_within

MAX_SPEC_FILE_BYTES = 64 * 1024
SPEC_FILE_SUFFIXES = (".toml", ".json")
BUILD_SECONDS = 30.0
"""Time limit for building and validating a user spec's schedule (SymPy evaluates every expression as it
is built, and a short valid one, e.g. log of sqrt(1 - p**2) with p a product of 64 factors, can take hours):
past it the spec is refused with a :class:`ScheduleError` that names the limit."""

_CALL = re.compile(r"^\s*([A-Za-z][\w\-]*)\s*(?:\((.*)\))?\s*$", re.S)
_USER_KEYS = {"alpha", "sigma", "lambda", "log_snr", "beta"}


def _parse_params(text: str, allowed: Mapping[str, float], where: str) -> dict[str, float]:
    values: dict[str, float] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        if "=" not in item:
            raise SpecError(f"{where}: parameter {item!r} must be written name=value")
        key, _, raw = (part.strip() for part in item.partition("="))
        if key not in allowed:
            raise SpecError(f"{where}: unknown parameter {key!r} (allowed: {', '.join(allowed)})")
        values[key] = parse_number(raw, where=f"{where}.{key}")
    return values


def _parse_domain(raw: str) -> tuple[float, float]:
    inner = raw.strip()
    if not (inner.startswith("[") and inner.endswith("]")):
        raise SpecError(f"domain: expected [a, b], got {raw!r}")
    parts = inner[1:-1].split(",")
    if len(parts) != 2:
        raise SpecError(f"domain: expected two numbers [a, b], got {raw!r}")
    return parse_number(parts[0], where="domain"), parse_number(parts[1], where="domain")


def parse_user_schedule(spec: str) -> Schedule:
    """Build a schedule from ``"alpha=…; lambda=…; domain=[a,b]"`` (see module docstring)."""
    fields: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in spec.split(";"))):
        key, eq, value = (part.strip() for part in item.partition("="))
        if not eq or not key:
            raise SpecError(f"schedule spec: {item!r} is not of the form key=value")
        if not re.fullmatch(r"[A-Za-z_]\w*", key):
            raise SpecError(f"schedule spec: {key!r} is not a valid field name")
        if key in fields:
            raise SpecError(f"schedule spec: field {key!r} given twice")
        fields[key] = value
    domain = _parse_domain(fields.pop("domain")) if "domain" in fields else (0.0, 1.0)
    name = fields.pop("name", None) or re.sub(r"\s+", "", spec)
    params = {k: v for k, v in fields.items() if k not in _USER_KEYS}
    reserved = {"t", "pi", "e"} & set(params)
    if reserved:
        raise SpecError(f"schedule spec: {sorted(reserved)[0]!r} is reserved and cannot be a parameter")
    names: dict[str, sp.Expr] = {"t": T}
    for key, raw in params.items():
        names[key] = parse_expression(raw, {}, where=key)
    exprs = {k: parse_expression(v, names, where=k) for k, v in fields.items() if k in _USER_KEYS}
    if "log_snr" in exprs:
        if "lambda" in exprs:
            raise SpecError("schedule spec: give lambda or log_snr, not both")
        exprs["lambda"] = exprs.pop("log_snr")
    kw = {"domain": domain, "name": name, "parameters": {k: float(sp.N(v)) for k, v in names.items() if k != "t"}}
    given = frozenset(exprs)
    if given not in _CONSTRUCTORS:
        raise SpecError(
            "schedule spec: give exactly two of alpha, sigma, lambda, or beta alone "
            f"(got {', '.join(sorted(given)) or 'none'})"
        )
    try:
        built = latest_within(_build_steps, (given, exprs, kw), BUILD_SECONDS)
    except TimeLimitExceeded:
        raise ScheduleError(
            f"schedule {name!r}: building and validating it took longer than its {BUILD_SECONDS:g} s time limit "
            "(SymPy's automatic simplification of these expressions does not finish); "
            "write them in a simpler form") from None
    except RuntimeError as exc:  # an unexpected failure inside the limit, reported with its cause
        raise ScheduleError(f"schedule {name!r}: cannot be built: {exc}") from None
    if isinstance(built, S2NError):
        raise built
    return built


_CONSTRUCTORS = {
    frozenset({"beta"}): lambda e, kw: Schedule.from_vp_beta(e["beta"], **kw),
    frozenset({"alpha", "sigma"}): lambda e, kw: Schedule.from_alpha_sigma(e["alpha"], e["sigma"], **kw),
    frozenset({"alpha", "lambda"}): lambda e, kw: Schedule.from_alpha_log_snr(e["alpha"], e["lambda"], **kw),
    frozenset({"sigma", "lambda"}): lambda e, kw: Schedule.from_sigma_log_snr(e["sigma"], e["lambda"], **kw),
}


def _build_steps(given: frozenset[str], exprs: dict[str, sp.Expr], kw: dict[str, Any]) -> Iterator[Any]:
    # The schedule, or the user error that refused it (an exception inside the limit would come back as text).
    try:
        yield _CONSTRUCTORS[given](exprs, kw)
    except S2NError as exc:
        yield exc


def get_schedule(spec: str | Path | Schedule) -> Schedule:
    """A schedule from a built-in name (with parameters), ``"general"``, a user spec or a spec file."""
    if isinstance(spec, Schedule):
        return spec
    if isinstance(spec, Path) or (isinstance(spec, str) and spec.strip().endswith(SPEC_FILE_SUFFIXES)):
        return get_schedule(spec_from_fields(read_spec_file(spec), str(spec)))
    if not isinstance(spec, str) or not spec.strip():
        raise SpecError("schedule spec must be a non-empty string")
    if "=" in spec and ";" in spec or re.match(r"^\s*\w+\s*=", spec):
        return parse_user_schedule(spec)
    match = _CALL.match(spec)
    if not match:
        raise SpecError(f"cannot read schedule spec {spec!r}")
    name, args = match.group(1), match.group(2) or ""
    if name == "general":
        if args.strip():
            raise SpecError("general: takes no parameters")
        return Schedule.general()
    if name not in BUILTINS:
        raise SpecError(f"unknown schedule {name!r} (built-ins: {', '.join(BUILTINS)}, general; or a spec alpha=…; lambda=…)")
    builtin = BUILTINS[name]
    params = {**builtin.defaults, **_parse_params(args, builtin.defaults, name)}
    try:
        schedule = builtin.build(**params)
    except ScheduleError as exc:
        if not args.strip():
            raise
        raise ScheduleError(f"{name}({args.strip()}): {exc}") from None
    schedule.parameters = params
    if args.strip():
        shown = ", ".join(f"{k}={v:g}" for k, v in _parse_params(args, builtin.defaults, name).items())
        schedule.name = f"{name}({shown})"
    schedule.description = (builtin.build.__doc__ or "").strip()
    return schedule


def read_spec_file(path: str | Path) -> dict[str, Any]:
    """The fields of a ``.toml`` or ``.json`` spec file (size-limited; never executed)."""
    path = Path(str(path).strip())
    if path.suffix not in SPEC_FILE_SUFFIXES:
        raise SpecError(f"spec file {str(path)!r} must end in .toml or .json")
    if not path.is_file():
        raise SpecError(f"spec file {str(path)!r} not found")
    if path.stat().st_size > MAX_SPEC_FILE_BYTES:
        raise SpecError(f"spec file {str(path)!r} is larger than {MAX_SPEC_FILE_BYTES} bytes")
    try:
        text = path.read_text(encoding="utf-8")
        return json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise SpecError(f"{path}: cannot read file: {exc}") from None


def spec_from_fields(fields: Any, where: str) -> str:
    """Join the fields of a spec file into the one-line spec language (every value is parsed later)."""
    if not isinstance(fields, dict) or not fields:
        raise SpecError(f"{where}: expected a table of spec fields (alpha, sigma, lambda, beta, domain, ...)")
    parts = []
    for key, value in fields.items():
        if not isinstance(key, str):
            raise SpecError(f"{where}: field names must be strings")
        if key == "domain" and isinstance(value, (list, tuple)):
            if len(value) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
                raise SpecError(f"{where}: domain must be two numbers [a, b]")
            text = f"[{float(value[0])!r}, {float(value[1])!r}]"
        elif isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise SpecError(f"{where}: field {key!r} must be a string or a number")
        else:
            text = str(value)
        if ";" in text or ";" in key or "=" in key:
            raise SpecError(f"{where}: field {key!r} may not contain ';' or '='")
        parts.append(f"{key}={text}")
    return "; ".join(parts)
