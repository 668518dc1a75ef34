"""
Lighting: Lambertian shading with point lights or the sun, ambient light, highlights, shadows.

Diffuse light follows Lambert's cosine law (point lights fall off with the squared distance),
the ambient term blends a sky colour (surfaces facing up) and a bounce colour (facing down),
glossy materials add a Blinn-Phong highlight, and shadows are ray cast with the same primitive
intersection code as the camera rays.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence, Tuple

import numpy as np

from .raycast import cast, Primitive, segment_box_cull

Colour = Tuple[float, float, float]
SHADOW_OFFSET = 2e-3  # metres along the normal, so a shadow ray does not hit its own surface
SUN_DISTANCE = 1e4


@dataclasses.dataclass(frozen=True)
class Light:
    """
    A point light (``position`` in world metres, intensity in linear units at 1 m) or the sun.

    For the sun, ``position`` is the unit direction towards it and intensity is the irradiance.
    """

    kind: str
    position: Tuple[float, float, float]
    colour: Colour
    shadows: bool = True


@dataclasses.dataclass(frozen=True)
class Lighting:
    """All lights of a scene plus ambient light from above (sky, ceiling) and below (bounce)."""

    lights: Tuple[Light, ...]
    ambient_up: Colour
    ambient_down: Colour


def dot3(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Return the dot product over the last axis (length 3), faster than a reduction."""
    return a[..., 0] * b[..., 0] + a[..., 1] * b[..., 1] + a[..., 2] * b[..., 2]


