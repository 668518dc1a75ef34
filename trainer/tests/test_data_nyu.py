"""Tests of the NYU Depth v2 readers on fixtures written in the datasets' on-disk formats."""

from __future__ import annotations

from pathlib import Path
import pickle
import struct
from typing import Dict
import zlib

import cv2
import h5py
import numpy as np
import pytest
from ros2_depth_trainer.config import load_config
from ros2_depth_trainer.data import nyu
from ros2_depth_trainer.data.augment import AugmentConfig, CentreCrop
from ros2_depth_trainer.data.nyu import DataFormatError, NyuFramesDataset, NyuLabeledDataset
from ros2_depth_trainer.train import build_dataset
import torch

N, W, H = 6, 8, 5  # asymmetric on purpose: a transposed read cannot pass
V73_HEADER = (b'MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 '
              b'HDF5 schema 1.00 .')


def _image_value(n: int, c: int, x: int, y: int) -> int:
    return (n * 50 + c * 20 + x * 3 + y * 7) % 256


def _write_v73(path: Path, arrays: Dict[str, np.ndarray]) -> Path:
    """Write HDF5 with MATLAB's 512-byte v7.3 user block header."""
    with h5py.File(path, 'w', userblock_size=512) as f:
        for key, value in arrays.items():
            f.create_dataset(key, data=value)
    header = V73_HEADER.ljust(116, b' ') + b'\0' * 8 + struct.pack('<H', 0x0200) + b'IM'
    with open(path, 'r+b') as f:
        f.write(header)
    return path


@pytest.fixture
def labeled(tmp_path: Path) -> Path:
    """Write a 6-image labeled set laid out as MATLAB writes it: images (N, 3, W, H), etc."""
    n, c, x, y = np.meshgrid(np.arange(N), np.arange(3), np.arange(W), np.arange(H),
                             indexing='ij')
    images = _image_value(n, c, x, y).astype(np.uint8)
    n, x, y = np.meshgrid(np.arange(N), np.arange(W), np.arange(H), indexing='ij')
    depths = (1.0 + n + 0.1 * x + 0.01 * y).astype(np.float32)
    raw = depths.copy()
    raw[:, 0, :] = 0.0  # image column 0 has no raw depth
    labels = ((n * 40 + y * W + x) % 895).astype(np.uint16)
    return _write_v73(tmp_path / 'nyu_depth_v2_labeled.mat',
                      {'images': images, 'depths': depths, 'rawDepths': raw, 'labels': labels})


def _element(mtype: int, data: bytes) -> bytes:
    if len(data) <= 4:  # small data element
        return struct.pack('<HH', mtype, len(data)) + data.ljust(4, b'\0')
    return struct.pack('<II', mtype, len(data)) + data + b'\0' * (-len(data) % 8)


def _write_mat_v5(path: Path, arrays: Dict[str, np.ndarray], compress: bool) -> Path:
    """Write a level-5 MAT-file as MATLAB does: doubles stored as uint8 when lossless."""
    out = b'MATLAB 5.0 MAT-file, Platform: GLNXA64'.ljust(116, b' ') + b'\0' * 8
    out += struct.pack('<H', 0x0100) + b'IM'
    for name, values in arrays.items():
        if isinstance(values, str):  # a char array, which the reader must skip
            body = (_element(6, struct.pack('<II', 4, 0))
                    + _element(5, struct.pack('<ii', 1, len(values)))
                    + _element(1, name.encode()) + _element(17, values.encode('utf-16-le')))
        else:
            values = np.asarray(values, dtype=np.float64)
            body = (_element(6, struct.pack('<II', 6, 0))
                    + _element(5, struct.pack('<' + 'i' * values.ndim, *values.shape))
                    + _element(1, name.encode())
                    + _element(2, values.astype(np.uint8).tobytes(order='F')))
        matrix = struct.pack('<II', 14, len(body)) + body
        if compress:
            packed = zlib.compress(matrix)
            out += struct.pack('<II', 15, len(packed)) + packed
        else:
            out += matrix
    path.write_bytes(out)
    return path


