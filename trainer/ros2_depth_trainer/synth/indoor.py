"""
Random furnished indoor rooms.

A room is the inside of a hollow box (floor, walls, ceiling) with doors and windows recessed
into the walls, furniture against the walls and in the middle, objects on top, pictures on the
walls, and 1-3 ceiling lights.

The room spans x in [0, width], y in [0, length], z in [0, height]. Nothing is placed within
``clearance`` metres of the ``keep_clear`` points (the camera, or its whole path).
"""

from __future__ import annotations

import dataclasses
import math
from typing import List, Optional, Sequence, Tuple

import numpy as np

from . import classes as C
from .materials import Material, Part
from .raycast import Box, Cylinder, Primitive, Recess, Sphere, yaw_rotation
from .scene import Scene
from .shading import Light, Lighting

WALL_COLOURS = [(0.92, 0.9, 0.85), (0.85, 0.86, 0.88), (0.8, 0.86, 0.9), (0.86, 0.9, 0.8),
                (0.93, 0.88, 0.74), (0.9, 0.8, 0.76), (0.75, 0.78, 0.8), (0.95, 0.95, 0.95)]
WOOD_COLOURS = [((0.72, 0.53, 0.34), (0.5, 0.33, 0.18)), ((0.85, 0.7, 0.5), (0.66, 0.5, 0.32)),
                ((0.5, 0.32, 0.2), (0.32, 0.2, 0.12)), ((0.78, 0.66, 0.52), (0.6, 0.48, 0.36))]
FABRIC_COLOURS = [(0.35, 0.4, 0.5), (0.55, 0.25, 0.22), (0.5, 0.5, 0.48), (0.3, 0.45, 0.35),
                  (0.7, 0.62, 0.5), (0.2, 0.22, 0.28), (0.75, 0.72, 0.68)]
PAINT_COLOURS = [(0.95, 0.95, 0.93), (0.2, 0.2, 0.22), (0.6, 0.62, 0.65), (0.75, 0.2, 0.18),
                 (0.2, 0.35, 0.6), (0.85, 0.75, 0.55), (0.4, 0.55, 0.45)]
OBJECT_COLOURS = [(0.85, 0.2, 0.15), (0.15, 0.4, 0.8), (0.95, 0.8, 0.2), (0.2, 0.6, 0.3),
                  (0.9, 0.9, 0.9), (0.1, 0.1, 0.1), (0.6, 0.3, 0.6), (0.9, 0.5, 0.1)]

# Outward normal direction of the four walls (face codes 0-3 of the room box) and the yaw that
# turns a piece's local +y (its back) towards that wall.
WALL_OUTWARD = {0: (-1.0, 0.0), 1: (1.0, 0.0), 2: (0.0, -1.0), 3: (0.0, 1.0)}
WALL_YAW = {0: math.pi / 2, 1: -math.pi / 2, 2: math.pi, 3: 0.0}


@dataclasses.dataclass(frozen=True)
class RoomPlan:
    """Inner size of a room in metres."""

    width: float
    length: float
    height: float


def draw_room_plan(rng: np.random.Generator, min_width: float = 3.0,
                   min_length: float = 3.5) -> RoomPlan:
    """Draw a room size: width 3-7 m, length 3.5-8 m, height 2.4-3.1 m (or the minimums)."""
    return RoomPlan(width=float(rng.uniform(max(3.0, min_width), max(7.0, min_width + 0.5))),
                    length=float(rng.uniform(max(3.5, min_length), max(8.0, min_length + 0.5))),
                    height=float(rng.uniform(2.4, 3.1)))


def _pick(rng: np.random.Generator, options: Sequence):
    return options[int(rng.integers(len(options)))]


def _jitter(rng: np.random.Generator, colour: Tuple[float, float, float],
            amount: float = 0.06) -> Tuple[float, float, float]:
    jittered = np.clip(np.asarray(colour) + rng.uniform(-amount, amount, 3), 0.02, 1.0)
    return (float(jittered[0]), float(jittered[1]), float(jittered[2]))


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(1 << 20))


def wood(rng: np.random.Generator, plank: float = 0.15) -> Material:
    """Return a random wood material (planks `plank` metres wide)."""
    light, dark = _pick(rng, WOOD_COLOURS)
    return Material('wood', (_jitter(rng, light), _jitter(rng, dark)), scale=plank,
                    seed=_seed(rng), param=float(rng.uniform(0.9, 2.0)),
                    specular=float(rng.uniform(0.0, 0.25)), shininess=40.0)


