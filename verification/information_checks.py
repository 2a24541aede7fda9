"""Checks of the information theory, docs/theory.md: I1–I5.

I1 and I3 are statements in snr alone, so they are checked once, on the general
schedule: symbolically for the Gaussian, by step-controlled finite differences
of quadrature values for binary, uniform and a 1-D mixture, and by Monte Carlo
for a 2-D mixture. I2, I4 and I5 involve the schedule and run on every built-in
(I2 and I5 also symbolically on the general schedule). Tolerances come from the
error estimates that the quadrature, the finite differences and Monte Carlo report.

Rows follow the convention of :mod:`.registry`: numeric rows report the worst ratio of an
error to its own error bound (tolerance 1) and the worst relative error in the detail;
statistical rows report |z| against the Bonferroni threshold at :data:`.stat_tests.FALSE_ALARM`.
The statistical tests take their seed as an argument so that ``tests/`` can rerun them on new
seeds and count false alarms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import sympy as sp

from s2n_theory import distributions, information, snspace
from s2n_theory.information import SNR, VARIANCE
from s2n_theory.numeric_schedule import compile_schedule
from s2n_theory.schedule import Schedule
from s2n_theory.symbols import T

from .prove import prove_identities
from .registry import Outcome, claim_check
from .stat_tests import FALSE_ALARM, rate_note, z_threshold

RANGES = {SNR: (0.01, 50.0), VARIANCE: (0.1, 3.0)}

ONE_D = {
    "binary": distributions.Binary(),
    "uniform": distributions.Uniform(-math.sqrt(3.0), math.sqrt(3.0)),
    "mixture": distributions.Mixture1D((0.3, 0.5, 0.2), (-1.5, 0.2, 2.0), (0.1, 0.4, 0.05)),
}
"""The non-Gaussian 1-D inputs of the numeric checks."""


def mixture_2d(samples: int, seed: int = 11) -> distributions.MixtureND:
    return distributions.MixtureND((0.5, 0.3, 0.2), ((-1.0, 0.5), (1.0, -0.5), (0.0, 1.5)),
                                 ([[0.3, 0.1], [0.1, 0.2]], [[0.2, -0.05], [-0.05, 0.4]], [[0.1, 0.0], [0.0, 0.1]]),
                                 samples=samples, seed=seed)


@dataclass
class StatTest:
    """A statistical test's outcome: the statistic (larger is worse) against its threshold at ``rate``."""

    statistic: float
    threshold: float
    rate: float
    comparisons: int
    detail: str

    @property
    def passed(self) -> bool:
        return self.statistic <= self.threshold

    def outcome(self) -> Outcome:
        return Outcome(self.passed, "montecarlo", self.statistic,
                       f"{self.detail}; {rate_note(self.comparisons, self.rate)}", tolerance=self.threshold)


def _ratio_outcome(failed: list[str], ratio: float, relative: float, detail: str) -> Outcome:
    """A numeric row whose errors each have their own bound: residual max error/bound, tolerance 1."""
    prefix = f"failed: {', '.join(failed)}; " if failed else ""
    return Outcome(not failed, "numeric", ratio,
                   prefix + f"{detail}; residual = max error / its error bound, max relative error {relative:.2e}",
                   tolerance=1.0)


def _snr_points(level: str) -> np.ndarray:
    return np.array([0.05, 0.7, 4.0, 30.0]) if level == "quick" else np.geomspace(1e-3, 1e3, 13)


def _gaussian_information_in_time(schedule: Schedule) -> tuple[sp.Expr, sp.Expr]:
    snr_t = sp.exp(schedule.log_snr)
    return (information.gaussian_mutual_information_expr(snr_t, VARIANCE),
            information.gaussian_mmse_expr(snr_t, VARIANCE))


