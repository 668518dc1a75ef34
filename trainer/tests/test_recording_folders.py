"""
Tests of RGB-D recordings as data, from fixtures the tests write (a few tiny frames per layout).

The folder layouts, layout detection, subsampling, the time-block split, depth masking, one-line
errors, and the ``recording`` kind in train and evaluate.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
import pickle
import sys
import types
from typing import Dict, List, Sequence

import cv2
import numpy as np
import pytest
from ros2_depth_trainer import cli
from ros2_depth_trainer.data import registry
from ros2_depth_trainer.data.recording import (RecordedFrame, RecordingError, split_frames,
                                               subsample, validation_blocks)
from ros2_depth_trainer.data.recording_sources import (detect_layout, read_recording,
                                                       RecordingSourceDataset)
from ros2_depth_trainer.data.rgbd_folders import (associate, CAMERA_PRESETS, read_7scenes,
                                                  read_open3d, read_tum)
from ros2_depth_trainer.evaluate import open_dataset

W, H = 32, 24
K = [30.0, 31.0, 15.5, 11.5]


def colour(index: int, width: int = W, height: int = H) -> np.ndarray:
    """Return an RGB test picture that differs from frame to frame."""
    image = np.zeros((height, width, 3), np.uint8)
    image[..., 0] = (np.arange(width) * 7 + index * 40) % 256
    image[..., 1] = 100
    image[..., 2] = (np.arange(height)[:, None] * 5 + index * 11) % 256
    return image


def write_rgb(path: Path, rgb: np.ndarray) -> None:
    """Write an RGB array as an image file (PNG or JPEG by the suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), rgb[..., ::-1])


