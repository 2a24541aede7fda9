"""Stochastic (ρ = 1 / η = 1) samplers against the exact data law: MMD² to a Gaussian mixture, by NFE.

Error: the unbiased MMD² between n sampler outputs and the *exact* mixture law
(:func:`s2n_theory.metrics.mmd_to_mixture`: Gaussian kernel, closed-form kernel mean
embedding), so only the sampler's samples are random, with two kernels (``KERNELS``): the wide
one (bandwidth √d, as before) sees the mixture's weights and positions, the narrow one (√d/4)
the components' shapes, e.g. the shrinkage of a final denoising call made too early. Its
noise floor is stated: the mean and s.d. of the same statistic over ``FLOOR_SEEDS`` sets of n
exact draws from the mixture. Every value carries its jackknife s.e.

Common random numbers: every sampler starts from the same n points x_T ~ p_T and, at step k,
adds the same N(0, I) draw ξ_k (the engine's counter-based noise, seed ``NOISE_SEED``; the
k-diffusion samplers get it through their ``noise_sampler``), so sample i of two samplers
differs only by the solver and the grid. The difference of two samplers' MMD² is therefore
reported with a *paired* jackknife s.e. (:func:`s2n_theory.metrics.paired_mmd_difference`),
far below either value's own s.e.

Targets: the 2-D 8-component and 16-D 4-component mixtures of bench_solvers, schedules edm and
vp-linear. Anchors (k-diffusion's own sampling.py, η = 1): euler_ancestral, dpmpp_2m_sde,
dpmpp_3m_sde on the Karras-7 and the uniform-λ σ-grids, best of the two. Ours (ρ = 1): exact,
ms2, ms3, ms2-pc, ms3-pc on Karras-7, uniform-λ and ``tuned_grid`` (tuned on the ODE, ρ = 0,
64 separate start points), best of the three. NFE counts every denoiser call, the final
denoising one included. Verdict per case and kernel: ours (best) against dpmpp_3m_sde (best),
the paired difference and its s.e.; "better beyond noise" when ours − anchor < −3 s.e. At
``--confirm-nfe`` the two selected configurations are run again on fresh start points and noise
with ``--confirm-samples`` samples (the selection's winner's curse does not carry over), and
that run gives the verdict.

Run:  python benchmarks/bench_stochastic.py [--schedules edm,vp-linear] [--samples 20000]
      [--nfe 10,20,50,100] [--out benchmarks/results]
(writes solvers_stochastic_<schedules>.{json,md}; one torch thread.)
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

OURS = ("exact", "ms2", "ms3", "ms2-pc", "ms3-pc")
ANCHORS = ("euler_ancestral", "dpmpp_2m_sde", "dpmpp_3m_sde")
ANCHOR_GRIDS = ("karras-7", "uniform-lambda")
TARGET_ANCHOR = "kd dpmpp_3m_sde(eta=1)"
KERNELS = {"wide": 1.0, "narrow": 0.25}
"""Kernel bandwidths in units of √d."""
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


def kd_noise(shape: torch.Size, seed: int):
    """k-diffusion noise_sampler giving step k the engine's ξ_k (same seed, same sample ids)."""
    source, step = NoiseSource(seed), [0]

    def noise(sigma, sigma_next):
        out = source.normal(tuple(shape), step[0], dtype=torch.float64)
        step[0] += 1
        return out

    return noise


class Case:
    """One (schedule, mixture): its start points, denoisers and the two kinds of runs."""

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

    def ours(self, method: str, grid: torch.Tensor, x_start: torch.Tensor, noise_seed: int) -> torch.Tensor:
        return sample(self.denoiser, x_start.clone(), self.schedule, grid, method=method, rho=1.0,
                      generator=noise_seed).samples

    def anchor(self, name: str, grid_label: str, nfe: int, x_start: torch.Tensor, noise_seed: int) -> torch.Tensor:
        sigmas = torch.cat([self.ve.sigmas(nfe, grid_label), torch.zeros(1, dtype=torch.float64)])
        return getattr(self.kd, f"sample_{name}")(self.ve.denoiser, x_start.clone() / self.alpha_max, sigmas,
                                                  disable=True, eta=1.0, noise_sampler=kd_noise(x_start.shape,
                                                                                                noise_seed))


