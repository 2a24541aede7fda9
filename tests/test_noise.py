"""The counter-based noise: its CPU path (numpy hashing) gives the bits of the torch path CUDA runs."""

import numpy as np
import torch
from scipy import stats

from s2n_theory.sampling import noise


def _torch_path(seed: int, step: int, stream: int, batch: int, numel: int) -> tuple[torch.Tensor, torch.Tensor]:
    # The device-generic path written out with torch int64 arithmetic only (as on CUDA), on the CPU.
    key = noise._splitmix64(torch.tensor(noise._as_int64(seed * 1_000_003 + stream)))
    key = noise._splitmix64(key + step)
    counter = noise._splitmix64(key + torch.arange(batch)[:, None]) + 2 * torch.arange(numel)[None, :]
    return noise._uniform(counter), noise._uniform(counter + 1)


def test_cpu_uniforms_equal_the_torch_int64_path_bit_for_bit():
    for seed, step, stream in ((0, 0, 0), (5, 7, 1), (2**40 + 3, 123, 2), (-9, 1, 0)):
        key = noise._splitmix64_int(
            (noise._splitmix64_int((seed * 1_000_003 + stream) & noise._MASK64) + step) & noise._MASK64)
        keys, ids = np.array([key], dtype=np.uint64), np.arange(37, dtype=np.uint64)
        got = [u[0] for u in noise._uniform_pair_cpu(keys, ids, 5)]
        want = _torch_path(seed, step, stream, 37, 5)
        assert all(torch.equal(g, w) for g, w in zip(got, want, strict=True))


def test_noise_is_standard_normal_and_independent_of_the_batch():
    source = noise.NoiseSource(11)
    big = source.normal((20_000, 2), step=3, dtype=torch.float64)
    small = source.normal((10, 2), step=3, dtype=torch.float64)
    assert torch.equal(big[:10], small)
    assert stats.kstest(big.flatten().numpy(), "norm").pvalue > 1e-3
    assert abs(float(np.corrcoef(big[:, 0], big[:, 1])[0, 1])) < 4 / np.sqrt(20_000)


def test_step_blocks_give_the_numbers_of_single_draws(monkeypatch):
    # StepNoise draws a run's steps in blocks (several blocks here); every step's noise is the single draw's.
    monkeypatch.setattr(noise, "STEP_BLOCK_NUMBERS", 1000)
    like = torch.zeros(37, 3, 2, dtype=torch.float64)
    steps = list(range(0, 90, 3))
    drawn = noise.StepNoise(like, 21, steps, stream=1)
    for k in range(90):  # listed steps from the blocks, the others drawn on demand
        assert torch.equal(drawn(k), noise.draw_normal(like, 21, step=k, stream=1))
    block = noise.NoiseSource(4).normal_steps((5, 2), [7, 2, 9], dtype=torch.float32)
    assert block.dtype == torch.float32
    assert torch.equal(block[1], noise.NoiseSource(4).normal((5, 2), 2, dtype=torch.float32))


def test_step_noise_asks_a_subclass_with_its_own_normal_step_by_step():
    class Ones(noise.NoiseSource):
        def normal(self, batch_shape, step, stream=0, *, sample_ids=None, dtype=torch.float32, device=None):
            return torch.full(batch_shape, float(step), dtype=dtype, device=device)

    drawn = noise.StepNoise(torch.zeros(4, 2), Ones(0), [0, 1, 2])
    assert torch.equal(drawn(2), torch.full((4, 2), 2.0))
