"""The figures' numbers (which the notebooks assert on) pass on the library and fail when a
formula is injected wrong (a forward kernel with the wrong variance, a B3 step with the wrong
noise); the convergence orders read off the error-vs-NFE study are the expected ones."""

from __future__ import annotations

import numpy as np
import pytest

from s2n_theory import backward, figures
from s2n_theory.builtin_schedules import builtin_names
from s2n_theory.numeric_schedule import compile_schedule
from s2n_theory.schedule_spec import get_schedule


@pytest.fixture(autouse=True)
def _fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S2N_FAST", "1")


def test_schedule_curves_are_consistent_for_every_builtin() -> None:
    for name in builtin_names():
        c = figures.schedule_curves(name, points=50)
        assert np.allclose(c["log_snr"], np.log(c["alpha"] ** 2 / c["sigma"] ** 2), rtol=1e-8, atol=1e-8)
        # g² = −σ²λ′: compare with finite differences of λ on the same grid.
        dlam = np.gradient(c["log_snr"], c["t"])
        inner = slice(5, -5)
        assert np.allclose(c["g2"][inner], -(c["sigma"] ** 2 * dlam)[inner], rtol=2e-2), name


def test_forward_histogram_detects_a_wrong_transition_variance(monkeypatch: pytest.MonkeyPatch) -> None:
    sched = get_schedule("vp-linear")
    _, good = figures.forward_histogram_figure(schedule=sched, n=3000)
    assert np.all(good["ks_pvalues"] > 1e-3)
    # compile_schedule hands out the functions of one generated module per schedule: break it there.
    module = compile_schedule(sched, "numpy").module
    right = module.sigma2_ts
    monkeypatch.setattr(module, "sigma2_ts", lambda t, s: 2.0 * right(t, s))
    _, bad = figures.forward_histogram_figure(schedule=sched, n=3000)
    assert bad["ks_pvalues"][0] > 1e-3  # t_min is the data itself, untouched
    assert np.all(bad["ks_pvalues"][1:] < 1e-6)


