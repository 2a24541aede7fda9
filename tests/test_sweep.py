"""`s2n sweep`: grid expansion, NFE accounting, metrics with bootstrap intervals, resume, executors
(serial, local processes, a Dask LocalCluster with worker processes), user module targets, figures and the CLI."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from s2n_theory import metrics, sweep
from s2n_theory.errors import S2NError


def s2n(*args, timeout=300):
    # `python -m s2n_theory.cli` runs cli.py as __main__, whose `app` is not the one command modules extend.
    return subprocess.run([sys.executable, "-c", "from s2n_theory.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=timeout)


def tiny(tmp_path, **kw):
    values = dict(out=str(tmp_path / "sweep"), target="mixture:1d", nfe=[6], methods=["exact"], rho=[0.0, 1.0],
                  gamma=[0.0, 0.2], delta=[0.0, 0.3], samples=200, bootstrap=20, metrics=["sw", "fd"])
    values.update(kw)
    return sweep.load_config(None, values)


# ---------------------------------------------------------------------- expansion and NFE
@pytest.mark.parametrize("method", ["exact", "euler", "heun"])
@pytest.mark.parametrize("final", [True, False])
def test_steps_for_nfe_is_the_largest_grid_within_budget(method, final):
    for target in range(3, 60):
        steps, used = sweep.steps_for_nfe(method, target, final)
        assert used <= target
        assert sweep.steps_for_nfe(method, 10_000, final)[0] > steps  # monotone, not capped
        # one more step would exceed the budget
        extra = 1 if final else 0
        assert (2 * (steps + 1) - 1 + extra if method == "heun" else steps + 1 + extra) > target


def test_expand_drops_redundant_settings_and_ids_are_stable(tmp_path):
    cfg = tiny(tmp_path, methods=["exact", "heun"])
    runs = sweep.expand(cfg)
    # exact: rho 0 -> gamma x {delta 0} = 2, rho 1 -> 2 x 2 = 4; heun: rho 0 only -> 2
    assert len(runs) == 8
    assert all(not (r["method"] == "heun" and r["rho"] != 0) for r in runs)
    assert all(not (r["rho"] == 0 and r["delta"] != 0) for r in runs)
    assert len({r["run_id"] for r in runs}) == 8
    assert [r["run_id"] for r in sweep.expand(cfg)] == [r["run_id"] for r in runs]


def test_config_errors_are_user_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[sweep]\nnfe = [5]\nbogus = 1\n")
    with pytest.raises(S2NError, match="unknown sweep config keys"):
        sweep.load_config(bad)
    with pytest.raises(S2NError, match="unknown methods"):
        sweep.load_config(None, {"methods": ["rk4"]})
    with pytest.raises(S2NError, match="fdd"):
        sweep.load_config(None, {"metrics": ["fdd"]})
    with pytest.raises(S2NError, match="checkpoint"):
        sweep.load_config(None, {"target": "digits"})


def test_mixture_targets_are_the_monte_carlo_checks_mixtures():
    """The sweep's mixture:NAME targets are the mixtures claims M1–M4 validate (same parameters)."""
    from s2n_theory.verification import montecarlo_checks as mc

    checks = {"1d": mc.mixture_1d, "2d": mc.mixture_2d, "16d": mc.mixture_16d}
    assert set(sweep.named_mixtures()) == set(checks)
    for name, factory in sweep.named_mixtures().items():
        ours, theirs = factory(), checks[name]()
        for attr in ("weights", "means", "covs"):
            np.testing.assert_array_equal(np.asarray(getattr(ours, attr)), np.asarray(getattr(theirs, attr)))


