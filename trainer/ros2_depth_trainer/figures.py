"""
Figures like Figure 2 of Eigen et al. (2014): per row the RGB input, each prediction, the truth.

Every row has one colour scale, shared by its predictions and its ground truth and shown in a
colour bar, so that colours compare across the row. Invalid pixels (missing ground truth, or
pixels a prediction does not cover) are drawn grey. Uses matplotlib's Agg canvas directly: no
pyplot, no global backend change.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Dict, Sequence, Tuple

from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
import numpy as np

PANEL_INCHES = 2.6
DEFAULT_CMAP = 'viridis'  # near is dark blue, far is yellow
INVALID_COLOUR = '0.6'  # grey: no ground truth, or outside a prediction


@dataclasses.dataclass
class FigureRow:
    """One test image: RGB (H, W, 3) uint8, truth (H, W) metres (NaN invalid), predictions."""

    index: int
    image: np.ndarray
    truth: np.ndarray
    predictions: Dict[str, np.ndarray]


def row_depth_range(truth: np.ndarray) -> Tuple[float, float]:
    """Return (min, max) of the row's valid ground truth, the row's shared colour scale."""
    valid = truth[np.isfinite(truth) & (truth > 0)]
    if valid.size == 0:
        return 0.0, 1.0
    low, high = float(valid.min()), float(valid.max())
    return (low, high) if high > low else (low, low + 1.0)


def depth_figure(rows: Sequence[FigureRow], columns: Sequence[str], path: Path,
                 cmap: str = DEFAULT_CMAP, dpi: int = 100) -> Path:
    """Draw RGB | each column's prediction | ground truth for every row; write a PNG to `path`."""
    if not rows:
        raise ValueError('no row to draw')
    height, width = rows[0].truth.shape
    titles = ['RGB'] + list(columns) + ['ground truth']
    ncols = len(titles)
    panel_h = PANEL_INCHES * height / width
    fig = Figure(figsize=(PANEL_INCHES * ncols + 0.9, panel_h * len(rows) + 0.5))
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(len(rows), ncols + 1, width_ratios=[1.0] * ncols + [0.06],
                            left=0.01, right=0.93, top=1.0 - 0.35 / fig.get_figheight(),
                            bottom=0.02, wspace=0.04, hspace=0.06)
    colour_map = colormaps[cmap].with_extremes(bad=INVALID_COLOUR)
    for r, row in enumerate(rows):
        low, high = row_depth_range(row.truth)
        norm = Normalize(vmin=low, vmax=high)
        panels = [row.image] + [row.predictions[name] for name in columns] + [row.truth]
        mappable = None
        for c, panel in enumerate(panels):
            ax = fig.add_subplot(grid[r, c])
            ax.set_axis_off()
            if r == 0:
                ax.set_title(titles[c], fontsize=9)
            if c == 0:
                ax.imshow(panel, interpolation='nearest')
                ax.text(4, 4, f'#{row.index}', color='white', fontsize=7, va='top')
                continue
            shown = np.ma.masked_invalid(np.where(panel > 0, panel, np.nan))
            mappable = ax.imshow(shown, cmap=colour_map, norm=norm, interpolation='nearest')
        bar = fig.colorbar(mappable, cax=fig.add_subplot(grid[r, ncols]))
        bar.ax.tick_params(labelsize=7)
        bar.set_label('depth (m)', fontsize=7)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path
