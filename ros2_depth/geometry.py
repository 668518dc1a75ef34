"""Back-projection of depth images into organized point clouds (numpy only)."""

from __future__ import annotations

import functools
from typing import Tuple

import numpy as np

from ros2_depth.camera_model import PinholeCamera

# sensor_msgs/PointField datatype code for FLOAT32.
POINTFIELD_FLOAT32 = 7


@functools.lru_cache(maxsize=8)
def _rays(camera: PinholeCamera) -> Tuple[np.ndarray, np.ndarray]:
    u = (np.arange(camera.width, dtype=np.float64) - camera.cx) / camera.fx
    v = (np.arange(camera.height, dtype=np.float64) - camera.cy) / camera.fy
    return u.astype(np.float32)[None, :], v.astype(np.float32)[:, None]


def ray_directions(camera: PinholeCamera) -> Tuple[np.ndarray, np.ndarray]:
    """Return x/z per column (1, W) and y/z per row (H, 1) for the camera; cached per camera."""
    return _rays(camera)


def backproject(
    depth: np.ndarray, camera: PinholeCamera, out: np.ndarray | None = None
) -> np.ndarray:
    """
    Back-project a (H, W) depth image in metres to (H, W, 3) float32 points in the optical frame.

    x = (u - cx) / fx * z, y = (v - cy) / fy * z; NaN depth gives NaN points.
    """
    if depth.shape != (camera.height, camera.width):
        raise ValueError(
            f'depth is {depth.shape[1]}x{depth.shape[0]} but the camera is '
            f'{camera.width}x{camera.height}'
        )
    if out is None:
        out = np.empty(depth.shape + (3,), dtype=np.float32)
    ru, rv = ray_directions(camera)
    np.multiply(depth, ru, out=out[..., 0])
    np.multiply(depth, rv, out=out[..., 1])
    out[..., 2] = depth
    return out


def xyz_fields() -> Tuple[Tuple[str, int, int, int], ...]:
    """Return the PointField (name, offset, datatype, count) of a packed float32 x, y, z cloud."""
    return tuple((name, 4 * i, POINTFIELD_FLOAT32, 1) for i, name in enumerate('xyz'))
