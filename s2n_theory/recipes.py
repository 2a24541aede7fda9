"""Training recipes as data (W2, W3): schedule + prediction target + time density + loss weight.

A recipe's texts are read by the safe parser with the names of :func:`s2n_theory.objectives.recipe_names`
(``t``, ``alpha``, ``sigma``, ``logsnr``, ``dlogsnr``). The built-ins, with w(λ) under the convention
L = ½ ∫ w(λ) E‖ε̂ − ε‖² dλ of :mod:`s2n_theory.objectives`:

* ``ddpm``: ε-loss, t uniform, VP-linear (Ho et al. 2020 in continuous time);
* ``iddpm-cosine``: ε-loss, t uniform, iDDPM's cosine with offset s = 0.008 (Nichol & Dhariwal 2021);
* ``eps-cosine``: ε-loss, t uniform, the plain cosine α = cos(πt/2): w = sech(λ/2)/(2π);
* ``v-cosine``: v-loss, t uniform, plain cosine (Salimans & Ho 2022): w = e^{−λ/2}/π;
* ``edm``: F-loss (σ_data), σ = t lognormal(P_mean, P_std) (Karras et al. 2022):
  w = N(λ; −2 P_mean, (2 P_std)²) (e^{−λ} + σ_data²)/σ_data²;
* ``flow``: velocity loss, t uniform, rectified flow α = 1 − t, σ = t: w = e^{−λ/2}/2;
* ``vdm-elbo``: ε-loss weighted by −λ′, t uniform, VDM's linear λ: w ≡ 1 (the continuous ELBO).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import sympy as sp

from .errors import SpecError
from .expressions import parse_number
from .objectives import DEFAULT_SIGMA_DATA, ImpliedWeighting, conversion_factor, implied_weighting
from .schedule import Schedule
from .schedule_spec import get_schedule
from .symbols import LAMBDA, T


@dataclass(frozen=True)
class Recipe:
    """One training recipe. ``time_density`` and ``weight`` are text (or SymPy in t from code)."""

    name: str
    schedule: str | Schedule
    prediction: str
    time_density: str | sp.Expr = "1"
    weight: str | sp.Expr = "1"
    sigma_data: float = DEFAULT_SIGMA_DATA
    summary: str = ""

    def implied_weighting(self, *, closed_form: bool = True) -> ImpliedWeighting:
        """W2: this recipe's w(λ) and λ-density."""
        return implied_weighting(self.schedule, self.prediction, self.time_density, weight=self.weight,
                                 sigma_data=self.sigma_data, closed_form=closed_form)


def edm_time_density(p_mean: float = -1.2, p_std: float = 1.2) -> str:
    """EDM's lognormal density of σ = t on the ``edm`` schedule: log σ ~ N(P_mean, P_std²)."""
    return f"exp(-(log(t) - ({p_mean!r}))**2/(2*{p_std!r}**2))/(t*{p_std!r}*sqrt(2*pi))"


def edm_log_snr_density(p_mean: float = -1.2, p_std: float = 1.2) -> str:
    """The same law on any schedule, written through λ: λ = −2 log σ̄ ~ N(−2 P_mean, (2 P_std)²),
    times −λ′(t) to make it a density in t."""
    return (f"exp(-(logsnr - ({-2 * p_mean!r}))**2/(2*{2 * p_std!r}**2))/({2 * p_std!r}*sqrt(2*pi))"
            "*(-dlogsnr)")


def edm_recipe(p_mean: float = -1.2, p_std: float = 1.2, sigma_data: float = DEFAULT_SIGMA_DATA) -> Recipe:
    """EDM's training recipe with its parameters (defaults: P_mean = −1.2, P_std = 1.2, σ_data = 0.5)."""
    if not p_std > 0:
        raise SpecError(f"edm: p_std must be > 0, got {p_std}")
    return Recipe("edm", "edm", "edm", edm_time_density(p_mean, p_std), "1", sigma_data,
                  f"EDM F-loss, log sigma ~ N({p_mean:g}, {p_std:g}^2), sigma_data = {sigma_data:g}")


