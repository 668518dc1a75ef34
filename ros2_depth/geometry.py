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
    depth: np.ndarray,
    camera: PinholeCamera,
    out: np.ndarray | None = None,
    rays: Tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """
    Back-project a (H, W) depth image in metres to (H, W, 3) float32 points in the optical frame.

    x = (u - cx) / fx * z, y = (v - cy) / fy * z; NaN depth gives NaN points. `rays` (x/z, y/z,
    each broadcastable to (H, W)) replaces the pinhole rays, e.g. the undistorted rays of an
    unrectified image (camera_model.undistorted_rays); where a ray is NaN the whole point is.
    `out` may be a strided view, such as the x, y, z fields of a cloud buffer (`cloud_buffer`).
    """
    if depth.shape != (camera.height, camera.width):
        raise ValueError(
            f'depth is {depth.shape[1]}x{depth.shape[0]} but the camera is '
            f'{camera.width}x{camera.height}'
        )
    if out is None:
        out = np.empty(depth.shape + (3,), dtype=np.float32)
    ru, rv = ray_directions(camera) if rays is None else rays
    if rays is not None:  # a pixel no ray reaches (beyond a distortion model's fold): no point
        depth = np.where(np.isfinite(ru) & np.isfinite(rv), depth, np.nan)
    np.multiply(depth, ru, out=out[..., 0])
    np.multiply(depth, rv, out=out[..., 1])
    out[..., 2] = depth
    return out


def xyz_fields() -> Tuple[Tuple[str, int, int, int], ...]:
    """Return the PointField (name, offset, datatype, count) of a packed float32 x, y, z cloud."""
    return cloud_fields(tuple('xyz'))


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """
    Return the (H, W) uint32 0x00RRGGBB of (H, W, 3) uint8 RGB pixels.

    Written into a FLOAT32 field named rgb (its bytes reinterpreted, not converted), this is the
    packed colour PCL and RViz read.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f'colours must be a uint8 (H, W, 3) array, got {rgb.dtype} {rgb.shape}')
    packed = rgb[..., 0].astype(np.uint32)
    packed <<= 8
    packed |= rgb[..., 1]
    packed <<= 8
    packed |= rgb[..., 2]
    return packed


def cloud_field_names(rgb: bool = False, normals: bool = False) -> Tuple[str, ...]:
    """Return the fields of a cloud, in order: x y z, then rgb, then normal_x normal_y normal_z."""
    return tuple('xyz') + (('rgb',) if rgb else ()) + (
        ('normal_x', 'normal_y', 'normal_z') if normals else ())


def cloud_buffer(height: int, width: int, rgb: bool = False, normals: bool = False) -> np.ndarray:
    """
    Return an uninitialised (H, W, n) float32 buffer for an organized cloud of packed fields.

    Channel i is field i of `cloud_field_names` (offset 4 i bytes in the point); the rgb channel
    is written through ``buffer[..., 3].view(np.uint32)``.
    """
    return np.empty((height, width, len(cloud_field_names(rgb, normals))), np.float32)


def fill_cloud(
    depth: np.ndarray,
    camera: PinholeCamera,
    rays: Tuple[np.ndarray, np.ndarray] | None = None,
    rgb: np.ndarray | None = None,
    normals: np.ndarray | None = None,
) -> np.ndarray:
    """
    Return an (H, W, n) float32 organized cloud: back-projected depth, packed rgb, normals.

    Fields as `cloud_field_names(rgb is not None, normals is not None)`; each input is written
    once into the buffer (no intermediate point array).
    """
    height, width = depth.shape
    cloud = cloud_buffer(height, width, rgb is not None, normals is not None)
    backproject(depth, camera, out=cloud[..., :3], rays=rays)
    channel = 3
    if rgb is not None:
        cloud[..., channel].view(np.uint32)[...] = pack_rgb(rgb)
        channel += 1
    if normals is not None:
        cloud[..., channel:channel + 3] = normals
    return cloud


def cloud_fields(names: Tuple[str, ...]) -> Tuple[Tuple[str, int, int, int], ...]:
    """Return the PointField (name, offset, datatype, count) of packed float32 fields."""
    return tuple((name, 4 * i, POINTFIELD_FLOAT32, 1) for i, name in enumerate(names))
