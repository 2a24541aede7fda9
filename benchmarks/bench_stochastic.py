"""Stochastic (ρ = 1 / η = 1) samplers against the exact data law: MMD² to a Gaussian mixture, by NFE.

Error: the unbiased MMD² between n sampler outputs and the *exact* mixture law
(:func:`s2n_theory.metrics.mmd_to_mixture`: Gaussian kernel, bandwidth √d, closed-form kernel
mean embedding), so only the sampler's samples are random. Its noise floor is stated: the
mean and s.d. of the same statistic over ``FLOOR_SEEDS`` sets of n exact draws from the
mixture. Every value carries its jackknife s.e.

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
denoising one included. Verdict per case: ours (best) against dpmpp_3m_sde (best), the
paired difference and its s.e.; "better beyond noise" when ours − anchor < −3 s.e.

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

from s2n_theory.metrics import MixtureMMD, mmd_to_mixture, paired_mmd_difference
from s2n_theory.named_mixtures import mixture_16d
from s2n_theory.sampling import SOLVERS, sample, time_grid
from s2n_theory.sampling.noise import NoiseSource
from s2n_theory.sampling.tuning import tuned_grid
from s2n_theory.schedule_spec import get_schedule

OURS = ("exact", "ms2", "ms3", "ms2-pc", "ms3-pc")
ANCHORS = ("euler_ancestral", "dpmpp_2m_sde", "dpmpp_3m_sde")
ANCHOR_GRIDS = ("karras-7", "uniform-lambda")
TARGET_ANCHOR = "kd dpmpp_3m_sde(eta=1)"
NOISE_SEED = 3
FLOOR_SEEDS = 5
CONFIRM_SEEDS = (7, 11)
"""Start points and noise of the confirmation runs (fresh: not the ones the selection saw)."""
MARGIN_SE = 3.0
"""A difference counts as beyond the noise when it exceeds this many paired s.e."""


def floor(mixture, n: int, seeds: int = FLOOR_SEEDS) -> dict:
    """The statistic on exact draws from the mixture: mean and s.d. over ``seeds`` sets of n draws."""
    values = [mmd_to_mixture(torch.as_tensor(mixture.sample(n, np.random.default_rng(100 + i))), mixture)
              for i in range(seeds)]
    v = np.array([r.value for r in values])
    return {"floor_mean": float(v.mean()), "floor_sd": float(v.std(ddof=1)), "seeds": seeds,
            "floor_jackknife_se": float(np.mean([r.se for r in values])), "n": n}


def kd_noise(shape: torch.Size, seed: int = 0):
    """k-diffusion noise_sampler giving step k the engine's ξ_k (same seed, same sample ids)."""
    source, step = NoiseSource(seed or NOISE_SEED), [0]

    def noise(sigma, sigma_next):
        out = source.normal(tuple(shape), step[0], dtype=torch.float64)
        step[0] += 1
        return out

    return noise


def runs(schedule_name: str, label: str, mixture, n: int, kd, nfes) -> tuple[list[dict], list[dict]]:
    schedule = get_schedule(schedule_name)
    ve = VE(schedule, mixture)
    x_start = torch.as_tensor(mixture.marginal(schedule.t_max, schedule).sample(n, np.random.default_rng(5)))
    tune_start = torch.as_tensor(mixture.marginal(schedule.t_max, schedule).sample(64, np.random.default_rng(1)))
    denoiser = lambda x, t: mixture.x0_hat(x, t, schedule)  # noqa: E731
    alpha_max = float(ve.num.alpha(schedule.t_max))
    rows, verdicts = [], []
    for nfe in nfes:
        results: dict[tuple[str, str], MixtureMMD] = {}
        our_grids: dict[tuple[str, str], list[float]] = {}

        def record(sampler: str, grid: str, used: int, out: torch.Tensor, seconds: float,
                   results: dict = results, nfe: int = nfe) -> None:
            started = time.perf_counter()
            r = mmd_to_mixture(out, mixture)
            results[(sampler, grid)] = r
            rows.append({"schedule": schedule_name, "target": label, "sampler": sampler, "grid": grid,
                         "nfe_budget": nfe, "nfe": used, "mmd2": r.value, "se": r.se,
                         "sample_seconds": seconds, "metric_seconds": time.perf_counter() - started})

        for name in OURS:
            steps = SOLVERS[name].steps_for_nfe(nfe - 1)
            tuned = tuned_grid(schedule, steps, name, denoiser, tune_start)
            grids = {"karras-7": time_grid(schedule, steps, "karras"),
                     "uniform-lambda": time_grid(schedule, steps, "uniform-lambda"),
                     f"tuned on ODE ({tuned.kind} {tuned.parameter:g}, stop {tuned.stop:g})": tuned.grid}
            for grid_label, grid in grids.items():
                our_grids[(f"{name} rho=1", grid_label)] = grid.tolist()
                started = time.perf_counter()
                out = sample(denoiser, x_start.clone(), schedule, grid, method=name, rho=1.0, generator=NOISE_SEED)
                record(f"{name} rho=1", grid_label, out.nfe, out.samples, time.perf_counter() - started)
        if kd is not None:
            for anchor in ANCHORS:
                for grid_label in ANCHOR_GRIDS:
                    sigmas = torch.cat([ve.sigmas(nfe, grid_label), torch.zeros(1, dtype=torch.float64)])
                    started = time.perf_counter()
                    out = getattr(kd, f"sample_{anchor}")(ve.denoiser, x_start.clone() / alpha_max, sigmas,
                                                          disable=True, eta=1.0, noise_sampler=kd_noise(x_start.shape))
                    record(f"kd {anchor}(eta=1)", grid_label, nfe, out, time.perf_counter() - started)
        verdicts.append(verdict(schedule_name, label, nfe, results, our_grids))
    return rows, verdicts