# ---------------------------------------------------------------------- bootstrap intervals
def test_bootstrap_interval_covers_and_paired_difference_separates():
    g = torch.Generator().manual_seed(0)
    ref = torch.randn(400, 3, generator=g, dtype=torch.float64)
    x = torch.randn(400, 3, generator=g, dtype=torch.float64)
    value, lo, hi = metrics.bootstrap_ci(metrics.frechet_distance, x, ref, n_boot=50)
    assert lo <= value <= hi  # the interval is re-centred on the estimate
    # the same sets compared with themselves, paired: exactly zero difference
    d, dlo, dhi = metrics.paired_difference_ci(metrics.sliced_wasserstein, x, x.clone(), ref, n_boot=50)
    assert d == dlo == dhi == 0.0
    # a shifted copy is detected as worse; a copy shifted by 1e-6 is within noise
    d, dlo, dhi = metrics.paired_difference_ci(metrics.frechet_distance, x + 0.3, x, ref, n_boot=50)
    assert dlo > 0
    d, dlo, dhi = metrics.paired_difference_ci(metrics.frechet_distance, x + 1e-6, x, ref, n_boot=50)
    assert dlo <= 0 <= dhi


def test_sliced_wasserstein_unequal_sizes_agrees_with_equal_case():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(300, 2, generator=g, dtype=torch.float64)
    y = torch.randn(300, 2, generator=g, dtype=torch.float64) + 1.0
    assert metrics.sliced_wasserstein_unequal(x, y) == metrics.sliced_wasserstein(x, y)
    # duplicating every row of y leaves its empirical distribution unchanged
    twice = metrics.sliced_wasserstein_unequal(x, torch.cat([y, y]))
    assert twice == pytest.approx(metrics.sliced_wasserstein(x, y), rel=0.05)


# ---------------------------------------------------------------------- running, resuming
def test_serial_sweep_writes_rows_resumes_and_plots(tmp_path, monkeypatch):
    cfg = tiny(tmp_path)
    rows = sweep.run_sweep(cfg, executor="serial")
    assert len(rows) == 6
    out = tmp_path / "sweep"
    for row in rows:
        assert row["finite"] and row["nfe"] == 6
        for m in ("sw", "fd"):
            assert row[f"{m}_lo"] <= row[f"{m}_hi"]
    data = json.loads((out / "results.json").read_text())
    assert data["config"]["target"] == "mixture:1d" and "torch" in data["versions"]
    header = (out / "results.csv").read_text().splitlines()[0]
    assert "sw_lo" in header and "versions" in header
    assert (out / "figures" / "gamma_sw.png").exists() and (out / "figures" / "heatmap_sw.png").exists()

    # Resume: nothing is redone ...
    def boom(run, out=None):
        raise AssertionError("a finished run was redone")

    monkeypatch.setattr(sweep.results, "run_one", boom)
    assert len(sweep.run_sweep(cfg, executor="serial", figures=False)) == 6
    # ... and after an interruption (last line cut) only the missing run is.
    lines = (out / "results.jsonl").read_text().splitlines()
    (out / "results.jsonl").write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:20])
    calls = []

    def counting(run, out=None):
        calls.append(run)
        return _real_run_one(run, out)

    monkeypatch.setattr(sweep.results, "run_one", counting)
    assert len(sweep.run_sweep(cfg, executor="serial", figures=False)) == 6
    assert len(calls) == 1


_real_run_one = sweep.run_one


def test_oracle_sweep_sees_discretization_and_gamma_bias(tmp_path):
    """With the exact denoiser, a finer grid is better, and γ ≠ 0 (a biased x̂₀) is detectably worse
    than γ = 0 by the paired bootstrap, while the baseline itself is the best of the row."""
    cfg = tiny(tmp_path, target="mixture:2d", nfe=[4, 40], rho=[0.0], gamma=[0.0, 0.4], delta=[0.0], samples=400,
               bootstrap=20, metrics=["sw"])
    rows = sweep.run_sweep(cfg, executor="serial", figures=False)
    by = {(r["nfe"], r["gamma"]): r for r in rows}
    assert by[(40, 0.0)]["sw"] < by[(4, 0.0)]["sw_lo"]
    fine = [c for c in sweep.paired_comparisons(cfg.out, "sw", n_boot=50) if c["nfe"] == 40]
    assert len(fine) == 1 and fine[0]["best_gamma"] == 0.0
    a = torch.as_tensor(np.load(tmp_path / "sweep" / "samples" / f"{by[(40, 0.4)]['run_id']}.npy"), dtype=torch.float64)
    b = torch.as_tensor(np.load(tmp_path / "sweep" / "samples" / f"{by[(40, 0.0)]['run_id']}.npy"), dtype=torch.float64)
    ref = sweep.load_target("mixture:2d", None, True, None, 0.5, 400, "cpu").reference
    _, lo, _ = metrics.paired_difference_ci(metrics.sliced_wasserstein_unequal, a, b, ref, n_boot=50)
    assert lo > 0


