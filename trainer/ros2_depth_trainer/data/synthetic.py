"""
Generated (procedural) RGB-D folders written by ``ros2-depth-train synth``, read via index.json.

Each sample carries the image, the depth as the sample's depth sensor reports it (exact for
the ideal family and generator 1.0 folders, quantised or noisy for structured-light and ToF
samples of generator 2.0; holes as 0), exact normals in the camera optical frame, exact labels
in the shared class list
(``ros2_depth_trainer.synth.classes.CLASS_NAMES``) and its own intrinsics. Several folders (an
indoor and a street one, say) can be read as one dataset.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from ros2_depth_trainer.data.augment import make_sample, make_transform, Sample
from ros2_depth_trainer.data.files import (
    DataFormatError, read_depth_png, read_rgb, read_uint_png)
from ros2_depth_trainer.synth.classes import CLASS_NAMES
from torch.utils.data import Dataset

LOGGER = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]
Transform = Callable[[Sample], Sample]
INDEX_FILE = 'index.json'
MM_PER_METRE = 1000.0  # depth_mm PNGs hold uint16 millimetres, 0 = no depth


class SyntheticFormatError(DataFormatError):
    """A generated folder is missing its index or files, or was written differently."""


def read_index(folder: PathLike) -> Dict[str, Any]:
    """Read and check a generated folder's index.json."""
    path = Path(folder) / INDEX_FILE
    if not path.is_file():
        raise SyntheticFormatError(f'{path} does not exist: not a folder written by '
                                   '`ros2-depth-train synth`')
    with open(path) as f:
        index = json.load(f)
    if list(index.get('class_names', [])) != list(CLASS_NAMES):
        raise SyntheticFormatError(f'{path}: its class list differs from that of this version, '
                                   f'{list(CLASS_NAMES)}')
    if not isinstance(index.get('samples'), list):
        raise SyntheticFormatError(f'{path}: no sample list')
    return index


class SyntheticDataset(Dataset):
    """
    Samples of one or more generated folders, in folder order then index order.

    ``depth_source`` 'npy' reads the float32 metres (exact), 'png' the uint16 millimetres (as
    a Kinect file, rounded to 1 mm). ``augment`` names a preset of ``data.augment.PRESETS``:
    random when ``train`` is true, centre crop otherwise; ``transform`` replaces it. Samples
    follow the convention of ``ros2_depth_trainer.data``.
    """

    def __init__(self, roots: Union[PathLike, Sequence[PathLike]], depth_source: str = 'npy',
                 augment: Optional[str] = None, train: bool = True, seed: int = 0,
                 transform: Optional[Transform] = None, normals: bool = True,
                 labels: bool = True) -> None:
        """Read the index of every folder; files are opened per item."""
        if isinstance(roots, (str, os.PathLike)):
            roots = [roots]
        if depth_source not in ('npy', 'png'):
            raise SyntheticFormatError(f"depth_source must be 'npy' or 'png', got "
                                       f'{depth_source!r}')
        self.depth_source = depth_source
        self.with_normals = normals
        self.with_labels = labels
        self.items: List[Tuple[Path, Dict[str, Any]]] = []
        for root in roots:
            root = Path(root)
            index = read_index(root)
            self.items.extend((root, entry) for entry in index['samples'])
            LOGGER.info('synthetic %s: %d %s samples (%dx%d)', root, len(index['samples']),
                        index.get('kind'), index.get('height'), index.get('width'))
        if transform is None and augment is not None:
            transform = make_transform(augment, train=train, seed=seed)
        self.transform = transform

    def __len__(self) -> int:
        """Return the number of samples."""
        return len(self.items)

    def read(self, item: int) -> Dict[str, Any]:
        """Return sample ``item`` as numpy arrays (image RGB uint8, depth NaN = invalid, ...)."""
        root, entry = self.items[item]
        try:
            return self._read_files(root, entry)
        except DataFormatError as exc:  # an unreadable file: name the folder's format
            raise SyntheticFormatError(str(exc)) from None

    def _read_files(self, root: Path, entry: Dict[str, Any]) -> Dict[str, Any]:
        files = entry['files']
        image = read_rgb(root / files['rgb'])
        if self.depth_source == 'npy':
            depth = np.load(root / files['depth'])
        else:
            depth = read_depth_png(root / files['depth_mm'], MM_PER_METRE)
            depth[depth == 0] = np.nan
        k = entry['intrinsics']
        out: Dict[str, Any] = {'image': image, 'depth': depth,
                               'intrinsics': (k['fx'], k['fy'], k['cx'], k['cy'])}
        if self.with_normals:
            out['normals'] = np.load(root / files['normals'])
        if self.with_labels:
            out['labels'] = read_uint_png(root / files['labels'])
        return out

    def __getitem__(self, item: int) -> Sample:
        """Return sample ``item`` as a dict of tensors, transformed if a transform is set."""
        arrays = self.read(item)
        sample = make_sample(arrays['image'], arrays['intrinsics'], depth=arrays['depth'],
                             labels=arrays.get('labels'), normals=arrays.get('normals'))
        return self.transform(sample) if self.transform is not None else sample
