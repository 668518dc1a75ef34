"""A preview sheet of generated samples: RGB, depth, normals and labels side by side."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import List, Sequence, Tuple

import cv2
import numpy as np
from ros2_depth.demo.visualize import colorize_depth, colorize_normals, labelled, sheet

from .classes import colorize_labels
from .frame import Frame
from .sample import render_sample

_log = logging.getLogger(__name__)


def frame_pictures(frame: Frame, title: str, size: Tuple[int, int]) -> List[np.ndarray]:
    """Return BGR pictures (RGB, depth, normals, labels) of a frame at size (width, height)."""
    depth = frame.depth
    valid = depth[np.isfinite(depth)]
    near, far = (np.percentile(valid, (1, 99)) if valid.size else (0.0, 1.0))
    far = max(far, near + 0.1)
    pictures = [
        labelled(frame.rgb[..., ::-1], title, size),
        labelled(colorize_depth(depth, float(near), float(far)),
                 f'depth {near:.1f}-{far:.0f} m', size),
        labelled(colorize_normals(frame.normals), 'normals', size),
        labelled(colorize_labels(frame.labels)[..., ::-1], 'labels', size),
    ]
    return pictures


def preview_sheet(seed: int, per_kind: int = 8, size: Tuple[int, int] = (240, 320),
                  tile: Tuple[int, int] = (192, 144), kinds: Sequence[str] = ('indoor', 'street')
                  ) -> np.ndarray:
    """
    Render `per_kind` samples of each kind and tile them into one BGR sheet.

    Each row holds one sample of each kind (its RGB, depth, normals and labels); size is the
    rendered (height, width), tile the (width, height) of each picture on the sheet.
    """
    rows = []
    for index in range(per_kind):
        row: List[np.ndarray] = []
        for kind in kinds:
            sample = render_sample(kind, seed, index, size[0], size[1])
            row.extend(frame_pictures(sample.rendered.frame, f'{kind} {index}', tile))
        rows.append(row)
    return sheet(rows)


def write_preview(path: Path, seed: int, per_kind: int = 8,
                  size: Tuple[int, int] = (240, 320),
                  kinds: Sequence[str] = ('indoor', 'street')) -> Path:
    """Write the preview sheet PNG of `per_kind` samples of each kind; return its path."""
    picture = preview_sheet(seed, per_kind, size, kinds=kinds)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), picture, [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise OSError(f'could not write {path}')
    _log.info('wrote preview %s (%dx%d, %d bytes)', path, picture.shape[1], picture.shape[0],
              path.stat().st_size)
    return path