def confirm(schedule_name: str, label: str, mixture, n: int, kd, v: dict) -> dict:
    """Re-run the two configurations a verdict selected on fresh start points and noise (seeds
    ``CONFIRM_SEEDS``), n samples each: the selection's winner's curse does not carry over."""
    schedule = get_schedule(schedule_name)
    ve = VE(schedule, mixture)
    x_start = torch.as_tensor(mixture.marginal(schedule.t_max, schedule).sample(
        n, np.random.default_rng(CONFIRM_SEEDS[0])))
    denoiser = lambda x, t: mixture.x0_hat(x, t, schedule)  # noqa: E731
    ours_name, ours_grid = v["ours_config"]
    out = sample(denoiser, x_start.clone(), schedule, torch.tensor(ours_grid, dtype=torch.float64),
                 method=ours_name.removesuffix(" rho=1"), rho=1.0, generator=CONFIRM_SEEDS[1]).samples
    ours = mmd_to_mixture(out, mixture)
    anchor_name, anchor_grid = v["anchor_config"]
    sigmas = torch.cat([ve.sigmas(v["nfe"], anchor_grid), torch.zeros(1, dtype=torch.float64)])
    out = getattr(kd, f"sample_{anchor_name}")(ve.denoiser, x_start.clone() / float(ve.num.alpha(schedule.t_max)),
                                               sigmas, disable=True, eta=1.0,
                                               noise_sampler=kd_noise(x_start.shape, CONFIRM_SEEDS[1]))
    anchor = mmd_to_mixture(out, mixture)
    diff, se = paired_mmd_difference(ours, anchor)
    return {"schedule": schedule_name, "target": label, "nfe": v["nfe"], "n": n, "ours": v["ours"],
            "anchor": v["anchor"], "ours_mmd2": ours.value, "ours_se": ours.se, "anchor_mmd2": anchor.value,
            "anchor_se": anchor.se, "difference": diff, "difference_se": se,
            "better_beyond_noise": bool(diff < -MARGIN_SE * se)}


def verdict(schedule: str, target: str, nfe: int, results: dict, our_grids: dict) -> dict:
    """Our best (sampler, grid) against the target anchor's best grid, with the paired s.e. of the difference."""
    ours = min((k for k in results if not k[0].startswith("kd ")), key=lambda k: results[k].value)
    anchors = [k for k in results if k[0] == TARGET_ANCHOR]
    out = {"schedule": schedule, "target": target, "nfe": nfe, "ours": f"{ours[0]}, {ours[1]}",
           "ours_mmd2": results[ours].value, "ours_se": results[ours].se,
           "ours_config": (ours[0], our_grids[ours])}
    if anchors:
        anchor = min(anchors, key=lambda k: results[k].value)
        diff, se = paired_mmd_difference(results[ours], results[anchor])
        out.update({"anchor": f"{anchor[0]}, {anchor[1]}", "anchor_mmd2": results[anchor].value,
                    "anchor_se": results[anchor].se, "difference": diff, "difference_se": se,
                    "better_beyond_noise": bool(diff < -MARGIN_SE * se),
                    "anchor_config": (anchor[0].removeprefix("kd ").removesuffix("(eta=1)"), anchor[1])})
    return out


