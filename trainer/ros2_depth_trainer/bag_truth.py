"""
The exact depth behind a generated bag, kept beside it (never in it) for tests.

A bag with an unaligned depth camera carries what a real driver records; whoever registers that
depth into the colour camera can check the result against the generator's exact aligned depth:
the colour camera's own rendered depth (metres along its optical axis, NaN only where there is
no surface), written here frame by frame as the bag is written.

The file is an .npz (a zip of .npy arrays, which ``numpy.load`` opens lazily), written as a
stream so a long recording never sits in memory, with fixed zip timestamps so the same frames
give the same bytes:

| key | content |
|---|---|
| `stamp_ns` | (N,) int64 header stamps of the frames in the bag |
| `colour_k`, `colour_size` | (3, 3) K and (height, width) of the colour camera |
| `aligned_depth_000000`, ... | (H, W) float32 exact depth of the colour camera, per frame |
| `depth_k`, `depth_size` | the depth camera's K and (height, width) (only with a depth camera) |
| `depth_to_colour` | (4, 4) p_colour = T p_depth between the optical frames (the same) |
| `depth_exact_000000`, ... | (h, w) float32 exact depth of the depth camera, no holes (the same) |

``load_truth`` reads it back stacked.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Iterable, Iterator, List, Optional
import zipfile

import numpy as np
from ros2_depth.camera_model import PinholeCamera
from ros2_depth_trainer.bag_writer import frame_stamp_ns, START_TIME_NS
from ros2_depth_trainer.synth.rig import RigFrame

TRUTH_SUFFIX = '.truth.npz'
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def truth_path(bag: Path) -> Path:
    """Return the default truth file of a bag directory: beside it, `<bag>.truth.npz`."""
    bag = Path(bag)
    return bag.parent / (bag.name + TRUTH_SUFFIX)


@dataclasses.dataclass
class RecordingTruth:
    """The truth of a generated recording, stacked over frames (module docstring)."""

    stamp_ns: np.ndarray
    colour_camera: PinholeCamera
    aligned_depth: np.ndarray  # (N, H, W)
    depth_camera: Optional[PinholeCamera] = None
    depth_to_colour: Optional[np.ndarray] = None
    depth_exact: Optional[np.ndarray] = None  # (N, h, w)


class TruthWriter:
    """Streams the truth of RigFrames into an .npz; the file appears only once it is complete."""

    def __init__(self, path: Path, start_time_ns: int = START_TIME_NS) -> None:
        """Prepare to write `path` (replaced if it exists) for a bag starting at start_time_ns."""
        self.path = Path(path)
        self._partial = self.path.with_name(self.path.name + '.partial')
        self._start_ns = start_time_ns
        self._zip: Optional[zipfile.ZipFile] = None
        self._stamps: List[int] = []
        self._first: Optional[RigFrame] = None

    def __enter__(self) -> 'TruthWriter':
        """Open the partial file (creating its folder)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._zip = zipfile.ZipFile(self._partial, 'w', zipfile.ZIP_DEFLATED, allowZip64=True)
        return self

    def _put(self, key: str, array: np.ndarray) -> None:
        info = zipfile.ZipInfo(key + '.npy', date_time=_ZIP_TIME)
        info.compress_type = zipfile.ZIP_DEFLATED
        with self._zip.open(info, 'w', force_zip64=True) as stream:
            np.lib.format.write_array(stream, np.ascontiguousarray(array), allow_pickle=False)

    def add(self, item: RigFrame) -> None:
        """Write one frame's exact depths."""
        index = len(self._stamps)
        self._first = self._first or item
        self._stamps.append(frame_stamp_ns(self._start_ns, item.time_s))
        self._put(f'aligned_depth_{index:06d}', np.asarray(item.aligned_depth, '<f4'))
        if item.depth_exact is not None:
            self._put(f'depth_exact_{index:06d}', np.asarray(item.depth_exact, '<f4'))

    def frames(self, items: Iterable[RigFrame]) -> Iterator[RigFrame]:
        """Yield `items`, writing the truth of each on the way."""
        for item in items:
            self.add(item)
            yield item

    def __exit__(self, exc_type: object, *exc: object) -> None:
        """Finish the file (cameras, transform, stamps) or, after an error, remove it."""
        try:
            if exc_type is None and self._first is not None:
                colour = self._first.colour.camera
                self._put('stamp_ns', np.asarray(self._stamps, '<i8'))
                self._put('colour_k', colour.k)
                self._put('colour_size', np.array([colour.height, colour.width]))
                if self._first.rig is not None:
                    rig = self._first.rig
                    self._put('depth_k', rig.camera.k)
                    self._put('depth_size', np.array([rig.camera.height, rig.camera.width]))
                    self._put('depth_to_colour', rig.depth_to_colour())
        finally:
            self._zip.close()
            if exc_type is None and self._first is not None:
                self._partial.replace(self.path)
            else:
                self._partial.unlink(missing_ok=True)


def _camera(k: np.ndarray, size: np.ndarray) -> PinholeCamera:
    return PinholeCamera(width=int(size[1]), height=int(size[0]), fx=float(k[0, 0]),
                         fy=float(k[1, 1]), cx=float(k[0, 2]), cy=float(k[1, 2]))


def load_truth(path: Path) -> RecordingTruth:
    """Read a truth file written by TruthWriter, every frame stacked."""
    with np.load(Path(path), allow_pickle=False) as data:
        count = len(data['stamp_ns'])
        truth = RecordingTruth(
            stamp_ns=data['stamp_ns'],
            colour_camera=_camera(data['colour_k'], data['colour_size']),
            aligned_depth=np.stack([data[f'aligned_depth_{i:06d}'] for i in range(count)]))
        if 'depth_k' in data.files:
            truth.depth_camera = _camera(data['depth_k'], data['depth_size'])
            truth.depth_to_colour = data['depth_to_colour']
            truth.depth_exact = np.stack([data[f'depth_exact_{i:06d}'] for i in range(count)])
    return truth
