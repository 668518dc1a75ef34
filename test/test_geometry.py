"""Unit tests of ros2_depth.geometry: back-projection of a real TUM RGB-D depth frame."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from ros2_depth.camera_model import PinholeCamera
from ros2_depth.geometry import (
    backproject,
    cloud_field_names,
    cloud_fields,
    fill_cloud,
    pack_rgb,
    POINTFIELD_FLOAT32,
    ray_directions,
    xyz_fields,
)

TUM_CAMERA = PinholeCamera(640, 480, 525.0, 525.0, 319.5, 239.5)
# NYU Depth v2's colour camera at 320x240 (fx != fy, principal point off centre).
NYU_CAMERA = PinholeCamera(320, 240, 259.429, 259.735, 162.541, 126.618)
TOWARDS = np.array([0.0, 0.0, -1.0])  # the normal of a fronto-parallel surface


@pytest.fixture(scope='module')
def tum_depth(camera_data: Path) -> np.ndarray:
    """Return the TUM depth frame in metres (float32), NaN where the sensor gave no depth."""
    raw = cv2.imread(str(camera_data / 'tum_rgbd_frame' / 'TUM_depth.png'), cv2.IMREAD_UNCHANGED)
    assert raw is not None and raw.dtype == np.uint16 and raw.shape == (480, 640)
    depth = raw.astype(np.float32) / 5000.0
    depth[raw == 0] = np.nan
    return depth


def test_tum_frame_round_trip(tum_depth: np.ndarray) -> None:
    valid = np.isfinite(tum_depth)
    assert valid.mean() > 0.5, 'the real frame should have mostly valid depth'
    points = backproject(tum_depth, TUM_CAMERA)
    assert points.shape == (480, 640, 3) and points.dtype == np.float32
    rows, cols = np.nonzero(valid)
    p = points[valid].astype(np.float64)
    np.testing.assert_array_equal(p[:, 2], tum_depth[valid])
    u = 525.0 * p[:, 0] / p[:, 2] + 319.5
    v = 525.0 * p[:, 1] / p[:, 2] + 239.5
    np.testing.assert_allclose(u, cols, rtol=0, atol=1e-3)
    np.testing.assert_allclose(v, rows, rtol=0, atol=1e-3)
    np.testing.assert_allclose(TUM_CAMERA.project(p), np.column_stack([cols, rows]),
                               rtol=0, atol=1e-3)


def test_tum_invalid_depth_gives_nan_points(tum_depth: np.ndarray) -> None:
    invalid = np.isnan(tum_depth)
    assert invalid.any()
    points = backproject(tum_depth, TUM_CAMERA)
    assert np.isnan(points[invalid]).all()
    assert np.isfinite(points[~invalid]).all()


def test_tum_points_have_plausible_extent(tum_depth: np.ndarray) -> None:
    points = backproject(tum_depth, TUM_CAMERA)
    z = points[..., 2]
    assert 0.3 < np.nanmin(z) and np.nanmax(z) < 10.0
    # The optical frame: x grows to the right, y grows downwards.
    assert np.nanmean(points[:, :100, 0]) < 0 < np.nanmean(points[:, -100:, 0])
    assert np.nanmean(points[:100, :, 1]) < 0 < np.nanmean(points[-100:, :, 1])


def test_hand_computed_point() -> None:
    depth = np.full((480, 640), np.nan, np.float32)
    depth[100, 500] = 2.0
    depth[239, 319] = 1.0
    points = backproject(depth, TUM_CAMERA)
    # x = (500 - 319.5) / 525 * 2 = 0.687619..., y = (100 - 239.5) / 525 * 2 = -0.531428...
    np.testing.assert_allclose(points[100, 500], [361.0 / 525.0, -279.0 / 525.0, 2.0], rtol=1e-6)
    np.testing.assert_allclose(points[239, 319], [-0.5 / 525.0, -0.5 / 525.0, 1.0], rtol=1e-5)
    assert np.isnan(points[0, 0]).all()


def test_asymmetric_camera() -> None:
    cam = PinholeCamera(4, 3, 2.0, 4.0, 1.0, 0.5)
    depth = np.arange(1, 13, dtype=np.float32).reshape(3, 4)
    points = backproject(depth, cam)
    for row in range(3):
        for col in range(4):
            z = depth[row, col]
            expected = [(col - 1.0) / 2.0 * z, (row - 0.5) / 4.0 * z, z]
            np.testing.assert_allclose(points[row, col], expected, rtol=1e-6)


@pytest.mark.parametrize('shape', [(480, 639), (479, 640), (640, 480), (240, 320)])
def test_wrong_size_depth_raises(shape: tuple) -> None:
    with pytest.raises(ValueError) as err:
        backproject(np.ones(shape, np.float32), TUM_CAMERA)
    assert f'{shape[1]}x{shape[0]}' in str(err.value) and '640x480' in str(err.value)


def test_backproject_into_given_buffer(tum_depth: np.ndarray) -> None:
    out = np.zeros((480, 640, 3), np.float32)
    result = backproject(tum_depth, TUM_CAMERA, out=out)
    assert result is out
    np.testing.assert_array_equal(out, backproject(tum_depth, TUM_CAMERA))


def test_float64_depth_gives_float32_points() -> None:
    depth = np.full((480, 640), 1.5)
    points = backproject(depth, TUM_CAMERA)
    assert points.dtype == np.float32
    np.testing.assert_allclose(points[0, 0], [-319.5 / 525 * 1.5, -239.5 / 525 * 1.5, 1.5],
                               rtol=1e-6)


def test_ray_directions() -> None:
    ru, rv = ray_directions(TUM_CAMERA)
    assert ru.shape == (1, 640) and rv.shape == (480, 1)
    np.testing.assert_allclose(ru[0], (np.arange(640) - 319.5) / 525.0, rtol=1e-6)
    np.testing.assert_allclose(rv[:, 0], (np.arange(480) - 239.5) / 525.0, rtol=1e-6)
    other = PinholeCamera(640, 480, 600.0, 600.0, 320.0, 240.0)
    assert not np.allclose(ray_directions(other)[0], ru), 'rays must not be shared between cameras'


def test_xyz_fields() -> None:
    assert xyz_fields() == (('x', 0, POINTFIELD_FLOAT32, 1), ('y', 4, POINTFIELD_FLOAT32, 1),
                            ('z', 8, POINTFIELD_FLOAT32, 1))
    assert POINTFIELD_FLOAT32 == 7


# --- cloud fields: packed rgb and normals --------------------------------------------------------

def test_pack_rgb_is_0x00rrggbb() -> None:
    rgb = np.array([[[0x12, 0x34, 0x56], [255, 0, 1]]], np.uint8)
    packed = pack_rgb(rgb)
    assert packed.dtype == np.uint32 and packed.tolist() == [[0x00123456, 0x00FF0001]]
    # As PCL reads it: the float32 field's bytes, little-endian B G R 0.
    assert packed.astype('<u4').view(np.uint8).ravel()[:4].tolist() == [0x56, 0x34, 0x12, 0]
    with pytest.raises(ValueError, match='uint8'):
        pack_rgb(rgb.astype(np.uint16))


def test_fill_cloud_writes_every_field_in_place(tum_depth: np.ndarray) -> None:
    """Write x y z as backproject, the packed colour bits, then the normals, in one buffer."""
    rng = np.random.default_rng(4)
    rgb = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    normals = rng.normal(size=(480, 640, 3)).astype(np.float32)
    assert cloud_field_names(True, True) == (
        'x', 'y', 'z', 'rgb', 'normal_x', 'normal_y', 'normal_z')
    cloud = fill_cloud(tum_depth, TUM_CAMERA, rgb=rgb, normals=normals)
    assert cloud.shape == (480, 640, 7) and cloud.dtype == np.float32
    np.testing.assert_array_equal(cloud[..., :3], backproject(tum_depth, TUM_CAMERA))
    np.testing.assert_array_equal(np.ascontiguousarray(cloud[..., 3]).view(np.uint32),
                                  pack_rgb(rgb))
    np.testing.assert_array_equal(cloud[..., 4:], normals)
    assert fill_cloud(tum_depth, TUM_CAMERA, normals=normals).shape[2] == 6
    np.testing.assert_array_equal(fill_cloud(tum_depth, TUM_CAMERA),
                                  backproject(tum_depth, TUM_CAMERA))
    assert cloud_fields(cloud_field_names(True))[3] == ('rgb', 12, POINTFIELD_FLOAT32, 1)


def test_backproject_along_given_rays(tum_depth: np.ndarray) -> None:
    """Per-pixel rays (an undistorted camera) replace the pinhole ones."""
    rng = np.random.default_rng(5)
    rays = (rng.uniform(-1, 1, (480, 640)).astype(np.float32),
            rng.uniform(-1, 1, (480, 640)).astype(np.float32))
    points = backproject(tum_depth, TUM_CAMERA, rays=rays)
    np.testing.assert_array_equal(points[..., 0], tum_depth * rays[0])
    np.testing.assert_array_equal(points[..., 1], tum_depth * rays[1])
    np.testing.assert_array_equal(points[..., 2], tum_depth)
    rays[0][10, 20] = np.nan  # no ray reaches this pixel: no point, not half a point
    points = backproject(tum_depth, TUM_CAMERA, rays=rays)
    assert np.isnan(points[10, 20]).all() and np.isfinite(tum_depth[10, 20])
