"""
KITTI: raw drives with the LiDAR projected to sparse depth, depth-annotated PNGs, split files.

Raw data (the "synced+rectified" drives of the KITTI raw dataset), under ``root``::

    YYYY_MM_DD/calib_cam_to_cam.txt       P_rect_02, R_rect_00, ... ("key: values" lines)
    YYYY_MM_DD/calib_velo_to_cam.txt      R (3x3, row-major), T (3)
    YYYY_MM_DD/YYYY_MM_DD_drive_XXXX_sync/image_02/data/0000000000.png   (image_03: right)
    YYYY_MM_DD/YYYY_MM_DD_drive_XXXX_sync/velodyne_points/data/0000000000.bin

A ``.bin`` holds float32 (x, y, z, reflectance) per point in the Velodyne frame (x forward,
y left, z up). A point X projects to image 2 by ``P_rect_02 @ R_rect_00 @ [R|T] @ X``; the third
coordinate is its depth in the rectified camera-2 frame. Points with depth <= 0 (behind the
camera) or outside the image are dropped and each pixel keeps its nearest point.

Depth-annotated ground truth (KITTI depth benchmark, ``data_depth_annotated``), under
``annotated_root``: ``{train,val}/YYYY_MM_DD_drive_XXXX_sync/proj_depth/groundtruth/image_02/
0000000005.png``, uint16, metres x 256, 0 = invalid (the ``train``/``val`` level is optional).

Split files (``read_split_file``): the monodepth2 form ``YYYY_MM_DD/YYYY_MM_DD_drive_XXXX_sync
0000000069 l`` (l = image_02, r = image_03) or BTS lines whose first field is the image path.
The 697-frame Eigen test split ships as ``splits/kitti_eigen_test_files.txt``.
"""

from __future__ import annotations

import dataclasses
from importlib import resources
import logging
from pathlib import Path
import re
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from ros2_depth_trainer.data.augment import (
    make_sample, make_transform, Sample, splat_nearest_depth)
from ros2_depth_trainer.data.files import (
    DataFormatError, PathLike, read_depth_png, read_rgb, Transform)
from torch.utils.data import Dataset

LOGGER = logging.getLogger(__name__)

ANNOTATED_UNITS_PER_METRE = 256.0
_SIDES = {'l': 2, 'r': 3}
_IMAGE_PATH = re.compile(
    r'(?P<date>\d{4}_\d{2}_\d{2})/(?P<drive>\d{4}_\d{2}_\d{2}_drive_\d{4}_sync)/'
    r'image_0(?P<cam>[23])/data/(?P<frame>\d+)\.(png|jpg)$')


