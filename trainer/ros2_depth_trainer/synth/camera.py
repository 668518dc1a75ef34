"""
Camera poses, intrinsics from a field of view, and camera rays arranged in tiles.

World frame: x east, y north, z up, metres, ground at z = 0. Camera (optical) frame: x right,
y down, z forward. Yaw 0 looks along +x and grows counter-clockwise seen from above; positive
pitch looks up; positive roll turns the image clockwise (the camera's right side goes down).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Tuple

import numpy as np
from ros2_depth.camera_model import PinholeCamera

TILE = 16


@dataclasses.dataclass(frozen=True)
class CameraPose:
    """Camera position (world, metres) and orientation (radians)."""

    position: Tuple[float, float, float]
    yaw: float
    pitch: float
    roll: float

    def rotation(self) -> np.ndarray:
        """Return R (3x3) mapping optical-frame vectors to world vectors (columns x, y, z)."""
        cy, sy = math.cos(self.yaw), math.sin(self.yaw)
        cp, sp = math.cos(self.pitch), math.sin(self.pitch)
        forward = np.array([cp * cy, cp * sy, sp])
        right = np.array([sy, -cy, 0.0])
        down = np.cross(forward, right)
        cr, sr = math.cos(self.roll), math.sin(self.roll)
        right, down = cr * right + sr * down, -sr * right + cr * down
        return np.stack([right, down, forward], axis=1)

    @staticmethod
    def from_rotation(position: np.ndarray, rotation: np.ndarray) -> 'CameraPose':
        """Return the pose at `position` whose rotation() is `rotation` (optical to world)."""
        rotation = np.asarray(rotation, float)
        forward = rotation[:, 2]
        yaw = math.atan2(forward[1], forward[0])
        pitch = math.asin(float(np.clip(forward[2], -1.0, 1.0)))
        level = CameraPose((0.0, 0.0, 0.0), yaw, pitch, 0.0).rotation()
        roll = math.atan2(float(rotation[:, 0] @ level[:, 1]), float(rotation[:, 0] @ level[:, 0]))
        x, y, z = (float(v) for v in np.asarray(position, float).reshape(3))
        return CameraPose((x, y, z), yaw, pitch, roll)


def camera_from_fov(width: int, height: int, fov_deg: float) -> PinholeCamera:
    """Return square-pixel intrinsics with the given horizontal field of view, centred."""
    f = 0.5 * width / math.tan(math.radians(fov_deg) / 2)
    return PinholeCamera(width=width, height=height, fx=f, fy=f, cx=(width - 1) / 2.0,
                         cy=(height - 1) / 2.0)


@dataclasses.dataclass
class CameraRays:
    """Camera rays in tiles of TILE x TILE pixels covering a padded image."""

    origin: np.ndarray  # (1, 1, 3) world
    directions: np.ndarray  # (T, K, 3) world, optical-frame z component = 1
    axes: np.ndarray  # (T, 3) unit axis of each tile's cone
    half_angles: np.ndarray  # (T,) radians
    rows: int  # tiles down
    cols: int  # tiles across
    height: int  # image size (unpadded)
    width: int


def camera_rays(camera: PinholeCamera, pose: CameraPose) -> CameraRays:
    """Build the tiled world rays of every pixel, scaled so that t along a ray is its depth."""
    rows = -(-camera.height // TILE)
    cols = -(-camera.width // TILE)
    u = (np.arange(cols * TILE) - camera.cx) / camera.fx
    v = (np.arange(rows * TILE) - camera.cy) / camera.fy
    rotation = pose.rotation()
    to_world = np.ascontiguousarray(rotation.T)  # (matmul with a transposed view is slow)
    # World direction of pixel (u, v, 1): u * R[:, 0] + v * R[:, 1] + R[:, 2], built directly in
    # the tile layout (tile row, tile column, row in tile, column in tile).
    u_part = u.reshape(1, cols, 1, TILE, 1) * rotation[:, 0]
    v_part = v.reshape(rows, 1, TILE, 1, 1) * rotation[:, 1] + rotation[:, 2]
    tiles = (u_part + v_part).reshape(rows * cols, TILE * TILE, 3)
    # Tile cones from the tile's outer pixel edges.
    edge_u = (np.arange(cols + 1) * TILE - 0.5 - camera.cx) / camera.fx
    edge_v = (np.arange(rows + 1) * TILE - 0.5 - camera.cy) / camera.fy
    corners = np.empty((rows, cols, 4, 3))
    for k, (di, dj) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
        corners[:, :, k, 0] = edge_u[None, dj:dj + cols]
        corners[:, :, k, 1] = edge_v[di:di + rows, None]
    corners[..., 2] = 1.0
    corners /= np.linalg.norm(corners, axis=-1, keepdims=True)
    axis = corners.sum(axis=2)
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    cos = np.clip((corners * axis[:, :, None, :]).sum(-1), -1.0, 1.0)
    half = np.arccos(cos).max(axis=2)
    return CameraRays(
        origin=np.asarray(pose.position, float).reshape(1, 1, 3),
        directions=tiles,
        axes=axis.reshape(-1, 3) @ to_world,
        half_angles=half.reshape(-1),
        rows=rows,
        cols=cols,
        height=camera.height,
        width=camera.width,
    )


def untile(values: np.ndarray, rays: CameraRays) -> np.ndarray:
    """Rearrange (T, K, ...) tiled values into an (H, W, ...) image."""
    trailing = values.shape[2:]
    image = values.reshape(rays.rows, rays.cols, TILE, TILE, *trailing).swapaxes(1, 2)
    image = image.reshape(rays.rows * TILE, rays.cols * TILE, *trailing)
    return image[:rays.height, :rays.width]
