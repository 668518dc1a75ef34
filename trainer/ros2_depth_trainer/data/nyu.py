"""
NYU Depth v2: the labeled set (``nyu_depth_v2_labeled.mat``) and raw-scene frame folders.

The labeled set is a MATLAB v7.3 file, i.e. HDF5. MATLAB writes arrays column-major, so h5py
sees every array with its axes reversed: MATLAB's ``images`` (H x W x 3 x N, uint8 RGB) is
(N, 3, W, H) in HDF5, ``depths`` and ``rawDepths`` (H x W x N, metres) are (N, W, H) and
``labels`` (H x W x N, uint16, 0 = unlabelled, 1..894) is (N, W, H). Image n is therefore
``images[n].transpose(2, 1, 0)`` as (H, W, 3).

The official split (``splits.mat`` from the NYU site: ``trainNdxs``, 795, and ``testNdxs``, 654,
1-based) is read from the user's file when given (MATLAB v5/v7 or v7.3), else the 654 test
indices shipped in ``splits/nyu_test_indices.txt`` are used and the other 795 images train.

Raw-scene folders are read in the layout of the BTS / DenseDepth "sync" export: ``scene/
rgb_XXXXX.jpg`` with ``scene/sync_depth_XXXXX.png`` (uint16 millimetres, 0 = no depth), listed
in a text file of ``scene/rgb_XXXXX.jpg scene/sync_depth_XXXXX.png focal`` lines.

Neither has surface normals: with ``normals=True`` both loaders estimate them from each
sample's depth and intrinsics by local plane fits (``data.normals.normals_from_depth``,
window ``normals_window`` pixels), before the transform, so augmentation warps them with the
depth.
"""

from __future__ import annotations

import dataclasses
from importlib import resources
import logging
import os
from pathlib import Path
import struct
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union
import zlib

import h5py
import numpy as np
from ros2_depth.camera_model import PinholeCamera
from ros2_depth_trainer.data.augment import make_sample, make_transform, Sample
from ros2_depth_trainer.data.files import (
    DataFormatError, PathLike, read_depth_png, read_rgb, read_table, Transform)
from ros2_depth_trainer.data.normals import normals_from_depth, NORMALS_WINDOW
from torch.utils.data import Dataset

LOGGER = logging.getLogger(__name__)

NYU_SIZE = (480, 640)  # (height, width) of every NYU Depth v2 image
# RGB camera intrinsics at 640x480 (fx, fy, cx, cy), pixel centres at integer coordinates.
NYU_INTRINSICS = (518.858, 519.470, 325.582, 253.736)
NUM_LABELED = 1449
NUM_RAW_CLASSES = 894
LABEL_CLASSES = (894, 40, 13)  # tables shipped; 4 classes need a user table (label_map=)


def _package_file(name: str) -> Any:
    return resources.files('ros2_depth_trainer.data').joinpath('splits', name)


def official_test_indices() -> np.ndarray:
    """Return the 654 test indices of the labeled set, 0-based and sorted (shipped list)."""
    indices = read_table(_package_file('nyu_test_indices.txt')) - 1
    if indices.size != 654 or np.unique(indices).size != 654:
        raise DataFormatError('the shipped NYU test index list is damaged')
    return np.sort(indices)


def official_splits(num_images: int = NUM_LABELED) -> Tuple[np.ndarray, np.ndarray]:
    """Return (train, test) 0-based indices of the official split, from the shipped list."""
    if num_images != NUM_LABELED:
        raise DataFormatError(f'the official split is for {NUM_LABELED} images, the file has '
                              f'{num_images}; pass splits_file= or indices=')
    test = official_test_indices()
    return np.setdiff1d(np.arange(num_images), test), test


# MATLAB level-5 MAT-file format (MATLAB "MAT-File Format" reference): data element types.
_MI_DTYPES = {1: 'i1', 2: 'u1', 3: 'i2', 4: 'u2', 5: 'i4', 6: 'u4', 7: 'f4', 9: 'f8',
              12: 'i8', 13: 'u8'}
