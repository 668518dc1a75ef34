"""
Random scenes with a camera in them: the ranges every sample is drawn from.

Indoor: camera height 0.8-1.8 m above the floor, pitch -30..+10 deg, roll -6..+6 deg, yaw the
one of 12 random headings looking at least 1.5 m (half the room) into the room that sees the
most furniture, horizontal field of view 50-70 deg.
Street: camera on the road (70 %) or a sidewalk, height 1.3-2.0 m above the ground under it,
pitch -12..+6 deg, roll -4..+4 deg, yaw along the street (either way) within +-35 deg, or
+-35..90 deg (towards the facades) for 15 % of samples, field of view 60-90 deg.
Robot: a desk or table, shelf, kitchen counter, cluttered floor or corridor seen from 0.3-3 m,
camera 0.2-1.8 m high aimed at a target with jitter, field of view of a common robot camera
(``robot.py``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Tuple

import numpy as np

from .camera import CameraPose
from .indoor import draw_room_plan, indoor_scene
from .robot import robot_shot
from .scene import Scene
from .street import draw_street_plan, street_scene

# New kinds go at the end: a kind's position seeds its samples (sample.sample_streams).
KINDS = ('indoor', 'street', 'robot')

INDOOR_HEIGHT = (0.8, 1.8)
INDOOR_PITCH_DEG = (-30.0, 10.0)
INDOOR_ROLL_DEG = (-6.0, 6.0)
INDOOR_FOV_DEG = (50.0, 70.0)
STREET_HEIGHT = (1.3, 2.0)
STREET_PITCH_DEG = (-12.0, 6.0)
STREET_ROLL_DEG = (-4.0, 4.0)
STREET_FOV_DEG = (60.0, 90.0)
STREET_AHEAD = 110.0  # metres of furnished street ahead of the camera (buildings: 30 m more)
STREET_BEHIND = 20.0


@dataclasses.dataclass(frozen=True)
class View:
    """A scene and the camera looking into it."""

    scene: Scene
    pose: CameraPose
    fov_deg: float
    height: float  # camera height above the ground under it, metres


def _deg(rng: np.random.Generator, bounds: Tuple[float, float]) -> float:
    return math.radians(float(rng.uniform(*bounds)))


def _room_depth_along(plan, x: float, y: float, yaw: float) -> float:
    """Distance from (x, y) to the room's wall along direction yaw."""
    dx, dy = math.cos(yaw), math.sin(yaw)
    dists = []
    if dx > 1e-9:
        dists.append((plan.width - x) / dx)
    if dx < -1e-9:
        dists.append(-x / dx)
    if dy > 1e-9:
        dists.append((plan.length - y) / dy)
    if dy < -1e-9:
        dists.append(-y / dy)
    return min(dists)


def _things_in_view(scene: Scene, x: float, y: float, yaw: float, fov: float) -> int:
    """Count the room's furniture and objects whose centre is in view from (x, y) at yaw."""
    count = 0
    for primitive in scene.primitives[1:]:
        dx, dy = primitive.origin[0] - x, primitive.origin[1] - y
        dist = math.hypot(dx, dy)
        off = (math.atan2(dy, dx) - yaw + math.pi) % (2 * math.pi) - math.pi
        count += int(0.8 < dist < 6.0 and abs(off) < 0.4 * fov)
    return count


def indoor_view(rng: np.random.Generator) -> View:
    """
    Draw a furnished room and a camera standing in it.

    Of 12 random headings that look far enough into the room, the camera takes the one that
    sees the most furniture and objects, as a person pointing a camera would.
    """
    plan = draw_room_plan(rng)
    x = float(rng.uniform(0.5, plan.width - 0.5))
    y = float(rng.uniform(0.5, plan.length - 0.5))
    height = float(rng.uniform(*INDOOR_HEIGHT))
    pitch, roll = _deg(rng, INDOOR_PITCH_DEG), _deg(rng, INDOOR_ROLL_DEG)
    fov = float(rng.uniform(*INDOOR_FOV_DEG))
    scene = indoor_scene(rng, plan, np.array([[x, y]]), clearance=0.6)
    headings = rng.uniform(-math.pi, math.pi, 12)
    far = max(1.5, 0.5 * max(plan.width, plan.length))
    open_view = [h for h in headings if _room_depth_along(plan, x, y, h) >= far]
    candidates = open_view or list(headings)
    scores = [_things_in_view(scene, x, y, h, math.radians(fov)) for h in candidates]
    yaw = float(candidates[int(np.argmax(scores))])
    pose = CameraPose((x, y, height), yaw, pitch, roll)
    return View(scene, pose, fov, height)


def street_view(rng: np.random.Generator) -> View:
    """Draw a street and a camera standing on its road or a sidewalk."""
    plan = draw_street_plan(rng)
    y = float(rng.uniform(0.0, 60.0))
    if rng.uniform() < 0.7:
        x = float(rng.uniform(-plan.road_half + 0.8, plan.road_half - 0.8))
        ground = 0.0
    else:
        side = 1.0 if rng.uniform() < 0.5 else -1.0
        x = side * (plan.road_half + float(rng.uniform(0.6, max(0.61, plan.sidewalk - 0.6))))
        ground = plan.curb
    height = float(rng.uniform(*STREET_HEIGHT))
    along = math.pi / 2 if rng.uniform() < 0.7 else -math.pi / 2
    if rng.uniform() < 0.15:
        offset = math.radians(float(rng.uniform(35, 90))) * (1 if rng.uniform() < 0.5 else -1)
    else:
        offset = math.radians(float(rng.uniform(-35, 35)))
    pose = CameraPose((x, y, ground + height), along + offset, _deg(rng, STREET_PITCH_DEG),
                      _deg(rng, STREET_ROLL_DEG))
    fov = float(rng.uniform(*STREET_FOV_DEG))
    # Furnish the street mostly ahead of the camera.
    ahead, behind = (STREET_AHEAD, STREET_BEHIND) if along > 0 else (STREET_BEHIND, STREET_AHEAD)
    plan = dataclasses.replace(plan, y0=y - behind, y1=y + ahead)
    scene = street_scene(rng, plan, np.array([[x, y]]), clearance=1.2)
    return View(scene, pose, fov, height)


def robot_view(rng: np.random.Generator) -> View:
    """Draw a close-range view of a desk, shelf, kitchen, floor or corridor at robot height."""
    scene, pose, fov, height = robot_shot(rng)
    return View(scene, pose, fov, height)


def random_view(kind: str, rng: np.random.Generator) -> View:
    """Draw a scene of `kind` ('indoor', 'street' or 'robot') with a camera in it."""
    if kind == 'indoor':
        return indoor_view(rng)
    if kind == 'street':
        return street_view(rng)
    if kind == 'robot':
        return robot_view(rng)
    raise ValueError(f'unknown scene kind {kind!r}; known: {KINDS}')
