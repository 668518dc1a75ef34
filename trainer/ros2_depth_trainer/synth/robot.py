"""
Close-range indoor views at robot heights: desks, shelves, kitchens, cluttered floors, corridors.

Each sample draws one setting, builds it in a room (``indoor.room_shell``) or a corridor with side
rooms, furnishes the rest of the space with the indoor builders, picks a target point on what the
setting is about and puts the camera 0.3-3 m from it, 0.2-1.8 m above the floor, aimed at the
target with pitch, yaw and roll jitter. The camera is kept out of every footprint and at least
``CAMERA_CLEARANCE`` from every surface (``clearance``). The field of view is that of a common
robot camera (``CAMERA_PRESETS``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from . import classes as C
from .camera import CameraPose
from .indoor import (_chair, _floor_material, _footprint, _jitter, _Layout, _local_point, _pick,
                     _piece_box, _round_table, _rug, _seed, _table, _Top, _wall_material,
                     draw_room_plan, fabric, lamp_shade, OBJECT_COLOURS, paint, room_shell,
                     RoomPlan, wall_furniture, wall_spot, wood)
from .materials import Material, Part
from .raycast import axis_rotation, Box, Cylinder, Primitive, Recess, RecessGrid, Sphere
from .raycast import yaw_rotation
from .scene import Scene
from .shading import colour_temperature, Light, Lighting

Rect = Tuple[float, float, float, float]
Point3 = Tuple[float, float, float]

SETTINGS = ('desk', 'shelf', 'kitchen', 'floor', 'corridor')
SETTING_WEIGHTS = (0.25, 0.2, 0.18, 0.2, 0.17)
HEIGHT = (0.2, 1.8)  # camera height above the floor, metres
DISTANCE = (0.3, 3.0)  # camera to target, metres
PITCH_JITTER_DEG = 6.0
YAW_JITTER_DEG = 8.0
ROLL_DEG = 5.0
CAMERA_CLEARANCE = 0.1  # metres from the camera to the nearest surface
WALL_MARGIN = 0.25  # metres from the camera to the room's walls


@dataclasses.dataclass(frozen=True)
class CameraPreset:
    """A robot camera: its name and the horizontal field of view of its 4:3 centre crop."""

    name: str
    hfov_deg: float
    weight: float


def crop_4_3_fov(hfov_deg: float, vfov_deg: float) -> float:
    """Return the horizontal field of view of the largest 4:3 centre crop of a pinhole image."""
    from_v = 2.0 * math.degrees(math.atan(math.tan(math.radians(vfov_deg) / 2) * 4.0 / 3.0))
    return min(hfov_deg, from_v)


# Horizontal fields of view of the 4:3 centre crop (fx = fy, centred, no distortion).
CAMERA_PRESETS: Tuple[CameraPreset, ...] = (
    # Kinect v1: fx = fy = 525 at 640x480 (the TUM RGB-D / ROS openni default calibration).
    CameraPreset('kinect_v1', crop_4_3_fov(2 * math.degrees(math.atan(320 / 525)),
                                           2 * math.degrees(math.atan(240 / 525))), 0.12),
    # ASUS Xtion Pro Live: 58 x 45 deg (ASUS product specification), 640x480.
    CameraPreset('xtion_pro_live', crop_4_3_fov(58.0, 45.0), 0.08),
    # RealSense D435 colour (OV2740, 1920x1080, 16:9): 69.4 x 42.5 deg (Intel D400 datasheet,
    # FRAMOS D435e manual 3.4); its 640x480 mode (fx ~ 615) is the 4:3 crop: ~55 deg.
    CameraPreset('realsense_d435', crop_4_3_fov(69.4, 42.5), 0.25),
    # RealSense D455 colour (OV9782, 1280x800, 16:10): 90 x 65 deg (Intel D400 datasheet).
    CameraPreset('realsense_d455', crop_4_3_fov(90.0, 65.0), 0.15),
    # Azure Kinect colour, 4:3 modes (2048x1536, 4096x3072): 90 x 74.3 deg (Azure Kinect DK
    # hardware specification).
    CameraPreset('azure_kinect', crop_4_3_fov(90.0, 74.3), 0.1),
    # OAK-D colour (IMX378, 4056x3040, 4:3): DFOV/HFOV/VFOV 81/69/55 deg (Luxonis docs).
    CameraPreset('oak_d', crop_4_3_fov(69.0, 55.0), 0.15),
    # ZED 2 (16:9): 110 x 70 deg per raw sensor (Stereolabs specification; rectified images are
    # a few degrees narrower); the 4:3 crop is ~86 deg.
    CameraPreset('zed_2', crop_4_3_fov(110.0, 70.0), 0.15),
)
FOV_JITTER_DEG = 1.0  # unit-to-unit and calibration spread around a preset

PLASTIC_COLOURS = OBJECT_COLOURS + [(0.95, 0.95, 0.95), (0.3, 0.3, 0.32), (0.2, 0.5, 0.75)]
METAL_COLOURS = [(0.75, 0.75, 0.77), (0.55, 0.56, 0.58), (0.85, 0.8, 0.65), (0.3, 0.3, 0.32)]
CERAMIC_COLOURS = [(0.95, 0.94, 0.9), (0.9, 0.9, 0.92), (0.35, 0.5, 0.7), (0.75, 0.3, 0.25),
                   (0.2, 0.2, 0.22), (0.85, 0.8, 0.6)]
PAPER_COLOURS = [(0.95, 0.95, 0.92), (0.9, 0.88, 0.8), (0.85, 0.2, 0.15), (0.15, 0.3, 0.6),
                 (0.2, 0.5, 0.3), (0.95, 0.8, 0.2), (0.1, 0.1, 0.12), (0.6, 0.4, 0.25)]
CARDBOARD_COLOURS = [(0.68, 0.52, 0.35), (0.6, 0.45, 0.3), (0.75, 0.62, 0.45)]
FRUIT_COLOURS = [(0.8, 0.1, 0.08), (0.95, 0.55, 0.1), (0.55, 0.75, 0.2), (0.95, 0.85, 0.2)]


# Materials --------------------------------------------------------------------------------

def plastic(rng: np.random.Generator, colours: Sequence = PLASTIC_COLOURS) -> Material:
    """Return a glossy plastic: a plain colour with a sharp, moderate highlight."""
    return Material('plain', (_jitter(rng, _pick(rng, colours)),), scale=0.08, seed=_seed(rng),
                    specular=float(rng.uniform(0.25, 0.6)), shininess=float(rng.uniform(40, 120)))


def metal(rng: np.random.Generator) -> Material:
    """Return a brushed metal: fine noise, a strong and sharp highlight."""
    colour = _jitter(rng, _pick(rng, METAL_COLOURS), 0.04)
    return Material('noise', (colour, tuple(c * 0.85 for c in colour)),
                    scale=float(rng.uniform(0.01, 0.04)), seed=_seed(rng),
                    specular=float(rng.uniform(0.5, 0.9)), shininess=float(rng.uniform(60, 200)))


def ceramic(rng: np.random.Generator) -> Material:
    """Return a glazed ceramic: plain, glossy."""
    return Material('plain', (_jitter(rng, _pick(rng, CERAMIC_COLOURS), 0.04),), scale=0.1,
                    seed=_seed(rng), specular=float(rng.uniform(0.35, 0.6)), shininess=150.0)


def paper(rng: np.random.Generator) -> Material:
    """Return matte paper or printed card (plain, or stripes for printed covers)."""
    colour = _jitter(rng, _pick(rng, PAPER_COLOURS))
    if rng.uniform() < 0.3:
        other = _jitter(rng, _pick(rng, PAPER_COLOURS))
        return Material('stripes', (colour, other), scale=float(rng.uniform(0.02, 0.1)),
                        seed=_seed(rng))
    return Material('plain', (colour,), scale=0.05, seed=_seed(rng))


def cardboard(rng: np.random.Generator) -> Material:
    """Return brown corrugated card."""
    colour = _jitter(rng, _pick(rng, CARDBOARD_COLOURS), 0.04)
    return Material('noise', (colour, tuple(c * 0.88 for c in colour)), scale=0.05,
                    seed=_seed(rng))


def screen(rng: np.random.Generator) -> Material:
    """Return a display: off (black glass-like gloss) or on (glowing content)."""
    if rng.uniform() < 0.5:
        return Material('plain', ((0.03, 0.03, 0.035),), scale=0.2, seed=_seed(rng),
                        specular=0.7, shininess=200.0)
    colours = (_jitter(rng, _pick(rng, PAPER_COLOURS), 0.1), (0.95, 0.95, 0.95))
    return Material(_pick(rng, ['stripes', 'noise', 'tiles']), colours,
                    scale=float(rng.uniform(0.02, 0.08)), seed=_seed(rng), param=0.004,
                    specular=0.5, shininess=200.0, emission=float(rng.uniform(0.4, 1.2)))


def keys(rng: np.random.Generator) -> Material:
    """Return keyboard keycaps: small tiles with dark gaps."""
    cap = _pick(rng, [(0.15, 0.15, 0.16), (0.9, 0.9, 0.9), (0.55, 0.56, 0.58)])
    return Material('tiles', (cap, (0.05, 0.05, 0.05)), scale=0.019, seed=_seed(rng),
                    param=0.003, specular=0.2, shininess=40.0)


# Geometry helpers ------------------------------------------------------------------------

def rod(p0: Sequence[float], p1: Sequence[float], radius: float,
        parts: Sequence[Part]) -> Cylinder:
    """Return a capped cylinder of `radius` from point p0 to p1 (any direction)."""
    a, b = np.asarray(p0, float), np.asarray(p1, float)
    axis = b - a
    length = float(np.linalg.norm(axis))
    return Cylinder(tuple(0.5 * (a + b)), radius, 0.5 * length, parts,
                    rotation=axis_rotation(axis))


def _rot_x(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _grow(rect: Rect, margin: float) -> Rect:
    return rect[0] - margin, rect[1] - margin, rect[2] + margin, rect[3] + margin


def _inside(rect: Rect, x: float, y: float) -> bool:
    return rect[0] <= x <= rect[2] and rect[1] <= y <= rect[3]


def clearance(primitives: Sequence[Primitive], point: Sequence[float]) -> float:
    """
    Return the distance from `point` to the nearest surface of the primitives (0 inside a solid).

    Solid boxes, cylinders and spheres count from outside, hollow boxes (rooms) from inside;
    recesses and planes are ignored (a recess only moves a wall away).
    """
    best = np.inf
    p = np.asarray(point, float)
    for prim in primitives:
        local, _ = prim.to_local(p[None])
        q = local[0]
        if isinstance(prim, Box):
            if prim.hollow:
                dist = float(min((q - prim.lo).min(), (prim.hi - q).min()))
                dist = max(dist, 0.0)
            else:
                out = np.maximum(np.maximum(prim.lo - q, q - prim.hi), 0.0)
                dist = float(np.linalg.norm(out))
        elif isinstance(prim, Cylinder):
            radial = max(math.hypot(q[0], q[1]) - prim.radius, 0.0)
            axial = max(abs(q[2]) - prim.half_height, 0.0)
            dist = math.hypot(radial, axial)
        elif isinstance(prim, Sphere):
            dist = max(float(np.linalg.norm(q)) - prim.radius, 0.0)
        else:
            continue
        best = min(best, dist)
    return best


class _Spots:
    """Free rectangles on a top surface, in the top's frame (x across, y towards its back)."""

    def __init__(self, top: _Top) -> None:
        self.top = top
        self.rects: List[Rect] = []

    def find(self, rng: np.random.Generator, w: float, d: float, y_range: Tuple[float, float]
             = (-1.0, 1.0)) -> Optional[Tuple[float, float]]:
        """Return a free local centre for a w x d footprint (y_range in half-depths), or None."""
        top = self.top
        if w > 2 * top.half_w or d > 2 * top.half_d:
            return None
        for _ in range(8):
            x = float(rng.uniform(-top.half_w + w / 2, top.half_w - w / 2))
            y_lo = max(-top.half_d + d / 2, y_range[0] * top.half_d)
            y_hi = min(top.half_d - d / 2, y_range[1] * top.half_d)
            if y_hi < y_lo:
                return None
            y = float(rng.uniform(y_lo, y_hi))
            rect = (x - w / 2, y - d / 2, x + w / 2, y + d / 2)
            if all(rect[0] >= b[2] + 0.01 or b[0] >= rect[2] + 0.01 or rect[1] >= b[3] + 0.01
                   or b[1] >= rect[3] + 0.01 for b in self.rects):
                self.rects.append(rect)
                return x, y
        return None

    def world(self, x: float, y: float) -> Tuple[float, float]:
        """Map a local point of the top to world coordinates."""
        return _local_point(self.top.centre, self.top.yaw, x, y)