SPLITS = {'note': 'NYU', 'trainNdxs': np.array([[1], [3], [4], [6]]), 'testNdxs': [[2], [5]]}


def test_labeled_axes_follow_the_matlab_layout(labeled: Path) -> None:
    """image[c, y, x] is images[n, c, x, y]; depth and labels are transposed the same way."""
    data = NyuLabeledDataset(labeled, split='all', num_classes=894)
    assert len(data) == N
    sample = data[4]
    assert sample['image'].shape == (3, H, W) and sample['image'].dtype == torch.float32
    assert sample['depth'].shape == (1, H, W) and sample['labels'].shape == (H, W)
    for c, y, x in [(0, 0, 0), (1, 2, 7), (2, 4, 1), (0, 3, 5)]:
        assert sample['image'][c, y, x].item() == pytest.approx(_image_value(4, c, x, y) / 255)
        assert sample['depth'][0, y, x].item() == pytest.approx(5.0 + 0.1 * x + 0.01 * y)
        assert sample['labels'][y, x].item() == (4 * 40 + y * W + x) % 895
    assert sample['labels'].dtype == torch.int64
    fx, fy, cx, cy = sample['intrinsics'].tolist()
    assert fx == pytest.approx(518.858 * W / 640) and cy == pytest.approx(254.236 * H / 480 - 0.5)


def test_full_size_intrinsics_are_the_nyu_values(tmp_path: Path) -> None:
    """At 640x480 the sample carries fx 518.858, fy 519.470, cx 325.582, cy 253.736."""
    path = _write_v73(tmp_path / 'full.mat', {
        'images': np.zeros((1, 3, 640, 480), np.uint8),
        'depths': np.ones((1, 640, 480), np.float32)})
    sample = NyuLabeledDataset(path, split='all', num_classes=None)[0]
    np.testing.assert_allclose(sample['intrinsics'].numpy(), nyu.NYU_INTRINSICS, rtol=1e-7)
    assert 'labels' not in sample and sample['image'].shape == (3, 480, 640)


def test_raw_depth_keeps_missing_pixels_invalid(labeled: Path) -> None:
    """rawDepths: pixels with no Kinect return read as 0 (invalid)."""
    sample = NyuLabeledDataset(labeled, split='all', depth_key='rawDepths', num_classes=None)[1]
    assert (sample['depth'][0, :, 0] == 0).all() and (sample['depth'][0, :, 1:] > 0).all()


def test_label_tables_map_known_classes() -> None:
    """894 ids of known names map to their 40 and 13 classes; 0 stays unlabelled."""
    to_40, to_13 = nyu.label_mapping(40), nyu.label_mapping(13)
    assert to_40.shape == to_13.shape == (895,)
    # id: (name, 40-class, 13-class) -- cabinet, ceiling, chair, counter, floor, paper,
    # refrigerator, table, wall (NYU names; Gupta's 40 and Couprie's 13 classes)
    known = {3: (3, 6), 4: (22, 3), 5: (5, 4), 7: (12, 6), 11: (2, 5), 15: (26, 7),
             17: (24, 6), 19: (7, 10), 21: (1, 12), 0: (0, 0)}
    for raw, (c40, c13) in known.items():
        assert (to_40[raw], to_13[raw]) == (c40, c13)
    counts = np.bincount(to_40[1:], minlength=41)
    assert counts[0] == 0 and (counts[1:38] == 1).all() and tuple(counts[38:]) == (68, 82, 707)
    assert nyu.label_mapping(894) is None
    with pytest.raises(DataFormatError, match='4 classes'):
        nyu.label_mapping(4)


def test_labels_are_mapped_and_custom_tables_work(labeled: Path) -> None:
    """num_classes=13 applies 894->40->13; a 40-entry label_map (e.g. 4 classes) composes."""
    raw = NyuLabeledDataset(labeled, split='all', num_classes=894)[2]['labels'].numpy()
    mapped = NyuLabeledDataset(labeled, split='all', num_classes=13)[2]['labels'].numpy()
    np.testing.assert_array_equal(mapped, nyu.label_mapping(13)[raw])
    four = np.arange(40) % 4 + 1
    custom = NyuLabeledDataset(labeled, split='all', num_classes=4, label_map=four)[2]
    np.testing.assert_array_equal(custom['labels'].numpy(),
                                  np.concatenate([[0], four])[nyu.label_mapping(40)[raw]])


