"""
Unit tests of ros2_depth_trainer.protocols: every number is worked out by hand in the test.

The exact index ranges of the NYU and KITTI crops, and the protocols' caps and prediction
clipping.
"""

from __future__ import annotations

import numpy as np
import pytest
from ros2_depth_trainer.protocols import (
    crop_mask,
    EvalProtocol,
    kitti_eigen_crop,
    kitti_garg_crop,
    nyu_eigen_crop,
    PROTOCOLS,
)


def test_nyu_eigen_crop_indices() -> None:
    assert nyu_eigen_crop(480, 640) == (slice(45, 471), slice(41, 601))
    # Proportional, rounded down: 45 * 240 / 480 = 22.5 -> 22, 471 / 2 = 235.5 -> 235,
    # 41 / 2 = 20.5 -> 20, 601 / 2 = 300.5 -> 300.
    assert nyu_eigen_crop(240, 320) == (slice(22, 235), slice(20, 300))
    mask = crop_mask('nyu_eigen', 480, 640)
    assert mask.sum() == (471 - 45) * (601 - 41)
    assert mask[45, 41] and mask[470, 600]
    assert not mask[44, 41] and not mask[45, 40] and not mask[471, 600] and not mask[470, 601]


def test_kitti_crop_indices() -> None:
    # int(0.40810811 * 375) = int(153.04) = 153, int(0.99189189 * 375) = int(371.96) = 371,
    # int(0.03594771 * 1242) = int(44.65) = 44, int(0.96405229 * 1242) = int(1197.35) = 1197.
    assert kitti_garg_crop(375, 1242) == (slice(153, 371), slice(44, 1197))
    # Eigen: int(0.3324324 * 375) = int(124.66) = 124, int(0.91351351 * 375) = int(342.57) = 342.
    assert kitti_eigen_crop(375, 1242) == (slice(124, 342), slice(44, 1197))
    # Another KITTI size: 370 x 1224.
    assert kitti_garg_crop(370, 1224) == (slice(151, 366), slice(43, 1180))
    assert crop_mask('kitti_garg', 375, 1242).sum() == (371 - 153) * (1197 - 44)
    assert crop_mask('none', 3, 4).all()
    with pytest.raises(ValueError):
        crop_mask('garg', 3, 4)


def test_protocols() -> None:
    assert PROTOCOLS['nyu'] == EvalProtocol('nyu', 'nyu_eigen', 1e-3, 10.0)
    assert PROTOCOLS['kitti_garg'] == EvalProtocol('kitti_garg', 'kitti_garg', 1e-3, 80.0)
    assert PROTOCOLS['kitti_eigen'].crop == 'kitti_eigen'
    # NYU crop at 48 x 64: rows [45 * 48 // 480, 471 * 48 // 480) = [4, 47), columns [4, 60).
    gt = np.full((48, 64), 5.0)
    pred = np.full((48, 64), 50.0)
    pred[4:47, 4:60] = 5.0
    assert PROTOCOLS['nyu'].depth_metrics(pred, gt)['abs_rel'] == pytest.approx(0.0)
    pred[4, 4] = 50.0  # inside the crop, but clipped to 10: one pixel of 43 * 56 has abs rel 1
    assert PROTOCOLS['nyu'].depth_metrics(pred, gt)['abs_rel'] == pytest.approx(1 / (43 * 56))
    with pytest.raises(ValueError):
        EvalProtocol('bad', min_depth=5.0, max_depth=1.0)
