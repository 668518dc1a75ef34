"""
Pinhole intrinsics and how they change when an image is cropped, resized or resampled.

Pixel centres sit at integer coordinates (the ROS / OpenCV convention): the first pixel covers
[-0.5, 0.5). A resampling that maps destination pixel u' to source pixel u = scale * u' + offset
turns intrinsics (f, c) into (f / scale, (c - offset) / scale); every crop and resize is such a
map, which is how the node keeps the camera_info of each output image exact.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Optional, Sequence, Tuple

import numpy as np


# The tangent of the angle between the optical axis and the farther image edge, in each axis,
# lies between these for any real rectified camera (0.2 milliarcseconds to 89.94 degrees):
# intrinsics beyond them are garbage, and would overflow the float32 point cloud (a far principal
# point, a tiny focal length) or the arithmetic on focal lengths (one near the float maximum).
EDGE_SLOPE_RANGE = (1e-9, 1000.0)


class CameraInfoError(ValueError):
    """A camera_info message cannot be used as pinhole intrinsics."""


@dataclasses.dataclass(frozen=True)
class AxisMap:
    """Affine map from destination pixel centres to source pixel centres on one axis."""

    scale: float
    offset: float

    def __call__(self, dst: np.ndarray) -> np.ndarray:
        """Return source coordinates of destination coordinates."""
        return self.scale * dst + self.offset

    def then(self, inner: 'AxisMap') -> 'AxisMap':
        """Compose: `inner` maps a finer grid to this map's destination; return finer -> source."""
        return AxisMap(self.scale * inner.scale, self.scale * inner.offset + self.offset)


@dataclasses.dataclass(frozen=True)
class ImageMap:
    """Affine maps of both axes from a destination image onto a source image."""

    x: AxisMap
    y: AxisMap

    def then(self, inner: 'ImageMap') -> 'ImageMap':
        """Compose with a map whose source is this map's destination."""
        return ImageMap(self.x.then(inner.x), self.y.then(inner.y))


def resize_map(src_size: int, dst_size: int, src_offset: float = 0.0) -> AxisMap:
    """Map of resizing `src_size` pixels (starting at `src_offset`) to `dst_size` pixels."""
    scale = src_size / dst_size
    return AxisMap(scale, 0.5 * scale - 0.5 + src_offset)


@dataclasses.dataclass(frozen=True)
class PinholeCamera:
    """Intrinsics of a rectified image of width x height pixels."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float

    def __post_init__(self) -> None:
        """Reject intrinsics that cannot project."""
        if self.width <= 0 or self.height <= 0:
            raise CameraInfoError(f'camera size must be positive, got {self.width}x{self.height}')
        if not (
            np.isfinite([self.fx, self.fy, self.cx, self.cy]).all() and self.fx > 0 and self.fy > 0
        ):
            raise CameraInfoError(
                f'focal lengths must be positive and finite, got fx={self.fx} fy={self.fy}'
            )

    @property
    def size(self) -> Tuple[int, int]:
        """(width, height)."""
        return self.width, self.height

    @property
    def k(self) -> np.ndarray:
        """Return the 3x3 camera matrix."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def resampled(self, mapping: ImageMap, width: int, height: int) -> 'PinholeCamera':
        """Return the intrinsics of a width x height image mapped onto this one by `mapping`."""
        return PinholeCamera(
            width=width,
            height=height,
            fx=self.fx / mapping.x.scale,
            fy=self.fy / mapping.y.scale,
            cx=(self.cx - mapping.x.offset) / mapping.x.scale,
            cy=(self.cy - mapping.y.offset) / mapping.y.scale,
        )

    def project(self, points: np.ndarray) -> np.ndarray:
        """Project (..., 3) camera-frame points to (..., 2) pixel coordinates."""
        z = points[..., 2]
        return np.stack(
            [self.fx * points[..., 0] / z + self.cx, self.fy * points[..., 1] / z + self.cy], -1
        )


def _matrix(values: Sequence[float], rows: int, cols: int, name: str) -> np.ndarray:
    matrix = np.asarray(values, dtype=np.float64)
    if matrix.size != rows * cols:
        raise CameraInfoError(
            f'camera_info {name} has {matrix.size} values, expected {rows * cols}'
        )
    return matrix.reshape(rows, cols)


