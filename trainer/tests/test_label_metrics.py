"""Tests of the pooled semantic-label measures against hand-counted confusion matrices."""

from __future__ import annotations

import numpy as np
import pytest
from ros2_depth_trainer.label_metrics import LabelAccumulator


def test_hand_counted_measures() -> None:
    acc = LabelAccumulator(4)
    truth = np.array([[1, 1, 1, 2], [2, 2, 0, 3]])
    pred = np.array([[1, 1, 2, 2], [2, 3, 3, 3]])
    acc.add(pred, truth)
    # Scored: 7 pixels (the 0 is unlabelled). Right: 1,1 | 2,2 | 3 -> 5.
    assert acc.count == 7
    got = acc.result()
    assert got['pixel_accuracy'] == pytest.approx(5 / 7)
    # Recall: class 1 2/3, class 2 2/3, class 3 1/1.
    assert got['mean_class_accuracy'] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    # IoU: class 1 2/(3+2-2)=2/3; class 2 2/(3+3-2)=1/2; class 3 1/(1+2-1)=1/2.
    assert got['mean_iou'] == pytest.approx((2 / 3 + 1 / 2 + 1 / 2) / 3)


def test_pooled_over_images_not_averaged() -> None:
    acc = LabelAccumulator(3)
    acc.add(np.array([1, 1, 1, 1]), np.array([1, 1, 1, 1]))
    acc.add(np.array([2]), np.array([1]))
    assert acc.result()['pixel_accuracy'] == pytest.approx(4 / 5)


def test_bad_input() -> None:
    acc = LabelAccumulator(3)
    with pytest.raises(ValueError, match='no labelled pixel'):
        acc.result()
    with pytest.raises(ValueError, match='class ids'):
        acc.add(np.array([5]), np.array([1]))
    with pytest.raises(ValueError, match='size'):
        acc.add(np.array([1, 2]), np.array([1]))
    with pytest.raises(ValueError):
        LabelAccumulator(300)