def read_calib_file(path: PathLike) -> Dict[str, np.ndarray]:
    """Read a KITTI calibration file: ``key: numbers`` lines (non-numeric values are skipped)."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f'calibration file {path} does not exist')
    values: Dict[str, np.ndarray] = {}
    for line in path.read_text().splitlines():
        key, sep, rest = line.partition(':')
        if not sep:
            continue
        try:
            values[key.strip()] = np.array([float(v) for v in rest.split()], dtype=np.float64)
        except ValueError:
            continue  # calib_time and other text entries
    return values


def _entry(calib: Dict[str, np.ndarray], key: str, size: int, path: Path) -> np.ndarray:
    if key not in calib or calib[key].size != size:
        raise DataFormatError(f'{path}: needs {key} with {size} values')
    return calib[key]


@dataclasses.dataclass(frozen=True)
class KittiCalibration:
    """The calibration of one recording day: rectified projections and the LiDAR pose."""

    p_rect: Dict[int, np.ndarray]  # camera number -> P_rect_0N (3x4)
    r_rect_00: np.ndarray  # 3x3
    velo_to_cam: np.ndarray  # 3x4 [R|T], Velodyne -> unrectified camera 0

    @classmethod
    def load(cls, date_dir: PathLike) -> 'KittiCalibration':
        """Read ``calib_cam_to_cam.txt`` and ``calib_velo_to_cam.txt`` of a day folder."""
        date_dir = Path(date_dir)
        cam_path, velo_path = date_dir / 'calib_cam_to_cam.txt', date_dir / 'calib_velo_to_cam.txt'
        cam, velo = read_calib_file(cam_path), read_calib_file(velo_path)
        p_rect = {n: cam[f'P_rect_0{n}'].reshape(3, 4) for n in range(4)
                  if f'P_rect_0{n}' in cam and cam[f'P_rect_0{n}'].size == 12}
        if 2 not in p_rect:
            raise DataFormatError(f'{cam_path}: needs P_rect_02 with 12 values')
        r_rect = _entry(cam, 'R_rect_00', 9, cam_path).reshape(3, 3)
        rotation = _entry(velo, 'R', 9, velo_path).reshape(3, 3)
        translation = _entry(velo, 'T', 3, velo_path).reshape(3, 1)
        return cls(p_rect, r_rect, np.hstack([rotation, translation]))

    def velo_to_image(self, camera: int = 2) -> np.ndarray:
        """Return the 3x4 matrix P_rect_0N @ R_rect_00 @ [R|T] from Velodyne points to pixels."""
        if camera not in self.p_rect:
            raise DataFormatError(f'no P_rect_0{camera} in the calibration')
        rect = np.eye(4)
        rect[:3, :3] = self.r_rect_00
        velo = np.vstack([self.velo_to_cam, [0.0, 0.0, 0.0, 1.0]])
        return self.p_rect[camera] @ rect @ velo

    def intrinsics(self, camera: int = 2) -> Tuple[float, float, float, float]:
        """Return fx, fy, cx, cy of rectified camera ``camera`` (from P_rect_0N)."""
        p = self.p_rect[camera]
        return float(p[0, 0]), float(p[1, 1]), float(p[0, 2]), float(p[1, 2])


def read_velodyne(path: PathLike) -> np.ndarray:
    """Read a Velodyne ``.bin`` scan as (N, 4) float32: x, y, z, reflectance."""
    path = Path(path)
    raw = np.fromfile(path, dtype='<f4')
    if raw.size % 4:
        raise DataFormatError(f'{path}: size is not a whole number of 4-float points')
    return raw.reshape(-1, 4)


DEPTH_VALUES = ('camera', 'velodyne_x')


def project_points(points: np.ndarray, projection: np.ndarray, shape: Tuple[int, int],
                   matlab_offset: bool = False, depth_value: str = 'camera') -> np.ndarray:
    """
    Project 3D points to a sparse depth map of ``shape`` (height, width), float32 metres.

    ``projection`` (3x4) maps homogeneous points to (u*d, v*d, d). A point lands on pixel
    (round(v), round(u)) (pixel centres at integer coordinates), or one pixel up and left with
    ``matlab_offset`` (monodepth2's ``generate_depth_map``, "to match the KITTI MATLAB code",
    which made the Eigen-split ground truth of published results). Points with d <= 0 or
    outside the image are dropped; a pixel hit several times keeps the smallest value. The value
    stored is d, the depth along the rectified camera's axis (``depth_value='camera'``), or the
    point's Velodyne x coordinate (``'velodyne_x'``, monodepth2's ``vel_depth=True``, which its
    ``export_gt_depth.py`` uses for the Eigen split's ``gt_depths.npz``).
    """
    if depth_value not in DEPTH_VALUES:
        raise ValueError(f'depth_value must be one of {DEPTH_VALUES}, got {depth_value!r}')
    points = np.asarray(points, dtype=np.float64)[:, :3]
    homogeneous = np.hstack([points, np.ones((points.shape[0], 1))])
    projected = homogeneous @ np.asarray(projection, dtype=np.float64).T
    depth = projected[:, 2]
    front = depth > 0
    projected, depth = projected[front], depth[front]
    cols = np.floor(projected[:, 0] / depth + 0.5)
    rows = np.floor(projected[:, 1] / depth + 0.5)
    if matlab_offset:
        cols, rows = cols - 1, rows - 1
    values = depth if depth_value == 'camera' else points[front, 0]
    return splat_nearest_depth(rows, cols, values, shape)


def read_annotated_depth(path: PathLike) -> np.ndarray:
    """Read a depth-annotated PNG (uint16, metres x 256, 0 = invalid) as float32 metres."""
    return read_depth_png(Path(path), ANNOTATED_UNITS_PER_METRE)


@dataclasses.dataclass(frozen=True)
class KittiFrame:
    """One frame: ``drive`` is 'YYYY_MM_DD/YYYY_MM_DD_drive_XXXX_sync', side 'l' or 'r'."""

    drive: str
    frame: int
    side: str = 'l'

    @property
    def date(self) -> str:
        """Return the recording day folder, 'YYYY_MM_DD'."""
        return self.drive.split('/')[0]

    @property
    def drive_name(self) -> str:
        """Return the drive folder name, 'YYYY_MM_DD_drive_XXXX_sync'."""
        return self.drive.split('/')[-1]

    @property
    def camera(self) -> int:
        """Return 2 for the left colour camera, 3 for the right."""
        return _SIDES[self.side]


def _parse_split_line(fields: Sequence[str], where: str) -> KittiFrame:
    match = _IMAGE_PATH.search(fields[0].lstrip('/'))
    if match:
        side = 'l' if match['cam'] == '2' else 'r'
        return KittiFrame(f'{match["date"]}/{match["drive"]}', int(match['frame']), side)
    if len(fields) < 2 or not fields[1].isdigit():
        raise DataFormatError(f'{where}: expected "date/drive_sync frame [l|r]" or an image path')
    side = fields[2] if len(fields) > 2 else 'l'
    if side not in _SIDES or '/' not in fields[0]:
        raise DataFormatError(f'{where}: bad drive {fields[0]!r} or side {side!r}')
    return KittiFrame(fields[0].strip('/'), int(fields[1]), side)


def read_split_file(path: PathLike) -> List[KittiFrame]:
    """Read a split file (monodepth2 or BTS form, see the module docstring)."""
    frames = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        fields = line.split('#', 1)[0].split()
        if fields:
            frames.append(_parse_split_line(fields, f'{path}:{number}'))
    return frames


def eigen_test_frames() -> List[KittiFrame]:
    """Return the 697 frames of the Eigen test split (shipped list, monodepth2 order)."""
    path = resources.files('ros2_depth_trainer.data').joinpath(
        'splits', 'kitti_eigen_test_files.txt')
    with resources.as_file(path) as file:
        frames = read_split_file(file)
    if len(frames) != 697:
        raise DataFormatError('the shipped Eigen test split is damaged')
    return frames


def scan_drives(root: PathLike, side: str = 'l') -> List[KittiFrame]:
    """List every frame under ``root`` that has an image and a Velodyne scan."""
    root, camera = Path(root), _SIDES[side]
    frames = []
    for image in sorted(root.glob(f'*/*_sync/image_0{camera}/data/*.png')):
        drive_dir = image.parents[2]
        if (drive_dir / 'velodyne_points' / 'data' / (image.stem + '.bin')).is_file():
            frames.append(KittiFrame(f'{drive_dir.parent.name}/{drive_dir.name}',
                                     int(image.stem), side))
    return frames


class KittiDataset(Dataset):
    """
    KITTI raw frames with depth from the Velodyne scan or from the depth-annotated PNGs.

    ``split`` is 'eigen_test' (shipped), a split file, or None (every frame under ``root``);
    ``frames`` overrides it. ``depth`` is 'velodyne' (sparse projection, ``matlab_offset`` and
    ``depth_value`` as in ``project_points``) or 'annotated' (needs ``annotated_root``).
    ``missing_depth`` decides what a frame without ground truth does: 'error' (at
    construction), 'skip' (dropped) or 'empty' (all-invalid depth). ``augment`` names a preset
    ('kitti_eigen14'), random when
    ``train_augment``, else centre crop; ``transform`` replaces it.
    """

    def __init__(self, root: PathLike, split: Optional[PathLike] = 'eigen_test',
                 frames: Optional[Sequence[KittiFrame]] = None, depth: str = 'velodyne',
                 annotated_root: Optional[PathLike] = None, missing_depth: str = 'error',
                 matlab_offset: bool = False, augment: Optional[str] = None,
                 train_augment: bool = False, seed: int = 0,
                 transform: Optional[Transform] = None, depth_value: str = 'camera') -> None:
        """Resolve every frame's files and check they exist."""
        self.root = Path(root)
        if depth not in ('velodyne', 'annotated'):
            raise DataFormatError(f"depth must be 'velodyne' or 'annotated', got {depth!r}")
        if depth_value not in DEPTH_VALUES:
            raise DataFormatError(f'depth_value must be one of {DEPTH_VALUES}, '
                                  f'got {depth_value!r}')
        self.depth_value = depth_value
        if depth == 'annotated' and annotated_root is None:
            raise DataFormatError("depth='annotated' needs annotated_root")
        if missing_depth not in ('error', 'skip', 'empty'):
            raise DataFormatError(f'missing_depth must be error, skip or empty, '
                                  f'got {missing_depth!r}')
        self.depth_source = depth
        self.annotated_root = None if annotated_root is None else Path(annotated_root)
        self.matlab_offset = matlab_offset
        if frames is None:
            frames = (eigen_test_frames() if split == 'eigen_test'
                      else scan_drives(self.root) if split is None else read_split_file(split))
        self.frames: List[KittiFrame] = []
        self.depth_paths: List[Optional[Path]] = []
        missing = []
        for frame in frames:
            self._image_path(frame)  # raises if the image is missing
            path = self._depth_path(frame)
            if path is None and missing_depth != 'empty':
                missing.append(frame)
                if missing_depth == 'skip':
                    continue
            self.frames.append(frame)
            self.depth_paths.append(path)
        if missing and missing_depth == 'error':
            raise DataFormatError(f'{len(missing)} frame(s) have no {depth} depth, first '
                                  f'{missing[0]}; use missing_depth=skip or empty')
        if missing:
            LOGGER.info('KITTI: skipped %d frame(s) without %s depth', len(missing), depth)
        self._calibration: Dict[str, KittiCalibration] = {}
        self.transform = (transform if transform is not None or augment is None
                          else make_transform(augment, train=train_augment, seed=seed))
        LOGGER.info('KITTI: %d frames, %s depth, from %s', len(self.frames), depth, self.root)

    def _image_path(self, frame: KittiFrame) -> Path:
        folder = self.root / frame.drive / f'image_0{frame.camera}' / 'data'
        for ext in ('.png', '.jpg'):
            path = folder / f'{frame.frame:010d}{ext}'
            if path.is_file():
                return path
        raise DataFormatError(f'no image for {frame} in {folder}')

    def _depth_path(self, frame: KittiFrame) -> Optional[Path]:
        if self.depth_source == 'velodyne':
            path = self.root / frame.drive / 'velodyne_points' / 'data' / f'{frame.frame:010d}.bin'
            return path if path.is_file() else None
        relative = (Path(frame.drive_name) / 'proj_depth' / 'groundtruth'
                    / f'image_0{frame.camera}' / f'{frame.frame:010d}.png')
        for subset in ('', 'train', 'val'):
            path = self.annotated_root / subset / relative
            if path.is_file():
                return path
        return None

    def calibration(self, date: str) -> KittiCalibration:
        """Return (and cache) the calibration of recording day ``date``."""
        if date not in self._calibration:
            self._calibration[date] = KittiCalibration.load(self.root / date)
        return self._calibration[date]

    def __len__(self) -> int:
        """Return the number of frames."""
        return len(self.frames)

    def __getitem__(self, item: int) -> Sample:
        """Return frame ``item`` as a sample with sparse depth in the camera's rectified frame."""
        frame, depth_path = self.frames[item], self.depth_paths[item]
        image = read_rgb(self._image_path(frame))
        calibration = self.calibration(frame.date)
        shape = image.shape[:2]
        if depth_path is None:
            depth = np.zeros(shape, np.float32)
        elif self.depth_source == 'velodyne':
            depth = project_points(read_velodyne(depth_path)[:, :3],
                                   calibration.velo_to_image(frame.camera), shape,
                                   self.matlab_offset, self.depth_value)
        else:
            depth = read_annotated_depth(depth_path)
            if depth.shape != shape:
                raise DataFormatError(f'{depth_path}: size {depth.shape} differs from the image')
        sample = make_sample(image, calibration.intrinsics(frame.camera), depth=depth)
        return self.transform(sample) if self.transform is not None else sample