def paint(rng: np.random.Generator, colours: Sequence = PAINT_COLOURS,
          specular: float = 0.1) -> Material:
    """Return a random painted (plain) material."""
    return Material('plain', (_jitter(rng, _pick(rng, colours)),), scale=0.4, seed=_seed(rng),
                    specular=float(rng.uniform(0.0, specular)), shininess=30.0)


def fabric(rng: np.random.Generator) -> Material:
    """Return a random upholstery material."""
    return Material('fabric', (_jitter(rng, _pick(rng, FABRIC_COLOURS)),),
                    scale=float(rng.uniform(0.05, 0.15)), seed=_seed(rng))


def _floor_material(rng: np.random.Generator) -> Material:
    choice = rng.uniform()
    if choice < 0.45:
        return wood(rng, plank=float(rng.uniform(0.1, 0.22)))
    if choice < 0.8:
        base = _jitter(rng, _pick(rng, [(0.85, 0.84, 0.8), (0.6, 0.6, 0.62), (0.78, 0.7, 0.6),
                                        (0.9, 0.9, 0.9)]))
        colours = [base, (0.45, 0.45, 0.44)]
        if rng.uniform() < 0.25:
            colours.append((0.15, 0.15, 0.17))
        return Material('tiles', tuple(colours), scale=float(rng.uniform(0.25, 0.6)),
                        seed=_seed(rng), param=float(rng.uniform(0.003, 0.008)),
                        specular=float(rng.uniform(0.1, 0.5)), shininess=60.0)
    colour = _jitter(rng, _pick(rng, FABRIC_COLOURS))
    return Material('noise', (colour, tuple(c * 0.8 for c in colour)),
                    scale=float(rng.uniform(0.05, 0.2)), seed=_seed(rng))


def _wall_material(rng: np.random.Generator) -> Material:
    colour = _jitter(rng, _pick(rng, WALL_COLOURS), 0.04)
    choice = rng.uniform()
    if choice < 0.6:
        return Material('noise', (colour, tuple(c * 0.9 for c in colour)),
                        scale=float(rng.uniform(0.3, 1.5)), seed=_seed(rng))
    if choice < 0.85:
        other = tuple(float(np.clip(c * rng.uniform(0.75, 0.95), 0, 1)) for c in colour)
        return Material('stripes', (colour, other), scale=float(rng.uniform(0.08, 0.4)),
                        seed=_seed(rng))
    if choice < 0.93:
        return Material('brick', (_jitter(rng, (0.6, 0.33, 0.25)), (0.78, 0.76, 0.72)),
                        scale=0.24, seed=_seed(rng), param=0.012)
    return Material('tiles', (colour, (0.6, 0.6, 0.6)), scale=float(rng.uniform(0.15, 0.3)),
                    seed=_seed(rng), param=0.003, specular=0.3, shininess=60.0)


class _Layout:
    """Footprints placed so far, on the floor plan."""

    def __init__(self, plan: RoomPlan, keep_clear: np.ndarray, clearance: float) -> None:
        self.plan = plan
        self.keep_clear = keep_clear.reshape(-1, 2)
        self.clearance = clearance
        self.rects: List[Tuple[float, float, float, float]] = []

    def free(self, rect: Tuple[float, float, float, float], margin: float = 0.05) -> bool:
        x0, y0, x1, y1 = rect
        if x0 < -1e-9 or y0 < -1e-9 or x1 > self.plan.width + 1e-9 or y1 > self.plan.length + 1e-9:
            return False
        for a0, b0, a1, b1 in self.rects:
            if x0 < a1 + margin and a0 < x1 + margin and y0 < b1 + margin and b0 < y1 + margin:
                return False
        if len(self.keep_clear):
            px = np.clip(self.keep_clear[:, 0], x0, x1)
            py = np.clip(self.keep_clear[:, 1], y0, y1)
            dist = np.hypot(px - self.keep_clear[:, 0], py - self.keep_clear[:, 1])
            if dist.min() < self.clearance:
                return False
        return True


def _footprint(centre: Tuple[float, float], yaw: float, width: float,
               depth: float) -> Tuple[float, float, float, float]:
    c, s = abs(math.cos(yaw)), abs(math.sin(yaw))
    hx = 0.5 * (width * c + depth * s)
    hy = 0.5 * (width * s + depth * c)
    return centre[0] - hx, centre[1] - hy, centre[0] + hx, centre[1] + hy