_MI_MATRIX, _MI_COMPRESSED = 14, 15
# mxArray classes 6..15 (double, single, int8 ... uint64) and their numpy types.
_MX_DTYPES = {6: 'f8', 7: 'f4', 8: 'i1', 9: 'u1', 10: 'i2', 11: 'u2', 12: 'i4', 13: 'u4',
              14: 'i8', 15: 'u8'}


def _read_element(buf: bytes, pos: int, order: str) -> Tuple[int, bytes, int]:
    if pos + 8 > len(buf):
        raise DataFormatError('MAT-file ends inside a data element tag')
    mtype, nbytes = struct.unpack_from(order + 'II', buf, pos)
    if mtype >> 16:  # small data element: size and type share the first 4 bytes
        size = mtype >> 16
        return mtype & 0xFFFF, buf[pos + 4:pos + 4 + size], pos + 8
    start, end = pos + 8, pos + 8 + nbytes
    if end > len(buf):
        raise DataFormatError('MAT-file ends inside a data element')
    following = end if mtype == _MI_COMPRESSED else start + (nbytes + 7) // 8 * 8
    return mtype, buf[start:end], following


def _read_matrix(body: bytes, order: str) -> Optional[Tuple[str, np.ndarray]]:
    _, flags, pos = _read_element(body, 0, order)
    mx_class = struct.unpack_from(order + 'I', flags)[0] & 0xFF
    dims_type, dims, pos = _read_element(body, pos, order)
    _, name, pos = _read_element(body, pos, order)
    if mx_class not in _MX_DTYPES:
        return None  # cells, structs, chars and sparse arrays are not needed here
    shape = tuple(int(d) for d in np.frombuffer(dims, order + _MI_DTYPES[dims_type]))
    real_type, real, _ = _read_element(body, pos, order)
    if real_type not in _MI_DTYPES:
        raise DataFormatError(f'unsupported MAT data type {real_type}')
    values = np.frombuffer(real, order + _MI_DTYPES[real_type]).astype(_MX_DTYPES[mx_class])
    return name.decode('latin-1'), values.reshape(shape, order='F')


def read_mat_v5(path: PathLike) -> Dict[str, np.ndarray]:
    """Read the numeric arrays of a MATLAB v5/v7 MAT-file (compressed or not) by name."""
    buf = Path(path).read_bytes()
    if len(buf) < 128 or buf[126:128] not in (b'IM', b'MI'):
        raise DataFormatError(f'{path}: not a MATLAB v5/v7 MAT-file')
    order = '<' if buf[126:128] == b'IM' else '>'
    arrays: Dict[str, np.ndarray] = {}
    pos = 128
    while pos + 8 <= len(buf):
        mtype, body, pos = _read_element(buf, pos, order)
        if mtype == _MI_COMPRESSED:
            mtype, body, _ = _read_element(zlib.decompress(body), 0, order)
        if mtype == _MI_MATRIX:
            parsed = _read_matrix(body, order)
            if parsed is not None:
                arrays[parsed[0]] = parsed[1]
    return arrays


def _is_hdf5(path: PathLike) -> bool:
    with open(path, 'rb') as f:
        head = f.read(520)
    signature = b'\x89HDF\r\n\x1a\n'
    return head[:8] == signature or head[512:520] == signature  # v7.3: 512-byte user block


