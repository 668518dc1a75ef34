"""
Depth from a second camera registered into the colour camera, and the transforms it needs.

``register_depth`` moves a depth image onto the colour camera's pixel grid: every valid depth
pixel is back-projected with the depth camera's intrinsics, transformed into the colour camera's
optical frame and projected with the colour intrinsics. A pixel is a small square, not a point:
its four corners are carried along the same way, and the colour pixels whose centres fall inside
the box they span get its depth (so a colour camera finer than the depth camera gets no
pinholes, and a coarser one samples each depth pixel at most once per colour pixel). Within a
footprint the depth follows the surface: inverse depth changes linearly, with the slope of the
depth pixel's neighbours (not across an edge, where neighbours differ by more than
JUMP_FRACTION), so a plane comes out as a plane and not as steps when the depth camera is
coarser than the colour camera. Where several depth pixels land on one colour pixel the nearest
wins (a z-buffer), so foreground occludes background; colour pixels that no depth pixel reaches
(occlusion shadows, outside the depth camera's view) stay NaN. Everything is vectorised over
pixels; the only Python loop runs over the offsets inside one footprint (one to four passes when
the two cameras have similar resolution).

Transforms are 4x4 matrices ``T_a_b`` that map points in frame ``b`` to frame ``a``:
``p_a = T_a_b @ p_b``. A tf ``TransformStamped`` with ``header.frame_id`` = parent and
``child_frame_id`` = child holds ``T_parent_child`` (the child's pose in the parent, REP 103/105);
``chain_transform`` composes such static transforms between two frames through any common
ancestor (e.g. ``camera_link``).
"""

from __future__ import annotations

import collections
import dataclasses
import math
from typing import Any, Dict, Iterable, Optional, Sequence, Tuple

import numpy as np
from ros2_depth.camera_model import PinholeCamera

# The largest footprint, in colour pixels per axis, that one depth pixel fills: a point that
# close to the colour camera (or a colour camera that much finer than the depth camera) is
# clipped to this many pixels from its top-left corner.
MAX_FOOTPRINT_PX = 16
# Footprints overlap their neighbours by this much (pixels), so that round-off leaves no holes.
EDGE_SLACK_PX = 1e-3
# Neighbouring depth pixels more than this fraction apart lie across an edge: the depth is not
# interpolated across it.
JUMP_FRACTION = 0.1
# Distortion below this many pixels anywhere on the image is not worth a word.
NEGLIGIBLE_DISTORTION_PX = 0.05

Edge = Tuple[str, str]  # (parent frame, child frame)


def rotation_from_quaternion(x: float, y: float, z: float, w: float) -> np.ndarray:
    """Return the 3x3 rotation of a quaternion (x, y, z, w), normalised first."""
    q = np.array([x, y, z, w], dtype=np.float64)
    norm = float(np.linalg.norm(q))
    if not (math.isfinite(norm) and norm > 1e-9):
        raise ValueError(f'quaternion (x, y, z, w) = {tuple(q)} has no rotation (zero or not '
                         'finite)')
    x, y, z, w = q / norm
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def transform_matrix(translation: Sequence[float], quaternion_xyzw: Sequence[float]) -> np.ndarray:
    """Return the 4x4 transform of a translation (x, y, z) and a quaternion (x, y, z, w)."""
    transform = np.eye(4)
    transform[:3, :3] = rotation_from_quaternion(*(float(v) for v in quaternion_xyzw))
    transform[:3, 3] = [float(v) for v in translation]
    return transform


def invert_transform(transform: np.ndarray) -> np.ndarray:
    """Return the inverse of a rigid 4x4 transform."""
    inverse = np.eye(4)
    rotation = transform[:3, :3]
    inverse[:3, :3] = rotation.T
    inverse[:3, 3] = -rotation.T @ transform[:3, 3]
    return inverse


