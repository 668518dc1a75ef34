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

Common to every source: ``subsample`` drops near-duplicate video frames (by time and by the change
of small grey thumbnails), ``split_frames`` splits a recording into training and validation by
contiguous time blocks, never by random frames (neighbouring frames are near copies of each
other, so a random split would leak). The sources themselves are in ``rgbd_folders`` (TUM RGB-D,
7-Scenes, Open3D, frame lists) and ``rosbag_source``; ``recording_sources`` detects the layout.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from ros2_depth_trainer.data.augment import make_sample, Sample
from torch.utils.data import Dataset

# rgb (H, W, 3) uint8; depth (H, W) float32 metres, NaN or <= 0 where unknown, on the rgb grid;
# intrinsics (fx, fy, cx, cy) of the rgb image.
FrameArrays = Tuple[np.ndarray, np.ndarray, Tuple[float, float, float, float]]
STAMP_EPSILON = 1e-9  # seconds: stamp differences equal to a limit, in floating point, reach it


class RecordingError(ValueError):
    """A recording, or one of its frames, cannot be used; the message names it and says why."""


@dataclasses.dataclass(frozen=True)
class RecordedFrame:
    """One colour frame of a recording with its registered depth, decoded on demand."""

    stamp: float  # seconds, on the recording's clock
    name: str  # for messages: a file path, or "bag.mcap: /camera/color/image_raw @ 12.345 s"
    load: Callable[[], FrameArrays]
    # Optional cheap decode of the colour image alone (grey or colour, any size), for comparing
    # frames without decoding depth; None: taken from load().
    load_preview: Optional[Callable[[], np.ndarray]] = None

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

    def thumbnail(self, size: Tuple[int, int] = (32, 24)) -> np.ndarray:
        """Return the colour image as a (height, width) float32 grey picture of ``size`` (w, h)."""
        if self.load_preview is None:
            image = self.arrays()[0]
        else:
            try:
                image = np.asarray(self.load_preview())
            except RecordingError:
                raise
            except (OSError, ValueError) as exc:
                raise RecordingError(f'{self.name}: {exc}') from None
        if image.ndim == 3 and image.shape[2] == 1:
            image = image[..., 0]
        elif image.ndim == 3:
            image = cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2GRAY)
        return cv2.resize(image.astype(np.float32), size, interpolation=cv2.INTER_AREA)


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


def subsample(frames: Sequence[RecordedFrame], min_interval: float = 0.0,
              min_change: float = 0.0) -> List[RecordedFrame]:
    """
    Drop near-duplicate frames of a time-ordered recording.

    The first frame is kept; a later one is kept when at least ``min_interval`` seconds have
    passed since the last kept frame and, with ``min_change`` > 0, its 32x24 grey thumbnail
    differs from that frame's by at least ``min_change`` grey levels (mean absolute difference,
    0-255). Only frames that pass the time test are decoded, and only their colour image.
    """
    if min_interval < 0 or min_change < 0:
        raise RecordingError(f'min_interval and min_change must be >= 0, got {min_interval}, '
                             f'{min_change}')
    kept: List[RecordedFrame] = []
    last_thumbnail: Optional[np.ndarray] = None
    for frame in frames:
        if kept and frame.stamp - kept[-1].stamp < min_interval - STAMP_EPSILON:
            continue
        if min_change > 0:
            thumbnail = frame.thumbnail()
            if kept and float(np.mean(np.abs(thumbnail - last_thumbnail))) < min_change:
                continue
            last_thumbnail = thumbnail
        kept.append(frame)
    return kept


SPLITS = ('train', 'val', 'all')


def _round_half_up(value: float) -> int:
    return int(np.floor(value + 0.5))


def validation_blocks(count: int, val_fraction: float = 0.2, blocks: int = 1) -> np.ndarray:
    """
    Return a bool mask of the ``count`` frames that go to validation: contiguous time blocks.

    The recording is cut into ``blocks`` equal runs of frames; the last ``val_fraction`` of each
    run (rounded half up, at least one frame when the fraction is above 0) is validation. One
    block: the last ``val_fraction`` of the recording.
    """
    if not 0 <= val_fraction < 1:
        raise RecordingError(f'val_fraction must be in [0, 1), got {val_fraction}')
    if int(blocks) != blocks or blocks < 1:
        raise RecordingError(f'val_blocks must be a positive integer, got {blocks}')
    mask = np.zeros(count, dtype=bool)
    if val_fraction == 0:
        return mask
    bounds = [_round_half_up(k * count / blocks) for k in range(int(blocks) + 1)]
    for start, end in zip(bounds[:-1], bounds[1:]):
        if end > start:
            mask[end - max(1, _round_half_up(val_fraction * (end - start))):end] = True
    return mask


def split_frames(frames: Sequence[RecordedFrame], split: str, val_fraction: float = 0.2,
                 blocks: int = 1, gap: float = 1.0) -> List[RecordedFrame]:
    """
    Return the ``split`` ('train', 'val' or 'all') of a time-ordered recording.

    Validation is ``validation_blocks`` of the frames in time order; training is the rest, less
    the frames closer than ``gap`` seconds to a validation frame, so that no training frame is a
    near copy of one that is scored. Split before subsampling: the validation block then does not
    move when the subsampling changes.
    """
    if split not in SPLITS:
        raise RecordingError(f'split must be one of {SPLITS}, got {split!r}')
    if gap < 0:
        raise RecordingError(f'split_gap must be >= 0, got {gap}')
    if split == 'all':
        return list(frames)
    is_val = validation_blocks(len(frames), val_fraction, blocks)
    if split == 'val':
        return [frame for frame, val in zip(frames, is_val) if val]
    val_stamps = np.sort([frame.stamp for frame, val in zip(frames, is_val) if val])
    kept = []
    for frame, val in zip(frames, is_val):
        if val:
            continue
        if val_stamps.size:
            index = int(np.searchsorted(val_stamps, frame.stamp))
            nearest = min(abs(val_stamps[i] - frame.stamp)
                          for i in (index - 1, index) if 0 <= i < val_stamps.size)
            if nearest < gap - STAMP_EPSILON:
                continue
        kept.append(frame)
    return kept


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