def camera_from_info(info: Any) -> PinholeCamera:
    """
    Return the intrinsics of the (rectified) image described by a sensor_msgs/CameraInfo.

    Uses the projection matrix P, which describes the rectified image, and K only when P is all
    zeros (an uncalibrated driver); a P or K with non-positive or non-finite focal lengths, a
    non-finite principal point, or an image edge whose distance from the principal point, in
    focal lengths, lies outside EDGE_SLOPE_RANGE, is an error naming the matrix, never silently
    replaced. Binning and region of interest are applied (an ROI outside the sensor is an
    error), so the result describes the image as published.
    """
    p = _matrix(info.p, 3, 4, 'P')
    k = _matrix(info.k, 3, 3, 'K')
    if np.any(p != 0):
        name, (fx, fy, cx, cy) = 'P', (p[0, 0], p[1, 1], p[0, 2], p[1, 2])
    elif np.any(k != 0):
        name, (fx, fy, cx, cy) = 'K', (k[0, 0], k[1, 1], k[0, 2], k[1, 2])
    else:
        raise CameraInfoError(
            'camera_info has neither P nor K set (all zeros): the camera is not '
            'calibrated; calibrate it (camera_calibration) or publish its intrinsics'
        )
    if not (np.isfinite([fx, fy]).all() and fx > 0 and fy > 0):
        raise CameraInfoError(
            f'camera_info {name} has focal lengths fx={fx} fy={fy}; they must be positive and '
            'finite: publish the calibrated intrinsics'
        )
    if not np.isfinite([cx, cy]).all():
        raise CameraInfoError(
            f'camera_info {name} has principal point cx={cx} cy={cy}; it must be finite: '
            'publish the calibrated intrinsics'
        )
    width, height = int(info.width), int(info.height)
    axes = (('x', float(fx), float(cx), width), ('y', float(fy), float(cy), height))
    for axis, f, c, size in axes:
        slope = max(abs(c + 0.5), abs(size - 0.5 - c)) / f  # tan of the edge's angle off axis
        if not EDGE_SLOPE_RANGE[0] <= slope <= EDGE_SLOPE_RANGE[1]:
            raise CameraInfoError(
                f'camera_info {name} has f{axis}={f:.6g} c{axis}={c:.6g} for an image {size} '
                f'pixels across: its farther edge would lie {slope:.3g} focal lengths from the '
                f'principal point, outside the {EDGE_SLOPE_RANGE[0]:g} to '
                f'{EDGE_SLOPE_RANGE[1]:g} of real cameras (0.2 milliarcseconds to 89.94 degrees '
                'off the optical axis): publish the calibrated intrinsics'
            )
    bin_x, bin_y = max(int(info.binning_x), 1), max(int(info.binning_y), 1)
    roi = info.roi
    x_off, y_off, roi_w, roi_h = (
        int(roi.x_offset),
        int(roi.y_offset),
        int(roi.width),
        int(roi.height),
    )
    if roi_w == 0 or roi_h == 0:
        x_off, y_off, roi_w, roi_h = 0, 0, width, height
    elif x_off + roi_w > width or y_off + roi_h > height:
        raise CameraInfoError(
            f'camera_info ROI {roi_w}x{roi_h} at ({x_off}, {y_off}) lies outside the '
            f'{width}x{height} sensor: fix the ROI, or the width and height, the driver publishes'
        )
    full = PinholeCamera(width=width, height=height, fx=fx, fy=fy, cx=cx, cy=cy)
    # A binned pixel averages bin x bin sensor pixels: its centre lies half a pixel in from their
    # corner.
    mapping = ImageMap(
        AxisMap(bin_x, 0.5 * bin_x - 0.5 + x_off), AxisMap(bin_y, 0.5 * bin_y - 0.5 + y_off)
    )
    return full.resampled(mapping, roi_w // bin_x, roi_h // bin_y)


def fill_camera_info(info: Any, camera: PinholeCamera) -> Any:
    """Write rectified, distortion-free intrinsics into a sensor_msgs/CameraInfo."""
    info.width, info.height = camera.width, camera.height
    info.distortion_model = 'plumb_bob'
    info.d = [0.0] * 5
    info.k = [camera.fx, 0.0, camera.cx, 0.0, camera.fy, camera.cy, 0.0, 0.0, 1.0]
    info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    info.p = [camera.fx, 0.0, camera.cx, 0.0, 0.0, camera.fy, camera.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    info.binning_x = info.binning_y = 0
    info.roi.x_offset = info.roi.y_offset = info.roi.height = info.roi.width = 0
    info.roi.do_rectify = False
    return info


# Distortion models of sensor_msgs/distortion_models.hpp that `undistort_normalized` inverts,
# with how many coefficients each uses.
DISTORTION_MODELS = {'plumb_bob': 5, 'rational_polynomial': 8, 'equidistant': 4}
_UNDISTORT_ITERATIONS = 50
_UNDISTORT_TOLERANCE = 1e-12  # normalised image units (about 1e-9 pixels)


@dataclasses.dataclass(frozen=True)
class Distortion:
    """
    Lens distortion of an unrectified image, as a CameraInfo describes it.

    `k` is the sensor's 3x3 camera matrix K (row-major), `coefficients` the D of
    `model`, and `sensor_map` maps the published image's pixels (after binning and ROI) onto
    sensor pixels.
    """

    model: str
    coefficients: Tuple[float, ...]
    k: Tuple[float, ...]
    sensor_map: ImageMap
    width: int
    height: int


def distortion_from_info(info: Any) -> Optional[Distortion]:
    """
    Return the distortion a CameraInfo describes, or None when it has none (all D zero).

    Raise CameraInfoError for a distortion model this package cannot invert or a K that cannot
    project.
    """
    coefficients = tuple(float(c) for c in info.d)
    if not any(coefficients):
        return None
    model = str(info.distortion_model)
    if model not in DISTORTION_MODELS:
        raise CameraInfoError(
            f'camera_info distortion model "{model}" with non-zero D is not supported; use one '
            f'of {sorted(DISTORTION_MODELS)}, or rectify the image (image_proc) and set '
            'input_rectified:=true'
        )
    if not np.isfinite(coefficients).all():
        raise CameraInfoError(f'camera_info D has non-finite coefficients {list(coefficients)}')
    k = _matrix(info.k, 3, 3, 'K')
    if not (np.isfinite(k).all() and k[0, 0] > 0 and k[1, 1] > 0):
        raise CameraInfoError(
            f'camera_info K has focal lengths fx={k[0, 0]} fy={k[1, 1]}; an unrectified '
            'image needs its calibrated K'
        )
    count = DISTORTION_MODELS[model]
    padded = (coefficients + (0.0,) * count)[:count]
    width, height = int(info.width), int(info.height)
    bin_x, bin_y = max(int(info.binning_x), 1), max(int(info.binning_y), 1)
    roi = info.roi
    x_off, y_off, roi_w, roi_h = int(roi.x_offset), int(roi.y_offset), int(roi.width), int(
        roi.height)
    if roi_w == 0 or roi_h == 0:
        x_off, y_off, roi_w, roi_h = 0, 0, width, height
    mapping = ImageMap(
        AxisMap(bin_x, 0.5 * bin_x - 0.5 + x_off), AxisMap(bin_y, 0.5 * bin_y - 0.5 + y_off)
    )
    return Distortion(model, padded, tuple(float(v) for v in k.ravel()), mapping,
                      roi_w // bin_x, roi_h // bin_y)


def distort_normalized(x: np.ndarray, y: np.ndarray, model: str,
                       coefficients: Sequence[float]) -> Tuple[np.ndarray, np.ndarray]:
    """Apply a distortion model to undistorted normalised coordinates (x/z, y/z)."""
    if model == 'equidistant':
        k1, k2, k3, k4 = coefficients
        r = np.hypot(x, y)
        theta = np.arctan(r)
        t2 = theta * theta
        theta_d = theta * (1 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4))))
        with np.errstate(invalid='ignore', divide='ignore'):
            scale = np.where(r > 0, theta_d / r, 1.0)
        return x * scale, y * scale
    k1, k2, p1, p2, k3, k4, k5, k6 = (tuple(coefficients) + (0.0,) * 3)[:8]
    r2 = x * x + y * y
    radial = (1 + r2 * (k1 + r2 * (k2 + r2 * k3))) / (1 + r2 * (k4 + r2 * (k5 + r2 * k6)))
    xy = x * y
    return (x * radial + 2 * p1 * xy + p2 * (r2 + 2 * x * x),
            y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * xy)


