"""
Surface normals from a depth image by local plane fits: the NYU loaders' normal ground truth.

Training-only (the node predicts normals, it does not estimate them from depth), so it lives in
the trainer. Numpy only; points come from the runtime's ``ros2_depth.geometry.backproject``.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np
from ros2_depth.camera_model import PinholeCamera
from ros2_depth.geometry import backproject

# Defaults of normals_from_depth, chosen for 640x480 Kinect-like depth (see its docstring).
NORMALS_WINDOW = 15
NORMALS_MIN_VALID = 0.5
NORMALS_MAX_JUMP = 0.05
NORMALS_MAX_THICKNESS = 0.4


def _box_sums(values: np.ndarray, window: int) -> np.ndarray:
    """Sum (H, W, C) values over the window x window box centred on each pixel (0 outside)."""
    half = window // 2
    for axis in (0, 1):
        pad = [(0, 0)] * values.ndim
        pad[axis] = (half + 1, half)
        cumulative = np.cumsum(np.pad(values, pad), axis=axis)
        if axis == 0:
            values = cumulative[window:] - cumulative[:-window]
        else:
            values = cumulative[:, window:] - cumulative[:, :-window]
    return values


def _pixels_inside(size: int, window: int) -> np.ndarray:
    """Return how many pixels of a window centred on each of `size` pixels lie in the image."""
    index, half = np.arange(size), window // 2
    return np.minimum(index, half) + np.minimum(size - 1 - index, half) + 1


def _row_jumps(z: np.ndarray, max_jump: float, max_gap: int) -> np.ndarray:
    """Mark the row segments between consecutive valid pixels of (H, W) depth z that jump."""
    height, width = z.shape
    valid = z > 0
    following = np.where(valid, np.arange(width), width)
    following = np.minimum.accumulate(following[:, ::-1], axis=1)[:, ::-1]
    # The next valid pixel strictly right of each pixel (width: none).
    following = np.concatenate([following[:, 1:], np.full((height, 1), width)], axis=1)
    rows, first = np.nonzero(valid & (following < width))
    last = following[rows, first]
    a, b = z[rows, first], z[rows, last]
    jump = (last - first - 1 <= max_gap) & (np.abs(a - b) > max_jump * np.minimum(a, b))
    marks = np.zeros((height, width + 1), dtype=np.int64)
    np.add.at(marks, (rows[jump], first[jump]), 1)
    np.add.at(marks, (rows[jump], last[jump] + 1), -1)
    return np.cumsum(marks, axis=1)[:, :width] > 0


def depth_jumps(depth: np.ndarray, max_jump: float, max_gap: int = 0) -> np.ndarray:
    """
    Return (H, W) bool: where depth jumps between neighbours along a row or a column.

    Two consecutive valid pixels of a row or column (finite depth > 0) jump when their depths
    differ by more than `max_jump` times the nearer one; they and the at most `max_gap` invalid
    pixels between them are marked. Gaps let a step across a hole (the projector shadow of a
    structured-light camera beside an occluding edge) count as a jump.
    """
    z = np.where(np.isfinite(depth) & (depth > 0), depth, 0).astype(np.float64)
    return _row_jumps(z, max_jump, max_gap) | _row_jumps(z.T, max_jump, max_gap).T


def smallest_eigen(covariance: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """
    Return the two smallest eigenvalues and the smallest one's unit eigenvector of (N, 3, 3).

    Closed form for symmetric 3x3 matrices, elementwise over the six distinct entries (several
    times faster than ``np.linalg.eigh`` on many small matrices): the eigenvalues from the
    trigonometric solution of the characteristic cubic, the eigenvector as the longest cross
    product of two rows of A - l0 I (they span the plane perpendicular to it). Returns
    (l0, l1, v0) with l0 <= l1; where the smallest eigenvalue is repeated, v0 is one unit vector
    of its eigenspace.
    """
    a = np.asarray(covariance, dtype=np.float64)
    xx, xy, xz = a[:, 0, 0], a[:, 0, 1], a[:, 0, 2]
    yy, yz, zz = a[:, 1, 1], a[:, 1, 2], a[:, 2, 2]
    q = (xx + yy + zz) / 3.0
    dx, dy, dz = xx - q, yy - q, zz - q
    p = np.sqrt((dx * dx + dy * dy + dz * dz + 2.0 * (xy * xy + xz * xz + yz * yz)) / 6.0)
    det = (dx * (dy * dz - yz * yz) - xy * (xy * dz - yz * xz) + xz * (xy * yz - dy * xz))
    with np.errstate(divide='ignore', invalid='ignore'):
        half_det = np.where(p > 0, det / (2.0 * p ** 3), 0.0)
    phi = np.arccos(np.clip(half_det, -1.0, 1.0)) / 3.0
    l0 = q + 2.0 * p * np.cos(phi + 2.0 * np.pi / 3.0)
    l2 = q + 2.0 * p * np.cos(phi)
    l1 = 3.0 * q - l0 - l2
    r0 = (xx - l0, xy, xz)
    r1 = (xy, yy - l0, yz)
    r2 = (xz, yz, zz - l0)
    best = np.zeros((len(a), 3))
    best_length = np.full(len(a), -1.0)
    for u, v in ((r0, r1), (r0, r2), (r1, r2)):
        cross = np.stack([u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2],
                          u[0] * v[1] - u[1] * v[0]], axis=1)
        length = np.einsum('ij,ij->i', cross, cross)
        longer = length > best_length
        best[longer] = cross[longer]
        best_length = np.where(longer, length, best_length)
    # A repeated smallest eigenvalue leaves A - l0 I of rank 1 (or 0): its eigenvectors are then
    # every vector perpendicular to the non-zero row (or every vector).
    scale = np.max(np.abs(a.reshape(len(a), 9)), axis=1)
    degenerate = np.sqrt(best_length) <= 1e-10 * scale * scale
    if degenerate.any():
        rows = np.stack([np.stack(r, axis=1) for r in (r0, r1, r2)], axis=1)[degenerate]
        row = rows[np.arange(len(rows)), np.argmax(np.linalg.norm(rows, axis=2), axis=1)]
        axis = np.eye(3)[np.argmin(np.abs(row), axis=1)]
        side = np.cross(row, axis)
        flat = np.linalg.norm(row, axis=1) <= 1e-10 * scale[degenerate]
        side[flat] = (0.0, 0.0, 1.0)
        best[degenerate] = side
    return l0, l1, best / np.linalg.norm(best, axis=1, keepdims=True)


def normals_from_depth(
    depth: np.ndarray,
    camera: PinholeCamera,
    window: int = NORMALS_WINDOW,
    min_valid: float = NORMALS_MIN_VALID,
    max_jump: float = NORMALS_MAX_JUMP,
    max_thickness: float = NORMALS_MAX_THICKNESS,
) -> np.ndarray:
    """
    Estimate (H, W, 3) float32 unit surface normals from a depth image by local plane fits.

    Depth is in metres along the optical axis; finite values > 0 are valid. The valid pixels are
    back-projected (`backproject`) and, for every pixel, a plane is fitted by least squares to
    the points of the `window` x `window` box centred on it: the normal is the eigenvector of
    the smallest eigenvalue of the points' 3x3 covariance (total least squares: distances
    perpendicular to the plane). The box sums of x, y, z and their products come from
    cumulative sums, so the cost does not grow with the window; the eigenvectors come from the
    closed-form 3x3 solution `smallest_eigen`. Normals are in the camera optical frame (x right,
    y down, z forward) and point towards the camera (n . p < 0 for the surface point p), as in the
    generated data. Pixels without a normal are zeros.

    A pixel gets a normal when
    - its own depth is valid;
    - at least `min_valid` of its window's pixels inside the image have valid depth (and at
      least 3), so pixels at the image border are treated like the others;
    - the window holds no depth discontinuity (`depth_jumps` with `max_jump` and gaps up to
      window - 2 pixels): no two consecutive valid pixels of a row or column, adjacent or
      across a hole, whose depths differ by more than `max_jump` times the nearer one. A
      window across an occluding edge gets no normal rather than a blend of the two surfaces:
      about window // 2 pixels on each side of the edge stay empty. 0.05 is the relative depth
      threshold of the local plane fits in Silberman et al.'s NYU Depth v2 code
      (`compute_local_planes.m`), which drops such neighbours from the fit instead;
    - the points are planar: sqrt(l0 / l1) <= `max_thickness`, where l0 <= l1 <= l2 are the
      covariance's eigenvalues, i.e. the RMS distance of the points from the plane relative to
      their RMS spread along the plane's narrower axis (free of depth and resolution). It
      rejects creases and steps smaller than `max_jump` when the depth is exact (a plane
      scores ~0). Kinect depth is quantised (steps of about 3 cm at 3 m): on a real Kinect
      frame at 640x480 with 15-pixel windows the median score is about 0.35, hence the
      default, which keeps about half of that frame's pixels with depth.

    Steps smaller than `max_jump` that `max_thickness` lets through are blended. The window is
    in pixels: the default suits 640x480; a larger one averages more sensor noise but blends
    more across creases and empties a wider band at occluding edges. The result is an
    estimate, like the ground truth of the papers that train normals on NYU Depth v2 (local
    plane fits to back-projected depth), not a measurement.
    """
    if window < 3 or window % 2 == 0:
        raise ValueError(f'window must be an odd number >= 3, got {window}')
    depth = np.asarray(depth)
    valid = np.isfinite(depth) & (depth > 0)
    points = backproject(np.where(valid, depth, 0), camera).astype(np.float64)
    x, y, z = points[..., 0], points[..., 1], points[..., 2]
    jumps = depth_jumps(depth, max_jump, window - 2)
    sums = _box_sums(np.stack([valid, jumps, x, y, z, x * x, x * y, x * z, y * y, y * z, z * z],
                              axis=-1), window)
    count = sums[..., 0]
    inside = np.outer(_pixels_inside(depth.shape[0], window),
                      _pixels_inside(depth.shape[1], window))
    fit = valid & (count >= np.maximum(min_valid * inside, 3)) & (sums[..., 1] == 0)
    moments = sums[fit] / count[fit, None]
    mean = moments[:, 2:5]
    rows, cols = np.triu_indices(3)
    covariance = np.empty((len(moments), 3, 3))
    covariance[:, rows, cols] = moments[:, 5:] - mean[:, rows] * mean[:, cols]
    covariance[:, cols, rows] = covariance[:, rows, cols]
    smallest, second, normal = smallest_eigen(covariance)
    # The plane passes through the mean point: turn the normal to the camera's side of it.
    normal *= np.where(np.einsum('ij,ij->i', normal, mean) > 0, -1.0, 1.0)[:, None]
    planar = np.maximum(smallest, 0) <= max_thickness ** 2 * second
    planar &= second > 0
    out = np.zeros(depth.shape + (3,), dtype=np.float32)
    out[fit] = np.where(planar[:, None], normal, 0.0)
    return out