@pytest.mark.slow  # > 10 s on two cores: runs in `pytest -m slow` (CI)
def test_local_processes_and_dask_cluster_match_serial(tmp_path):
    distributed = pytest.importorskip("distributed")
    cfg = tiny(tmp_path, rho=[1.0], gamma=[0.0], delta=[0.0, 0.3], bootstrap=0)
    serial = {r["run_id"]: r["sw"] for r in sweep.run_sweep(cfg, executor="serial", figures=False)}
    cfg_local = tiny(tmp_path, rho=[1.0], gamma=[0.0], delta=[0.0, 0.3], bootstrap=0, out=str(tmp_path / "local"))
    local = {r["run_id"]: r["sw"] for r in sweep.run_sweep(cfg_local, executor="local", workers=2, figures=False)}
    assert local == serial
    # Real worker processes (daemonic, tasks in threads): the library must not fork there (issue 13 §1).
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    try:
        cfg_dask = tiny(tmp_path, rho=[1.0], gamma=[0.0], delta=[0.0, 0.3], bootstrap=0, out=str(tmp_path / "dask"))
        rows = sweep.run_sweep(cfg_dask, executor="dask", scheduler_address=cluster.scheduler_address, figures=False)
    finally:
        cluster.close()
    assert {r["run_id"]: r["sw"] for r in rows} == serial


def test_module_target_with_edm_denoiser(tmp_path, monkeypatch):
    """A user module exposing an EDM D(y, sigma) for N(0, s² I) data (exact: D = s² y/(s² + σ²))."""
    (tmp_path / "user_model.py").write_text(textwrap.dedent("""
        class GaussianD:
            dim = 3
            def __call__(self, y, sigma):
                return 0.25 * y / (0.25 + sigma ** 2)
    """))
    rng = np.random.default_rng(0)
    np.save(tmp_path / "ref.npy", 0.5 * rng.standard_normal((500, 3)))
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = sweep.load_config(None, dict(out=str(tmp_path / "m"), target="user_model:GaussianD", sigma_data=0.5,
                                       reference=str(tmp_path / "ref.npy"), nfe=[20], methods=["heun"],
                                       samples=500, bootstrap=0, metrics=["fd"], schedules=["vp-cosine"]))
    (row,) = sweep.run_sweep(cfg, executor="serial", figures=False)
    samples = np.load(tmp_path / "m" / "samples" / f"{row['run_id']}.npy")
    # the exact Gaussian denoiser reproduces N(0, 0.25 I): sample std within 4 standard errors
    assert np.allclose(samples.std(0), 0.5, atol=4 * 0.5 / np.sqrt(2 * 500))


# ---------------------------------------------------------------------- CLI
@pytest.mark.slow  # > 10 s on two cores: runs in `pytest -m slow` (CI)
def test_cli_sweep_small_config_and_user_error(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[sweep]\ntarget = "mixture:1d"\nnfe = [5]\nmethods = ["exact"]\nsamples = 100\n'
                      'bootstrap = 0\nmetrics = ["sw"]\n')
    proc = s2n("sweep", "--config", str(config), "--out", str(tmp_path / "o"), "--gamma", "0", "--rho", "0,1",
               "--executor", "serial", "--no-progress")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 runs" in proc.stdout
    proc = s2n("sweep", "--target", "mixture:nope", "--out", str(tmp_path / "p"), "--executor", "serial")
    assert proc.returncode == 2 and proc.stderr.strip().startswith("error:") and "unknown mixture" in proc.stderr
