"""Tests of the KITTI readers on fixture drives written in the KITTI raw and depth formats."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import cv2
import numpy as np
import pytest
from ros2_depth_trainer.data import kitti
from ros2_depth_trainer.data.kitti import KittiCalibration, KittiDataset, KittiFrame
from ros2_depth_trainer.data.nyu import DataFormatError
import torch

H, W = 40, 60
DRIVE = '2011_09_26/2011_09_26_drive_0002_sync'
F, CX, CY = 50.0, 30.0, 20.0
# Velodyne points (x forward, y left, z up) and where they must land on image 2 with the
# fixture calibration (identity rectification, no LiDAR offset, camera 2 baseline term 10):
# u = (F * -y + CX * x + 10) / x, v = (F * -z + CY * x) / x, depth = x.
POINTS = [
    ((10.0, 0.0, 0.0), (20, 31), 10.0),
    ((5.0, 1.0, -0.4), (24, 22), 5.0),
    ((20.0, 0.0, 0.0), (20, 31), None),  # same pixel as the first, farther: dropped
    ((-5.0, 0.0, 0.0), None, None),  # behind the camera
    ((10.0, -20.0, 0.0), None, None),  # u = 131: right of the image
    ((8.0, 0.5, 4.0), None, None),  # v = -5: above the image
]


def _fmt(values: np.ndarray) -> str:
    return ' '.join(f'{v:.6e}' for v in np.ravel(values))


def _write_calib(day: Path, r_rect: np.ndarray, rotation: np.ndarray,
                 translation: np.ndarray) -> None:
    p2 = np.array([[F, 0, CX, 10.0], [0, F, CY, 0], [0, 0, 1, 0]])
    p3 = np.array([[F, 0, CX + 1, -20.0], [0, F, CY, 0], [0, 0, 1, 0]])
    lines = ['calib_time: 09-Jan-2012 13:57:47', 'corner_dist: 9.950000e-02']
    for n, p in enumerate([p2, p2, p2, p3]):
        lines += [f'S_0{n}: 1.392000e+03 5.120000e+02', f'K_0{n}: {_fmt(np.eye(3))}',
                  f'D_0{n}: {_fmt(np.zeros(5))}', f'R_0{n}: {_fmt(np.eye(3))}',
                  f'T_0{n}: {_fmt(np.zeros(3))}', f'S_rect_0{n}: {W:.6e} {H:.6e}',
                  f'R_rect_0{n}: {_fmt(r_rect)}', f'P_rect_0{n}: {_fmt(p)}']
    (day / 'calib_cam_to_cam.txt').write_text('\n'.join(lines) + '\n')
    (day / 'calib_velo_to_cam.txt').write_text(
        f'calib_time: 15-Mar-2012 11:37:16\nR: {_fmt(rotation)}\nT: {_fmt(translation)}\n'
        'delta_f: 1.000000e-10 1.000000e-10\ndelta_c: 1.000000e-10 1.000000e-10\n')


def _write_frame(drive_dir: Path, frame: int, points: Optional[np.ndarray]) -> None:
    for cam in (2, 3):
        folder = drive_dir / f'image_0{cam}' / 'data'
        folder.mkdir(parents=True, exist_ok=True)
        bgr = np.zeros((H, W, 3), np.uint8)
        bgr[:, : W // 2] = (0, 255, 0)  # green left half
        cv2.imwrite(str(folder / f'{frame:010d}.png'), bgr)
    if points is not None:
        velo = drive_dir / 'velodyne_points' / 'data'
        velo.mkdir(parents=True, exist_ok=True)
        scan = np.hstack([points, np.full((len(points), 1), 0.5)]).astype('<f4')
        scan.tofile(velo / f'{frame:010d}.bin')


VELO_TO_CAM = np.array([[0.0, -1, 0], [0, 0, -1], [1, 0, 0]])  # x fwd, y left, z up -> camera


@pytest.fixture
def raw_root(tmp_path: Path) -> Path:
    """One day with identity rectification, frame 69 with the POINTS scan, frame 70 without."""
    root = tmp_path / 'kitti_raw'
    (root / DRIVE).mkdir(parents=True)
    _write_calib(root / '2011_09_26', np.eye(3), VELO_TO_CAM, np.zeros(3))
    _write_frame(root / DRIVE, 69, np.array([p for p, _, _ in POINTS]))
    _write_frame(root / DRIVE, 70, None)
    return root


def test_calibration_is_parsed(raw_root: Path) -> None:
    """P_rect_02/03, R_rect_00 and [R|T] come from the two files; text entries are skipped."""
    calibration = KittiCalibration.load(raw_root / '2011_09_26')
    assert calibration.intrinsics(2) == (F, F, CX, CY)
    assert calibration.intrinsics(3) == (F, F, CX + 1, CY)
    np.testing.assert_array_equal(calibration.velo_to_cam[:, :3], VELO_TO_CAM)
    assert 'calib_time' not in kitti.read_calib_file(raw_root / '2011_09_26' /
                                                     'calib_cam_to_cam.txt')


def test_known_points_land_on_their_pixels(raw_root: Path) -> None:
    """Exact pixel and depth per point; behind/outside points dropped; nearest point kept."""
    calibration = KittiCalibration.load(raw_root / '2011_09_26')
    scan = kitti.read_velodyne(raw_root / DRIVE / 'velodyne_points/data/0000000069.bin')
    assert scan.shape == (len(POINTS), 4) and scan.dtype == np.float32
    depth = kitti.project_points(scan[:, :3], calibration.velo_to_image(2), (H, W))
    expected = np.zeros((H, W), np.float32)
    for _, pixel, z in POINTS:
        if z is not None:
            expected[pixel] = z
    np.testing.assert_array_equal(depth, expected)
    shifted = kitti.project_points(scan[:, :3], calibration.velo_to_image(2), (H, W),
                                   matlab_offset=True)
    assert shifted[19, 30] == 10.0 and shifted[23, 21] == 5.0 and np.count_nonzero(shifted) == 2


def test_projection_with_rectification_and_lidar_offset(tmp_path: Path) -> None:
    """Points built backwards from chosen pixels through P, R_rect and [R|T] land back on them."""
    angle = np.radians(1.5)
    r_rect = np.array([[np.cos(angle), 0, np.sin(angle)], [0, 1, 0],
                       [-np.sin(angle), 0, np.cos(angle)]])
    translation = np.array([-0.004, -0.076, -0.272])
    day = tmp_path / '2011_09_26'
    day.mkdir()
    _write_calib(day, r_rect, VELO_TO_CAM, translation)
    calibration = KittiCalibration.load(day)
    rng = np.random.default_rng(0)
    rows, cols = rng.integers(0, H, 50), rng.integers(0, W, 50)
    z = rng.uniform(3.0, 70.0, 50)
    offset = np.linalg.solve(np.array([[F, 0, CX], [0, F, CY], [0, 0, 1]]), [10.0, 0, 0])
    cam2 = np.stack([(cols - CX) * z / F, (rows - CY) * z / F, z], axis=1)
    cam0 = (cam2 - offset) @ r_rect  # undo rectification: R_rect^T applied to each row
    velo = (cam0 - translation) @ VELO_TO_CAM  # R^T (x - T)
    depth = kitti.project_points(velo.astype(np.float32), calibration.velo_to_image(2), (H, W))
    expected = np.full((H, W), np.inf)
    np.minimum.at(expected, (rows, cols), z)  # where two points share a pixel the nearer wins
    expected[np.isinf(expected)] = 0
    np.testing.assert_allclose(depth, expected, rtol=1e-5)


def test_annotated_png_is_metres_times_256(tmp_path: Path) -> None:
    """uint16 value v reads as v / 256 metres; 0 is invalid; 8-bit PNGs are rejected."""
    values = np.array([[0, 256, 5120], [65535, 1, 0]], np.uint16)
    cv2.imwrite(str(tmp_path / 'd.png'), values)
    np.testing.assert_array_equal(kitti.read_annotated_depth(tmp_path / 'd.png'), values / 256.0)
    cv2.imwrite(str(tmp_path / 'bad.png'), values.astype(np.uint8))
    with pytest.raises(DataFormatError, match='uint16'):
        kitti.read_annotated_depth(tmp_path / 'bad.png')


def test_split_files_in_both_forms(tmp_path: Path) -> None:
    """monodepth2 lines and BTS image-path lines give the same frames; bad lines raise."""
    path = tmp_path / 'split.txt'
    path.write_text(f'{DRIVE} 0000000069 l\n{DRIVE} 70 r\n\n'
                    f'{DRIVE}/image_02/data/0000000071.png '
                    '2011_09_26_drive_0002_sync/proj_depth/groundtruth/image_02/0000000071.png '
                    f'721.5377\n/{DRIVE}/image_03/data/0000000072.png None 721.5377\n')
    assert kitti.read_split_file(path) == [KittiFrame(DRIVE, 69, 'l'), KittiFrame(DRIVE, 70, 'r'),
                                           KittiFrame(DRIVE, 71, 'l'), KittiFrame(DRIVE, 72, 'r')]
    path.write_text(f'{DRIVE} 69 x\n')
    with pytest.raises(DataFormatError, match='side'):
        kitti.read_split_file(path)


def test_shipped_eigen_test_split() -> None:
    """697 frames of 28 drives, left images, in monodepth2's order."""
    frames = kitti.eigen_test_frames()
    assert len(frames) == 697 and len(set(frames)) == 697
    assert frames[0] == KittiFrame(DRIVE, 69, 'l')
    assert frames[-1] == KittiFrame('2011_10_03/2011_10_03_drive_0047_sync', 768, 'l')
    assert len({f.drive for f in frames}) == 28 and {f.side for f in frames} == {'l'}