def load_splits_mat(path: PathLike) -> Tuple[np.ndarray, np.ndarray]:
    """Read ``trainNdxs`` and ``testNdxs`` (1-based) of a ``splits.mat``; return 0-based arrays."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f'split file {path} does not exist')
    if _is_hdf5(path):
        with h5py.File(path, 'r') as f:
            arrays = {k: np.asarray(f[k]) for k in ('trainNdxs', 'testNdxs') if k in f}
    else:
        arrays = read_mat_v5(path)
    try:
        train, test = (np.asarray(arrays[k]).ravel().astype(np.int64) - 1
                       for k in ('trainNdxs', 'testNdxs'))
    except KeyError:
        raise DataFormatError(f'{path}: needs trainNdxs and testNdxs') from None
    if np.intersect1d(train, test).size or min(train.min(), test.min()) < 0:
        raise DataFormatError(f'{path}: train and test indices overlap or are not 1-based')
    return np.sort(train), np.sort(test)


def label_mapping(num_classes: int,
                  label_map: Union[None, PathLike, Sequence[int]] = None) -> Optional[np.ndarray]:
    """
    Return a lookup table from the labeled set's 0..894 ids to ``num_classes`` ids (0 stays 0).

    894 returns None (no mapping). 40 and 13 use the shipped tables (Gupta et al. 2013; Couprie
    et al. 2013). ``label_map`` (a file or a sequence) gives the class of each id 1..K of the
    level below instead: of the 894 ids, or of the 40 classes when it has 40 entries (for the
    4-class task of Silberman et al. 2012, whose table is not shipped).
    """
    to_40 = np.concatenate([[0], read_table(_package_file('nyu_class_map_894_to_40.txt'))])
    if label_map is not None:
        table = np.asarray(read_table(label_map) if isinstance(label_map, (str, os.PathLike))
                           else label_map, dtype=np.int64)
        if table.size not in (40, NUM_RAW_CLASSES):
            raise DataFormatError(f'label_map needs 40 or {NUM_RAW_CLASSES} entries, '
                                  f'got {table.size}')
        lookup = np.concatenate([[0], table])
        return lookup[to_40] if table.size == 40 else lookup
    if num_classes == NUM_RAW_CLASSES:
        return None
    if num_classes == 40:
        return to_40
    if num_classes == 13:
        to_13 = np.concatenate([[0], read_table(_package_file('nyu_class_map_40_to_13.txt'))])
        return to_13[to_40]
    raise DataFormatError(f'no shipped table for {num_classes} classes (have '
                          f'{LABEL_CLASSES}); pass label_map=')


def scaled_intrinsics(size: Tuple[int, int]) -> Tuple[float, float, float, float]:
    """Return the NYU intrinsics for an image of ``size`` (height, width) resized from 480x640."""
    (h, w), (h0, w0) = size, NYU_SIZE
    fx, fy, cx, cy = NYU_INTRINSICS
    sx, sy = w / w0, h / h0
    return fx * sx, fy * sy, (cx + 0.5) * sx - 0.5, (cy + 0.5) * sy - 0.5


def estimate_normals(depth: np.ndarray, intrinsics: Sequence[float],
                     window: int = NORMALS_WINDOW) -> np.ndarray:
    """Return (H, W, 3) normals estimated from (H, W) depth seen with fx, fy, cx, cy; 0 = none."""
    fx, fy, cx, cy = intrinsics
    camera = PinholeCamera(depth.shape[1], depth.shape[0], fx, fy, cx, cy)
    return normals_from_depth(depth, camera, window=window)


def _default_transform(augment: Optional[str], train: bool, seed: int,
                       transform: Optional[Transform]) -> Optional[Transform]:
    if transform is not None or augment is None:
        return transform
    return make_transform(augment, train=train, seed=seed)


class NyuLabeledDataset(Dataset):
    """
    The 1449 images of ``nyu_depth_v2_labeled.mat`` with depth and labels.

    ``split`` is 'train' (795), 'test' (654) or 'all'; ``splits_file`` is the user's
    ``splits.mat`` (else the shipped list); ``indices`` (0-based) overrides both.
    ``depth_key`` 'depths' is the in-painted depth, 'rawDepths' the raw Kinect depth (0 = none).
    ``num_classes`` 894, 40 or 13 picks the label set (None: no labels). ``augment`` names a
    preset of ``augment.PRESETS`` ('nyu_eigen14'): random for the training split, centre crop
    otherwise (``train_augment`` overrides); ``transform`` replaces it. ``normals`` adds
    ``normals`` estimated from the depth (``estimate_normals``, window ``normals_window``).
    """

    def __init__(self, path: PathLike, split: str = 'train',
                 splits_file: Optional[PathLike] = None,
                 indices: Optional[Sequence[int]] = None, depth_key: str = 'depths',
                 num_classes: Optional[int] = 40,
                 label_map: Union[None, PathLike, Sequence[int]] = None,
                 augment: Optional[str] = None, train_augment: Optional[bool] = None,
                 seed: int = 0, transform: Optional[Transform] = None, normals: bool = False,
                 normals_window: int = NORMALS_WINDOW) -> None:
        """Check the file's layout and choose the images; the file is opened per process."""
        self.path = Path(path)
        if not self.path.is_file():
            raise DataFormatError(f'NYU labeled file {self.path} does not exist')
        if depth_key not in ('depths', 'rawDepths'):
            raise DataFormatError(f"depth_key must be 'depths' or 'rawDepths', got {depth_key!r}")
        self.depth_key = depth_key
        with h5py.File(self.path, 'r') as f:
            num_images, self.size = self._check_layout(f, depth_key, num_classes is not None)
        self.indices = self._choose(split, splits_file, indices, num_images)
        self.lookup = None if num_classes is None else label_mapping(num_classes, label_map)
        self.with_labels = num_classes is not None
        self.intrinsics = scaled_intrinsics(self.size)
        self.normals, self.normals_window = normals, normals_window
        train = split == 'train' if train_augment is None else train_augment
        self.transform = _default_transform(augment, train, seed, transform)
        self._file: Optional[h5py.File] = None
        self._pid: Optional[int] = None
        LOGGER.info('NYU labeled %s: %d images from %s', split, len(self.indices), self.path)

    def _check_layout(self, f: h5py.File, depth_key: str,
                      labels: bool) -> Tuple[int, Tuple[int, int]]:
        """Return the image count and (height, width), checking every array's shape."""
        if 'images' not in f or f['images'].ndim != 4 or f['images'].shape[1] != 3:
            raise DataFormatError(f'{self.path}: needs images of shape (N, 3, W, H)')
        n, _, w, h = f['images'].shape
        for key in (depth_key, 'labels') if labels else (depth_key,):
            if key not in f or f[key].shape != (n, w, h):
                raise DataFormatError(f'{self.path}: needs {key} of shape {(n, w, h)}')
        return n, (h, w)

    @staticmethod
    def _choose(split: str, splits_file: Optional[PathLike], indices: Optional[Sequence[int]],
                num_images: int) -> np.ndarray:
        if indices is not None:
            chosen = np.asarray(indices, dtype=np.int64)
        elif split == 'all':
            chosen = np.arange(num_images)
        elif split in ('train', 'test'):
            train, test = (load_splits_mat(splits_file) if splits_file is not None
                           else official_splits(num_images))
            chosen = train if split == 'train' else test
        else:
            raise DataFormatError(f"split must be 'train', 'test' or 'all', got {split!r}")
        if chosen.size and (chosen.min() < 0 or chosen.max() >= num_images):
            raise DataFormatError(f'indices must lie in [0, {num_images}), the file has '
                                  f'{num_images} images')
        return chosen

    def __len__(self) -> int:
        """Return the number of images in the chosen split."""
        return int(self.indices.size)

    def __getstate__(self) -> Dict[str, Any]:
        """Pickle without the open file (DataLoader workers reopen it)."""
        state = self.__dict__.copy()
        state['_file'], state['_pid'] = None, None
        return state

    def _h5(self) -> h5py.File:
        if self._file is None or self._pid != os.getpid():
            self._file, self._pid = h5py.File(self.path, 'r'), os.getpid()
        return self._file

    def read(self, index: int) -> Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
        """Return image (H, W, 3) uint8 RGB, depth (H, W) metres, labels (H, W) of file index."""
        f = self._h5()
        image = np.asarray(f['images'][index]).transpose(2, 1, 0)
        depth = np.asarray(f[self.depth_key][index], dtype=np.float32).T
        labels = np.asarray(f['labels'][index]).T.astype(np.int64) if self.with_labels else None
        if labels is not None and self.lookup is not None:
            if labels.max(initial=0) >= self.lookup.size:
                raise DataFormatError(f'{self.path}: label id {labels.max()} has no mapping')
            labels = self.lookup[labels]
        return image, depth, labels

    def __getitem__(self, item: int) -> Sample:
        """Return sample ``item`` of the split, transformed if a transform is set."""
        image, depth, labels = self.read(int(self.indices[item]))
        normals = (estimate_normals(depth, self.intrinsics, self.normals_window)
                   if self.normals else None)
        sample = make_sample(image, self.intrinsics, depth=depth, labels=labels, normals=normals)
        return self.transform(sample) if self.transform is not None else sample


