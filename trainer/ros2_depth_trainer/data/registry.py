"""
Every dataset kind the trainer knows, in one table: its class, its protocol and its opener.

A kind names a dataset wherever one is chosen:

- ``train`` builds ``data.train.kind`` / ``data.val.kind`` of a run config from its class,
  with ``data.*.args`` as keyword arguments;
- ``evaluate --data KIND LOCATION...`` (and ``--train-data``) reads it through its opener: the
  test data at native size, no augmentation, no crop;
- ``evaluate`` scores it under its protocol (``protocols.PROTOCOLS``) unless told otherwise, and
  ``export`` writes that protocol's depth caps as the sidecar's depth range of a model trained
  on it.

=============  ======================  ===========  ==========================================
kind           class                   protocol     ``evaluate --data`` locations
=============  ======================  ===========  ==========================================
synthetic      SyntheticDataset        full         generated folder(s)
nyu            (evaluate only)         nyu          labeled ``.mat`` [``splits.mat``], or a
                                                    frame root [frame list]
nyu_labeled    NyuLabeledDataset       nyu          (train only)
nyu_frames     NyuFramesDataset        nyu          (train only)
kitti          KittiDataset            kitti_garg   raw root [depth-annotated root]
rgbd_list      RGBDListDataset         rgbd         frame list file(s)
recording      RecordingSourceDataset  rgbd         recordings (rosbag2, TUM RGB-D, 7-Scenes,
                                                    Open3D folder, frame list) and ``KEY=VALUE``
                                                    options; split 'test': validation blocks
=============  ======================  ===========  ==========================================

A kind's module (which imports torch) is imported only when the kind is used, so this table can
be read by the command line's argument parser without it.
"""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

# Which depth map of the NYU labeled file is scored: the raw Kinect depth (0 = no measurement,
# skipped), as the published protocol (BTS utils/extract_official_train_test_set_from_mat.py
# writes ``rawDepths`` as the 654 test ground truth), or the in-painted ``depths``.
NYU_DEPTH_MAPS = {'raw': 'rawDepths', 'filled': 'depths'}
# The value of a projected KITTI Velodyne point (data.kitti.DEPTH_VALUES): depth along the
# camera axis, or the Velodyne x of monodepth2's exported ground truth (vel_depth=True).
KITTI_DEPTH_VALUES = ('camera', 'velodyne_x')


@dataclasses.dataclass(frozen=True)
class OpenOptions:
    """How an opener reads a dataset: the split and the ground truth to score."""

    split: str = 'test'
    nyu_depth: str = 'raw'  # a key of NYU_DEPTH_MAPS
    kitti_depth: str = 'camera'  # one of KITTI_DEPTH_VALUES

    def __post_init__(self) -> None:
        """Reject unknown ground-truth choices."""
        if self.nyu_depth not in NYU_DEPTH_MAPS:
            raise ValueError(f'nyu_depth must be one of {sorted(NYU_DEPTH_MAPS)}, '
                             f'got {self.nyu_depth!r}')
        if self.kitti_depth not in KITTI_DEPTH_VALUES:
            raise ValueError(f'kitti_depth must be one of {KITTI_DEPTH_VALUES}, '
                             f'got {self.kitti_depth!r}')


Opener = Callable[[List[str], OpenOptions], Any]


@dataclasses.dataclass(frozen=True)
class DatasetKind:
    """One dataset kind: its module, the class train builds, its protocol and its opener."""

    name: str
    module: str  # imported only when the kind is used
    protocol: str  # a key of protocols.PROTOCOLS
    class_name: Optional[str] = None  # built by train from data.*.args; None: evaluate only
    opener: Optional[Opener] = None  # reads evaluate's LOCATION...; None: train only

    def dataset_class(self) -> type:
        """Import the kind's module and return the class train builds."""
        if self.class_name is None:
            raise ValueError(f'dataset kind {self.name!r} is for evaluate only; train uses '
                             f'one of {train_kinds()}')
        return getattr(importlib.import_module(self.module), self.class_name)

    def open_data(self, locations: Sequence[str],
                  options: OpenOptions = OpenOptions()) -> Any:
        """Open the data at ``locations`` for evaluation (native size, no augmentation)."""
        if self.opener is None:
            raise ValueError(f'dataset kind {self.name!r} is for training only; evaluate '
                             f'uses one of {evaluation_kinds()}')
        return self.opener(list(locations), options)


def _open_synthetic(locations: List[str], options: OpenOptions) -> Any:
    """Open every generated folder given (a generated folder is one split; the split unused)."""
    from ros2_depth_trainer.data.synthetic import SyntheticDataset

    return SyntheticDataset(locations, train=False)


def _open_nyu(locations: List[str], options: OpenOptions) -> Any:
    """
    Open the NYU labeled file (the official or given split) or a folder of raw-scene frames.

    The labeled file's depth is ``options.nyu_depth``: 'raw' (``rawDepths``, the published
    protocol's ground truth) or 'filled' (the in-painted ``depths``). For frames, the optional
    frame list is the split.
    """
    from ros2_depth_trainer.data.nyu import NyuFramesDataset, NyuLabeledDataset

    path = Path(locations[0])
    extra = locations[1] if len(locations) > 1 else None
    if path.is_dir():
        return NyuFramesDataset(path, file_list=extra)
    return NyuLabeledDataset(path, split=options.split, splits_file=extra, num_classes=None,
                             depth_key=NYU_DEPTH_MAPS[options.nyu_depth])


