"""
Random streets under a sunny or overcast sky.

A road plane with lane markings along +y, raised sidewalks, building facades with recessed
windows and doors, parked and driving cars, street lamps, sign poles and trees.

The road is centred on x = 0; cars, lamps, signs and trees stand between ``y0`` and ``y1``,
buildings and sidewalks reach 30 m further each way; the road plane itself is infinite, so it
recedes to the horizon. Nothing movable is placed
within ``clearance`` metres of the ``keep_clear`` points.
"""

from __future__ import annotations

import dataclasses
import math
from typing import List, Sequence

import numpy as np

from . import classes as C
from .indoor import _jitter, _pick, _seed, paint
from .materials import Material, Part
from .raycast import axis_rotation, Box, Cylinder, Plane, Primitive, Recess, RecessGrid, Sphere
from .raycast import yaw_rotation
from .scene import Scene, Sky
from .shading import Light, Lighting

CAR_COLOURS = [(0.75, 0.1, 0.1), (0.1, 0.2, 0.5), (0.85, 0.85, 0.85), (0.1, 0.1, 0.1),
               (0.5, 0.5, 0.52), (0.2, 0.35, 0.25), (0.9, 0.75, 0.2), (0.6, 0.62, 0.66),
               (0.3, 0.15, 0.1), (0.95, 0.95, 0.95)]
BRICK_COLOURS = [(0.55, 0.25, 0.18), (0.62, 0.36, 0.25), (0.7, 0.55, 0.38), (0.45, 0.2, 0.15),
                 (0.6, 0.58, 0.55)]
SLAB_LENGTH = 10.0  # metres of sidewalk per box
PLASTER_COLOURS = [(0.85, 0.8, 0.7), (0.9, 0.88, 0.82), (0.75, 0.72, 0.68), (0.8, 0.7, 0.55),
                   (0.7, 0.75, 0.78), (0.88, 0.78, 0.7), (0.6, 0.6, 0.6)]


@dataclasses.dataclass(frozen=True)
class StreetPlan:
    """Cross-section and extent of a street, metres."""

    road_half: float
    sidewalk: float
    curb: float
    y0: float
    y1: float


def draw_street_plan(rng: np.random.Generator, y0: float = -30.0, y1: float = 130.0
                     ) -> StreetPlan:
    """Draw a street: road half-width 3.5-7.5 m, sidewalks 2-5 m, curb 0.1-0.18 m."""
    return StreetPlan(road_half=float(rng.uniform(3.5, 7.5)),
                      sidewalk=float(rng.uniform(2.0, 5.0)),
                      curb=float(rng.uniform(0.1, 0.18)), y0=y0, y1=y1)


class _Clearance:
    def __init__(self, keep_clear: np.ndarray, clearance: float) -> None:
        self.points = np.asarray(keep_clear, float).reshape(-1, 2)
        self.clearance = clearance

    def free(self, x0: float, y0: float, x1: float, y1: float) -> bool:
        if not len(self.points):
            return True
        px = np.clip(self.points[:, 0], x0, x1)
        py = np.clip(self.points[:, 1], y0, y1)
        return bool(np.hypot(px - self.points[:, 0], py - self.points[:, 1]).min()
                    >= self.clearance)


def _facade_material(rng: np.random.Generator) -> Material:
    choice = rng.uniform()
    if choice < 0.4:
        return Material('brick', (_jitter(rng, _pick(rng, BRICK_COLOURS)),
                                  _jitter(rng, (0.75, 0.73, 0.68))),
                        scale=float(rng.uniform(0.22, 0.26)), seed=_seed(rng),
                        param=float(rng.uniform(0.01, 0.015)))
    if choice < 0.75:
        colour = _jitter(rng, _pick(rng, PLASTER_COLOURS))
        return Material('noise', (colour, tuple(c * 0.85 for c in colour)),
                        scale=float(rng.uniform(0.5, 2.0)), seed=_seed(rng))
    colour = _jitter(rng, _pick(rng, PLASTER_COLOURS))
    return Material('tiles', (colour, tuple(c * 0.7 for c in colour)),
                    scale=float(rng.uniform(0.6, 1.5)), seed=_seed(rng),
                    param=float(rng.uniform(0.01, 0.03)))