# ---------------------------------------------------------------------------- I1
@claim_check("I1", "symbolic", "Gaussian: dI/dsnr = ½ mmse and dI/dλ = ½ e^λ mmse", concrete=False)
def check_i1(schedule: Schedule, level: str) -> Outcome:
    lam = sp.Symbol("Lambda", real=True)
    info, mm = information.gaussian_mutual_information_expr(), information.gaussian_mmse_expr()
    return prove_identities([
        ("dI/dsnr = mmse/2", sp.diff(info, SNR), information.dI_dsnr_from_mmse(mm)),
        ("dI/dlambda = e^lambda mmse/2", sp.diff(info.subs(SNR, sp.exp(lam)), lam),
         information.dI_dlog_snr_from_mmse(sp.exp(lam), mm.subs(SNR, sp.exp(lam)))),
    ], schedule, {**RANGES, lam: (-5.0, 5.0)}, level)


@claim_check("I1", "numeric", "dI/dsnr (finite differences of quadrature I) = ½ mmse: binary, uniform, mixture",
             concrete=False)
def check_i1_quadrature(schedule: Schedule, level: str) -> Outcome:
    snr = _snr_points(level)
    worst, ratio, failed = 0.0, 0.0, []
    for name, dist in ONE_D.items():
        derivative = information.dI_dsnr(dist, snr)
        mm, mm_err = information.mmse(dist, snr, with_error=True)
        rate = information.dI_dsnr_from_mmse(mm)
        scale = 0.5 * float(dist.covariance()[0, 0])
        tolerance = 10 * (derivative.error + 0.5 * mm_err) + 1e-9 * scale
        residual = np.abs(derivative.value - rate)
        worst = max(worst, float(np.max(residual)) / scale)
        ratio = max(ratio, float(np.max(residual / tolerance)))
        if np.any(residual > tolerance):
            failed.append(name)
    return _ratio_outcome(failed, ratio, worst,
                          f"{len(snr)} snr in [{snr.min():g}, {snr.max():g}]; relative to mmse(0)/2")


def _pathwise_z_test(claim: str, level: str, seed: int, rate: float, samples: int | None) -> StatTest:
    """I1 (``claim`` "I1") or I3: max |z| of the pathwise identity's mean over the snr points, common draws."""
    dist = mixture_2d(samples or (20000 if level == "quick" else 50000), seed=seed)
    snr = np.array([0.2, 1.5, 10.0]) if level == "quick" else np.geomspace(0.05, 50, 7)
    worst = 0.0
    for s in snr:
        paths = information.pathwise_derivatives(dist, float(s))
        if claim == "I1":
            terms = dist.per_sample(float(s))
            diff = paths["dinfo"] - information.dI_dsnr_from_mmse(terms["sq_error"])
        else:
            terms = dist.per_sample(float(s), covariance=True)
            diff = paths["dsq_error"] + terms["tr_cov2"]
        z = abs(diff.mean()) / (diff.std(ddof=1) / math.sqrt(dist.samples))
        worst = max(worst, float(z))
    z_max = z_threshold(len(snr), rate)
    return StatTest(worst, z_max, rate, len(snr),
                    f"max |z| {worst:.2f} over {len(snr)} snr, {dist.samples} draws (seed {seed}); threshold {z_max:.2f}")


def i1_test(level: str = "quick", seed: int = 11, rate: float = FALSE_ALARM, samples: int | None = None) -> StatTest:
    """The statistical test of the I1 Monte Carlo row on the draws of ``seed`` (``samples``: the level's by default)."""
    return _pathwise_z_test("I1", level, seed, rate, samples)


def i3_test(level: str = "quick", seed: int = 11, rate: float = FALSE_ALARM, samples: int | None = None) -> StatTest:
    """The statistical test of the I3 Monte Carlo row on the draws of ``seed`` (``samples``: the level's by default)."""
    return _pathwise_z_test("I3", level, seed, rate, samples)


@claim_check("I1", "montecarlo", "2-D mixture: pathwise dI/dsnr = ½ mmse on common draws", concrete=False)
def check_i1_montecarlo(schedule: Schedule, level: str) -> Outcome:
    return i1_test(level).outcome()


# ---------------------------------------------------------------------------- I2
@claim_check("I2", "symbolic", "Gaussian: d/dt I(x₀; x_t) = ½ λ′ e^λ mmse(e^λ)")
def check_i2(schedule: Schedule, level: str) -> Outcome:
    info_t, mm_t = _gaussian_information_in_time(schedule)
    rate = information.time_rate(schedule.dlog_snr, sp.exp(schedule.log_snr), mm_t)
    return prove_identities([("d/dt I(x0; x_t) = lambda' e^lambda mmse / 2", sp.diff(info_t, T), rate)],
                            schedule, RANGES, level)


