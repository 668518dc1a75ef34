"""Tests of the RGB-D frame-list dataset and of evaluate's median-scaled columns."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List

import cv2
import numpy as np
import pytest
from ros2_depth_trainer.data.rgbd_list import read_frame_list, RGBDListDataset, RGBDListError
from ros2_depth_trainer.evaluate import (
    evaluate, median_ratio, MEDIAN_SCALED_SUFFIX, open_dataset, runner_from_onnx)
from ros2_depth_trainer.export import export_model
from ros2_depth_trainer.protocols import PROTOCOLS


def write_frame(folder: Path, name: str, depth_m: np.ndarray, scale: float) -> None:
    """Write NAME_color.png (a gradient) and NAME_depth.png (uint16, depth * scale)."""
    height, width = depth_m.shape
    color = np.zeros((height, width, 3), np.uint8)
    color[..., 0] = np.linspace(0, 255, width, dtype=np.uint8)[None]
    color[..., 2] = 77
    cv2.imwrite(str(folder / f'{name}_color.png'), color[..., ::-1])
    cv2.imwrite(str(folder / f'{name}_depth.png'), np.round(depth_m * scale).astype(np.uint16))


@pytest.fixture
def frames(tmp_path: Path) -> List[Path]:
    """Write two RGB-D pairs, one with holes, listed once as JSON and once as text."""
    depth_a = np.full((48, 64), 2.0)
    depth_b = np.linspace(0.5, 4.0, 48 * 64).reshape(48, 64)
    depth_b[:5] = 0.0  # no depth
    write_frame(tmp_path, 'a', depth_a, 1000.0)
    write_frame(tmp_path, 'b', depth_b, 5000.0)
    entries = [{'rgb': 'a_color.png', 'depth': 'a_depth.png', 'depth_scale': 1000.0,
                'K': [50.0, 52.0, 31.5, 23.5]},
               {'rgb': 'b_color.png', 'depth': 'b_depth.png', 'depth_scale': 5000,
                'K': [60.0, 60.0, 32.0, 24.0]}]
    as_json = tmp_path / 'frames.json'
    as_json.write_text(json.dumps(entries))
    as_text = tmp_path / 'frames.txt'
    as_text.write_text('# rgb depth scale fx fy cx cy\n\n'
                       'a_color.png a_depth.png 1000 50 52 31.5 23.5\n'
                       'b_color.png b_depth.png 5000 60 60 32 24\n')
    return [as_json, as_text]


def test_json_and_text_lists_give_the_same_samples(frames: List[Path]) -> None:
    from_json, from_text = RGBDListDataset(frames[0]), RGBDListDataset(frames[1])
    assert len(from_json) == len(from_text) == 2
    for index in range(2):
        a, b = from_json[index], from_text[index]
        assert a.keys() == b.keys() == {'image', 'depth', 'intrinsics'}
        for key in a:
            np.testing.assert_array_equal(a[key].numpy(), b[key].numpy())
    sample = from_json[1]
    assert sample['image'].shape == (3, 48, 64)
    assert sample['intrinsics'].tolist() == [60.0, 60.0, 32.0, 24.0]
    depth = sample['depth'][0].numpy()
    assert (depth[:5] == 0).all()  # no depth: 0 = invalid
    expected = np.round(np.linspace(0.5, 4.0, 48 * 64).reshape(48, 64) * 5000) / 5000
    np.testing.assert_allclose(depth[5:], expected[5:], atol=1e-6)
    np.testing.assert_allclose(from_json[0]['depth'].numpy(), 2.0)


def test_max_depth_masks_far_depth(frames: List[Path]) -> None:
    depth = RGBDListDataset(frames[0], max_depth=3.0)[1]['depth'][0].numpy()
    truth = np.linspace(0.5, 4.0, 48 * 64).reshape(48, 64)
    assert (depth[truth > 3.0001] == 0).all() and (depth[5:][truth[5:] < 2.9999] > 0).all()


@pytest.mark.parametrize('content, words', [
    ('[{"rgb": "a.png"}]', ['frame 0', 'missing', 'depth_scale']),
    ('{"rgb": 1}', ['JSON list']),
    ('not json', ['not valid JSON']),
    ('[{"rgb": "a", "depth": "b", "depth_scale": 0, "K": [1, 1, 0, 0]}]', ['positive']),
    ('[{"rgb": "a", "depth": "b", "depth_scale": 1, "K": [1, 1, 0]}]', ['4 numbers']),
    ('[]', ['no frames']),
])
def test_bad_json_lists_name_the_problem(tmp_path: Path, content: str, words: List[str]) -> None:
    path = tmp_path / 'bad.json'
    path.write_text(content)
    with pytest.raises(RGBDListError) as info:
        read_frame_list(path)
    for word in words:
        assert word in str(info.value)


def test_bad_text_line_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / 'bad.txt'
    path.write_text('a.png b.png 1000 1 1 0 0\nc.png d.png 1000 1 1\n')
    with pytest.raises(RGBDListError, match=r'bad.txt:2: expected RGB DEPTH'):
        read_frame_list(path)


def test_unreadable_or_unregistered_frame_names_the_file(tmp_path: Path,
                                                         frames: List[Path]) -> None:
    cv2.imwrite(str(tmp_path / 'small_depth.png'), np.ones((10, 10), np.uint16))
    path = tmp_path / 'mixed.txt'
    path.write_text('a_color.png missing.png 1000 50 50 31.5 23.5\n'
                    'a_color.png small_depth.png 1000 50 50 31.5 23.5\n')
    data = RGBDListDataset(path)
    with pytest.raises(RGBDListError, match='missing.png'):
        data[0]
    with pytest.raises(RGBDListError, match='registered'):
        data[1]


def test_evaluate_adds_median_scaled_columns(tmp_path: Path, frames: List[Path]) -> None:
    export_model(tmp_path / 'model.onnx', variant='eigen15-light-camera', seed=0)
    runner = runner_from_onnx(tmp_path / 'model.json', num_threads=1)
    dataset = open_dataset('rgbd_list', [str(frames[0])])
    result = evaluate(dataset, [runner], PROTOCOLS['rgbd'], train_mean=7.0, progress=False,
                      median_scaling=True)
    names = [c.name for c in result.columns]
    assert names == ['Mean', 'model', 'Mean' + MEDIAN_SCALED_SUFFIX,
                     'model' + MEDIAN_SCALED_SUFFIX]
    by_name = {c.name: c for c in result.columns}
    # Frame a is 2 m everywhere: the median-scaled constant is exact there; frame b is a ramp.
    scaled_mean = by_name['Mean' + MEDIAN_SCALED_SUFFIX].depth
    assert by_name['Mean'].depth['abs_rel'] > scaled_mean['abs_rel'] > 0
    # Scaling by a per-image constant leaves the scale-invariant error alone.
    raw, scaled = by_name['model'].depth, by_name['model' + MEDIAN_SCALED_SUFFIX].depth
    assert scaled['sc_inv'] == pytest.approx(raw['sc_inv'], rel=1e-9)
    assert scaled['abs_rel'] != raw['abs_rel']


def test_median_ratio() -> None:
    pred = np.array([1.0, 2.0, 4.0, np.nan, -1.0])
    truth = np.array([2.0, 2.0, 2.0, 2.0, 2.0])
    scored = np.array([True, True, True, True, False])
    assert median_ratio(pred, truth, scored) == 1.0  # ratios 2, 1, 0.5; NaN not used
    with pytest.raises(ValueError):
        median_ratio(pred, truth, np.array([False, False, False, True, True]))
