"""
The ``recording`` dataset kind: any RGB-D recording, its layout detected from the path.

``detect_layout`` tells a rosbag2 (``rosbag_source``) from the folder layouts of ``rgbd_folders``
(TUM RGB-D, 7-Scenes, Open3D/Redwood) and frame list files; ``read_recording`` reads one into a
time-ordered list of ``RecordedFrame``; ``RecordingSourceDataset`` (the class ``train`` builds and
``evaluate --data recording PATH...`` opens) reads several, takes the training or validation time
block of each (``recording.split_frames``), drops near-duplicate frames (``recording.subsample``)
and masks depth outside its range. ``docs/datasets.md``, "Recordings", describes the options.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

from ros2_depth_trainer.data import rgbd_folders
from ros2_depth_trainer.data.augment import Sample
from ros2_depth_trainer.data.recording import (RecordedFrame, RecordingDataset, RecordingError,
                                               split_frames, SPLITS, subsample)

LOGGER = logging.getLogger(__name__)

LAYOUTS = ('rosbag2', 'tum', '7scenes', 'open3d', 'list')
BAG_SUFFIXES = ('.mcap', '.db3')
LIST_SUFFIXES = ('.txt', '.json')
LOOKED_FOR = ('a rosbag2 (metadata.yaml, .mcap or .db3), a TUM RGB-D folder (rgb.txt and '
              'depth.txt), a 7-Scenes folder (frame-XXXXXX.color.png/.jpg), an Open3D folder '
              '(color/ and depth/) or a frame list file (.txt or .json)')
# The options read_recording passes to the sources; per-path entries may set them too.
SOURCE_OPTIONS = ('layout', 'intrinsics', 'depth_scale', 'max_time_diff', 'frame_rate', 'bag')

PathEntry = Union[str, Path, Mapping[str, Any]]


def detect_layout(path: Union[str, Path]) -> str:
    """Return the layout of a recording path (one of LAYOUTS); RecordingError if none fits."""
    path = Path(path)
    if not path.exists():
        raise RecordingError(f'{path}: no such file or folder')
    if path.is_file():
        if path.suffix in BAG_SUFFIXES:
            return 'rosbag2'
        if path.suffix in LIST_SUFFIXES:
            return 'list'
    elif (path / 'metadata.yaml').is_file() or any(
            p.suffix in BAG_SUFFIXES for p in path.iterdir()):
        return 'rosbag2'
    elif (path / 'rgb.txt').is_file() or (path / 'depth.txt').is_file():
        return 'tum'  # read_tum names the other file if it is missing
    elif rgbd_folders.seven_scenes_colour_files(path):
        return '7scenes'
    elif rgbd_folders.open3d_colour_dir(path) is not None:
        return 'open3d'
    raise RecordingError(f'{path}: not a recording; looked for {LOOKED_FOR}')


def _read_bag(path: Path, options: Mapping[str, Any]) -> List[RecordedFrame]:
    """Read a rosbag2 through rosbag_source (imported only now: it needs the ROS 2 packages)."""
    try:
        from ros2_depth_trainer.data.rosbag_source import read_bag_frames
    except ImportError as exc:
        raise RecordingError(f'{path}: a rosbag2 recording, but rosbag2 support is not '
                             f'available ({exc})') from None
    return list(read_bag_frames(path, **dict(options)))


def _with_intrinsics(frame: RecordedFrame, values: Sequence[float]) -> RecordedFrame:
    """Return the frame with its intrinsics replaced (the override for bags)."""
    return RecordedFrame(frame.stamp, frame.name, _IntrinsicsOverride(frame.load, tuple(values)),
                         frame.load_preview)


class _IntrinsicsOverride:
    """A frame loader whose intrinsics are replaced; a class so that frames pickle."""

    def __init__(self, load: Callable, values: tuple) -> None:
        self.load, self.values = load, values

    def __call__(self):
        rgb, depth, _ = self.load()
        return rgb, depth, self.values


def read_recording(path: Union[str, Path], layout: str = 'auto', intrinsics: Any = None,
                   depth_scale: Optional[float] = None, max_time_diff: float = 0.02,
                   frame_rate: float = 30.0,
                   bag: Optional[Mapping[str, Any]] = None) -> List[RecordedFrame]:
    """
    Read one recording into its time-ordered frames.

    ``layout`` 'auto' detects it; ``intrinsics`` ([fx, fy, cx, cy], a preset name or an Open3D
    intrinsic .json) replaces the recording's own; ``depth_scale`` (depth units per metre)
    replaces the layout's default (TUM 5000, 7-Scenes and Open3D 1000; list files and bags carry
    their own); ``max_time_diff`` is the colour-depth pairing tolerance in seconds (TUM, and
    bags as ``stamp_tolerance`` unless ``bag`` sets it);
    ``frame_rate`` gives stamp-less layouts (7-Scenes, Open3D, lists) their stamps; ``bag``
    holds keyword options of ``rosbag_source.read_bag_frames``.
    """
    path = Path(path)
    if layout == 'auto':
        layout = detect_layout(path)
    elif layout not in LAYOUTS:
        raise RecordingError(f'layout must be auto or one of {LAYOUTS}, got {layout!r}')
    if layout == 'rosbag2':
        frames = _read_bag(path, {'stamp_tolerance': max_time_diff, **(bag or {})})
        override = rgbd_folders.resolve_intrinsics(intrinsics)
        if override is not None:
            frames = [_with_intrinsics(frame, override.values) for frame in frames]
    elif layout == 'tum':
        frames = rgbd_folders.read_tum(path, intrinsics, depth_scale, max_time_diff)
    elif layout == '7scenes':
        frames = rgbd_folders.read_7scenes(path, intrinsics, depth_scale, frame_rate)
    elif layout == 'open3d':
        frames = rgbd_folders.read_open3d(path, intrinsics, depth_scale, frame_rate)
    else:
        frames = rgbd_folders.read_list_recording(path, intrinsics, frame_rate)
    if not frames:
        raise RecordingError(f'{path}: the recording has no colour frame with depth')
    return sorted(frames, key=lambda frame: frame.stamp)


def parse_path_entry(entry: PathEntry, defaults: Mapping[str, Any]) -> Dict[str, Any]:
    """Return read_recording's arguments for a path, or a {path: ..., OPTION: ...} mapping."""
    options = dict(defaults)
    if isinstance(entry, Mapping):
        unknown = set(entry) - {'path', *SOURCE_OPTIONS}
        if 'path' not in entry or unknown:
            raise RecordingError(f'a recording entry is a path, or a mapping with path and any '
                                 f'of {", ".join(SOURCE_OPTIONS)}; got {dict(entry)}')
        options.update(entry)
    else:
        options['path'] = entry
    return options