def _piece_box(centre: Tuple[float, float], yaw: float, lo: Sequence[float], hi: Sequence[float],
               parts: Sequence[Part], z: float = 0.0) -> Box:
    """Return a box in a piece's frame (x along its width, y towards its back, z up from `z`)."""
    return Box(lo, hi, parts, origin=(centre[0], centre[1], z), rotation=yaw_rotation(yaw))


def _local_point(centre: Tuple[float, float], yaw: float, x: float, y: float
                 ) -> Tuple[float, float]:
    c, s = math.cos(yaw), math.sin(yaw)
    return centre[0] + c * x - s * y, centre[1] + s * x + c * y


@dataclasses.dataclass
class _Top:
    """A horizontal surface objects can stand on (in a piece's frame)."""

    centre: Tuple[float, float]
    yaw: float
    half_w: float
    half_d: float
    z: float


def _cabinet(rng: np.random.Generator, centre: Tuple[float, float], yaw: float, w: float,
             dp: float) -> Tuple[List[Primitive], List[_Top]]:
    h = float(rng.uniform(0.45, 2.1))
    material = wood(rng) if rng.uniform() < 0.6 else paint(rng)
    part = Part(C.FURNITURE, material)
    prims: List[Primitive] = [_piece_box(centre, yaw, (-w / 2, -dp / 2, 0), (w / 2, dp / 2, h),
                                         [part])]
    if rng.uniform() < 0.5 and h > 0.6:
        # Plinth recessed under the body and a top slab overhanging it.
        prims[0] = _piece_box(centre, yaw, (-w / 2, -dp / 2, 0.08), (w / 2, dp / 2, h), [part])
        prims.append(_piece_box(centre, yaw, (-w / 2 + 0.04, -dp / 2 + 0.05, 0),
                                (w / 2 - 0.04, dp / 2, 0.08), [Part(C.FURNITURE, paint(rng))]))
    tops = [_Top(centre, yaw, w / 2 - 0.05, dp / 2 - 0.05, h)] if h < 1.3 else []
    return prims, tops


def _bed(rng: np.random.Generator, centre: Tuple[float, float], yaw: float, w: float,
         dp: float) -> Tuple[List[Primitive], List[_Top]]:
    frame = Part(C.FURNITURE, wood(rng))
    cover = Part(C.FURNITURE, fabric(rng))
    pillow = Part(C.FURNITURE, paint(rng, [(0.95, 0.95, 0.92), (0.85, 0.85, 0.9)]))
    h = float(rng.uniform(0.35, 0.55))
    return [
        _piece_box(centre, yaw, (-w / 2, -dp / 2, 0), (w / 2, dp / 2 - 0.06, 0.22), [frame]),
        _piece_box(centre, yaw, (-w / 2 + 0.02, -dp / 2 + 0.02, 0.22),
                   (w / 2 - 0.02, dp / 2 - 0.08, h), [cover]),
        _piece_box(centre, yaw, (-w / 2, dp / 2 - 0.06, 0), (w / 2, dp / 2, h + 0.5), [frame]),
        _piece_box(centre, yaw, (-w / 2 + 0.15, dp / 2 - 0.55, h),
                   (w / 2 - 0.15, dp / 2 - 0.15, h + 0.14), [pillow]),
    ], []


def _sofa(rng: np.random.Generator, centre: Tuple[float, float], yaw: float, w: float,
          dp: float) -> Tuple[List[Primitive], List[_Top]]:
    part = Part(C.FURNITURE, fabric(rng))
    seat = float(rng.uniform(0.38, 0.46))
    back = float(rng.uniform(0.75, 0.95))
    arm = float(rng.uniform(0.1, 0.22))
    return [
        _piece_box(centre, yaw, (-w / 2 + arm, -dp / 2, 0.05), (w / 2 - arm, dp / 2, seat),
                   [part]),
        _piece_box(centre, yaw, (-w / 2 + arm, dp / 2 - 0.22, seat), (w / 2 - arm, dp / 2, back),
                   [part]),
        _piece_box(centre, yaw, (-w / 2, -dp / 2, 0.05), (-w / 2 + arm, dp / 2, seat + 0.2),
                   [part]),
        _piece_box(centre, yaw, (w / 2 - arm, -dp / 2, 0.05), (w / 2, dp / 2, seat + 0.2), [part]),
    ], []


