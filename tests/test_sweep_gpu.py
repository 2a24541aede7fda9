"""Sweep runs on CUDA give the CPU's samples (counter-based noise is device-independent); skipped without CUDA."""

from pathlib import Path

import numpy as np
import pytest
import torch

from s2n_theory import sweep

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
CHECKPOINT = Path(__file__).resolve().parents[1] / "docs" / "results" / "digits_model" / "model.pt"


def _samples(tmp_path, device, **kw):
    values = dict(out=str(tmp_path / device), target="mixture:16d", nfe=[12], methods=["exact", "heun"],
                  rho=[0.0, 1.0], samples=256, bootstrap=5, metrics=["sw", "fd"], device=device)
    values.update(kw)
    rows = sweep.run_sweep(sweep.load_config(None, values), executor="serial", figures=False)
    return {(r["method"], r["rho"]): (r, np.load(tmp_path / device / "samples" / f"{r['run_id']}.npy")) for r in rows}


def test_mixture_sweep_cuda_matches_cpu(tmp_path):
    cpu, gpu = _samples(tmp_path, "cpu"), _samples(tmp_path, "cuda")
    assert cpu.keys() == gpu.keys() and len(cpu) == 3
    for key in cpu:
        assert np.allclose(cpu[key][1], gpu[key][1], atol=1e-5), key
        assert cpu[key][0]["sw"] == pytest.approx(gpu[key][0]["sw"], rel=1e-4)


@pytest.mark.skipif(not CHECKPOINT.exists(), reason="no committed digits checkpoint")
def test_digits_sweep_cuda_matches_cpu(tmp_path):
    pytest.importorskip("sklearn")
    kw = dict(target="digits", checkpoint=str(CHECKPOINT), metrics=["fdd", "fd"], methods=["exact"], rho=[1.0])
    cpu, gpu = _samples(tmp_path, "cpu", **kw), _samples(tmp_path, "cuda", **kw)
    (key,) = cpu
    # float64 inputs, float32 network on both devices: differences are float32 rounding only
    assert np.allclose(cpu[key][1], gpu[key][1], atol=1e-3)
    assert cpu[key][0]["fdd"] == pytest.approx(gpu[key][0]["fdd"], rel=1e-2)