def test_dataset_velodyne_samples(raw_root: Path, tmp_path: Path) -> None:
    """Samples carry the RGB image, the projected depth and camera 2 or 3 intrinsics."""
    split = tmp_path / 'split.txt'
    split.write_text(f'{DRIVE} 69 l\n{DRIVE} 69 r\n')
    data = KittiDataset(raw_root, split=split)
    left, right = data[0], data[1]
    assert left['image'].shape == (3, H, W) and left['depth'].shape == (1, H, W)
    assert left['image'][1, :, : W // 2].min() > 0.99 and left['image'][0].max() < 0.01
    assert left['depth'][0, 20, 31].item() == 10.0 and left['depth'][0, 24, 22].item() == 5.0
    assert torch.count_nonzero(left['depth']) == 2
    assert left['intrinsics'].tolist() == [F, F, CX, CY]
    assert right['intrinsics'].tolist() == [F, F, CX + 1, CY]
    assert right['depth'][0, 20, 29].item() == 10.0  # baseline term -20: u = 31 - 20 / 10


def test_dataset_missing_depth_policies(raw_root: Path, tmp_path: Path) -> None:
    """Frame 70 has no scan: error by default, dropped with skip, all-invalid with empty."""
    split = tmp_path / 'split.txt'
    split.write_text(f'{DRIVE} 69 l\n{DRIVE} 70 l\n')
    with pytest.raises(DataFormatError, match='1 frame'):
        KittiDataset(raw_root, split=split)
    assert len(KittiDataset(raw_root, split=split, missing_depth='skip')) == 1
    empty = KittiDataset(raw_root, split=split, missing_depth='empty')
    assert len(empty) == 2 and not empty[1]['depth'].any()
    split.write_text(f'{DRIVE} 99 l\n')
    with pytest.raises(DataFormatError, match='no image'):
        KittiDataset(raw_root, split=split)


def test_dataset_annotated_depth_and_transform(raw_root: Path, tmp_path: Path) -> None:
    """Annotated PNGs under train/ are found and read; the KITTI preset crops 172x576."""
    folder = (tmp_path / 'annotated' / 'train' / '2011_09_26_drive_0002_sync' / 'proj_depth'
              / 'groundtruth' / 'image_02')
    folder.mkdir(parents=True)
    gt = np.zeros((H, W), np.uint16)
    gt[10, 12], gt[30, 50] = 2560, 12800
    cv2.imwrite(str(folder / '0000000069.png'), gt)
    frames = [KittiFrame(DRIVE, 69, 'l'), KittiFrame(DRIVE, 70, 'l')]
    data = KittiDataset(raw_root, frames=frames, depth='annotated',
                        annotated_root=tmp_path / 'annotated', missing_depth='skip')
    assert len(data) == 1
    depth = data[0]['depth'][0]
    assert depth[10, 12].item() == 10.0 and depth[30, 50].item() == 50.0
    assert torch.count_nonzero(depth) == 2
    cropped = KittiDataset(raw_root, frames=frames[:1], augment='kitti_eigen14')[0]
    assert cropped['image'].shape == (3, 172, 576) and cropped['depth'].shape == (1, 172, 576)
    assert torch.count_nonzero(cropped['depth']) == 2  # sparse points are moved, not smeared


# Hand-placed points with the LiDAR 0.27 m ahead of the camera (T = [0, 0, -0.27]), so that the
# camera depth is x - 0.27: with u = (F * -y + CX * z + 10) / z and v = (F * -z_velo + CY * z) / z,
# (10, 0, 0) has z 9.73, u 31.03, v 20 -> pixel (20, 31); (5, 1, -0.4) has z 4.73, u 21.54,
# v 24.23 -> pixel (24, 22). The published ground truth puts them one pixel up and left.
HAND_POINTS = np.array([[10.0, 0.0, 0.0], [5.0, 1.0, -0.4]])


def _lidar_ahead_root(tmp_path: Path) -> Path:
    root = tmp_path / 'kitti_raw'
    (root / DRIVE).mkdir(parents=True)
    _write_calib(root / '2011_09_26', np.eye(3), VELO_TO_CAM, np.array([0.0, 0.0, -0.27]))
    _write_frame(root / DRIVE, 69, HAND_POINTS)
    return root


def test_velodyne_x_depth_and_offset_on_hand_placed_points(tmp_path: Path) -> None:
    """'velodyne_x' stores the point's x; the MATLAB offset moves each one pixel up and left."""
    calibration = KittiCalibration.load(_lidar_ahead_root(tmp_path) / '2011_09_26')
    projection = calibration.velo_to_image(2)
    camera = kitti.project_points(HAND_POINTS, projection, (H, W))
    assert np.count_nonzero(camera) == 2
    assert camera[20, 31] == pytest.approx(9.73) and camera[24, 22] == pytest.approx(4.73)
    published = kitti.project_points(HAND_POINTS, projection, (H, W), matlab_offset=True,
                                     depth_value='velodyne_x')
    assert np.count_nonzero(published) == 2
    assert published[19, 30] == 10.0 and published[23, 21] == 5.0
    with pytest.raises(ValueError, match='depth_value'):
        kitti.project_points(HAND_POINTS, projection, (H, W), depth_value='range')


def test_evaluate_opens_kitti_with_the_published_projection(tmp_path: Path) -> None:
    """Score KITTI in evaluate with the MATLAB offset always, camera depth or Velodyne x."""
    from ros2_depth_trainer.evaluate import EvaluationError, open_dataset

    root = _lidar_ahead_root(tmp_path)
    split = tmp_path / 'split.txt'
    split.write_text(f'{DRIVE} 69 l\n')
    depth = open_dataset('kitti', [str(root)], split=str(split))[0]['depth'].numpy()[0]
    assert np.count_nonzero(depth) == 2
    assert depth[19, 30] == pytest.approx(9.73) and depth[23, 21] == pytest.approx(4.73)
    depth = open_dataset('kitti', [str(root)], split=str(split),
                         kitti_depth='velodyne_x')[0]['depth'].numpy()[0]
    assert depth[19, 30] == 10.0 and depth[23, 21] == 5.0
    with pytest.raises(EvaluationError, match='kitti_depth'):
        open_dataset('kitti', [str(root)], split=str(split), kitti_depth='z')
