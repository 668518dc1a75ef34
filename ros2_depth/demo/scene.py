"""
A procedural corridor, ray-cast in numpy, with exact depth.

A small scene for tests that need pictures with exact ground truth without the trainer's scene
generator (the demo itself replays the sample bags of bags/).

World frame: x right, y down, z along the corridor (the optical-frame convention), origin on the
floor's centre line at eye height. The camera walks down the corridor, turning its head slowly.
"""

from __future__ import annotations

import dataclasses
from typing import Tuple

import numpy as np

from ros2_depth.camera_model import PinholeCamera


@dataclasses.dataclass(frozen=True)
class Corridor:
    """Box-shaped corridor seen from eye height (metres)."""

    half_width: float = 1.6
    eye_height: float = 1.5
    ceiling_height: float = 2.7
    length: float = 14.0


def camera_pose(frame: int, frames: int) -> Tuple[np.ndarray, np.ndarray]:
    """Rotation (camera to world) and position of the camera at a frame of the walk."""
    phase = frame / max(frames - 1, 1)
    yaw = 0.25 * np.sin(2 * np.pi * phase)
    pitch = 0.05 * np.sin(4 * np.pi * phase)
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    r_yaw = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    r_pitch = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    position = np.array([0.4 * np.sin(2 * np.pi * phase), 0.0, 1.0 + 5.0 * phase])
    return r_yaw @ r_pitch, position


def _trace(corridor: Corridor, camera: PinholeCamera, rotation: np.ndarray, position: np.ndarray):
    """Depth (camera z), world hit points and surface ids for every pixel of `camera`."""
    u = (np.arange(camera.width) - camera.cx) / camera.fx
    v = (np.arange(camera.height) - camera.cy) / camera.fy
    rays = np.stack(np.broadcast_arrays(u[None, :], v[:, None], np.ones((1, 1))), -1)
    world = rays @ rotation.T
    # Planes as (axis, coordinate): left wall, right wall, floor, ceiling, end wall.
    planes = [
        (0, -corridor.half_width),
        (0, corridor.half_width),
        (1, corridor.eye_height),
        (1, corridor.eye_height - corridor.ceiling_height),
        (2, corridor.length),
    ]
    depth = np.full(rays.shape[:2], np.inf)
    surface = np.full(rays.shape[:2], -1, np.int8)
    with np.errstate(divide='ignore', invalid='ignore'):
        for index, (axis, coord) in enumerate(planes):
            t = (coord - position[axis]) / world[..., axis]
            closer = (t > 0) & (t < depth)
            depth[closer] = t[closer]
            surface[closer] = index
    hits = position + world * depth[..., None]
    return depth, hits, surface


def render_depth(corridor: Corridor, camera: PinholeCamera, frame: int, frames: int) -> np.ndarray:
    """Exact metric depth (float32, metres along the optical axis) seen by `camera` at a frame."""
    rotation, position = camera_pose(frame, frames)
    return _trace(corridor, camera, rotation, position)[0].astype(np.float32)


def render_image(
    corridor: Corridor, camera: PinholeCamera, frame: int, frames: int, seed: int = 0
) -> np.ndarray:
    """Render an rgb8 picture of the corridor: tiled floor, striped walls, a lamp overhead."""
    rotation, position = camera_pose(frame, frames)
    depth, hits, surface = _trace(corridor, camera, rotation, position)
    x, y, z = hits[..., 0], hits[..., 1], hits[..., 2]
    tiles = ((np.floor(x / 0.6) + np.floor(z / 0.6)) % 2).astype(np.float64)
    stripes = (np.floor(y / 0.35) % 2) * 0.3 + 0.7
    door = ((np.abs((z % 4.0) - 2.0) < 0.5) & (y > corridor.eye_height - 2.1)).astype(np.float64)
    colors = np.array(
        [
            [0.75, 0.72, 0.65],
            [0.65, 0.7, 0.78],
            [0.55, 0.45, 0.35],
            [0.9, 0.9, 0.88],
            [0.5, 0.6, 0.5],
        ]
    )
    albedo = colors[np.clip(surface, 0, 4)]
    pattern = np.select(
        [surface == 2, surface < 2, surface == 4],
        [0.6 + 0.4 * tiles, stripes * (1 - 0.4 * door), 0.8 + 0.2 * tiles],
        1.0,
    )
    lamp = position + np.array([0.0, -1.0, 1.5])
    to_lamp = lamp - hits
    distance = np.linalg.norm(to_lamp, axis=-1)
    normals = np.zeros_like(hits)
    axis_of = np.array([0, 0, 1, 1, 2])[np.clip(surface, 0, 4)]
    sign = np.array([1.0, -1.0, -1.0, 1.0, -1.0])[np.clip(surface, 0, 4)]
    np.put_along_axis(normals, axis_of[..., None], sign[..., None], axis=-1)
    lambert = np.clip((normals * to_lamp).sum(-1) / distance, 0, 1)
    shade = 0.25 + 0.75 * lambert * np.minimum(1.0, 9.0 / distance**2)
    rgb = albedo * (pattern * shade)[..., None]
    rng = np.random.default_rng(seed + frame)
    rgb = rgb + rng.normal(0.0, 0.01, rgb.shape)
    return np.clip(rgb * 255.0, 0, 255).astype(np.uint8)