@dataclasses.dataclass(frozen=True)
class FrameEntry:
    """One line of a frame list: image and depth paths relative to the root, and the focal."""

    image: str
    depth: Optional[str]
    focal: Optional[float]


def read_frame_list(path: PathLike) -> List[FrameEntry]:
    """
    Read a BTS-style list: ``image depth [focal]`` per line, paths relative to the data root.

    Leading slashes are dropped (the BTS lists write ``/scene/rgb_00000.jpg``); a depth of
    ``None`` means no ground truth; blank lines and ``#`` comments are skipped.
    """
    entries = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        fields = line.split('#', 1)[0].split()
        if not fields:
            continue
        if len(fields) < 2:
            raise DataFormatError(f'{path}:{number}: expected "image depth [focal]"')
        depth = None if fields[1] == 'None' else fields[1].lstrip('/')
        focal = float(fields[2]) if len(fields) > 2 else None
        entries.append(FrameEntry(fields[0].lstrip('/'), depth, focal))
    return entries


def scan_frame_folders(root: PathLike) -> List[FrameEntry]:
    """List every ``scene/rgb_XXXXX.jpg`` under ``root`` that has its ``sync_depth_XXXXX.png``."""
    root = Path(root)
    entries = []
    for image in sorted(root.glob('*/rgb_*.jpg')):
        depth = image.with_name('sync_depth_' + image.stem[len('rgb_'):] + '.png')
        if depth.is_file():
            entries.append(FrameEntry(image.relative_to(root).as_posix(),
                                      depth.relative_to(root).as_posix(), None))
    return entries


