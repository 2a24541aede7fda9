"""Sweep configuration: :class:`SweepConfig`, read from TOML by :func:`load_config`, and its
expansion into runs (:func:`expand`, NFE targets met from below by :func:`steps_for_nfe`)."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import S2NError
from ..named_mixtures import NAMED_MIXTURES
from ..sampling import GRID_KINDS, METHODS, get_solver
from ..schedule_spec import get_schedule

METRICS = ("sw", "mmd", "fd", "fdd")


class SweepError(S2NError):
    """A sweep configuration the user can fix."""


# ---------------------------------------------------------------------- configuration
@dataclass
class SweepConfig:
    target: str = "mixture:2d"
    out: str = "runs/sweep"
    """Where results go; ``runs/`` is ignored by git, so a sweep never overwrites tracked files by default
    (a config file's default is ``runs/<config name>``; pass ``--out docs/results/NAME`` to update published results)."""
    checkpoint: str | None = None
    edm: bool = True
    reference: str | None = None
    sigma_data: float = 0.5
    schedules: list[str] = field(default_factory=lambda: ["edm"])
    grids: list[str] = field(default_factory=lambda: ["karras"])
    exponents: list[float] = field(default_factory=lambda: [7.0])
    nfe: list[int] = field(default_factory=lambda: [35])
    methods: list[str] = field(default_factory=lambda: ["exact"])
    rho: list[float] = field(default_factory=lambda: [0.0])
    gamma: list[float] = field(default_factory=lambda: [0.0])
    delta: list[float] = field(default_factory=lambda: [0.0])
    seeds: list[int] = field(default_factory=lambda: [0])
    samples: int = 1000
    metrics: list[str] = field(default_factory=lambda: ["sw", "mmd", "fd"])
    bootstrap: int = 200
    denoise_final: bool = True
    device: str = "cpu"
    dtype: str = "float64"
    save_samples: bool = True
    figure_metric: str | None = None

    def validate(self) -> SweepConfig:
        """Check every setting once, before anything runs (types, ranges, finiteness, names, paths);
        list settings are normalised to lists of their type. Raises :class:`SweepError`."""
        for name, kind in _SCALARS.items():
            setattr(self, name, _typed(name, getattr(self, name), kind))
        for name, kind in _LISTS.items():
            values = getattr(self, name)
            values = values if isinstance(values, list | tuple) else [values]
            if not values:
                raise SweepError(f"{name} must list at least one value")
            setattr(self, name, [_typed(f"{name}[{i}]", v, kind) for i, v in enumerate(values)])
        for name, allowed, values in (("methods", METHODS, self.methods), ("grids", GRID_KINDS, self.grids),
                                      ("metrics", METRICS, self.metrics)):
            bad = [v for v in values if v not in allowed]
            if bad:
                raise SweepError(f"unknown {name} {bad} (choose from {', '.join(allowed)})")
        for name, values, low, strict in (("nfe", self.nfe, 1, False), ("exponents", self.exponents, 0, True),
                                          ("rho", self.rho, 0, False), ("seeds", self.seeds, 0, False)):
            bad = [v for v in values if (v <= low if strict else v < low)]
            if bad:
                raise SweepError(f"every value of {name} must be {'>' if strict else '>='} {low}, got {bad}")
        if self.samples < 2:
            raise SweepError(f"samples must be >= 2, got {self.samples}")
        if self.bootstrap < 0:
            raise SweepError(f"bootstrap must be >= 0, got {self.bootstrap}")
        if self.sigma_data <= 0:
            raise SweepError(f"sigma_data must be > 0, got {self.sigma_data}")
        if self.dtype not in ("float32", "float64"):
            raise SweepError(f"dtype must be float32 or float64, got {self.dtype!r}")
        if not re.fullmatch(r"cpu|cuda(:\d+)?|mps", self.device):
            raise SweepError(f"device must be cpu, cuda, cuda:N or mps, got {self.device!r}")
        if self.figure_metric is not None and self.figure_metric not in self.metrics:
            raise SweepError(f"figure_metric {self.figure_metric!r} is not one of the metrics {self.metrics}")
        if "fdd" in self.metrics and self.target != "digits":
            raise SweepError("metric fdd (Fréchet digits distance) needs target = digits")
        if self.target == "digits" and not self.checkpoint:
            raise SweepError("target digits needs checkpoint = path to model.pt (from `s2n train digits`)")
        if self.target.startswith("mixture:") and self.target.split(":", 1)[1] not in NAMED_MIXTURES:
            raise SweepError(f"unknown mixture {self.target.split(':', 1)[1]!r} "
                             f"(choose {', '.join(NAMED_MIXTURES)})")
        if not (self.target.startswith("mixture:") or self.target == "digits" or ":" in self.target):
            raise SweepError(f"target must be mixture:NAME, digits or module:callable, got {self.target!r}")
        for name in ("checkpoint", "reference"):
            path = getattr(self, name)
            if path is not None and not Path(path).exists():
                raise SweepError(f"{name} {path} does not exist")
        if Path(self.out).exists() and not Path(self.out).is_dir():
            raise SweepError(f"out {self.out} exists and is not a directory")
        for name in self.schedules:  # every schedule is built once here, on the client (a bad one stops nothing later)
            try:
                get_schedule(name)
            except S2NError as exc:
                raise SweepError(f"schedule {name!r}: {exc}") from None
        return self


_SCALARS = {"target": str, "out": str, "checkpoint": str | None, "edm": bool, "reference": str | None,
            "sigma_data": float, "samples": int, "bootstrap": int, "denoise_final": bool, "device": str,
            "dtype": str, "save_samples": bool, "figure_metric": str | None}
_LISTS = {"schedules": str, "grids": str, "exponents": float, "nfe": int, "methods": str, "rho": float,
          "gamma": float, "delta": float, "seeds": int, "metrics": str}


def _typed(name: str, value: Any, kind: Any) -> Any:
    """``value`` as ``kind`` (str, bool, int, float, or ``str | None``), refusing what is not exactly that:
    bools for numbers, fractional or huge counts, NaN and inf, empty strings."""
    if kind == (str | None):
        return None if value is None else _typed(name, value, str)
    if kind is str:
        if not isinstance(value, str) or not value.strip():
            raise SweepError(f"{name} must be a non-empty string, got {value!r}")
        return value
    if kind is bool:
        if not isinstance(value, bool):
            raise SweepError(f"{name} must be true or false, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SweepError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise SweepError(f"{name} must be finite, got {value}")
    if kind is int:
        if not float(value).is_integer() or abs(value) > 2**53:
            raise SweepError(f"{name} must be a whole number, got {value}")
        return int(value)
    return float(value)


def load_config(path: Path | str | None, overrides: dict[str, Any] | None = None) -> SweepConfig:
    """A :class:`SweepConfig` from a TOML file (its ``[sweep]`` table, or the top level) and overrides."""
    values: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError) as exc:
            raise SweepError(f"cannot read sweep config {path}: {str(exc)[:200]}") from None
        table = data.get("sweep", data)
        if not isinstance(table, dict):
            raise SweepError(f"sweep config {path}: [sweep] must be a table, got {type(table).__name__}")
        values.update(table)
    if path is not None and "out" not in values:
        values["out"] = f"runs/{Path(path).stem}"
    values.update(overrides or {})
    names = {f.name for f in dataclasses.fields(SweepConfig)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise SweepError(f"unknown sweep config keys {unknown} (known: {', '.join(sorted(names))})")
    return SweepConfig(**values).validate()


def steps_for_nfe(method: str, nfe: int, denoise_final: bool) -> tuple[int, int]:
    """(steps, actual NFE): the most steps whose NFE does not exceed the target (at least one step)."""
    extra = 1 if denoise_final else 0
    solver = get_solver(method)
    steps = solver.steps_for_nfe(nfe - extra)
    return steps, solver.nfe(steps) + extra


DROP_REASONS = {
    "deterministic": "deterministic solver such as heun (rho != 0 not run)",
    "delta": "rho = 0 injects no noise (delta != 0 not run)",
    "duplicate": "same run as another combination (e.g. exponents of a non-Karras grid, NFE rounding)",
}
"""Why a combination of the grid is not run: key → sentence (see :func:`expansion`)."""


def expand(cfg: SweepConfig) -> list[dict[str, Any]]:
    """The runs of a sweep, each a plain dict (picklable, JSON-able) with its ``run_id``."""
    return expansion(cfg)[0]


def combinations(cfg: SweepConfig) -> int:
    """How many combinations the config's lists span (before any is dropped)."""
    count = 1
    for values in (cfg.schedules, cfg.grids, cfg.exponents, cfg.nfe, cfg.methods, cfg.rho, cfg.gamma, cfg.delta,
                   cfg.seeds):
        count *= len(values)
    return count


def expansion(cfg: SweepConfig) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The runs of a sweep and how many combinations were dropped per reason (:data:`DROP_REASONS`)."""
    runs, seen = [], set()
    dropped = {reason: 0 for reason in DROP_REASONS}
    for schedule, grid, exponent, nfe, method, rho, gamma, delta, seed in itertools.product(
            cfg.schedules, cfg.grids, cfg.exponents, cfg.nfe, cfg.methods, cfg.rho, cfg.gamma, cfg.delta, cfg.seeds):
        if rho != 0.0 and get_solver(method).rho_zero_only:
            dropped["deterministic"] += 1
            continue
        if rho == 0.0 and delta != 0.0:
            dropped["delta"] += 1
            continue  # no noise is injected, δ has no effect
        if grid != "karras":
            exponent = None  # the exponent shapes only the karras grid: recorded as not used
        steps, used = steps_for_nfe(method, int(nfe), cfg.denoise_final)
        run = {"target": cfg.target, "schedule": schedule, "grid": grid, "exponent": exponent,
               "nfe_target": int(nfe), "steps": steps, "nfe": used, "method": method, "rho": float(rho),
               "gamma": float(gamma), "delta": float(delta), "seed": int(seed), "samples": cfg.samples}
        common = {k: getattr(cfg, k) for k in ("checkpoint", "edm", "reference", "sigma_data", "metrics",
                                               "bootstrap", "denoise_final", "device", "dtype")}
        key = json.dumps({**run, **common}, sort_keys=True)
        run_id = hashlib.sha1(key.encode()).hexdigest()[:12]
        if run_id in seen:
            dropped["duplicate"] += 1
            continue
        seen.add(run_id)
        runs.append({"run_id": run_id, **run, **common})
    return runs, {k: n for k, n in dropped.items() if n}
