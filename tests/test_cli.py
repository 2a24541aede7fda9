"""The s2n command line as a user runs it: exit codes, one-line errors, JSON output."""

import json

import pytest


def test_verify_user_schedule_writes_json(tmp_path, s2n_process):
    # The main job as a user starts it, a new process: the one real `s2n` process of the default selection
    # (the other commands' real processes run in `pytest -m slow`, through the s2n_both_ways fixture).
    out = tmp_path / "r.json"
    proc = s2n_process("verify", "--only", "F2,F4", "-s", "alpha=1/sqrt(1+t**2); lambda=5-12*t", "-s", "general",
               "--json", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(out.read_text())
    assert data["summary"] == {"pass": 4, "fail": 0, "error": 0, "skip": 0}
    assert {r["schedule"] for r in data["results"]} == {"alpha=1/sqrt(1+t**2);lambda=5-12*t", "general"}
    assert "4 pass, 0 fail, 0 error, 0 skip" in proc.stdout


def test_verify_process_keeps_its_status_and_output_through_the_fast_exit(s2n_process, capsys):
    # `s2n verify` ends with os._exit after flushing (no interpreter teardown): the status and the one-line
    # error still come out of the real process; SystemExit's codes map as the interpreter maps them.
    proc = s2n_process("verify", "--level", "bogus")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["error: unknown level 'bogus' (choose quick or full)"]
    from s2n_theory.cli import _exit_status

    assert [_exit_status(SystemExit(code)) for code in (None, 0, 1, 2)] == [0, 0, 1, 2]
    assert _exit_status(SystemExit("stopped")) == 1 and capsys.readouterr().err == "stopped\n"


def test_verify_and_show_read_spec_files_like_export(tmp_path, run_s2n, s2n_both_ways):
    spec = tmp_path / "mine.toml"
    spec.write_text('name = "mine"\nalpha = "1/sqrt(1+t**2)"\nlambda = "5-12*t"\ndomain = [0.0, 1.0]\n')
    proc = run_s2n("verify", "--only", "F2", "-s", str(spec))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "F2     mine" in proc.stdout and "1 pass" in proc.stdout
    shown = s2n_both_ways("show", str(spec))
    assert shown.returncode == 0 and "alpha     = 1/sqrt(t**2 + 1)" in shown.stdout
    missing = run_s2n("verify", "-s", str(tmp_path / "absent.toml"))
    assert missing.returncode == 2 and missing.stderr.strip().splitlines() == [
        f"error: spec file {str(tmp_path / 'absent.toml')!r} not found"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["verify", "-s", "alpha=1; lambda=5+12*t"], "strictly decreasing"),
        (["verify", "-s", "alpha=__import__('os').system('echo hi'); sigma=t"], "not allowed"),
        (["verify", "-s", "alpha=t.real; sigma=t"], "attribute access"),
        (["verify", "-s", "alpha=2**9**9; sigma=t"], "exceeds"),
        (["verify", "--only", "Z9"], "unknown claim"),
        (["verify", "--level", "huge"], "unknown level"),
        (["show", "nope"], "unknown schedule"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, message, run_s2n):
    proc = run_s2n(*args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout


@pytest.mark.slow  # > 10 s on two cores: runs in `pytest -m slow` (CI)
def test_schedules_and_show(s2n_process):
    proc = s2n_process("schedules")
    assert proc.returncode == 0 and "vp-linear" in proc.stdout and "general" in proc.stdout
    proc = s2n_process("show", "edm")
    assert proc.returncode == 0 and "g2" in proc.stdout and "exp(-lambda/2)" in proc.stdout


def test_verify_json_has_provenance_tolerances_and_skip_reasons(tmp_path) -> None:
    import json

    from typer.testing import CliRunner

    from s2n_theory.cli import app

    out = tmp_path / "r.json"
    result = CliRunner().invoke(app, ["verify", "--only", "I1", "-s", "vdm", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "skip (" in result.output and "general-only" in result.output  # the summary says why
    payload = json.loads(out.read_text())
    assert set(payload) >= {"results", "summary", "skip_reasons", "provenance"}
    info = payload["provenance"]
    assert {"version", "commit", "level", "seeds", "platform", "torch", "sympy", "numpy"} <= set(info)
    assert info["level"] == "quick" and info["schedules"] == ["vdm"]
    assert payload["skip_reasons"] == {"general-only": len(payload["results"])}
    assert all(r["title"] for r in payload["results"])


def test_version_and_help_without_python_type_labels() -> None:
    from typer.testing import CliRunner

    from s2n_theory.cli import app

    runner = CliRunner()
    version = runner.invoke(app, ["--version"])
    assert version.exit_code == 0 and version.output.startswith("s2n-theory ")
    for command in ("sweep", "train", "verify", "show", "derive", "export"):
        text = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"}).output
        assert "<bool>" not in text and "<list[" not in text and "<str>" not in text, command


def test_every_option_has_help() -> None:
    import typer.main

    from s2n_theory.cli import app

    group = typer.main.get_command(app)
    missing = [f"{name} {param.name}" for name, command in group.commands.items() for param in command.params
               if param.param_type_name == "option" and not (param.help or "").strip()]
    assert not missing, missing


def test_sweep_without_settings_prints_usage_and_runs_nothing(tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from s2n_theory.cli import app

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["sweep"])
    assert result.exit_code == 2 and "Usage" in result.output
    assert not any(tmp_path.iterdir())  # no default job wrote anything


def test_sweep_configs_never_write_into_tracked_files_by_default() -> None:
    from pathlib import Path

    from s2n_theory import sweep

    root = Path(__file__).resolve().parents[1]
    for config in sorted((root / "configs").glob("*.toml")):
        out = Path(sweep.load_config(config).out)
        assert out.parts[0] == "runs", (config.name, out)  # runs/ is ignored by git (.gitignore)
    assert "/runs/" in (root / ".gitignore").read_text().split()
    small = sweep.load_config(root / "configs" / "small.toml")
    runs, dropped = sweep.expansion(small)
    assert len(runs) + sum(dropped.values()) == sweep.combinations(small) == 32 and len(runs) == 16


def test_show_prints_simplified_forms_and_raw_behind_a_flag() -> None:
    import sympy as sp
    from typer.testing import CliRunner

    from s2n_theory.cli import app
    from s2n_theory.schedule_spec import get_schedule

    runner = CliRunner()
    simple = runner.invoke(app, ["show", "vp-cosine"]).output
    raw = runner.invoke(app, ["show", "vp-cosine", "--raw"]).output
    sigma = {line.split("=", 1)[0].strip(): line.split("=", 1)[1].strip() for line in simple.splitlines() if "=" in line}
    raw_sigma = {line.split("=", 1)[0].strip(): line.split("=", 1)[1].strip() for line in raw.splitlines() if "=" in line}
    assert sigma["sigma"] != raw_sigma["sigma"]
    t = sp.Symbol("t", positive=True)
    shown = sp.sympify(sigma["sigma"], locals={"t": t})
    exact = get_schedule("vp-cosine").sigma
    for value in (0.1, 0.5, 0.9):  # the simplified form is the same function
        assert abs(float(shown.subs(t, value)) - float(exact.subs(exact.free_symbols.pop(), value))) < 1e-12
