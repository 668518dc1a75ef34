"""
RGB-D frames listed in a file: a colour image, a registered 16-bit depth PNG, its scale, and K.

Two list formats, paths relative to the list file's folder:

* JSON (``.json``): a list of objects ``{"rgb": PATH, "depth": PATH, "depth_scale": UNITS_PER_M,
  "K": [fx, fy, cx, cy]}`` (the layout of ``shared/data/real_rgbd/frames.json``);
* text (any other suffix): one frame per line, ``RGB DEPTH DEPTH_SCALE FX FY CX CY``, separated by
  white space; empty lines and lines starting with ``#`` are skipped.

Depth PNG values divided by ``depth_scale`` are metres (1000 for millimetres, 5000 for TUM RGB-D);
0 means no depth. Samples follow the trainer's sample-dict convention (``augment.make_sample``):
``image``, ``depth`` (0 = invalid) and ``intrinsics``; there are no normals or labels.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import numpy as np
from ros2_depth_trainer.data.augment import make_sample, Sample
from ros2_depth_trainer.data.files import DataFormatError, read_depth_png, read_rgb
from torch.utils.data import Dataset


class RGBDListError(ValueError):
    """A frame list cannot be read or names a frame that cannot be used."""


def _frame(entry: Any, base: Path, where: str) -> Dict[str, Any]:
    """Check one list entry and return {'rgb', 'depth', 'depth_scale', 'intrinsics'}."""
    if not isinstance(entry, dict):
        raise RGBDListError(f'{where}: expected an object with rgb, depth, depth_scale and K')
    missing = [key for key in ('rgb', 'depth', 'depth_scale', 'K') if key not in entry]
    if missing:
        raise RGBDListError(f'{where}: missing {", ".join(missing)}')
    try:
        scale = float(entry['depth_scale'])
        intrinsics = tuple(float(v) for v in entry['K'])
    except (TypeError, ValueError):
        raise RGBDListError(f'{where}: depth_scale and K must be numbers') from None
    if len(intrinsics) != 4:
        raise RGBDListError(f'{where}: K must be the 4 numbers fx, fy, cx, cy')
    if not (scale > 0 and intrinsics[0] > 0 and intrinsics[1] > 0):
        raise RGBDListError(f'{where}: depth_scale, fx and fy must be positive')
    return {'rgb': base / str(entry['rgb']), 'depth': base / str(entry['depth']),
            'depth_scale': scale, 'intrinsics': intrinsics}


def read_frame_list(path: Union[str, Path]) -> List[Dict[str, Any]]:
    """Parse a JSON or text frame list; raise RGBDListError naming the bad line or entry."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise RGBDListError(f'cannot read the frame list {path}: {exc.strerror}') from None
    base = path.parent
    if path.suffix == '.json':
        try:
            entries = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RGBDListError(f'{path}: not valid JSON ({exc})') from None
        if not isinstance(entries, list):
            raise RGBDListError(f'{path}: expected a JSON list of frames')
        frames = [_frame(e, base, f'{path}: frame {i}') for i, e in enumerate(entries)]
    else:
        frames = []
        for number, line in enumerate(text.splitlines(), start=1):
            fields = line.split()
            if not fields or fields[0].startswith('#'):
                continue
            where = f'{path}:{number}'
            if len(fields) != 7:
                raise RGBDListError(f'{where}: expected RGB DEPTH DEPTH_SCALE FX FY CX CY, got '
                                    f'{len(fields)} fields')
            frames.append(_frame({'rgb': fields[0], 'depth': fields[1],
                                  'depth_scale': fields[2], 'K': fields[3:]}, base, where))
    if not frames:
        raise RGBDListError(f'{path}: the list has no frames')
    return frames


class RGBDListDataset(Dataset):
    """The frames of one or more list files, as sample dicts at their native size."""

    def __init__(self, lists: Union[str, Path, Sequence[Union[str, Path]]],
                 transform: Optional[Callable[[Sample], Sample]] = None,
                 max_depth: Optional[float] = None) -> None:
        """Read the lists; ``max_depth`` (metres) marks farther depth invalid."""
        if isinstance(lists, (str, Path)):
            lists = [lists]
        self.frames = [frame for path in lists for frame in read_frame_list(path)]
        self.transform = transform
        self.max_depth = max_depth

    def __len__(self) -> int:
        """Return the number of frames."""
        return len(self.frames)

    def read(self, item: int) -> Dict[str, Any]:
        """Return frame ``item`` as arrays: image RGB uint8, depth float32 metres (NaN = none)."""
        frame = self.frames[item]
        try:
            image = read_rgb(frame['rgb'])
            depth = read_depth_png(frame['depth'], frame['depth_scale'])
        except DataFormatError as exc:
            raise RGBDListError(str(exc)) from None
        if depth.shape != image.shape[:2]:
            raise RGBDListError(f'{frame["depth"]}: depth is {depth.shape[1]}x{depth.shape[0]} '
                                f'but {frame["rgb"].name} is {image.shape[1]}x{image.shape[0]}; '
                                'the depth must be registered to the colour image')
        depth = depth.astype(np.float32)
        invalid = ~(depth > 0)
        if self.max_depth is not None:
            invalid |= depth > self.max_depth
        depth[invalid] = np.nan
        return {'image': image, 'depth': depth, 'intrinsics': frame['intrinsics']}

    def __getitem__(self, item: int) -> Sample:
        """Return frame ``item`` as a dict of tensors, transformed if a transform is set."""
        arrays = self.read(item)
        sample = make_sample(arrays['image'], arrays['intrinsics'], depth=arrays['depth'])
        return self.transform(sample) if self.transform is not None else sample
