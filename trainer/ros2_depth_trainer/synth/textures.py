"""
Procedural textures: albedo from texture coordinates in metres, vectorised over hit points.

Patterns (see materials.PATTERNS): value-noise fBm, tiles with grout, stripes, wood planks with
grain, running-bond brick, asphalt with lane markings, glass, foliage and fabric. Detail finer
than the pixel footprint (metres per pixel at the hit) fades to its mean colour, a cheap
pre-filter that keeps distant floors and facades from aliasing into noise.
"""

from __future__ import annotations

import numpy as np

from .materials import Material


def srgb_to_linear(colour: np.ndarray) -> np.ndarray:
    """Convert sRGB values in [0, 1] to linear reflectance (gamma 2.2 approximation)."""
    return np.power(np.asarray(colour, np.float32), 2.2)


_A = np.uint32(374761393)
_B = np.uint32(668265263)
_C = np.uint32(3266489917)
_SCALE = np.float32(1.0 / 16777216)


def _finish(h: np.ndarray) -> np.ndarray:
    """Mix a uint32 lattice key into a float32 in [0, 1)."""
    h = h ^ (h >> np.uint32(13))
    h *= _C
    h ^= h >> np.uint32(16)
    return (h >> np.uint32(8)).astype(np.float32) * _SCALE


def _seed_key(seed: int) -> np.uint32:
    return np.uint32((seed * 2654435761) & 0xFFFFFFFF)


def cell_hash(ix: np.ndarray, iy: np.ndarray, seed: int) -> np.ndarray:
    """Return a float32 in [0, 1) for each integer lattice cell, fixed by (ix, iy, seed)."""
    with np.errstate(over='ignore', invalid='ignore'):
        h = (np.asarray(ix).astype(np.int32).view(np.uint32) * _A
             + np.asarray(iy).astype(np.int32).view(np.uint32) * _B + _seed_key(seed))
        return _finish(h)


def value_noise(u: np.ndarray, v: np.ndarray, seed: int) -> np.ndarray:
    """Smooth value noise in [0, 1] with unit feature size."""
    fu, fv = np.floor(u), np.floor(v)
    x = (u - fu).astype(np.float32)
    y = (v - fv).astype(np.float32)
    sx = x * x * (3 - 2 * x)
    sy = y * y * (3 - 2 * y)
    # Rays that hit nothing (sky) reach here with non-finite coordinates; their cast to int32 is
    # undefined but harmless (those pixels are never textured), so it is not reported.
    with np.errstate(over='ignore', invalid='ignore'):
        ku = fu.astype(np.int32).view(np.uint32) * _A + _seed_key(seed)
        kv = fv.astype(np.int32).view(np.uint32) * _B
        a = _finish(ku + kv)
        b = _finish(ku + _A + kv)
        c = _finish(ku + kv + _B)
        d = _finish(ku + _A + kv + _B)
    return a + (b - a) * sx + (c - a) * sy + (a - b - c + d) * sx * sy


def fbm(u: np.ndarray, v: np.ndarray, seed: int, octaves: int = 3,
        footprint: np.ndarray = None) -> np.ndarray:
    """
    Fractal sum of value noise in [0, 1], feature size 1 at the first octave.

    Octaves whose features are smaller than about two footprints (in the units of u, v) fade to
    their mean.
    """
    total = np.zeros(np.shape(u), np.float32)
    norm = 0.0
    for octave in range(octaves):
        freq = 2.0 ** octave
        amp = 0.5 ** octave
        norm += amp
        weight = None
        if footprint is not None:
            weight = np.clip(1.5 - 2.0 * footprint * freq, 0.0, 1.0).astype(np.float32)
            if not weight.any():
                break
        layer = value_noise(u * freq, v * freq, seed + 7919 * octave) - np.float32(0.5)
        if weight is not None:
            layer *= weight
        total += np.float32(amp) * layer
    return np.float32(0.5) + total / np.float32(norm)


def _fade(mask: np.ndarray, coverage: float, footprint: np.ndarray, size: float) -> np.ndarray:
    """Blend a 0/1 detail mask to its area coverage where pixels are larger than the detail."""
    k = np.clip(footprint / max(size, 1e-6) - 0.5, 0.0, 1.0).astype(np.float32)
    return mask.astype(np.float32) * (1 - k) + np.float32(coverage) * k


