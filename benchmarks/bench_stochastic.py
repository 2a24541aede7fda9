"""Stochastic (ρ = 1 / η = 1) samplers against the exact data law: MMD² to a Gaussian mixture, by NFE.

Error: the unbiased MMD² between n sampler outputs and the *exact* mixture law
(:func:`s2n_theory.metrics.mmd_to_mixture`: Gaussian kernel, closed-form kernel mean
embedding), so only the sampler's samples are random. Kernels (``--kernels``): the narrow one
(bandwidth √d/4, the default) sees the components' shapes, e.g. the shrinkage of a final
denoising call made too early, and has the lower floor; the wide one (√d, the earlier
metric's) mostly sees the mixture's weights and positions; both run in one pass. Its
noise floor is stated: the mean and s.d. of the same statistic over ``FLOOR_SEEDS`` sets of n
exact draws from the mixture. Every value carries its jackknife s.e.

Common random numbers: every sampler starts from the same n points x_T ~ p_T, and all samplers
of one comparison take their noise from one Brownian path (:class:`BrownianNoise`: the ξ_k of
any grid are the normalised Brownian-bridge increments of B(σ²) between its grid points, so
different grids see the same path, not only different solvers on one grid). Sample i of two
samplers then differs only by the discretisation, and the difference of their MMD² is reported
with a *paired* jackknife s.e. (:func:`s2n_theory.metrics.paired_mmd_difference`), far below
either value's own s.e.

Targets: the 2-D 8-component and 16-D 4-component mixtures of bench_solvers, schedules edm and
vp-linear. Anchors (k-diffusion's own sampling.py, η = 1): euler_ancestral, dpmpp_2m_sde,
dpmpp_3m_sde on the Karras-7 and the uniform-λ σ-grids, best of the two. Ours (ρ = 1): exact on
uniform-λ; ms3, ms2-pc, ms3-pc on ``tuned_grid`` (tuned on the ODE, ρ = 0, 64 separate start
points), ms3-pc also on uniform-λ. NFE counts every denoiser call, the final
denoising one included. Verdict per case and kernel: ours (best) against dpmpp_3m_sde (best),
the paired difference and its s.e.; "better beyond noise" when ours − anchor < −3 s.e. At
``--confirm-nfe`` the two selected configurations are run again on fresh start points and noise
with ``--confirm-samples`` samples (the selection's winner's curse does not carry over), and
that run gives the verdict.

Run:  python benchmarks/bench_stochastic.py [--schedules edm,vp-linear] [--targets 2d,16d]
      [--samples 20000] [--nfe 20,50,10,100] [--kernels narrow] [--floor yes|no|only]
      [--out benchmarks/results]
(writes solvers_stochastic_<schedules>_<targets>.{json,md} after every NFE; one torch thread.
BENCHMARKS.md: four runs, one per schedule and target, with --floor no, and one --floor only.)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from bench_solvers import VE, kdiffusion, mixture_2d_8

from s2n_theory.metrics import MixtureMMD, mmd_to_mixture_bandwidths, paired_mmd_difference
from s2n_theory.named_mixtures import mixture_16d
from s2n_theory.sampling import SOLVERS, sample, time_grid
from s2n_theory.sampling.noise import NoiseSource
from s2n_theory.sampling.tuning import tuned_grid
from s2n_theory.schedule_spec import get_schedule

OURS = ("exact", "ms3", "ms2-pc", "ms3-pc")
FIXED_GRID = ("exact", "ms3-pc")
"""Ours that also run on the uniform-λ grid (all but exact run on their ODE-tuned grid)."""
ANCHORS = ("euler_ancestral", "dpmpp_2m_sde", "dpmpp_3m_sde")
ANCHOR_GRIDS = ("karras-7", "uniform-lambda")
TARGET_ANCHOR = "kd dpmpp_3m_sde(eta=1)"
KERNEL_WIDTHS = {"wide": 1.0, "narrow": 0.25}
"""Kernel bandwidths in units of √d."""
KERNELS = dict(KERNEL_WIDTHS)
"""The kernels of this run (``--kernels``)."""
NOISE_SEED = 3
FLOOR_SEEDS = 5
CONFIRM_SEEDS = (7, 11)
"""Start points and noise of the confirmation runs (fresh: not the ones the selection saw)."""
MARGIN_SE = 3.0
"""A difference counts as beyond the noise when it exceeds this many paired s.e."""


def metric(x: torch.Tensor, mixture) -> dict[str, MixtureMMD]:
    scale = float(mixture.dim) ** 0.5
    values = mmd_to_mixture_bandwidths(x, mixture, tuple(scale * b for b in KERNELS.values()))
    return dict(zip(KERNELS, values, strict=True))


def floor(mixture, n: int, seeds: int = FLOOR_SEEDS) -> dict:
    """The statistic on exact draws from the mixture: mean and s.d. over ``seeds`` sets of n draws, per kernel."""
    values = [metric(torch.as_tensor(mixture.sample(n, np.random.default_rng(100 + i))), mixture)
              for i in range(seeds)]
    out = {"n": n, "seeds": seeds}
    for kernel in KERNELS:
        v = np.array([r[kernel].value for r in values])
        out[kernel] = {"mean": float(v.mean()), "sd": float(v.std(ddof=1)),
                       "jackknife_se": float(np.mean([r[kernel].se for r in values]))}
    return out


class BrownianNoise:
    """The noise ξ_k of every sampler in a comparison, drawn from one Brownian path B(v), v = σ² (VE).

    The exact ρ = 1 step from v_t to v_s < v_t with x̂₀ frozen is the Brownian bridge of
    y_v = x₀ + B(v): y_s = (v_s/v_t) y_t + (1 − v_s/v_t) x̂₀ + [B(v_s) − (v_s/v_t) B(v_t)], the bracket
    N(0, v_s (1 − v_s/v_t)) and independent of B on [v_t, ∞). So ξ = bracket / its s.d. gives i.i.d.
    N(0, 1) draws along any decreasing grid, and two samplers on *different* grids see the same
    path (common random numbers across grids, not only across solvers). B is generated backwards
    on the union of the grids' v (one counter-based draw per union step, seed ``seed``), and a
    grid step sums the union steps inside it: B(v_k) = (v_k/v_i) B(v_i) + Σ_j (v_k/v_{j+1}) s_j z_j.
    """

    def __init__(self, seed: int, union: np.ndarray):
        self.seed = seed
        self.v = np.unique(np.asarray(union, dtype=np.float64))[::-1].copy()
        self.index = {float(x): j for j, x in enumerate(self.v)}

    def xi(self, v_from: float, v_to: float, shape: tuple, dtype: torch.dtype) -> torch.Tensor:
        i, k = self.index[v_from], self.index[v_to]
        out = torch.zeros(shape, dtype=torch.float64)
        for j in range(i, k):
            a, b = self.v[j], self.v[j + 1]
            z = torch.randn(shape, generator=torch.Generator().manual_seed(self.seed * 1_000_003 + j),
                            dtype=torch.float64)  # torch's generator: 10× faster than the counter-based one
            out += (v_to / b) * np.sqrt(b * (1.0 - b / a)) * z
        return (out / np.sqrt(v_to * (1.0 - v_to / v_from))).to(dtype)

    def for_grid(self, v_grid: np.ndarray) -> NoiseSource:
        """The engine's noise for a grid with these v (the engine asks for step k's N(0, I))."""
        brownian, v = self, [float(x) for x in v_grid]

        class Grid(NoiseSource):
            def normal(self, batch_shape, step, stream=0, *, sample_ids=None, dtype=torch.float32, device=None):
                return brownian.xi(v[step], v[step + 1], tuple(batch_shape), dtype)

        return Grid(0)

    def sampler(self):
        """k-diffusion's ``noise_sampler(sigma, sigma_next)``."""
        return lambda sigma, sigma_next: self.xi(float(sigma) ** 2, float(sigma_next) ** 2, self.shape, torch.float64)


