"""
Vectorised ray casting against boxes, cylinders, spheres and planes (numpy, no per-pixel loops).

Every primitive lives in its own local frame: ``world = origin + rotation @ local``. Boxes can be
solid (hit from outside) or hollow (a room, seen from inside), and can have recessed openings in
their faces (doors, windows): a ray that meets a face inside an opening continues to the far side
of the recess box behind it, so recesses are exact geometry, not texture.

Rays travel in tiles of K rays (arrays shaped (T, K, 3)). Before the exact test, each primitive
is culled per tile: its bounding sphere against the tile's cone of camera rays (``cone_cull``;
the renderer tightens this with the primitive's clipped image rectangle), or its bounding box
against the tile's swept shadow segments (``segment_box_cull``). A primitive so costs in
proportion to the pixels it may cover rather than to the whole image, and ``cast`` visits
primitives nearest first and skips tiles whose rays all hit something nearer already.

A hit is a distance ``t`` along the (not necessarily unit) ray direction, the primitive's index
and a face code. Box faces are ``2 * axis + side`` (side 1 = the face at ``hi``); the faces of a
box's k-th recess, through which the ray leaves it, are ``8 + 6 * k + 2 * axis + side``.
Cylinders use 0 = side, 1 = bottom cap, 2 = top cap; spheres and planes use 0.
"""

from __future__ import annotations

import dataclasses
from typing import List, Optional, Sequence, Tuple

import numpy as np

from .materials import Part

T_MIN = 1e-6
# In-plane (u, v) axes of a face perpendicular to each axis: vertical faces use (horizontal, z).
UV_AXES = np.array([[1, 2], [0, 2], [0, 1]])
_EYE = np.eye(3)


def yaw_rotation(yaw: float) -> np.ndarray:
    """Return the rotation about the world z axis (up) by `yaw` radians."""
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def axis_rotation(axis: Sequence[float]) -> np.ndarray:
    """Return a rotation whose local z axis points along `axis` (world)."""
    z = np.asarray(axis, float)
    z = z / np.linalg.norm(z)
    helper = np.array([1.0, 0.0, 0.0]) if abs(z[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    x = np.cross(helper, z)
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z], axis=1)


