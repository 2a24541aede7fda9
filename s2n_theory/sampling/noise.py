"""Reproducible Gaussian noise that does not depend on the batch size or the device.

Sample ``i`` of a batch gets noise that is a pure function of (seed, stream, step,
i, element): a counter-based generator (SplitMix64 finaliser over int64 counters,
then Box–Muller in float64). Drawing 10 samples or 10 000, on CPU or CUDA, gives
sample ``i`` the same noise, with no Python loop over samples.
"""

from __future__ import annotations

import math

import numpy as np
import torch

_MASK53 = (1 << 53) - 1
_MASK64 = (1 << 64) - 1


def _as_int64(value: int) -> int:
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >= 1 << 63 else value


_GOLDEN = _as_int64(0x9E3779B97F4A7C15)
_MIX1 = _as_int64(0xBF58476D1CE4E5B9)
_MIX2 = _as_int64(0x94D049BB133111EB)


def _shift_right(z: torch.Tensor, bits: int) -> torch.Tensor:
    """Logical right shift of int64 (torch's >> is arithmetic)."""
    return (z >> bits) & ((1 << (64 - bits)) - 1)


def _splitmix64(z: torch.Tensor) -> torch.Tensor:
    z = z + _GOLDEN  # int64 arithmetic wraps around, as the generator needs
    z = (z ^ _shift_right(z, 30)) * _MIX1
    z = (z ^ _shift_right(z, 27)) * _MIX2
    return z ^ _shift_right(z, 31)


def _uniform(counter: torch.Tensor) -> torch.Tensor:
    """A float64 in (0, 1) from each int64 counter."""
    bits = _shift_right(_splitmix64(counter), 11) & _MASK53
    return (bits.to(torch.float64) + 0.5) * 2.0**-53


def _splitmix64_numpy(z: np.ndarray) -> np.ndarray:
    """:func:`_splitmix64` on uint64 (the same bits), in place on ``z`` (which it returns): numpy's 64-bit
    integer kernels are vectorised, torch's int64 shift and multiply on CPU are not (about 5x slower on a few
    thousand numbers), and in-place updates spare a temporary per operation (the cost is memory traffic)."""
    z += np.uint64(_GOLDEN & _MASK64)
    z ^= z >> np.uint64(30)
    z *= np.uint64(_MIX1 & _MASK64)
    z ^= z >> np.uint64(27)
    z *= np.uint64(_MIX2 & _MASK64)
    z ^= z >> np.uint64(31)
    return z


def _splitmix64_int(z: int) -> int:
    """:func:`_splitmix64` on one Python integer (mod 2⁶⁴)."""
    z = (z + _GOLDEN) & _MASK64
    z = ((z ^ (z >> 30)) * (_MIX1 & _MASK64)) & _MASK64
    z = ((z ^ (z >> 27)) * (_MIX2 & _MASK64)) & _MASK64
    return z ^ (z >> 31)


