"""The synth command's files: layout, index.json, units, determinism; the dataset reading them."""

from __future__ import annotations

import json
from pathlib import Path
import shutil

import cv2
import numpy as np
import pytest
from ros2_depth_trainer import cli
from ros2_depth_trainer.data.synthetic import SyntheticDataset, SyntheticFormatError
from ros2_depth_trainer.synth.classes import CLASS_NAMES, SKY
from ros2_depth_trainer.synth.preview import write_preview
from ros2_depth_trainer.synth.writer import depth_to_mm, FILE_SUFFIXES, generate
import torch

SIZE = (48, 64)


@pytest.fixture(scope='module')
def street(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Generate 3 street samples through the command line, two workers."""
    folder = tmp_path_factory.mktemp('street')
    rc = cli.main(['synth', '--output', str(folder), '--count', '3', '--seed', '7', '--kind',
                   'street', '--size', f'{SIZE[0]}x{SIZE[1]}', '--workers', '2',
                   '--no-progress'])
    assert rc == 0
    return folder


def _bytes(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != 'index.json'}


def test_files_and_index(street: Path) -> None:
    index = json.loads((street / 'index.json').read_text())
    assert index['kind'] == 'street' and index['seed'] == 7 and index['count'] == 3
    assert (index['height'], index['width']) == SIZE
    assert index['class_names'] == list(CLASS_NAMES)
    assert index['generator_version']
    assert [s['id'] for s in index['samples']] == ['000000', '000001', '000002']
    names = {p.name for p in street.iterdir()}
    for sample in index['samples']:
        assert set(sample['files']) == set(FILE_SUFFIXES)
        assert set(sample['files'].values()) <= names
        k = sample['intrinsics']
        assert (k['width'], k['height']) == (SIZE[1], SIZE[0])
        assert k['fx'] == pytest.approx(0.5 * SIZE[1] / np.tan(np.radians(sample['fov_deg']) / 2))
        assert 60 <= sample['fov_deg'] <= 90
        assert 1.3 <= sample['camera_height_m'] <= 2.0
        assert -12 <= sample['camera_pitch_deg'] <= 6 and -4 <= sample['camera_roll_deg'] <= 4
        rotation = np.asarray(sample['camera_to_world'])
        assert np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-9)


def test_file_contents_agree(street: Path) -> None:
    index = json.loads((street / 'index.json').read_text())
    skies = 0
    for sample in index['samples']:
        files = {k: street / v for k, v in sample['files'].items()}
        rgb = cv2.imread(str(files['rgb']), cv2.IMREAD_UNCHANGED)
        depth = np.load(files['depth'])
        mm = cv2.imread(str(files['depth_mm']), cv2.IMREAD_UNCHANGED)
        normals = np.load(files['normals'])
        labels = cv2.imread(str(files['labels']), cv2.IMREAD_UNCHANGED)
        assert rgb.shape == SIZE + (3,) and rgb.dtype == np.uint8
        assert depth.shape == SIZE and depth.dtype == np.float32
        assert mm.shape == SIZE and mm.dtype == np.uint16
        assert normals.shape == SIZE + (3,) and normals.dtype == np.float32
        assert labels.shape == SIZE and labels.dtype == np.uint8
        valid = np.isfinite(depth)
        assert (mm[~valid] == 0).all()
        assert np.abs(mm[valid] / 1000.0 - depth[valid]).max() <= 0.0005 + 1e-6
        sky = labels == SKY
        skies += int(sky.sum())
        assert not valid[sky].any()
        assert np.isnan(normals[sky]).all()
        surface = ~sky
        assert np.allclose(np.linalg.norm(normals[surface], axis=1), 1.0, atol=1e-5)
        assert labels.max() < len(CLASS_NAMES) and (labels > 0).all()
    assert skies > 0


def test_same_files_for_any_worker_count(street: Path, tmp_path: Path) -> None:
    generate(tmp_path, 3, 7, 'street', SIZE[0], SIZE[1], workers=1, progress=False)
    assert _bytes(tmp_path) == _bytes(street)
    again = tmp_path / 'other_seed'
    generate(again, 1, 8, 'street', SIZE[0], SIZE[1], workers=1, progress=False)
    assert (again / '000000_rgb.png').read_bytes() != (street / '000000_rgb.png').read_bytes()


def test_depth_to_mm() -> None:
    depth = np.array([[np.nan, 0.0, 0.0004, 1.2344, 1.2346, 65.535, 65.6, np.inf]], np.float32)
    assert depth_to_mm(depth).tolist() == [[0, 0, 0, 1234, 1235, 65535, 0, 0]]


def test_command_rejects_bad_arguments(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        cli.main(['synth', '--output', 'x', '--size', '240by320'])
    assert cli.main(['synth', '--count', '1']) == 2
    assert cli.main(['synth', '--output', 'unused', '--seed', '-1', '--no-progress']) == 1


def test_dataset_samples(street: Path) -> None:
    dataset = SyntheticDataset(street)
    assert len(dataset) == 3
    sample = dataset[1]
    assert set(sample) == {'image', 'depth', 'normals', 'labels', 'intrinsics'}
    h, w = SIZE
    assert sample['image'].shape == (3, h, w) and sample['image'].dtype == torch.float32
    assert 0.0 <= float(sample['image'].min()) and float(sample['image'].max()) <= 1.0
    assert sample['depth'].shape == (1, h, w) and sample['depth'].dtype == torch.float32
    assert sample['normals'].shape == (3, h, w) and sample['normals'].dtype == torch.float32
    assert sample['labels'].shape == (h, w) and sample['labels'].dtype == torch.int64
    raw = np.load(street / '000001_depth.npy')
    depth = sample['depth'][0].numpy()
    assert (depth[~np.isfinite(raw)] == 0).all()
    assert np.array_equal(depth[np.isfinite(raw)], raw[np.isfinite(raw)])
    normals = sample['normals'].numpy()
    sky = sample['labels'].numpy() == SKY
    assert (normals[:, sky] == 0).all()
    assert np.allclose(np.linalg.norm(normals[:, ~sky], axis=0), 1.0, atol=1e-5)
    rgb = cv2.imread(str(street / '000001_rgb.png'))[..., ::-1]
    assert np.allclose(sample['image'].numpy().transpose(1, 2, 0) * 255, rgb, atol=1e-3)
    entry = json.loads((street / 'index.json').read_text())['samples'][1]['intrinsics']
    assert sample['intrinsics'].tolist() == pytest.approx(
        [entry['fx'], entry['fy'], entry['cx'], entry['cy']])


def test_dataset_png_depth_and_several_folders(street: Path) -> None:
    exact = SyntheticDataset(street)[0]['depth']
    rounded = SyntheticDataset(street, depth_source='png', normals=False, labels=False)[0]
    assert set(rounded) == {'image', 'depth', 'intrinsics'}
    assert torch.equal(rounded['depth'] > 0, exact > 0)
    assert float((rounded['depth'] - exact).abs().max()) <= 0.0005 + 1e-6
    both = SyntheticDataset([street, street])
    assert len(both) == 6 and torch.equal(both[4]['image'], both[1]['image'])


def test_dataset_rejects_foreign_folders(tmp_path: Path, street: Path) -> None:
    with pytest.raises(SyntheticFormatError):
        SyntheticDataset(tmp_path)
    index = json.loads((street / 'index.json').read_text())
    index['class_names'] = index['class_names'][:-1]
    (tmp_path / 'index.json').write_text(json.dumps(index))
    with pytest.raises(SyntheticFormatError):
        SyntheticDataset(tmp_path)


def test_preview_sheet(tmp_path: Path) -> None:
    path = write_preview(tmp_path / 'preview.png', seed=3, per_kind=1, size=(48, 64))
    sheet = cv2.imread(str(path))
    # One row: an indoor and a street sample, four pictures each, tiles of 192x144.
    assert sheet.shape == (144, 8 * 192 + 7 * 4, 3)


def test_unreadable_sample_file_names_itself(tmp_path: Path, street: Path) -> None:
    folder = tmp_path / 'copy'
    shutil.copytree(street, folder)
    rgb = sorted(folder.glob('*_rgb.png'))[0]
    rgb.write_bytes(b'not a png')
    dataset = SyntheticDataset(folder)
    with pytest.raises(SyntheticFormatError, match=rgb.name):
        dataset[0]
