"""Unit tests of data.normals (normals from depth): analytic surfaces and a real TUM frame."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from ros2_depth.camera_model import PinholeCamera
from ros2_depth.geometry import backproject
from ros2_depth_trainer.data.normals import depth_jumps, normals_from_depth, smallest_eigen

TEST_DATA = Path(__file__).resolve().parents[2] / 'test' / 'data'  # copied in, with licences
TUM_CAMERA = PinholeCamera(640, 480, 525.0, 525.0, 319.5, 239.5)
# NYU Depth v2's colour camera at 320x240 (fx != fy, principal point off centre).
NYU_CAMERA = PinholeCamera(320, 240, 259.429, 259.735, 162.541, 126.618)
TOWARDS = np.array([0.0, 0.0, -1.0])  # the normal of a fronto-parallel surface


@pytest.fixture(scope='module')
def tum_depth() -> np.ndarray:
    """Return the TUM depth frame in metres (float32), NaN where the sensor gave no depth."""
    path = TEST_DATA / 'tum_rgbd_frame' / 'TUM_depth.png'
    if not path.is_file():
        pytest.fail(f'{path} is missing: the tests read real camera data from test/data')
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert raw is not None and raw.dtype == np.uint16 and raw.shape == (480, 640)
    depth = raw.astype(np.float32) / 5000.0
    depth[raw == 0] = np.nan
    return depth


def _rays(camera: PinholeCamera) -> np.ndarray:
    """Return (H, W, 3) float64 rays (x/z, y/z, 1) of every pixel."""
    u = (np.arange(camera.width) - camera.cx) / camera.fx
    v = (np.arange(camera.height) - camera.cy) / camera.fy
    return np.stack(np.broadcast_arrays(u[None, :], v[:, None], 1.0), axis=-1)


def _plane(camera: PinholeCamera, tilt_deg: float, azimuth_deg: float,
           distance: float = 2.0) -> tuple:
    """Return the depth of the plane n . p = -distance and its normal n (facing the camera)."""
    tilt, azimuth = np.radians(tilt_deg), np.radians(azimuth_deg)
    normal = np.array([np.sin(tilt) * np.cos(azimuth), np.sin(tilt) * np.sin(azimuth),
                       -np.cos(tilt)])
    cos = _rays(camera) @ normal
    with np.errstate(divide='ignore'):
        depth = np.where(cos < -1e-3, -distance / cos, np.nan)
    depth[depth > 20.0] = np.nan  # beyond the horizon of steep planes: no depth
    return depth, normal


def _angles(normals: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Return the angles in degrees between unit vectors (broadcast over the last axis)."""
    cos = np.einsum('...c,...c->...', normals.astype(np.float64), expected)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def _has_normal(normals: np.ndarray) -> np.ndarray:
    return np.linalg.norm(normals, axis=-1) > 0


@pytest.mark.parametrize('camera, window', [(NYU_CAMERA, 9), (TUM_CAMERA, 15)])
@pytest.mark.parametrize('tilt, azimuth', [(0, 0), (30, 0), (30, 90), (45, 200), (60, 45),
                                           (75, 300), (80, 120)])
def test_normals_of_planes_are_exact(camera: PinholeCamera, window: int, tilt: float,
                                     azimuth: float) -> None:
    """Planes up to 80 degrees from fronto-parallel: (nearly) every pixel, within 0.1 deg."""
    depth, normal = _plane(camera, tilt, azimuth)
    normals = normals_from_depth(depth, camera, window=window)
    assert normals.shape == (camera.height, camera.width, 3) and normals.dtype == np.float32
    has = _has_normal(normals)
    valid = np.isfinite(depth)
    # Only a few pixels at the corner of the horizon cut (depth > 20 m) lack valid neighbours.
    assert not has[~valid].any() and has.sum() >= valid.sum() - 10
    assert _angles(normals[has], normal).max() < 0.1
    np.testing.assert_allclose(np.linalg.norm(normals[has], axis=-1), 1.0, atol=1e-6)