class RecordingSourceDataset(RecordingDataset):
    """
    The ``recording`` kind: one time block of each recording given, subsampled, as samples.

    ``split`` is 'train', 'val' (the last ``val_fraction`` of each of ``val_blocks`` equal
    runs of frames) or 'all'; training frames less than ``split_gap`` seconds from a validation
    frame are dropped. Then ``min_interval`` (seconds) and ``min_change`` (grey levels of a
    32x24 thumbnail) drop near-duplicate frames, and depth outside (``min_depth``,
    ``max_depth``] metres is invalid. A path may be a mapping {path: ..., layout: ...,
    intrinsics: ...} to set the reading options (``read_recording``) for that recording alone.
    """

    def __init__(self, paths: Union[PathEntry, Sequence[PathEntry]], split: str,
                 layout: str = 'auto', val_fraction: float = 0.2, val_blocks: int = 1,
                 split_gap: float = 1.0, min_interval: float = 0.0, min_change: float = 0.0,
                 min_depth: float = 0.0, max_depth: Optional[float] = 10.0,
                 intrinsics: Any = None, depth_scale: Optional[float] = None,
                 max_time_diff: float = 0.02, frame_rate: float = 30.0,
                 bag: Optional[Mapping[str, Any]] = None,
                 transform: Optional[Callable[[Sample], Sample]] = None) -> None:
        """Read, split and subsample every recording; check the first frame of each decodes."""
        if isinstance(paths, (str, Path, Mapping)):
            paths = [paths]
        if not paths:
            raise RecordingError('give at least one recording path')
        if split not in SPLITS:
            raise RecordingError(f'split must be one of {SPLITS}, got {split!r}')
        defaults = {'layout': layout, 'intrinsics': intrinsics, 'depth_scale': depth_scale,
                    'max_time_diff': max_time_diff, 'frame_rate': frame_rate, 'bag': bag}
        frames: List[RecordedFrame] = []
        self.recordings: List[Dict[str, Any]] = []
        for entry in paths:
            options = parse_path_entry(entry, defaults)
            path = options.pop('path')
            recorded = read_recording(path, **options)
            part = split_frames(recorded, split, val_fraction, val_blocks, split_gap)
            if not part:
                raise RecordingError(
                    f'{path}: the {split} block is empty ({len(recorded)} frames, val_fraction '
                    f'{val_fraction}, val_blocks {val_blocks}, split_gap {split_gap} s)')
            kept = subsample(part, min_interval, min_change)
            kept[0].arrays()  # a systematic problem (sizes, intrinsics) shows before training
            LOGGER.info('%s: %d frames, %s block %d, %d after subsampling', path,
                        len(recorded), split, len(part), len(kept))
            self.recordings.append({'path': str(path), 'frames': len(recorded),
                                    'split': len(part), 'kept': len(kept)})
            frames.extend(kept)
        super().__init__(frames, transform, min_depth, max_depth)