_PLAIN_COSINE = "shifted-cosine(shift=1)"

RECIPES: dict[str, Recipe] = {
    "ddpm": Recipe("ddpm", "vp-linear", "eps", summary="DDPM eps-loss, t uniform, VP-linear"),
    "iddpm-cosine": Recipe("iddpm-cosine", "vp-cosine", "eps", summary="eps-loss, t uniform, iDDPM cosine (s=0.008)"),
    "eps-cosine": Recipe("eps-cosine", _PLAIN_COSINE, "eps", summary="eps-loss, t uniform, cosine alpha=cos(pi t/2)"),
    "v-cosine": Recipe("v-cosine", _PLAIN_COSINE, "v", summary="v-loss, t uniform, cosine alpha=cos(pi t/2)"),
    "edm": edm_recipe(),
    "flow": Recipe("flow", "rectified-flow", "flow", summary="flow matching velocity loss, t uniform, alpha=1-t"),
    "vdm-elbo": Recipe("vdm-elbo", "vdm", "eps", weight="-dlogsnr",
                       summary="VDM continuous ELBO: eps-loss weighted by -lambda', t uniform"),
}
"""The built-in recipes by name."""

_CALL = re.compile(r"^\s*([A-Za-z][\w\-]*)\s*(?:\((.*)\))?\s*$", re.S)
_EDM_PARAMETERS = ("p_mean", "p_std", "sigma_data")


def get_recipe(spec: str | Recipe) -> Recipe:
    """A built-in recipe by name; ``edm`` takes parameters: ``edm(p_mean=-1.2, p_std=1.2, sigma_data=0.5)``."""
    if isinstance(spec, Recipe):
        return spec
    match = _CALL.match(spec) if isinstance(spec, str) else None
    if not match or match.group(1) not in RECIPES:
        raise SpecError(f"unknown recipe {spec!r} (built-ins: {', '.join(RECIPES)})")
    name, args = match.group(1), (match.group(2) or "").strip()
    if not args:
        return RECIPES[name]
    if name != "edm":
        raise SpecError(f"recipe {name!r} takes no parameters")
    values: dict[str, float] = {}
    for item in filter(None, (p.strip() for p in args.split(","))):
        key, eq, raw = (part.strip() for part in item.partition("="))
        if not eq or key not in _EDM_PARAMETERS:
            raise SpecError(f"edm: parameter {item!r} must be one of {', '.join(_EDM_PARAMETERS)} written name=value")
        values[key] = parse_number(raw, where=f"edm.{key}")
    return replace(edm_recipe(**values), name=f"edm({args})")


def equivalent_recipe(source: Recipe | ImpliedWeighting, schedule: Schedule | str, prediction: str) -> Recipe:
    """W3: a recipe on ``schedule`` training ``prediction`` with the same w(λ) and the same λ-density
    as ``source``: p(t) = p_λ(λ(t)) (−λ′(t)) and m(t) = w(λ(t)) / (p_λ(λ(t)) c(t)).

    Needs the source's closed forms in λ (raises :class:`SpecError` otherwise).
    """
    weighting = source.implied_weighting() if isinstance(source, Recipe) else source
    if weighting.weighting is None or weighting.log_snr_density is None:
        raise SpecError("equivalent_recipe: the source recipe has no closed form in lambda")
    target = get_schedule(schedule)
    lam = target.log_snr
    p_lam = weighting.log_snr_density.subs(LAMBDA, lam)
    density = p_lam * (-target.dlog_snr)
    weight = weighting.weighting.subs(LAMBDA, lam) / (p_lam * conversion_factor(prediction, target,
                                                                               weighting.sigma_data))
    name = getattr(source, "name", "recipe")
    return Recipe(f"{name} as {prediction} on {target.name}", target, prediction, density, weight,
                  weighting.sigma_data, f"same w and lambda-density as {name}")


__all__ = ["RECIPES", "Recipe", "T", "edm_log_snr_density", "edm_recipe", "edm_time_density", "equivalent_recipe",
           "get_recipe"]
