"""
RGB-D recordings stored as folders of images, read into time-ordered ``RecordedFrame`` lists.

Layouts (``docs/datasets.md``, "Recordings"):

* TUM RGB-D: ``rgb.txt`` and ``depth.txt`` (``TIMESTAMP PATH`` lines, ``#`` comments); colour
  and depth are paired by stamp, one to one, smallest differences first (as TUM's
  ``associate.py``), within ``max_time_diff`` seconds; depth PNG / 5000 = metres.
* 7-Scenes: ``frame-XXXXXX.color.png`` (or ``.jpg``), ``frame-XXXXXX.depth.png`` (millimetres,
  65535 = no depth), ``frame-XXXXXX.pose.txt`` (not used); no stamps: frame number / frame_rate.
* Open3D / Redwood: ``color/`` (or ``image/``) and ``depth/`` with files paired in sorted order,
  and an Open3D ``PinholeCameraIntrinsic`` JSON; depth PNG / 1000 = metres; no stamps.
* a frame list file (``rgbd_list``): stamps follow the line order.

Frames decode only when used. Every problem is a ``RecordingError`` with one line naming the file.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
from pathlib import Path
import re
from typing import Any, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from ros2_depth_trainer.data.files import read_rgb, read_uint_png
from ros2_depth_trainer.data.recording import (FrameArrays, RecordedFrame, RecordingError,
                                               STAMP_EPSILON)

LOGGER = logging.getLogger(__name__)

PathLike = Union[str, Path]
IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg')

# Colour-camera intrinsics (fx, fy, cx, cy) of published recordings, all at 640x480. TUM RGB-D:
# the calibrated values of its "file formats" page (fr1 and fr2 images are not undistorted; their
# distortion is ignored here); 7-Scenes: the values its authors give for the Kinect.
CAMERA_PRESETS = {
    'tum_fr1': (517.3, 516.5, 318.6, 255.3),
    'tum_fr2': (520.9, 521.0, 325.1, 249.7),
    'tum_fr3': (535.4, 539.2, 320.1, 247.6),
    '7scenes': (585.0, 585.0, 320.0, 240.0),
}
PRESET_SIZE = (640, 480)  # (width, height) of every preset
TUM_DEPTH_SCALE = 5000.0
SEVEN_SCENES_DEPTH_SCALE = 1000.0
SEVEN_SCENES_INVALID = 65535
OPEN3D_DEPTH_SCALE = 1000.0
INTRINSICS_HELP = ('give intrinsics=[fx, fy, cx, cy] (pixels of the colour image), a preset '
                   f'({", ".join(CAMERA_PRESETS)}) or an Open3D intrinsic .json')


@dataclasses.dataclass(frozen=True)
class Intrinsics:
    """The colour camera's fx, fy, cx, cy, the image size they are for (None: any), and whence."""

    values: Tuple[float, float, float, float]
    size: Optional[Tuple[int, int]] = None  # (width, height)
    source: str = 'intrinsics option'


