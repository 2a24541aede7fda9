"""Issue 13 §3: the sampler does not trust its denoiser or its arguments. Non-finite denoiser output is
an S2NError naming the step and time (never NaN samples); a denoiser output of the wrong shape, a numpy
array or an integer tensor is refused; float32 stays float32; x, γ, δ and the time grid's n and exponent
are validated at the boundary (s2n_theory/sampling/validation.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from s2n_theory.errors import S2NError
from s2n_theory.named_mixtures import NAMED_MIXTURES
from s2n_theory.sampling import sample, time_grid
from s2n_theory.schedule_spec import get_schedule

SCHEDULE = get_schedule("vp-linear")
GRID = time_grid(SCHEDULE, 8, "uniform-t")


def _x(dtype=torch.float64, n=16, d=2):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(0), dtype=dtype)


def _expected_bad_call(method: str, threshold: float) -> tuple[int, float]:
    """(step, time) of the first denoiser call at a time below ``threshold``, from the grid alone."""
    times = GRID.tolist()
    for k in range(len(times) - 1):
        if times[k] < threshold:
            return k, times[k]
        if method == "heun" and k < len(times) - 2 and times[k + 1] < threshold:
            return k, times[k + 1]  # Heun's second evaluation of step k, at the step's end
    raise AssertionError("threshold below the grid")


@pytest.mark.parametrize("method", ["exact", "euler", "heun"])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_denoiser_output_names_step_and_time(method, bad):
    threshold = 0.55  # the denoiser breaks down below this time, as a learned model may at low noise

    def denoiser(x, t):
        out = 0.5 * x
        return out * bad if float(t[0]) < threshold else out

    step, t = _expected_bad_call(method, threshold)
    rho = 0.0 if method == "heun" else 1.0
    with pytest.raises(S2NError, match=rf"NaN or inf at step {step} \(t = {t:.6g}\)"):
        sample(denoiser, _x(), SCHEDULE, GRID, method=method, rho=rho, generator=0)


def test_a_single_bad_element_is_caught_and_a_finite_run_passes():
    def one_nan(x, t):
        out = 0.5 * x
        if float(t[0]) < 0.3:
            out = out.clone()
            out[3, 1] = math.nan
        return out

    with pytest.raises(S2NError, match="NaN or inf"):
        sample(one_nan, _x(), SCHEDULE, GRID, generator=0)
    result = sample(lambda x, t: 0.5 * x, _x(), SCHEDULE, GRID, generator=0)
    assert torch.isfinite(result.samples).all()


@pytest.mark.parametrize(("denoiser", "match"), [
    (lambda x, t: x[:1], r"shape \(1, 2\) for x of shape \(16, 2\) at step 0"),
    (lambda x, t: x[:, :1], r"shape \(16, 1\)"),
    (lambda x, t: x.reshape(-1), r"shape \(32,\)"),
    (lambda x, t: x.numpy(), "returned ndarray at step 0"),
    (lambda x, t: x.tolist(), "returned list"),
    (lambda x, t: x.long(), "returned dtype torch.int64"),
    (lambda x, t: None, "returned NoneType"),
], ids=["batch-1", "broadcast-dim", "flat", "numpy", "list", "int", "none"])
def test_denoiser_output_of_the_wrong_kind_is_refused(denoiser, match):
    with pytest.raises(S2NError, match=match):
        sample(denoiser, _x(), SCHEDULE, GRID)


def test_float32_stays_float32_with_a_float64_denoiser():
    """The exact oracle computes in float64; a float32 run stays float32 and agrees with float64 to float32
    precision."""
    mixture = NAMED_MIXTURES["2d"]()
    oracle = mixture.denoiser(SCHEDULE)
    x64 = _x(torch.float64, n=64)
    r64 = sample(oracle, x64, SCHEDULE, GRID, generator=0).samples
    r32 = sample(oracle, x64.float(), SCHEDULE, GRID, generator=0).samples
    assert r32.dtype == torch.float32 and r64.dtype == torch.float64
    scale = float(r64.abs().max())
    assert float((r32.double() - r64).abs().max()) <= 1e-4 * max(1.0, scale)


@pytest.mark.parametrize(("x", "match"), [
    (torch.tensor(1.0), "batch dimension"),
    (torch.ones(4, 2, dtype=torch.int64), "floating-point"),
    (np.ones((4, 2)), "must be a torch tensor"),
    (torch.tensor([[0.0, math.nan]]), "NaN or inf"),
    (torch.tensor([[math.inf, 0.0]]), "NaN or inf"),
], ids=["0-d", "int", "numpy", "nan", "inf"])
def test_bad_x_is_refused(x, match):
    with pytest.raises(S2NError, match=match):
        sample(lambda x, t: x, x, SCHEDULE, GRID)


@pytest.mark.parametrize("name", ["gamma", "delta"])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, True, "0.1", None])
def test_gamma_and_delta_must_be_finite_reals(name, value):
    with pytest.raises(S2NError, match=name):
        sample(lambda x, t: x, _x(), SCHEDULE, GRID, rho=1.0, **{name: value})


@pytest.mark.parametrize(("n", "match"), [
    (1.7, "whole number"), (True, "must be an integer"), (math.nan, "whole number"), (math.inf, "whole number"),
    (0, "at least one step"), (-3, "at least one step"), ("3", "must be an integer"), (None, "must be an integer"),
])
def test_time_grid_refuses_bad_step_counts(n, match):
    with pytest.raises(S2NError, match=match):
        time_grid(SCHEDULE, n)


@pytest.mark.parametrize("exponent", [0, 0.0, -1.0, math.nan, math.inf, True])
def test_time_grid_refuses_bad_exponents(exponent):
    with pytest.raises(S2NError, match="exponent"):
        time_grid(SCHEDULE, 5, "karras", exponent=exponent)


def test_time_grid_accepts_whole_numbers_of_any_integer_type():
    reference = time_grid(SCHEDULE, 4, "karras", exponent=3)
    for n in (4.0, np.int64(4), np.float64(4.0)):
        assert torch.equal(time_grid(SCHEDULE, n, "karras", exponent=3), reference)
    assert len(reference) == 5
