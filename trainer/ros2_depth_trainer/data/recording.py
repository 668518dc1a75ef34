"""
A user's RGB-D recording as training and evaluation data: one frame type for every source.

A recording (a rosbag2, a TUM RGB-D folder, an Open3D/Redwood folder, ...) is read by its source
module into a time-ordered list of ``RecordedFrame``: a stamp, a name for messages, and a loader
that decodes the frame only when it is used (a 2,500-frame recording does not fit in memory
decoded). ``load`` returns the colour image, the depth registered into the colour camera (metres,
NaN where there is none) and the colour camera's intrinsics: everything a sample needs.

``RecordingDataset`` turns such a list into the trainer's sample dicts (``augment.make_sample``),
masking depth outside a range. A decode error raises ``RecordingError`` with one line that names
the file or message and what is wrong.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional, Sequence, Tuple

import numpy as np
from ros2_depth_trainer.data.augment import make_sample, Sample
from torch.utils.data import Dataset

# rgb (H, W, 3) uint8; depth (H, W) float32 metres, NaN or <= 0 where unknown, on the rgb grid;
# intrinsics (fx, fy, cx, cy) of the rgb image.
FrameArrays = Tuple[np.ndarray, np.ndarray, Tuple[float, float, float, float]]


class RecordingError(ValueError):
    """A recording, or one of its frames, cannot be used; the message names it and says why."""


@dataclasses.dataclass(frozen=True)
class RecordedFrame:
    """One colour frame of a recording with its registered depth, decoded on demand."""

    stamp: float  # seconds, on the recording's clock
    name: str  # for messages: a file path, or "bag.mcap: /camera/color/image_raw @ 12.345 s"
    load: Callable[[], FrameArrays]

    def arrays(self) -> FrameArrays:
        """Decode the frame; raise RecordingError naming it when its data is unusable."""
        try:
            rgb, depth, intrinsics = self.load()
        except RecordingError:
            raise
        except (OSError, ValueError) as exc:
            raise RecordingError(f'{self.name}: {exc}') from None
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise RecordingError(f'{self.name}: colour must be (H, W, 3) uint8, got '
                                 f'{rgb.shape} {rgb.dtype}')
        if depth.shape != rgb.shape[:2]:
            raise RecordingError(f'{self.name}: depth is {depth.shape[1]}x{depth.shape[0]} but '
                                 f'colour is {rgb.shape[1]}x{rgb.shape[0]}; the depth must be '
                                 'registered into the colour camera')
        if len(intrinsics) != 4 or not (intrinsics[0] > 0 and intrinsics[1] > 0):
            raise RecordingError(f'{self.name}: intrinsics must be fx, fy, cx, cy with positive '
                                 f'focal lengths, got {tuple(intrinsics)}')
        return rgb, depth, tuple(float(v) for v in intrinsics)


def mask_depth(depth: np.ndarray, min_depth: float = 0.0,
               max_depth: Optional[float] = None) -> np.ndarray:
    """Return depth as float32 with NaN where it is 0, NaN, or outside (min_depth, max_depth]."""
    depth = np.array(depth, dtype=np.float32, copy=True)
    with np.errstate(invalid='ignore'):
        invalid = ~(depth > min_depth)
        if max_depth is not None:
            invalid |= depth > max_depth
    depth[invalid] = np.nan
    return depth


class RecordingDataset(Dataset):
    """The frames of recordings as sample dicts at their native size."""

    def __init__(self, frames: Sequence[RecordedFrame],
                 transform: Optional[Callable[[Sample], Sample]] = None,
                 min_depth: float = 0.0, max_depth: Optional[float] = None) -> None:
        """Bind frames; depth outside (``min_depth``, ``max_depth``] metres is invalid."""
        if not frames:
            raise RecordingError('the recording has no usable frames')
        self.frames = list(frames)
        self.transform = transform
        self.min_depth = min_depth
        self.max_depth = max_depth

    def __len__(self) -> int:
        """Return the number of frames."""
        return len(self.frames)

    def read(self, item: int) -> dict:
        """Return frame ``item`` as arrays: image, depth (metres, NaN = none), intrinsics."""
        rgb, depth, intrinsics = self.frames[item].arrays()
        return {'image': rgb, 'depth': mask_depth(depth, self.min_depth, self.max_depth),
                'intrinsics': intrinsics}

    def __getitem__(self, item: int) -> Sample:
        """Return frame ``item`` as a dict of tensors, transformed if a transform is set."""
        arrays = self.read(item)
        sample = make_sample(arrays['image'], arrays['intrinsics'], depth=arrays['depth'])
        return self.transform(sample) if self.transform is not None else sample
