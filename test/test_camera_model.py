"""
Unit tests of ros2_depth.camera_model, checked against OpenCV and 3D projection.

Affine pixel maps are compared with what cv2.resize does to real pixels, intrinsics with the
projection of 3D points, and camera_info parsing uses a real calibration file.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from ros2_depth.camera_model import (
    AxisMap, camera_from_info, CameraInfoError, distort_normalized, distortion_from_info,
    fill_camera_info, fold_radius, ImageMap, PinholeCamera, resize_map, undistort_normalized,
    undistorted_rays)
from sensor_msgs.msg import CameraInfo
import yaml


@pytest.fixture(scope='module')
def calibration(camera_data: Path) -> dict:
    """Return the camera_info YAML of a real calibrated camera (camera_calibration's format)."""
    return yaml.safe_load((camera_data / 'camera_info' / 'test_calibration.yaml').read_text())


@pytest.fixture
def calibrated_info(calibration: dict) -> CameraInfo:
    """Return a CameraInfo filled from the calibration file, as camera_info_manager does."""
    info = CameraInfo()
    info.header.frame_id = 'camera_optical'
    info.width = calibration['image_width']
    info.height = calibration['image_height']
    info.distortion_model = calibration['distortion_model']
    info.d = [float(v) for v in calibration['distortion_coefficients']['data']]
    info.k = [float(v) for v in calibration['camera_matrix']['data']]
    info.r = [float(v) for v in calibration['rectification_matrix']['data']]
    info.p = [float(v) for v in calibration['projection_matrix']['data']]
    return info


def random_points(count: int = 500, seed: int = 0) -> np.ndarray:
    """Return 3D points in front of the camera, spread over a wide field of view."""
    rng = np.random.default_rng(seed)
    z = rng.uniform(0.3, 30.0, count)
    xy = rng.uniform(-0.8, 0.8, (count, 2)) * z[:, None]
    return np.column_stack([xy, z])


def tent(x: np.ndarray) -> np.ndarray:
    """Return the bilinear interpolation kernel at x."""
    return np.clip(1.0 - np.abs(x), 0.0, None)


# --- AxisMap / ImageMap --------------------------------------------------------------------------

def test_axis_map_applies_scale_and_offset() -> None:
    m = AxisMap(2.5, -1.25)
    np.testing.assert_allclose(m(np.array([0.0, 1.0, 4.0])), [-1.25, 1.25, 8.75])


def test_axis_map_then_composes_inner_first() -> None:
    outer, inner = AxisMap(2.105, 0.55), AxisMap(2.0, 5.0)
    x = np.linspace(-10, 200, 57)
    np.testing.assert_allclose(outer.then(inner)(x), outer(inner(x)), rtol=0, atol=1e-9)
    # Composition is not commutative: the order must matter.
    assert not np.allclose(inner.then(outer)(x), outer(inner(x)))


def test_axis_map_then_is_associative() -> None:
    a, b, c = AxisMap(3.0, 1.0), AxisMap(0.5, -2.0), AxisMap(1.7, 0.3)
    x = np.linspace(-5, 5, 11)
    np.testing.assert_allclose(a.then(b).then(c)(x), a.then(b.then(c))(x), atol=1e-12)
    np.testing.assert_allclose(a.then(b).then(c)(x), a(b(c(x))), atol=1e-12)


def test_image_map_then_composes_each_axis() -> None:
    outer = ImageMap(AxisMap(2.0, 0.5), AxisMap(3.0, -1.0))
    inner = ImageMap(AxisMap(0.25, 4.0), AxisMap(1.5, 2.0))
    both = outer.then(inner)
    assert both.x == outer.x.then(inner.x)
    assert both.y == outer.y.then(inner.y)
    assert both.x == AxisMap(0.5, 8.5)
    assert both.y == AxisMap(4.5, 5.0)


# --- resize_map against OpenCV -------------------------------------------------------------------

@pytest.mark.parametrize('src, dst', [(640, 304), (480, 228), (100, 250), (50, 200), (304, 147),
                                      (7, 3), (3, 11)])
def test_resize_map_matches_cv2_linear_on_a_ramp(src: int, dst: int) -> None:
    ramp = np.tile(np.arange(src, dtype=np.float32), (4, 1))
    resized = cv2.resize(ramp, (dst, 4), interpolation=cv2.INTER_LINEAR)[2]
    predicted = resize_map(src, dst)(np.arange(dst, dtype=np.float64))
    inside = (predicted >= 0) & (predicted <= src - 1)  # OpenCV clamps at the borders
    assert inside.sum() > dst // 2
    np.testing.assert_allclose(resized[inside], predicted[inside], rtol=0, atol=1e-3)


def assert_area_resized_ramp(resized: np.ndarray, predicted: np.ndarray, scale: float) -> None:
    """
    Compare an INTER_AREA-resized ramp with the map's prediction of each destination centre.

    Area averaging of pixel values (a staircase, not a line) is off the footprint centre by at
    most f(1 - f) / 2 / scale for a partly covered end pixel (f its coverage): 0.125 / scale. A
    half-pixel mistake in the map would be off by 0.5 * (scale - 1) everywhere, and the error
    must average out.
    """
    error = resized - predicted
    assert np.abs(error).max() <= 0.125 / scale + 1e-3, np.abs(error).max()
    assert abs(error.mean()) < 5e-3, error.mean()


@pytest.mark.parametrize('src, dst', [(640, 320), (608, 304), (900, 300), (640, 304), (1280, 304),
                                      (480, 228)])
def test_resize_map_matches_cv2_area_on_a_ramp(src: int, dst: int) -> None:
    ramp = np.tile(np.arange(src, dtype=np.float32)[:, None], (1, 3))
    resized = cv2.resize(ramp, (3, dst), interpolation=cv2.INTER_AREA)[:, 1]
    predicted = resize_map(src, dst)(np.arange(dst, dtype=np.float64))
    assert_area_resized_ramp(resized, predicted, src / dst)


@pytest.mark.parametrize('src, dst', [(9, 40), (20, 31), (40, 17), (64, 64)])
def test_resize_map_matches_cv2_linear_on_a_single_bright_pixel(src: int, dst: int) -> None:
    u0, v0 = src // 2 - 1, src // 3
    image = np.zeros((src, src), np.float32)
    image[v0, u0] = 1.0
    resized = cv2.resize(image, (dst, dst), interpolation=cv2.INTER_LINEAR)
    coords = resize_map(src, dst)(np.arange(dst, dtype=np.float64))
    # Bilinear interpolation of a unit impulse is the product of two tents around it.
    expected = tent(coords - v0)[:, None] * tent(coords - u0)[None, :]
    np.testing.assert_allclose(resized, expected, rtol=0, atol=1e-4)
    assert resized.max() > 0.2


def test_resize_map_with_source_offset_matches_cv2_crop_and_resize() -> None:
    width, x0, crop, dst = 200, 37, 120, 50
    ramp = np.tile(np.arange(width, dtype=np.float32), (3, 1))
    resized = cv2.resize(ramp[:, x0:x0 + crop], (dst, 3), interpolation=cv2.INTER_AREA)[1]
    predicted = resize_map(crop, dst, x0)(np.arange(dst, dtype=np.float64))
    assert_area_resized_ramp(resized, predicted, crop / dst)
    assert predicted[0] == pytest.approx(x0 + 0.5 * crop / dst - 0.5)


def test_resize_map_identity() -> None:
    assert resize_map(640, 640) == AxisMap(1.0, 0.0)
    assert resize_map(640, 640, 12.0) == AxisMap(1.0, 12.0)


def test_resize_map_keeps_the_image_centre() -> None:
    for src, dst in [(640, 304), (480, 228), (33, 100)]:
        assert resize_map(src, dst)((dst - 1) / 2) == pytest.approx((src - 1) / 2)


# --- PinholeCamera -------------------------------------------------------------------------------

def test_pinhole_k_and_project() -> None:
    cam = PinholeCamera(640, 480, 525.0, 520.0, 319.5, 239.5)
    np.testing.assert_array_equal(cam.k, [[525.0, 0, 319.5], [0, 520.0, 239.5], [0, 0, 1]])
    assert cam.size == (640, 480)
    np.testing.assert_allclose(cam.project(np.array([1.0, -0.5, 2.0])),
                               [319.5 + 262.5, 239.5 - 130.0])
    points = random_points(50)
    homogeneous = points @ cam.k.T
    np.testing.assert_allclose(cam.project(points), homogeneous[:, :2] / homogeneous[:, 2:],
                               atol=1e-9)


@pytest.mark.parametrize('changes', [
    {'width': 0}, {'height': -1}, {'fx': 0.0}, {'fy': -1.0}, {'fx': np.nan}, {'cx': np.inf},
    {'cy': np.nan},
])
def test_pinhole_rejects_bad_intrinsics(changes: dict) -> None:
    args = {'width': 640, 'height': 480, 'fx': 525.0, 'fy': 525.0, 'cx': 319.5, 'cy': 239.5}
    args.update(changes)
    with pytest.raises(CameraInfoError):
        PinholeCamera(**args)


GRID = ImageMap(AxisMap(2.0, 5.0), AxisMap(2.0, 5.0))


@pytest.mark.parametrize('mapping', [
    ImageMap(AxisMap(2.0, 0.5), AxisMap(2.0, 0.5)),
    ImageMap(resize_map(640, 304), resize_map(480, 228)),
    ImageMap(resize_map(480, 304, 80), resize_map(480, 228)).then(GRID),
    ImageMap(AxisMap(0.37, -12.0), AxisMap(1.9, 33.3)),
])
def test_resampled_projects_like_the_mapped_original(mapping: ImageMap) -> None:
    cam = PinholeCamera(640, 480, 1168.68, 1169.01, 295.015, 252.247)
    points = random_points()
    u, v = cam.project(points).T
    # Invert the map: destination pixel = (source pixel - offset) / scale.
    expected = np.column_stack([(u - mapping.x.offset) / mapping.x.scale,
                                (v - mapping.y.offset) / mapping.y.scale])
    resampled = cam.resampled(mapping, 147, 109)
    assert resampled.size == (147, 109)
    np.testing.assert_allclose(resampled.project(points), expected, rtol=0, atol=1e-7)


def test_resampled_twice_equals_resampled_once_by_the_composition() -> None:
    cam = PinholeCamera(640, 480, 525.0, 525.0, 319.5, 239.5)
    first = ImageMap(resize_map(640, 304), resize_map(480, 228))
    twice = cam.resampled(first, 304, 228).resampled(GRID, 147, 109)
    once = cam.resampled(first.then(GRID), 147, 109)
    for name in ('fx', 'fy', 'cx', 'cy'):
        assert getattr(twice, name) == pytest.approx(getattr(once, name), abs=1e-9)


# --- camera_from_info ----------------------------------------------------------------------------

def test_camera_from_real_calibration(calibrated_info: CameraInfo) -> None:
    cam = camera_from_info(calibrated_info)
    assert cam == PinholeCamera(640, 480, 1168.68, 1169.01, 295.015, 252.247)


def test_camera_from_info_prefers_p_over_k(calibrated_info: CameraInfo) -> None:
    calibrated_info.k = [1000.0, 0.0, 300.0, 0.0, 1001.0, 200.0, 0.0, 0.0, 1.0]
    cam = camera_from_info(calibrated_info)
    assert (cam.fx, cam.fy, cam.cx, cam.cy) == (1168.68, 1169.01, 295.015, 252.247)
    calibrated_info.p = [900.0, 0.0, 310.0, 0.0, 0.0, 901.0, 250.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    cam = camera_from_info(calibrated_info)
    assert (cam.fx, cam.fy, cam.cx, cam.cy) == (900.0, 901.0, 310.0, 250.0)


def test_camera_from_info_falls_back_to_k(calibrated_info: CameraInfo) -> None:
    calibrated_info.k = [1000.0, 0.0, 300.0, 0.0, 1001.0, 200.0, 0.0, 0.0, 1.0]
    calibrated_info.p = [0.0] * 12
    cam = camera_from_info(calibrated_info)
    assert cam == PinholeCamera(640, 480, 1000.0, 1001.0, 300.0, 200.0)


def test_camera_from_info_without_calibration_raises() -> None:
    info = CameraInfo(width=640, height=480)
    with pytest.raises(CameraInfoError) as err:
        camera_from_info(info)
    assert 'P' in str(err.value) and 'K' in str(err.value) and 'calibrat' in str(err.value)


@pytest.mark.parametrize('matrix, index, value, words', [
    ('p', 0, float('nan'), ['P', 'fx=nan', 'positive and finite']),
    ('p', 5, -500.0, ['P', 'fy=-500.0', 'positive and finite']),
    ('p', 2, float('nan'), ['P', 'principal point', 'cx=nan']),
    ('p', 0, 0.0, ['P', 'fx=0.0']),  # P set but broken: no silent fall-back to K
    ('k', 0, float('inf'), ['K', 'fx=inf']),
])
def test_camera_from_info_names_the_bad_value(
    calibrated_info: CameraInfo, matrix: str, index: int, value: float, words: list
) -> None:
    if matrix == 'k':
        calibrated_info.p = [0.0] * 12  # K is used only when P is all zeros
    values = list(getattr(calibrated_info, matrix))
    values[index] = value
    setattr(calibrated_info, matrix, values)
    with pytest.raises(CameraInfoError) as err:
        camera_from_info(calibrated_info)
    for word in words:
        assert word in str(err.value), str(err.value)
    assert 'all zeros' not in str(err.value)


@pytest.mark.parametrize('index, value, words', [
    (2, 1e300, ['P', 'fx=', 'cx=1e+300']),  # found by the fuzz test: published infinite points
    (6, -1e300, ['P', 'fy=', 'cy=-1e+300']),
    (0, 1e-300, ['P', 'fx=1e-300']),
    (5, 5e-324, ['P', 'fy=4.94066e-324', 'inf focal lengths']),
    (0, 0.3, ['P', 'fx=0.3']),  # a 640-pixel image 1,000 focal lengths across
    (5, 1.7e308, ['P', 'fy=1.7e+308']),  # found by the fuzz test: an OverflowError in the frame
    (0, 1e12, ['P', 'fx=1e+12', '3.44e-10 focal lengths']),  # 1e-9 is 0.2 milliarcseconds
])
def test_camera_from_info_rejects_intrinsics_no_pinhole_camera_has(
    calibrated_info: CameraInfo, index: int, value: float, words: list
) -> None:
    """Finite but absurd intrinsics: an error, never infinite points or overflowing arithmetic."""
    values = list(calibrated_info.p)
    values[index] = value
    calibrated_info.p = values
    with pytest.raises(CameraInfoError) as err:
        camera_from_info(calibrated_info)
    for word in words + ['focal lengths from the principal point']:
        assert word in str(err.value), str(err.value)


@pytest.mark.parametrize('degrees', [170.0, 1e-4])
def test_camera_from_info_takes_very_wide_and_very_narrow_cameras(
    calibrated_info: CameraInfo, degrees: float
) -> None:
    """A 170-degree rectified view and a 0.36 arcsecond one are far inside the limits."""
    f = 320 / np.tan(np.radians(degrees / 2))
    calibrated_info.p = [f, 0.0, 319.5, 0.0, 0.0, f, 239.5, 0.0, 0.0, 0.0, 1.0, 0.0]
    assert camera_from_info(calibrated_info).fx == pytest.approx(f)


def test_camera_from_info_rejects_an_roi_outside_the_sensor(calibrated_info: CameraInfo) -> None:
    calibrated_info.roi.x_offset, calibrated_info.roi.width = 400, 320
    calibrated_info.roi.y_offset, calibrated_info.roi.height = 0, 240
    with pytest.raises(CameraInfoError, match=r'ROI 320x240 at \(400, 0\) lies outside'):
        camera_from_info(calibrated_info)


def test_camera_from_info_wrong_matrix_size_raises() -> None:
    roi = SimpleNamespace(x_offset=0, y_offset=0, width=0, height=0)
    info = SimpleNamespace(p=[1.0] * 11, k=[1.0] * 9, width=640, height=480, binning_x=0,
                           binning_y=0, roi=roi)
    with pytest.raises(CameraInfoError, match='P has 11 values, expected 12'):
        camera_from_info(info)


def test_camera_from_info_binning_one_is_full_resolution(calibrated_info: CameraInfo) -> None:
    plain = camera_from_info(calibrated_info)
    calibrated_info.binning_x = calibrated_info.binning_y = 1
    assert camera_from_info(calibrated_info) == plain


def sensor_location_of_binned_pixel(pixel: np.ndarray, binning: int, offset: int) -> np.ndarray:
    """Return the centre, on the full sensor, of the sensor pixels a binned ROI pixel averages."""
    first = offset + binning * pixel
    return first + np.mean(np.arange(binning))


@pytest.mark.parametrize('binning, roi', [
    ((2, 2), (0, 0, 0, 0)),
    ((1, 1), (100, 60, 320, 240)),
    ((2, 2), (100, 60, 320, 240)),
    ((4, 2), (33, 17, 400, 300)),
    ((3, 3), (0, 0, 0, 0)),
])
def test_binning_and_roi_keep_physical_sensor_location(calibrated_info: CameraInfo,
                                                       binning: tuple, roi: tuple) -> None:
    full = camera_from_info(calibrated_info)
    calibrated_info.binning_x, calibrated_info.binning_y = binning
    roi_msg = calibrated_info.roi
    roi_msg.x_offset, roi_msg.y_offset, roi_msg.width, roi_msg.height = roi
    cam = camera_from_info(calibrated_info)
    roi_w, roi_h = (roi[2], roi[3]) if roi[2] else (640, 480)
    assert cam.size == (roi_w // binning[0], roi_h // binning[1])
    points = random_points()
    sensor = full.project(points)
    published = cam.project(points)
    for axis in (0, 1):
        np.testing.assert_allclose(
            sensor_location_of_binned_pixel(published[:, axis], binning[axis], roi[axis]),
            sensor[:, axis], rtol=0, atol=1e-6)


def test_binning_and_roi_against_a_rendered_sensor_image(calibrated_info: CameraInfo) -> None:
    """Render a blob on the sensor, cut the ROI and bin it: it lands where the camera says."""
    full = camera_from_info(calibrated_info)
    x_off, y_off, roi_w, roi_h, b = 120, 80, 360, 280, 2
    calibrated_info.binning_x = calibrated_info.binning_y = b
    calibrated_info.roi.x_offset, calibrated_info.roi.y_offset = x_off, y_off
    calibrated_info.roi.width, calibrated_info.roi.height = roi_w, roi_h
    cam = camera_from_info(calibrated_info)
    point = np.array([0.21, -0.07, 3.0])
    u, v = full.project(point)
    ys, xs = np.mgrid[0:480, 0:640].astype(np.float64)
    sensor = np.exp(-((xs - u) ** 2 + (ys - v) ** 2) / (2 * 4.0 ** 2))
    crop = sensor[y_off:y_off + roi_h, x_off:x_off + roi_w]
    binned = crop.reshape(roi_h // b, b, roi_w // b, b).mean(axis=(1, 3))
    rows, cols = np.mgrid[0:binned.shape[0], 0:binned.shape[1]]
    centroid = np.array([(binned * cols).sum(), (binned * rows).sum()]) / binned.sum()
    np.testing.assert_allclose(cam.project(point), centroid, rtol=0, atol=0.01)


# --- fill_camera_info ----------------------------------------------------------------------------

def test_fill_camera_info_round_trip() -> None:
    cam = PinholeCamera(147, 109, 124.6875, 124.6875, 73.25, 54.25)
    info = fill_camera_info(CameraInfo(), cam)
    assert camera_from_info(info) == cam
    np.testing.assert_array_equal(info.k, [124.6875, 0, 73.25, 0, 124.6875, 54.25, 0, 0, 1])
    np.testing.assert_array_equal(
        info.p, [124.6875, 0, 73.25, 0, 0, 124.6875, 54.25, 0, 0, 0, 1, 0])
    np.testing.assert_array_equal(info.r, np.eye(3).ravel())
    assert info.distortion_model == 'plumb_bob'
    np.testing.assert_array_equal(info.d, [0.0] * 5)
    assert (info.width, info.height) == (147, 109)


def test_fill_camera_info_clears_binning_and_roi(calibrated_info: CameraInfo) -> None:
    calibrated_info.binning_x = calibrated_info.binning_y = 2
    calibrated_info.roi.x_offset, calibrated_info.roi.width = 10, 100
    calibrated_info.roi.y_offset, calibrated_info.roi.height = 20, 80
    calibrated_info.roi.do_rectify = True
    cam = camera_from_info(calibrated_info)
    info = fill_camera_info(calibrated_info, cam)
    assert (info.binning_x, info.binning_y) == (0, 0)
    roi = info.roi
    assert (roi.x_offset, roi.y_offset, roi.width, roi.height) == (0, 0, 0, 0)
    assert not roi.do_rectify
    assert info.header.frame_id == 'camera_optical'
    assert camera_from_info(info) == cam


# --- distortion ----------------------------------------------------------------------------------

def reproject(info: CameraInfo, rays: tuple, fisheye: bool = False) -> np.ndarray:
    """Project each pixel's ray with OpenCV and the camera_info's own K and D: (H, W, 2)."""
    x, y = rays
    points = np.stack([x.ravel(), y.ravel(), np.ones(x.size)], -1).astype(np.float64)
    k = np.array(info.k).reshape(3, 3)
    d = np.array(info.d, np.float64)
    if fisheye:
        pixels, _ = cv2.fisheye.projectPoints(points[None], np.zeros(3), np.zeros(3), k, d)
    else:
        pixels, _ = cv2.projectPoints(points, np.zeros(3), np.zeros(3), k, d)
    return pixels.reshape(x.shape + (2,))


def test_no_distortion_is_none(calibrated_info: CameraInfo) -> None:
    calibrated_info.d = [0.0] * 5
    assert distortion_from_info(calibrated_info) is None
    calibrated_info.d = []
    assert distortion_from_info(calibrated_info) is None


def test_undistorted_rays_of_a_real_calibration_reproject_onto_their_pixels(
        calibrated_info: CameraInfo) -> None:
    """
    The real calibration's strong barrel distortion (k1 = -1.04).

    OpenCV projects each ray back onto its own pixel with K and D.
    """
    distortion = distortion_from_info(calibrated_info)
    assert distortion.model == 'plumb_bob' and (distortion.width, distortion.height) == (640, 480)
    rays = undistorted_rays(distortion)
    assert rays[0].shape == rays[1].shape == (480, 640) and rays[0].dtype == np.float32
    assert undistorted_rays(distortion) is rays  # cached per calibration
    finite = np.isfinite(rays[0]) & np.isfinite(rays[1])
    assert finite.mean() > 0.99
    pixels = reproject(calibrated_info, [r.astype(np.float64) for r in rays])
    v, u = np.mgrid[0:480, 0:640]
    # float32 rays: about 1e-7 relative, so within a thousandth of a pixel.
    np.testing.assert_allclose(pixels[..., 0][finite], u[finite], atol=2e-3)
    np.testing.assert_allclose(pixels[..., 1][finite], v[finite], atol=2e-3)
    # The distortion moves rays by many pixels: the pinhole rays would not do.
    k = np.array(calibrated_info.k).reshape(3, 3)
    pinhole_u = rays[0] * k[0, 0] + k[0, 2]
    assert np.nanmax(np.abs(pinhole_u - u)) > 20


def test_undistorted_rays_apply_binning_and_roi(calibrated_info: CameraInfo) -> None:
    """A 2x2-binned ROI: each published pixel's ray is the ray of its sensor position."""
    full = undistorted_rays(distortion_from_info(calibrated_info))
    calibrated_info.binning_x = calibrated_info.binning_y = 2
    calibrated_info.roi.x_offset, calibrated_info.roi.y_offset = 100, 60
    calibrated_info.roi.width, calibrated_info.roi.height = 400, 300
    binned = undistorted_rays(distortion_from_info(calibrated_info))
    assert binned[0].shape == (150, 200)
    # Binned pixel (c, r) is centred on sensor pixel (100 + 2c + 0.5, 60 + 2r + 0.5): between
    # four sensor pixels, so its ray is near their mean.
    sensor = [(full_ray[61::2, 101::2][:150, :200] + full_ray[60::2, 100::2][:150, :200]) / 2
              for full_ray in full]
    for got, expected in zip(binned, sensor):
        np.testing.assert_allclose(got, expected, atol=2e-4)


@pytest.mark.parametrize('model, coefficients', [
    ('rational_polynomial', [0.3, -0.05, 0.001, -0.002, 0.01, 0.35, 0.02, 0.01]),
    ('equidistant', [0.12, -0.04, 0.01, -0.002]),
])
def test_undistorted_rays_of_other_models(calibrated_info: CameraInfo, model: str,
                                          coefficients: list) -> None:
    """rational_polynomial and equidistant rays reproject with OpenCV's projection of each."""
    calibrated_info.distortion_model = model
    calibrated_info.d = coefficients
    calibrated_info.k = [400.0, 0.0, 320.5, 0.0, 401.0, 240.5, 0.0, 0.0, 1.0]
    rays = undistorted_rays(distortion_from_info(calibrated_info))
    assert np.isfinite(rays[0]).all() and np.isfinite(rays[1]).all()
    pixels = reproject(calibrated_info, [r.astype(np.float64) for r in rays],
                       fisheye=model == 'equidistant')
    v, u = np.mgrid[0:480, 0:640]
    np.testing.assert_allclose(pixels[..., 0], u, atol=2e-3)
    np.testing.assert_allclose(pixels[..., 1], v, atol=2e-3)


def test_undistort_inverts_distort_and_marks_fold_over() -> None:
    """Round trip to 1e-12; a distorted point no ray reaches (beyond the fold) is NaN."""
    rng = np.random.default_rng(3)
    x, y = rng.uniform(-0.5, 0.5, (2, 1000))
    coefficients = (-0.3, 0.1, 0.001, -0.002, 0.0)
    xd, yd = distort_normalized(x, y, 'plumb_bob', coefficients)
    ux, uy = undistort_normalized(xd, yd, 'plumb_bob', coefficients)
    np.testing.assert_allclose(ux, x, atol=1e-12)
    np.testing.assert_allclose(uy, y, atol=1e-12)
    # k1 = -0.3 alone folds over at r = 1/sqrt(0.9): distorted radius at most 0.703.
    far = undistort_normalized(np.array([0.9]), np.array([0.0]), 'plumb_bob', (-0.3, 0, 0, 0, 0))
    assert np.isnan(far[0]).all()
    fold = fold_radius('plumb_bob', (-0.3, 0, 0, 0, 0))
    assert fold == pytest.approx(1 / np.sqrt(0.9), abs=1e-3)
    assert fold_radius('plumb_bob', (0.1, 0.01, 0, 0, 0)) == 100.0  # pincushion never folds


def test_unknown_distortion_model_is_refused(calibrated_info: CameraInfo) -> None:
    calibrated_info.distortion_model = 'fov'
    with pytest.raises(CameraInfoError, match='"fov"'):
        distortion_from_info(calibrated_info)