def light_vectors(light: Light, points: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Return unit vectors from (..., 3) points to the light and the irradiance factor."""
    position = np.asarray(light.position, points.dtype)
    if light.kind == 'sun':
        return np.broadcast_to(position, points.shape), np.ones(points.shape[:-1], points.dtype)
    offset = position - points
    dist2 = np.maximum(dot3(offset, offset), 0.25)
    inv = 1.0 / np.sqrt(dist2)
    return offset * inv[..., None], inv * inv


def _tile_extent(values: np.ndarray, valid: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Return per-tile (T, 3) minimum and maximum of (T, K, 3) values over valid rays."""
    lo = np.stack([np.where(valid, values[..., i], np.inf).min(axis=1) for i in range(3)], 1)
    hi = np.stack([np.where(valid, values[..., i], -np.inf).max(axis=1) for i in range(3)], 1)
    return lo, hi


def shadow_mask(light: Light, occluders: Sequence[Primitive], points: np.ndarray,
                normals: np.ndarray, valid: np.ndarray, top: float = np.inf) -> np.ndarray:
    """
    Return (T, K) True where a tiled surface point sees the light.

    points, normals (T, K, 3) world; valid (T, K) marks rays that hit a surface; top is the
    height of the highest occluder (sun rays are cut there). Shadow rays are cast in float32.
    """
    lit = np.ones(valid.shape, bool)
    if not occluders or not valid.any():
        return lit
    points = points.astype(np.float32, copy=False)
    normals = normals.astype(np.float32, copy=False)
    to_light, _ = light_vectors(light, points)
    # Only surfaces facing the light need a shadow ray; the others are unlit anyway.
    valid = valid & (dot3(normals, to_light) > 0)
    origins = points + np.float32(SHADOW_OFFSET) * normals
    origins[~valid] = 0.0
    lo, hi = _tile_extent(origins, valid)
    tile_ok = valid.any(axis=1)
    lo[~tile_ok] = hi[~tile_ok] = 0.0
    lo, hi = lo.astype(float), hi.astype(float)
    centre = 0.5 * (lo + hi)
    radius = 0.5 * np.sqrt(dot3(hi - lo, hi - lo))
    if light.kind == 'sun':
        sun = np.asarray(light.position, float)
        # Sun rays end where they rise above every occluder.
        reach = np.clip((np.float32(top) - origins[..., 2]) / np.float32(max(sun[2], 1e-3)),
                        0.0, SUN_DISTANCE) + np.float32(0.1)
        directions = sun.astype(np.float32) * reach[..., None]
        # Each ray's segment lies within radius + (reach spread) / 2 of the tile's mean segment.
        longest = np.where(valid, reach, -np.inf).max(axis=1).astype(float)
        shortest = np.where(valid, reach, np.inf).min(axis=1).astype(float)
        longest[~tile_ok] = shortest[~tile_ok] = 0.0
        ends = centre + sun * (0.5 * (longest + shortest))[:, None]
        radius = radius + 0.5 * (longest - shortest)
    else:
        directions = np.asarray(light.position, np.float32) - origins
        ends = np.broadcast_to(np.asarray(light.position, float), centre.shape)
    passes = segment_box_cull(centre, radius, ends, occluders) & tile_ok[:, None]
    hits = cast(occluders, origins, directions, passes, t_max=valid.astype(float),
                openings=False, near=np.ones(len(occluders)))
    return hits.primitive < 0


def sun_shadow_mask(sun: Sequence[float], occluders: Sequence[Primitive], points: np.ndarray,
                    normals: np.ndarray) -> np.ndarray:
    """
    Return (M,) True where a surface point sees the sun (direction `sun`, towards it).

    Sun rays are parallel, so the candidates of each occluder are found in the plane across
    them: points are sorted by one coordinate of that plane and each occluder takes those
    inside the shadow rectangle of its bounding box, below its top; those few rays are then
    cast exactly against it. Points facing away from the sun are reported lit (their Lambert
    term is zero anyway).
    """
    direction = np.asarray(sun, float)
    direction /= np.linalg.norm(direction)
    helper = np.array([0.0, 0.0, 1.0]) if abs(direction[2]) < 0.9 else np.array([1.0, 0, 0])
    e1 = np.cross(direction, helper)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(direction, e1)
    frame = np.ascontiguousarray(np.stack([e1, e2, direction], 1).astype(np.float32))
    lit = np.ones(len(points), bool)
    facing = np.flatnonzero(dot3(normals, direction.astype(np.float32)) > 0)
    if not facing.size or not occluders:
        return lit
    origins = points[facing] + np.float32(SHADOW_OFFSET) * normals[facing]
    coords = origins @ frame
    order = np.argsort(coords[:, 0], kind='stable')
    origins, coords = origins[order], coords[order]
    key = coords[:, 0]
    open_rays = np.ones(len(order), bool)
    ray = np.broadcast_to(direction.astype(np.float32), (1, 3))
    bounded = [p for p in occluders if p.corners() is not None]
    if not bounded:
        return lit
    boxes = np.stack([p.corners() for p in bounded]) @ frame.astype(float)
    box_lo, box_hi = boxes.min(axis=1), boxes.max(axis=1)
    firsts = np.searchsorted(key, box_lo[:, 0])
    lasts = np.searchsorted(key, box_hi[:, 0])
    for index in np.flatnonzero(lasts > firsts):
        primitive, first, last = bounded[index], firsts[index], lasts[index]
        lo, hi = box_lo[index], box_hi[index]
        window = coords[first:last]
        candidates = first + np.flatnonzero(
            open_rays[first:last] & (window[:, 1] >= lo[1]) & (window[:, 1] <= hi[1])
            & (window[:, 2] < hi[2]))
        if not candidates.size:
            continue
        t, _ = primitive.intersect(origins[candidates],
                                   np.broadcast_to(ray, (candidates.size, 3)), False)
        open_rays[candidates[np.isfinite(t)]] = False
    lit[facing[order]] = open_rays
    return lit


def shade(lighting: Lighting, points: np.ndarray, normals: np.ndarray, view: np.ndarray,
          albedo: np.ndarray, specular: np.ndarray, shininess: np.ndarray,
          lit: Sequence[np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
    """
    Return linear radiance (M, 3) and the strongest specular highlight (M,) of surface points.

    All inputs float32: points, normals, view (unit vectors to the camera) (M, 3); albedo
    (M, 3); specular, shininess (M,); lit: per light, (M,) visibility.
    """
    up = np.asarray(lighting.ambient_up, np.float32)
    down = np.asarray(lighting.ambient_down, np.float32)
    lights = lighting.lights
    colours = np.array([light.colour for light in lights], np.float32).reshape(-1, 3)
    # Columns: the hemisphere ambient weight, then each light's cosine-weighted irradiance.
    weights = np.empty((len(points), len(lights) + 1), np.float32)
    weights[:, 0] = np.float32(0.5) + np.float32(0.5) * normals[:, 2]
    highlight = np.zeros(len(points), np.float32)
    gloss = np.zeros((len(points), 3), np.float32)
    glossy = np.flatnonzero(specular > 0)
    # The glossy points' inputs and sums, gathered once for all lights.
    normals_g, view_g = normals[glossy], view[glossy]
    specular_g, shininess_g = specular[glossy], shininess[glossy]
    gloss_g, highlight_g = gloss[glossy], highlight[glossy]
    for i, (light, visible) in enumerate(zip(lights, lit)):
        to_light, falloff = light_vectors(light, points)
        cos = np.maximum(dot3(normals, to_light), 0.0) * falloff * visible
        weights[:, i + 1] = cos
        if glossy.size:
            half = to_light[glossy] + view_g
            half /= np.maximum(np.sqrt(dot3(half, half)), 1e-9)[:, None]
            spec = np.clip(dot3(normals_g, half), 0.0, 1.0) ** shininess_g
            spec *= specular_g * (falloff * visible)[glossy] * (cos[glossy] > 0)
            gloss_g += spec[:, None] * colours[i]
            highlight_g = np.maximum(highlight_g, spec * float(colours[i].mean()))
    if glossy.size:
        gloss[glossy] = gloss_g
        highlight[glossy] = highlight_g
    irradiance = weights @ np.concatenate([(up - down)[None], colours]) + down
    return albedo * irradiance + gloss, highlight


# Linear RGB of light sources by colour temperature (kelvin), normalised to luminance 1, after
# a camera's partial white balance: a tungsten bulb still looks warm, daylight a little blue.
_KELVIN = np.array([2700.0, 3500.0, 4500.0, 5500.0, 6500.0, 7500.0])
_KELVIN_RGB = np.array([(1.0, 0.78, 0.55), (1.0, 0.85, 0.7), (1.0, 0.92, 0.84),
                        (1.0, 0.97, 0.94), (0.95, 0.97, 1.0), (0.88, 0.93, 1.0)])


def colour_temperature(kelvin: float) -> Colour:
    """Return the linear RGB tint (luminance 1) of a light of the given colour temperature."""
    rgb = np.array([np.interp(kelvin, _KELVIN, _KELVIN_RGB[:, i]) for i in range(3)])
    rgb /= float(rgb @ np.array([0.2126, 0.7152, 0.0722]))
    return (float(rgb[0]), float(rgb[1]), float(rgb[2]))