@pytest.mark.parametrize('compress', [False, True])
def test_splits_mat_v5_is_read_1_based(tmp_path: Path, compress: bool) -> None:
    """trainNdxs/testNdxs of a level-5 MAT-file (plain or compressed) become 0-based indices."""
    path = _write_mat_v5(tmp_path / 'splits.mat', SPLITS, compress)
    arrays = nyu.read_mat_v5(path)
    assert set(arrays) == {'trainNdxs', 'testNdxs'} and arrays['trainNdxs'].shape == (4, 1)
    train, test = nyu.load_splits_mat(path)
    np.testing.assert_array_equal(train, [0, 2, 3, 5])
    np.testing.assert_array_equal(test, [1, 4])


def test_splits_mat_v73_and_dataset_split(tmp_path: Path, labeled: Path) -> None:
    """A v7.3 splits file works too, and the dataset serves exactly the chosen images."""
    path = _write_v73(tmp_path / 'splits73.mat', {'trainNdxs': np.array([[1.0, 3, 4, 6]]),
                                                  'testNdxs': np.array([[2.0, 5]])})
    test = NyuLabeledDataset(labeled, split='test', splits_file=path, num_classes=None)
    assert len(test) == 2
    assert test[1]['depth'][0, 0, 0].item() == pytest.approx(1.0 + 4)  # image index 4
    train = NyuLabeledDataset(labeled, split='train', splits_file=path, num_classes=None)
    assert [round(train[i]['depth'][0, 0, 0].item()) for i in range(4)] == [1, 3, 4, 6]


def test_shipped_official_split() -> None:
    """654 unique test indices (testNdxs starts 1, 2, 9, 14, 15), the other 795 train."""
    train, test = nyu.official_splits()
    assert test.size == 654 and train.size == 795 and np.unique(test).size == 654
    np.testing.assert_array_equal(test[:5] + 1, [1, 2, 9, 14, 15])
    assert test[-1] == 1448 and np.intersect1d(train, test).size == 0


def test_bad_files_and_splits_are_rejected(tmp_path: Path, labeled: Path) -> None:
    """Wrong axis order, missing keys and the 1449-image split on a small file raise."""
    with pytest.raises(DataFormatError, match='1449'):
        NyuLabeledDataset(labeled, split='test', num_classes=None)
    swapped = _write_v73(tmp_path / 'swapped.mat', {
        'images': np.zeros((2, W, H, 3), np.uint8), 'depths': np.ones((2, W, H), np.float32)})
    with pytest.raises(DataFormatError, match='images'):
        NyuLabeledDataset(swapped, split='all', num_classes=None)
    with pytest.raises(DataFormatError, match='labels'):
        NyuLabeledDataset(_write_v73(tmp_path / 'nolabels.mat', {
            'images': np.zeros((2, 3, W, H), np.uint8),
            'depths': np.ones((2, W, H), np.float32)}), split='all')
    with pytest.raises(DataFormatError):
        nyu.read_mat_v5(labeled)
    with pytest.raises(DataFormatError, match='indices'):
        NyuLabeledDataset(labeled, indices=[0, 6], num_classes=None)


def test_labeled_transform_and_pickling(labeled: Path) -> None:
    """A transform is applied per sample; the dataset pickles without its open file."""
    config = AugmentConfig(base_size=(H, W), out_size=(3, 6))
    data = NyuLabeledDataset(labeled, split='all', num_classes=40, transform=CentreCrop(config))
    sample = data[0]
    assert sample['image'].shape == (3, 3, 6) and sample['labels'].shape == (3, 6)
    batch = torch.utils.data.default_collate([sample, data[1]])
    assert batch['depth'].shape == (2, 1, 3, 6)
    restored = pickle.loads(pickle.dumps(data))
    torch.testing.assert_close(restored[0]['depth'], sample['depth'])


