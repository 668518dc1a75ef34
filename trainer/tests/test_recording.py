"""Tests of the common recording frame type and dataset (data/recording.py)."""

from __future__ import annotations

import numpy as np
import pytest
from ros2_depth_trainer.data.recording import (mask_depth, RecordedFrame, RecordingDataset,
                                               RecordingError)

K = (500.0, 500.0, 15.5, 11.5)


def frame(rgb: np.ndarray, depth: np.ndarray, intrinsics=K, name: str = 'f0') -> RecordedFrame:
    """Return a frame whose loader returns the given arrays."""
    return RecordedFrame(stamp=1.0, name=name, load=lambda: (rgb, depth, intrinsics))


def test_mask_depth_marks_zero_nan_and_out_of_range() -> None:
    depth = np.array([[0.0, np.nan, 0.4, 1.0, 9.0]], np.float32)
    masked = mask_depth(depth, min_depth=0.5, max_depth=8.0)
    assert masked.dtype == np.float32
    np.testing.assert_array_equal(np.isnan(masked), [[True, True, True, False, True]])
    assert masked[0, 3] == 1.0 and depth[0, 2] == np.float32(0.4)  # input untouched


def test_dataset_builds_samples_with_masked_depth() -> None:
    rgb = np.full((24, 32, 3), 128, np.uint8)
    depth = np.full((24, 32), 2.0, np.float32)
    depth[0, 0] = 0.0
    depth[1, 1] = 50.0
    dataset = RecordingDataset([frame(rgb, depth)], max_depth=10.0)
    sample = dataset[0]
    assert tuple(sample['image'].shape) == (3, 24, 32)
    assert sample['depth'][0, 0, 0] == 0 and sample['depth'][0, 1, 1] == 0  # invalid
    assert sample['depth'][0, 2, 2] == pytest.approx(2.0)
    assert sample['intrinsics'].tolist() == list(K)


@pytest.mark.parametrize('rgb, depth, intrinsics, words', [
    (np.zeros((24, 32), np.uint8), np.ones((24, 32), np.float32), K, 'colour must be'),
    (np.zeros((24, 32, 3), np.uint8), np.ones((12, 16), np.float32), K, 'registered'),
    (np.zeros((24, 32, 3), np.uint8), np.ones((24, 32), np.float32), (0.0, 1.0, 2.0, 3.0),
     'positive focal'),
])
def test_unusable_frames_name_themselves(rgb, depth, intrinsics, words: str) -> None:
    with pytest.raises(RecordingError, match=f'^bag.mcap @ 3 s: .*{words}'):
        frame(rgb, depth, intrinsics, name='bag.mcap @ 3 s').arrays()


def test_loader_errors_become_one_line_naming_the_frame() -> None:
    def broken():
        raise OSError('truncated PNG')
    with pytest.raises(RecordingError, match='^depth/0001.png: truncated PNG$'):
        RecordedFrame(0.0, 'depth/0001.png', broken).arrays()


def test_an_empty_recording_is_refused() -> None:
    with pytest.raises(RecordingError, match='no usable frames'):
        RecordingDataset([])