def _standing_box(spots: _Spots, x: float, y: float, w: float, d: float, h: float,
                  parts: Sequence[Part], yaw: float = 0.0, z: float = 0.0,
                  face_parts: Sequence[int] = (0, 0, 0, 0, 0, 0)) -> Box:
    cx, cy = spots.world(x, y)
    return Box((-w / 2, -d / 2, 0.0), (w / 2, d / 2, h), parts, face_parts=face_parts,
               origin=(cx, cy, spots.top.z + z), rotation=yaw_rotation(spots.top.yaw + yaw))


# Things on tops ---------------------------------------------------------------------------

def _monitor(rng: np.random.Generator, spots: _Spots) -> List[Primitive]:
    w, h = float(rng.uniform(0.45, 0.7)), float(rng.uniform(0.28, 0.42))
    spot = spots.find(rng, w, 0.22, (0.0, 1.0))
    if spot is None:
        return []
    x, y = spot
    body = Part(C.OBJECT, plastic(rng, [(0.1, 0.1, 0.11), (0.2, 0.2, 0.21), (0.85, 0.85, 0.86)]))
    display = Part(C.OBJECT, screen(rng))
    lift = float(rng.uniform(0.08, 0.2))
    yaw = float(rng.uniform(-0.25, 0.25))
    return [_standing_box(spots, x, y + 0.03, 0.22, 0.18, 0.015, [body], yaw),
            _standing_box(spots, x, y + 0.06, 0.05, 0.03, lift + 0.1, [body], yaw),
            # The screen faces the desk's front (local -y, face code 2).
            _standing_box(spots, x, y, w, float(rng.uniform(0.015, 0.05)), h, [body, display],
                          yaw, z=lift, face_parts=(0, 0, 1, 0, 0, 0))]


def _keyboard(rng: np.random.Generator, spots: _Spots) -> List[Primitive]:
    w, d = float(rng.uniform(0.3, 0.45)), float(rng.uniform(0.11, 0.16))
    spot = spots.find(rng, w, d, (-1.0, 0.2))
    if spot is None:
        return []
    body = Part(C.OBJECT, plastic(rng, [(0.12, 0.12, 0.13), (0.85, 0.85, 0.86)]))
    top = Part(C.OBJECT, keys(rng))
    return [_standing_box(spots, *spot, w, d, float(rng.uniform(0.018, 0.03)), [body, top],
                          float(rng.uniform(-0.15, 0.15)), face_parts=(0, 0, 0, 0, 0, 1))]


def _laptop(rng: np.random.Generator, spots: _Spots) -> List[Primitive]:
    w, d = float(rng.uniform(0.3, 0.38)), float(rng.uniform(0.21, 0.26))
    spot = spots.find(rng, w, d + 0.05, (-0.8, 0.8))
    if spot is None:
        return []
    x, y = spot
    shell = Part(C.OBJECT, metal(rng) if rng.uniform() < 0.5 else plastic(
        rng, [(0.15, 0.15, 0.16), (0.6, 0.6, 0.62)]))
    deck = Part(C.OBJECT, keys(rng))
    display = Part(C.OBJECT, screen(rng))
    yaw = float(rng.uniform(-0.4, 0.4))
    base_h = 0.018
    base = _standing_box(spots, x, y, w, d, base_h, [shell, deck], yaw,
                         face_parts=(0, 0, 0, 0, 0, 1))
    # The lid hinges at the back edge and leans back 5-35 deg past vertical.
    tilt = math.radians(float(rng.uniform(5, 35)))
    rotation = yaw_rotation(spots.top.yaw + yaw) @ _rot_x(-tilt)
    hinge = np.array([0.0, d / 2, base_h])
    hinge_world = yaw_rotation(spots.top.yaw + yaw) @ hinge
    cx, cy = spots.world(x, y)
    lid = Box((-w / 2, 0.0, 0.0), (w / 2, 0.007, d), [shell, display],
              face_parts=(0, 0, 1, 0, 0, 0),
              origin=(cx + hinge_world[0], cy + hinge_world[1], spots.top.z + hinge_world[2]),
              rotation=rotation)
    return [base, lid]


def _books(rng: np.random.Generator, spots: _Spots) -> List[Primitive]:
    w, d = float(rng.uniform(0.15, 0.3)), float(rng.uniform(0.12, 0.22))
    spot = spots.find(rng, w + 0.04, d + 0.04)
    if spot is None:
        return []
    prims: List[Primitive] = []
    z = 0.0
    yaw = float(rng.uniform(-0.5, 0.5))
    for _ in range(int(rng.integers(1, 5))):
        h = float(rng.uniform(0.015, 0.05))
        cover = Part(C.OBJECT, paper(rng))
        pages = Part(C.OBJECT, Material('stripes', ((0.95, 0.94, 0.88), (0.85, 0.84, 0.78)),
                                        scale=0.002, seed=_seed(rng)))
        prims.append(_standing_box(spots, *spot, w, d, h, [cover, pages],
                                   yaw + float(rng.uniform(-0.15, 0.15)), z,
                                   face_parts=(1, 1, 1, 0, 0, 0)))
        z += h
    return prims


def _mug(rng: np.random.Generator, spots: _Spots) -> List[Primitive]:
    r, h = float(rng.uniform(0.035, 0.045)), float(rng.uniform(0.08, 0.11))
    spot = spots.find(rng, 2 * r + 0.03, 2 * r)
    if spot is None:
        return []
    part = Part(C.OBJECT, ceramic(rng))
    cx, cy = spots.world(*spot)
    z = spots.top.z
    angle = float(rng.uniform(0, 2 * math.pi))
    hx, hy = cx + (r + 0.012) * math.cos(angle), cy + (r + 0.012) * math.sin(angle)
    return [Cylinder((cx, cy, z + h / 2), r, h / 2, [part]),
            Box((-0.012, -0.006, -0.03), (0.012, 0.006, 0.03), [part],
                origin=(hx, hy, z + h / 2), rotation=yaw_rotation(angle))]


