"""
Training curves of a run folder: its ``metrics.jsonl`` drawn as one PNG.

Three panels share the step axis: the training loss terms (raw, and a moving average restarted
at each stage), the validation depth metrics (abs rel and RMSE log, and δ < 1.25 on its own
axis), and the learning rates. Stage boundaries from the run's ``config.yaml`` are marked with
their names. A line that cannot be parsed (the last line of a run that was killed mid-write) is
skipped and counted.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
import numpy as np

LOSS_KEYS = ('depth', 'depth_gradient', 'normals', 'labels', 'total')
VALIDATION_KEYS = ('abs_rel', 'rmse_log', 'sc_inv')
ACCURACY_KEY = 'delta1'
RATE_PREFIX = 'lr_'
SMOOTHING = 10  # moving-average width, in logged points


@dataclasses.dataclass
class RunMetrics:
    """The series of one run: per kind ('train', 'val'), key -> (steps, values)."""

    series: Dict[str, Dict[str, Tuple[np.ndarray, np.ndarray]]]
    skipped_lines: int = 0

    def get(self, kind: str, key: str) -> Optional[Tuple[np.ndarray, np.ndarray]]:
        """Return (steps, values) of one series, or None when the run did not log it."""
        return self.series.get(kind, {}).get(key)


def read_metrics(path: Path) -> RunMetrics:
    """
    Read a ``metrics.jsonl`` into per-key series, sorted by step.

    A step logged twice (a run resumed from an earlier checkpoint) keeps its last value.
    Raises OSError when the file cannot be read and ValueError when it holds no entry.
    """
    rows: Dict[str, Dict[str, Dict[int, float]]] = {}
    skipped = 0
    with open(path, encoding='utf-8') as stream:
        for line in stream:
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                kind, step = str(entry['kind']), int(entry['step'])
            except (ValueError, KeyError, TypeError):
                skipped += 1
                continue
            for key, value in entry.items():
                if key in ('kind', 'step') or not isinstance(value, (int, float)):
                    continue
                rows.setdefault(kind, {}).setdefault(key, {})[step] = float(value)
    if not rows:
        raise ValueError(f"{path}: no metrics entry (is it a run's metrics.jsonl?)")
    series = {
        kind: {key: (np.array(sorted(values), dtype=np.int64),
                     np.array([values[s] for s in sorted(values)], dtype=np.float64))
               for key, values in keys.items()}
        for kind, keys in rows.items()}
    return RunMetrics(series, skipped)


def moving_average(values: np.ndarray, width: int) -> np.ndarray:
    """Return the trailing moving average of ``values`` over up to ``width`` points."""
    if width <= 1 or values.size == 0:
        return values.copy()
    sums = np.cumsum(np.insert(values, 0, 0.0))
    counts = np.minimum(np.arange(1, values.size + 1), width)
    return (sums[1:] - sums[np.arange(1, values.size + 1) - counts]) / counts


def smooth_per_stage(steps: np.ndarray, values: np.ndarray, firsts: Sequence[int],
                     width: int = SMOOTHING) -> np.ndarray:
    """Return the moving average of ``values``, restarted at each stage's first step."""
    out = np.empty_like(values)
    bounds = sorted(set(np.searchsorted(steps, firsts, side='right')) | {0, len(steps)})
    for start, end in zip(bounds[:-1], bounds[1:]):
        out[start:end] = moving_average(values[start:end], width)
    return out


def curves_figure(metrics: RunMetrics, path: Path,
                  stages: Sequence[Tuple[str, int]] = (), title: str = '',
                  dpi: int = 100) -> Path:
    """
    Draw the run's curves into a PNG at ``path``; ``stages`` = (name, first step) per stage.

    Raises ValueError when the run logged no training loss.
    """
    losses = [(key, metrics.get('train', key)) for key in LOSS_KEYS]
    losses = [(key, series) for key, series in losses if series is not None]
    if not losses:
        raise ValueError('the run logged no training loss')
    rates = sorted(key for key in metrics.series.get('train', {}) if key.startswith(RATE_PREFIX))
    fig = Figure(figsize=(9.0, 8.0))
    FigureCanvasAgg(fig)
    axes = fig.subplots(3, 1, sharex=True, gridspec_kw={'height_ratios': [3, 2, 1]})
    loss_ax, val_ax, rate_ax = axes
    firsts = [first for _, first in stages]
    for key, (steps, values) in losses:
        line, = loss_ax.plot(steps, values, alpha=0.25, linewidth=0.8)
        loss_ax.plot(steps, smooth_per_stage(steps, values, firsts), color=line.get_color(),
                     linewidth=1.5, label=key)
    loss_ax.set_ylabel('training loss')
    loss_ax.legend(fontsize=8, loc='upper right')
    drawn = False
    for key in VALIDATION_KEYS:
        series = metrics.get('val', key)
        if series is not None:
            val_ax.plot(*series, marker='o', markersize=3, label=key)
            drawn = True
    accuracy = metrics.get('val', ACCURACY_KEY)
    if accuracy is not None:
        twin = val_ax.twinx()
        twin.plot(*accuracy, marker='s', markersize=3, color='black', linestyle='--',
                  label='δ < 1.25 (right)')
        twin.set_ylabel('δ < 1.25')
        twin.legend(fontsize=8, loc='center right')
        drawn = True
    if drawn:
        val_ax.legend(fontsize=8, loc='upper right')
    else:
        val_ax.text(0.5, 0.5, 'no validation logged', ha='center', va='center',
                    transform=val_ax.transAxes)
    val_ax.set_ylabel('validation error')
    for key in rates:
        rate_ax.plot(*metrics.get('train', key), label=key[len(RATE_PREFIX):])
    if rates:
        rate_ax.set_yscale('log')
        rate_ax.legend(fontsize=7, loc='upper right', ncol=min(len(rates), 4))
    rate_ax.set_ylabel('learning rate')
    rate_ax.set_xlabel('step')
    for ax in axes:
        ax.grid(alpha=0.3)
        for name, first in stages:
            ax.axvline(first, color='grey', linestyle=':', linewidth=1)
    for name, first in stages:
        loss_ax.text(first, 1.0, f' {name}', transform=loss_ax.get_xaxis_transform(),
                     va='bottom', fontsize=8, color='grey')
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path


def stage_starts(names: Sequence[str], steps: Sequence[int]) -> List[Tuple[str, int]]:
    """Return (name, first global step) of each stage from the stages' names and lengths."""
    starts, first = [], 0
    for name, count in zip(names, steps):
        starts.append((name, first))
        first += count
    return starts
