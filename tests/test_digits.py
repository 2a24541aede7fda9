"""The digits target: data split, EDM preconditioning, a tiny training run, checkpoints, the FDD metric,
and (when the committed checkpoint is present) the trained model beating the Gaussian fit of the data."""

from pathlib import Path

import pytest
import torch

pytest.importorskip("sklearn")

from s2n_theory import digits  # noqa: E402

CHECKPOINT = Path(__file__).resolve().parents[1] / "docs" / "results" / "digits_model" / "model.pt"


def test_split_is_fixed_scaled_and_disjoint():
    x, y = digits.load_split("train")
    xt, yt = digits.load_split("test")
    assert x.shape == (1347, 64) and xt.shape == (450, 64)
    assert float(x.min()) == -1.0 and float(x.max()) == 1.0
    assert set(yt.tolist()) == set(range(10))
    # stratified 75/25 split of the 1797 images, no image index shared (rows may coincide only by content)
    assert x.shape[0] + xt.shape[0] == 1797
    x2, _ = digits.load_split("train")
    assert torch.equal(x, x2)


def test_preconditioning_limits_and_dtype():
    model = digits.EDMDenoiser(digits.ModelConfig(hidden=32, layers=2, sigma_data=0.6))
    y = torch.randn(5, 64, dtype=torch.float64)
    # σ → 0: c_skip → 1 and c_out → 0, so D(y; σ) → y whatever the network
    out = model(y, torch.full((5,), 1e-6, dtype=torch.float64))
    assert out.dtype == torch.float64
    assert torch.allclose(out, y, atol=1e-5)
    # σ → ∞: c_skip → 0 and c_out → σ_d, so D stays bounded (does not grow with y)
    with torch.no_grad():
        big = model(1e6 * y, 1e6)
    assert float(big.abs().max()) < 1e3


def test_tiny_training_lowers_loss_and_round_trips(tmp_path):
    cfg = digits.TrainConfig(steps=150, batch=64, hidden=32, layers=2, lr=3e-3)
    model, curve = digits.train(tmp_path, cfg, progress=False, evaluate=False)
    assert len(curve) >= 10
    first, last = curve[0][1], curve[-1][1]
    assert last < first
    for name in ("model.pt", "curve.csv", "curve.png"):
        assert (tmp_path / name).exists()
    loaded = digits.load_model(tmp_path)
    y = torch.randn(4, 64)
    assert torch.allclose(loaded(y, 0.7), model(y, 0.7))
    with pytest.raises(digits.DigitsError):
        digits.load_model(tmp_path / "missing")


def test_fdd_ranks_real_digits_above_gaussian_fit():
    x, _ = digits.load_split("train")
    xt, _ = digits.load_split("test")
    real = digits.frechet_digits_distance(x, xt)
    fit = digits.frechet_digits_distance(digits.gaussian_fit_samples(1000), xt)
    noise = digits.frechet_digits_distance(torch.rand(1000, 64, dtype=torch.float64) * 2 - 1, xt)
    assert real < fit < noise
    _, accuracy = digits.feature_classifier()
    assert accuracy > 0.9


@pytest.mark.skipif(not CHECKPOINT.exists(), reason="no committed digits checkpoint")
def test_trained_checkpoint_beats_gaussian_fit():
    """The model trained by `s2n train digits` (committed) samples digits whose FDD to the test split is
    well below that of the Gaussian fit of the training data (less than half)."""
    model = digits.load_model(CHECKPOINT)
    xt, _ = digits.load_split("test")
    samples = digits.sample_model(model, 600, steps=12, seed=3)
    assert torch.isfinite(samples).all()
    fdd_model = digits.frechet_digits_distance(samples, xt)
    fdd_fit = digits.frechet_digits_distance(digits.gaussian_fit_samples(600, seed=3), xt)
    assert fdd_model < 0.5 * fdd_fit


@pytest.mark.skipif(not CHECKPOINT.exists(), reason="no committed digits checkpoint")
def test_digits_sweep_row_has_fdd_with_interval(tmp_path):
    from s2n_theory import sweep

    cfg = sweep.load_config(None, dict(out=str(tmp_path / "d"), target="digits", checkpoint=str(CHECKPOINT),
                                       nfe=[8], methods=["exact"], rho=[1.0], samples=200, bootstrap=10,
                                       metrics=["fdd", "fd"]))
    (row,) = sweep.run_sweep(cfg, executor="serial", figures=False)
    assert row["finite"] and row["nfe"] == 8
    assert row["fdd_lo"] <= row["fdd_hi"] and row["fd"] > 0