def _bottle(rng: np.random.Generator, spots: _Spots) -> List[Primitive]:
    r, h = float(rng.uniform(0.03, 0.045)), float(rng.uniform(0.16, 0.3))
    spot = spots.find(rng, 2 * r, 2 * r)
    if spot is None:
        return []
    cx, cy = spots.world(*spot)
    z = spots.top.z
    body = Part(C.OBJECT, plastic(rng) if rng.uniform() < 0.7 else metal(rng))
    cap = Part(C.OBJECT, plastic(rng))
    neck = 0.25 * h
    return [Cylinder((cx, cy, z + (h - neck) / 2), r, (h - neck) / 2, [body]),
            Cylinder((cx, cy, z + h - neck / 2), 0.4 * r, neck / 2, [body, cap], cap_part=1)]


def _can(rng: np.random.Generator, spots: _Spots) -> List[Primitive]:
    spot = spots.find(rng, 0.07, 0.07)
    if spot is None:
        return []
    cx, cy = spots.world(*spot)
    side = Part(C.OBJECT, Material('stripes', (_jitter(rng, _pick(rng, OBJECT_COLOURS)),
                                               (0.8, 0.8, 0.82)), scale=0.06, seed=_seed(rng),
                                   specular=0.6, shininess=80.0))
    lid = Part(C.OBJECT, metal(rng))
    h = float(rng.uniform(0.1, 0.125))
    return [Cylinder((cx, cy, spots.top.z + h / 2), 0.033, h / 2, [side, lid], cap_part=1)]


def _box(rng: np.random.Generator, spots: _Spots) -> List[Primitive]:
    w, d, h = (float(v) for v in (rng.uniform(0.08, 0.3), rng.uniform(0.06, 0.22),
                                  rng.uniform(0.03, 0.25)))
    spot = spots.find(rng, max(w, d), max(w, d))
    if spot is None:
        return []
    material = cardboard(rng) if rng.uniform() < 0.5 else plastic(rng)
    return [_standing_box(spots, *spot, w, d, h, [Part(C.OBJECT, material)],
                          float(rng.uniform(-0.6, 0.6)))]


def _dish(rng: np.random.Generator, spots: _Spots) -> List[Primitive]:
    """Build a plate or bowl (flat cylinders), sometimes with fruit on it."""
    plate = rng.uniform() < 0.5
    r = float(rng.uniform(0.1, 0.14) if plate else rng.uniform(0.06, 0.1))
    spot = spots.find(rng, 2 * r, 2 * r)
    if spot is None:
        return []
    cx, cy = spots.world(*spot)
    z = spots.top.z
    h = 0.015 if plate else float(rng.uniform(0.045, 0.07))
    dish = Part(C.OBJECT, ceramic(rng))
    prims: List[Primitive] = [Cylinder((cx, cy, z + h / 2), r, h / 2, [dish])]
    if rng.uniform() < 0.5:
        fr = float(rng.uniform(0.03, 0.045))
        prims.append(Sphere((cx, cy, z + h + fr), fr, [Part(C.OBJECT, _fruit_material(rng))]))
    return prims


def _fruit_material(rng: np.random.Generator) -> Material:
    return Material('plain', (_jitter(rng, _pick(rng, FRUIT_COLOURS)),), scale=0.03,
                    seed=_seed(rng), specular=float(rng.uniform(0.2, 0.5)), shininess=60.0)


def _fruit(rng: np.random.Generator, spots: _Spots) -> List[Primitive]:
    r = float(rng.uniform(0.03, 0.05))
    spot = spots.find(rng, 2 * r, 2 * r)
    if spot is None:
        return []
    cx, cy = spots.world(*spot)
    return [Sphere((cx, cy, spots.top.z + r), r, [Part(C.OBJECT, _fruit_material(rng))])]


def _desk_lamp(rng: np.random.Generator, spots: _Spots, lights: List[Light]) -> List[Primitive]:
    """Build a lamp (base, pole, arm, glowing shade); add its warm light to `lights`."""
    spot = spots.find(rng, 0.16, 0.16, (0.0, 1.0))
    if spot is None:
        return []
    cx, cy = spots.world(*spot)
    z = spots.top.z
    body = Part(C.OBJECT, metal(rng) if rng.uniform() < 0.5 else plastic(rng))
    glow = Part(C.OBJECT, Material('plain', ((1.0, 0.95, 0.85),), scale=0.1, seed=_seed(rng),
                                   emission=float(rng.uniform(2.0, 4.0))))
    pole = float(rng.uniform(0.3, 0.45))
    # The arm reaches towards the front of the top.
    front = spots.top.yaw - math.pi / 2
    reach = float(rng.uniform(0.15, 0.3))
    tip = (cx + reach * math.cos(front), cy + reach * math.sin(front), z + pole - 0.05)
    shade_r = float(rng.uniform(0.05, 0.08))
    power = float(rng.uniform(0.2, 0.6))
    tint = colour_temperature(float(rng.uniform(2700, 3500)))
    lights.append(Light('point', (tip[0], tip[1], tip[2] - 0.08),
                        (power * tint[0], power * tint[1], power * tint[2]), shadows=False))
    return [Cylinder((cx, cy, z + 0.01), 0.07, 0.01, [body]),
            rod((cx, cy, z + 0.02), (cx, cy, z + pole), 0.01, [body]),
            rod((cx, cy, z + pole), tip, 0.008, [body]),
            Cylinder((tip[0], tip[1], tip[2] - 0.03), shade_r, 0.04, [body, glow], cap_part=1)]


SMALL_THINGS: Tuple[Callable[[np.random.Generator, _Spots], List[Primitive]], ...] = (
    _books, _mug, _bottle, _can, _box, _dish, _fruit)


def _things_on(rng: np.random.Generator, spots: _Spots, count: int) -> List[Primitive]:
    prims: List[Primitive] = []
    for _ in range(count):
        prims.extend(SMALL_THINGS[int(rng.integers(len(SMALL_THINGS)))](rng, spots))
    return prims


# Settings ---------------------------------------------------------------------------------

@dataclasses.dataclass
class _Setting:
    """What a setting built: its primitives, the point the camera looks at, where it may be."""

    prims: List[Primitive]
    target: Point3
    facing: float  # direction (radians) from the target towards where the camera may stand
    spread: float  # the camera stands within facing +- spread
    low: float = 0.45  # probability of a low (0.2-0.6 m) camera
    keep_in: Optional[Rect] = None  # the camera must stand inside this floor rectangle
    lights: List[Light] = dataclasses.field(default_factory=list)