@pytest.fixture
def frames(tmp_path: Path) -> Path:
    """Two scenes in the BTS "sync" layout plus a list with BTS's leading slashes."""
    root = tmp_path / 'sync'
    rng = np.random.default_rng(0)
    for scene, index in (('kitchen_0028b', 45), ('bedroom_0001', 3)):
        (root / scene).mkdir(parents=True)
        bgr = np.zeros((48, 64, 3), np.uint8)
        bgr[:24] = (0, 0, 255)  # red top half
        bgr[24:] = (255, 0, 0)  # blue bottom half
        cv2.imwrite(str(root / scene / f'rgb_{index:05d}.jpg'), bgr)
        depth_mm = rng.integers(500, 9000, (48, 64)).astype(np.uint16)
        depth_mm[:5, :5] = 0
        cv2.imwrite(str(root / scene / f'sync_depth_{index:05d}.png'), depth_mm)
    listing = tmp_path / 'nyudepthv2_train_files_with_gt.txt'
    listing.write_text('/kitchen_0028b/rgb_00045.jpg /kitchen_0028b/sync_depth_00045.png '
                       '518.8579\n\n/bedroom_0001/rgb_00003.jpg None 518.8579\n')
    return root


def test_frames_read_millimetre_pngs_and_rgb(frames: Path) -> None:
    """Depth is the PNG / 1000 (0 stays invalid); colours come out RGB; fx is the list's focal."""
    data = NyuFramesDataset(frames, file_list=frames.parent / 'nyudepthv2_train_files_with_gt.txt')
    assert len(data) == 2
    sample = data[0]
    depth_mm = cv2.imread(str(frames / 'kitchen_0028b' / 'sync_depth_00045.png'),
                          cv2.IMREAD_UNCHANGED)
    np.testing.assert_allclose(sample['depth'][0].numpy(), depth_mm / 1000.0, rtol=1e-6)
    assert (sample['depth'][0, :5, :5] == 0).all()
    image = sample['image'].numpy()
    assert image[0, 2:20].mean() > 0.9 and image[2, 2:20].mean() < 0.1  # red on top
    assert image[2, 28:46].mean() > 0.9 and image[0, 28:46].mean() < 0.1  # blue below
    assert sample['intrinsics'][0].item() == pytest.approx(518.8579)
    assert (data[1]['depth'] == 0).all()  # "None": no ground truth


def test_frames_scan_without_a_list(frames: Path) -> None:
    """Without a list every rgb/sync_depth pair under the root is used, sorted."""
    entries = nyu.scan_frame_folders(frames)
    assert [e.image for e in entries] == ['bedroom_0001/rgb_00003.jpg',
                                          'kitchen_0028b/rgb_00045.jpg']
    sample = NyuFramesDataset(frames)[1]
    np.testing.assert_allclose(sample['intrinsics'].numpy(), nyu.scaled_intrinsics((48, 64)),
                               rtol=1e-6)
    (frames / 'empty').mkdir()
    with pytest.raises(DataFormatError, match='no frames'):
        NyuFramesDataset(frames / 'empty')


def _plane_depth(size: tuple, intrinsics: tuple, normal: np.ndarray,
                 distance: float = 2.0) -> np.ndarray:
    """Return the (H, W) depth of the plane n . p = -distance seen with fx, fy, cx, cy."""
    fx, fy, cx, cy = intrinsics
    u = (np.arange(size[1]) - cx) / fx
    v = (np.arange(size[0]) - cy) / fy
    return -distance / (normal[0] * u[None, :] + normal[1] * v[:, None] + normal[2])


def _angles(normals: torch.Tensor, expected: np.ndarray) -> np.ndarray:
    """Return the angles (degrees) of (3, H, W) normals to one unit vector."""
    cos = np.einsum('chw,c->hw', normals.numpy().astype(np.float64), expected)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


PLANE_NORMAL = np.array([0.3, -0.4, -np.sqrt(0.75)])  # unit, facing the camera