class Case:
    """One (schedule, mixture): its start points, denoisers, grids and samplers."""

    def __init__(self, schedule_name: str, label: str, mixture, kd):
        self.schedule_name, self.label, self.mixture, self.kd = schedule_name, label, mixture, kd
        self.schedule = get_schedule(schedule_name)
        self.ve = VE(self.schedule, mixture)
        self.alpha_max = float(self.ve.num.alpha(self.schedule.t_max))

    def start(self, n: int, seed: int) -> torch.Tensor:
        return torch.as_tensor(self.mixture.marginal(self.schedule.t_max, self.schedule).sample(
            n, np.random.default_rng(seed)))

    def denoiser(self, x: torch.Tensor, t) -> torch.Tensor:
        return self.mixture.x0_hat(x, t, self.schedule)

    def v_of(self, config: tuple) -> np.ndarray:
        """The v = σ² (VE) at which a configuration's sampler adds noise (its grid, without the final σ = 0)."""
        if config[0] == "ours":
            return np.exp(-np.asarray(self.ve.num.log_snr(config[2].numpy()), dtype=np.float64))
        return np.array([float(s) ** 2 for s in self.anchor_sigmas(config[2], config[3])[:-1]])

    def anchor_sigmas(self, grid_label: str, nfe: int) -> torch.Tensor:
        return torch.cat([self.ve.sigmas(nfe, grid_label), torch.zeros(1, dtype=torch.float64)])

    def run(self, config: tuple, x_start: torch.Tensor, noise: BrownianNoise) -> torch.Tensor:
        """config: ("ours", method, time grid) or ("anchor", k-diffusion sampler, grid label, NFE)."""
        if config[0] == "ours":
            return sample(self.denoiser, x_start.clone(), self.schedule, config[2], method=config[1], rho=1.0,
                          generator=noise.for_grid(self.v_of(config))).samples
        noise.shape = tuple(x_start.shape)
        return getattr(self.kd, f"sample_{config[1]}")(self.ve.denoiser, x_start.clone() / self.alpha_max,
                                                      self.anchor_sigmas(config[2], config[3]), disable=True,
                                                      eta=1.0, noise_sampler=noise.sampler())


