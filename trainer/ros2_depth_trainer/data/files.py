"""
File readers shared by the dataset loaders (NYU, KITTI, generated scenes), and their error.

Each reader names the file and what is wrong with it in a ``DataFormatError`` (a ValueError),
which the training and evaluation commands report as one line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Dict, Union

import cv2
import numpy as np

PathLike = Union[str, os.PathLike]
Transform = Callable[[Dict[str, Any]], Dict[str, Any]]  # a sample dict in, a sample dict out


class DataFormatError(ValueError):
    """A dataset file is missing, unreadable or not laid out as expected."""


def read_table(path: Union[PathLike, Any]) -> np.ndarray:
    """Read integers separated by whitespace or commas; ``#`` starts a comment."""
    text = path.read_text() if hasattr(path, 'read_text') else Path(path).read_text()
    values = []
    for line in text.splitlines():
        values.extend(int(v) for v in line.split('#', 1)[0].replace(',', ' ').split())
    return np.asarray(values, dtype=np.int64)


def read_rgb(path: PathLike) -> np.ndarray:
    """Read an 8-bit colour image file as (H, W, 3) uint8 RGB."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DataFormatError(f'cannot read image {path}')
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_uint_png(path: PathLike, dtypes: tuple = (np.uint8, np.uint16)) -> np.ndarray:
    """Read a single-channel integer PNG unchanged; raise unless it is one of ``dtypes``."""
    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if data is None:
        raise DataFormatError(f'cannot read image {path}')
    if data.ndim != 2 or data.dtype not in dtypes:
        names = ' or '.join(np.dtype(d).name for d in dtypes)
        raise DataFormatError(f'{path}: expected a single-channel {names} PNG, got '
                              f'{data.dtype} {data.shape}')
    return data


def read_depth_png(path: PathLike, units_per_metre: float) -> np.ndarray:
    """Read a uint16 depth PNG as float32 metres (value / units_per_metre; 0 stays 0 = invalid)."""
    depth = read_uint_png(path, (np.uint16,))
    return depth.astype(np.float32) / np.float32(units_per_metre)
