"""
Unit tests of ros2_depth.metrics: every number is worked out by hand in the test.

Depth metrics on tiny arrays, the scale-invariant error as sqrt(D) with natural logs, the depth
caps and prediction clipping of monodepth2 / BTS, the per-image-then-average rule, and normal
errors pooled over all pixels. The NYU and KITTI protocols are tested with the trainer
(trainer/tests/test_protocols.py).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from ros2_depth.metrics import (
    AngleAccumulator,
    DEPTH_METRICS,
    depth_metrics,
    mean_metrics,
    normal_angles,
    normal_metrics,
)

# Five pixels whose ratios max(p/g, g/p) are 1, 1.2, 1.5, 1.9 and 3.
PRED = np.array([1.0, 1.2, 3.0, 3.8, 3.0])
GT = np.array([1.0, 1.0, 2.0, 2.0, 1.0])


def test_depth_metrics_by_hand() -> None:
    m = depth_metrics(PRED, GT)
    assert set(m) == set(DEPTH_METRICS)
    # delta < 1.25: ratios 1 and 1.2; < 1.5625: also 1.5; < 1.953125: also 1.9.
    assert m['delta1'] == pytest.approx(2 / 5)
    assert m['delta2'] == pytest.approx(3 / 5)
    assert m['delta3'] == pytest.approx(4 / 5)
    # |p - g| / g = 0, 0.2, 0.5, 0.9, 2.0 -> 3.6 / 5.
    assert m['abs_rel'] == pytest.approx(0.72)
    # (p - g)^2 / g = 0, 0.04, 1 / 2, 3.24 / 2, 4 -> 6.16 / 5.
    assert m['sq_rel'] == pytest.approx(1.232)
    # (p - g)^2 = 0, 0.04, 1, 3.24, 4 -> sqrt(8.28 / 5).
    assert m['rmse'] == pytest.approx(math.sqrt(1.656))
    d = [0.0, math.log(1.2), math.log(1.5), math.log(1.9), math.log(3.0)]
    mean_sq = sum(x * x for x in d) / 5
    mean = sum(d) / 5
    assert m['rmse_log'] == pytest.approx(math.sqrt(mean_sq))
    assert m['sc_inv'] == pytest.approx(math.sqrt(mean_sq - mean**2))


def test_scale_invariant_error_is_the_root_of_d_in_natural_log() -> None:
    # d = ln 4 - ln 1 and 0: D = (ln 4)^2 / 2 - (ln 4 / 2)^2 = (ln 4)^2 / 4, so sqrt(D) = ln 2
    # (D itself would be 0.480; log10 would give 0.301).
    m = depth_metrics(np.array([4.0, 1.0]), np.array([1.0, 1.0]))
    assert m['sc_inv'] == pytest.approx(math.log(2.0))
    # A global scale leaves it at 0 while RMSE log is ln 2.
    m = depth_metrics(np.array([2.0, 6.0]), np.array([1.0, 3.0]))
    assert m['sc_inv'] == pytest.approx(0.0, abs=1e-7)  # sqrt of a rounding error
    assert m['rmse_log'] == pytest.approx(math.log(2.0))


def test_invalid_and_masked_pixels_are_not_scored() -> None:
    pred = np.array([2.0, np.nan, 5.0, 1.0, 7.0])
    gt = np.array([1.0, 1.0, 0.0, np.inf, 7.0])
    # Scored: pixel 0 (abs rel 1) and pixel 4 (abs rel 0) -> 0.5.
    assert depth_metrics(pred, gt)['abs_rel'] == pytest.approx(0.5)
    mask = np.array([True, True, True, True, False])
    assert depth_metrics(pred, gt, mask)['abs_rel'] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        depth_metrics(pred, gt, np.zeros(5, bool))


def test_caps_exclude_ground_truth_and_clip_predictions() -> None:
    gt = np.array([2.0, 4.0, 12.0, 0.5, 0.0, 10.0])
    pred = np.array([20.0, 0.1, 3.0, 3.0, 3.0, 10.0])
    m = depth_metrics(pred, gt, min_depth=1.0, max_depth=10.0)
    # Scored: gt 2 and 4 only (12 and 10 are not < 10, 0.5 is not > 1, 0 is invalid).
    # Predictions clipped: 20 -> 10, 0.1 -> 1. abs rel = (8 / 2 + 3 / 4) / 2.
    assert m['abs_rel'] == pytest.approx(2.375)
    assert m['rmse'] == pytest.approx(math.sqrt((64 + 9) / 2))
    # Without clipping it would be (18 / 2 + 3.9 / 4) / 2.
    assert depth_metrics(pred[:2], gt[:2])['abs_rel'] == pytest.approx(4.9875)
    # With caps an infinite prediction is clipped to the maximum, as BTS does.
    m = depth_metrics(np.array([np.inf]), np.array([5.0]), min_depth=1e-3, max_depth=10.0)
    assert m['abs_rel'] == pytest.approx(1.0)


def test_per_image_then_average() -> None:
    # Image A: one pixel, abs rel 1; image B: three exact pixels. Per image then mean: 0.5,
    # whereas pooling the four pixels would give 0.25.
    a = depth_metrics(np.array([2.0]), np.array([1.0]))
    b = depth_metrics(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0]))
    mean = mean_metrics([a, b])
    assert mean['abs_rel'] == pytest.approx(0.5)
    assert mean['delta1'] == pytest.approx(0.5)
    assert mean['rmse'] == pytest.approx(0.5)  # (1 + 0) / 2, not sqrt(1 / 4)
    with pytest.raises(ValueError):
        mean_metrics([])


def test_normal_angles_and_metrics_by_hand() -> None:
    pred = np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 2.0], [0.0, 0.0, 0.0]])
    gt = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    # 90 degrees, 45 (unnormalised input), 0; the zero vector is not scored.
    np.testing.assert_allclose(normal_angles(pred, gt), [90.0, 45.0, 0.0], atol=1e-12)
    m = normal_metrics(np.array([0.0, 10.0, 20.0, 30.0, 90.0]))
    assert m['mean'] == pytest.approx(30.0)
    assert m['median'] == pytest.approx(20.0)
    assert m['rmse'] == pytest.approx(math.sqrt((0 + 100 + 400 + 900 + 8100) / 5))
    assert m['within_11.25'] == pytest.approx(2 / 5)
    assert m['within_22.5'] == pytest.approx(3 / 5)
    assert m['within_30'] == pytest.approx(3 / 5)  # 30 itself is not within 30


def test_normals_pool_over_all_pixels() -> None:
    # Image A: one pixel at 90 degrees; image B: three pixels at 0. Pooled mean 90 / 4 = 22.5,
    # whereas averaging per image would give 45.
    pooled = AngleAccumulator()
    pooled.add(np.array([90.0]))
    pooled.add(np.array([0.0, 0.0, 0.0]))
    result = pooled.result()
    assert result['mean'] == pytest.approx(22.5)
    assert result['median'] == pytest.approx(0.0, abs=1e-3)
    assert result['within_11.25'] == pytest.approx(0.75)
    assert pooled.count == 4


def test_angle_accumulator_matches_all_angles() -> None:
    rng = np.random.default_rng(0)
    chunks = [rng.uniform(0.0, 180.0, size) for size in (7, 1000, 33)]
    chunks.append(np.array([0.0, 180.0, 11.25, 30.0]))
    accumulator = AngleAccumulator()
    for chunk in chunks:
        accumulator.add(chunk)
    expected = normal_metrics(np.concatenate(chunks))
    got = accumulator.result()
    for key in ('mean', 'rmse', 'within_11.25', 'within_22.5', 'within_30'):
        assert got[key] == pytest.approx(expected[key], rel=1e-12)
    assert got['median'] == pytest.approx(expected['median'], abs=1e-3)
    with pytest.raises(ValueError):
        AngleAccumulator().result()