def _uniform_pair_cpu(keys: np.ndarray, ids: np.ndarray, numel: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The two uniforms of :meth:`NoiseSource.normal` for every step key × CPU sample id, computed in numpy
    (the same bits): float64 tensors of shape (len(keys), len(ids), numel)."""
    counter = (_splitmix64_numpy(keys[:, None] + ids[None, :])[:, :, None]
               + np.uint64(2) * np.arange(numel, dtype=np.uint64))
    pair = []
    for offset in (0, 1):
        bits = _splitmix64_numpy(counter + np.uint64(offset))
        bits >>= np.uint64(11)  # the top 53 bits (a logical shift: nothing to mask)
        uniform = bits.astype(np.float64)
        uniform += 0.5
        uniform *= 2.0**-53
        pair.append(torch.from_numpy(uniform))
    return pair[0], pair[1]


def _box_muller(u1: torch.Tensor, u2: torch.Tensor) -> torch.Tensor:
    """sqrt(−2 log u₁) cos(2π u₂), overwriting u₂ (the callers' fresh uniforms): the same operations, in place."""
    return torch.log(u1).mul_(-2.0).sqrt_().mul_(torch.cos_(u2.mul_(2.0 * math.pi)))


class NoiseSource:
    """Counter-based N(0, 1) noise keyed by a seed.

    ``normal(shape, step, stream, sample_ids)`` returns a tensor of ``(len(sample_ids), *shape)``;
    ``sample_ids`` defaults to ``0..B-1``, so chunked generation passes an offset range.
    """

    def __init__(self, seed: int):
        self.seed = int(seed)

    def normal(
        self,
        batch_shape: tuple[int, ...],
        step: int,
        stream: int = 0,
        *,
        sample_ids: torch.Tensor | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        batch, *event = batch_shape
        numel = math.prod(event) if event else 1
        if sample_ids is None:
            sample_ids = torch.arange(batch, device=device, dtype=torch.int64)
        key = self._key(step, stream)
        if sample_ids.device.type == "cpu":
            ids = sample_ids.to(torch.int64).numpy().astype(np.uint64)
            u1, u2 = (u[0] for u in _uniform_pair_cpu(np.array([key], dtype=np.uint64), ids, numel))
        else:
            element = torch.arange(numel, device=sample_ids.device, dtype=torch.int64)
            key_tensor = torch.tensor(_as_int64(key), device=sample_ids.device)
            counter = _splitmix64(key_tensor + sample_ids.to(torch.int64)[:, None]) + 2 * element[None, :]
            u1, u2 = _uniform(counter), _uniform(counter + 1)
        return _box_muller(u1, u2).reshape(batch_shape).to(dtype)

    def _key(self, step: int, stream: int) -> int:
        return _splitmix64_int((_splitmix64_int((self.seed * 1_000_003 + stream) & _MASK64) + step) & _MASK64)

    def normal_steps(self, batch_shape: tuple[int, ...], steps: list[int], stream: int = 0, *,
                     dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> torch.Tensor:
        """``normal(batch_shape, step, stream)`` for every step of ``steps`` at once, stacked: the same numbers.

        On CPU one numpy pass over all the steps replaces a few dozen small calls per step (the per-call
        overhead dominated for a few thousand numbers per step); elsewhere it draws step by step.
        """
        if torch.device(device or "cpu").type != "cpu":
            return torch.stack([self.normal(batch_shape, k, stream, dtype=dtype, device=device) for k in steps])
        batch, *event = batch_shape
        numel = math.prod(event) if event else 1
        keys = np.array([self._key(k, stream) for k in steps], dtype=np.uint64)
        normal = _box_muller(*_uniform_pair_cpu(keys, np.arange(batch, dtype=np.uint64), numel))
        return normal.reshape(len(steps), *batch_shape).to(dtype)


STEP_BLOCK_NUMBERS = 2**18
"""Numbers drawn per block by :class:`StepNoise` (2 MiB in float64; a few temporaries of that size)."""


class StepNoise:
    """The noise of one run's steps, ``noise(step)`` equal to ``draw_normal(shape_like, generator, step, stream)``.

    For a counter-based source (an int seed or a :class:`NoiseSource`) on CPU, the steps listed in
    ``steps`` are drawn ahead in blocks of about :data:`STEP_BLOCK_NUMBERS` numbers; a
    ``torch.Generator``, the global RNG or a subclass overriding ``normal`` is drawn step by step.
    """

    def __init__(self, shape_like: torch.Tensor, generator: object, steps: list[int], stream: int = 0):
        self.shape_like, self.generator, self.stream = shape_like, generator, stream
        source = NoiseSource(generator) if isinstance(generator, int) and not isinstance(generator, bool) else generator
        # Blocks only for the counter-based numbers themselves: a subclass with its own ``normal`` (a
        # basis of unit impulses, say) is asked step by step, as it expects.
        blocks = (isinstance(source, NoiseSource) and type(source).normal is NoiseSource.normal
                  and shape_like.device.type == "cpu")
        self.source = source if blocks else None
        self.steps = list(steps)
        self.position = {k: i for i, k in enumerate(self.steps)}
        self.block = max(1, STEP_BLOCK_NUMBERS // max(1, shape_like.numel()))
        self.cached: dict[int, torch.Tensor] = {}

    def __call__(self, step: int) -> torch.Tensor:
        if self.source is None or step not in self.position:
            return draw_normal(self.shape_like, self.generator, step=step, stream=self.stream)
        if step not in self.cached:
            self.cached.clear()  # blocks are used in order: keep one in memory
            start = self.position[step]
            chunk = self.steps[start:start + self.block]
            drawn = self.source.normal_steps(tuple(self.shape_like.shape), chunk, self.stream,
                                             dtype=self.shape_like.dtype, device=self.shape_like.device)
            self.cached = dict(zip(chunk, drawn, strict=True))
        return self.cached[step]


def draw_normal(shape_like: torch.Tensor, generator: object, step: int, stream: int = 0) -> torch.Tensor:
    """N(0, I) shaped like ``shape_like`` from a seed (per-sample), a torch.Generator, or the global RNG."""
    if isinstance(generator, NoiseSource):
        return generator.normal(tuple(shape_like.shape), step, stream, dtype=shape_like.dtype,
                                device=shape_like.device)
    if isinstance(generator, int) and not isinstance(generator, bool):
        return NoiseSource(generator).normal(tuple(shape_like.shape), step, stream, dtype=shape_like.dtype,
                                             device=shape_like.device)
    return torch.randn(shape_like.shape, generator=generator, dtype=shape_like.dtype, device=shape_like.device)
