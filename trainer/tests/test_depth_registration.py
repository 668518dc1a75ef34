"""Depth registration into the colour camera and its transforms (data/depth_registration.py)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from ros2_depth.camera_model import PinholeCamera
from ros2_depth_trainer.data.depth_registration import (
    chain_transform, distortion_shift_px, invert_transform, parse_extrinsics, register_depth,
    rotation_from_quaternion, transform_matrix)


def shifted(x: float) -> np.ndarray:
    """T_colour_depth of a depth camera at x metres along the colour camera's x axis."""
    transform = np.eye(4)
    transform[0, 3] = x
    return transform


def test_identity_keeps_every_pixel_and_every_hole() -> None:
    """Same camera, no motion: the depth comes back (to float precision), NaN and 0 as NaN."""
    camera = PinholeCamera(width=40, height=30, fx=35.0, fy=36.0, cx=19.3, cy=14.8)
    depth = np.random.default_rng(0).uniform(0.3, 8.0, (30, 40)).astype(np.float32)
    depth[3, 4], depth[5, 6] = np.nan, 0.0
    out = register_depth(depth, camera, camera, np.eye(4))
    expected = depth.copy()
    expected[5, 6] = np.nan
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    assert out.dtype == np.float32


def inverse_ramp(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Return the depth of a plane at pixel coordinates (u, v) of the depth camera."""
    return 1.0 / (0.5 + 0.01 * u + 0.02 * v)


def test_nearest_depth_wins_and_occlusion_shadows_stay_holes() -> None:
    """
    The foreground covers the wall where both land; the wall it hid is a hole.

    The depth camera sits 0.1 m to the left of the colour camera (f = 10 px): a point at 1 m
    moves 1 px, the wall at 4 m a quarter pixel.
    """
    camera = PinholeCamera(width=10, height=1, fx=10.0, fy=10.0, cx=4.5, cy=0.0)
    depth = np.full((1, 10), 4.0, np.float32)
    depth[0, 3] = 1.0
    out = register_depth(depth, camera, camera, shifted(-0.1))[0]
    # Depth pixel u lands at u - f b / z: the wall at u - 0.25, the foreground pixel at 2.0.
    assert out[2] == 1.0  # wall pixel 2 lands there too: nearest wins
    assert np.isnan(out[3])  # behind the foreground, seen by the colour camera only
    np.testing.assert_array_equal(out[4:], 4.0)
    np.testing.assert_array_equal(out[:2], 4.0)
    # The order of the pixels does not matter: mirrored scene, mirrored result.
    mirrored = register_depth(depth[:, ::-1].copy(), camera, camera, shifted(0.1))[0]
    np.testing.assert_array_equal(mirrored, out[::-1])


COARSE = PinholeCamera(width=16, height=12, fx=10.0, fy=10.0, cx=7.5, cy=5.5)
FINE = PinholeCamera(width=32, height=24, fx=20.0, fy=20.0, cx=15.5, cy=11.5)


@pytest.mark.parametrize('depth_camera, colour_camera', [(COARSE, FINE), (FINE, COARSE)])
def test_registration_follows_the_surface(depth_camera: PinholeCamera,
                                          colour_camera: PinholeCamera) -> None:
    """
    A plane comes out as a plane, with no pinholes, whatever the two resolutions.

    A colour camera of twice the resolution fills every pixel from 2x2 of each depth pixel's
    footprint; one of half the resolution samples the depth at its own pixel centres.
    """
    v, u = np.mgrid[0:depth_camera.height, 0:depth_camera.width]
    depth = inverse_ramp(u, v).astype(np.float32)
    out = register_depth(depth, depth_camera, colour_camera, np.eye(4))
    row, col = np.mgrid[0:colour_camera.height, 0:colour_camera.width]
    scale = depth_camera.fx / colour_camera.fx  # depth pixels per colour pixel
    expected = inverse_ramp((col - colour_camera.cx) * scale + depth_camera.cx,
                            (row - colour_camera.cy) * scale + depth_camera.cy)
    np.testing.assert_allclose(out, expected, rtol=1e-5)


def test_a_lone_pixel_fills_its_footprint_flat() -> None:
    """Without neighbours to take a slope from, a depth pixel's footprint has its depth."""
    lone = np.full((12, 16), np.nan, np.float32)
    lone[5, 7] = 2.0
    out = register_depth(lone, COARSE, FINE, np.eye(4))
    np.testing.assert_array_equal(np.argwhere(np.isfinite(out)),
                                  [[10, 14], [10, 15], [11, 14], [11, 15]])
    assert np.nansum(out) == 8.0


def test_depth_is_not_interpolated_across_edges() -> None:
    """Two flat surfaces 20 % apart keep their own depths up to the edge between them."""
    camera = PinholeCamera(width=8, height=4, fx=8.0, fy=8.0, cx=3.5, cy=1.5)
    fine = PinholeCamera(width=32, height=16, fx=32.0, fy=32.0, cx=15.5, cy=7.5)
    depth = np.full((4, 8), 2.0, np.float32)
    depth[:, 4:] = 2.4
    out = register_depth(depth, camera, fine, np.eye(4))
    np.testing.assert_array_equal(out[:, :16], 2.0)
    np.testing.assert_array_equal(out[:, 16:], np.float32(2.4))


def test_points_outside_the_view_or_behind_are_dropped() -> None:
    """Depth the colour camera cannot see (out of its view, behind it) leaves NaN, no error."""
    camera = PinholeCamera(width=8, height=6, fx=8.0, fy=8.0, cx=3.5, cy=2.5)
    depth = np.full((6, 8), 0.5, np.float32)
    behind = shifted(0.0)
    behind[2, 3] = -1.0  # the colour camera 1 m in front of the depth camera
    assert np.isnan(register_depth(depth, camera, camera, behind)).all()
    aside = register_depth(depth, camera, camera, shifted(-2.0))
    assert np.isnan(aside).all()


def test_registration_is_vectorised() -> None:
    """A 640x480 frame registers in well under a second (no per-pixel Python loop)."""
    depth_camera = PinholeCamera(width=640, height=480, fx=385.0, fy=385.0, cx=320.0, cy=240.0)
    colour_camera = PinholeCamera(width=640, height=480, fx=610.0, fy=610.0, cx=318.0, cy=242.0)
    depth = np.random.default_rng(2).uniform(0.5, 4.0, (480, 640)).astype(np.float32)
    transform = transform_matrix((-0.015, 0.0, 0.0), (0.0, 0.01, 0.0, 1.0))
    register_depth(depth, depth_camera, colour_camera, transform)
    start = time.perf_counter()
    register_depth(depth, depth_camera, colour_camera, transform)
    assert time.perf_counter() - start < 1.5  # about 0.05 s here; generous for shared CPUs


def test_wrong_depth_size_is_an_error() -> None:
    """The depth must be on its camera_info's grid."""
    camera = PinholeCamera(width=8, height=6, fx=8.0, fy=8.0, cx=3.5, cy=2.5)
    with pytest.raises(ValueError, match='depth is 6x8 but its camera_info describes 8x6'):
        register_depth(np.ones((8, 6), np.float32), camera, camera, np.eye(4))


def test_quaternions_and_chains_of_static_transforms() -> None:
    """Parent -> child transforms compose up and down the tree; unknown frames give None."""
    half = np.sqrt(0.5)
    np.testing.assert_allclose(rotation_from_quaternion(0, 0, half, half),
                               [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-12)
    link_colour = transform_matrix((0.0, -0.01, 0.0), (0, 0, 0, 1))
    link_depth = transform_matrix((0.0, 0.04, 0.0), (0, 0, half, half))
    edges = {('camera_link', 'colour'): link_colour, ('/camera_link', 'depth'): link_depth}
    colour_from_depth = chain_transform(edges, 'colour', 'depth')
    np.testing.assert_allclose(colour_from_depth, invert_transform(link_colour) @ link_depth,
                               atol=1e-12)
    point = np.array([1.0, 0.0, 0.0, 1.0])  # 1 m along the depth frame's x
    np.testing.assert_allclose(colour_from_depth @ point, [0.0, 1.05, 0.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(chain_transform(edges, 'depth', 'colour'),
                               invert_transform(colour_from_depth), atol=1e-12)
    assert chain_transform(edges, 'colour', 'imu') is None
    np.testing.assert_array_equal(chain_transform({}, 'a', '/a'), np.eye(4))


def test_parse_extrinsics() -> None:
    """Extrinsics: x y z qx qy qz qw, 16 numbers, a matrix, 'identity'; else a clear error."""
    np.testing.assert_array_equal(parse_extrinsics('identity'), np.eye(4))
    pose = parse_extrinsics('0.05, 0 0  0 0 0 1')
    np.testing.assert_array_equal(pose, transform_matrix((0.05, 0, 0), (0, 0, 0, 1)))
    np.testing.assert_array_equal(parse_extrinsics(pose), pose)
    np.testing.assert_array_equal(parse_extrinsics(' '.join(map(str, pose.ravel()))), pose)
    for bad, words in (('1 2 3', 'need 7 numbers'), ('a b', 'expected numbers'),
                       (np.full((4, 4), 2.0), 'not a rigid transform'),
                       ('0 0 0 0 0 0 0', 'no rotation')):
        with pytest.raises(ValueError, match=words):
            parse_extrinsics(bad)


def test_distortion_shift() -> None:
    """Largest border shift in pixels: 0 without distortion, k1 r^3 f at the corner."""
    camera = PinholeCamera(width=64, height=48, fx=60.0, fy=60.0, cx=31.5, cy=23.5)
    assert distortion_shift_px('plumb_bob', [0.0] * 5, camera) == 0.0
    corner_r = np.hypot(32.0 / 60.0, 24.0 / 60.0)  # pixel edges, not centres
    assert distortion_shift_px('plumb_bob', [0.1, 0, 0, 0, 0], camera) == pytest.approx(
        0.1 * corner_r ** 3 * 60.0)
    assert distortion_shift_px('rational_polynomial', [0.1] + [0.0] * 7, camera) == \
        pytest.approx(0.1 * corner_r ** 3 * 60.0)
    assert distortion_shift_px('equidistant', [0.01, 0, 0, 0], camera) > 0
    assert distortion_shift_px('unknown_model', [0.1], camera) is None