def _free_wall(rng: np.random.Generator, plan: RoomPlan, layout: _Layout,
               door_spans: Sequence[Tuple[int, float, float]], w: float, dp: float
               ) -> Optional[Tuple[Tuple[float, float], float, float]]:
    """Return (centre, yaw, width) of a free spot against a wall, clear of doors."""
    for _ in range(12):
        wall = int(rng.integers(4))
        span = (plan.width, plan.length)[1 - wall // 2]
        width = min(w, span - 0.1)
        pos = float(rng.uniform(width / 2 + 0.02, span - width / 2 - 0.02))
        if any(s == wall and pos - width / 2 < b + 0.1 and a - 0.1 < pos + width / 2
               for s, a, b in door_spans):
            continue
        centre, yaw = wall_spot(plan, wall, pos, dp)
        rect = _footprint(centre, yaw, width, dp)
        if layout.free(rect):
            layout.rects.append(rect)
            return centre, yaw, width
    return None


def _facing(yaw: float) -> float:
    """Return the direction a piece against a wall faces (its local -y)."""
    return yaw - math.pi / 2


def _desk(rng: np.random.Generator, plan: RoomPlan, layout: _Layout,
          door_spans: Sequence[Tuple[int, float, float]]) -> Optional[_Setting]:
    """Build a desk against a wall or a table in the room, with things on it."""
    lights: List[Light] = []
    if rng.uniform() < 0.7:
        w, dp = float(rng.uniform(1.0, 1.8)), float(rng.uniform(0.6, 0.8))
        spot = _free_wall(rng, plan, layout, door_spans, w, dp)
        if spot is None:
            return None
        centre, yaw, w = spot
        prims, tops = _table(rng, centre, yaw, w, dp)
        top = tops[0]
        spots = _Spots(top)
        if rng.uniform() < 0.5:
            # A drawer pedestal under one end.
            side = 1 if rng.uniform() < 0.5 else -1
            px = side * (w / 2 - 0.25)
            prims.append(_piece_box(centre, yaw, (px - 0.2, -dp / 2 + 0.06, 0.0),
                                    (px + 0.2, dp / 2 - 0.04, top.z - 0.05),
                                    [Part(C.FURNITURE, paint(rng))]))
        if rng.uniform() < 0.7:
            prims.extend(_monitor(rng, spots))
            prims.extend(_keyboard(rng, spots))
        if rng.uniform() < 0.4:
            prims.extend(_laptop(rng, spots))
        if rng.uniform() < 0.4:
            prims.extend(_desk_lamp(rng, spots, lights))
        prims.extend(_things_on(rng, spots, int(rng.integers(2, 7))))
        if rng.uniform() < 0.6:
            chair_at = _local_point(centre, yaw, float(rng.uniform(-0.3, 0.3)) * w / 2,
                                    -dp / 2 - 0.1)
            rect = _footprint(chair_at, yaw, 0.5, 0.5)
            if layout.free(rect, margin=0.0):
                layout.rects.append(rect)
                prims.extend(_chair(rng, chair_at, yaw + math.pi + float(rng.uniform(-0.4, 0.4)),
                                    Part(C.FURNITURE, wood(rng) if rng.uniform() < 0.5
                                         else plastic(rng))))
        tx, ty = _local_point(centre, yaw, float(rng.uniform(-0.35, 0.35)) * w,
                              float(rng.uniform(-0.9, 0.3)) * top.half_d)
        return _Setting(prims, (tx, ty, top.z), _facing(yaw), math.radians(65), lights=lights)
    # A free-standing (dining, meeting, coffee) table.
    round_table = rng.uniform() < 0.35
    coffee = not round_table and rng.uniform() < 0.3
    w = 1.2 if round_table else float(rng.uniform(0.8, 1.8))
    dp = 1.2 if round_table else float(rng.uniform(0.6, 1.0))
    cx = float(rng.uniform(0.3 + w / 2, max(0.31 + w / 2, plan.width - 0.3 - w / 2)))
    cy = float(rng.uniform(0.3 + w / 2, max(0.31 + w / 2, plan.length - 0.3 - w / 2)))
    yaw = float(rng.uniform(0, math.pi))
    rect = _footprint((cx, cy), yaw, w, dp)
    if not layout.free(rect):
        return None
    layout.rects.append(rect)
    if round_table:
        prims, tops = _round_table(rng, (cx, cy))
    else:
        prims, tops = _table(rng, (cx, cy), yaw, w, dp,
                             height=float(rng.uniform(0.4, 0.48)) if coffee else None)
    spots = _Spots(tops[0])
    if rng.uniform() < 0.3:
        prims.extend(_laptop(rng, spots))
    prims.extend(_things_on(rng, spots, int(rng.integers(2, 8))))
    return _Setting(prims, (cx, cy, tops[0].z), float(rng.uniform(-math.pi, math.pi)), math.pi)


def _book_row(rng: np.random.Generator, spots: _Spots, gap: float) -> List[Primitive]:
    """Books standing upright side by side, spines to the front."""
    widths = rng.uniform(0.015, 0.06, int(rng.integers(3, 13)))
    widths = widths[np.cumsum(widths + 0.002) <= 2 * spots.top.half_w]
    total = float((widths + 0.002).sum())
    if not widths.size:
        return []
    x = float(rng.uniform(-spots.top.half_w, spots.top.half_w - total))
    prims: List[Primitive] = []
    lean = rng.uniform() < 0.3
    for width in widths:
        h = float(rng.uniform(0.55, 0.92)) * gap
        d = float(rng.uniform(0.12, max(0.121, min(0.26, 2 * spots.top.half_d - 0.03))))
        y = -spots.top.half_d + d / 2 + float(rng.uniform(0.0, 0.03))
        cover = Part(C.OBJECT, paper(rng))
        pages = Part(C.OBJECT, Material('plain', ((0.93, 0.92, 0.86),), scale=0.05,
                                        seed=_seed(rng)))
        prims.append(_standing_box(spots, x + width / 2, y, float(width), d, h, [cover, pages],
                                   face_parts=(1, 1, 0, 1, 1, 1)))
        x += float(width) + (0.002 if not lean else 0.0)
    spots.rects.append((-spots.top.half_w, -spots.top.half_d, x, spots.top.half_d))
    return prims


def _shelf(rng: np.random.Generator, plan: RoomPlan, layout: _Layout,
           door_spans: Sequence[Tuple[int, float, float]]) -> Optional[_Setting]:
    """Build a bookcase with boards or a cube shelf (a grid of compartments), and contents."""
    cubes = rng.uniform() < 0.35
    if cubes:
        cols, rows = int(rng.integers(2, 5)), int(rng.integers(1, 5))
        cell, board = 0.33, 0.03
        w, h, dp = cols * (cell + board) + board, rows * (cell + board) + board, 0.39
    else:
        w, dp = float(rng.uniform(0.6, 1.6)), float(rng.uniform(0.25, 0.4))
        h = float(rng.uniform(0.8, 2.1))
    spot = _free_wall(rng, plan, layout, door_spans, w, dp)
    if spot is None:
        return None
    centre, yaw, w_fit = spot
    if w_fit < w - 1e-9:
        if cubes:
            return None
        w = w_fit
    body = Part(C.FURNITURE, wood(rng) if rng.uniform() < 0.5 else paint(rng))
    prims: List[Primitive] = []
    lifts: List[Tuple[float, float, float, float, float]] = []  # (x, z, half_w, half_d, gap)
    if cubes:
        grid = RecessGrid(face=2, u0=-w / 2 + board, v0=board, pitch_u=cell + board,
                          pitch_v=cell + board, count_u=cols, count_v=rows, size_u=cell,
                          size_v=cell, depth=dp - 0.02, back=0, side=0)
        prims.append(Box((-w / 2, -dp / 2, 0.0), (w / 2, dp / 2, h), [body],
                         origin=(centre[0], centre[1], 0.0), rotation=yaw_rotation(yaw),
                         grid=grid))
        for i in range(cols):
            for j in range(rows):
                lifts.append((-w / 2 + board + i * (cell + board) + cell / 2,
                              board + j * (cell + board), cell / 2 - 0.01, (dp - 0.02) / 2 - 0.01,
                              cell))
        back_y = -dp / 2 + (dp - 0.02) / 2
    else:
        t = 0.02
        boards = max(2, int(h / float(rng.uniform(0.3, 0.42))))
        plinth = 0.06
        gap = (h - plinth - t) / boards
        prims.extend([
            _piece_box(centre, yaw, (-w / 2, -dp / 2, 0.0), (-w / 2 + t, dp / 2, h), [body]),
            _piece_box(centre, yaw, (w / 2 - t, -dp / 2, 0.0), (w / 2, dp / 2, h), [body]),
            _piece_box(centre, yaw, (-w / 2 + t, dp / 2 - 0.01, 0.0), (w / 2 - t, dp / 2, h),
                       [body]),
            _piece_box(centre, yaw, (-w / 2 + t, -dp / 2 + 0.02, 0.0),
                       (w / 2 - t, dp / 2 - 0.01, plinth), [body]),
        ])
        for k in range(boards + 1):
            z = plinth + k * gap
            prims.append(_piece_box(centre, yaw, (-w / 2 + t, -dp / 2, z),
                                    (w / 2 - t, dp / 2 - 0.01, z + t), [body]))
            if k < boards:
                lifts.append((0.0, z + t, w / 2 - t - 0.01, (dp - 0.01) / 2 - 0.01, gap - t))
        back_y = -0.005
    for x, z, half_w, half_d, gap in lifts:
        if rng.uniform() < 0.15:
            continue
        top_centre = _local_point(centre, yaw, x, back_y)
        spots = _Spots(_Top(top_centre, yaw, half_w, half_d, z))
        choice = rng.uniform()
        if choice < 0.5:
            prims.extend(_book_row(rng, spots, gap))
        elif choice < 0.7 and cubes:
            # A fabric storage bin filling the cube.
            prims.append(_standing_box(spots, 0.0, 0.0, 2 * half_w - 0.01, 2 * half_d - 0.01,
                                       gap - 0.03, [Part(C.OBJECT, fabric(rng))]))
            continue
        limit = max(0.06, gap - 0.03)
        for _ in range(int(rng.integers(1, 4))):
            new = SMALL_THINGS[int(rng.integers(len(SMALL_THINGS)))](rng, spots)
            if new and max(p.corners()[:, 2].max() for p in new) - z <= limit:
                prims.extend(new)
    target_lift = lifts[int(rng.integers(len(lifts)))]
    tx, ty = _local_point(centre, yaw, target_lift[0] + float(rng.uniform(-0.5, 0.5))
                          * target_lift[2], -dp / 2)
    tz = target_lift[1] + 0.5 * target_lift[4]
    return _Setting(prims, (tx, ty, tz), _facing(yaw), math.radians(60))


def _kitchen(rng: np.random.Generator, plan: RoomPlan, layout: _Layout,
             door_spans: Sequence[Tuple[int, float, float]]) -> Optional[_Setting]:
    """Build base cabinets under a worktop, wall cabinets, a fridge, appliances, things."""
    dp = 0.6
    length = float(rng.uniform(1.6, 4.0))
    spot = _free_wall(rng, plan, layout, door_spans, length, dp)
    if spot is None:
        return None
    centre, yaw, length = spot
    height = float(rng.uniform(0.86, 0.93))
    plinth = 0.1
    front = Part(C.FURNITURE, paint(rng, specular=0.3) if rng.uniform() < 0.7 else wood(rng))
    worktop_material = _pick(rng, [
        wood(rng, plank=0.04),
        Material('noise', (_jitter(rng, (0.85, 0.84, 0.8)), _jitter(rng, (0.55, 0.55, 0.55))),
                 scale=float(rng.uniform(0.02, 0.1)), seed=_seed(rng), specular=0.4,
                 shininess=90.0),
        Material('plain', (_jitter(rng, (0.15, 0.15, 0.16)),), scale=0.2, seed=_seed(rng),
                 specular=0.5, shininess=120.0)])
    worktop = Part(C.FURNITURE, worktop_material)
    steel = Part(C.FURNITURE, metal(rng))
    glass = Part(C.FURNITURE, Material('plain', ((0.05, 0.05, 0.06),), scale=0.2,
                                       seed=_seed(rng), specular=0.8, shininess=200.0))
    prims: List[Primitive] = []
    x = -length / 2
    fridge = rng.uniform() < 0.5 and length > 2.2
    if fridge:
        fw = float(rng.uniform(0.55, 0.7))
        side = 1 if rng.uniform() < 0.5 else -1
        fx = side * (length / 2 - fw / 2)
        fridge_part = Part(C.FURNITURE, metal(rng) if rng.uniform() < 0.5 else plastic(
            rng, [(0.95, 0.95, 0.95), (0.85, 0.86, 0.88)]))
        fh = float(rng.uniform(1.7, 2.0))
        prims.append(_piece_box(centre, yaw, (fx - fw / 2, -dp / 2 - 0.05, 0.0),
                                (fx + fw / 2, dp / 2, fh), [fridge_part]))
        handle_x, handle_y = _local_point(centre, yaw, fx - side * (fw / 2 - 0.06), -dp / 2 - 0.08)
        prims.append(Cylinder((handle_x, handle_y, 0.5 * fh + 0.3), 0.012, 0.25, [steel]))
        lo, hi = ((-length / 2, length / 2 - fw - 0.01) if side > 0
                  else (-length / 2 + fw + 0.01, length / 2))
        x = lo
        run = hi - lo
    else:
        run = length
    # Base cabinet sections; their tops are the worktop (one continuous texture).
    uv = (-length / 2, -dp / 2, 0.0)
    sink_done = oven_done = False
    end = x + run
    while end - x > 0.3:
        sw = min(float(rng.uniform(0.4, 0.9)), end - x)
        if end - x - sw < 0.3:
            sw = end - x
        kind = rng.uniform()
        recesses: List[Recess] = []
        grid = None
        if not oven_done and kind < 0.3 and sw >= 0.58:
            oven_done = True
            recesses.append(Recess(2, (x + 0.04, -dp / 2 - 0.01, plinth + 0.08),
                                   (x + sw - 0.04, -dp / 2 + 0.03, height - 0.2), 1, 2))
        else:
            doors = max(1, int(round(sw / 0.45)))
            pitch = sw / doors
            drawers = rng.uniform() < 0.4
            rows = 3 if drawers else 1
            pitch_v = (height - 0.04 - plinth - 0.01) / rows
            grid = RecessGrid(face=2, u0=x + 0.01, v0=plinth + 0.01, pitch_u=pitch,
                              pitch_v=pitch_v, count_u=doors, count_v=rows, size_u=pitch - 0.02,
                              size_v=pitch_v - 0.02, depth=0.008, back=0, side=0)
        if not sink_done and kind > 0.6 and sw >= 0.5:
            sink_done = True
            recesses.append(Recess(5, (x + 0.06, -dp / 2 + 0.08, height - 0.18),
                                   (x + sw - 0.06, dp / 2 - 0.1, height + 0.01), 2, 2))
        box = Box((x, -dp / 2, plinth), (x + sw, dp / 2, height),
                  [front, glass, steel, worktop], face_parts=(0, 0, 0, 0, 0, 3),
                  origin=(centre[0], centre[1], 0.0), rotation=yaw_rotation(yaw),
                  recesses=recesses, grid=grid, uv_origin=uv)
        prims.append(box)
        prims.append(_piece_box(centre, yaw, (x + 0.01, -dp / 2 + 0.06, 0.0),
                                (x + sw - 0.01, dp / 2, plinth), [Part(C.FURNITURE,
                                                                       paint(rng))]))
        x += sw
    run_centre_x = (end - run + end) / 2
    top_centre = _local_point(centre, yaw, run_centre_x, 0.0)
    spots = _Spots(_Top(top_centre, yaw, run / 2 - 0.02, dp / 2 - 0.04, height))
    # Splashback tiles and wall cabinets above the worktop.
    wall_part = Part(C.WALL, Material('tiles', (_jitter(rng, _pick(rng, CERAMIC_COLOURS)),
                                                (0.7, 0.7, 0.68)),
                                      scale=float(rng.uniform(0.1, 0.2)), seed=_seed(rng),
                                      param=0.003, specular=0.4, shininess=80.0))
    top_edge = min(plan.height - 0.05, 2.2)
    lo_x, hi_x = end - run, end
    wall_cabinets = rng.uniform() < 0.75
    cz = float(rng.uniform(1.4, 1.55))
    prims.append(_piece_box(centre, yaw, (lo_x, dp / 2 - 0.01, height),
                            (hi_x, dp / 2 + 0.015, cz), [wall_part]))
    if wall_cabinets:
        cd = 0.33
        doors = max(1, int(round(run / 0.5)))
        pitch = run / doors
        grid = RecessGrid(face=2, u0=lo_x + 0.01, v0=cz + 0.01, pitch_u=pitch,
                          pitch_v=top_edge - cz, count_u=doors, count_v=1, size_u=pitch - 0.02,
                          size_v=top_edge - cz - 0.02, depth=0.008, back=0, side=0)
        prims.append(Box((lo_x, dp / 2 - cd, cz), (hi_x, dp / 2, top_edge), [front],
                         origin=(centre[0], centre[1], 0.0), rotation=yaw_rotation(yaw),
                         grid=grid))
    # Appliances and things on the worktop.
    if rng.uniform() < 0.5:
        mw, md, mh = float(rng.uniform(0.45, 0.55)), 0.36, float(rng.uniform(0.26, 0.32))
        spot2 = spots.find(rng, mw, md, (0.0, 1.0))
        if spot2 is not None:
            door = Recess(2, (-mw / 2 + 0.03, -md / 2 - 0.01, 0.04),
                          (mw / 2 - 0.12, -md / 2 + 0.015, mh - 0.04), 1, 0)
            cx, cy = spots.world(*spot2)
            prims.append(Box((-mw / 2, -md / 2, 0.0), (mw / 2, md / 2, mh),
                             [Part(C.OBJECT, metal(rng) if rng.uniform() < 0.5
                                   else plastic(rng)), Part(C.OBJECT, glass.material)],
                             origin=(cx, cy, height), rotation=yaw_rotation(yaw),
                             recesses=[door]))
    if rng.uniform() < 0.6:
        spot2 = spots.find(rng, 0.18, 0.18)
        if spot2 is not None:
            cx, cy = spots.world(*spot2)
            kettle = Part(C.OBJECT, metal(rng) if rng.uniform() < 0.5 else plastic(rng))
            prims.append(Cylinder((cx, cy, height + 0.012), 0.09, 0.012, [kettle]))
            prims.append(Cylinder((cx, cy, height + 0.024 + 0.1), 0.075, 0.1, [kettle]))
    if rng.uniform() < 0.4:
        spot2 = spots.find(rng, 0.4, 0.28)
        if spot2 is not None:
            prims.append(_standing_box(spots, *spot2, 0.4, 0.28, 0.02,
                                       [Part(C.OBJECT, wood(rng, plank=0.3))],
                                       float(rng.uniform(-0.3, 0.3))))
    prims.extend(_things_on(rng, spots, int(rng.integers(2, 7))))
    if rng.uniform() < 0.5:
        tx, ty = spots.world(float(rng.uniform(-0.8, 0.8)) * spots.top.half_w,
                             float(rng.uniform(-0.9, 0.2)) * spots.top.half_d)
        target = (tx, ty, height)
    else:
        tx, ty = spots.world(float(rng.uniform(-0.8, 0.8)) * spots.top.half_w, -dp / 2)
        target = (tx, ty, float(rng.uniform(0.2, height)))
    return _Setting(prims, target, _facing(yaw), math.radians(65))


def _clutter_item(rng: np.random.Generator, x: float, y: float) -> Tuple[List[Primitive], float]:
    """One thing on the floor at (x, y): its primitives and footprint radius."""
    kind = rng.uniform()
    yaw = float(rng.uniform(-math.pi, math.pi))
    rotation = yaw_rotation(yaw)
    if kind < 0.2:
        w, d, h = (float(v) for v in (rng.uniform(0.2, 0.6), rng.uniform(0.2, 0.5),
                                      rng.uniform(0.15, 0.5)))
        return [Box((-w / 2, -d / 2, 0.0), (w / 2, d / 2, h), [Part(C.OBJECT, cardboard(rng))],
                    origin=(x, y, 0.0), rotation=rotation)], 0.5 * math.hypot(w, d)
    if kind < 0.32:
        # A bag: a soft body and a handle.
        w, d, h = (float(v) for v in (rng.uniform(0.3, 0.5), rng.uniform(0.15, 0.25),
                                      rng.uniform(0.25, 0.45)))
        part = Part(C.OBJECT, fabric(rng))
        ends = [(x + c * w / 3 * math.cos(yaw), y + c * w / 3 * math.sin(yaw), h) for c in (-1, 1)]
        return [Box((-w / 2, -d / 2, 0.0), (w / 2, d / 2, h), [part], origin=(x, y, 0.0),
                    rotation=rotation),
                rod(ends[0], (x, y, h + 0.12), 0.012, [part]),
                rod((x, y, h + 0.12), ends[1], 0.012, [part])], 0.5 * math.hypot(w, d)
    if kind < 0.45:
        # A pair of shoes: sole and upper of each.
        prims: List[Primitive] = []
        part = Part(C.OBJECT, plastic(rng, [(0.1, 0.1, 0.1), (0.9, 0.9, 0.9), (0.4, 0.25, 0.15),
                                            (0.2, 0.3, 0.6)]))
        sole = Part(C.OBJECT, plastic(rng, [(0.9, 0.9, 0.88), (0.15, 0.15, 0.15)]))
        for side in (-1, 1):
            sx, sy = x + side * 0.07 * -math.sin(yaw), y + side * 0.07 * math.cos(yaw)
            shoe_yaw = yaw + float(rng.uniform(-0.3, 0.3))
            prims.append(Box((-0.14, -0.045, 0.0), (0.14, 0.045, 0.025), [sole],
                             origin=(sx, sy, 0.0), rotation=yaw_rotation(shoe_yaw)))
            prims.append(Box((-0.13, -0.04, 0.025), (0.1, 0.04, 0.085), [part],
                             origin=(sx, sy, 0.0), rotation=yaw_rotation(shoe_yaw)))
        return prims, 0.25
    if kind < 0.62:
        # Toys: a ball, blocks or a toy car.
        part = Part(C.OBJECT, plastic(rng))
        toy = rng.uniform()
        if toy < 0.4:
            r = float(rng.uniform(0.04, 0.15))
            return [Sphere((x, y, r), r, [part])], r
        if toy < 0.7:
            prims = []
            for _ in range(int(rng.integers(2, 6))):
                s = float(rng.uniform(0.03, 0.07))
                bx, by = x + float(rng.uniform(-0.15, 0.15)), y + float(rng.uniform(-0.15, 0.15))
                prims.append(Box((-s / 2, -s / 2, 0.0), (s / 2, s / 2, s),
                                 [Part(C.OBJECT, plastic(rng))], origin=(bx, by, 0.0),
                                 rotation=yaw_rotation(float(rng.uniform(0, math.pi)))))
            return prims, 0.22
        length = float(rng.uniform(0.12, 0.3))
        prims = [Box((-length / 2, -0.05, 0.025), (length / 2, 0.05, 0.09), [part],
                     origin=(x, y, 0.0), rotation=rotation)]
        tyre = Part(C.OBJECT, plastic(rng, [(0.08, 0.08, 0.08)]))
        for u in (-0.35 * length, 0.35 * length):
            for v in (-0.055, 0.055):
                wx, wy = _local_point((x, y), yaw, u, v)
                prims.append(Cylinder((wx, wy, 0.025), 0.025, 0.01, [tyre],
                                      rotation=axis_rotation((-math.sin(yaw), math.cos(yaw), 0))))
        return prims, math.hypot(0.5 * length, 0.08)
    if kind < 0.75:
        r, h = float(rng.uniform(0.12, 0.2)), float(rng.uniform(0.25, 0.45))
        return [Cylinder((x, y, h / 2), r, h / 2, [Part(C.OBJECT, plastic(rng))])], r
    if kind < 0.88:
        # A cable lying on the floor: a few straight pieces.
        prims = []
        r = float(rng.uniform(0.003, 0.007))
        part = Part(C.OBJECT, plastic(rng, [(0.1, 0.1, 0.1), (0.9, 0.9, 0.9), (0.3, 0.3, 0.3)]))
        point = (x, y, r)
        heading = yaw
        reach = 0.0
        for _ in range(int(rng.integers(2, 5))):
            heading += float(rng.uniform(-0.8, 0.8))
            step = float(rng.uniform(0.15, 0.4))
            nxt = (point[0] + step * math.cos(heading), point[1] + step * math.sin(heading), r)
            prims.append(rod(point, nxt, r, [part]))
            point = nxt
            reach = max(reach, math.hypot(nxt[0] - x, nxt[1] - y))
        return prims, reach
    # A stack of books or magazines.
    w, d = float(rng.uniform(0.15, 0.3)), float(rng.uniform(0.12, 0.22))
    prims = []
    z = 0.0
    for _ in range(int(rng.integers(1, 6))):
        h = float(rng.uniform(0.01, 0.05))
        prims.append(Box((-w / 2, -d / 2, z), (w / 2, d / 2, z + h), [Part(C.OBJECT, paper(rng))],
                         origin=(x, y, 0.0),
                         rotation=yaw_rotation(yaw + float(rng.uniform(-0.3, 0.3)))))
        z += h
    return prims, 0.5 * math.hypot(w, d)


def _floor(rng: np.random.Generator, plan: RoomPlan, layout: _Layout,
           door_spans: Sequence[Tuple[int, float, float]]) -> Optional[_Setting]:
    """Things on the floor around a target point, chair and table legs, seen from low down."""
    tx = float(rng.uniform(0.6, plan.width - 0.6))
    ty = float(rng.uniform(0.6, plan.length - 0.6))
    prims: List[Primitive] = []
    if rng.uniform() < 0.5:
        # A table with chairs near the target: legs to look through.
        w, dp = float(rng.uniform(0.8, 1.6)), float(rng.uniform(0.6, 0.9))
        yaw = float(rng.uniform(0, math.pi))
        cx = tx + float(rng.uniform(-0.8, 0.8))
        cy = ty + float(rng.uniform(-0.8, 0.8))
        rect = _footprint((cx, cy), yaw, w + 0.3, dp + 0.3)
        if layout.free(rect):
            layout.rects.append(rect)
            new, _ = _table(rng, (cx, cy), yaw, w, dp)
            prims.extend(new)
            part = Part(C.FURNITURE, wood(rng) if rng.uniform() < 0.6 else paint(rng))
            for side in (-1, 1):
                if rng.uniform() < 0.7:
                    at = _local_point((cx, cy), yaw, float(rng.uniform(-0.3, 0.3)) * w,
                                      side * (dp / 2 + 0.05))
                    prims.extend(_chair(rng, at, yaw + (0.0 if side > 0 else math.pi)
                                        + float(rng.uniform(-0.4, 0.4)), part))
    return _Setting(prims, (tx, ty, 0.0), float(rng.uniform(-math.pi, math.pi)), math.pi,
                    low=0.7)


def _scatter(rng: np.random.Generator, plan: RoomPlan, layout: _Layout, target: Point3,
             camera: Point3, count: int) -> List[Primitive]:
    """Scatter `count` floor things within 1.5 m of the target, clear of the camera and layout."""
    prims: List[Primitive] = []
    placed: List[Tuple[float, float, float]] = []
    for i in range(2 * count):
        if len(placed) >= count:
            break
        if i == 0:
            x, y = target[0], target[1]
        else:
            x = target[0] + float(rng.uniform(-1.5, 1.5))
            y = target[1] + float(rng.uniform(-1.5, 1.5))
        new, radius = _clutter_item(rng, x, y)
        reach = radius + 0.05
        rect = (x - reach, y - reach, x + reach, y + reach)
        if not (0.05 < rect[0] and rect[2] < plan.width - 0.05 and 0.05 < rect[1]
                and rect[3] < plan.length - 0.05):
            continue
        if math.hypot(x - camera[0], y - camera[1]) < radius + 2 * CAMERA_CLEARANCE:
            continue
        if any(math.hypot(x - px, y - py) < reach + pr for px, py, pr in placed):
            continue
        if any(_overlaps(rect, r) for r in layout.rects):
            continue
        placed.append((x, y, reach))
        prims.extend(new)
    return prims


def _overlaps(a: Rect, b: Rect) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _draw_height(rng: np.random.Generator, low: float) -> float:
    """Draw a camera height: low robot (0.2-0.6 m), arm (0.6-1.2 m) or head (1.2-1.8 m)."""
    choice = rng.uniform()
    if choice < low:
        return float(rng.uniform(HEIGHT[0], 0.6))
    if choice < low + 0.55 * (1 - low):
        return float(rng.uniform(0.6, 1.2))
    return float(rng.uniform(1.2, HEIGHT[1]))


def _place_camera(rng: np.random.Generator, setting: _Setting, plan: RoomPlan,
                  rects: Sequence[Rect]) -> Tuple[Point3, float]:
    """
    Return a camera position and its distance to the target.

    The camera stands outside every footprint in `rects` and at least CAMERA_CLEARANCE from the
    setting's primitives.
    """
    tx, ty, tz = setting.target
    area = setting.keep_in or (WALL_MARGIN, WALL_MARGIN, plan.width - WALL_MARGIN,
                               plan.length - WALL_MARGIN)
    grown = [_grow(r, CAMERA_CLEARANCE + 0.05) for r in rects]
    for _ in range(40):
        h = _draw_height(rng, setting.low)
        dz = h - tz
        lo = max(DISTANCE[0], abs(dz) + 0.15)
        distance = lo + (DISTANCE[1] - lo) * float(rng.uniform()) ** 1.5
        flat = math.sqrt(max(distance ** 2 - dz ** 2, 0.0))
        angle = setting.facing + float(rng.uniform(-setting.spread, setting.spread))
        x, y = tx + flat * math.cos(angle), ty + flat * math.sin(angle)
        if (_inside(area, x, y) and not any(_inside(r, x, y) for r in grown)
                and clearance(setting.prims, (x, y, h)) >= CAMERA_CLEARANCE):
            return (x, y, h), distance
    # Fallback: straight out from the target at its height, as far as the free floor allows.
    h = min(max(tz, HEIGHT[0]), HEIGHT[1])
    for flat in np.arange(0.3, 2.9, 0.1):
        x = tx + flat * math.cos(setting.facing)
        y = ty + flat * math.sin(setting.facing)
        if (_inside(area, x, y) and not any(_inside(r, x, y) for r in grown)
                and clearance(setting.prims, (x, y, h)) >= CAMERA_CLEARANCE):
            break
    return (x, y, h), math.sqrt(flat ** 2 + (h - tz) ** 2)


def _sight_points(camera: Point3, target: Point3) -> np.ndarray:
    """Return floor points along the sight line (from the camera to 0.4 m short of the target)."""
    start, end = np.asarray(camera[:2]), np.asarray(target[:2])
    length = float(np.linalg.norm(end - start))
    steps = np.arange(0.0, max(length - 0.4, 0.0) + 1e-9, 0.25)
    if length < 1e-9:
        return start[None]
    return start + (end - start)[None] * (steps / length)[:, None]


def _lights(rng: np.random.Generator, plan: RoomPlan, focus: Point3, windows: Sequence[Recess],
            extra: Sequence[Light], ceiling_lights: Tuple[int, int] = (1, 2),
            x_range: Optional[Tuple[float, float]] = None,
            y_range: Optional[Tuple[float, float]] = None) -> Tuple[Lighting, List[Primitive]]:
    """
    Ceiling lights (the main one near the focus, with shadows), daylight from a window.

    ceiling_lights is the (least, most) number of ceiling lights.

    Light colours follow a colour temperature: warm (2700-3500 K), neutral (3500-5000 K) or cool
    (5000-6500 K); the ambient term follows the main light's colour.
    """
    kelvin = float(_pick(rng, [rng.uniform(2700, 3500), rng.uniform(3500, 5000),
                               rng.uniform(5000, 6500)]))
    tint = colour_temperature(kelvin)
    x_lo, x_hi = x_range or (0.3, plan.width - 0.3)
    y_lo, y_hi = y_range or (0.3, plan.length - 0.3)
    main = float(rng.uniform(2.0, 5.0))
    lights: List[Light] = []
    prims: List[Primitive] = []
    for i in range(int(rng.integers(ceiling_lights[0], ceiling_lights[1] + 1))):
        if i == 0:
            x = float(np.clip(focus[0] + rng.uniform(-1.2, 1.2), x_lo, x_hi))
            y = float(np.clip(focus[1] + rng.uniform(-1.2, 1.2), y_lo, y_hi))
        else:
            x, y = float(rng.uniform(x_lo, x_hi)), float(rng.uniform(y_lo, y_hi))
        z = plan.height - float(rng.uniform(0.15, 0.4))
        power = main * (1.0 if i == 0 else float(rng.uniform(0.3, 0.8)))
        lights.append(Light('point', (x, y, z), tuple(power * c for c in tint), shadows=i == 0))
        prims.append(lamp_shade(rng, x, y, z, plan.height))
    if windows and rng.uniform() < 0.6:
        # Daylight: a bright, cool light just inside a window.
        window = windows[int(rng.integers(len(windows)))]
        axis, side = divmod(window.face, 2)
        centre = [0.5 * (window.lo[k] + window.hi[k]) for k in range(3)]
        extent = (plan.width, plan.length)[axis]
        centre[axis] = extent - 0.4 if side else 0.4
        day = colour_temperature(float(rng.uniform(5500, 7500)))
        power = float(rng.uniform(2.0, 6.0))
        lights.append(Light('point', tuple(centre), tuple(power * c for c in day),
                            shadows=False))
    lights.extend(extra)
    ambient = float(rng.uniform(0.08, 0.3)) * main / 4.0
    lighting = Lighting(tuple(lights), tuple(ambient * c for c in tint),
                        tuple(ambient * 0.55 * c for c in tint))
    return lighting, prims


def _room(rng: np.random.Generator, setting_name: str) -> Tuple[Scene, CameraPose, float, dict]:
    """Build a room around one setting (desk, shelf, kitchen or floor) and place the camera."""
    plan = draw_room_plan(rng)
    room, parts, recesses, door_spans = room_shell(rng, plan)
    layout = _Layout(plan, np.zeros((0, 2)), 0.0)
    build = {'desk': _desk, 'shelf': _shelf, 'kitchen': _kitchen, 'floor': _floor}[setting_name]
    setting = None
    for _ in range(4):
        setting = build(rng, plan, layout, door_spans)
        if setting is not None:
            break
    if setting is None:
        # Nothing fitted (a tiny room full of doors): look at the floor.
        setting = _Setting([], (plan.width / 2, plan.length / 2, 0.0), 0.0, math.pi, low=0.7)
    camera, distance = _place_camera(rng, setting, plan, layout.rects)
    # Everything else keeps clear of the camera and of the line of sight.
    layout.keep_clear = _sight_points(camera, setting.target)
    layout.clearance = 0.35
    prims: List[Primitive] = [room] + setting.prims
    more, tops = wall_furniture(rng, plan, layout, door_spans, int(rng.integers(1, 5)))
    prims.extend(more)
    for top in tops:
        if rng.uniform() < 0.7:
            prims.extend(_things_on(rng, _Spots(top), int(rng.integers(1, 4))))
    if setting_name == 'floor':
        prims.extend(_scatter(rng, plan, layout, setting.target, camera,
                              int(rng.integers(4, 13))))
    elif rng.uniform() < 0.4:
        prims.extend(_scatter(rng, plan, layout, (camera[0], camera[1], 0.0), camera,
                              int(rng.integers(1, 4))))
    if rng.uniform() < 0.3:
        rug = _rug(rng, plan, layout)
        prims.extend(rug)
    windows = [r for r in recesses if parts[r.back].label == C.WINDOW]
    lighting, lamps = _lights(rng, plan, setting.target, windows, setting.lights)
    prims.extend(lamps)
    info = {'room': dataclasses.asdict(plan),
            'doors': sum(1 for r in recesses if parts[r.back].label == C.DOOR),
            'windows': len(windows)}
    pose = _aim(rng, camera, setting.target)
    scene = Scene('robot', _clear_camera(prims, camera, keep=1 + len(setting.prims)), lighting,
                  None, info)
    return scene, pose, distance, {'target_m': list(setting.target)}


def _corridor(rng: np.random.Generator) -> Tuple[Scene, CameraPose, float, dict]:
    """Build a corridor along x, side rooms behind its walls, open and closed doors, lights."""
    length = float(rng.uniform(6.0, 14.0))
    width = float(rng.uniform(1.2, 2.4))
    height = float(rng.uniform(2.4, 3.0))
    t = float(rng.uniform(0.1, 0.2))
    rooms = [float(rng.uniform(2.5, 4.0)) if rng.uniform() < 0.75 else 0.0 for _ in range(2)]
    y0 = rooms[0] + (t if rooms[0] else 0.0)
    y1 = y0 + width
    total = y1 + (t + rooms[1] if rooms[1] else 0.0)
    plan = RoomPlan(width=length, length=total, height=height)
    floor = Part(C.FLOOR, _floor_material(rng))
    ceiling = Part(C.CEILING, Material('noise', ((0.95, 0.95, 0.94), (0.88, 0.88, 0.87)),
                                       scale=1.0, seed=_seed(rng)))
    wall = Part(C.WALL, _wall_material(rng))
    frame = Part(C.DOOR, paint(rng, [(0.95, 0.95, 0.93), (0.85, 0.85, 0.85), (0.3, 0.3, 0.3)]))
    leaf = Part(C.DOOR, wood(rng, plank=0.3) if rng.uniform() < 0.5 else paint(rng))
    door_h = float(rng.uniform(2.0, 2.15))
    # Closed doors in the end walls of the corridor (recesses in the envelope).
    recesses = []
    for wall_face in (0, 1):
        if rng.uniform() < 0.5:
            dw = min(float(rng.uniform(0.8, 1.0)), width - 0.2)
            start = y0 + float(rng.uniform(0.1, width - dw - 0.1))
            plane = length if wall_face else 0.0
            out = 1.0 if wall_face else -1.0
            lo_x, hi_x = sorted((plane - 0.05 * out, plane + 0.08 * out))
            recesses.append(Recess(wall_face, (lo_x, start, 0.0), (hi_x, start + dw, door_h),
                                   4, 3))
    prims: List[Primitive] = []
    layout = _Layout(plan, np.zeros((0, 2)), 0.0)
    layout.rects.append((0.0, y0 - (t if rooms[0] else 0.0), length,
                         y1 + (t if rooms[1] else 0.0)))
    doors: List[Point3] = []  # door centres (on the corridor side), for targets
    sides = ((rooms[0], y0 - t, y0), (rooms[1], y1, y1 + t))
    for side, (room_depth, wy0, wy1) in enumerate(sides):
        face = 3 if side == 0 else 2  # the slab face towards the corridor
        wall_y = wy1 if side == 0 else wy0
        into_room = -1.0 if side == 0 else 1.0
        if not room_depth:
            # No rooms on this side: closed doors recessed into the envelope wall.
            for _ in range(int(rng.integers(0, 3))):
                dw = float(rng.uniform(0.8, 1.0))
                x0 = float(rng.uniform(0.3, length - dw - 0.3))
                if any(abs(x0 + dw / 2 - d[0]) < dw + 0.2 for d in doors):
                    continue
                lo_y, hi_y = sorted((wall_y - 0.05 * into_room, wall_y + 0.08 * into_room))
                recesses.append(Recess(2 if side == 0 else 3, (x0, lo_y, 0.0),
                                       (x0 + dw, hi_y, door_h), 4, 3))
                doors.append((x0 + dw / 2, wall_y, 1.0))
            continue
        # Walls between side rooms and the corridor: slab pieces between open doorways.
        openings: List[Tuple[float, float]] = []
        for _ in range(int(rng.integers(1, 4))):
            dw = float(rng.uniform(0.8, 1.0))
            x0 = float(rng.uniform(0.4, length - dw - 0.4))
            if all(x0 > b + 0.6 or a > x0 + dw + 0.6 for a, b in openings):
                openings.append((x0, x0 + dw))
        openings.sort()
        edges = [0.0] + [v for o in openings for v in o] + [length]
        for k in range(0, len(edges), 2):
            a, b = edges[k], edges[k + 1]
            piece_recesses = []
            if b - a > 1.6 and rng.uniform() < 0.6:
                dw = float(rng.uniform(0.8, 0.95))
                x0 = float(rng.uniform(a + 0.2, b - dw - 0.2))
                lo_y, hi_y = sorted((wall_y + 0.01 * -into_room, wall_y + 0.05 * into_room))
                piece_recesses.append(Recess(face, (x0, lo_y, 0.0), (x0 + dw, hi_y, door_h),
                                             2, 1))
                doors.append((x0 + dw / 2, wall_y, 1.0))
            prims.append(Box((a, wy0, 0.0), (b, wy1, height), [wall, frame, leaf],
                             face_parts=(0, 0, 0, 0, 0, 0), recesses=piece_recesses))
        for a, b in openings:
            # Lintel, frame and a door leaf swung into the side room.
            prims.append(Box((a, wy0, door_h), (b, wy1, height), [wall]))
            prims.append(Box((a - 0.05, wy0 - 0.01, 0.0), (a, wy1 + 0.01, door_h + 0.05),
                             [frame]))
            prims.append(Box((b, wy0 - 0.01, 0.0), (b + 0.05, wy1 + 0.01, door_h + 0.05),
                             [frame]))
            prims.append(Box((a - 0.05, wy0 - 0.01, door_h),
                             (b + 0.05, wy1 + 0.01, door_h + 0.05), [frame]))
            swing = math.radians(float(rng.uniform(60, 110)))
            hinge_x = a if rng.uniform() < 0.5 else b
            direction = 1.0 if hinge_x == a else -1.0
            far_y = wy0 if side == 0 else wy1
            dx, dy = direction * math.cos(swing), into_room * math.sin(swing)
            leaf_w = b - a - 0.01
            rotation = np.array([[dx, -dy, 0.0], [dy, dx, 0.0], [0.0, 0.0, 1.0]])
            prims.append(Box((0.0, -0.02, 0.0), (leaf_w, 0.02, door_h - 0.01), [leaf],
                             origin=(hinge_x + direction * 0.02, far_y + into_room * 0.03, 0.0),
                             rotation=rotation))
            ends = [(hinge_x, far_y), (hinge_x + dx * leaf_w, far_y + dy * leaf_w)]
            layout.rects.append((min(e[0] for e in ends) - 0.1, min(e[1] for e in ends) - 0.1,
                                 max(e[0] for e in ends) + 0.1, max(e[1] for e in ends) + 0.1))
            doors.append(((a + b) / 2, wall_y, float(rng.uniform(0.3, 1.5))))
    envelope = Box((0, 0, 0), (length, total, height), [floor, ceiling, wall, frame, leaf],
                   face_parts=(2, 2, 2, 2, 0, 1), hollow=True, recesses=recesses)
    prims.insert(0, envelope)
    # Camera in the corridor, looking at a door, the end wall or the floor ahead.
    keep_in = (WALL_MARGIN, y0 + WALL_MARGIN, length - WALL_MARGIN, y1 - WALL_MARGIN)
    choice = rng.uniform()
    if doors and choice < 0.5:
        target = doors[int(rng.integers(len(doors)))]
        facing = -math.pi / 2 if abs(target[1] - y1) < abs(target[1] - y0) else math.pi / 2
        setting = _Setting([], target, facing, math.radians(75), keep_in=keep_in)
    elif choice < 0.75:
        end = 1 if rng.uniform() < 0.5 else 0
        target = (length if end else 0.0, float(rng.uniform(y0 + 0.1, y1 - 0.1)),
                  float(rng.uniform(0.2, 1.8)))
        setting = _Setting([], target, math.pi if end else 0.0, math.radians(40),
                           keep_in=keep_in)
    else:
        target = (float(rng.uniform(0.5, length - 0.5)), float(rng.uniform(y0 + 0.2, y1 - 0.2)),
                  0.0)
        setting = _Setting([], target, 0.0 if rng.uniform() < 0.5 else math.pi,
                           math.radians(30), keep_in=keep_in, low=0.6)
    camera, distance = _place_camera(rng, setting, plan, [])
    # Side rooms: a few pieces against their outer walls, seen through the doorways.
    layout.keep_clear = _sight_points(camera, setting.target)
    layout.clearance = 0.35
    more, tops = wall_furniture(rng, plan, layout, [], int(rng.integers(0, 4)))
    prims.extend(more)
    for top in tops:
        if rng.uniform() < 0.6:
            prims.extend(_things_on(rng, _Spots(top), int(rng.integers(1, 3))))
    corridor = dataclasses.replace(plan, length=y1)
    corridor_layout = _Layout(corridor, np.zeros((0, 2)), 0.0)
    corridor_layout.rects.append((0.0, 0.0, length, y0 + 0.05))
    if rng.uniform() < 0.5:
        prims.extend(_scatter(rng, corridor, corridor_layout, (camera[0], camera[1], 0.0),
                              camera, int(rng.integers(1, 4))))
    lighting, lamps = _lights(rng, plan, setting.target, [], [], (1, 3), (0.3, length - 0.3),
                              (y0 + 0.3, y1 - 0.3))
    prims.extend(lamps)
    pose = _aim(rng, camera, setting.target)
    info = {'corridor': {'length': length, 'width': width, 'height': height,
                         'side_rooms': [r for r in rooms if r]},
            'doors': len(doors)}
    scene = Scene('robot', _clear_camera(prims, camera, keep=1), lighting, None, info)
    return scene, pose, distance, {'target_m': list(setting.target)}


def _clear_camera(prims: List[Primitive], camera: Point3, keep: int) -> List[Primitive]:
    """Drop any primitive after the first `keep` that comes within CAMERA_CLEARANCE of it."""
    return prims[:keep] + [p for p in prims[keep:]
                           if not p.solid or clearance([p], camera) >= CAMERA_CLEARANCE]


def _aim(rng: np.random.Generator, camera: Point3, target: Point3) -> CameraPose:
    """Return a pose at `camera` looking at `target`, with yaw, pitch and roll jitter."""
    dx, dy, dz = (target[i] - camera[i] for i in range(3))
    yaw = math.atan2(dy, dx) + math.radians(float(rng.uniform(-YAW_JITTER_DEG, YAW_JITTER_DEG)))
    pitch = math.atan2(dz, math.hypot(dx, dy)) + math.radians(
        float(rng.uniform(-PITCH_JITTER_DEG, PITCH_JITTER_DEG)))
    pitch = float(np.clip(pitch, math.radians(-85), math.radians(85)))
    roll = math.radians(float(rng.uniform(-ROLL_DEG, ROLL_DEG)))
    return CameraPose(camera, yaw, pitch, roll)


def draw_camera(rng: np.random.Generator) -> Tuple[CameraPreset, float]:
    """Draw a camera preset (by weight) and its horizontal field of view with jitter."""
    weights = np.array([p.weight for p in CAMERA_PRESETS])
    preset = CAMERA_PRESETS[int(rng.choice(len(CAMERA_PRESETS), p=weights / weights.sum()))]
    return preset, preset.hfov_deg + float(rng.uniform(-FOV_JITTER_DEG, FOV_JITTER_DEG))


def robot_shot(rng: np.random.Generator) -> Tuple[Scene, CameraPose, float, float]:
    """Draw a close-range robot view: its scene, camera pose, field of view and camera height."""
    setting = SETTINGS[int(rng.choice(len(SETTINGS), p=np.asarray(SETTING_WEIGHTS)
                                      / sum(SETTING_WEIGHTS)))]
    preset, fov = draw_camera(rng)
    if setting == 'corridor':
        scene, pose, distance, extra = _corridor(rng)
    else:
        scene, pose, distance, extra = _room(rng, setting)
    scene.info.update({'setting': setting, 'camera_model': preset.name,
                       'target_distance_m': distance, **extra})
    return scene, pose, fov, float(pose.position[2])