def _largest(values: np.ndarray) -> float:
    """Return the largest finite magnitude in `values` (0 when there is none)."""
    return float(np.max(np.abs(values), where=np.isfinite(values), initial=0.0))


def fold_radius(model: str, coefficients: Sequence[float]) -> float:
    """
    Return the undistorted radius (tan of the angle off axis) where the model's radial part folds.

    Beyond it the distorted radius shrinks again, so the model no longer describes a lens: rays
    there are not inverted (the largest radius examined, 100, when it never folds; pi/2 for
    'equidistant', whose radius is the angle itself, where it cannot go beyond).
    """
    coefficients = tuple(coefficients)
    if model == 'equidistant':
        theta = np.linspace(0.0, np.pi / 2, 20001)[1:]
        k1, k2, k3, k4 = coefficients
        t2 = theta * theta
        slope = 1 + t2 * (3 * k1 + t2 * (5 * k2 + t2 * (7 * k3 + t2 * 9 * k4)))
        folded = np.flatnonzero(slope <= 0)
        return float(theta[folded[0]]) if folded.size else float(np.pi / 2)
    radius = np.linspace(0.0, 100.0, 200001)
    radial = coefficients[:2] + (0.0, 0.0) + coefficients[4:]  # no tangential part
    distorted, _ = distort_normalized(radius, np.zeros_like(radius), model, radial)
    folded = np.flatnonzero(np.diff(distorted) <= 0)
    return float(radius[folded[0]]) if folded.size else float(radius[-1])