def test_labeled_normals_are_estimated_from_depth(tmp_path: Path) -> None:
    """normals=True: (3, H, W) float32 normals of the depth seen with the scaled intrinsics."""
    h, w = 24, 32
    depth = _plane_depth((h, w), nyu.scaled_intrinsics((h, w)), PLANE_NORMAL)
    path = _write_v73(tmp_path / 'plane.mat', {
        'images': np.zeros((1, 3, w, h), np.uint8),
        'depths': depth.T[None].astype(np.float32), 'rawDepths': np.zeros((1, w, h), np.float32)})
    assert 'normals' not in NyuLabeledDataset(path, split='all', num_classes=None)[0]
    sample = NyuLabeledDataset(path, split='all', num_classes=None, normals=True)[0]
    assert sample['normals'].shape == (3, h, w) and sample['normals'].dtype == torch.float32
    assert _angles(sample['normals'], PLANE_NORMAL).max() < 0.1
    raw = NyuLabeledDataset(path, split='all', num_classes=None, depth_key='rawDepths',
                            normals=True)[0]
    assert (raw['normals'] == 0).all(), 'no depth, no normals'
    config = AugmentConfig(base_size=(h, w), out_size=(12, 16))
    cropped = NyuLabeledDataset(path, split='all', num_classes=None, normals=True,
                                normals_window=5, transform=CentreCrop(config))[0]
    assert cropped['normals'].shape == (3, 12, 16)
    assert _angles(cropped['normals'], PLANE_NORMAL).max() < 0.1


def test_labeled_normals_follow_the_fixture_depth(labeled: Path) -> None:
    """The estimate is normals_from_depth of the sample's own depth and intrinsics."""
    data = NyuLabeledDataset(labeled, split='all', num_classes=None, normals=True,
                             normals_window=3)
    sample = data[3]
    expected = nyu.estimate_normals(sample['depth'][0].numpy(), data.intrinsics, 3)
    np.testing.assert_array_equal(sample['normals'].numpy(), expected.transpose(2, 0, 1))
    assert (np.linalg.norm(expected, axis=-1) > 0).any()


def test_frames_normals_use_the_listed_focal(tmp_path: Path) -> None:
    """Frames: normals from the millimetre PNG and the list's fx; 'None' depth gives zeros."""
    h, w, focal = 48, 64, 60.0
    _, fy, cx, cy = nyu.scaled_intrinsics((h, w))
    depth_mm = np.round(1000 * _plane_depth((h, w), (focal, fy, cx, cy), PLANE_NORMAL))
    (tmp_path / 'scene').mkdir()
    cv2.imwrite(str(tmp_path / 'scene' / 'rgb_00001.jpg'), np.zeros((h, w, 3), np.uint8))
    cv2.imwrite(str(tmp_path / 'scene' / 'sync_depth_00001.png'), depth_mm.astype(np.uint16))
    listing = tmp_path / 'list.txt'
    listing.write_text(f'scene/rgb_00001.jpg scene/sync_depth_00001.png {focal}\n'
                       f'scene/rgb_00001.jpg None {focal}\n')
    data = NyuFramesDataset(tmp_path, file_list=listing, normals=True)
    assert _angles(data[0]['normals'], PLANE_NORMAL).max() < 0.5  # millimetre steps
    assert (data[1]['normals'] == 0).all()
    assert 'normals' not in NyuFramesDataset(tmp_path, file_list=listing)[0]


def test_normals_reach_the_shipped_config(frames: Path, labeled: Path) -> None:
    """nyu_eigen15_vgg16.yaml asks both loaders for normals; augmentation keeps them."""
    config = load_config(Path(__file__).resolve().parents[1] / 'configs' /
                         'nyu_eigen15_vgg16.yaml',
                         [f'data.train.args.root={frames}', 'data.train.args.file_list=null',
                          f'data.val.args.path={labeled}', 'data.val.args.split=all'])
    assert config.data.train.args['normals'] and config.data.val.args['normals']
    for spec, train in ((config.data.train, True), (config.data.val, False)):
        sample = build_dataset(spec, config.data.augment, train=train)[0]
        normals = sample['normals']
        assert normals.shape == (3,) + sample['image'].shape[1:]
        length = normals.norm(dim=0)
        assert torch.all((length == 0) | ((length - 1).abs() < 1e-4))
