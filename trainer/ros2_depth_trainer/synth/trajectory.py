"""
Camera trajectories through one random scene, for bags and demos.

Indoor: a walk at 0.8-1.2 m/s around an ellipse 1.4 m inside the walls, looking about 25 deg
into the room and gently left and right, with a small head bob. Street: a drive at 5-10 m/s
along the right-hand lane with a slow lateral sway and gentle yaw. The scene keeps its
furniture and cars clear of the whole path.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Iterator, List, Optional

import numpy as np

from .camera import camera_from_fov, CameraPose
from .frame import Frame
from .indoor import draw_room_plan, indoor_scene
from .render import render
from .rig import DepthRig, RigFrame
from .scene import Scene
from .scenes import KINDS
from .sensor import draw_sensor
from .street import draw_street_plan, street_scene

TRAJECTORY_KINDS = ('indoor', 'street')  # the robot kind has single views only
WALL_MARGIN = 1.4  # metres between the indoor walk and the walls
_DEPTH_CAMERA_STREAM = 0xD7  # seeds the depth camera's noise apart from the colour camera's


@dataclasses.dataclass
class Trajectory:
    """A scene, the camera poses at each frame and the horizontal field of view."""

    scene: Scene
    poses: List[CameraPose]
    fov_deg: float
    rate_hz: float


def _streams(kind: str, seed: int):
    sequence = np.random.SeedSequence([int(seed), KINDS.index(kind), 0x7A11])
    scene_seq, sensor_seq = sequence.spawn(2)
    return np.random.default_rng(scene_seq), np.random.default_rng(sensor_seq)


def _indoor(rng: np.random.Generator, times: np.ndarray) -> Trajectory:
    plan = draw_room_plan(rng, min_width=5.0, min_length=6.0)
    a, b = plan.width / 2 - WALL_MARGIN, plan.length / 2 - WALL_MARGIN
    centre = np.array([plan.width / 2, plan.length / 2])
    phi = np.linspace(0.0, 2 * math.pi, 2049)
    ring = centre + np.stack([a * np.cos(phi), b * np.sin(phi)], 1)
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(ring, axis=0), axis=1))])
    speed = float(rng.uniform(0.8, 1.2))
    direction = 1.0 if rng.uniform() < 0.5 else -1.0
    start = float(rng.uniform(0, arc[-1]))
    s = (start + direction * speed * times) % arc[-1]
    angle = np.interp(s, arc, phi)
    xy = centre + np.stack([a * np.cos(angle), b * np.sin(angle)], 1)
    tangent = direction * np.stack([-a * np.sin(angle), b * np.cos(angle)], 1)
    heading = np.arctan2(tangent[:, 1], tangent[:, 0])
    look = float(rng.uniform(0.15, 0.35))
    look_period = float(rng.uniform(6.0, 10.0))
    phase = float(rng.uniform(0, 2 * math.pi))
    inward = 0.45 * direction
    yaw = heading + inward + look * np.sin(2 * math.pi * times / look_period + phase)
    height = float(rng.uniform(1.3, 1.7))
    pitch0 = math.radians(float(rng.uniform(-15.0, -5.0)))
    step = 2 * math.pi * 1.8 * speed
    poses = [CameraPose((float(x), float(y), height + 0.015 * math.sin(step * t)), float(w),
                        pitch0 + math.radians(3.0) * math.sin(2 * math.pi * t / 7.0 + phase),
                        math.radians(1.0) * math.sin(step / 2 * t))
             for (x, y), w, t in zip(xy, yaw, times)]
    scene = indoor_scene(rng, plan, ring[::16], clearance=0.45)
    return Trajectory(scene, poses, float(rng.uniform(55.0, 65.0)), 0.0)


def _street(rng: np.random.Generator, times: np.ndarray) -> Trajectory:
    speed = float(rng.uniform(5.0, 10.0))
    length = speed * float(times[-1]) if len(times) else 0.0
    plan = draw_street_plan(rng, y0=-40.0, y1=length + 160.0)
    lane = 0.5 * plan.road_half
    sway = float(rng.uniform(0.1, 0.3))
    period = float(rng.uniform(6.0, 12.0))
    phase = float(rng.uniform(0, 2 * math.pi))
    omega = 2 * math.pi / period
    x = lane + sway * np.sin(omega * times + phase)
    y = speed * times
    yaw = math.pi / 2 - np.arctan2(sway * omega * np.cos(omega * times + phase), speed) \
        + math.radians(2.0) * np.sin(0.5 * omega * times)
    height = float(rng.uniform(1.3, 2.0))
    pitch = math.radians(float(rng.uniform(-6.0, 0.0)))
    poses = [CameraPose((float(px), float(py), height), float(w), pitch,
                        math.radians(0.5) * math.sin(omega * t))
             for px, py, w, t in zip(x, y, yaw, times)]
    path = np.stack([np.full(200, lane), np.linspace(-10.0, length + 10.0, 200)], 1)
    scene = street_scene(rng, plan, path, clearance=1.3, lane_keep_clear=(lane,))
    return Trajectory(scene, poses, float(rng.uniform(60.0, 90.0)), 0.0)


def plan_trajectory(kind: str, seed: int, frames: int, rate_hz: float) -> Trajectory:
    """Draw the scene and the camera poses of a trajectory (no rendering)."""
    if kind not in TRAJECTORY_KINDS:
        raise ValueError(f'no trajectories for scene kind {kind!r}; known: {TRAJECTORY_KINDS}')
    if frames < 0 or rate_hz <= 0 or seed < 0:
        raise ValueError(f'need frames >= 0, rate_hz > 0 and seed >= 0, got {frames}, '
                         f'{rate_hz}, {seed}')
    scene_rng, _ = _streams(kind, seed)
    times = np.arange(frames) / float(rate_hz)
    trajectory = (_indoor if kind == 'indoor' else _street)(scene_rng, times)
    trajectory.rate_hz = float(rate_hz)
    return trajectory


def render_trajectory(kind: str, seed: int, frames: int, rate_hz: float, height: int,
                      width: int) -> Iterator[Frame]:
    """
    Yield `frames` frames of a camera moving smoothly through one random scene of `kind`.

    Frame i is at time_s = i / rate_hz; the camera intrinsics and sensor model are fixed for
    the whole trajectory, only the sensor noise changes from frame to frame. The same
    arguments always give the same frames.
    """
    for item in render_rig_trajectory(kind, seed, frames, rate_hz, height, width):
        yield item.colour


def render_rig_trajectory(kind: str, seed: int, frames: int, rate_hz: float, height: int,
                          width: int, rig: Optional[DepthRig] = None) -> Iterator[RigFrame]:
    """
    Yield the frames of render_trajectory with their exact depth, and a depth camera's view.

    Each RigFrame's colour frame is the one render_trajectory yields. With a `rig`, the depth
    camera is rendered from its own pose (the colour pose composed with the rig's offset)
    through its own intrinsics, with the trajectory's sensor model and its own noise stream,
    so its depth is exact for that camera (holes aside) and unaligned to the colour.
    """
    trajectory = plan_trajectory(kind, seed, frames, rate_hz)
    _, sensor_rng = _streams(kind, seed)
    sensor = draw_sensor(kind, sensor_rng, legacy=True)  # the bags' sensor: generator 1.0
    camera = camera_from_fov(width, height, trajectory.fov_deg)
    for i, pose in enumerate(trajectory.poses):
        stream = [int(seed), KINDS.index(kind), i]
        time_s = i / float(rate_hz)
        colour = render(trajectory.scene, pose, camera, sensor,
                        np.random.default_rng(np.random.SeedSequence(stream)), time_s=time_s)
        item = RigFrame(colour=colour.frame, aligned_depth=colour.exact_depth, rig=rig)
        if rig is not None:
            rng = np.random.default_rng(np.random.SeedSequence(stream + [_DEPTH_CAMERA_STREAM]))
            depth = render(trajectory.scene, rig.pose(pose), rig.camera, sensor, rng,
                           time_s=time_s)
            item.depth, item.depth_exact = depth.frame, depth.exact_depth
        yield item