def _mix(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> np.ndarray:
    return a + (b - a) * w[:, None]


def _colour(material: Material, index: int) -> np.ndarray:
    colours = material.colors
    return srgb_to_linear(colours[min(index, len(colours) - 1)])


def albedo(material: Material, uv: np.ndarray, footprint: np.ndarray) -> np.ndarray:
    """Return (M, 3) float32 linear albedo of a material at (M, 2) texture coordinates."""
    u, v = uv[:, 0], uv[:, 1]
    s = material.scale
    seed = material.seed
    c0 = _colour(material, 0)
    c1 = _colour(material, 1)
    pattern = material.pattern
    if pattern == 'plain':
        shade = 0.9 + 0.2 * fbm(u / s, v / s, seed, 2, footprint / s)
        return c0[None, :] * shade[:, None]
    if pattern in ('noise', 'foliage'):
        w = fbm(u / s, v / s, seed, 3, footprint / s)
        w = np.clip((w - 0.5) * (3.0 if pattern == 'foliage' else 2.0) + 0.5, 0.0, 1.0)
        return _mix(c0[None, :], c1[None, :], w)
    if pattern == 'fabric':
        weave = fbm(u / s, v / s, seed, 2, footprint / s)
        fine = _fade((np.floor(u / (0.1 * s)) + np.floor(v / (0.1 * s))) % 2, 0.5, footprint,
                     0.1 * s)
        return c0[None, :] * (0.75 + 0.35 * weave + 0.1 * fine)[:, None]
    if pattern == 'tiles':
        return _tiles(material, u, v, footprint, c0, c1)
    if pattern == 'stripes':
        stripe = _fade((u / s) % 1.0 < 0.5, 0.5, footprint, 0.25 * s)
        base = _mix(c0[None, :], c1[None, :], stripe)
        return base * (0.93 + 0.14 * fbm(u / 0.3, v / 0.3, seed, 2, footprint / 0.3))[:, None]
    if pattern == 'wood':
        return _wood(material, u, v, footprint, c0, c1)
    if pattern == 'brick':
        return _brick(material, u, v, footprint, c0, c1)
    if pattern == 'asphalt':
        return _asphalt(material, u, v, footprint, c0, c1)
    if pattern == 'glass':
        w = fbm(u / s, v / s, seed, 2, footprint / s)
        sky = np.clip(0.3 + 0.6 * (v / max(s, 1e-3)) % 1.0, 0.0, 1.0) * 0.3
        return _mix(c0[None, :], c1[None, :], np.clip(w * 0.6 + sky, 0.0, 1.0))
    raise ValueError(f'unknown pattern {pattern!r}')


def _tiles(material: Material, u: np.ndarray, v: np.ndarray, footprint: np.ndarray,
           c0: np.ndarray, c1: np.ndarray) -> np.ndarray:
    s = material.scale
    grout = material.param or 0.006
    iu, iv = np.floor(u / s), np.floor(v / s)
    fu, fv = u - iu * s, v - iv * s
    tone = 0.88 + 0.24 * cell_hash(iu, iv, material.seed)
    if len(material.colors) > 2:
        checker = ((iu + iv) % 2).astype(np.float32)
        tile = _mix(c0[None, :], _colour(material, 2)[None, :], _fade(checker, 0.5, footprint, s))
    else:
        tile = np.broadcast_to(c0, (len(u), 3))
    grain = fbm(u / 0.2, v / 0.2, material.seed + 1, 2, footprint / 0.2)
    tile = tile * (tone * (0.93 + 0.14 * grain))[:, None]
    joint = (fu < grout) | (fv < grout)
    weight = _fade(joint, 2 * grout / s, footprint, grout * 2)
    return _mix(tile, c1[None, :], weight)


def _wood(material: Material, u: np.ndarray, v: np.ndarray, footprint: np.ndarray,
          c0: np.ndarray, c1: np.ndarray) -> np.ndarray:
    width = material.scale
    board_len = material.param or 1.6
    row = np.floor(v / width)
    shift = cell_hash(row, row * 0 + 3, material.seed) * board_len
    col = np.floor((u + shift) / board_len)
    tone = 0.8 + 0.4 * cell_hash(col, row, material.seed + 5)
    warp = fbm(u * 0.8, v * 12.0, material.seed + 2, 2, footprint * 12.0)
    grain = 0.5 + 0.5 * np.sin((v * 60.0 + warp * 6.0 + tone * 9.0) * np.float32(2 * np.pi))
    grain = 0.5 + (grain - 0.5) * np.clip(1.5 - footprint * 120.0, 0.0, 1.0)
    base = _mix(c0[None, :], c1[None, :], (grain * 0.6).astype(np.float32)) * tone[:, None]
    fv = v - row * width
    fu = u + shift - col * board_len
    gap = (fv < 0.004) | (fu < 0.004)
    return base * (1.0 - 0.6 * _fade(gap, 0.01 / width, footprint, 0.008))[:, None]


def _brick(material: Material, u: np.ndarray, v: np.ndarray, footprint: np.ndarray,
           c0: np.ndarray, c1: np.ndarray) -> np.ndarray:
    length = material.scale
    height = 0.35 * length
    mortar = material.param or 0.012
    row = np.floor(v / height)
    shifted = u + (row % 2) * 0.5 * length
    col = np.floor(shifted / length)
    tone = 0.75 + 0.5 * cell_hash(col, row, material.seed)
    grit = 0.9 + 0.2 * fbm(u / 0.05, v / 0.05, material.seed + 3, 2, footprint / 0.05)
    brick = c0[None, :] * (tone * grit)[:, None]
    joint = ((v - row * height) < mortar) | ((shifted - col * length) < mortar)
    coverage = mortar / height + mortar / length
    return _mix(brick, c1[None, :], _fade(joint, coverage, footprint, 2 * mortar))


def _asphalt(material: Material, u: np.ndarray, v: np.ndarray, footprint: np.ndarray,
             c0: np.ndarray, c1: np.ndarray) -> np.ndarray:
    half = material.param or 4.0
    patches = fbm(u / 3.0, v / 3.0, material.seed, 3, footprint / 3.0)
    grain = fbm(u / 0.04, v / 0.04, material.seed + 1, 2, footprint / 0.04)
    base = c0[None, :] * (0.7 + 0.5 * patches * (0.8 + 0.4 * grain))[:, None]
    centre = (np.abs(u) < 0.07) & ((v / 9.0) % 1.0 < 0.35)
    edge = np.abs(np.abs(u) - (half - 0.35)) < 0.07
    paint = _fade(centre | edge, 0.0, footprint * 0.5, 0.14)
    wear = 0.75 + 0.25 * grain
    return _mix(base, c1[None, :] * wear[:, None], paint)