def _interior_times(schedule: Schedule, count: int) -> np.ndarray:
    """Times where λ is evenly spread over the schedule's range clipped to [−5, 9]."""
    num = compile_schedule(schedule, "numpy")
    lo = max(float(num.log_snr(np.float64(schedule.t_max))), -5.0)
    hi = min(float(num.log_snr(np.float64(schedule.t_min))), 9.0)
    return num.t_of_log_snr(np.linspace(hi, lo, count + 2)[1:-1])


@claim_check("I2", "numeric", "d/dt I(e^{λ(t)}) by finite differences in t = ½ λ′ e^λ mmse ≤ 0", general=False)
def check_i2_quadrature(schedule: Schedule, level: str) -> Outcome:
    num = compile_schedule(schedule, "numpy")
    times = _interior_times(schedule, 4 if level == "quick" else 10)
    dists = {k: ONE_D[k] for k in (("mixture",) if level == "quick" else ONE_D)}
    worst, ratio, failed = 0.0, 0.0, []
    for name, dist in dists.items():
        step = 0.2 * np.minimum(times - schedule.t_min, schedule.t_max - times)
        fd = information.finite_difference(lambda t, d=dist: information.mutual_information(d, num.snr(t)), times, step)
        snr = num.snr(times)
        mm, mm_err = information.mmse(dist, snr, with_error=True)
        rate = information.time_rate(num.dlog_snr(times), snr, mm)
        rate_err = np.abs(information.time_rate(num.dlog_snr(times), snr, mm_err))
        scale = float(np.max(np.abs(rate)))
        residual = np.abs(fd.value - rate)
        tolerance = 10 * (fd.error + rate_err) + 1e-9 * scale
        worst = max(worst, float(np.max(residual)) / scale)
        ratio = max(ratio, float(np.max(residual / tolerance)))
        if np.any(rate > 0):  # the sign is part of the claim: a positive rate is an unbounded error
            ratio = math.inf
            failed.append(f"{name} (positive rate)")
        elif np.any(residual > tolerance):
            failed.append(name)
    return _ratio_outcome(failed, ratio, worst, f"{', '.join(dists)} at {len(times)} times; relative to max |rate|")


# ---------------------------------------------------------------------------- I3
@claim_check("I3", "symbolic", "Gaussian: d mmse/dsnr = −Var[x₀|y]² (Bayes posterior variance)", concrete=False)
def check_i3(schedule: Schedule, level: str) -> Outcome:
    posterior = information.gaussian_posterior_variance_expr()
    return prove_identities([
        ("d mmse/dsnr = -Var[x0|y]^2", sp.diff(information.gaussian_mmse_expr(), SNR), -posterior**2),
        ("mmse = E Var[x0|y]", information.gaussian_mmse_expr(), posterior),
    ], schedule, RANGES, level)


@claim_check("I3", "numeric", "d mmse/dsnr (finite differences) = −E[Var[x₀|y]²]: binary, uniform, mixture",
             concrete=False)
def check_i3_quadrature(schedule: Schedule, level: str) -> Outcome:
    snr = _snr_points(level)
    worst, ratio, failed = 0.0, 0.0, []
    for name, dist in ONE_D.items():
        fd = information.finite_difference(lambda s, d=dist: information.mmse(d, s), snr, 0.25 * snr, lower=0.0)
        value, error = information.mmse_derivative(dist, snr, with_error=True)
        scale = float(dist.covariance()[0, 0]) ** 2
        residual = np.abs(fd.value - value)
        tolerance = 10 * (fd.error + error) + 1e-9 * scale
        worst = max(worst, float(np.max(residual)) / scale)
        ratio = max(ratio, float(np.max(residual / tolerance)))
        if np.any(residual > tolerance):
            failed.append(name)
    return _ratio_outcome(failed, ratio, worst,
                          f"{len(snr)} snr in [{snr.min():g}, {snr.max():g}]; relative to Var[x0]^2")