def _table(rng: np.random.Generator, centre: Tuple[float, float], yaw: float, w: float, dp: float,
           height: Optional[float] = None
           ) -> Tuple[List[Primitive], List[_Top]]:
    h = float(rng.uniform(0.72, 0.77)) if height is None else height
    material = wood(rng) if rng.uniform() < 0.7 else paint(rng, specular=0.3)
    part = Part(C.FURNITURE, material)
    leg = 0.05
    prims: List[Primitive] = [_piece_box(centre, yaw, (-w / 2, -dp / 2, h - 0.035),
                                         (w / 2, dp / 2, h), [part])]
    for sx in (-1, 1):
        for sy in (-1, 1):
            x = sx * (w / 2 - 0.06)
            y = sy * (dp / 2 - 0.06)
            prims.append(_piece_box(centre, yaw, (x - leg / 2, y - leg / 2, 0),
                                    (x + leg / 2, y + leg / 2, h - 0.035), [part]))
    return prims, [_Top(centre, yaw, w / 2 - 0.05, dp / 2 - 0.05, h)]


def _round_table(rng: np.random.Generator, centre: Tuple[float, float]
                 ) -> Tuple[List[Primitive], List[_Top]]:
    radius = float(rng.uniform(0.35, 0.6))
    h = float(rng.uniform(0.7, 0.76))
    part = Part(C.FURNITURE, wood(rng) if rng.uniform() < 0.6 else paint(rng, specular=0.3))
    return [
        Cylinder((centre[0], centre[1], h - 0.02), radius, 0.02, [part]),
        Cylinder((centre[0], centre[1], (h - 0.04) / 2), 0.04, (h - 0.04) / 2, [part]),
        Cylinder((centre[0], centre[1], 0.015), 0.25, 0.015, [part]),
    ], [_Top(centre, 0.0, radius * 0.6, radius * 0.6, h)]


def _chair(rng: np.random.Generator, centre: Tuple[float, float], yaw: float,
           part: Part) -> List[Primitive]:
    seat = 0.45
    w = 0.44
    leg = 0.035
    prims: List[Primitive] = [_piece_box(centre, yaw, (-w / 2, -w / 2, seat - 0.04),
                                         (w / 2, w / 2, seat), [part]),
                              _piece_box(centre, yaw, (-w / 2, w / 2 - 0.04, seat),
                                         (w / 2, w / 2, seat + 0.45), [part])]
    for sx in (-1, 1):
        for sy in (-1, 1):
            x, y = sx * (w / 2 - 0.03), sy * (w / 2 - 0.03)
            prims.append(_piece_box(centre, yaw, (x - leg / 2, y - leg / 2, 0),
                                    (x + leg / 2, y + leg / 2, seat - 0.04), [part]))
    return prims


def _objects_on(rng: np.random.Generator, top: _Top) -> List[Primitive]:
    """Books, vases, balls and boxes standing on a top surface."""
    prims: List[Primitive] = []
    for _ in range(int(rng.integers(1, 4))):
        x = float(rng.uniform(-top.half_w, top.half_w)) * 0.8
        y = float(rng.uniform(-top.half_d, top.half_d)) * 0.8
        cx, cy = _local_point(top.centre, top.yaw, x, y)
        colour = _pick(rng, OBJECT_COLOURS)
        part = Part(C.OBJECT, Material('plain', (_jitter(rng, colour),), scale=0.1,
                                       seed=_seed(rng), specular=float(rng.uniform(0, 0.6)),
                                       shininess=50.0))
        kind = rng.uniform()
        if kind < 0.35:
            r = float(rng.uniform(0.03, 0.1))
            h = float(rng.uniform(0.08, 0.35))
            prims.append(Cylinder((cx, cy, top.z + h / 2), r, h / 2, [part]))
        elif kind < 0.55:
            r = float(rng.uniform(0.05, 0.14))
            prims.append(Sphere((cx, cy, top.z + r), r, [part]))
        else:
            w, d, h = rng.uniform(0.1, 0.35), rng.uniform(0.1, 0.25), rng.uniform(0.03, 0.3)
            prims.append(Box((-w / 2, -d / 2, 0), (w / 2, d / 2, h), [part],
                             origin=(cx, cy, top.z),
                             rotation=yaw_rotation(top.yaw + rng.uniform(-0.4, 0.4))))
    return prims