@dataclasses.dataclass
class _Kit:
    """Parts shared by the objects of one street (fewer materials: faster to texture)."""

    roof: Part
    frames: List[Part]
    glass: List[Part]
    doors: List[Part]
    car_paint: List[Part]
    car_glass: Part
    tyre: Part
    hub: Part
    bark: Part
    leaves: List[Part]
    sign_pole: Part
    sign_faces: List[Part]

    @staticmethod
    def draw(rng: np.random.Generator) -> '_Kit':
        """Draw the shared parts of a street."""
        window_glass = [((0.12, 0.16, 0.2), (0.5, 0.6, 0.7)), ((0.2, 0.2, 0.2), (0.55, 0.55, 0.5)),
                        ((0.1, 0.13, 0.12), (0.4, 0.5, 0.55))]
        return _Kit(
            roof=Part(C.BUILDING, Material('noise', ((0.3, 0.3, 0.32), (0.2, 0.2, 0.2)),
                                           scale=2.0, seed=_seed(rng))),
            frames=[Part(C.WINDOW, paint(rng, [c])) for c in
                    [(0.9, 0.9, 0.88), (0.3, 0.3, 0.3), (0.5, 0.4, 0.3)]],
            glass=[Part(C.WINDOW, Material('glass', colours, scale=float(rng.uniform(1.0, 3.0)),
                                           seed=_seed(rng), specular=0.9, shininess=300.0,
                                           glass=True)) for colours in window_glass],
            doors=[Part(C.DOOR, paint(rng, [c])) for c in
                   [(0.35, 0.2, 0.1), (0.15, 0.15, 0.15), (0.2, 0.3, 0.25), (0.5, 0.1, 0.1)]],
            car_paint=[Part(C.CAR, Material('plain', (_jitter(rng, c, 0.04),), scale=0.5,
                                            seed=_seed(rng),
                                            specular=float(rng.uniform(0.4, 0.9)),
                                            shininess=80.0)) for c in CAR_COLOURS],
            car_glass=Part(C.CAR, Material('glass', ((0.05, 0.06, 0.07), (0.3, 0.35, 0.4)),
                                           scale=0.8, seed=_seed(rng), specular=1.0,
                                           shininess=200.0, glass=True)),
            tyre=Part(C.CAR, Material('plain', ((0.08, 0.08, 0.08),), scale=0.2,
                                      seed=_seed(rng))),
            hub=Part(C.CAR, Material('plain', ((0.6, 0.6, 0.62),), scale=0.2, seed=_seed(rng),
                                     specular=0.5)),
            bark=Part(C.VEGETATION, Material('noise', ((0.35, 0.27, 0.2), (0.2, 0.15, 0.1)),
                                             scale=0.1, seed=_seed(rng))),
            leaves=[Part(C.VEGETATION, Material(
                'foliage', (_jitter(rng, (0.18, 0.35, 0.1)), _jitter(rng, (0.4, 0.55, 0.2))),
                scale=float(rng.uniform(0.2, 0.4)), seed=_seed(rng))) for _ in range(3)],
            sign_pole=Part(C.POLE, Material('plain', ((0.55, 0.56, 0.58),), scale=0.5,
                                            seed=_seed(rng), specular=0.4)),
            sign_faces=[Part(C.POLE, paint(rng, [c])) for c in
                        [(0.8, 0.1, 0.1), (0.1, 0.3, 0.7), (0.95, 0.95, 0.95), (0.95, 0.8, 0.1)]],
        )