class NyuFramesDataset(Dataset):
    """
    Raw-scene frames exported as ``scene/rgb_XXXXX.jpg`` + ``scene/sync_depth_XXXXX.png``.

    Depth PNGs hold uint16 millimetres (0 = no depth). ``file_list`` is a BTS-style list
    (``read_frame_list``); without one every pair under ``root`` is used. fx comes from the
    list's focal column when present, the other intrinsics from ``NYU_INTRINSICS`` (scaled if
    the images are not 640x480). ``augment``/``train_augment``/``transform`` and
    ``normals``/``normals_window`` as in ``NyuLabeledDataset``.
    """

    def __init__(self, root: PathLike, file_list: Optional[PathLike] = None,
                 augment: Optional[str] = None, train_augment: bool = True, seed: int = 0,
                 transform: Optional[Transform] = None, normals: bool = False,
                 normals_window: int = NORMALS_WINDOW) -> None:
        """Read the list (or scan the folders) and check that it is not empty."""
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataFormatError(f'NYU frame root {self.root} is not a folder')
        self.entries = (read_frame_list(file_list) if file_list is not None
                        else scan_frame_folders(self.root))
        if not self.entries:
            raise DataFormatError(f'no frames found under {self.root}')
        self.transform = _default_transform(augment, train_augment, seed, transform)
        self.normals, self.normals_window = normals, normals_window
        LOGGER.info('NYU frames: %d from %s', len(self.entries), self.root)

    def __len__(self) -> int:
        """Return the number of frames."""
        return len(self.entries)

    def __getitem__(self, item: int) -> Sample:
        """Return frame ``item`` as a sample (depth all invalid if the list has none)."""
        entry = self.entries[item]
        image = read_rgb(self.root / entry.image)
        if entry.depth is not None:
            depth = read_depth_png(self.root / entry.depth, 1000.0)
            if depth.shape != image.shape[:2]:
                raise DataFormatError(f'{entry.depth}: size {depth.shape} differs from the image')
        else:
            depth = np.zeros(image.shape[:2], np.float32)
        fx, fy, cx, cy = scaled_intrinsics(image.shape[:2])
        if entry.focal is not None:
            fx = entry.focal
        normals = (estimate_normals(depth, (fx, fy, cx, cy), self.normals_window)
                   if self.normals else None)
        sample = make_sample(image, (fx, fy, cx, cy), depth=depth, normals=normals)
        return self.transform(sample) if self.transform is not None else sample
