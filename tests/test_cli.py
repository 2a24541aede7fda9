"""The s2n command line as a user runs it: exit codes, one-line errors, JSON output."""

import json
import subprocess
import sys

import pytest


def s2n(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "s2n_theory.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_verify_user_schedule_writes_json(tmp_path):
    out = tmp_path / "r.json"
    proc = s2n("verify", "--only", "F2,F4", "-s", "alpha=1/sqrt(1+t**2); lambda=5-12*t", "-s", "general",
               "--json", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(out.read_text())
    assert data["summary"] == {"pass": 4, "fail": 0, "error": 0, "skip": 0}
    assert {r["schedule"] for r in data["results"]} == {"alpha=1/sqrt(1+t**2);lambda=5-12*t", "general"}
    assert "4 pass, 0 fail, 0 error, 0 skip" in proc.stdout


def test_verify_and_show_read_spec_files_like_export(tmp_path):
    spec = tmp_path / "mine.toml"
    spec.write_text('name = "mine"\nalpha = "1/sqrt(1+t**2)"\nlambda = "5-12*t"\ndomain = [0.0, 1.0]\n')
    proc = s2n("verify", "--only", "F2", "-s", str(spec))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "F2     mine" in proc.stdout and "1 pass" in proc.stdout
    shown = s2n("show", str(spec))
    assert shown.returncode == 0 and "alpha     = 1/sqrt(t**2 + 1)" in shown.stdout
    missing = s2n("verify", "-s", str(tmp_path / "absent.toml"))
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
def test_bad_input_exits_2_with_one_line(args, message):
    proc = s2n(*args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout


@pytest.mark.slow  # > 10 s on two cores: runs in `pytest -m slow` (CI)
def test_schedules_and_show():
    proc = s2n("schedules")
    assert proc.returncode == 0 and "vp-linear" in proc.stdout and "general" in proc.stdout
    proc = s2n("show", "edm")
    assert proc.returncode == 0 and "g2" in proc.stdout and "exp(-lambda/2)" in proc.stdout
