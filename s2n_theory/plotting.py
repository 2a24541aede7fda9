"""Legibility helpers shared by every figure (the theory figures, sweep plots, the training curve).

Matplotlib's defaults go wrong in three places these figures hit: log axes label minor ticks as
``8×10⁰`` when they span less than a decade, long integer axes (training steps) crowd their
labels into each other, and text placed in cells (heat maps) is sized for the page, not the cell.
The helpers take matplotlib axes and import nothing of the project (they sit in its lowest layer).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

MIN_FONT_SIZE = 7.0
"""No text of a figure is smaller than this many points (tests/test_figures.py checks it)."""

SAVE_DPI = 110
"""Resolution every PNG is saved at: small text stays readable in the report."""


def _plain(value: float, _position: Any = None) -> str:
    """A tick value as a plain number: 8, 0.5, 2e+04 (never 8×10⁰)."""
    return f"{value:g}"


def plain_log_axis(axis: Any, values: Sequence[float] | None = None, max_ticks: int = 8) -> None:
    """Label a log-scale ``axis`` (``ax.xaxis``/``ax.yaxis``) with plain numbers.

    With ``values`` (e.g. the NFE of the runs) and at most ``max_ticks`` of them, the ticks sit
    exactly there; otherwise at 1, 2, 5 × 10^k. Minor ticks stay, unlabelled.
    """
    from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter

    distinct = sorted({float(v) for v in (values if values is not None else ()) if v > 0})
    if distinct and len(distinct) <= max_ticks:
        axis.set_major_locator(FixedLocator(distinct))
    else:
        axis.set_major_locator(LogLocator(base=10.0, subs=(1.0, 2.0, 5.0), numticks=max_ticks + 2))
    axis.set_major_formatter(FuncFormatter(_plain))
    axis.set_minor_formatter(NullFormatter())


def thousands_axis(axis: Any, bins: int = 5) -> None:
    """At most ``bins`` + 1 ticks on a count axis, written 5k, 10k, … above 1000 (training steps)."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    axis.set_major_locator(MaxNLocator(nbins=bins, integer=True))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1000:g}k" if abs(v) >= 1000 else f"{v:g}"))


def cell_text_colour(rgba: Sequence[float]) -> str:
    """Black or white, whichever reads better on a cell of colour ``rgba`` (relative luminance)."""
    r, g, b = rgba[:3]
    return "black" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.5 else "white"


def panel_grid(plt: Any, count: int, panel: tuple[float, float] = (5.0, 4.0), max_columns: int = 3,
               **subplots: Any) -> tuple[Any, list[Any]]:
    """``count`` panels in a near-square grid (a single row of many panels makes a strip that shrinks on a page).

    Returns the figure and the ``count`` axes in reading order; spare cells are hidden.
    """
    columns = min(count, max_columns, max(1, math.ceil(math.sqrt(count))) if count > 3 else count)
    rows = math.ceil(count / columns)
    fig, grid = plt.subplots(rows, columns, figsize=(panel[0] * columns, panel[1] * rows), squeeze=False, **subplots)
    axes = list(grid.flat)
    for spare in axes[count:]:
        spare.set_visible(False)
    return fig, axes[:count]
