"""Issue 13, the distributed path and the sweep: the library is safe in daemonic workers and threads
(no child processes there), a sweep configuration is validated once (one line, exit 2 for each kind
of bad setting; the same for `s2n train`), a row describes what ran, a run that produces NaN is an
error row and a failure (never silent data), and an output folder is locked while a sweep writes it.
The real-cluster and kill-and-resume tests are in tests/test_sweep_cluster.py (slow)."""

from __future__ import annotations

import fcntl
import json
import multiprocessing
import threading
import time

import numpy as np
import pytest
import sympy as sp
from typer.testing import CliRunner

from s2n_theory import schedule as schedule_module
from s2n_theory import sweep, time_limit
from s2n_theory.cli import app
from s2n_theory.errors import S2NError
from s2n_theory.schedule_spec import get_schedule
from s2n_theory.sweep import run as run_module


# ---------------------------------------------------------------------- time limits without children
def _one_then_forever():
    yield 1
    while True:  # pure Python: an exception raised in this thread lands at the next bytecode
        time.sleep(0.001)


def _fails():
    raise ZeroDivisionError("boom")
    yield  # pragma: no cover


def _value_then_error():
    yield "raw"
    raise ZeroDivisionError("simplify failed")


def _in_daemon(conn):
    """Runs in a daemonic process, where multiprocessing refuses children (as in a Dask worker process)."""
    try:
        allowed = time_limit.child_process_allowed()
        value = time_limit.latest_within(_one_then_forever, (), 0.5)
        schedule_module._INVERSE_CACHE.clear()  # solve again here, not from the parent's cache
        inverse = get_schedule("vp-linear").inverse_log_snr
        conn.send((allowed, value, inverse is not None, len(multiprocessing.active_children())))
    except BaseException as exc:  # noqa: BLE001 - reported to the test
        conn.send(f"{type(exc).__name__}: {exc}")


def test_latest_within_works_in_a_daemonic_process():
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_in_daemon, args=(child,), daemon=True)
    proc.start()
    assert parent.poll(120), "the daemonic process did not answer"
    answer = parent.recv()
    proc.join(10)
    assert answer == (False, 1, True, 0), answer


def test_latest_within_in_a_thread_stops_the_computation_and_keeps_the_contract():
    results = {}

    def body():
        results["allowed"] = time_limit.child_process_allowed()
        start = time.monotonic()
        results["value"] = time_limit.latest_within(_one_then_forever, (), 0.3)
        results["elapsed"] = time.monotonic() - start
        with pytest.raises(RuntimeError, match="ZeroDivisionError: boom"):
            time_limit.latest_within(_fails, (), 5)
        results["kept"] = time_limit.latest_within(_value_then_error, (), 5)

    before = threading.active_count()
    worker = threading.Thread(target=body)
    worker.start()
    worker.join(30)
    assert results["allowed"] is False and results["value"] == 1 and results["elapsed"] < 2
    assert results["kept"] == "raw"  # an error after a value never replaces the value
    deadline = time.monotonic() + 5  # the abandoned helper thread was stopped, not left spinning
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() == before


def test_thread_limit_gives_the_same_inverse_as_the_child_limit(monkeypatch):
    lam = get_schedule("vp-linear").log_snr
    forked = time_limit.latest_within(schedule_module._solve_steps, (lam,), 60)
    monkeypatch.setattr(time_limit, "child_process_allowed", lambda: False)
    threaded = time_limit.latest_within(schedule_module._solve_steps, (lam,), 60)
    assert [sp.srepr(e) for e in threaded] == [sp.srepr(e) for e in forked]
    with pytest.raises(time_limit.TimeLimitExceeded):
        time_limit.latest_within(lambda: iter(time.sleep(1) or ()), (), 0.2)


# ---------------------------------------------------------------------- one line, exit 2: sweep and train
runner = CliRunner()

BAD_SWEEP_OPTIONS = [
    (["--nfe", "0"], "nfe must be >= 1"),
    (["--nfe", "5.5"], "nfe[0] must be a whole number"),
    (["--nfe", "nan"], "must be finite"),
    (["--gamma", "nan"], "gamma[0] must be finite"),
    (["--delta", "inf"], "delta[0] must be finite"),
    (["--rho", "-1"], "rho must be >= 0"),
    (["--exponent", "0"], "exponents must be > 0"),
    (["--exponent", "-inf"], "must be finite"),
    (["--seed", "-1"], "seeds must be >= 0"),
    (["--seed", "1.5"], "whole number"),
    (["--samples", "1"], "samples must be >= 2"),
    (["--bootstrap", "-5"], "bootstrap must be >= 0"),
    (["--method", "rk4"], "unknown methods"),
    (["--grid", "cosine"], "unknown grids"),
    (["--metric", "kl"], "unknown metrics"),
    (["--metric", "fdd"], "needs target = digits"),
    (["--target", "digits"], "needs checkpoint"),
    (["--target", "mixture:nope"], "unknown mixture"),
    (["--target", "nonsense"], "target must be"),
    (["--schedule", "no-such-schedule"], "schedule 'no-such-schedule'"),
    (["--device", "tpu"], "device must be"),
    (["--executor", "spark"], "unknown executor"),
    (["--workers", "0"], "workers must be"),
    (["--scheduler-address", "tcp://127.0.0.1:1"], "needs --executor dask"),
]