def parse_extrinsics(value: Any) -> np.ndarray:
    """
    Return T_colour_depth (4x4) from extrinsics as a user gives them.

    Accepted: a 4x4 matrix, 16 numbers (row-major), 7 numbers ``x y z qx qy qz qw`` (the depth
    optical frame's pose in the colour optical frame, metres and a quaternion), a string of those
    numbers (spaces or commas), or 'identity'.
    """
    if isinstance(value, str):
        text = value.strip()
        if text.lower() == 'identity':
            return np.eye(4)
        try:
            value = [float(v) for v in text.replace(',', ' ').split()]
        except ValueError:
            raise ValueError(f'extrinsics {value!r}: expected numbers (x y z qx qy qz qw, or 16 '
                             'of a row-major 4x4 matrix) or identity') from None
    numbers = np.asarray(value, dtype=np.float64).reshape(-1)
    if not np.isfinite(numbers).all():
        raise ValueError(f'extrinsics must be finite numbers, got {numbers.tolist()}')
    if numbers.size == 7:
        return transform_matrix(numbers[:3], numbers[3:])
    if numbers.size == 16:
        transform = numbers.reshape(4, 4)
        rotation = transform[:3, :3]
        if not (np.allclose(transform[3], [0, 0, 0, 1], atol=1e-6)
                and np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-4)
                and np.linalg.det(rotation) > 0):
            raise ValueError('extrinsics 4x4 matrix is not a rigid transform (rotation and '
                             'translation, last row 0 0 0 1)')
        return transform.copy()
    raise ValueError(f'extrinsics need 7 numbers (x y z qx qy qz qw) or 16 (a 4x4 matrix), got '
                     f'{numbers.size}')


def chain_transform(edges: Dict[Edge, np.ndarray], target: str,
                    source: str) -> Optional[np.ndarray]:
    """
    Return T_target_source composed from static transforms, or None when no chain joins them.

    ``edges`` maps (parent, child) to T_parent_child; the chain may go up and down the tree
    (through a common parent). Frame names are compared without a leading '/'.
    """
    target, source = target.lstrip('/'), source.lstrip('/')
    if target == source:
        return np.eye(4)
    neighbours: Dict[str, list] = collections.defaultdict(list)
    for (parent, child), transform in edges.items():
        parent, child = parent.lstrip('/'), child.lstrip('/')
        neighbours[child].append((parent, transform))  # child -> parent: T_parent_child
        neighbours[parent].append((child, invert_transform(transform)))
    # Breadth first from the source, carrying T_frame_source.
    reached = {source: np.eye(4)}
    queue = collections.deque([source])
    while queue:
        frame = queue.popleft()
        for other, step in neighbours.get(frame, ()):
            if other in reached:
                continue
            reached[other] = step @ reached[frame]
            if other == target:
                return reached[other]
            queue.append(other)
    return None


def register_depth(depth: np.ndarray, depth_camera: PinholeCamera, colour_camera: PinholeCamera,
                   colour_from_depth: np.ndarray) -> np.ndarray:
    """
    Return the depth (metres) seen by the colour camera, on its grid, NaN where unknown.

    ``depth``: (H, W) metres along the depth camera's optical axis on ``depth_camera``'s grid,
    NaN or <= 0 where invalid. ``colour_from_depth``: T_colour_depth (4x4). Each depth pixel's
    footprint (its corners projected) is filled with its depth along the colour camera's axis,
    following the surface's slope; the nearest depth wins where footprints overlap. See the
    module docstring.
    """
    depth = np.asarray(depth)
    if depth.shape != (depth_camera.height, depth_camera.width):
        raise ValueError(f'depth is {depth.shape[1]}x{depth.shape[0]} but its camera_info '
                         f'describes {depth_camera.width}x{depth_camera.height}')
    width, height = colour_camera.width, colour_camera.height
    out = np.full(height * width, np.inf, np.float32)
    with np.errstate(invalid='ignore'):
        valid = np.isfinite(depth) & (depth > 0)
    if valid.any():
        fp = _footprints(depth, valid, depth_camera, colour_camera,
                         np.asarray(colour_from_depth, dtype=np.float64))
        for dr in range(int(fp.n_rows.max(initial=0))):
            for dc in range(int(fp.n_cols.max(initial=0))):
                row, col = fp.row0 + dr, fp.col0 + dc
                hit = ((dr < fp.n_rows) & (dc < fp.n_cols) & (row >= 0) & (row < height)
                       & (col >= 0) & (col < width))
                row, col, z = row[hit], col[hit], fp.z[hit]
                # 1 / z changes linearly across the footprint (exactly so on a plane).
                scale = 1 + z * (fp.slope_u[hit] * (col - fp.u[hit])
                                 + fp.slope_v[hit] * (row - fp.v[hit]))
                np.minimum.at(out, row * width + col, np.where(scale > 0, z / scale, z))
    out[np.isinf(out)] = np.nan
    return out.reshape(height, width)