def runs(case: Case, n: int, nfes) -> tuple[list[dict], list[dict]]:
    """Every sampler on its grids at every NFE (start seed 5, the Brownian path of NOISE_SEED), and the verdicts."""
    x_start, tune_start = case.start(n, 5), case.start(64, 1)
    rows, verdicts = [], []
    for nfe in nfes:
        configs: dict[tuple[str, str], tuple] = {}
        for name in OURS:
            steps = SOLVERS[name].steps_for_nfe(nfe - 1)
            grids = {"uniform-lambda": time_grid(case.schedule, steps, "uniform-lambda")} if name in FIXED_GRID else {}
            if name != "exact":
                tuned = tuned_grid(case.schedule, steps, name, case.denoiser, tune_start)
                grids[f"tuned on ODE ({tuned.kind} {tuned.parameter:g}, stop {tuned.stop:g})"] = tuned.grid
            for grid_label, grid in grids.items():
                configs[(f"{name} rho=1", grid_label)] = ("ours", name, grid)
        if case.kd is not None:
            for anchor in ANCHORS:
                for grid_label in ANCHOR_GRIDS:
                    configs[(f"kd {anchor}(eta=1)", grid_label)] = ("anchor", anchor, grid_label, nfe)
        noise = BrownianNoise(NOISE_SEED, np.concatenate([case.v_of(c) for c in configs.values()]))
        results: dict[tuple[str, str], dict[str, MixtureMMD]] = {}
        for (sampler, grid_label), config in configs.items():
            started = time.perf_counter()
            out = case.run(config, x_start, noise)
            seconds = time.perf_counter() - started
            r = results[(sampler, grid_label)] = metric(out, case.mixture)
            used = SOLVERS[config[1]].nfe(len(config[2]) - 1) + 1 if config[0] == "ours" else nfe
            rows.append({"schedule": case.schedule_name, "target": case.label, "sampler": sampler, "grid": grid_label,
                         "nfe_budget": nfe, "nfe": used, **{f"mmd2_{k}": v.value for k, v in r.items()},
                         **{f"se_{k}": v.se for k, v in r.items()},
                         "sample_seconds": seconds, "metric_seconds": time.perf_counter() - started - seconds})
        for kernel in KERNELS:
            verdicts.append(verdict(case, nfe, kernel, results, configs))
    return rows, verdicts


