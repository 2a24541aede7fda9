"""Torch sampling: time grids, the ρ-family sampler, forward simulation, reproducible noise."""

from .engine import METHODS, SampleResult, sample, step_table
from .forward import simulate_forward
from .grids import GRID_KINDS, time_grid
from .noise import NoiseSource

__all__ = ["GRID_KINDS", "METHODS", "NoiseSource", "SampleResult", "sample", "simulate_forward", "step_table",
           "time_grid"]
