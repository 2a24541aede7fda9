"""Sampler hyperparameter sweeps: ``s2n sweep`` (claim B4; the sampler experiments of §7, §8).

A sweep is the Cartesian product of schedules × time grids (kind, exponent) × target NFE ×
methods × ρ × γ × δ × seeds, run on one *target*:

* ``mixture:NAME`` — a Gaussian mixture with its exact oracle denoiser (P3), so the only error
  left is the sampler's discretization; the reference set is fresh exact samples of the data;
* ``digits`` — the learned EDM denoiser of :mod:`s2n_theory.digits` (``checkpoint``), used through
  the P2 bridge; the reference set is the held-out test split;
* ``module:callable`` — any user denoiser (a class is instantiated with no arguments, any other
  object is used as it is): ``D(y, sigma)`` in EDM form (``edm = true``, the default; wrapped with
  P2) or ``denoiser(x, t) -> x̂₀`` (``edm = false``), working on flat (n, dim) tensors; ``dim`` is
  its ``dim`` attribute or the width of ``reference``, an optional .npy of data samples.

Every run gives one row: the settings, the NFE actually used, wall time, and each metric with a
percentile bootstrap interval (:func:`s2n_theory.metrics.bootstrap_ci`). Rows are appended to
``results.jsonl`` as runs finish (synced; the folder is locked while a sweep writes it, so a second
sweep on it is refused); ``results.csv`` / ``results.json`` (with the full configuration and package
versions) and the figures are rewritten from it (atomically), and an interrupted sweep — even one
killed with SIGKILL, on any executor — skips the runs already there, with one row per run. The whole
configuration is validated once, before anything runs (:meth:`SweepConfig.validate`); a run the
toolkit refuses (the denoiser returned NaN or inf at some step, a metric is not finite) is an *error
row*, reported as a failure and redone on the next run, never a row of NaN metrics. Library calls are
safe inside Dask's daemonic worker processes and threads (see :mod:`s2n_theory.time_limit`).
``paired_comparisons`` gives, for each (method, ρ, NFE) group, the best
(γ, δ) against γ = δ = 0 with a *paired* bootstrap interval on the difference.

Redundant settings are dropped during expansion: δ only matters when the step has noise (ρ > 0),
and Heun integrates the ODE (ρ = 0). The NFE target is met from below: exact/Euler with n steps
use n (+1 for the final denoising) evaluations, Heun 2n − 1 (+1).

The package is split by job: :mod:`.config` (settings and their expansion into runs),
:mod:`.targets` (denoiser, x_T and reference set of a target; metrics), :mod:`.run` (one run),
:mod:`.results` (executors, bookkeeping, comparisons, tables) and :mod:`.plots` (figures).
"""

from .config import (
    DROP_REASONS,
    METRICS,
    SweepConfig,
    SweepError,
    combinations,
    expand,
    expansion,
    load_config,
    steps_for_nfe,
)
from .plots import make_figures
from .results import (
    EXECUTORS,
    markdown_comparisons,
    markdown_rows,
    paired_comparisons,
    read_rows,
    run_sweep,
    versions,
)
from .run import ROW_KEYS, run_one
from .targets import Target, load_target, metric_function, named_mixtures

__all__ = [
    "DROP_REASONS", "EXECUTORS", "METRICS", "ROW_KEYS", "SweepConfig", "SweepError", "Target", "combinations",
    "expand", "expansion", "load_config",
    "load_target", "make_figures", "markdown_comparisons", "markdown_rows", "metric_function", "named_mixtures",
    "paired_comparisons", "read_rows", "run_one", "run_sweep", "steps_for_nfe", "versions",
]