def verdict(case: Case, nfe: int, kernel: str, results: dict, configs: dict) -> dict:
    """Our best (sampler, grid) against the target anchor's best grid, with the paired s.e. of the difference."""
    value = lambda k: results[k][kernel].value  # noqa: E731
    ours = min((k for k in results if not k[0].startswith("kd ")), key=value)
    out = {"schedule": case.schedule_name, "target": case.label, "nfe": nfe, "kernel": kernel,
           "ours": f"{ours[0]}, {ours[1]}", "ours_mmd2": value(ours), "ours_se": results[ours][kernel].se,
           "ours_config": configs[ours]}
    anchors = [k for k in results if k[0] == TARGET_ANCHOR]
    if anchors:
        anchor = min(anchors, key=value)
        diff, se = paired_mmd_difference(results[ours][kernel], results[anchor][kernel])
        out.update({"anchor": f"{anchor[0]}, {anchor[1]}", "anchor_mmd2": value(anchor),
                    "anchor_se": results[anchor][kernel].se, "difference": diff, "difference_se": se,
                    "better_beyond_noise": bool(diff < -MARGIN_SE * se), "anchor_config": configs[anchor]})
    return out


def confirm(case: Case, n: int, v: dict, cache: dict) -> dict:
    """The verdict's two configurations again, on fresh start points and Brownian path (``CONFIRM_SEEDS``)."""
    key = (case.schedule_name, case.label, v["nfe"], v["ours"], v["anchor"])
    if key not in cache:
        x_start = case.start(n, CONFIRM_SEEDS[0])
        pair = (v["ours_config"], v["anchor_config"])
        noise = BrownianNoise(CONFIRM_SEEDS[1], np.concatenate([case.v_of(c) for c in pair]))
        cache[key] = [metric(case.run(c, x_start, noise), case.mixture) for c in pair]
    kernel = v["kernel"]
    ours, anchor = (r[kernel] for r in cache[key])
    diff, se = paired_mmd_difference(ours, anchor)
    return {"schedule": case.schedule_name, "target": case.label, "nfe": v["nfe"], "kernel": kernel, "n": n,
            "ours": v["ours"], "anchor": v["anchor"], "ours_mmd2": ours.value, "ours_se": ours.se,
            "anchor_mmd2": anchor.value, "anchor_se": anchor.se, "difference": diff, "difference_se": se,
            "better_beyond_noise": bool(diff < -MARGIN_SE * se)}


def verdict_table(rows: list[dict], with_n: bool) -> list[str]:
    out = [f"| schedule | target | NFE | kernel |{' n |' if with_n else ''} ours (best) | MMD² ± s.e. "
           "| dpmpp_3m_sde(η=1), best grid | MMD² ± s.e. | ours − anchor ± paired s.e. | better beyond noise |",
           "|---|---|---|---|" + ("---|" if with_n else "") + "---|---|---|---|---|---|"]
    for v in rows:
        if "anchor" not in v:
            continue
        out.append(f"| {v['schedule']} | {v['target']} | {v['nfe']} | {v['kernel']} |"
                   + (f" {v['n']} |" if with_n else "")
                   + f" {v['ours']} | {v['ours_mmd2']:.2e} ± {v['ours_se']:.1e} "
                   f"| {v['anchor'].split(', ', 1)[1]} | {v['anchor_mmd2']:.2e} ± {v['anchor_se']:.1e} "
                   f"| {v['difference']:.2e} ± {v['difference_se']:.1e} "
                   f"| {'**yes**' if v['better_beyond_noise'] else 'no'} |")
    return out