@dataclasses.dataclass(frozen=True)
class _Footprints:
    """Where each depth pixel lands in the colour image, one entry per pixel that lands."""

    row0: np.ndarray  # first colour row and column the footprint covers
    col0: np.ndarray
    n_rows: np.ndarray  # how many rows and columns it covers
    n_cols: np.ndarray
    u: np.ndarray  # the pixel centre's colour image coordinates and depth
    v: np.ndarray
    z: np.ndarray
    slope_u: np.ndarray  # change of 1 / z per colour pixel along u and v
    slope_v: np.ndarray


def _inverse_depth_slope(inverse: np.ndarray, axis: int) -> np.ndarray:
    """
    Return d(1/z) per pixel along an axis: central difference where the surface is continuous.

    A neighbour more than JUMP_FRACTION away in depth is across an edge: the difference to the
    other neighbour is used, or none (0).
    """
    forward = np.diff(inverse, axis=axis, append=np.nan)
    backward = np.diff(inverse, axis=axis, prepend=np.nan)
    with np.errstate(invalid='ignore'):
        limit = JUMP_FRACTION * inverse
        ok_f = np.abs(forward) <= limit
        ok_b = np.abs(backward) <= limit
    both = np.where(ok_f & ok_b, 0.5 * (forward + backward), 0.0)
    return np.where(ok_f & ok_b, both, np.where(ok_f, forward, np.where(ok_b, backward, 0.0)))


def _footprints(depth: np.ndarray, valid: np.ndarray, depth_camera: PinholeCamera,
                colour_camera: PinholeCamera, transform: np.ndarray) -> _Footprints:
    """
    Project every valid depth pixel into the colour camera.

    Returns per pixel the colour pixels its footprint covers (row0, col0, n_rows, n_cols), its
    centre's colour pixel coordinates (u, v) and depth (z), and the slope of the inverse depth
    per colour pixel (slope_u, slope_v): the depth camera's slope (neighbour differences)
    carried through the footprint's local linear map. float32 keeps positions to 1e-4 px on
    images up to 4k: plenty, at half the cost of float64.
    """
    rows, cols = np.nonzero(valid)
    z = depth[rows, cols].astype(np.float32)
    rotation = transform[:3, :3].astype(np.float32)
    translation = transform[:3, 3].astype(np.float32)
    x = (cols.astype(np.float32) - np.float32(depth_camera.cx)) / np.float32(depth_camera.fx)
    y = (rows.astype(np.float32) - np.float32(depth_camera.cy)) / np.float32(depth_camera.fy)
    centre = [z * (r[0] * x + r[1] * y + r[2]) + t for r, t in zip(rotation, translation)]
    fx, fy = np.float32(colour_camera.fx), np.float32(colour_camera.fy)
    cx, cy = np.float32(colour_camera.cx), np.float32(colour_camera.cy)
    keep = centre[2] > 0
    with np.errstate(divide='ignore', invalid='ignore'):
        inverse = 1 / centre[2]
        u_c, v_c = centre[0] * inverse * fx + cx, centre[1] * inverse * fy + cy
    # A pixel's corners lie half a pixel along the depth camera's u and v axes, at depth z.
    half_u = 0.5 * rotation[:, 0] / np.float32(depth_camera.fx)
    half_v = 0.5 * rotation[:, 1] / np.float32(depth_camera.fy)
    corners = {}
    for su, sv in ((-1, -1), (1, -1), (-1, 1), (1, 1)):
        step = su * half_u + sv * half_v
        corner_z = centre[2] + z * step[2]
        keep &= corner_z > 0
        with np.errstate(divide='ignore', invalid='ignore'):
            corner_inverse = 1 / corner_z
            corners[su, sv] = ((centre[0] + z * step[0]) * corner_inverse * fx + cx,
                               (centre[1] + z * step[1]) * corner_inverse * fy + cy)
    u_all = np.stack([c[0] for c in corners.values()])
    v_all = np.stack([c[1] for c in corners.values()])
    u_lo, u_hi, v_lo, v_hi = u_all.min(0), u_all.max(0), v_all.min(0), v_all.max(0)
    # The footprint's linear map [[a, b], [c, d]]: colour pixels (u, v) per depth pixel along
    # the depth camera's u (a, c) and v (b, d) axes, averaged over the footprint's two edges.
    along_u = [(corners[1, s][i] - corners[-1, s][i]) for s in (-1, 1) for i in (0, 1)]
    along_v = [(corners[s, 1][i] - corners[s, -1][i]) for s in (-1, 1) for i in (0, 1)]
    a, c = 0.5 * (along_u[0] + along_u[2]), 0.5 * (along_u[1] + along_u[3])
    b, d = 0.5 * (along_v[0] + along_v[2]), 0.5 * (along_v[1] + along_v[3])
    grid = np.full(depth.shape, np.nan, np.float32)
    grid[rows, cols] = inverse
    slope_du = _inverse_depth_slope(grid, 1)[rows, cols]
    slope_dv = _inverse_depth_slope(grid, 0)[rows, cols]
    with np.errstate(divide='ignore', invalid='ignore'):
        det = a * d - b * c
        slope_u = np.where(det != 0, (slope_du * d - slope_dv * c) / det, 0)
        slope_v = np.where(det != 0, (slope_dv * a - slope_du * b) / det, 0)
    # Colour pixel centres c with lo <= c < hi: c from ceil(lo) to ceil(hi) - 1, the box widened
    # by EDGE_SLACK_PX so that a centre on the edge between two neighbouring depth pixels
    # (computed with different round-off) is never missed by both.
    keep &= (u_hi > -0.5) & (u_lo < colour_camera.width - 0.5)
    keep &= (v_hi > -0.5) & (v_lo < colour_camera.height - 0.5)
    col0, col1 = np.ceil(u_lo[keep] - EDGE_SLACK_PX), np.ceil(u_hi[keep] + EDGE_SLACK_PX)
    row0, row1 = np.ceil(v_lo[keep] - EDGE_SLACK_PX), np.ceil(v_hi[keep] + EDGE_SLACK_PX)
    return _Footprints(
        col0=col0.astype(np.int64), row0=row0.astype(np.int64),
        n_cols=np.clip(col1 - col0, 0, MAX_FOOTPRINT_PX).astype(np.int64),
        n_rows=np.clip(row1 - row0, 0, MAX_FOOTPRINT_PX).astype(np.int64),
        u=u_c[keep], v=v_c[keep], z=centre[2][keep],
        slope_u=slope_u[keep].astype(np.float32), slope_v=slope_v[keep].astype(np.float32))