def _floor_things(rng: np.random.Generator, layout: _Layout) -> List[Primitive]:
    """Plants, bins, balls and lamps standing on the floor."""
    prims: List[Primitive] = []
    for _ in range(int(rng.integers(0, 4))):
        r = float(rng.uniform(0.12, 0.3))
        x = float(rng.uniform(r, layout.plan.width - r))
        y = float(rng.uniform(r, layout.plan.length - r))
        rect = (x - r, y - r, x + r, y + r)
        if not layout.free(rect):
            continue
        layout.rects.append(rect)
        kind = rng.uniform()
        pot = Part(C.OBJECT, paint(rng, OBJECT_COLOURS, specular=0.4))
        if kind < 0.4:
            h = float(rng.uniform(0.25, 0.5))
            prims.append(Cylinder((x, y, h / 2), r * 0.8, h / 2, [pot]))
            leaves = Part(C.VEGETATION, Material(
                'foliage', ((0.16, 0.4, 0.12), (0.35, 0.6, 0.2)), scale=0.08, seed=_seed(rng)))
            crown = float(rng.uniform(0.25, 0.5))
            prims.append(Sphere((x, y, h + crown * 0.9), crown, [leaves]))
        elif kind < 0.65:
            h = float(rng.uniform(0.3, 0.6))
            prims.append(Cylinder((x, y, h / 2), r, h / 2, [pot]))
        elif kind < 0.85:
            prims.append(Sphere((x, y, r), r, [pot]))
        else:
            h = float(rng.uniform(1.4, 1.8))
            prims.append(Cylinder((x, y, h / 2), 0.02, h / 2, [pot]))
            prims.append(Cylinder((x, y, 0.01), 0.15, 0.01, [pot]))
            shade = Part(C.OBJECT, Material('fabric', ((0.95, 0.9, 0.75),), scale=0.05,
                                            seed=_seed(rng), emission=0.6))
            prims.append(Cylinder((x, y, h), 0.18, 0.12, [shade]))
    return prims


def _wall_things(rng: np.random.Generator, plan: RoomPlan,
                 recesses: Sequence[Recess]) -> List[Primitive]:
    """Pictures and panels hanging on the walls, clear of doors and windows."""
    prims: List[Primitive] = []
    extent = (plan.width, plan.length)
    for _ in range(int(rng.integers(0, 5))):
        wall = int(rng.integers(4))
        axis, side = divmod(wall, 2)
        along = 1 - axis
        w = float(rng.uniform(0.3, 1.2))
        h = float(rng.uniform(0.3, 0.9))
        if extent[along] < w + 0.4:
            continue
        pos = float(rng.uniform(w / 2 + 0.2, extent[along] - w / 2 - 0.2))
        z = float(rng.uniform(1.1, min(1.8, plan.height - h / 2 - 0.2)))
        if any(r.face == wall and pos - w / 2 < r.hi[along] + 0.1
               and r.lo[along] - 0.1 < pos + w / 2 for r in recesses):
            continue
        ox, oy = WALL_OUTWARD[wall]
        plane = extent[axis] if (ox + oy) > 0 else 0.0
        centre = [0.0, 0.0]
        centre[along] = pos
        centre[axis] = plane - (ox + oy) * 0.015
        frame = Part(C.OBJECT, paint(rng, [(0.1, 0.1, 0.1), (0.9, 0.9, 0.9), (0.5, 0.35, 0.2)]))
        colours = [_jitter(rng, _pick(rng, OBJECT_COLOURS), 0.2) for _ in range(2)]
        canvas = Part(C.OBJECT, Material(_pick(rng, ['noise', 'stripes', 'noise']),
                                         tuple(colours), scale=float(rng.uniform(0.05, 0.3)),
                                         seed=_seed(rng), specular=0.2))
        # Local frame: x along the wall, y towards it; the canvas is the face at -y (code 2).
        prims.append(Box((-w / 2, -0.015, z - h / 2), (w / 2, 0.015, z + h / 2), [frame, canvas],
                         face_parts=(0, 0, 1, 0, 0, 0), origin=(centre[0], centre[1], 0.0),
                         rotation=yaw_rotation(WALL_YAW[wall])))
    return prims