def markdown(results: dict) -> str:
    out: list[str] = []
    emit = out.append
    emit("| target | n | seeds | " + " | ".join(f"floor, {k} kernel: mean ± s.d. (jackknife s.e.)" for k in KERNELS)
         + " |")
    emit("|---|---|---|" + "---|" * len(KERNELS))
    for f in results["floor"] + results.get("confirm_floor", []):
        emit(f"| {f['target']} | {f['n']} | {f['seeds']} | " + " | ".join(
            f"{f[k]['mean']:.1e} ± {f[k]['sd']:.1e} ({f[k]['jackknife_se']:.1e})" for k in KERNELS) + " |")
    if results.get("confirm"):
        emit("\nConfirmation runs (fresh start points and noise; the configurations selected below):\n")
        out.extend(verdict_table(results["confirm"], True))
    emit("\nSelection runs (start seed 5, Brownian path seed 3):\n")
    out.extend(verdict_table(results["verdicts"], False))
    best: dict = {}
    first = next(iter(KERNELS))
    for r in results["rows"]:
        k = (r["schedule"], r["target"], r["sampler"], r["nfe_budget"])
        if k not in best or r[f"mmd2_{first}"] < best[k][f"mmd2_{first}"]:
            best[k] = r
    for panel in sorted({k[:2] for k in best}):
        nfes = sorted({k[3] for k in best if k[:2] == panel})
        emit(f"\n{panel[0]}, {panel[1]}: MMD² to the exact law, {' / '.join(KERNELS)} kernel "
             f"(grid: the best for the {first} one):\n")
        emit("| sampler | " + " | ".join(f"NFE {n}" for n in nfes) + " |")
        emit("|---|" + "---|" * len(nfes))
        for sampler in sorted({k[2] for k in best if k[:2] == panel}):
            cells = [" / ".join(f"{best[(*panel, sampler, n)][f'mmd2_{k}']:.1e}" for k in KERNELS)
                     if (*panel, sampler, n) in best else "" for n in nfes]
            emit(f"| {sampler} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schedules", default="edm,vp-linear")
    parser.add_argument("--targets", default="2d,16d", help="2d (8-component), 16d (4-component)")
    parser.add_argument("--nfe", default="20,50,10,100", help="in this order (the target's NFE first)")
    parser.add_argument("--samples", type=int, default=20000)
    parser.add_argument("--confirm-samples", type=int, default=20000,
                        help="samples of the confirmation runs of the verdicts (0: none)")
    parser.add_argument("--confirm-nfe", default="20,50")
    parser.add_argument("--kernels", default="narrow", help="wide (h = √d), narrow (h = √d/4), or both")
    parser.add_argument("--floor", choices=("yes", "no", "only"), default="yes", help="measure the noise floor")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    KERNELS.clear()
    KERNELS.update({k: KERNEL_WIDTHS[k] for k in args.kernels.split(",")})
    kd = kdiffusion()
    nfes = tuple(int(v) for v in args.nfe.split(","))
    mixtures = {"2d": ("2-D 8-comp", mixture_2d_8()), "16d": ("16-D 4-comp", mixture_16d())}
    targets = [mixtures[t] for t in args.targets.split(",")]
    confirm_nfe = {int(v) for v in args.confirm_nfe.split(",")} if args.confirm_samples else set()
    started = time.perf_counter()
    results: dict = {"rows": [], "verdicts": [], "floor": [], "confirm": [], "confirm_floor": []}
    for label, mixture in targets if args.floor != "no" else ():
        results["floor"].append({"target": label, **floor(mixture, args.samples)})
        print(f"floor {results['floor'][-1]}", flush=True)
    cache: dict = {}
    stem = "solvers_stochastic_" + ("floor" if args.floor == "only" else args.schedules.replace(",", "_"))
    stem += "_" + args.targets.replace(",", "_")
    args.out.mkdir(parents=True, exist_ok=True)

    def save() -> None:  # after every NFE: a run cut short keeps what it measured
        results["seconds"] = time.perf_counter() - started
        (args.out / f"{stem}.json").write_text(json.dumps(results, indent=2))
        (args.out / f"{stem}.md").write_text(markdown(results) + "\n")

    for schedule in args.schedules.split(",") if args.floor != "only" else ():
        for label, mixture in targets:
            case = Case(schedule, label, mixture, kd)
            for nfe in nfes:
                rows, verdicts = runs(case, args.samples, (nfe,))
                results["rows"] += rows
                for v in verdicts:
                    results["verdicts"].append({k: x for k, x in v.items() if not k.endswith("_config")})
                    print(json.dumps(results["verdicts"][-1]), flush=True)
                    if v["nfe"] in confirm_nfe and "anchor" in v:
                        results["confirm"].append(confirm(case, args.confirm_samples, v, cache))
                        print("confirm", json.dumps(results["confirm"][-1]), flush=True)
                save()
    if results["confirm"] and args.confirm_samples != args.samples:
        for label, mixture in targets:
            results["confirm_floor"].append({"target": label, **floor(mixture, args.confirm_samples, 3)})
    save()
    print(markdown(results))
    print(f"total {results['seconds']:.0f} s")


if __name__ == "__main__":
    main()
