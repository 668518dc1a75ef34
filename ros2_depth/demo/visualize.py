"""Pictures of depth and normals for people: colour maps, labelled preview sheets, PLY clouds."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence

import cv2
import numpy as np
from ros2_depth.camera_model import PinholeCamera


NEAR_M = 0.5  # near end of the depth colour scale, metres
_OUTLINE_OFFSETS = [(dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1) if dx or dy]


def colorize_depth(depth: np.ndarray, near: float, far: float) -> np.ndarray:
    """BGR uint8 picture of a depth map: turbo, near (red) to far (blue); black = invalid."""
    valid = np.isfinite(depth)
    scaled = np.zeros(depth.shape, np.uint8)
    with np.errstate(invalid='ignore'):
        ratio = (far - np.clip(depth, near, far)) / (far - near)
    scaled[valid] = (ratio[valid] * 255).astype(np.uint8)
    picture = cv2.applyColorMap(scaled, cv2.COLORMAP_TURBO)
    picture[~valid] = 0
    return picture


def far_limit(depth: np.ndarray, near: float = NEAR_M) -> float:
    """Far end of the colour scale: the 99th percentile of the valid depth (at least 1 m more)."""
    valid = depth[np.isfinite(depth)]
    if valid.size == 0:
        return near + 1.0
    return max(float(np.percentile(valid, 99)), near + 1.0)


def point_colors(rgb: np.ndarray, camera: PinholeCamera, points: np.ndarray) -> np.ndarray:
    """Colour of each (..., 3) point: the pixel of `rgb` (seen by `camera`) it projects to."""
    pixels = np.rint(camera.project(np.nan_to_num(points, nan=1.0))).astype(int)
    u = np.clip(pixels[..., 0], 0, camera.width - 1)
    v = np.clip(pixels[..., 1], 0, camera.height - 1)
    return rgb[v, u]


def colorize_normals(normals: np.ndarray) -> np.ndarray:
    """BGR uint8 picture of unit normals: x, y, z in [-1, 1] as R, G, B; black = invalid."""
    valid = np.isfinite(normals).all(axis=2)
    rgb = np.zeros(normals.shape, np.uint8)
    rgb[valid] = ((normals[valid] + 1.0) * 127.5).astype(np.uint8)
    return rgb[..., ::-1].copy()


def labelled(picture: np.ndarray, label: str, size: Optional[Sequence[int]] = None) -> np.ndarray:
    """Resize a BGR picture to size (width, height) and write a label in its top-left corner."""
    if size is not None and (picture.shape[1], picture.shape[0]) != tuple(size):
        picture = cv2.resize(picture, tuple(size), interpolation=cv2.INTER_NEAREST)
    picture = picture.copy()
    # A black outline from shifted copies: a thicker stroke would advance wider in OpenCV 5 and
    # no longer line up with the white text.
    for dx, dy in _OUTLINE_OFFSETS:
        cv2.putText(picture, label, (6 + dx, 18 + dy), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0),
                    1, cv2.LINE_AA)
    cv2.putText(
        picture, label, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA
    )
    return picture


def sheet(rows: List[List[np.ndarray]], gap: int = 4) -> np.ndarray:
    """Tile equally sized BGR pictures into one sheet, row by row, on a white background."""
    height, width = rows[0][0].shape[:2]
    cols = max(len(r) for r in rows)
    out = np.full((len(rows) * (height + gap) - gap, cols * (width + gap) - gap, 3), 255, np.uint8)
    for i, row in enumerate(rows):
        for j, picture in enumerate(row):
            out[
                i * (height + gap):i * (height + gap) + height,
                j * (width + gap):j * (width + gap) + width,
            ] = picture
    return out


def write_ply(path: Path, points: np.ndarray, colors: Optional[np.ndarray] = None) -> int:
    """Write the finite points of an (..., 3) array, optionally with uint8 RGB, as binary PLY."""
    points = points.reshape(-1, 3)
    keep = np.isfinite(points).all(axis=1)
    fields = [('x', '<f4'), ('y', '<f4'), ('z', '<f4')]
    if colors is not None:
        fields += [('red', 'u1'), ('green', 'u1'), ('blue', 'u1')]
    data = np.empty(int(keep.sum()), dtype=fields)
    for i, axis in enumerate('xyz'):
        data[axis] = points[keep, i]
    if colors is not None:
        colors = colors.reshape(-1, 3)[keep]
        for i, channel in enumerate(('red', 'green', 'blue')):
            data[channel] = colors[:, i]
    header = ['ply', 'format binary_little_endian 1.0', f'element vertex {len(data)}']
    header += [f'property {"float" if t == "<f4" else "uchar"} {n}' for n, t in fields]
    header += ['end_header']
    with open(path, 'wb') as out:
        out.write(('\n'.join(header) + '\n').encode('ascii'))
        out.write(data.tobytes())
    return len(data)