def read_open3d_intrinsic(path: PathLike) -> Intrinsics:
    """Read an Open3D PinholeCameraIntrinsic JSON: width, height, column-major intrinsic_matrix."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise RecordingError(f'{path}: cannot read it ({exc.strerror})') from None
    except json.JSONDecodeError as exc:
        raise RecordingError(f'{path}: not valid JSON ({exc})') from None
    try:
        matrix = [float(v) for v in data['intrinsic_matrix']]
        size = (int(data['width']), int(data['height']))
    except (KeyError, TypeError, ValueError):
        raise RecordingError(f'{path}: expected an Open3D camera intrinsic: width, height and '
                             'intrinsic_matrix (9 numbers, column-major)') from None
    if len(matrix) != 9:
        raise RecordingError(f'{path}: intrinsic_matrix must have 9 numbers, got {len(matrix)}')
    # Column-major 3x3: fx at 0, fy at 4, cx at 6, cy at 7.
    values = (matrix[0], matrix[4], matrix[6], matrix[7])
    if not (values[0] > 0 and values[1] > 0):
        raise RecordingError(f'{path}: the focal lengths must be positive, got {values[:2]}')
    return Intrinsics(values, size, str(path))


def resolve_intrinsics(value: Any) -> Optional[Intrinsics]:
    """Turn an intrinsics option (None, [fx, fy, cx, cy], a preset name, a .json path) into one."""
    if value is None:
        return None
    if isinstance(value, (str, Path)):
        if str(value) in CAMERA_PRESETS:
            return Intrinsics(CAMERA_PRESETS[str(value)], PRESET_SIZE, f'preset {value}')
        if str(value).endswith('.json'):
            return read_open3d_intrinsic(value)
        raise RecordingError(f'unknown intrinsics {str(value)!r}; {INTRINSICS_HELP}')
    try:
        values = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise RecordingError(f'intrinsics must be 4 numbers, got {value!r}; '
                             f'{INTRINSICS_HELP}') from None
    if len(values) != 4 or not (values[0] > 0 and values[1] > 0):
        raise RecordingError(f'intrinsics must be fx, fy, cx, cy with positive focal lengths, '
                             f'got {list(values)}')
    return Intrinsics(values)  # type: ignore[arg-type]


def load_pair(rgb_path: Path, depth_path: Path, units_per_metre: float, camera: Intrinsics,
              invalid_value: Optional[int] = None) -> FrameArrays:
    """Decode a colour file and its registered uint16 depth PNG (value / units = metres)."""
    rgb = read_rgb(rgb_path)
    if camera.size is not None and (rgb.shape[1], rgb.shape[0]) != camera.size:
        raise RecordingError(f'{rgb_path}: the image is {rgb.shape[1]}x{rgb.shape[0]} but the '
                             f'intrinsics ({camera.source}) are for '
                             f'{camera.size[0]}x{camera.size[1]}; {INTRINSICS_HELP}')
    raw = read_uint_png(depth_path, (np.uint16,))
    depth = raw.astype(np.float32) / np.float32(units_per_metre)
    if invalid_value is not None:
        depth[raw == invalid_value] = 0.0
    return rgb, depth, camera.values


def read_grey(path: Path) -> np.ndarray:
    """Decode only the grey levels of a colour file (for comparing frames)."""
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise RecordingError(f'{path}: cannot read the image')
    return image


def _frame(stamp: float, rgb_path: Path, depth_path: Path, units_per_metre: float,
           camera: Intrinsics, invalid_value: Optional[int] = None) -> RecordedFrame:
    # functools.partial of module functions, not closures: frames pickle into DataLoader workers.
    return RecordedFrame(float(stamp), str(rgb_path),
                         functools.partial(load_pair, rgb_path, depth_path, units_per_metre,
                                           camera, invalid_value),
                         functools.partial(read_grey, rgb_path))


def _depth_scale(value: Optional[float], default: float) -> float:
    scale = default if value is None else float(value)
    if not scale > 0:
        raise RecordingError(f'depth_scale must be positive (depth units per metre), got {value}')
    return scale


# --------------------------------------------------------------------------------------------
# TUM RGB-D


def read_stamped_list(path: Path) -> List[Tuple[float, Path]]:
    """Read a TUM ``rgb.txt``/``depth.txt``: (stamp, file) per ``TIMESTAMP PATH`` line."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise RecordingError(f'{path}: missing; a TUM RGB-D folder has rgb.txt and depth.txt '
                             '(TIMESTAMP PATH lines)') from None
    except OSError as exc:
        raise RecordingError(f'{path}: cannot read it ({exc.strerror})') from None
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.replace(',', ' ').split()
        if not fields or fields[0].startswith('#'):
            continue
        try:
            stamp = float(fields[0])
        except ValueError:
            stamp = float('nan')
        if len(fields) < 2 or not np.isfinite(stamp):
            raise RecordingError(f'{path}:{number}: expected "TIMESTAMP PATH", got '
                                 f'{line.strip()!r}')
        entries.append((stamp, path.parent / fields[1]))
    if not entries:
        raise RecordingError(f'{path}: lists no frames')
    return entries