def test_normals_of_spheres_face_the_camera() -> None:
    """Inside a sphere the normals point at its centre (the camera), outside away from it."""
    rays = _rays(NYU_CAMERA)
    length = np.linalg.norm(rays, axis=-1)
    inside = normals_from_depth(3.0 / length, NYU_CAMERA, window=9)
    assert _has_normal(inside).all()
    assert _angles(inside, -rays / length[..., None]).max() < 0.5

    centre, radius = np.array([0.2, -0.1, 3.0]), 1.0
    b, c = rays @ centre, centre @ centre - radius ** 2
    disc = b ** 2 - length ** 2 * c
    t = np.where(disc > 0, (b - np.sqrt(np.maximum(disc, 0))) / length ** 2, np.nan)
    outside = normals_from_depth(t, NYU_CAMERA, window=9)
    has = _has_normal(outside)
    assert has.sum() > 0.9 * np.isfinite(t).sum()
    points = rays * t[..., None]
    errors = _angles(outside[has], (points[has] - centre) / radius)
    assert np.median(errors) < 0.5 and np.percentile(errors, 95) < 3.0
    for normals, depth in ((inside, 3.0 / length), (outside, t)):
        points = backproject(depth, NYU_CAMERA)
        has = _has_normal(normals)
        assert (np.einsum('ij,ij->i', normals[has], points[has]) < 0).all()


def test_normals_are_zero_where_depth_is_missing() -> None:
    """Invalid centres and windows with too little depth get zeros; image corners do not."""
    depth, normal = _plane(NYU_CAMERA, 35, 60)
    depth[100:140, 150:200] = np.nan  # a hole
    depth[20, 30], depth[21, 30], depth[22, 30] = 0.0, -1.0, np.inf
    depth[200:, :60] = np.nan
    depth[220, 20] = 2.5  # a lone valid pixel in the hole
    normals = normals_from_depth(depth, NYU_CAMERA, window=9)
    has = _has_normal(normals)
    assert not has[100:140, 150:200].any() and not has[20:23, 30].any()
    assert not has[220, 20] and not has[200:, :60].any()
    assert has[99, 150:200].all() and has[100:140, 149].all(), 'a hole only empties itself'
    assert has[[0, 0, -1], [0, -1, -1]].all(), 'corners have a quarter window inside'
    assert (normals[~has] == 0).all()
    assert _angles(normals[has], normal).max() < 0.1
    sparse = depth.copy()
    sparse[::2, :] = np.nan
    sparse[:, ::2] = np.nan  # 1 pixel in 4 valid: below min_valid
    assert not _has_normal(normals_from_depth(sparse, NYU_CAMERA, window=9)).any()
    assert _has_normal(normals_from_depth(sparse, NYU_CAMERA, window=9, min_valid=0.2)).any()


@pytest.mark.parametrize('near, far, hole', [(1.5, 2.0, 0), (1.5, 2.0, 3), (2.0, 2.2, 3),
                                             (1.0, 3.0, 7), (2.0, 2.15, 0)])
def test_depth_step_is_not_blended(near: float, far: float, hole: int) -> None:
    """Two fronto-parallel planes, side by side or across a hole: no pixel gets a blend."""
    depth = np.full((240, 320), far)
    depth[:, :160] = near
    depth[:, 160:160 + hole] = np.nan
    depth[60:120, 220:280] = near  # a box in front of the far plane
    normals = normals_from_depth(depth, NYU_CAMERA, window=9)
    has = _has_normal(normals)
    assert _angles(normals[has], TOWARDS).max() < 0.1
    assert not has[:, 155:164 + hole].any(), 'the band along the step is empty'
    assert has[:, :150].all() and has[:, 170 + hole:215].all()
    assert has[70:110, 230:270].all() and not has[60:120, 219].any()


def test_thickness_rejects_creases() -> None:
    """A 90 degree crease (a room corner): a strict max_thickness leaves no blend at all."""
    rays = _rays(NYU_CAMERA)
    left = np.array([np.sqrt(0.5), 0.0, -np.sqrt(0.5)])  # the left wall faces right
    right = np.array([-np.sqrt(0.5), 0.0, -np.sqrt(0.5)])
    depth = np.fmin(-2.0 / (rays @ left), -2.0 / (rays @ right))
    expected = np.where((rays @ left < rays @ right)[..., None], left, right)
    strict = normals_from_depth(depth, NYU_CAMERA, window=9, max_thickness=0.05)
    has = _has_normal(strict)
    assert _angles(strict[has], expected[has]).max() < 0.1 and has.mean() > 0.95
    # The default, loose enough for Kinect depth, blends the crease's first pixels.
    blended = normals_from_depth(depth, NYU_CAMERA, window=9)
    has = _has_normal(blended)
    assert 10 < _angles(blended[has], expected[has]).max() < 30