def _open_kitti(locations: List[str], options: OpenOptions) -> Any:
    """
    Open KITTI raw drives: the Eigen test split for split 'test', else a split file.

    Velodyne depth, or the depth-annotated PNGs under a second location. Velodyne points are
    projected as monodepth2's ``generate_depth_map`` does (one pixel up and left, "to match the
    KITTI MATLAB code"), with ``options.kitti_depth`` 'camera' (depth along the camera axis) or
    'velodyne_x' (the point's Velodyne x, as in monodepth2's exported ``gt_depths.npz``).
    """
    from ros2_depth_trainer.data.kitti import KittiDataset

    annotated = locations[1] if len(locations) > 1 else None
    split = 'eigen_test' if options.split == 'test' else options.split
    return KittiDataset(locations[0], split=split,
                        depth='velodyne' if annotated is None else 'annotated',
                        annotated_root=annotated, missing_depth='skip', matlab_offset=True,
                        depth_value=options.kitti_depth)


def _open_rgbd_list(locations: List[str], options: OpenOptions) -> Any:
    """Open RGB-D frame list files (every listed frame; the split is unused)."""
    from ros2_depth_trainer.data.rgbd_list import RGBDListDataset

    return RGBDListDataset(locations)


# evaluate's split names -> the recording kind's time blocks: 'test' (evaluate's default) is the
# held-out validation block, so that scores before and after fine-tuning are held out.
RECORDING_SPLITS = {'test': 'val', 'val': 'val', 'train': 'train', 'all': 'all'}


def _open_recording(locations: List[str], options: OpenOptions) -> Any:
    """
    Open recordings; a location ``KEY=VALUE`` (not an existing path) is a dataset option.

    Values are read as YAML (``intrinsics=[525, 525, 319.5, 239.5]``, ``min_interval=0.5``).
    Split 'test' (evaluate's default) is each recording's validation block, 'train' its
    training block, 'all' every frame.
    """
    import yaml

    from ros2_depth_trainer.data.recording_sources import RecordingSourceDataset

    if options.split not in RECORDING_SPLITS:
        raise ValueError(f'a recording splits into {sorted(RECORDING_SPLITS)}, got '
                         f'{options.split!r}')
    paths, args = [], {}
    for location in locations:
        key, equals, value = location.partition('=')
        if equals and key.isidentifier() and not Path(location).exists():
            try:
                args[key] = yaml.safe_load(value)
            except yaml.YAMLError:
                raise ValueError(f'{location}: the value is not valid YAML') from None
        else:
            paths.append(location)
    if not paths:
        raise ValueError('give at least one recording path before its KEY=VALUE options')
    try:
        return RecordingSourceDataset(paths, split=RECORDING_SPLITS[options.split], **args)
    except TypeError as exc:  # an unknown option
        raise ValueError(f'recording options: {exc}') from None


_NYU = 'ros2_depth_trainer.data.nyu'
KINDS: Dict[str, DatasetKind] = {kind.name: kind for kind in (
    DatasetKind('synthetic', 'ros2_depth_trainer.data.synthetic', 'full', 'SyntheticDataset',
                _open_synthetic),
    DatasetKind('nyu', _NYU, 'nyu', opener=_open_nyu),
    DatasetKind('nyu_labeled', _NYU, 'nyu', 'NyuLabeledDataset'),
    DatasetKind('nyu_frames', _NYU, 'nyu', 'NyuFramesDataset'),
    DatasetKind('kitti', 'ros2_depth_trainer.data.kitti', 'kitti_garg', 'KittiDataset',
                _open_kitti),
    DatasetKind('rgbd_list', 'ros2_depth_trainer.data.rgbd_list', 'rgbd', 'RGBDListDataset',
                _open_rgbd_list),
    DatasetKind('recording', 'ros2_depth_trainer.data.recording_sources', 'rgbd',
                'RecordingSourceDataset', _open_recording),
)}


def train_kinds() -> List[str]:
    """Return the kinds a run config can train or validate on (those with a class), sorted."""
    return sorted(name for name, kind in KINDS.items() if kind.class_name is not None)


def evaluation_kinds() -> List[str]:
    """Return the kinds ``evaluate --data`` reads (those with an opener), sorted."""
    return sorted(name for name, kind in KINDS.items() if kind.opener is not None)


def dataset_kind(name: str) -> DatasetKind:
    """Return the registered kind ``name``; KeyError naming the known kinds otherwise."""
    try:
        return KINDS[name]
    except KeyError:
        raise KeyError(f'unknown dataset kind {name!r}; known: {sorted(KINDS)}') from None


def default_protocol(name: str) -> Optional[str]:
    """Return the protocol a kind is scored under, or None for an unknown kind."""
    kind = KINDS.get(name)
    return None if kind is None else kind.protocol