def associate(first: Sequence[float], second: Sequence[float],
              max_difference: float) -> List[Tuple[int, int]]:
    """
    Pair two stamp lists one to one: smallest differences first, each at most max_difference.

    The greedy rule of TUM RGB-D's ``associate.py``: every candidate pair within the tolerance,
    taken in order of increasing difference, unless either side is already paired. Returns
    (index in first, index in second) sorted by the first index.
    """
    second = np.asarray(second, dtype=np.float64)
    order = np.argsort(second, kind='stable')
    ordered = second[order]
    limit = max_difference + STAMP_EPSILON
    candidates = []
    for i, stamp in enumerate(first):
        low = np.searchsorted(ordered, stamp - limit, 'left')
        high = np.searchsorted(ordered, stamp + limit, 'right')
        for k in range(low, high):
            difference = abs(ordered[k] - stamp)
            if difference <= limit:
                candidates.append((difference, i, int(order[k])))
    candidates.sort()
    used_first, used_second, pairs = set(), set(), []
    for _, i, j in candidates:
        if i not in used_first and j not in used_second:
            used_first.add(i)
            used_second.add(j)
            pairs.append((i, j))
    return sorted(pairs)


def tum_preset(root: Path) -> Optional[str]:
    """Return the camera preset a TUM folder's name gives (freiburg1/fr1 ... 3), or None."""
    match = re.search(r'(?:freiburg|fr)([123])(?![0-9])', root.resolve().name, re.IGNORECASE)
    return None if match is None else f'tum_fr{match.group(1)}'


def read_tum(root: PathLike, intrinsics: Any = None, depth_scale: Optional[float] = None,
             max_time_diff: float = 0.02) -> List[RecordedFrame]:
    """Read a TUM RGB-D folder: colour frames paired with depth frames by stamp."""
    root = Path(root)
    colour = read_stamped_list(root / 'rgb.txt')
    depth = read_stamped_list(root / 'depth.txt')
    camera = resolve_intrinsics(intrinsics)
    if camera is None:
        preset = tum_preset(root)
        if preset is None:
            raise RecordingError(f'{root}: no intrinsics for this TUM RGB-D folder (its name does '
                                 f'not say freiburg1, 2 or 3); {INTRINSICS_HELP}')
        camera = resolve_intrinsics(preset)
        LOGGER.info('%s: intrinsics of %s (from the folder name)', root, preset)
    if not max_time_diff >= 0:
        raise RecordingError(f'max_time_diff must be >= 0 seconds, got {max_time_diff}')
    pairs = associate([s for s, _ in colour], [s for s, _ in depth], max_time_diff)
    if not pairs:
        raise RecordingError(
            f'{root}: no colour frame has a depth frame within {max_time_diff} s (colour stamps '
            f'{colour[0][0]:.3f}-{colour[-1][0]:.3f}, depth {depth[0][0]:.3f}-'
            f'{depth[-1][0]:.3f}); raise max_time_diff if the clocks are that far apart')
    scale = _depth_scale(depth_scale, TUM_DEPTH_SCALE)
    frames = [_frame(colour[i][0], colour[i][1], depth[j][1], scale, camera) for i, j in pairs]
    return sorted(frames, key=lambda frame: frame.stamp)


# --------------------------------------------------------------------------------------------
# 7-Scenes


SEVEN_SCENES_COLOUR = re.compile(r'^frame-(\d+)\.color\.(png|jpg|jpeg)$', re.IGNORECASE)