def write_depth(path: Path, depth_m: np.ndarray, scale: float) -> None:
    """Write metres as a uint16 PNG of depth x scale."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.round(depth_m * scale).astype(np.uint16))


def depth_map(index: int, width: int = W, height: int = H) -> np.ndarray:
    """Return a depth plane (metres) that changes with the frame, with a hole at the corner."""
    depth = np.tile(np.linspace(1.0, 3.0, width), (height, 1)) + 0.1 * index
    depth[:2, :2] = 0.0
    return depth


def write_tum(root: Path, colour_stamps: Sequence[float], depth_stamps: Sequence[float],
              width: int = W, height: int = H) -> Path:
    """Write a TUM RGB-D folder; depth frame j holds depth_map(j)."""
    lines = {'rgb': ['# colour images', '# timestamp filename'], 'depth': ['# depth maps']}
    for i, stamp in enumerate(colour_stamps):
        write_rgb(root / 'rgb' / f'{stamp:.6f}.png', colour(i, width, height))
        lines['rgb'].append(f'{stamp:.6f} rgb/{stamp:.6f}.png')
    for j, stamp in enumerate(depth_stamps):
        write_depth(root / 'depth' / f'{stamp:.6f}.png', depth_map(j, width, height), 5000.0)
        lines['depth'].append(f'{stamp:.6f} depth/{stamp:.6f}.png')
    for name, text in lines.items():
        (root / f'{name}.txt').write_text('\n'.join(text) + '\n')
    return root


def write_7scenes(root: Path, count: int, numbers: Sequence[int] = ()) -> Path:
    """Write a 7-Scenes sequence: colour, millimetre depth (65535 = none) and pose per frame."""
    for n in numbers or range(count):
        write_rgb(root / f'frame-{n:06d}.color.png', colour(n))
        depth = np.round(depth_map(n) * 1000).astype(np.uint16)
        depth[:2, :2] = 65535
        cv2.imwrite(str(root / f'frame-{n:06d}.depth.png'), depth)
        (root / f'frame-{n:06d}.pose.txt').write_text('1 0 0 0\n0 1 0 0\n0 0 1 0\n0 0 0 1\n')
    return root


def write_open3d(root: Path, count: int, size=(W, H)) -> Path:
    """Write an Open3D folder: color/*.jpg, depth/*.png (mm) and camera_intrinsic.json."""
    for n in range(count):
        write_rgb(root / 'color' / f'{n:06d}.jpg', colour(n))
        write_depth(root / 'depth' / f'{n:06d}.png', depth_map(n), 1000.0)
    fx, fy, cx, cy = K
    (root / 'camera_intrinsic.json').write_text(json.dumps({
        'width': size[0], 'height': size[1],
        'intrinsic_matrix': [fx, 0, 0, 0, fy, 0, cx, cy, 1]}))
    return root


def write_list(root: Path, count: int) -> Path:
    """Write a text frame list (rgbd_list) of count frames."""
    lines = []
    for n in range(count):
        write_rgb(root / f'{n}_color.png', colour(n))
        write_depth(root / f'{n}_depth.png', depth_map(n), 1000.0)
        lines.append(f'{n}_color.png {n}_depth.png 1000 ' + ' '.join(map(str, K)))
    path = root / 'frames.txt'
    path.write_text('\n'.join(lines) + '\n')
    return path


def one_line_error(excinfo: pytest.ExceptionInfo, *words: str) -> str:
    """Assert the error is one line holding every word; return it."""
    message = str(excinfo.value)
    assert '\n' not in message
    for word in words:
        assert word in message, message
    return message


# --------------------------------------------------------------------------------------------
# Layouts


def test_associate_is_one_to_one_smallest_difference_first() -> None:
    colour_stamps = [1.00, 1.03, 1.10, 2.00]
    depth_stamps = [1.01, 1.02, 1.115, 3.00]
    # 1.00-1.01 (0.01) and 1.03-1.02 (0.01) first; 1.10-1.115 (0.015); 2.00 has none.
    assert associate(colour_stamps, depth_stamps, 0.02) == [(0, 0), (1, 1), (2, 2)]
    # One depth frame between two colour frames goes to the nearer one only.
    assert associate([1.0, 1.012], [1.01], 0.02) == [(1, 0)]
    assert associate([1.0], [1.05], 0.02) == []
    assert associate([1.0], [1.05], 0.05) == [(0, 0)]


def test_tum_pairs_by_stamp_with_tolerance(tmp_path: Path) -> None:
    colour_stamps = [10.0, 10.033, 10.066, 10.1, 10.5]
    depth_stamps = [10.004, 10.03, 10.07, 10.2]  # 10.1 and 10.5 have no depth within 0.02 s
    root = write_tum(tmp_path / 'office', colour_stamps, depth_stamps)
    frames = read_tum(root, intrinsics=K)
    assert [f.stamp for f in frames] == [10.0, 10.033, 10.066]
    rgb, depth, intrinsics = frames[2].arrays()
    np.testing.assert_array_equal(rgb, colour(2))
    np.testing.assert_allclose(depth, depth_map(2), atol=1e-3)  # depth / 5000
    assert depth[0, 0] == 0.0 and intrinsics == tuple(K)
    assert frames[1].name.endswith('10.033000.png')
    wide = read_tum(root, intrinsics=K, max_time_diff=0.15)  # one to one: 4 depth frames
    assert [f.stamp for f in wide] == [10.0, 10.033, 10.066, 10.1]


def test_tum_intrinsics_come_from_the_folder_name_or_the_option(tmp_path: Path) -> None:
    root = write_tum(tmp_path / 'rgbd_dataset_freiburg2_xyz', [1.0], [1.0], 640, 480)
    frames = read_tum(root)
    assert frames[0].arrays()[2] == CAMERA_PRESETS['tum_fr2']
    assert read_tum(root, intrinsics='tum_fr3')[0].arrays()[2] == CAMERA_PRESETS['tum_fr3']
    small = write_tum(tmp_path / 'fr1_small', [1.0], [1.0])  # a preset is for 640x480 only
    with pytest.raises(RecordingError) as excinfo:
        read_tum(small)[0].arrays()
    one_line_error(excinfo, '1.000000.png', '32x24', '640x480', 'intrinsics=')
    unnamed = write_tum(tmp_path / 'my_room', [1.0], [1.0])
    with pytest.raises(RecordingError) as excinfo:
        read_tum(unnamed)
    one_line_error(excinfo, 'my_room', 'no intrinsics', 'intrinsics=[fx, fy, cx, cy]')


def test_7scenes_stamps_are_frame_numbers_at_30_hz(tmp_path: Path) -> None:
    root = write_7scenes(tmp_path / 'seq-01', 0, numbers=[0, 1, 2, 5])
    frames = read_7scenes(root, intrinsics=K)
    assert [round(f.stamp * 30) for f in frames] == [0, 1, 2, 5]
    rgb, depth, intrinsics = frames[3].arrays()
    np.testing.assert_array_equal(rgb, colour(5))
    assert depth[0, 0] == 0.0  # 65535 = no depth
    np.testing.assert_allclose(depth[2:], depth_map(5)[2:], atol=1e-3)  # millimetres
    assert [f.stamp for f in read_7scenes(root, intrinsics=K, frame_rate=10)][-1] == 0.5
    with pytest.raises(RecordingError) as excinfo:  # the 7-Scenes default is for 640x480
        read_7scenes(root)[0].arrays()
    one_line_error(excinfo, 'frame-000000.color.png', '7-Scenes default')
    (root / 'frame-000002.depth.png').unlink()
    with pytest.raises(RecordingError) as excinfo:
        read_7scenes(root, intrinsics=K)
    one_line_error(excinfo, 'frame-000002.depth.png', 'missing')


def test_open3d_folder_with_its_intrinsic_json(tmp_path: Path) -> None:
    root = write_open3d(tmp_path / 'redwood', 3)
    frames = read_open3d(root)
    assert [f.stamp for f in frames] == [0.0, 1 / 30, 2 / 30]
    rgb, depth, intrinsics = frames[1].arrays()
    assert intrinsics == tuple(K) and rgb.shape == (H, W, 3)  # column-major matrix read
    np.testing.assert_allclose(depth, depth_map(1), atol=1e-3)
    assert read_open3d(root, depth_scale=500)[1].arrays()[1][5, 5] == pytest.approx(
        2 * depth_map(1)[5, 5], abs=2e-3)
    # The JSON's size must be the images'.
    wrong = write_open3d(tmp_path / 'wrong_size', 1, size=(640, 480))
    with pytest.raises(RecordingError) as excinfo:
        read_open3d(wrong)[0].arrays()
    one_line_error(excinfo, '000000.jpg', '32x24', '640x480', 'camera_intrinsic.json')
    (root / 'depth' / '000002.png').unlink()
    with pytest.raises(RecordingError) as excinfo:
        read_open3d(root)
    one_line_error(excinfo, '3 colour images', '2 depth PNGs')
    (root / 'camera_intrinsic.json').unlink()
    with pytest.raises(RecordingError) as excinfo:
        read_open3d(root)
    one_line_error(excinfo, 'intrinsic JSON', 'found none')


def test_a_frame_list_is_a_recording_in_line_order(tmp_path: Path) -> None:
    from ros2_depth_trainer.data.rgbd_list import RGBDListDataset

    path = write_list(tmp_path, 3)
    frames = read_recording(path)
    assert [f.stamp * 30 for f in frames] == [0, 1, 2]
    listed = RGBDListDataset(path).read(2)
    rgb, depth, intrinsics = frames[2].arrays()
    np.testing.assert_array_equal(rgb, listed['image'])
    np.testing.assert_array_equal(np.nan_to_num(depth), np.nan_to_num(listed['depth']))
    assert intrinsics == listed['intrinsics']
    assert read_recording(path, intrinsics=[1, 2, 3, 4])[0].arrays()[2] == (1, 2, 3, 4)


# --------------------------------------------------------------------------------------------
# Detection


def test_detection_finds_every_layout(tmp_path: Path) -> None:
    assert detect_layout(write_tum(tmp_path / 'tum', [1.0], [1.0])) == 'tum'
    assert detect_layout(write_7scenes(tmp_path / 'seq', 1)) == '7scenes'
    assert detect_layout(write_open3d(tmp_path / 'o3d', 1)) == 'open3d'
    assert detect_layout(write_list(tmp_path / 'list', 1)) == 'list'
    (tmp_path / 'list' / 'frames.json').write_text('[]')
    assert detect_layout(tmp_path / 'list' / 'frames.json') == 'list'
    bag = tmp_path / 'bag'
    bag.mkdir()
    (bag / 'metadata.yaml').write_text('rosbag2_bagfile_information: {}\n')
    assert detect_layout(bag) == 'rosbag2'
    (tmp_path / 'run.mcap').write_bytes(b'')
    assert detect_layout(tmp_path / 'run.mcap') == 'rosbag2'
    empty = tmp_path / 'photos'
    empty.mkdir()
    (empty / 'a.png').write_bytes(b'')
    with pytest.raises(RecordingError) as excinfo:
        detect_layout(empty)
    one_line_error(excinfo, 'photos', 'not a recording', 'metadata.yaml', 'rgb.txt',
                   'frame-XXXXXX.color', 'color/ and depth/', '.json')
    with pytest.raises(RecordingError, match='no such file'):
        detect_layout(tmp_path / 'nowhere')


def test_bags_go_to_the_rosbag_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bag = tmp_path / 'drive.mcap'
    bag.write_bytes(b'')
    monkeypatch.setitem(sys.modules, 'ros2_depth_trainer.data.rosbag_source', None)
    with pytest.raises(RecordingError) as excinfo:
        read_recording(bag)
    one_line_error(excinfo, 'drive.mcap', 'rosbag2 support is not available')

    calls: List[Dict] = []

    def read_bag_frames(path, **options):
        calls.append({'path': path, **options})
        arrays = (colour(0), depth_map(0).astype(np.float32), (9.0, 9.0, 4.0, 3.0))
        return [RecordedFrame(2.0, f'{path} @ 2 s', lambda: arrays),
                RecordedFrame(1.0, f'{path} @ 1 s', lambda: arrays)]

    fake = types.ModuleType('ros2_depth_trainer.data.rosbag_source')
    fake.read_bag_frames = read_bag_frames
    monkeypatch.setitem(sys.modules, 'ros2_depth_trainer.data.rosbag_source', fake)
    frames = read_recording(bag, bag={'image_topic': '/cam/image'}, intrinsics=K)
    assert calls == [{'path': bag, 'image_topic': '/cam/image', 'stamp_tolerance': 0.02}]
    assert [f.stamp for f in frames] == [1.0, 2.0]  # time-ordered
    assert frames[0].arrays()[2] == tuple(K)  # the intrinsics option replaces the bag's


# --------------------------------------------------------------------------------------------
# Subsampling, split, masking


def memory_frames(stamps: Sequence[float], pictures: Sequence[np.ndarray]) -> List[RecordedFrame]:
    """Frames whose depth must never be decoded: load() fails, load_preview() gives a picture."""
    def no_depth():
        raise AssertionError('depth decoded')
    return [RecordedFrame(s, f'f{i}', no_depth, (lambda p=p: p))
            for i, (s, p) in enumerate(zip(stamps, pictures))]


def test_subsample_by_time() -> None:
    frames = memory_frames([i * 0.1 for i in range(10)], [colour(0)] * 10)
    kept = subsample(frames, min_interval=0.25)
    assert [round(f.stamp, 1) for f in kept] == [0.0, 0.3, 0.6, 0.9]
    assert subsample(frames) == frames


def test_subsample_by_image_change_decodes_only_colour() -> None:
    grey = [np.full((H, W), v, np.uint8) for v in (100, 101, 102, 120, 121, 90)]
    frames = memory_frames([i / 30 for i in range(6)], grey)
    kept = subsample(frames, min_change=5.0)
    # 101 and 102 are within 5 grey levels of the kept 100; 121 of 120; 90 differs by 30.
    assert [f.name for f in kept] == ['f0', 'f3', 'f5']
    both = subsample(frames, min_interval=0.1, min_change=5.0)  # 0.1 s = 3 frames at 30 Hz
    assert [f.name for f in both] == ['f0', 'f3']
    assert frames[0].thumbnail().shape == (24, 32)


def test_validation_blocks_are_contiguous_and_at_the_end() -> None:
    assert np.flatnonzero(validation_blocks(10, 0.2)).tolist() == [8, 9]
    assert np.flatnonzero(validation_blocks(10, 0.2, blocks=2)).tolist() == [4, 9]
    assert np.flatnonzero(validation_blocks(20, 0.2, blocks=2)).tolist() == [8, 9, 18, 19]
    assert np.flatnonzero(validation_blocks(3, 0.1)).tolist() == [2]  # at least one frame
    assert not validation_blocks(10, 0.0).any()
    with pytest.raises(RecordingError, match='val_fraction'):
        validation_blocks(10, 1.0)


def test_split_has_no_leakage_across_the_gap() -> None:
    frames = memory_frames([i * 0.5 for i in range(20)], [colour(0)] * 20)  # 0 .. 9.5 s
    val = split_frames(frames, 'val', val_fraction=0.25)
    train = split_frames(frames, 'train', val_fraction=0.25, gap=1.0)
    assert [f.stamp for f in val] == [7.5, 8.0, 8.5, 9.0, 9.5]  # one contiguous block
    assert max(f.stamp for f in train) == 6.5  # 7.0 is 0.5 s from the block: dropped
    assert not {f.name for f in train} & {f.name for f in val}
    assert len(split_frames(frames, 'train', val_fraction=0.25, gap=0.0)) == 15
    assert split_frames(frames, 'all') == frames
    two = split_frames(frames, 'val', val_fraction=0.2, blocks=2)
    assert [f.stamp for f in two] == [4.0, 4.5, 9.0, 9.5]
    two_train = split_frames(frames, 'train', val_fraction=0.2, blocks=2, gap=1.0)
    # Less than 1 s from a validation frame (3.5, 5.0, 8.5) is dropped; 1 s (3.0, 5.5) is not.
    assert [f.stamp for f in two_train] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 5.5, 6.0, 6.5,
                                            7.0, 7.5, 8.0]


def test_dataset_masks_depth_to_its_range(tmp_path: Path) -> None:
    root = write_7scenes(tmp_path / 'seq', 2)
    dataset = RecordingSourceDataset(root, split='all', intrinsics=K, min_depth=1.5,
                                     max_depth=2.5)
    depth = dataset[1]['depth'][0].numpy()
    truth = depth_map(1)
    inside = (truth > 1.5) & (truth <= 2.5)
    assert (depth[~inside] == 0).all()  # 0 = invalid in a sample
    np.testing.assert_allclose(depth[inside], truth[inside], atol=1e-3)


# --------------------------------------------------------------------------------------------
# The dataset kind


def test_dataset_splits_each_recording_and_takes_per_path_options(tmp_path: Path) -> None:
    seven = write_7scenes(tmp_path / 'seq', 10)
    o3d = write_open3d(tmp_path / 'o3d', 5)
    paths = [{'path': str(seven), 'intrinsics': K}, str(o3d)]
    val = RecordingSourceDataset(paths, split='val')
    train = RecordingSourceDataset(paths, split='train', split_gap=0.0)
    assert [r['split'] for r in val.recordings] == [2, 1]
    assert [r['split'] for r in train.recordings] == [8, 4]
    assert len(val) == 3 and len(train) == 12
    names = {f.name for f in val.frames}
    assert not names & {f.name for f in train.frames}
    assert {Path(n).name for n in names} == {'frame-000008.color.png', 'frame-000009.color.png',
                                             '000004.jpg'}
    with pytest.raises(RecordingError) as excinfo:  # 10 frames of 1/30 s: all within 1 s
        RecordingSourceDataset(paths, split='train')
    one_line_error(excinfo, 'seq', 'train block is empty', 'split_gap 1.0')
    with pytest.raises(RecordingError, match='mapping with path'):
        RecordingSourceDataset([{'path': str(seven), 'colour': 'red'}], split='all')
    # Frames pickle (DataLoader workers started with spawn, distributed runs).
    again = pickle.loads(pickle.dumps(val))
    np.testing.assert_array_equal(again[2]['image'].numpy(), val[2]['image'].numpy())


@pytest.mark.parametrize('case', ['missing depth.txt', 'unreadable PNG', 'mismatched sizes',
                                  'no matching stamps', 'bad line'])
def test_bad_recordings_give_one_line_naming_the_file(tmp_path: Path, case: str) -> None:
    root = write_tum(tmp_path / 'tum', [1.0, 2.0], [1.0, 2.0])
    if case == 'missing depth.txt':
        (root / 'depth.txt').unlink()
        words = ['depth.txt', 'missing']
    elif case == 'unreadable PNG':
        (root / 'depth' / '1.000000.png').write_bytes(b'\x89PNG\r\n\x1a\nbroken')
        words = ['1.000000.png', 'cannot read']
    elif case == 'mismatched sizes':
        write_depth(root / 'depth' / '1.000000.png', np.ones((H // 2, W // 2)), 5000.0)
        words = ['rgb/1.000000.png', 'depth is 16x12', 'colour is 32x24']
    elif case == 'no matching stamps':
        write_tum(root, [1.0, 2.0], [5.0, 6.0])
        words = ['tum', 'no colour frame has a depth frame within 0.02 s', '5.000-6.000']
    else:
        (root / 'rgb.txt').write_text('# fine\n1.0 rgb/1.000000.png\n2.0\n')
        words = ['rgb.txt:3', 'TIMESTAMP PATH']
    with pytest.raises(RecordingError) as excinfo:
        RecordingSourceDataset(root, split='all', intrinsics=K)
    one_line_error(excinfo, *words)


def test_evaluate_opener_maps_splits_and_reads_options(tmp_path: Path) -> None:
    root = write_7scenes(tmp_path / 'seq', 10)
    held_out = open_dataset('recording', [str(root), f'intrinsics={K}'])
    assert len(held_out) == 2  # evaluate's default split 'test': the validation block
    assert held_out[0]['intrinsics'].tolist() == K
    train = open_dataset('recording', [str(root), f'intrinsics={K}', 'split_gap=0'],
                         split='train')
    assert len(train) == 8
    every = open_dataset('recording', [str(root), f'intrinsics={K}', 'min_interval=0.1'],
                         split='all')
    assert len(every) == 4  # frames 0, 3, 6, 9 at 30 Hz
    from ros2_depth_trainer.evaluate import EvaluationError

    with pytest.raises(EvaluationError, match='unexpected keyword'):
        open_dataset('recording', [str(root), 'colour=red'])
    with pytest.raises(EvaluationError, match='splits into'):
        open_dataset('recording', [str(root)], split='eigen_test')
    assert registry.default_protocol('recording') == 'rgbd'


# --------------------------------------------------------------------------------------------
# train and evaluate on a recording

TINY = Path(__file__).resolve().parents[1] / 'configs' / 'synthetic_tiny.yaml'


@pytest.fixture(scope='module')
def trained(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    """Train the tiny config for 2 steps on the training block of a 96x64 TUM recording."""
    folder = tmp_path_factory.mktemp('recording')
    stamps = [i * 0.25 for i in range(12)]
    root = write_tum(folder / 'desk', stamps, stamps, width=96, height=64)
    args = f'paths: [{root}], intrinsics: [80, 80, 47.5, 31.5], split_gap: 0.5'
    run = folder / 'run'
    status = cli.main([
        'train', '--config', str(TINY), '--device', 'cpu', '--output', str(run),
        '--set', f'data.train={{kind: recording, args: {{{args}, split: train}}}}',
        '--set', f'data.val={{kind: recording, args: {{{args}, split: val}}}}',
        '--set', 'stages.0.steps=2', '--set', 'data.batch_size=2',
        '--set', 'train.log_every=1'])
    return {'root': root, 'run': run, 'status': status}


def test_train_accepts_the_recording_kind(trained: Dict[str, Path]) -> None:
    assert trained['status'] == 0
    records = [json.loads(line) for line in
               (trained['run'] / 'metrics.jsonl').read_text().splitlines()]
    assert [r['step'] for r in records if r['kind'] == 'train'] == [1, 2]
    assert [r for r in records if r['kind'] == 'val']  # validated on the held-out block
    assert (trained['run'] / 'final.pt').is_file()


def test_evaluate_command_scores_a_recording(trained: Dict[str, Path], tmp_path: Path,
                                             capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / 'eval'
    data = ['recording', str(trained['root']), 'intrinsics=[80, 80, 47.5, 31.5]']
    status = cli.main(['evaluate', '--data', *data, '--train-data', *data,
                       '--checkpoint', str(trained['run'] / 'final.pt'),
                       '--output', str(out), '--figure-rows', '1', '--no-progress'])
    assert status == 0
    report = json.loads((out / 'metrics.json').read_text())
    assert report['protocol']['name'] == 'rgbd'
    assert report['columns'] == ['Mean', 'final']
    assert report['results']['final']['images'] == 2  # the last 20 % of 12 frames
    assert 'abs rel' in capsys.readouterr().out


def test_evaluate_command_refuses_a_bad_recording_in_one_line(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / 'notes').mkdir()
    caplog.set_level(logging.ERROR)
    status = cli.main(['evaluate', '--data', 'recording', str(tmp_path / 'notes'),
                       '--train-mean', '2', '--onnx', str(tmp_path / 'none.json'),
                       '--output', str(tmp_path / 'out')])
    assert status == 1
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and '\n' not in errors[0]
    assert 'not a recording; looked for' in errors[0]