def undistort_normalized(xd: np.ndarray, yd: np.ndarray, model: str,
                         coefficients: Sequence[float]) -> Tuple[np.ndarray, np.ndarray]:
    """
    Invert `distort_normalized` by Newton's method; NaN where no ray reaches a point.

    The iterates are kept inside the model's fold (`fold_radius`), so they cannot converge to
    the mirror solution beyond it; a distorted point outside the image circle of a strong barrel
    distortion (no ray reaches it through the model) does not converge and gets NaN.
    """
    xd = np.asarray(xd, np.float64)
    yd = np.asarray(yd, np.float64)
    limit = fold_radius(model, coefficients)
    if model == 'equidistant':
        k1, k2, k3, k4 = coefficients
        rd = np.hypot(xd, yd)
        theta = np.minimum(rd, limit)
        step = np.zeros_like(theta)
        for _ in range(_UNDISTORT_ITERATIONS):
            t2 = theta * theta
            value = theta * (1 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4)))) - rd
            slope = 1 + t2 * (3 * k1 + t2 * (5 * k2 + t2 * (7 * k3 + t2 * 9 * k4)))
            step = value / slope
            theta = np.clip(theta - step, 0.0, limit)
            if _largest(step) < _UNDISTORT_TOLERANCE:
                break
        with np.errstate(invalid='ignore', divide='ignore'):
            bad = ~((theta < min(limit, np.pi / 2) * (1 - 1e-9)) & (np.abs(step) < 1e-9))
            scale = np.where(rd > 0, np.tan(theta) / rd, 1.0)
        scale[bad] = np.nan
        return xd * scale, yd * scale
    x, y = xd.copy(), yd.copy()
    h = 1e-7
    for _ in range(_UNDISTORT_ITERATIONS):
        fx, fy = distort_normalized(x, y, model, coefficients)
        ex, ey = fx - xd, fy - yd
        # The Jacobian by central differences: exact enough for Newton, and model-agnostic.
        ax, ay = distort_normalized(x + h, y, model, coefficients)
        bx, by = distort_normalized(x - h, y, model, coefficients)
        cx, cy = distort_normalized(x, y + h, model, coefficients)
        dx, dy = distort_normalized(x, y - h, model, coefficients)
        j11, j21 = (ax - bx) / (2 * h), (ay - by) / (2 * h)
        j12, j22 = (cx - dx) / (2 * h), (cy - dy) / (2 * h)
        det = j11 * j22 - j12 * j21
        with np.errstate(invalid='ignore', divide='ignore'):
            step_x = (j22 * ex - j12 * ey) / det
            step_y = (j11 * ey - j21 * ex) / det
            x, y = x - step_x, y - step_y
            shrink = np.minimum(1.0, limit / np.hypot(x, y))  # back inside the fold
        x *= shrink
        y *= shrink
        if _largest(np.abs(step_x) + np.abs(step_y)) < _UNDISTORT_TOLERANCE:
            break
    fx, fy = distort_normalized(x, y, model, coefficients)
    with np.errstate(invalid='ignore'):
        bad = ~((np.abs(fx - xd) + np.abs(fy - yd) < 1e-9) & (np.hypot(x, y) < limit * (1 - 1e-9)))
    x[bad] = np.nan
    y[bad] = np.nan
    return x, y


@functools.lru_cache(maxsize=4)
def undistorted_rays(distortion: Distortion) -> Tuple[np.ndarray, np.ndarray]:
    """
    Return x/z and y/z, (H, W) float32 each, of the ray through every pixel of a distorted image.

    Pixels go to sensor pixels (binning, ROI), through K^-1 to distorted normalised
    coordinates, then through the inverse distortion. The rays are in the camera's own
    (unrectified) optical frame, so R is not applied; NaN where no ray reaches a pixel. Cached
    per calibration, since it costs tens of milliseconds.
    """
    fx, skew, cx, _, fy, cy = distortion.k[:6]
    u = distortion.sensor_map.x(np.arange(distortion.width, dtype=np.float64))
    v = distortion.sensor_map.y(np.arange(distortion.height, dtype=np.float64))
    yd = np.broadcast_to(((v - cy) / fy)[:, None], (distortion.height, distortion.width))
    xd = (u[None, :] - cx - skew * yd) / fx
    x, y = undistort_normalized(xd, yd, distortion.model, distortion.coefficients)
    return x.astype(np.float32), y.astype(np.float32)
