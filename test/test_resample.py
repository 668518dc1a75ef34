"""
Unit tests of ros2_depth.resample: network-grid maps onto camera pixels, numpy only.

The expectations are worked out independently of the module: each camera pixel u looks at grid
position (u - offset) / scale, whose neighbours are its floor and ceiling.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from ros2_depth.camera_model import AxisMap, ImageMap
from ros2_depth.resample import (
    axis_samples, grid_samples, MAX_BLEND_RATIO, sample_image, upsample_depth_normals,
    upsample_nearest)

# A 20x15 grid on a 90x70 camera image: 4 camera pixels per grid pixel, the grid's first pixel
# centred on camera pixel 6.5 (so it covers camera columns 5 to 84 and rows 5 to 64).
GRID = (20, 15)
CAMERA = (90, 70)
MAP = ImageMap(AxisMap(4.0, 6.5), AxisMap(4.0, 6.5))


def positions(size: int, axis: AxisMap) -> np.ndarray:
    """Grid position of every camera pixel centre on one axis."""
    return (np.arange(size) - axis.offset) / axis.scale


def neighbour_range(values: np.ndarray, mapping: ImageMap, size) -> tuple:
    """Per camera pixel: min and max of its (up to) four grid neighbours, clamped to the grid."""
    h, w = values.shape
    x = np.clip(positions(size[0], mapping.x), 0, w - 1)
    y = np.clip(positions(size[1], mapping.y), 0, h - 1)
    cols = np.stack([np.floor(x), np.ceil(x)]).astype(int)
    rows = np.stack([np.floor(y), np.ceil(y)]).astype(int)
    corners = np.stack([values[rows[i][:, None], cols[j][None, :]]
                        for i in (0, 1) for j in (0, 1)])
    return corners.min(axis=0), corners.max(axis=0)


def seen_mask(mapping: ImageMap, grid, size) -> np.ndarray:
    """Camera pixels whose centre lies on the grid's footprint."""
    x = positions(size[0], mapping.x)
    y = positions(size[1], mapping.y)
    return (((y >= -0.5) & (y <= grid[1] - 0.5))[:, None]
            & ((x >= -0.5) & (x <= grid[0] - 0.5))[None, :])


def test_axis_samples_by_hand() -> None:
    """Camera pixel 12.5 of a x4 map at offset 6.5 sits at grid 1.5: between 1 and 2."""
    samples = axis_samples(AxisMap(4.0, 6.5), 20, 90)
    assert samples.low[12] == 1 and samples.high[12] == 2
    assert samples.weight[12] == pytest.approx((12 - 6.5) / 4 - 1)
    assert samples.nearest[12] == 1 and samples.nearest[13] == 2  # 1.375 and 1.625
    # Footprint: grid -0.5 is camera 4.5, grid 19.5 is camera 84.5.
    assert not samples.seen[4] and samples.seen[5] and samples.seen[84] and not samples.seen[85]
    # The last grid pixel: low == high, weight 0 (no reading past the grid).
    assert samples.low[84] == samples.high[84] == 19 and samples.weight[84] == 0


def test_axis_samples_stay_on_the_usable_pixels() -> None:
    """Grid pixels over padding are never read: positions beyond take the nearest usable one."""
    samples = axis_samples(AxisMap(4.0, -10.0), 30, 90, usable=(3, 24))
    assert samples.seen.all()
    for name in ('nearest', 'low', 'high'):
        index = getattr(samples, name)
        assert index.min() >= 3 and index.max() == 24, name
    assert samples.low.min() == 3 and samples.weight[samples.low == 3][0] == 0
    with pytest.raises(ValueError, match='outside'):
        axis_samples(AxisMap(4.0, 0.0), 30, 90, usable=(3, 30))


