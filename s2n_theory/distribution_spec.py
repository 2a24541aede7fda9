"""Text form of the channel-input distributions (``s2n info --dist``): :func:`parse_distribution`.

``gaussian(var)``, ``binary``, ``uniform(a,b)`` and ``mixture(weights;means;variances)``, read
strictly into the classes of :mod:`s2n_theory.distributions`; each ``spec()`` parses back to an
equal distribution.
"""

from __future__ import annotations

import re

from .distributions import Binary, Distribution, Gaussian, Mixture1D, Uniform
from .errors import ExpressionError, SpecError
from .expressions import parse_number

_DIST = re.compile(r"^\s*([A-Za-z]+)\s*(?:\((.*)\))?\s*$", re.S)
MAX_SPEC_LENGTH = 2000
MAX_COMPONENTS = 64


def _numbers(text: str, where: str) -> list[float]:
    parts = [p.strip() for p in text.split(",")]
    if any(not p for p in parts):
        raise SpecError(f"{where}: empty number in {text!r}")
    try:
        return [parse_number(p, where=where) for p in parts]
    except ExpressionError as exc:
        raise SpecError(str(exc)) from None


def parse_distribution(spec: str) -> Distribution:
    """``gaussian(var)``, ``binary``, ``uniform(a,b)`` or ``mixture(w1,w2;m1,m2;v1,v2)``.

    A strict parser: numbers go through :func:`s2n_theory.expressions.parse_number` (no eval);
    anything else raises :class:`SpecError` naming the problem.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise SpecError("dist: empty distribution spec")
    if len(spec) > MAX_SPEC_LENGTH:
        raise SpecError(f"dist: spec longer than {MAX_SPEC_LENGTH} characters")
    match = _DIST.match(spec)
    if not match:
        raise SpecError(f"dist: cannot read {spec!r} (expected gaussian(var), binary, uniform(a,b) or "
                        "mixture(weights;means;variances))")
    name, args = match.group(1).lower(), match.group(2)
    if name == "binary":
        if args is not None and args.strip():
            raise SpecError("binary: takes no parameters")
        return Binary()
    if args is None:
        raise SpecError(f"{name}: missing parameters in parentheses")
    if name == "gaussian":
        values = _numbers(args, "gaussian")
        if len(values) != 1:
            raise SpecError(f"gaussian: expected one variance, got {len(values)} numbers")
        return Gaussian(values[0])
    if name == "uniform":
        values = _numbers(args, "uniform")
        if len(values) != 2:
            raise SpecError(f"uniform: expected two numbers a,b, got {len(values)}")
        return Uniform(*values)
    if name == "mixture":
        groups = args.split(";")
        if len(groups) != 3:
            raise SpecError("mixture: expected three ';'-separated lists: weights;means;variances")
        labels = ("weights", "means", "variances")
        w, m, v = (_numbers(g, f"mixture {label}") for g, label in zip(groups, labels, strict=True))
        if not (len(w) == len(m) == len(v)):
            raise SpecError(f"mixture: lists have different lengths ({len(w)}, {len(m)}, {len(v)})")
        if len(w) > MAX_COMPONENTS:
            raise SpecError(f"mixture: at most {MAX_COMPONENTS} components")
        return Mixture1D(tuple(w), tuple(m), tuple(v))
    raise SpecError(f"dist: unknown distribution {name!r} (gaussian, binary, uniform, mixture)")


# ---------------------------------------------------------------------------- figure