def _rug(rng: np.random.Generator, plan: RoomPlan, layout: _Layout) -> List[Primitive]:
    """Return a thin rug on the floor (labelled floor: it is a floor covering)."""
    w = float(rng.uniform(1.2, min(3.0, plan.width - 0.6)))
    d = float(rng.uniform(1.0, min(2.5, plan.length - 0.6)))
    x = float(rng.uniform(w / 2 + 0.3, plan.width - w / 2 - 0.3))
    y = float(rng.uniform(d / 2 + 0.3, plan.length - d / 2 - 0.3))
    colour = _jitter(rng, _pick(rng, FABRIC_COLOURS), 0.1)
    other = _jitter(rng, _pick(rng, FABRIC_COLOURS), 0.1)
    material = Material(_pick(rng, ['stripes', 'noise', 'fabric']), (colour, other),
                        scale=float(rng.uniform(0.1, 0.5)), seed=_seed(rng))
    return [Box((x - w / 2, y - d / 2, 0.0), (x + w / 2, y + d / 2, 0.012),
                [Part(C.FLOOR, material)])]


def _recesses(rng: np.random.Generator, plan: RoomPlan, parts: List[Part]
              ) -> Tuple[List[Recess], List[Tuple[int, float, float]]]:
    """Doors and windows in the walls; returns recesses and the (wall, lo, hi) spans of doors."""
    recesses: List[Recess] = []
    spans: List[Tuple[int, float, float, str]] = []
    extent = (plan.width, plan.length, plan.height)
    frame = len(parts)
    parts.append(Part(C.DOOR, paint(rng, [(0.95, 0.95, 0.93), (0.85, 0.85, 0.85)])))
    leaf = len(parts)
    parts.append(Part(C.DOOR, wood(rng, plank=0.3) if rng.uniform() < 0.6 else paint(rng)))
    reveal = len(parts)
    parts.append(Part(C.WINDOW, paint(rng, [(0.95, 0.95, 0.95)])))
    glass = len(parts)
    parts.append(Part(C.WINDOW, Material(
        'glass', ((0.75, 0.85, 0.95), (0.95, 0.97, 1.0)), scale=0.6, seed=_seed(rng),
        emission=float(rng.uniform(2.0, 4.0)), specular=0.8, shininess=200.0, glass=True)))
    wanted = [('door', int(rng.integers(1, 3))), ('window', int(rng.integers(0, 4)))]
    for kind, count in wanted:
        for _ in range(count):
            for _attempt in range(10):
                wall = int(rng.integers(4))
                axis, side = divmod(wall, 2)
                along = 1 - axis
                span = extent[along]
                if kind == 'door':
                    width = float(rng.uniform(0.8, 1.0))
                    z0, z1 = 0.0, float(min(rng.uniform(2.0, 2.15), plan.height - 0.15))
                    depth = float(rng.uniform(0.06, 0.2))
                else:
                    width = float(rng.uniform(0.6, min(2.0, span - 0.8)))
                    z0 = float(rng.uniform(0.7, 1.0))
                    z1 = float(min(z0 + rng.uniform(1.0, 1.6), plan.height - 0.25))
                    depth = float(rng.uniform(0.15, 0.4))
                if span < width + 0.6:
                    continue
                start = float(rng.uniform(0.3, span - width - 0.3))
                if any(w == wall and start < b + 0.3 and a < start + width + 0.3
                       for w, a, b, _ in spans):
                    continue
                spans.append((wall, start, start + width, kind))
                lo = [0.0, 0.0, z0]
                hi = [0.0, 0.0, z1]
                lo[along], hi[along] = start, start + width
                plane = extent[axis] if side else 0.0
                outward = 1.0 if side else -1.0
                lo[axis] = min(plane - 0.05 * outward, plane + depth * outward)
                hi[axis] = max(plane - 0.05 * outward, plane + depth * outward)
                back, sides = (leaf, frame) if kind == 'door' else (glass, reveal)
                recesses.append(Recess(wall, tuple(lo), tuple(hi), back, sides))
                break
    return recesses, [(w, a, b) for w, a, b, kind in spans if kind == 'door']


