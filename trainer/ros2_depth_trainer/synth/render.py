"""
Render a scene from a camera: colour, exact depth, normals and labels from one ray cast.

Depth is the distance t along camera rays scaled to unit optical-axis component, so t is the
depth itself; normals come from the hit primitive's analytic surface; labels from the hit part.
The sensor model then degrades the colour, punches holes into the depth and, for a
structured-light or time-of-flight depth family, perturbs the depth values as that sensor
would; ``Rendered.exact_depth`` keeps the exact depth, normals and labels are never perturbed.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Tuple

import numpy as np
from ros2_depth.camera_model import PinholeCamera

from .camera import camera_rays, CameraPose, CameraRays, TILE, untile
from .classes import SKY, UNLABELLED
from .frame import Frame
from .raycast import bounds, cast, cone_cull, describe_hits, Primitive
from .scene import Scene
from .sensor import depth_holes, expose, sensor_depth, SensorModel
from .shading import dot3, shade, shadow_mask, sun_shadow_mask
from .textures import albedo as texture_albedo


@dataclasses.dataclass
class Rendered:
    """A rendered frame plus what produced it, for metadata and tests."""

    frame: Frame
    pose: CameraPose
    scene: Scene
    exact_depth: np.ndarray  # (H, W) float32, NaN only where no surface (the sky)
    holes: np.ndarray  # (H, W) bool, where the sensor model made depth invalid
    # frame.depth: NaN in the holes, elsewhere the depth as the sensor family measures it
    primitive: np.ndarray  # (H, W) int16 index of the hit primitive, -1 = none
    face: np.ndarray  # (H, W) int16 face code of the hit (see raycast)


@dataclasses.dataclass
class _PartTable:
    labels: np.ndarray
    material: np.ndarray
    materials: List
    specular: np.ndarray
    shininess: np.ndarray
    emission: np.ndarray
    glass: np.ndarray


def _part_table(scene: Scene) -> _PartTable:
    _, parts = scene.flat_parts()
    index: Dict[int, int] = {}
    materials = []
    material = np.zeros(len(parts), np.int16)  # int16: numpy sorts it by radix, fast
    for i, part in enumerate(parts):
        key = id(part.material)
        if key not in index:
            index[key] = len(materials)
            materials.append(part.material)
        material[i] = index[key]
    return _PartTable(
        labels=np.array([p.label for p in parts], np.uint8),
        material=material,
        materials=materials,
        specular=np.array([m.specular for m in materials], np.float32),
        shininess=np.array([m.shininess for m in materials], np.float32),
        emission=np.array([m.emission for m in materials], np.float32),
        glass=np.array([m.glass for m in materials], bool),
    )


NEAR_PLANE = 1e-3
# Corner index pairs of the 12 edges of a box whose corners are listed as in Primitive.corners.
_EDGES = np.array([(i, i | bit) for i in range(8) for bit in (1, 2, 4) if not i & bit])


def _primary_cull(primitives: List[Primitive], pose: CameraPose, camera: PinholeCamera,
                  rays: CameraRays) -> Tuple[np.ndarray, np.ndarray]:
    """
    Return which tiles may see each primitive (T, P) and each primitive's least depth (P,).

    Bounding spheres against tile cones, tightened by the image rectangle of each bounding box
    (clipped at the camera plane).
    """
    origin = np.asarray(pose.position, float)
    rotation = pose.rotation()
    centres, radii = bounds(primitives)
    passes = cone_cull(origin, rays.axes, rays.half_angles, centres, radii)
    with np.errstate(invalid='ignore'):
        near = (centres - origin) @ rotation[:, 2] - radii
    near[~np.isfinite(near)] = -np.inf
    boxed = [i for i, p in enumerate(primitives) if p.local_box() is not None]
    if not boxed:
        return passes, near
    corners = np.stack([primitives[i].corners() for i in boxed])
    cam = (corners - origin) @ rotation
    index = np.asarray(boxed)
    # Clip each bounding box at the plane z = NEAR_PLANE: its image is the hull of the corners
    # in front and of the points where edges cross the plane.
    z = cam[..., 2]
    near[index] = np.maximum(near[index], z.min(axis=1))
    a, b = cam[:, _EDGES[:, 0]], cam[:, _EDGES[:, 1]]
    za, zb = a[..., 2], b[..., 2]
    crossing = ((za < NEAR_PLANE) != (zb < NEAR_PLANE))[..., None]
    with np.errstate(divide='ignore', invalid='ignore'):
        h = (NEAR_PLANE - za) / (zb - za)
        points = np.concatenate([np.where((z >= NEAR_PLANE)[..., None], cam, np.nan),
                                 np.where(crossing, a + h[..., None] * (b - a), np.nan)], axis=1)
    with np.errstate(divide='ignore', invalid='ignore'):
        u = camera.fx * points[..., 0] / points[..., 2] + camera.cx
        v = camera.fy * points[..., 1] / points[..., 2] + camera.cy
    seen = np.isfinite(u).any(axis=1)
    u = np.where(np.isfinite(u), u, np.nan)
    v = np.where(np.isfinite(v), v, np.nan)
    big = 1e6
    u_lo = np.clip(np.nanmin(np.where(seen[:, None], u, 0.0), axis=1), -big, big)
    u_hi = np.clip(np.nanmax(np.where(seen[:, None], u, 0.0), axis=1), -big, big)
    v_lo = np.clip(np.nanmin(np.where(seen[:, None], v, 0.0), axis=1), -big, big)
    v_hi = np.clip(np.nanmax(np.where(seen[:, None], v, 0.0), axis=1), -big, big)
    col_lo = np.floor((u_lo - 0.5) / TILE)
    col_hi = np.where(seen, np.floor((u_hi + 1.5) / TILE), -1)
    row_lo = np.floor((v_lo - 0.5) / TILE)
    row_hi = np.where(seen, np.floor((v_hi + 1.5) / TILE), -1)
    tile_row = np.repeat(np.arange(rays.rows), rays.cols)
    tile_col = np.tile(np.arange(rays.cols), rays.rows)
    inside = ((tile_row[:, None] >= row_lo[None]) & (tile_row[:, None] <= row_hi[None])
              & (tile_col[:, None] >= col_lo[None]) & (tile_col[:, None] <= col_hi[None]))
    passes[:, index] &= inside
    return passes, near


def _untiled(values: np.ndarray, rays: CameraRays, fill: float, rows: np.ndarray,
             dtype: type) -> np.ndarray:
    """Scatter per-hit values into a full tiled array (fill elsewhere) and return the image."""
    shape = (rays.rows * rays.cols * TILE * TILE,) + values.shape[1:]
    full = np.full(shape, fill, dtype)
    full[rows] = values
    return np.ascontiguousarray(untile(full.reshape((-1, TILE * TILE) + values.shape[1:]), rays))


def render(scene: Scene, pose: CameraPose, camera: PinholeCamera, sensor: SensorModel,
           rng: np.random.Generator, shadows: bool = True, time_s: float = 0.0) -> Rendered:
    """Render one frame of `scene` seen from `pose` through `camera`, with sensor effects."""
    rays = camera_rays(camera, pose)
    rotation = pose.rotation()
    primitives = scene.primitives
    passes, near = _primary_cull(primitives, pose, camera, rays)
    hits = cast(primitives, rays.origin, rays.directions, passes, near=near)
    offsets, _ = scene.flat_parts()
    hit = describe_hits(primitives, offsets, hits, rays.origin, rays.directions)
    table = _part_table(scene)
    rows = hit.rows
    t = hits.t.reshape(-1)[rows]
    d = rays.directions.reshape(-1, 3)[rows].astype(np.float32)
    length = np.sqrt(dot3(d, d))
    view = d / -length[:, None]
    cos = np.abs(dot3(hit.normals, view))
    footprint = (t * length / camera.fx / np.maximum(cos, 0.1)).astype(np.float32)

    material = table.material[hit.surface]
    albedo = np.empty((rows.size, 3), np.float32)
    order = np.argsort(material, kind='stable')
    starts = np.searchsorted(material[order], np.arange(len(table.materials) + 1))
    for m, mat in enumerate(table.materials):
        sel = order[starts[m]:starts[m + 1]]
        if sel.size:
            albedo[sel] = texture_albedo(mat, hit.uv[sel], footprint[sel])

    lit = []
    occluders = [p for p in primitives if p.solid]
    tiled = None
    for light in scene.lighting.lights:
        if not (shadows and light.shadows and occluders):
            lit.append(np.ones(rows.size, np.float32))
            continue
        if light.kind == 'sun':
            lit.append(sun_shadow_mask(light.position, occluders, hit.points,
                                       hit.normals).astype(np.float32))
            continue
        if tiled is None:
            shape = hits.t.shape + (3,)
            points = np.zeros((hits.t.size, 3), np.float32)
            normals = np.zeros((hits.t.size, 3), np.float32)
            points[rows] = hit.points
            normals[rows] = hit.normals
            tiled = (points.reshape(shape), normals.reshape(shape), hits.primitive >= 0)
        mask = shadow_mask(light, occluders, *tiled)
        lit.append(mask.reshape(-1)[rows].astype(np.float32))
    radiance, highlight = shade(scene.lighting, hit.points, hit.normals, view, albedo,
                                table.specular[material], table.shininess[material], lit)
    emission = table.emission[material]
    if emission.any():
        radiance += albedo * emission[:, None]

    image = _untiled(radiance, rays, 0.0, rows, np.float32)
    labels = _untiled(table.labels[hit.surface], rays,
                      SKY if scene.sky is not None else UNLABELLED, rows, np.uint8)
    depth = _untiled(t.astype(np.float32), rays, np.nan, rows, np.float32)
    if scene.sky is not None:
        miss = ~np.isfinite(depth)
        if miss.any():
            v, u = np.nonzero(miss)
            dirs = np.stack([(u - camera.cx) / camera.fx, (v - camera.cy) / camera.fy,
                             np.ones(u.size)], 1) @ np.ascontiguousarray(rotation.T)
            dirs /= np.sqrt(dot3(dirs, dirs))[:, None]
            image[miss] = scene.sky.radiance(dirs)
    normals_cam = _untiled(hit.normals @ rotation.astype(np.float32), rays, np.nan, rows,
                           np.float32)
    lum = _untiled(albedo @ np.array([0.2126, 0.7152, 0.0722], np.float32), rays, 1.0, rows,
                   np.float32)
    holes = depth_holes(depth, _untiled(cos, rays, 1.0, rows, np.float32), lum,
                        _untiled(highlight, rays, 0.0, rows, np.float32),
                        _untiled(table.glass[material], rays, False, rows, bool), camera.fx,
                        sensor)
    rgb = expose(image, sensor, rng)
    frame = Frame(rgb=rgb, depth=sensor_depth(depth, holes, lum, sensor, rng), camera=camera,
                  normals=normals_cam, labels=labels, time_s=time_s)
    return Rendered(frame=frame, pose=pose, scene=scene, exact_depth=depth, holes=holes,
                    primitive=np.ascontiguousarray(untile(hits.primitive, rays)),
                    face=np.ascontiguousarray(untile(hits.face, rays)))