def _rows(array: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Select rows of a per-ray array, or keep a shared (1, 3) one."""
    return array if array.shape[0] == 1 else array[rows]


def _pick(array: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Return array[i, axis[i]] for every row i."""
    return np.where(axis == 0, array[:, 0], np.where(axis == 1, array[:, 1], array[:, 2]))


def slab(origins: np.ndarray, directions: np.ndarray, lo: np.ndarray, hi: np.ndarray
         ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return entry distance, entry axis, exit distance and exit axis of rays through a box."""
    near = []
    far = []
    lo = np.asarray(lo, dtype=origins.dtype)
    hi = np.asarray(hi, dtype=origins.dtype)
    with np.errstate(divide='ignore', invalid='ignore'):
        for axis in range(3):
            inv = 1.0 / directions[:, axis]
            o = origins[:, axis]
            t0 = (lo[..., axis] - o) * inv
            t1 = (hi[..., axis] - o) * inv
            near.append(np.fmin(t0, t1))
            far.append(np.fmax(t0, t1))
    t_in = np.maximum(np.maximum(near[0], near[1]), near[2])
    t_out = np.minimum(np.minimum(far[0], far[1]), far[2])
    axis_in = np.where(near[0] == t_in, 0, np.where(near[1] == t_in, 1, 2))
    axis_out = np.where(far[0] == t_out, 0, np.where(far[1] == t_out, 1, 2))
    return t_in, axis_in, t_out, axis_out


class Primitive:
    """A shape with parts (label and material per surface) in a local frame."""

    solid = True  # casts shadows

    def __init__(self, origin: Sequence[float], rotation: Optional[np.ndarray],
                 parts: Sequence[Part]) -> None:
        """Place the shape: world = origin + rotation @ local."""
        self.origin = np.asarray(origin, float)
        self.rotation = _EYE.copy() if rotation is None else np.asarray(rotation, float)
        self.identity = bool(np.array_equal(self.rotation, _EYE))
        self.parts: Tuple[Part, ...] = tuple(parts)

    def to_local(self, points: np.ndarray, directions: Optional[np.ndarray] = None
                 ) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """Express (M, 3) world points (and directions) in the local frame."""
        dtype = points.dtype
        local = points - self.origin.astype(dtype, copy=False)
        if self.identity:
            return local, directions
        rotation = self.rotation.astype(dtype, copy=False)
        return local @ rotation, None if directions is None else directions @ rotation

    def bound(self) -> Tuple[np.ndarray, float]:
        """Return the world bounding sphere (centre, radius); radius inf = unbounded."""
        return self.origin, np.inf

    def local_box(self) -> Optional[Tuple[np.ndarray, np.ndarray]]:
        """Return a local bounding box (lo, hi), or None when unbounded."""
        return None

    def corners(self) -> Optional[np.ndarray]:
        """Return the world corners, shape (8, 3), of a bounding box; None when unbounded."""
        cached = self.__dict__.get('_corners', False)
        if cached is not False:
            return cached
        box = self.local_box()
        corners = None
        if box is not None:
            lo, hi = box
            local = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1])
                              for z in (lo[2], hi[2])])
            corners = self.origin + local @ np.ascontiguousarray(self.rotation.T)
        # Primitives do not move once built, so the corners are computed once.
        self._corners = corners
        return corners

    def intersect(self, origins: np.ndarray, directions: np.ndarray, openings: bool = True
                  ) -> Tuple[np.ndarray, np.ndarray]:
        """
        Return the distance (inf = miss) and face code of (M, 3) rays, origins (M|1, 3).

        openings=False treats recessed openings as closed (enough for shadow rays).
        """
        raise NotImplementedError

    def surface(self, points: np.ndarray, face: np.ndarray
                ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return local unit normals, texture coordinates (M, 2) in metres and part indices."""
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class Recess:
    """
    A box-shaped opening behind a face of a Box (a door or window set into a wall).

    ``lo``/``hi`` are local coordinates of the recess box; it must span the plane of ``face`` so
    that the opening is its cross-section there. ``back`` is the part of the recess face
    parallel to the wall (the door leaf, the glass), ``side`` the part of its reveals.
    """

    face: int
    lo: Tuple[float, float, float]
    hi: Tuple[float, float, float]
    back: int
    side: int


@dataclasses.dataclass(frozen=True)
class RecessGrid:
    """
    A regular grid of identical recesses in one face of a solid Box (the windows of a facade).

    Cell (i, j) spans local coordinates u0 + i * pitch_u .. + size_u along the face's u axis and
    v0 + j * pitch_v .. + size_v along its v axis (z for a vertical face); recesses are ``depth``
    deep into the box.
    """

    face: int
    u0: float
    v0: float
    pitch_u: float
    pitch_v: float
    count_u: int
    count_v: int
    size_u: float
    size_v: float
    depth: float
    back: int
    side: int


class Box(Primitive):
    """An oriented box lo..hi in its local frame, solid or hollow, with optional recesses."""

    def __init__(self, lo: Sequence[float], hi: Sequence[float], parts: Sequence[Part],
                 face_parts: Sequence[int] = (0, 0, 0, 0, 0, 0),
                 origin: Sequence[float] = (0, 0, 0),
                 rotation: Optional[np.ndarray] = None, hollow: bool = False,
                 recesses: Sequence[Recess] = (), grid: Optional[RecessGrid] = None,
                 uv_origin: Optional[Sequence[float]] = None) -> None:
        """
        Build the box; face_parts gives the part of each face code 0-5.

        Texture coordinates are local coordinates minus uv_origin (default lo), so boxes cut
        from one slab can share a continuous texture.
        """
        super().__init__(origin, rotation, parts)
        self.lo = np.asarray(lo, float)
        self.hi = np.asarray(hi, float)
        self.uv_origin = self.lo if uv_origin is None else np.asarray(uv_origin, float)
        self.hollow = hollow
        self.solid = not hollow
        self.recesses = tuple(recesses)
        self.grid = grid
        self._faces_with_openings = sorted({r.face for r in self.recesses}
                                           | ({grid.face} if grid is not None else set()))
        openings = list(self.recesses) + ([grid] if grid is not None else [])
        codes = 8 + 6 * len(openings)
        self._part = np.zeros(codes, np.int16)
        self._part[:6] = face_parts
        self._axis = np.zeros(codes, np.int64)
        self._normal = np.zeros((codes, 3))
        for code in range(6):
            axis, side = divmod(code, 2)
            self._axis[code] = axis
            outward = 1.0 if side else -1.0
            self._normal[code, axis] = -outward if hollow else outward
        for k, opening in enumerate(openings):
            for j in range(6):
                axis, side = divmod(j, 2)
                code = 8 + 6 * k + j
                self._axis[code] = axis
                self._normal[code, axis] = -1.0 if side else 1.0
                self._part[code] = opening.back if axis == opening.face // 2 else opening.side

    def bound(self) -> Tuple[np.ndarray, float]:
        """Return the bounding sphere (unbounded when hollow: the camera is inside)."""
        centre = self.origin + self.rotation @ (0.5 * (self.lo + self.hi))
        if self.hollow:
            return centre, np.inf
        return centre, 0.5 * float(np.linalg.norm(self.hi - self.lo))

    def local_box(self) -> Optional[Tuple[np.ndarray, np.ndarray]]:
        """Return lo, hi (None when hollow: the camera is inside)."""
        return None if self.hollow else (self.lo, self.hi)

    def intersect(self, origins: np.ndarray, directions: np.ndarray, openings: bool = True
                  ) -> Tuple[np.ndarray, np.ndarray]:
        """Return distance and face code; hollow boxes report where rays leave them."""
        o, d = self.to_local(origins, directions)
        t_in, axis_in, t_out, axis_out = slab(o, d, self.lo, self.hi)
        if self.hollow:
            t = np.where((t_out > T_MIN) & (t_in <= t_out), t_out, np.inf)
            face = 2 * axis_out + (_pick(d, axis_out) > 0)
        else:
            t = np.where((t_in <= t_out) & (t_in > T_MIN), t_in, np.inf)
            face = 2 * axis_in + (_pick(d, axis_in) < 0)
        face = face.astype(np.int16)
        if openings and self._faces_with_openings:
            hit = np.isfinite(t)
            for code in self._faces_with_openings:
                rows = np.flatnonzero(hit & (face == code))
                if rows.size:
                    oo, dd = _rows(o, rows), d[rows]
                    points = oo + t[rows, None] * dd
                    for k, recess in enumerate(self.recesses):
                        if recess.face == code:
                            self._through_recess(oo, dd, points, rows, t, face, k, recess)
                    if self.grid is not None and self.grid.face == code:
                        self._through_grid(oo, dd, points, rows, t, face)
        return t, face

    def _through_recess(self, o: np.ndarray, d: np.ndarray, p: np.ndarray, rows: np.ndarray,
                        t: np.ndarray, face: np.ndarray, k: int, recess: Recess) -> None:
        ua, va = UV_AXES[recess.face // 2]
        lo, hi = np.asarray(recess.lo), np.asarray(recess.hi)
        inside = np.flatnonzero((p[:, ua] > lo[ua]) & (p[:, ua] < hi[ua]) & (p[:, va] > lo[va])
                                & (p[:, va] < hi[va]))
        if not inside.size:
            return
        dd = d[inside]
        _, _, t_out, axis_out = slab(_rows(o, inside), dd, lo, hi)
        t[rows[inside]] = t_out
        face[rows[inside]] = 8 + 6 * k + 2 * axis_out + (_pick(dd, axis_out) > 0)

    def _through_grid(self, o: np.ndarray, d: np.ndarray, p: np.ndarray, rows: np.ndarray,
                      t: np.ndarray, face: np.ndarray) -> None:
        grid = self.grid
        axis, side = divmod(grid.face, 2)
        ua, va = UV_AXES[axis]
        cell_u = np.floor((p[:, ua] - grid.u0) / grid.pitch_u)
        cell_v = np.floor((p[:, va] - grid.v0) / grid.pitch_v)
        start_u = grid.u0 + cell_u * grid.pitch_u
        start_v = grid.v0 + cell_v * grid.pitch_v
        inside = np.flatnonzero(
            (cell_u >= 0) & (cell_u < grid.count_u) & (cell_v >= 0) & (cell_v < grid.count_v)
            & (p[:, ua] < start_u + grid.size_u) & (p[:, va] < start_v + grid.size_v))
        if not inside.size:
            return
        dd = d[inside]
        lo = np.empty((inside.size, 3))
        hi = np.empty((inside.size, 3))
        lo[:, ua], lo[:, va] = start_u[inside], start_v[inside]
        hi[:, ua], hi[:, va] = lo[:, ua] + grid.size_u, lo[:, va] + grid.size_v
        wall = self.hi[axis] if side else self.lo[axis]
        inward = -1.0 if side else 1.0
        lo[:, axis] = min(wall - inward, wall + inward * grid.depth)
        hi[:, axis] = max(wall - inward, wall + inward * grid.depth)
        _, _, t_out, axis_out = slab(_rows(o, inside), dd, lo, hi)
        t[rows[inside]] = t_out
        face[rows[inside]] = 8 + 6 * len(self.recesses) + 2 * axis_out + (_pick(dd, axis_out) > 0)

    def surface(self, points: np.ndarray, face: np.ndarray
                ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return normals, (u, v) from the box's uv origin and parts of local hit points."""
        axis = self._axis[face]
        # UV_AXES: u is y on x-faces and x otherwise; v is y on z-faces and z otherwise.
        uv = np.empty((len(points), 2), points.dtype)
        uv[:, 0] = np.where(axis == 0, points[:, 1] - self.uv_origin[1],
                            points[:, 0] - self.uv_origin[0])
        uv[:, 1] = np.where(axis == 2, points[:, 1] - self.uv_origin[1],
                            points[:, 2] - self.uv_origin[2])
        return self._normal[face], uv, self._part[face]


class Cylinder(Primitive):
    """A solid capped cylinder about the local z axis, from z = -half_height to +half_height."""

    def __init__(self, origin: Sequence[float], radius: float, half_height: float,
                 parts: Sequence[Part], rotation: Optional[np.ndarray] = None,
                 cap_part: int = 0) -> None:
        """Build the cylinder; the side uses part 0, the caps `cap_part`."""
        super().__init__(origin, rotation, parts)
        self.radius = float(radius)
        self.half_height = float(half_height)
        self.cap_part = cap_part

    def bound(self) -> Tuple[np.ndarray, float]:
        """Return the bounding sphere."""
        return self.origin, float(np.hypot(self.radius, self.half_height))

    def local_box(self) -> Optional[Tuple[np.ndarray, np.ndarray]]:
        """Return the local bounding box."""
        extent = np.array([self.radius, self.radius, self.half_height])
        return -extent, extent

    def intersect(self, origins: np.ndarray, directions: np.ndarray, openings: bool = True
                  ) -> Tuple[np.ndarray, np.ndarray]:
        """Return the entry distance and face (0 side, 1 bottom, 2 top) of rays."""
        o, d = self.to_local(origins, directions)
        a = d[:, 0] ** 2 + d[:, 1] ** 2
        b = o[:, 0] * d[:, 0] + o[:, 1] * d[:, 1]
        c = o[:, 0] ** 2 + o[:, 1] ** 2 - self.radius ** 2
        disc = b * b - a * c
        with np.errstate(divide='ignore', invalid='ignore'):
            root = np.sqrt(np.maximum(disc, 0.0))
            side_in = np.where(a > 0, (-b - root) / a, np.where(c < 0, -np.inf, np.inf))
            side_out = np.where(a > 0, (-b + root) / a, np.where(c < 0, np.inf, -np.inf))
            z0 = (-self.half_height - o[:, 2]) / d[:, 2]
            z1 = (self.half_height - o[:, 2]) / d[:, 2]
        cap_in, cap_out = np.fmin(z0, z1), np.fmax(z0, z1)
        t_in = np.maximum(side_in, cap_in)
        t_out = np.minimum(side_out, cap_out)
        hit = (disc >= 0) & (t_in <= t_out) & (t_in > T_MIN)
        t = np.where(hit, t_in, np.inf)
        face = np.where(side_in >= cap_in, 0, np.where(d[:, 2] > 0, 1, 2)).astype(np.int16)
        return t, face

    def surface(self, points: np.ndarray, face: np.ndarray
                ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return normals, (arc length, height) or cap (x, y) coordinates and parts."""
        normals = np.zeros_like(points)
        side = face == 0
        normals[side, :2] = points[side, :2] / self.radius
        normals[~side, 2] = np.where(face[~side] == 1, -1.0, 1.0)
        uv = np.where(side[:, None],
                      np.stack([np.arctan2(points[:, 1], points[:, 0]) * self.radius,
                                points[:, 2] + self.half_height], 1),
                      points[:, :2])
        parts = np.where(side, 0, self.cap_part).astype(np.int16)
        return normals, uv, parts


class Sphere(Primitive):
    """A solid sphere centred on its origin."""

    def __init__(self, centre: Sequence[float], radius: float, parts: Sequence[Part]) -> None:
        """Build the sphere."""
        super().__init__(centre, None, parts)
        self.radius = float(radius)

    def bound(self) -> Tuple[np.ndarray, float]:
        """Return the sphere itself."""
        return self.origin, self.radius

    def local_box(self) -> Optional[Tuple[np.ndarray, np.ndarray]]:
        """Return the bounding cube."""
        extent = np.full(3, self.radius)
        return -extent, extent

    def intersect(self, origins: np.ndarray, directions: np.ndarray, openings: bool = True
                  ) -> Tuple[np.ndarray, np.ndarray]:
        """Return the entry distance of rays (face 0)."""
        o, d = self.to_local(origins, directions)
        a = np.einsum('ij,ij->i', d, d)
        b = (o * d).sum(1)
        c = (o * o).sum(1) - self.radius ** 2
        disc = b * b - a * c
        with np.errstate(invalid='ignore'):
            t = (-b - np.sqrt(disc)) / a
        t = np.where((disc >= 0) & (t > T_MIN), t, np.inf)
        return t, np.zeros(t.shape, np.int16)

    def surface(self, points: np.ndarray, face: np.ndarray
                ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return normals, (longitude arc, height) coordinates and parts."""
        normals = points / self.radius
        uv = np.stack([np.arctan2(points[:, 1], points[:, 0]) * self.radius, points[:, 2]], 1)
        return normals, uv, np.zeros(len(points), np.int16)


class Plane(Primitive):
    """
    The infinite plane local z = 0, normal +z local, seen from either side.

    With ``band`` set, part 0 covers |local x| < band and part 1 the rest (a road between
    pavements).
    """

    solid = False

    def __init__(self, origin: Sequence[float], parts: Sequence[Part],
                 rotation: Optional[np.ndarray] = None, band: Optional[float] = None) -> None:
        """Build the plane."""
        super().__init__(origin, rotation, parts)
        self.band = band

    def intersect(self, origins: np.ndarray, directions: np.ndarray, openings: bool = True
                  ) -> Tuple[np.ndarray, np.ndarray]:
        """Return the distance to the plane (face 0)."""
        o, d = self.to_local(origins, directions)
        with np.errstate(divide='ignore', invalid='ignore'):
            t = -o[:, 2] / d[:, 2]
        t = np.where(t > T_MIN, t, np.inf)
        return t, np.zeros(t.shape, np.int16)

    def surface(self, points: np.ndarray, face: np.ndarray
                ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return the +z normal, local (x, y) and parts."""
        normals = np.zeros_like(points)
        normals[:, 2] = 1.0
        parts = np.zeros(len(points), np.int16)
        if self.band is not None:
            parts[np.abs(points[:, 0]) >= self.band] = 1
        return normals, points[:, :2].copy(), parts


def bounds(primitives: Sequence[Primitive]) -> Tuple[np.ndarray, np.ndarray]:
    """Return the (P, 3) centres and (P,) radii of the primitives' bounding spheres."""
    centres = np.empty((len(primitives), 3))
    radii = np.empty(len(primitives))
    for i, primitive in enumerate(primitives):
        centres[i], radii[i] = primitive.bound()
    return centres, radii


def cone_cull(origin: np.ndarray, axes: np.ndarray, half_angles: np.ndarray,
              centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Return (T, P): may a tile's cone of rays from `origin` meet each bounding sphere."""
    w = centres - origin
    dist = np.linalg.norm(w, axis=1)
    with np.errstate(divide='ignore', invalid='ignore'):
        spread = np.where(dist > radii, np.arcsin(np.clip(radii / dist, 0.0, 1.0)), np.inf)
        unit = w / dist[:, None]
    cos = np.clip(axes @ np.nan_to_num(unit).T, -1.0, 1.0)
    return np.arccos(cos) <= half_angles[:, None] + spread[None, :] + 1e-6


def segment_box_cull(starts: np.ndarray, start_radii: np.ndarray, ends: np.ndarray,
                     primitives: Sequence[Primitive]) -> np.ndarray:
    """
    Return (T, P): may tile t's shadow segments meet primitive p's local bounding box.

    Every segment of tile t runs from within start_radii[t] of starts[t] to within the same
    distance of ends[t]; each box is grown by that radius and tested against the tile's central
    segment (slabs). Unbounded primitives always pass.
    """
    tiles = len(starts)
    passes = np.ones((tiles, len(primitives)), bool)
    boxed = [i for i, p in enumerate(primitives) if p.local_box() is not None]
    if not boxed or not tiles:
        return passes
    reach_lo = np.minimum(starts, ends) - start_radii[:, None]
    reach_hi = np.maximum(starts, ends) + start_radii[:, None]
    corners = np.stack([primitives[i].corners() for i in boxed])
    # Boxes wholly outside the region every segment lies in are never hit.
    near = ((corners.max(axis=1)[:, None, :] >= reach_lo[None]).all(2)
            & (corners.min(axis=1)[:, None, :] <= reach_hi[None]).all(2)).any(axis=1)
    passes[:, boxed] = False
    index = np.asarray(boxed)[near]
    if not index.size:
        return passes
    boxes = [primitives[i].local_box() for i in index]
    rotation = np.stack([primitives[i].rotation for i in index]).astype(np.float32)
    origin = np.stack([primitives[i].origin for i in index]).astype(np.float32)
    grow = start_radii.astype(np.float32)[:, None, None]
    lo = np.stack([b[0] for b in boxes]).astype(np.float32)[None] - grow
    hi = np.stack([b[1] for b in boxes]).astype(np.float32)[None] + grow
    starts32 = starts.astype(np.float32)
    seg32 = (ends - starts).astype(np.float32)
    near_t = np.full((tiles, index.size), -np.inf, np.float32)
    far_t = np.full((tiles, index.size), np.inf, np.float32)
    with np.errstate(divide='ignore', invalid='ignore'):
        for axis in range(3):
            column = rotation[:, :, axis]
            local = starts32 @ column.T - (origin * column).sum(1)[None]
            step = seg32 @ column.T
            t0 = (lo[..., axis] - local) / step
            t1 = (hi[..., axis] - local) / step
            near_t = np.fmax(near_t, np.fmin(t0, t1))
            far_t = np.fmin(far_t, np.fmax(t0, t1))
    passes[:, index] = (near_t <= far_t) & (far_t >= 0.0) & (near_t <= 1.0)
    return passes


@dataclasses.dataclass
class Hits:
    """Closest hits of tiled rays: distance (inf = none), primitive index (-1 = none), face."""

    t: np.ndarray
    primitive: np.ndarray
    face: np.ndarray


def cast(primitives: Sequence[Primitive], origins: np.ndarray, directions: np.ndarray,
         passes: np.ndarray, t_max: Optional[np.ndarray] = None, openings: bool = True,
         near: Optional[np.ndarray] = None) -> Hits:
    """
    Find the closest hit of every ray.

    origins (T, K, 3) or (1, 1, 3) shared, directions (T, K, 3), passes (T, P) from a cull.
    With t_max, only hits closer than it count (shadow rays: any primitive index >= 0 blocks);
    openings=False closes recessed openings (shadow rays). With near (P,), a lower bound of
    each primitive's t, primitives are visited nearest first and skipped on tiles whose rays
    all hit something closer already (occlusion culling).
    """
    tiles, k = directions.shape[:2]
    t_best = np.full((tiles, k), np.inf) if t_max is None else t_max.astype(float, copy=True)
    best = np.full((tiles, k), -1, np.int16)
    face_best = np.zeros((tiles, k), np.int16)
    shared = origins.shape[0] == 1
    order = range(len(primitives)) if near is None else np.argsort(near, kind='stable')
    tile_far = t_best.max(axis=1) if near is not None else None
    for index in order:
        column = passes[:, index]
        if near is not None:
            column = column & (tile_far >= near[index])
        sel = np.flatnonzero(column)
        if not sel.size:
            continue
        primitive = primitives[index]
        if sel.size == tiles:
            t, face = primitive.intersect(origins.reshape(-1, 3), directions.reshape(-1, 3),
                                          openings)
            t, face = t.reshape(tiles, k), face.reshape(tiles, k)
            better = t < t_best
            t_best[better] = t[better]
            best[better] = index
            face_best[better] = face[better]
            if tile_far is not None:
                tile_far = t_best.max(axis=1)
            continue
        o = origins if shared else origins[sel]
        t, face = primitive.intersect(o.reshape(-1, 3), directions[sel].reshape(-1, 3), openings)
        t, face = t.reshape(-1, k), face.reshape(-1, k)
        current = t_best[sel]
        better = t < current
        if not better.any():
            continue
        current[better] = t[better]
        t_best[sel] = current
        if tile_far is not None:
            tile_far[sel] = current.max(axis=1)
        sub = best[sel]
        sub[better] = index
        best[sel] = sub
        sub = face_best[sel]
        sub[better] = face[better]
        face_best[sel] = sub
    return Hits(t_best, best, face_best)


@dataclasses.dataclass
class SurfaceSample:
    """World geometry at hit rays (flat arrays over the hit rays only)."""

    rows: np.ndarray  # flat ray indices of the hits
    points: np.ndarray  # (M, 3) world
    normals: np.ndarray  # (M, 3) world, unit
    uv: np.ndarray  # (M, 2) texture coordinates in metres
    surface: np.ndarray  # (M,) index into Scene surfaces (primitive part)


def describe_hits(primitives: Sequence[Primitive], part_offsets: np.ndarray, hits: Hits,
                  origins: np.ndarray, directions: np.ndarray) -> SurfaceSample:
    """Compute world points, normals, texture coordinates and surface ids of the hits."""
    prim = hits.primitive.reshape(-1)
    rows = np.flatnonzero(prim >= 0)
    order = np.argsort(prim[rows], kind='stable')
    rows = rows[order]
    prim_rows = prim[rows]
    t = hits.t.reshape(-1)[rows]
    face = hits.face.reshape(-1)[rows]
    d = directions.reshape(-1, 3)[rows]
    o = origins.reshape(-1, 3)
    o = o if o.shape[0] == 1 else o[rows]
    points = o + t[:, None] * d
    normals = np.empty(points.shape, np.float32)
    uv = np.empty((rows.size, 2), np.float32)
    surface = np.empty(rows.size, np.int32)
    starts = np.searchsorted(prim_rows, np.arange(len(primitives) + 1))
    for index, primitive in enumerate(primitives):
        lo, hi = starts[index], starts[index + 1]
        if lo == hi:
            continue
        local, _ = primitive.to_local(points[lo:hi])
        n, uv[lo:hi], parts = primitive.surface(local, face[lo:hi])
        normals[lo:hi] = n if primitive.identity else n @ np.ascontiguousarray(
            primitive.rotation.T)
        surface[lo:hi] = part_offsets[index] + parts
    return SurfaceSample(rows, points.astype(np.float32), normals, uv, surface)


def flat_parts(primitives: Sequence[Primitive]) -> Tuple[np.ndarray, List[Part]]:
    """Return each primitive's offset into the flat list of all parts, and that list."""
    offsets = np.zeros(len(primitives), np.int32)
    parts: List[Part] = []
    for index, primitive in enumerate(primitives):
        offsets[index] = len(parts)
        parts.extend(primitive.parts)
    return offsets, parts