def test_small_steps_need_a_smaller_max_jump() -> None:
    """A 3% step is below the default max_jump; max_jump=0.02 keeps it from being blended."""
    depth = np.full((240, 320), 2.06)
    depth[:, :160] = 2.0
    normals = normals_from_depth(depth, NYU_CAMERA, window=15, max_jump=0.02)
    has = _has_normal(normals)
    assert _angles(normals[has], TOWARDS).max() < 0.1 and not has[:, 159:161].any()
    blended = normals_from_depth(depth, NYU_CAMERA, window=15)
    assert _angles(blended[_has_normal(blended)], TOWARDS).max() > 10


def test_depth_jumps() -> None:
    """Consecutive valid pixels of rows and columns jump by > max_jump x the nearer depth."""
    nan = np.nan
    depth = np.array([[1.0, 1.04, 1.2, 1.2, 1.2],
                      [1.0, nan, nan, 1.2, 1.2],
                      [1.0, nan, nan, nan, 1.2],
                      [1.0, 1.0, 0.0, 1.04, 1.08]])
    jumps = depth_jumps(depth, 0.05, max_gap=2)
    assert jumps.dtype == bool and jumps.shape == depth.shape
    # Row 0: 1.04 -> 1.2; row 1: 1.0 -> (2 holes) -> 1.2; row 2: a 3-pixel gap is too long.
    # Columns: 1.2 over a hole over 1.04 (column 3) and 1.2 over 1.08 (column 4).
    expected = np.array([[0, 1, 1, 0, 0],
                         [1, 1, 1, 1, 0],
                         [0, 0, 0, 1, 1],
                         [0, 0, 0, 1, 1]], bool)
    np.testing.assert_array_equal(jumps, expected)
    assert not depth_jumps(depth, 0.05, max_gap=1)[1, 1:3].any()
    assert not depth_jumps(depth, 0.2).any()


def test_normals_window_must_be_odd_and_depth_match_the_camera() -> None:
    depth = np.ones((240, 320))
    for window in (1, 4, 8):
        with pytest.raises(ValueError, match='odd'):
            normals_from_depth(depth, NYU_CAMERA, window=window)
    with pytest.raises(ValueError, match='320x240'):
        normals_from_depth(np.ones((480, 640)), NYU_CAMERA)


def test_tum_frame_normals(tum_depth: np.ndarray) -> None:
    """Real Kinect depth: unit normals facing the camera over a good part of the frame."""
    normals = normals_from_depth(tum_depth, TUM_CAMERA)
    has = _has_normal(normals)
    assert not has[np.isnan(tum_depth)].any()
    assert 0.3 < has.mean() < 0.6  # 0.41 measured with the defaults
    np.testing.assert_allclose(np.linalg.norm(normals[has], axis=-1), 1.0, atol=1e-6)
    points = backproject(tum_depth, TUM_CAMERA)
    assert (np.einsum('ij,ij->i', normals[has], points[has]) < 0).all()


def test_smallest_eigen_matches_numpy() -> None:
    """The closed form agrees with np.linalg.eigh on random and on nearly planar covariances."""
    rng = np.random.default_rng(5)
    points = rng.standard_normal((2000, 3, 3))
    rotations = np.linalg.qr(rng.standard_normal((2000, 3, 3)))[0]
    spreads = np.stack([rng.uniform(1e-9, 1e-4, 2000), rng.uniform(0.01, 1, 2000),
                        rng.uniform(1, 4, 2000)], axis=1)
    planar = rotations @ (spreads[:, :, None] * rotations.transpose(0, 2, 1))
    for matrices in (points @ points.transpose(0, 2, 1), planar):
        smallest, second, vector = smallest_eigen(matrices)
        values, vectors = np.linalg.eigh(matrices)
        scale = values[:, 2]
        np.testing.assert_allclose(smallest / scale, values[:, 0] / scale, atol=1e-12)
        np.testing.assert_allclose(second / scale, values[:, 1] / scale, atol=1e-12)
        np.testing.assert_allclose(np.linalg.norm(vector, axis=1), 1.0, atol=1e-12)
        alignment = np.abs(np.einsum('ij,ij->i', vector, vectors[:, :, 0]))
        assert alignment.min() > 1 - 1e-9
    # a repeated smallest eigenvalue: any unit vector of its plane will do
    smallest, second, vector = smallest_eigen(np.diag([1.0, 1.0, 2.0])[None])
    assert smallest[0] == pytest.approx(1.0) and second[0] == pytest.approx(1.0)
    assert abs(vector[0, 2]) < 1e-9 and np.linalg.norm(vector[0]) == pytest.approx(1.0)
    smallest, second, vector = smallest_eigen(np.array([np.eye(3) * 2.0]))
    assert smallest[0] == pytest.approx(2.0) and np.linalg.norm(vector[0]) == pytest.approx(1.0)