def test_depth_edges_stay_sharp() -> None:
    """A 1 m foreground before a 3 m wall: every camera pixel is 1 or 3, never in between."""
    depth = np.full(GRID[::-1], 3.0, np.float32)
    depth[:, :8] = 1.0
    depth[4:9, 12:15] = 1.5  # a box in front of the wall
    samples = grid_samples(MAP, GRID, CAMERA)
    out, _ = upsample_depth_normals(depth, None, samples)
    seen = seen_mask(MAP, GRID, CAMERA)
    assert set(np.unique(out[seen])) == {1.0, 1.5, 3.0}
    # The step lies half-way between grid columns 7 and 8 (camera column 6.5 + 4 * 7.5 = 36.5).
    assert (out[20, 5:37] == 1.0).all() and (out[20, 37:44] == 3.0).all()
    assert np.isnan(out[~seen]).all() and np.isfinite(out[seen]).all()


def test_smooth_depth_is_interpolated_exactly() -> None:
    """A gentle ramp (under the blend ratio per grid pixel) is interpolated linearly."""
    rows, cols = np.mgrid[0:GRID[1], 0:GRID[0]]
    depth = (2.0 + 0.01 * cols + 0.02 * rows).astype(np.float32)
    samples = grid_samples(MAP, GRID, CAMERA)
    out, _ = upsample_depth_normals(depth, None, samples)
    x = np.clip(positions(CAMERA[0], MAP.x), 0, GRID[0] - 1)
    y = np.clip(positions(CAMERA[1], MAP.y), 0, GRID[1] - 1)
    expected = 2.0 + 0.01 * x[None, :] + 0.02 * y[:, None]
    seen = seen_mask(MAP, GRID, CAMERA)
    np.testing.assert_allclose(out[seen], expected[seen], rtol=1e-6)
    # A step just above the blend ratio is not blended: nearest neighbour.
    step = np.full(GRID[::-1], 2.0, np.float32)
    step[:, 10:] = 2.0 * MAX_BLEND_RATIO * 1.001
    out, _ = upsample_depth_normals(step, None, samples)
    assert set(np.unique(out[seen])) == set(np.unique(step))


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_no_value_outside_its_neighbours_range(seed: int) -> None:
    """Random depth with holes and a fractional map: each value lies within its four neighbours."""
    rng = np.random.default_rng(seed)
    depth = rng.uniform(1.0, 1.1, GRID[::-1]).astype(np.float32)
    depth[rng.random(depth.shape) < 0.2] *= 3.0  # foreground steps
    depth[rng.random(depth.shape) < 0.1] = np.nan
    mapping = ImageMap(AxisMap(3.7, 4.2), AxisMap(4.3, 2.9))
    samples = grid_samples(mapping, GRID, CAMERA)
    out, _ = upsample_depth_normals(depth, None, samples)
    low, high = neighbour_range(np.nan_to_num(depth, nan=np.inf), mapping, CAMERA)
    low2, high2 = neighbour_range(np.nan_to_num(depth, nan=-np.inf), mapping, CAMERA)
    finite = np.isfinite(out)
    assert finite.mean() > 0.5
    assert (out[finite] >= np.minimum(low, low2)[finite] - 1e-6).all()
    assert (out[finite] <= np.maximum(high, high2)[finite] + 1e-6).all()
    # Wherever the value is not one of the grid values it was blended: all four were close.
    blended = finite & ~np.isin(out, depth)
    assert (high[blended] <= low[blended] * MAX_BLEND_RATIO * (1 + 1e-6)).all()
    # NaN exactly where unseen, or where the nearest grid pixel is NaN.
    nearest = upsample_nearest(depth, samples, np.nan)
    assert (np.isnan(out) == (np.isnan(nearest) | ~seen_mask(mapping, GRID, CAMERA))).all()