def distortion_shift_px(model: str, coefficients: Sequence[float], camera: PinholeCamera,
                        samples: int = 64) -> Optional[float]:
    """
    Return how far (pixels) the distortion moves points on the image border at most.

    Models plumb_bob and rational_polynomial (radial k1 k2 [k3 [k4 k5 k6]] over the ratio, and
    tangential p1 p2) and equidistant (k1..k4 on the angle); None for any other model. Zero
    coefficients give 0.
    """
    d = np.zeros(8)
    values = np.asarray(list(coefficients), dtype=np.float64)[:8]
    d[:values.size] = values
    if not np.any(d):
        return 0.0
    u = np.linspace(-0.5, camera.width - 0.5, samples)
    v = np.linspace(-0.5, camera.height - 0.5, samples)
    border_u = np.concatenate([u, u, np.full(samples, u[0]), np.full(samples, u[-1])])
    border_v = np.concatenate([np.full(samples, v[0]), np.full(samples, v[-1]), v, v])
    x = (border_u - camera.cx) / camera.fx
    y = (border_v - camera.cy) / camera.fy
    r2 = x * x + y * y
    if model in ('plumb_bob', 'rational_polynomial'):
        k1, k2, p1, p2, k3, k4, k5, k6 = d
        radial = ((1 + r2 * (k1 + r2 * (k2 + r2 * k3)))
                  / (1 + r2 * (k4 + r2 * (k5 + r2 * k6))))
        xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    elif model == 'equidistant':
        k1, k2, k3, k4 = d[:4]
        r = np.sqrt(r2)
        theta = np.arctan(r)
        t2 = theta * theta
        theta_d = theta * (1 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4))))
        scale = np.where(r > 1e-12, theta_d / np.maximum(r, 1e-12), 1.0)
        xd, yd = x * scale, y * scale
    else:
        return None
    shift = np.hypot((xd - x) * camera.fx, (yd - y) * camera.fy)
    return float(np.max(shift))


def describe_chain(edges: Iterable[Edge]) -> str:
    """Return the static transforms as 'parent -> child' pairs, for messages."""
    return ', '.join(f'{parent} -> {child}' for parent, child in sorted(edges)) or 'none'