def room_shell(rng: np.random.Generator, plan: RoomPlan
               ) -> Tuple[Box, List[Part], List[Recess], List[Tuple[int, float, float]]]:
    """Return the room box (floor, walls, ceiling, doors, windows), its parts, recesses, doors."""
    ceiling = Material('noise', ((0.95, 0.95, 0.94), (0.88, 0.88, 0.87)), scale=1.0,
                       seed=_seed(rng))
    wall = _wall_material(rng)
    parts = [Part(C.FLOOR, _floor_material(rng)), Part(C.CEILING, ceiling), Part(C.WALL, wall)]
    face_parts = [2, 2, 2, 2, 0, 1]
    if rng.uniform() < 0.35:
        parts.append(Part(C.WALL, _wall_material(rng)))
        face_parts[int(rng.integers(4))] = 3
    recesses, door_spans = _recesses(rng, plan, parts)
    room = Box((0, 0, 0), (plan.width, plan.length, plan.height), parts, face_parts=face_parts,
               hollow=True, recesses=recesses)
    return room, parts, recesses, door_spans


def wall_spot(plan: RoomPlan, wall: int, pos: float, dp: float, gap: float = 0.02
              ) -> Tuple[Tuple[float, float], float]:
    """Return the centre and yaw of a piece `dp` deep standing against `wall` at `pos` along it."""
    axis = wall // 2
    along = 1 - axis
    ox, oy = WALL_OUTWARD[wall]
    centre = [0.0, 0.0]
    centre[along] = pos
    plane = (plan.width, plan.length)[axis] if (ox + oy) > 0 else 0.0
    centre[axis] = plane - (ox + oy) * (dp / 2 + gap)
    return (centre[0], centre[1]), WALL_YAW[wall]


def wall_furniture(rng: np.random.Generator, plan: RoomPlan, layout: _Layout,
                   door_spans: Sequence[Tuple[int, float, float]], wanted: int
                   ) -> Tuple[List[Primitive], List[_Top]]:
    """Place up to `wanted` cabinets, beds, sofas and desks against the walls, where free."""
    prims: List[Primitive] = []
    tops: List[_Top] = []
    placed = 0
    for _ in range(6 * wanted):
        if placed >= wanted:
            break
        kind = _pick(rng, ['cabinet', 'cabinet', 'bed', 'sofa', 'desk', 'cabinet'])
        wall = int(rng.integers(4))
        axis = wall // 2
        along = 1 - axis
        span = (plan.width, plan.length)[along]
        if kind == 'bed':
            w, dp = float(rng.uniform(0.9, 1.8)), float(rng.uniform(1.9, 2.1))
        elif kind == 'sofa':
            w, dp = float(rng.uniform(1.5, 2.4)), float(rng.uniform(0.8, 0.95))
        elif kind == 'desk':
            w, dp = float(rng.uniform(0.9, 1.6)), float(rng.uniform(0.55, 0.8))
        else:
            w, dp = float(rng.uniform(0.4, 1.8)), float(rng.uniform(0.35, 0.65))
        if span < w + 0.1:
            continue
        pos = float(rng.uniform(w / 2 + 0.02, span - w / 2 - 0.02))
        if any(s == wall and pos - w / 2 < b and a < pos + w / 2 for s, a, b in door_spans):
            continue
        centre_t, yaw = wall_spot(plan, wall, pos, dp)
        rect = _footprint(centre_t, yaw, w, dp)
        if not layout.free(rect):
            continue
        layout.rects.append(rect)
        placed += 1
        if kind == 'bed':
            new, new_tops = _bed(rng, centre_t, yaw, w, dp)
        elif kind == 'sofa':
            new, new_tops = _sofa(rng, centre_t, yaw, w, dp)
        elif kind == 'desk':
            new, new_tops = _table(rng, centre_t, yaw, w, dp)
        else:
            new, new_tops = _cabinet(rng, centre_t, yaw, w, dp)
        prims.extend(new)
        tops.extend(new_tops)
    return prims, tops


def lamp_shade(rng: np.random.Generator, x: float, y: float, z: float,
               ceiling: float) -> Primitive:
    """Return a glowing lamp shade at the ceiling for a light at (x, y, z); casts no shadow."""
    radius = float(rng.uniform(0.12, 0.25))
    lamp = Part(C.OBJECT, Material('plain', ((1.0, 0.97, 0.9),), scale=0.2, seed=_seed(rng),
                                   emission=float(rng.uniform(1.5, 3.0))))
    if rng.uniform() < 0.5:
        shade: Primitive = Cylinder((x, y, ceiling - 0.03), radius, 0.03, [lamp])
    else:
        shade = Sphere((x, y, z + 0.02), min(radius, ceiling - z - 0.04), [lamp])
    shade.solid = False
    return shade