def _building(rng: np.random.Generator, kit: _Kit, side: int, front: float, y: float,
              width: float, depth: float, height: float) -> Box:
    """Return one building; side +1 stands at x >= front facing -x, side -1 at x <= -front."""
    facade = Part(C.BUILDING, _facade_material(rng))
    parts = [facade, kit.roof, _pick(rng, kit.frames), _pick(rng, kit.glass),
             _pick(rng, kit.doors)]
    if side > 0:
        lo, hi, face = (front, y, 0.0), (front + depth, y + width, height), 0
    else:
        lo, hi, face = (-front - depth, y, 0.0), (-front, y + width, height), 1
    plane = lo[0] if side > 0 else hi[0]
    ground = float(rng.uniform(3.2, 4.4))
    floor = float(rng.uniform(2.8, 3.5))
    win_w = float(rng.uniform(0.8, 1.6))
    win_h = float(min(rng.uniform(1.2, 1.9), floor - 0.7))
    pitch = float(rng.uniform(max(win_w + 0.6, 1.8), 4.0))
    count_u = int((width - 0.6) // pitch)
    count_v = int(max(0.0, (height - ground - 0.6)) // floor)
    grid = None
    if count_u > 0 and count_v > 0:
        grid = RecessGrid(face=face, u0=y + (width - count_u * pitch) / 2 + (pitch - win_w) / 2,
                          v0=ground + (floor - win_h) * 0.55, pitch_u=pitch, pitch_v=floor,
                          count_u=count_u, count_v=count_v, size_u=win_w, size_v=win_h,
                          depth=float(rng.uniform(0.12, 0.3)), back=3, side=2)
    # Ground floor: a door and shop windows, as explicit recesses.
    recesses = []
    cursor = y + float(rng.uniform(0.5, 2.0))
    while cursor < y + width - 1.5:
        if rng.uniform() < 0.4:
            w, z0, z1, back, part_side = float(rng.uniform(1.0, 1.8)), 0.0, \
                float(min(rng.uniform(2.1, 2.6), ground - 0.4)), 4, 4
        else:
            w, z0 = float(rng.uniform(1.2, 3.5)), float(rng.uniform(0.3, 0.8))
            z1, back, part_side = float(min(z0 + rng.uniform(1.4, 2.4), ground - 0.3)), 3, 2
        if cursor + w > y + width - 0.4:
            break
        d = float(rng.uniform(0.15, 0.4))
        outer = plane + (-0.05 if side > 0 else 0.05)
        inner = plane + (d if side > 0 else -d)
        recesses.append(Recess(face, (min(outer, inner), cursor, z0),
                               (max(outer, inner), cursor + w, z1), back, part_side))
        cursor += w + float(rng.uniform(0.8, 3.0))
    face_parts = [0, 0, 0, 0, 0, 1]
    return Box(lo, hi, parts, face_parts=face_parts, recesses=recesses, grid=grid)


def _car(rng: np.random.Generator, kit: _Kit, x: float, y: float, yaw: float
         ) -> List[Primitive]:
    """Return a body box, a cabin box and four wheels; (x, y) is the footprint's centre."""
    length = float(rng.uniform(3.8, 4.9))
    width = float(rng.uniform(1.65, 1.9))
    ground = 0.28
    body_h = float(rng.uniform(0.55, 0.75))
    cabin_h = float(rng.uniform(0.45, 0.6))
    paint_part = _pick(rng, kit.car_paint)
    glass_part, tyre, hub = kit.car_glass, kit.tyre, kit.hub
    rot = yaw_rotation(yaw)
    origin = (x, y, 0.0)
    # Local frame: x forward (length), y left (width), z up.
    body = Box((-length / 2, -width / 2, ground), (length / 2, width / 2, ground + body_h),
               [paint_part], origin=origin, rotation=rot)
    cabin_len = length * float(rng.uniform(0.45, 0.6))
    shift = float(rng.uniform(-0.25, 0.05)) * length
    cabin = Box((shift - cabin_len / 2, -width / 2 + 0.08, ground + body_h),
                (shift + cabin_len / 2, width / 2 - 0.08, ground + body_h + cabin_h),
                [glass_part, paint_part], face_parts=(0, 0, 0, 0, 1, 1), origin=origin,
                rotation=rot)
    prims: List[Primitive] = [body, cabin]
    radius = float(rng.uniform(0.3, 0.36))
    axle = rot @ np.array([0.0, 1.0, 0.0])
    wheel_rot = axis_rotation(axle)
    for along in (-0.32 * length, 0.32 * length):
        for across in (-1.0, 1.0):
            local = np.array([along, across * (width / 2 - 0.08), radius])
            centre = np.array(origin) + rot @ local
            prims.append(Cylinder(centre, radius, 0.1, [tyre, hub], rotation=wheel_rot,
                                  cap_part=1))
    return prims


def _street_lamp(rng: np.random.Generator, x: float, y: float, side: int,
                 part: Part) -> List[Primitive]:
    height = float(rng.uniform(5.5, 8.0))
    radius = float(rng.uniform(0.06, 0.1))
    arm = float(rng.uniform(0.8, 2.0))
    x_end = x - side * arm
    return [
        Cylinder((x, y, height / 2), radius, height / 2, [part]),
        Box((min(x, x_end), y - 0.05, height - 0.1), (max(x, x_end), y + 0.05, height), [part]),
        Box((x_end - 0.3, y - 0.15, height - 0.2), (x_end + 0.3, y + 0.15, height), [part]),
    ]


def _sign(rng: np.random.Generator, kit: _Kit, x: float, y: float, base: float
          ) -> List[Primitive]:
    pole, face = kit.sign_pole, _pick(rng, kit.sign_faces)
    height = float(rng.uniform(2.2, 2.8))
    size = float(rng.uniform(0.5, 0.8))
    return [Cylinder((x, y, base + height / 2), 0.03, height / 2, [pole]),
            Box((x - 0.02, y - size / 2, base + height - size),
                (x + 0.02, y + size / 2, base + height), [face])]


def _tree(rng: np.random.Generator, kit: _Kit, x: float, y: float, base: float
          ) -> List[Primitive]:
    bark, leaves = kit.bark, _pick(rng, kit.leaves)
    trunk_h = float(rng.uniform(2.0, 3.2))
    crown = float(rng.uniform(1.2, 2.3))
    prims: List[Primitive] = [
        Cylinder((x, y, base + trunk_h / 2), float(rng.uniform(0.1, 0.2)), trunk_h / 2, [bark]),
        Sphere((x, y, base + trunk_h + 0.6 * crown), crown, [leaves])]
    if rng.uniform() < 0.5:
        r2 = crown * float(rng.uniform(0.6, 0.85))
        prims.append(Sphere((x + rng.uniform(-0.5, 0.5), y + rng.uniform(-0.6, 0.6),
                             base + trunk_h + 0.6 * crown + rng.uniform(0.4, 1.0) * crown),
                            r2, [leaves]))
    return prims


def street_scene(rng: np.random.Generator, plan: StreetPlan, keep_clear: np.ndarray,
                 clearance: float = 1.0, lane_keep_clear: Sequence[float] = ()) -> Scene:
    """Build a street; nothing movable within `clearance` of the `keep_clear` (N, 2) points."""
    clear = _Clearance(keep_clear, clearance)
    kit = _Kit.draw(rng)
    road = Material('asphalt', (_jitter(rng, (0.32, 0.32, 0.33), 0.05), (0.9, 0.9, 0.86)),
                    scale=1.0, seed=_seed(rng), param=plan.road_half)
    pavement_colour = _jitter(rng, _pick(rng, [(0.62, 0.6, 0.57), (0.7, 0.66, 0.6),
                                               (0.55, 0.55, 0.56)]))
    pavement = Material('tiles', (pavement_colour, tuple(c * 0.75 for c in pavement_colour)),
                        scale=float(rng.uniform(0.3, 1.0)), seed=_seed(rng),
                        param=float(rng.uniform(0.005, 0.015)))
    curb = Material('noise', ((0.7, 0.7, 0.68), (0.55, 0.55, 0.55)), scale=0.3,
                    seed=_seed(rng))
    prims: List[Primitive] = [Plane((0.0, 0.0, 0.0), [Part(C.ROAD, road),
                                                      Part(C.SIDEWALK, pavement)],
                                    band=plan.road_half)]
    inner, outer = plan.road_half, plan.road_half + plan.sidewalk
    for side in (-1, 1):
        x0, x1 = (inner, outer) if side > 0 else (-outer, -inner)
        face_parts = [0, 0, 0, 0, 0, 0]
        face_parts[0 if side > 0 else 1] = 1
        # Cut into short slabs so that each is culled by its own image rectangle.
        start = plan.y0 - 30
        step = pavement.scale * max(1, round(SLAB_LENGTH / pavement.scale))
        parts = [Part(C.SIDEWALK, pavement), Part(C.SIDEWALK, curb)]
        while start < plan.y1 + 30:
            slab = Box((x0, start, 0.0), (x1, start + step, plan.curb), parts,
                       face_parts=face_parts, uv_origin=(x0, plan.y0 - 30, 0.0))
            slab.solid = False  # a curb's shadow is a few centimetres wide: not worth the rays
            prims.append(slab)
            start += step
    # Buildings along both sides.
    for side in (-1, 1):
        y = plan.y0 - 30 + float(rng.uniform(-10, 0))
        while y < plan.y1 + 30:
            width = float(rng.uniform(8.0, 26.0))
            setback = float(rng.uniform(0.0, 1.5)) if rng.uniform() < 0.4 else 0.0
            depth = float(rng.uniform(8.0, 20.0))
            height = float(rng.uniform(6.0, 28.0))
            prims.append(_building(rng, kit, side, outer + setback, y, width, depth, height))
            y += width + (float(rng.uniform(1.5, 5.0)) if rng.uniform() < 0.2 else 0.0)
    # Parked cars along both curbs, facing the traffic of their side.
    for side in (-1, 1):
        y = plan.y0 + float(rng.uniform(0, 8))
        while y < plan.y1:
            if rng.uniform() < 0.6:
                x = side * (plan.road_half - float(rng.uniform(1.0, 1.2)))
                length = 4.9
                if clear.free(x - 1.0, y - length / 2, x + 1.0, y + length / 2):
                    prims.extend(_car(rng, kit, x, y, math.pi / 2 if side > 0 else -math.pi / 2))
                y += length + float(rng.uniform(0.8, 6.0))
            else:
                y += float(rng.uniform(4.0, 14.0))
    # Cars driving in the lanes, away from the kept-clear points.
    for _ in range(int(rng.integers(0, 4))):
        lane = float(rng.uniform(-0.6, 0.6)) * plan.road_half
        y = float(rng.uniform(plan.y0, plan.y1))
        if clear.free(lane - 1.0, y - 2.5, lane + 1.0, y + 2.5) and all(
                abs(lane - k) > 1.5 for k in lane_keep_clear):
            prims.extend(_car(rng, kit, lane, y, math.pi / 2 if lane > 0 else -math.pi / 2))
    # Street lamps, signs and trees on the sidewalks.
    metal = Part(C.POLE, Material('plain', (_jitter(rng, (0.35, 0.37, 0.4)),), scale=0.5,
                                  seed=_seed(rng), specular=0.4))
    for side in (-1, 1):
        y = plan.y0 + float(rng.uniform(0, 20))
        spacing = float(rng.uniform(20, 35))
        while y < plan.y1:
            x = side * (inner + 0.45)
            if clear.free(x - 0.2, y - 0.2, x + 0.2, y + 0.2):
                prims.extend(_street_lamp(rng, x, y, side, metal))
            y += spacing
        y = plan.y0 + float(rng.uniform(0, 15))
        while y < plan.y1:
            kind = rng.uniform()
            x = side * (inner + plan.sidewalk * float(rng.uniform(0.3, 0.6)))
            if kind < 0.5 and plan.sidewalk > 2.5:
                if clear.free(x - 0.3, y - 0.3, x + 0.3, y + 0.3):
                    prims.extend(_tree(rng, kit, x, y, plan.curb))
            elif kind < 0.65:
                x = side * (inner + 0.3)
                if clear.free(x - 0.3, y - 0.4, x + 0.3, y + 0.4):
                    prims.extend(_sign(rng, kit, x, y, plan.curb))
            y += float(rng.uniform(8, 20))

    overcast = rng.uniform() < 0.25
    elevation = math.radians(rng.uniform(20, 70))
    azimuth = float(rng.uniform(0, 2 * math.pi))
    sun_dir = (math.cos(elevation) * math.cos(azimuth), math.cos(elevation) * math.sin(azimuth),
               math.sin(elevation))
    sun = 0.25 if overcast else float(rng.uniform(0.9, 1.3))
    sky_amb = float(rng.uniform(0.6, 0.9) if overcast else rng.uniform(0.25, 0.45))
    lighting = Lighting(
        (Light('sun', sun_dir, (sun, sun * 0.96, sun * 0.88), shadows=not overcast),),
        (sky_amb * 0.85, sky_amb * 0.92, sky_amb * 1.1),
        (sky_amb * 0.45, sky_amb * 0.42, sky_amb * 0.4))
    sky = Sky(zenith=(0.55, 0.6, 0.65) if overcast else _jitter(rng, (0.35, 0.55, 0.85), 0.05),
              horizon=(0.85, 0.86, 0.88) if overcast else (0.8, 0.87, 0.95),
              brightness=float(rng.uniform(1.2, 1.8)),
              clouds=float(rng.uniform(0.7, 1.0) if overcast else rng.uniform(0.0, 0.6)),
              seed=_seed(rng), sun=None if overcast else sun_dir)
    info = {'street': dataclasses.asdict(plan), 'overcast': bool(overcast),
            'sun_elevation_deg': math.degrees(elevation)}
    return Scene('street', prims, lighting, sky, info)