@claim_check("I3", "montecarlo", "2-D mixture: pathwise d mmse/dsnr = −E tr(Cov[x₀|y]²) on common draws",
             concrete=False)
def check_i3_montecarlo(schedule: Schedule, level: str) -> Outcome:
    return i3_test(level).outcome()


# ---------------------------------------------------------------------------- I4
I4_POINTS = np.array([[-1.0, 0.5], [0.3, 0.4], [1.2, -0.9], [0.0, 1.6]])
"""Data points for I4: near modes, between modes and off the bulk."""


def i4_test(schedule: Schedule, level: str = "quick", seed: int = 5, rate: float = FALSE_ALARM) -> StatTest:
    """The statistical test of I4 on the draws of ``seed``: max |z| over the points, Bonferroni over them."""
    oracle = mixture_2d(1).oracle
    samples = 4096 if level == "quick" else 16384
    est = information.likelihood_estimate(oracle.denoiser(schedule), I4_POINTS, schedule, samples=samples, seed=seed)
    exact = -oracle.log_prob_at(I4_POINTS, 1.0, 0.0)
    z = np.abs(est.nll - exact) / est.standard_error
    lo, hi = est.log_snr_range
    z_max = z_threshold(len(I4_POINTS), rate)
    return StatTest(float(np.max(z)), z_max, rate, len(I4_POINTS),
                    f"max |z| {np.max(z):.2f} over {len(I4_POINTS)} points (2-D mixture), {samples} draws each "
                    f"(seed {seed}), lambda in [{lo:.3g}, {hi:.3g}], SE {np.max(est.standard_error):.2e}; "
                    f"threshold {z_max:.2f}")


@claim_check("I4", "montecarlo", "−log p(x₀) from the exact denoiser (λ-integral, logistic IS) within the "
             "Bonferroni z-threshold", general=False)
def check_i4(schedule: Schedule, level: str) -> Outcome:
    return i4_test(schedule, level).outcome()


# ---------------------------------------------------------------------------- I5
@claim_check("I5", "symbolic", "Gaussian: loss integrand in t = −d/dt I(x₀; x_t), so L = I(t_min) − I(t_max)")
def check_i5(schedule: Schedule, level: str) -> Outcome:
    info_t, _ = _gaussian_information_in_time(schedule)
    integrand = snspace.loss_integrand_t(schedule, lambda snr: information.gaussian_mmse_expr(snr, VARIANCE))
    return prove_identities([("loss integrand = -d/dt I(x0; x_t)", integrand, -sp.diff(info_t, T))],
                            schedule, RANGES, level)


@claim_check("I5", "numeric", "optimal loss ∫ −½λ′e^λ mmse dt = I(x₀; x_{t_min}) − I(x₀; x_{t_max})", general=False)
def check_i5_quadrature(schedule: Schedule, level: str) -> Outcome:
    num = compile_schedule(schedule, "numpy")
    ends = num.snr(np.array([schedule.t_min, schedule.t_max]))
    names = ("mixture",) if level == "quick" else (*ONE_D, "gaussian")
    dists = {**ONE_D, "gaussian": distributions.Gaussian(1.0)}
    segments, rtol = (8, 1e-9) if level == "quick" else (8, 1e-10)
    worst, ratio, failed, shown = 0.0, 0.0, [], []
    for name in names:
        dist = dists[name]
        loss = snspace.diffusion_loss_in_t(schedule, lambda t, d=dist: information.mmse(d, num.snr(t)),
                                           segments=segments, rtol=rtol)
        info, info_err = information.mutual_information(dist, ends, with_error=True)
        gap = float(info[0] - info[1])
        diff = abs(float(loss.value) - gap)
        tolerance = 10 * (float(loss.error) + float(np.sum(info_err))) + 1e-9 * abs(gap)
        worst = max(worst, diff / abs(gap))
        ratio = max(ratio, diff / tolerance)
        shown.append(f"{name}: L={float(loss.value):.10g}, dI={gap:.10g}")
        if diff > tolerance:
            failed.append(name)
    return _ratio_outcome(failed, ratio, worst, "; ".join(shown))