BAD_SWEEP_CONFIGS = [
    ("nfe = []\n", "nfe must list at least one value"),
    ('nfe = ["ten"]\n', "nfe[0] must be a number"),
    ("nfe = [true]\n", "nfe[0] must be a number"),
    ("samples = 1e400\n", "samples must be finite"),  # TOML reads the overflow as inf
    ("samples = inf\n", "samples must be finite"),
    ('edm = "yes"\n', "edm must be true or false"),
    ('dtype = "float16"\n', "dtype must be float32 or float64"),
    ("sigma_data = 0\n", "sigma_data must be > 0"),
    ('figure_metric = "mmd"\nmetrics = ["sw"]\n', "figure_metric 'mmd' is not one of"),
    ('reference = "/nonexistent/ref.npy"\ntarget = "m:D"\n', "reference /nonexistent/ref.npy does not exist"),
    ("bogus = 1\n", "unknown sweep config keys"),
    ("[sweep\n", "cannot read sweep config"),
    ("sweep = 3\n", "must be a table"),
    ("gamma = [0.0, nan]\n", "gamma[1] must be finite"),
    ('schedules = ["alpha=exp(-t); lambda=t"]\n', "schedule 'alpha=exp(-t); lambda=t'"),
]


def _one_line_exit_2(result, match):
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert match in lines[0], lines[0]


@pytest.mark.parametrize(("options", "match"), BAD_SWEEP_OPTIONS, ids=[" ".join(o) for o, _ in BAD_SWEEP_OPTIONS])
def test_bad_sweep_option_is_one_line_exit_2(tmp_path, options, match):
    result = runner.invoke(app, ["sweep", "--out", str(tmp_path / "o"), "--target", "mixture:1d", "--no-progress",
                                 "--executor", "serial", *options])
    _one_line_exit_2(result, match)
    assert not (tmp_path / "o" / "results.jsonl").exists()  # nothing ran


@pytest.mark.parametrize(("text", "match"), BAD_SWEEP_CONFIGS, ids=[m for _, m in BAD_SWEEP_CONFIGS])
def test_bad_sweep_config_is_one_line_exit_2(tmp_path, text, match):
    config = tmp_path / "c.toml"
    config.write_text(text if text.startswith(("[", "sweep =")) else "[sweep]\n" + text)
    result = runner.invoke(app, ["sweep", "--config", str(config), "--out", str(tmp_path / "o"), "--no-progress"])
    _one_line_exit_2(result, match)


def test_unreadable_configs_and_out_paths_are_one_line_exit_2(tmp_path):
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b"[sweep]\ntarget = \"caf\xe9\"\n")
    deep = tmp_path / "deep.toml"
    deep.write_text("x = " + "[" * 100_000 + "]" * 100_000 + "\n")
    afile = tmp_path / "afile"
    afile.write_text("")
    for args, match in ((["--config", str(latin)], "cannot read sweep config"),
                        (["--config", str(deep)], "cannot read sweep config"),
                        (["--config", str(tmp_path)], "cannot read sweep config"),
                        (["--out", str(afile)], "is not a directory")):
        result = runner.invoke(app, ["sweep", "--no-progress", "--out", str(tmp_path / "o"), *args])
        _one_line_exit_2(result, match)


BAD_TRAIN_OPTIONS = [
    (["--steps", "0"], "steps must be a whole number >= 1"),
    (["--batch", "-3"], "batch must be a whole number >= 1"),
    (["--lr", "nan"], "lr must be a finite number"),
    (["--lr", "inf"], "lr must be a finite number"),
    (["--lr", "0"], "lr must be > 0"),
    (["--hidden", "0"], "hidden must be"),
    (["--layers", "-1"], "layers must be"),
    (["--seed", "-2"], "seed must be"),
    (["--threads", "0"], "--threads must be >= 1"),
]


@pytest.mark.parametrize(("options", "match"), BAD_TRAIN_OPTIONS, ids=[" ".join(o) for o, _ in BAD_TRAIN_OPTIONS])
def test_bad_train_option_is_one_line_exit_2(tmp_path, options, match):
    result = runner.invoke(app, ["train", "digits", "--out", str(tmp_path / "t"), "--no-progress", *options])
    _one_line_exit_2(result, match)
    assert not (tmp_path / "t").exists()  # nothing was trained or written