def test_rho_trajectories_detect_a_wrong_b3_noise(monkeypatch: pytest.MonkeyPatch, fresh_numeric_steps) -> None:
    right = backward.parametric_step_coefficients

    def wrong(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        c_x, c_theta, c_noise = right(*args, **kwargs)
        return c_x, c_theta, 1.6 * c_noise

    monkeypatch.setattr(backward, "parametric_step_coefficients", wrong)
    # fresh_numeric_steps: the steps are compiled once per process, so recompile with the wrong derivation.
    _, bad = figures.rho_trajectories_figure(schedule=get_schedule("vp-linear"), rhos=(0.0, 1.0), steps=40, n=1000)
    assert bad["ks_pvalues"][0.0] > 1e-3  # ρ = 0 has no noise term
    assert bad["ks_pvalues"][1.0] < 1e-6


def test_error_vs_nfe_heun_converges_faster_than_euler() -> None:
    rows = figures.error_vs_nfe(methods=("euler", "heun"), nfes=(4, 8, 16, 32), n=128, reference_steps=128)
    assert figures.convergence_order(rows, "heun") < figures.convergence_order(rows, "euler") < -0.8
    flat = [dict(r, error=0.3) for r in rows]
    assert abs(figures.convergence_order(flat, "euler")) < 1e-12


# ----------------------------------------------------------------------------- legibility
def _legibility_problems(fig, name: str) -> list[str]:
    """Overlapping tick labels (by their window extents), text below the minimum size, a strip-like aspect."""
    from s2n_theory.plotting import MIN_FONT_SIZE

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    problems = []
    width, height = fig.get_size_inches()
    if not 0.4 <= width / height <= 2.6:
        problems.append(f"{name}: aspect {width / height:.1f}:1")
    for text in fig.findobj(lambda artist: hasattr(artist, "get_fontsize") and hasattr(artist, "get_text")):
        if text.get_visible() and text.get_text().strip() and text.get_fontsize() < MIN_FONT_SIZE:
            problems.append(f"{name}: {text.get_text()!r} at {text.get_fontsize():g} pt")
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        for axis_name, labels in (("x", ax.get_xticklabels()), ("y", ax.get_yticklabels())):
            boxes = [(lab.get_text(), lab.get_window_extent(renderer)) for lab in labels
                     if lab.get_visible() and lab.get_text().strip()]
            for i, (text_a, a) in enumerate(boxes):
                for text_b, b in boxes[i + 1:]:
                    if a.overlaps(b):
                        problems.append(f"{name}: {axis_name} tick labels {text_a!r} and {text_b!r} overlap")
            if ax.get_xscale() == "log" and axis_name == "x":
                raw = [t for t, _ in boxes if "times" in t or "×" in t]
                if raw:
                    problems.append(f"{name}: log x labels in scientific form {raw}")
    return problems


def _sweep_rows() -> list[dict]:
    rows = []
    rng = np.random.default_rng(0)
    for nfe in (9, 17, 35, 70):
        for gamma in (0.0, 0.05, 0.1, 0.2):
            for delta in (0.0, 0.1, 0.2):
                for rho in (0.0, 1.0):
                    if rho == 0.0 and delta != 0.0:
                        continue
                    value = 0.1 / nfe + gamma * 0.01 + delta * 0.02 + rng.uniform(0, 1e-3)
                    rows.append({"target": "mixture:2d", "method": "exact", "nfe": nfe, "seed": 0, "rho": rho,
                                 "gamma": gamma, "delta": delta, "sw": value, "sw_lo": value * 0.9,
                                 "sw_hi": value * 1.1})
    return rows


@pytest.mark.slow  # computes and draws every figure (~9 s): runs in `pytest -m slow` (CI)
def test_every_figure_is_legible(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from s2n_theory import digits
    from s2n_theory.sweep import make_figures

    plt.close("all")
    kept = []
    # The figure functions close what they save: keep the figures open so the test can measure them.
    monkeypatch.setattr(plt, "close", lambda fig=None: kept.append(fig))
    figs = {
        "schedules": figures.schedules_figure()[0],
        "forward_histogram": figures.forward_histogram_figure(n=500)[0],
        "rho_trajectories": figures.rho_trajectories_figure(steps=20, n=200)[0],
        "error_vs_nfe": figures.error_vs_nfe_figure(figures.error_vs_nfe(methods=("euler", "heun"), nfes=(4, 8, 16),
                                                                        n=32, reference_steps=64))[0],
        "information": figures.information_figure(tmp_path / "i.png", close=False),
        "training curve": digits.curve_figure([(step, 0.5 * (1 + 20_000 / (step + 200))) for step in
                                              range(0, 20_001, 100)]),
    }
    before = set(plt.get_fignums())
    made = make_figures(_sweep_rows(), tmp_path / "sweep", "sw")
    assert made
    for number in sorted(set(plt.get_fignums()) - before):
        figs[f"sweep {number}"] = plt.figure(number)
    problems = [p for name, fig in figs.items() for p in _legibility_problems(fig, name)]
    monkeypatch.undo()
    plt.close("all")
    assert not problems, "\n".join(problems)


def test_legibility_check_catches_the_old_defaults() -> None:
    """The check is not vacuous: a 4:1 strip, 6 pt cell text and crowded step labels are all reported."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(14.4, 3.6))
    ax.text(0.5, 0.5, "0.123", fontsize=6)
    problems = _legibility_problems(fig, "old")
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(5, 3.2))  # the old training curve: steps 0, 2500, …, 20000
    ax.plot([0, 20_000], [1.0, 0.1])
    ax.set_xticks(range(0, 20_001, 2500), [f"{v:,}" for v in range(0, 20_001, 2500)])
    problems += _legibility_problems(fig, "old curve")
    plt.close(fig)
    assert any("aspect" in p for p in problems)
    assert any("6 pt" in p for p in problems)
    assert any("overlap" in p for p in problems)
