"""Torch sampling: time grids, the ρ-family solvers (registry SOLVERS), forward simulation, reproducible noise."""

from .engine import METHODS, SampleResult, sample, sample_rhos, sample_runs, step_table
from .forward import simulate_forward
from .grids import GRID_KINDS, time_grid
from .noise import NoiseSource
from .solvers import SOLVERS, Solver, get_solver

__all__ = ["GRID_KINDS", "METHODS", "SOLVERS", "NoiseSource", "SampleResult", "Solver", "get_solver", "sample",
           "sample_rhos", "sample_runs", "simulate_forward", "step_table", "time_grid"]