def test_train_out_that_is_a_file_is_one_line_exit_2(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("")
    _one_line_exit_2(runner.invoke(app, ["train", "digits", "--out", str(afile), "--steps", "1"]),
                     "is not a directory")


# ---------------------------------------------------------------------- a row describes what ran
def test_row_records_the_exponent_the_grid_used(tmp_path, monkeypatch):
    used = []
    real = run_module.time_grid

    def spy(schedule, n, kind, **kw):
        used.append((kind, kw.get("exponent")))
        return real(schedule, n, kind, **kw)

    monkeypatch.setattr(run_module, "time_grid", spy)
    cfg = sweep.load_config(None, dict(out=str(tmp_path / "s"), target="mixture:1d", nfe=[5], grids=["karras",
                                       "uniform-t"], exponents=[3.0, 7.0], samples=50, bootstrap=0, metrics=["sw"]))
    rows = sweep.run_sweep(cfg, executor="serial", figures=False)
    # karras x 2 exponents, uniform-t once (the exponent does not shape it: recorded as None, not 0 or 7)
    assert sorted((r["grid"], r["exponent"] or 0) for r in rows) == [("karras", 3.0), ("karras", 7.0),
                                                                       ("uniform-t", 0)]
    assert sorted((k, e or 0) for k, e in used) == sorted((r["grid"], r["exponent"] or 0) for r in rows)
    assert all(r["exponent"] is None for r in rows if r["grid"] != "karras")


# ---------------------------------------------------------------------- NaN is never silent data
NAN_MODULE = """
import torch
class D:
    dim = 2
    bad = True
    def __call__(self, x, t):
        return x * float("nan") if D.bad else 0.5 * x
"""


def test_a_run_producing_nan_is_an_error_row_and_a_failure_then_redone(tmp_path, monkeypatch):
    (tmp_path / "nan_model.py").write_text(NAN_MODULE)
    np.save(tmp_path / "ref.npy", np.random.default_rng(0).standard_normal((100, 2)))
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = sweep.load_config(None, dict(out=str(tmp_path / "s"), target="nan_model:D", edm=False, nfe=[4],
                                       reference=str(tmp_path / "ref.npy"), samples=50, bootstrap=0,
                                       metrics=["sw"], schedules=["vp-linear"], grids=["uniform-t"]))
    with pytest.raises(S2NError, match=r"1 of 1 runs failed.*NaN or inf at step 0"):
        sweep.run_sweep(cfg, executor="serial", figures=False)
    (row,) = [json.loads(line) for line in (tmp_path / "s" / "results.jsonl").read_text().splitlines()]
    assert "error" in row and "sw" not in row and "finite" not in row
    assert not (tmp_path / "s" / "samples").exists()
    import nan_model

    monkeypatch.setattr(nan_model.D, "bad", False)
    sweep.load_target.cache_clear()
    (row,) = sweep.run_sweep(cfg, executor="serial", figures=False)  # the error row is redone, once
    assert "error" not in row and np.isfinite(row["sw"])
    assert len((tmp_path / "s" / "results.jsonl").read_text().splitlines()) == 1


def test_cli_sweep_with_nan_denoiser_exits_2_with_one_line(tmp_path, monkeypatch):
    (tmp_path / "nan_model2.py").write_text(NAN_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    config = tmp_path / "c.toml"
    config.write_text('[sweep]\ntarget = "nan_model2:D"\nedm = false\nnfe = [3]\nsamples = 20\nbootstrap = 0\n'
                      'schedules = ["vp-linear"]\ngrids = ["uniform-t"]\n')
    result = runner.invoke(app, ["sweep", "-c", str(config), "--out", str(tmp_path / "o"), "--executor", "serial",
                                 "--no-progress"])
    _one_line_exit_2(result, "runs failed")


# ---------------------------------------------------------------------- one sweep per folder, one row per run
def test_a_second_sweep_on_a_locked_folder_is_refused(tmp_path):
    cfg = sweep.load_config(None, dict(out=str(tmp_path / "s"), target="mixture:1d", nfe=[3], samples=20,
                                       bootstrap=0, metrics=["sw"]))
    (tmp_path / "s").mkdir()
    with open(tmp_path / "s" / ".sweep.lock", "a+") as held:  # as a running sweep holds it
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(S2NError, match="being written by another sweep"):
            sweep.run_sweep(cfg, executor="serial", figures=False)
    assert not (tmp_path / "s" / "results.jsonl").exists()
    assert len(sweep.run_sweep(cfg, executor="serial", figures=False)) == 1  # released: it runs


def test_rows_are_unique_per_run_even_if_written_twice(tmp_path):
    cfg = sweep.load_config(None, dict(out=str(tmp_path / "s"), target="mixture:1d", nfe=[3, 4], samples=20,
                                       bootstrap=0, metrics=["sw"]))
    rows = sweep.run_sweep(cfg, executor="serial", figures=False)
    path = tmp_path / "s" / "results.jsonl"
    path.write_text(path.read_text() * 2 + '{"run_id": "cut')
    assert sorted(r["run_id"] for r in sweep.read_rows(tmp_path / "s")) == sorted(r["run_id"] for r in rows)
    again = sweep.run_sweep(cfg, executor="serial", figures=False)
    assert len(again) == 2 and len(path.read_text().splitlines()) == 2
    data = json.loads((tmp_path / "s" / "results.json").read_text())
    assert len(data["rows"]) == 2