def runs(case: Case, n: int, nfes) -> tuple[list[dict], list[dict]]:
    """Every sampler on every grid at every NFE (start seed 5, noise NOISE_SEED), and the verdicts."""
    x_start, tune_start = case.start(n, 5), case.start(64, 1)
    rows, verdicts = [], []
    for nfe in nfes:
        results: dict[tuple[str, str], dict[str, MixtureMMD]] = {}
        configs: dict[tuple[str, str], tuple] = {}

        def record(sampler: str, grid: str, used: int, out: torch.Tensor, seconds: float,
                   results: dict = results, nfe: int = nfe) -> None:
            started = time.perf_counter()
            r = results[(sampler, grid)] = metric(out, case.mixture)
            rows.append({"schedule": case.schedule_name, "target": case.label, "sampler": sampler, "grid": grid,
                         "nfe_budget": nfe, "nfe": used, **{f"mmd2_{k}": v.value for k, v in r.items()},
                         **{f"se_{k}": v.se for k, v in r.items()},
                         "sample_seconds": seconds, "metric_seconds": time.perf_counter() - started})

        for name in OURS:
            steps = SOLVERS[name].steps_for_nfe(nfe - 1)
            tuned = tuned_grid(case.schedule, steps, name, case.denoiser, tune_start)
            grids = {"karras-7": time_grid(case.schedule, steps, "karras"),
                     "uniform-lambda": time_grid(case.schedule, steps, "uniform-lambda"),
                     f"tuned on ODE ({tuned.kind} {tuned.parameter:g}, stop {tuned.stop:g})": tuned.grid}
            for grid_label, grid in grids.items():
                configs[(f"{name} rho=1", grid_label)] = ("ours", name, grid)
                started = time.perf_counter()
                out = case.ours(name, grid, x_start, NOISE_SEED)
                record(f"{name} rho=1", grid_label, SOLVERS[name].nfe(steps) + 1, out, time.perf_counter() - started)
        if case.kd is not None:
            for anchor in ANCHORS:
                for grid_label in ANCHOR_GRIDS:
                    configs[(f"kd {anchor}(eta=1)", grid_label)] = ("anchor", anchor, grid_label)
                    started = time.perf_counter()
                    out = case.anchor(anchor, grid_label, nfe, x_start, NOISE_SEED)
                    record(f"kd {anchor}(eta=1)", grid_label, nfe, out, time.perf_counter() - started)
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
    """The verdict's two configurations again, on fresh start points and noise (``CONFIRM_SEEDS``), n samples each."""
    x_start = case.start(n, CONFIRM_SEEDS[0])

    def run(config: tuple) -> dict[str, MixtureMMD]:
        key = (case.schedule_name, case.label, v["nfe"], config[0], config[1], str(config[2]))
        if key not in cache:
            if config[0] == "ours":
                out = case.ours(config[1], config[2], x_start, CONFIRM_SEEDS[1])
            else:
                out = case.anchor(config[1], config[2], v["nfe"], x_start, CONFIRM_SEEDS[1])
            cache[key] = metric(out, case.mixture)
        return cache[key]

    kernel = v["kernel"]
    ours, anchor = run(v["ours_config"])[kernel], run(v["anchor_config"])[kernel]
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
    emit("\nSelection runs (start seed 5, noise seed 3):\n")
    out.extend(verdict_table(results["verdicts"], False))
    best: dict = {}
    for r in results["rows"]:
        k = (r["schedule"], r["target"], r["sampler"], r["nfe_budget"])
        if k not in best or r["mmd2_wide"] < best[k]["mmd2_wide"]:
            best[k] = r
    for panel in sorted({k[:2] for k in best}):
        nfes = sorted({k[3] for k in best if k[:2] == panel})
        emit(f"\n{panel[0]}, {panel[1]}: MMD² to the exact law, wide / narrow kernel (grid: best for the wide one):\n")
        emit("| sampler | " + " | ".join(f"NFE {n}" for n in nfes) + " |")
        emit("|---|" + "---|" * len(nfes))
        for sampler in sorted({k[2] for k in best if k[:2] == panel}):
            cells = [f"{best[(*panel, sampler, n)]['mmd2_wide']:.1e} / {best[(*panel, sampler, n)]['mmd2_narrow']:.1e}"
                     if (*panel, sampler, n) in best else "" for n in nfes]
            emit(f"| {sampler} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schedules", default="edm,vp-linear")
    parser.add_argument("--targets", default="2d,16d", help="2d (8-component), 16d (4-component)")
    parser.add_argument("--nfe", default="10,20,50,100")
    parser.add_argument("--samples", type=int, default=20000)
    parser.add_argument("--confirm-samples", type=int, default=50000,
                        help="samples of the confirmation runs of the verdicts (0: none)")
    parser.add_argument("--confirm-nfe", default="20,50")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    kd = kdiffusion()
    nfes = tuple(int(v) for v in args.nfe.split(","))
    mixtures = {"2d": ("2-D 8-comp", mixture_2d_8()), "16d": ("16-D 4-comp", mixture_16d())}
    targets = [mixtures[t] for t in args.targets.split(",")]
    confirm_nfe = {int(v) for v in args.confirm_nfe.split(",")} if args.confirm_samples else set()
    started = time.perf_counter()
    results: dict = {"rows": [], "verdicts": [], "floor": [], "confirm": [], "confirm_floor": []}
    for label, mixture in targets:
        results["floor"].append({"target": label, **floor(mixture, args.samples)})
        print(f"floor {results['floor'][-1]}", flush=True)
    cache: dict = {}
    for schedule in args.schedules.split(","):
        for label, mixture in targets:
            case = Case(schedule, label, mixture, kd)
            rows, verdicts = runs(case, args.samples, nfes)
            results["rows"] += rows
            for v in verdicts:
                results["verdicts"].append({k: x for k, x in v.items() if not k.endswith("_config")})
                print(json.dumps(results["verdicts"][-1]), flush=True)
                if v["nfe"] in confirm_nfe and "anchor" in v:
                    results["confirm"].append(confirm(case, args.confirm_samples, v, cache))
                    print("confirm", json.dumps(results["confirm"][-1]), flush=True)
    if results["confirm"]:
        for label, mixture in targets:
            results["confirm_floor"].append({"target": label, **floor(mixture, args.confirm_samples, 3)})
    results["seconds"] = time.perf_counter() - started
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"solvers_stochastic_{args.schedules.replace(',', '_')}_{args.targets.replace(',', '_')}"
    (args.out / f"{stem}.json").write_text(json.dumps(results, indent=2))
    (args.out / f"{stem}.md").write_text(markdown(results) + "\n")
    print(markdown(results))
    print(f"total {results['seconds']:.0f} s")


if __name__ == "__main__":
    main()