def indoor_scene(rng: np.random.Generator, plan: RoomPlan, keep_clear: np.ndarray,
                 clearance: float = 0.6) -> Scene:
    """Build a furnished room of the given size, keeping `clearance` from `keep_clear` (N, 2)."""
    room, parts, recesses, door_spans = room_shell(rng, plan)
    prims: List[Primitive] = [room]
    layout = _Layout(plan, np.asarray(keep_clear, float), clearance)
    # Furniture against the walls.
    wanted = int(rng.integers(4, 9))
    prims_walls, tops = wall_furniture(rng, plan, layout, door_spans, wanted)
    prims.extend(prims_walls)
    # A table with chairs somewhere in the room.
    if rng.uniform() < 0.7:
        for _attempt in range(6):
            yaw = float(rng.uniform(0, math.pi))
            round_table = rng.uniform() < 0.35
            w = float(rng.uniform(0.8, 1.8))
            dp = float(rng.uniform(0.7, 1.0))
            if round_table:
                w = dp = 1.2
            reach = 0.6
            cx = float(rng.uniform(reach + w / 2, plan.width - reach - w / 2)) \
                if plan.width > 2 * reach + w else plan.width / 2
            cy = float(rng.uniform(reach + w / 2, plan.length - reach - w / 2)) \
                if plan.length > 2 * reach + w else plan.length / 2
            rect = _footprint((cx, cy), yaw, w + 2 * reach, dp + 2 * reach)
            if not layout.free(rect):
                continue
            layout.rects.append(rect)
            if round_table:
                new, new_tops = _round_table(rng, (cx, cy))
                seats = [(0.75 * math.cos(a), 0.75 * math.sin(a), a)
                         for a in rng.uniform(0, 2 * math.pi) + np.arange(3) * 2 * math.pi / 3]
            else:
                new, new_tops = _table(rng, (cx, cy), yaw, w, dp)
                seats = [(x, s * (dp / 2 + 0.25), 0.0 if s > 0 else math.pi)
                         for s in (-1, 1) for x in (-w / 4, w / 4) if w > 1.2 or x < 0]
            prims.extend(new)
            tops.extend(new_tops)
            chair_part = Part(C.FURNITURE, wood(rng) if rng.uniform() < 0.6 else paint(rng))
            for x, y, facing in seats:
                if rng.uniform() < 0.25:
                    continue
                if round_table:
                    centre = (cx + x, cy + y)
                    chair_yaw = facing - math.pi / 2
                else:
                    centre = _local_point((cx, cy), yaw, x, y)
                    chair_yaw = yaw + facing
                chair_yaw += float(rng.uniform(-0.3, 0.3))
                prims.extend(_chair(rng, centre, chair_yaw, chair_part))
            break
    for top in tops:
        if rng.uniform() < 0.85:
            prims.extend(_objects_on(rng, top))
    prims.extend(_floor_things(rng, layout))
    prims.extend(_wall_things(rng, plan, recesses))
    if rng.uniform() < 0.4:
        prims.extend(_rug(rng, plan, layout))

    lights = []
    warm = rng.uniform(0.85, 1.0)
    main = float(rng.uniform(3.0, 6.0))
    for i in range(int(rng.integers(1, 4))):
        x = float(rng.uniform(0.2, 0.8) * plan.width)
        y = float(rng.uniform(0.2, 0.8) * plan.length)
        z = plan.height - float(rng.uniform(0.15, 0.5))
        power = main * (1.0 if i == 0 else float(rng.uniform(0.3, 0.8)))
        # Only the main light casts shadows (the others fill in, as bounce light would).
        lights.append(Light('point', (x, y, z), (power, power * warm, power * warm ** 2),
                            shadows=i == 0))
        # The lamp itself: a glowing shade at the ceiling (the light is in or just below it).
        prims.append(lamp_shade(rng, x, y, z, plan.height))
    ambient = float(rng.uniform(0.12, 0.3)) * main / 4.0
    lighting = Lighting(tuple(lights), (ambient, ambient, ambient * 0.95),
                        (ambient * 0.6, ambient * 0.55, ambient * 0.5))
    info = {'room': dataclasses.asdict(plan), 'doors': sum(1 for r in recesses
                                                           if parts[r.back].label == C.DOOR),
            'windows': sum(1 for r in recesses if parts[r.back].label == C.WINDOW)}
    return Scene('indoor', prims, lighting, None, info)