def seven_scenes_colour_files(root: Path) -> List[Tuple[int, Path]]:
    """Return (frame number, path) of every ``frame-XXXXXX.color.*`` file, by number."""
    found = []
    for path in root.iterdir() if root.is_dir() else ():
        match = SEVEN_SCENES_COLOUR.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def read_7scenes(root: PathLike, intrinsics: Any = None, depth_scale: Optional[float] = None,
                 frame_rate: float = 30.0) -> List[RecordedFrame]:
    """
    Read a 7-Scenes style folder; stamps are frame number / frame_rate (the data has none).

    7-Scenes depth comes from the Kinect's depth camera and is not registered to the colour
    camera in the original dataset; it is used as if it were (same size, pixel for pixel).
    """
    root = Path(root)
    colour = seven_scenes_colour_files(root)
    if not colour:
        raise RecordingError(f'{root}: no frame-XXXXXX.color.png or .jpg files')
    if not frame_rate > 0:
        raise RecordingError(f'frame_rate must be positive, got {frame_rate}')
    camera = resolve_intrinsics(intrinsics)
    if camera is None:
        camera = Intrinsics(CAMERA_PRESETS['7scenes'], PRESET_SIZE, '7-Scenes default')
    scale = _depth_scale(depth_scale, SEVEN_SCENES_DEPTH_SCALE)
    frames = []
    for number, path in colour:
        depth = path.with_name(path.name.split('.', 1)[0] + '.depth.png')
        if not depth.is_file():
            raise RecordingError(f'{depth}: missing, the depth of {path.name}')
        frames.append(_frame(number / frame_rate, path, depth, scale, camera,
                             SEVEN_SCENES_INVALID))
    return frames


# --------------------------------------------------------------------------------------------
# Open3D / Redwood


OPEN3D_COLOUR_DIRS = ('color', 'image')


def open3d_colour_dir(root: Path) -> Optional[Path]:
    """Return the colour folder of an Open3D layout (color/ or image/ beside depth/), or None."""
    if not (root / 'depth').is_dir():
        return None
    return next((root / name for name in OPEN3D_COLOUR_DIRS if (root / name).is_dir()), None)


def _images(folder: Path, suffixes: Sequence[str]) -> List[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in suffixes and p.is_file())


def read_open3d(root: PathLike, intrinsics: Any = None, depth_scale: Optional[float] = None,
                frame_rate: float = 30.0) -> List[RecordedFrame]:
    """Read an Open3D/Redwood folder: color/ and depth/ paired in sorted order, intrinsic JSON."""
    root = Path(root)
    colour_dir = open3d_colour_dir(root)
    if colour_dir is None:
        raise RecordingError(f'{root}: an Open3D folder has color/ (or image/) and depth/')
    if not frame_rate > 0:
        raise RecordingError(f'frame_rate must be positive, got {frame_rate}')
    camera = resolve_intrinsics(intrinsics)
    if camera is None:
        found = sorted(root.glob('*intrinsic*.json'))
        if len(found) != 1:
            what = 'none' if not found else ', '.join(p.name for p in found)
            raise RecordingError(f'{root}: needs one intrinsic JSON (*intrinsic*.json) beside '
                                 f'color/ and depth/, found {what}; or {INTRINSICS_HELP}')
        camera = read_open3d_intrinsic(found[0])
    colour = _images(colour_dir, IMAGE_SUFFIXES)
    depth = _images(root / 'depth', ('.png',))
    if not colour:
        raise RecordingError(f'{colour_dir}: no .png or .jpg images')
    if len(colour) != len(depth):
        raise RecordingError(f'{root}: {len(colour)} colour images in {colour_dir.name}/ but '
                             f'{len(depth)} depth PNGs in depth/; they are paired in sorted '
                             'order, so the counts must match')
    scale = _depth_scale(depth_scale, OPEN3D_DEPTH_SCALE)
    return [_frame(index / frame_rate, c, d, scale, camera)
            for index, (c, d) in enumerate(zip(colour, depth))]


# --------------------------------------------------------------------------------------------
# Frame list files


def read_list_recording(path: PathLike, intrinsics: Any = None,
                        frame_rate: float = 30.0) -> List[RecordedFrame]:
    """Read a frame list (``rgbd_list``) as a recording: stamp = line index / frame_rate."""
    from ros2_depth_trainer.data.rgbd_list import read_frame_list, RGBDListError

    if not frame_rate > 0:
        raise RecordingError(f'frame_rate must be positive, got {frame_rate}')
    try:
        entries = read_frame_list(path)
    except RGBDListError as exc:
        raise RecordingError(str(exc)) from None
    override = resolve_intrinsics(intrinsics)
    return [_frame(index / frame_rate, entry['rgb'], entry['depth'], entry['depth_scale'],
                   override or Intrinsics(entry['intrinsics'], None, f'{path}'))
            for index, entry in enumerate(entries)]
