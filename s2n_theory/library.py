"""Built-in schedules and the spec language that names them.

``get_schedule`` accepts

* a built-in name, optionally with parameters: ``"vp-linear"``,
  ``"vp-linear(beta_max=10, t_min=1e-4)"``;
* ``"general"``: the symbolic schedule with undefined α(t), λ(t);
* a user spec: ``"alpha=1/sqrt(1+t**2); lambda=5-12*t; domain=[0,1]"`` with any
  two of ``alpha``, ``sigma``, ``lambda`` (alias ``log_snr``), or ``beta=…``
  (VP rate), plus optional ``domain=[a,b]``, ``name=…`` and constant
  parameters (``k=2; alpha=exp(-k*t); sigma=...``).

Every expression goes through :func:`s2n_theory.expressions.parse_expression`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import sympy as sp

from .errors import SpecError
from .expressions import T, parse_expression, parse_number
from .schedule import Schedule

Builder = Callable[..., Schedule]


@dataclass(frozen=True)
class Builtin:
    name: str
    build: Builder
    defaults: Mapping[str, float]
    summary: str


BUILTINS: dict[str, Builtin] = {}


def _register(name: str, summary: str, **defaults: float) -> Callable[[Builder], Builder]:
    def decorate(build: Builder) -> Builder:
        BUILTINS[name] = Builtin(name, build, defaults, summary)
        return build

    return decorate


def _r(value: float) -> sp.Expr:
    """A parameter as an exact rational, so symbolic proofs see exact numbers."""
    return sp.Rational(repr(float(value)))


@_register("vp-linear", "VP SDE, linear beta(t) = beta_min + t (beta_max - beta_min)",
           beta_min=0.1, beta_max=20.0, t_min=1e-3, t_max=1.0)
def vp_linear(beta_min: float, beta_max: float, t_min: float, t_max: float) -> Schedule:
    """VP-linear (DDPM in continuous time; Song et al. 2021, "Score-based generative modeling through SDEs").

    β(t) = β_min + t (β_max − β_min), B(t) = β_min t + ½ (β_max − β_min) t²,
    α = e^{−B/2}, σ² = 1 − e^{−B}, λ = −log(e^{B} − 1). Defaults β ∈ [0.1, 20] on [1e-3, 1].
    """
    b0, b1 = _r(beta_min), _r(beta_max)
    B = b0 * T + (b1 - b0) * T**2 / 2
    return Schedule.from_vp_integrated_beta(B, domain=(t_min, t_max), name="vp-linear")


@_register("vp-cosine", "iDDPM cosine: alpha = cos(pi/2 (t+s)/(1+s)) / cos(pi/2 s/(1+s)), VP",
           s=0.008, t_min=1e-3, t_max=0.999)
def vp_cosine(s: float, t_min: float, t_max: float) -> Schedule:
    """VP-cosine (Nichol & Dhariwal 2021, "Improved DDPM").

    ᾱ(t) = α(t)² = cos²(π/2 · (t+s)/(1+s)) / cos²(π/2 · s/(1+s)), σ² = 1 − α², s = 0.008.
    α vanishes at t = 1, so the default domain stops at 0.999 (iDDPM clips β there too).
    """
    off = _r(s)
    alpha = sp.cos(sp.pi / 2 * (T + off) / (1 + off)) / sp.cos(sp.pi / 2 * off / (1 + off))
    return Schedule.from_alpha_sigma(alpha, sp.sqrt(1 - alpha**2), domain=(t_min, t_max), name="vp-cosine")


@_register("sub-vp", "sub-VP SDE: alpha = exp(-B/2), sigma = 1 - exp(-B), linear beta",
           beta_min=0.1, beta_max=20.0, t_min=1e-3, t_max=1.0)
def sub_vp(beta_min: float, beta_max: float, t_min: float, t_max: float) -> Schedule:
    """sub-VP (Song et al. 2021): same α as VP-linear, σ = 1 − e^{−B} (so σ² ≤ VP's σ²)."""
    b0, b1 = _r(beta_min), _r(beta_max)
    B = b0 * T + (b1 - b0) * T**2 / 2
    return Schedule(sp.exp(-B / 2), 1 - sp.exp(-B), -B - 2 * sp.log(1 - sp.exp(-B)),
                    domain=(t_min, t_max), name="sub-vp")


@_register("ve", "VE SDE: alpha = 1, sigma = sigma_min (sigma_max/sigma_min)^t",
           sigma_min=0.01, sigma_max=50.0, t_min=0.0, t_max=1.0)
def ve(sigma_min: float, sigma_max: float, t_min: float, t_max: float) -> Schedule:
    """VE (Song et al. 2021; SMLD): α ≡ 1, geometric σ(t) = σ_min (σ_max/σ_min)^t, σ ∈ [0.01, 50]."""
    lo, hi = _r(sigma_min), _r(sigma_max)
    return Schedule.from_edm_sigma(lo * (hi / lo) ** T, domain=(t_min, t_max), name="ve")


@_register("edm", "EDM: alpha = 1, sigma = t on [0.002, 80]", t_min=0.002, t_max=80.0)
def edm(t_min: float, t_max: float) -> Schedule:
    """EDM (Karras et al. 2022, "Elucidating the design space"): α ≡ 1, σ(t) = t, t ∈ [0.002, 80]."""
    return Schedule.from_edm_sigma(T, domain=(t_min, t_max), name="edm")


@_register("rectified-flow", "rectified flow / flow matching: alpha = 1 - t, sigma = t",
           t_min=1e-3, t_max=1 - 1e-3)
def rectified_flow(t_min: float, t_max: float) -> Schedule:
    """Rectified flow / flow matching (Liu et al. 2022; Lipman et al. 2022): α = 1 − t, σ = t.

    λ = 2 log((1 − t)/t) is infinite at both ends, so the default domain is [1e-3, 1 − 1e-3].
    """
    return Schedule(1 - T, T, 2 * sp.log(1 - T) - 2 * sp.log(T), domain=(t_min, t_max), name="rectified-flow")


@_register("vdm", "VDM linear log-SNR from lambda_max to lambda_min, VP alpha",
           lambda_max=13.3, lambda_min=-5.0, t_min=0.0, t_max=1.0)
def vdm(lambda_max: float, lambda_min: float, t_min: float, t_max: float) -> Schedule:
    """Linear log-SNR (Kingma et al. 2021, VDM): λ(t) = λ_max + (λ_min − λ_max) t, α² = sigmoid(λ)."""
    hi, lo = _r(lambda_max), _r(lambda_min)
    return Schedule.from_vp_log_snr(hi + (lo - hi) * T, domain=(t_min, t_max), name="vdm")


@_register("shifted-cosine", "cosine log-SNR shifted by 2 log(shift), VP alpha",
           shift=0.5, t_min=1e-3, t_max=1 - 1e-3)
def shifted_cosine(shift: float, t_min: float, t_max: float) -> Schedule:
    """Shifted cosine (Hoogeboom et al. 2023, "simple diffusion"): λ(t) = −2 log tan(πt/2) + 2 log(shift).

    shift = 1 is the plain cosine α = cos(πt/2); shift < 1 adds noise (for larger images).
    """
    return Schedule.from_vp_log_snr(-2 * sp.log(sp.tan(sp.pi * T / 2)) + 2 * sp.log(_r(shift)),
                                    domain=(t_min, t_max), name="shifted-cosine")


_CALL = re.compile(r"^\s*([A-Za-z][\w\-]*)\s*(?:\((.*)\))?\s*$", re.S)
_USER_KEYS = {"alpha", "sigma", "lambda", "log_snr", "beta"}


def builtin_names() -> list[str]:
    return list(BUILTINS)


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
    given = set(exprs)
    if given == {"beta"}:
        return Schedule.from_vp_beta(exprs["beta"], **kw)
    if given == {"alpha", "sigma"}:
        return Schedule.from_alpha_sigma(exprs["alpha"], exprs["sigma"], **kw)
    if given == {"alpha", "lambda"}:
        return Schedule.from_alpha_log_snr(exprs["alpha"], exprs["lambda"], **kw)
    if given == {"sigma", "lambda"}:
        return Schedule.from_sigma_log_snr(exprs["sigma"], exprs["lambda"], **kw)
    raise SpecError(
        "schedule spec: give exactly two of alpha, sigma, lambda, or beta alone "
        f"(got {', '.join(sorted(given)) or 'none'})"
    )


def get_schedule(spec: str | Schedule) -> Schedule:
    """A schedule from a built-in name (with parameters), ``"general"``, or a user spec."""
    if isinstance(spec, Schedule):
        return spec
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
    schedule = builtin.build(**params)
    schedule.parameters = params
    if args.strip():
        shown = ", ".join(f"{k}={v:g}" for k, v in _parse_params(args, builtin.defaults, name).items())
        schedule.name = f"{name}({shown})"
    schedule.description = (builtin.build.__doc__ or "").strip()
    return schedule