def test_normals_follow_the_depth_and_stay_unit() -> None:
    """Normals blend where depth does (renormalised), take the nearest across edges, NaN holes."""
    depth = np.full(GRID[::-1], 2.0, np.float32)
    depth[:, 10:] = 4.0
    depth[7, 3] = np.nan
    normals = np.zeros(GRID[::-1] + (3,), np.float32)
    angle = np.linspace(0, 0.5, GRID[0])
    normals[..., 0], normals[..., 2] = np.sin(angle), -np.cos(angle)
    normals[:, 10:] = (0.0, -1.0, 0.0)
    normals[7, 3] = np.nan
    samples = grid_samples(MAP, GRID, CAMERA)
    out_depth, out = upsample_depth_normals(depth, normals, samples)
    valid = np.isfinite(out_depth)
    assert (np.isfinite(out).all(axis=2) == valid).all()
    np.testing.assert_allclose(np.linalg.norm(out[valid], axis=1), 1.0, atol=1e-6)
    far = valid & (out_depth == 4.0)
    np.testing.assert_array_equal(out[far], np.tile([0.0, -1.0, 0.0], (far.sum(), 1)))
    # On the 2 m plane the normal angle is interpolated between the grid's.
    x = np.clip(positions(CAMERA[0], MAP.x), 0, GRID[0] - 1)
    near = valid[30] & (out_depth[30] == 2.0) & (np.floor(x) + 1 < 10)
    expected = np.interp(x, np.arange(GRID[0]), angle)
    np.testing.assert_allclose(np.arctan2(out[30, near, 0], -out[30, near, 2]), expected[near],
                               atol=2e-3)


def test_labels_nearest_and_zero_where_unseen() -> None:
    """Labels take the nearest grid pixel's id; 0 off the grid."""
    labels = np.arange(GRID[0] * GRID[1], dtype=np.int64).reshape(GRID[::-1]) % 251 + 1
    labels = labels.astype(np.uint8)
    samples = grid_samples(MAP, GRID, CAMERA)
    out = upsample_nearest(labels, samples, 0)
    assert out.dtype == np.uint8 and out.shape == CAMERA[::-1]
    x = np.floor(positions(CAMERA[0], MAP.x) + 0.5).astype(int)
    y = np.floor(positions(CAMERA[1], MAP.y) + 0.5).astype(int)
    seen = seen_mask(MAP, GRID, CAMERA)
    expected = labels[np.clip(y, 0, GRID[1] - 1)[:, None], np.clip(x, 0, GRID[0] - 1)[None, :]]
    np.testing.assert_array_equal(out[seen], expected[seen])
    assert (out[~seen] == 0).all()


def test_sample_image_reads_the_camera_pixels_under_the_grid() -> None:
    """Grid pixel (j, i) gets the camera colour at (4 j + 6.5, 4 i + 6.5): a ramp shows it."""
    v, u = np.mgrid[0:CAMERA[1], 0:CAMERA[0]]
    image = np.stack([u, v, u + v], -1).astype(np.uint8)
    out = sample_image(image, MAP, GRID)
    assert out.shape == GRID[::-1] + (3,) and out.dtype == np.uint8
    j = np.arange(GRID[0])
    i = np.arange(GRID[1])
    # Half-way between two integer columns of a linear ramp: within rounding of the exact value.
    np.testing.assert_allclose(out[0, :, 0], 4 * j + 6.5, atol=0.51)
    np.testing.assert_allclose(out[:, 0, 1], 4 * i + 6.5, atol=0.51)
    identity = ImageMap(AxisMap(1.0, 0.0), AxisMap(1.0, 0.0))
    assert sample_image(image, identity, CAMERA) is image
    mono16 = (u * 300).astype(np.uint16)
    np.testing.assert_allclose(sample_image(mono16, MAP, GRID)[0], 300 * (4 * j + 6.5), atol=1)
    # Against OpenCV's own resize where the map is one (90 columns to 45 at offset 0.5), up to
    # the rounding of halves.
    half = ImageMap(AxisMap(2.0, 0.5), AxisMap(2.0, 0.5))
    resized = cv2.resize(image, (45, 35), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(sample_image(image, half, (45, 35)), resized, atol=1)