def markdown(results: dict) -> str:
    out: list[str] = []
    emit = out.append
    for f in results["floor"] + results.get("confirm_floor", []):
        emit(f"floor {f['target']}: MMD² of exact draws {f['floor_mean']:.2g} ± {f['floor_sd']:.2g} "
             f"(mean ± s.d. over {f['seeds']} seeds, n = {f['n']}; mean jackknife s.e. {f['floor_jackknife_se']:.2g})")
    emit("")
    if results.get("confirm"):
        emit("Confirmation (fresh start points and noise, the configurations selected below):\n")
        emit("| schedule | target | NFE | n | ours | MMD² ± s.e. | dpmpp_3m_sde(η=1) | MMD² ± s.e. "
             "| ours − anchor ± paired s.e. | better beyond noise |")
        emit("|---|---|---|---|---|---|---|---|---|---|")
        for v in results["confirm"]:
            emit(f"| {v['schedule']} | {v['target']} | {v['nfe']} | {v['n']} | {v['ours']} "
                 f"| {v['ours_mmd2']:.2e} ± {v['ours_se']:.1e} | {v['anchor'].split(', ', 1)[1]} "
                 f"| {v['anchor_mmd2']:.2e} ± {v['anchor_se']:.1e} | {v['difference']:.2e} ± {v['difference_se']:.1e} "
                 f"| {'**yes**' if v['better_beyond_noise'] else 'no'} |")
        emit("\nSelection runs:\n")
    emit("")
    emit("| schedule | target | NFE | ours (best) | MMD² ± s.e. | dpmpp_3m_sde(η=1) (best grid) | MMD² ± s.e. "
         "| ours − anchor ± paired s.e. | better beyond noise |")
    emit("|---|---|---|---|---|---|---|---|---|")
    for v in results["verdicts"]:
        if "anchor" not in v:
            continue
        emit(f"| {v['schedule']} | {v['target']} | {v['nfe']} | {v['ours']} "
             f"| {v['ours_mmd2']:.2e} ± {v['ours_se']:.1e} "
             f"| {v['anchor'].split(', ', 1)[1]} | {v['anchor_mmd2']:.2e} ± {v['anchor_se']:.1e} "
             f"| {v['difference']:.2e} ± {v['difference_se']:.1e} "
             f"| {'**yes**' if v['better_beyond_noise'] else 'no'} |")
    best: dict = {}
    for r in results["rows"]:
        k = (r["schedule"], r["target"], r["sampler"], r["nfe_budget"])
        if k not in best or r["mmd2"] < best[k]["mmd2"]:
            best[k] = r
    for panel in sorted({k[:2] for k in best}):
        nfes = sorted({k[3] for k in best if k[:2] == panel})
        emit(f"\n{panel[0]}, {panel[1]} (MMD² to the exact law, best grid per sampler):\n")
        emit("| sampler | " + " | ".join(f"NFE {n}" for n in nfes) + " |")
        emit("|---|" + "---|" * len(nfes))
        for sampler in sorted({k[2] for k in best if k[:2] == panel}):
            cells = [f"{best[(*panel, sampler, n)]['mmd2']:.2g}" if (*panel, sampler, n) in best else "" for n in nfes]
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
    started = time.perf_counter()
    results: dict = {"rows": [], "verdicts": [], "floor": [], "confirm": [], "confirm_floor": []}
    confirm_nfe = {int(v) for v in args.confirm_nfe.split(",")} if args.confirm_samples else set()
    for label, mixture in targets:
        results["floor"].append({"target": label, **floor(mixture, args.samples)})
        print(f"floor {label}: {results['floor'][-1]}", flush=True)
    for schedule in args.schedules.split(","):
        for label, mixture in targets:
            rows, verdicts = runs(schedule, label, mixture, args.samples, kd, nfes)
            results["rows"] += rows
            results["verdicts"] += verdicts
            for v in verdicts:
                print(json.dumps({k: x for k, x in v.items() if not k.endswith("_config")}), flush=True)
                if v["nfe"] in confirm_nfe and "anchor" in v:
                    results["confirm"].append(confirm(schedule, label, mixture, args.confirm_samples, kd, v))
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
