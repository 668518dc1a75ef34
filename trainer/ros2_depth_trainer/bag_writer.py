"""
Write a camera trajectory (rendered Frames) as a rosbag2 that plays like a real RGB-D camera.

Storage is MCAP with zstd chunk compression, written with the `rosbags` library. Nothing in the
output depends on the wall clock or the machine, so the same frames give the same bytes,
metadata.yaml included. Per frame, all with one header (stamp = start time + Frame.time_s):

| topic | type | content |
|---|---|---|
| `<ns>/image_rect` | sensor_msgs/Image | `rgb8` |
| `<ns>/camera_info` | sensor_msgs/CameraInfo | rectified: zero plumb_bob D, R = I, P = [K 0] |
| `<ns>/depth_gt/image` | sensor_msgs/Image | `32FC1` metres along the optical axis, NaN invalid |

The bag's receive times (log times) equal the header stamps.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any, Dict, Iterable, Mapping, Optional, Tuple

import numpy as np
from ros2_depth.camera_model import PinholeCamera
from ros2_depth_trainer.synth.frame import Frame

LOG = logging.getLogger(__name__)

DEFAULT_NAMESPACE = '/camera'
DEFAULT_FRAME_ID = 'camera_optical_frame'
# 2023-11-14T22:13:20Z: a fixed, recognisable start, so that stamps never depend on the clock.
START_TIME_NS = 1_700_000_000 * 1_000_000_000
IMAGE_TOPIC = 'image_rect'
CAMERA_INFO_TOPIC = 'camera_info'
DEPTH_TOPIC = 'depth_gt/image'
IMAGE_TYPE = 'sensor_msgs/msg/Image'
CAMERA_INFO_TYPE = 'sensor_msgs/msg/CameraInfo'
BAG_VERSION = 9


class BagWriteError(RuntimeError):
    """The bag cannot be written; the message says why and what to do."""


@dataclasses.dataclass(frozen=True)
class BagSummary:
    """What was written: the bag directory, frame count, topics and total size on disk."""

    path: Path
    frames: int
    topics: Tuple[str, ...]
    size_bytes: int
    start_time_ns: int
    end_time_ns: int


def bag_topics(namespace: str = DEFAULT_NAMESPACE) -> Dict[str, str]:
    """Return the full topic names (image, camera_info, depth) in `namespace`."""
    ns = '/' + namespace.strip('/') if namespace.strip('/') else ''
    return {
        'image': f'{ns}/{IMAGE_TOPIC}',
        'camera_info': f'{ns}/{CAMERA_INFO_TOPIC}',
        'depth': f'{ns}/{DEPTH_TOPIC}',
    }


class _Messages:
    """Builds the serialised messages of one frame with a rosbags typestore."""

    def __init__(self, frame_id: str) -> None:
        from rosbags.typesys import get_typestore, Stores

        self.store = get_typestore(Stores.ROS2_HUMBLE)
        self.frame_id = frame_id
        types = self.store.types
        self.time = types['builtin_interfaces/msg/Time']
        self.header = types['std_msgs/msg/Header']
        self.image = types[IMAGE_TYPE]
        self.info = types[CAMERA_INFO_TYPE]
        self.roi = types['sensor_msgs/msg/RegionOfInterest']

    def _header(self, stamp_ns: int) -> Any:
        sec, nanosec = divmod(stamp_ns, 1_000_000_000)
        return self.header(stamp=self.time(sec=sec, nanosec=nanosec), frame_id=self.frame_id)

    def image_msg(self, stamp_ns: int, pixels: np.ndarray, encoding: str) -> bytes:
        """Serialise an unpadded little-endian Image."""
        height, width = pixels.shape[:2]
        data = np.frombuffer(np.ascontiguousarray(pixels).tobytes(), np.uint8)
        msg = self.image(
            header=self._header(stamp_ns),
            height=height,
            width=width,
            encoding=encoding,
            is_bigendian=0,
            step=data.size // height,
            data=data,
        )
        return bytes(self.store.serialize_cdr(msg, IMAGE_TYPE))

    def camera_info_msg(self, stamp_ns: int, camera: PinholeCamera) -> bytes:
        """Serialise a rectified CameraInfo: zero plumb_bob distortion, R = I, P = [K 0]."""
        k = camera.k
        msg = self.info(
            header=self._header(stamp_ns),
            height=camera.height,
            width=camera.width,
            distortion_model='plumb_bob',
            d=np.zeros(5, np.float64),
            k=k.reshape(-1).astype(np.float64),
            r=np.eye(3, dtype=np.float64).reshape(-1),
            p=np.hstack([k, np.zeros((3, 1))]).reshape(-1).astype(np.float64),
            binning_x=0,
            binning_y=0,
            roi=self.roi(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False),
        )
        return bytes(self.store.serialize_cdr(msg, CAMERA_INFO_TYPE))


def _checked(frame: Frame, index: int) -> Tuple[np.ndarray, np.ndarray]:
    """Return the frame's rgb (uint8) and depth (little-endian float32, NaN invalid)."""
    camera = frame.camera
    size = (camera.height, camera.width)
    rgb = np.asarray(frame.rgb)
    if rgb.dtype != np.uint8 or rgb.shape != size + (3,):
        raise BagWriteError(
            f'frame {index}: rgb is {rgb.dtype} {rgb.shape}, expected uint8 {size + (3,)} '
            f'to match its {camera.width}x{camera.height} camera'
        )
    depth = np.asarray(frame.depth)
    if depth.shape != size or depth.dtype.kind != 'f':
        raise BagWriteError(
            f'frame {index}: depth is {depth.dtype} {depth.shape}, expected float metres {size}'
        )
    depth = depth.astype('<f4')
    with np.errstate(invalid='ignore'):
        depth[~(np.isfinite(depth) & (depth > 0))] = np.nan
    return rgb, depth


def write_bag(
    path: Path,
    frames: Iterable[Frame],
    namespace: str = DEFAULT_NAMESPACE,
    frame_id: str = DEFAULT_FRAME_ID,
    start_time_ns: int = START_TIME_NS,
    custom_data: Optional[Mapping[str, str]] = None,
    compress: bool = True,
) -> BagSummary:
    """
    Write `frames` as a new rosbag2 directory at `path` (MCAP, zstd chunks unless not `compress`).

    Each frame's stamp is `start_time_ns` + round(Frame.time_s in ns); stamps must increase.
    `custom_data` (string keys and values) goes into metadata.yaml, e.g. the command that made
    the bag. Raises BagWriteError for an existing `path`, a bad frame or an empty trajectory.
    """
    from rosbags.rosbag2 import Writer, WriterError
    from rosbags.rosbag2.enums import CompressionFormat, CompressionMode, StoragePlugin

    path = Path(path)
    if path.exists():
        raise BagWriteError(f'{path} exists already; remove it or choose another output folder')
    topics = bag_topics(namespace)
    messages = _Messages(frame_id)
    writer = Writer(path, version=BAG_VERSION, storage_plugin=StoragePlugin.MCAP)
    if compress:
        writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
    for key, value in sorted((custom_data or {}).items()):
        writer.set_custom_data(str(key), str(value))
    count, first_ns, last_ns = 0, None, None
    try:
        with writer:
            info_conn = writer.add_connection(
                topics['camera_info'], CAMERA_INFO_TYPE, typestore=messages.store
            )
            image_conn = writer.add_connection(
                topics['image'], IMAGE_TYPE, typestore=messages.store
            )
            depth_conn = writer.add_connection(
                topics['depth'], IMAGE_TYPE, typestore=messages.store
            )
            for index, frame in enumerate(frames):
                rgb, depth = _checked(frame, index)
                stamp_ns = start_time_ns + int(round(float(frame.time_s) * 1e9))
                if last_ns is not None and stamp_ns <= last_ns:
                    raise BagWriteError(
                        f'frame {index}: time_s {frame.time_s} does not increase; a trajectory '
                        'needs strictly increasing frame times'
                    )
                writer.write(info_conn, stamp_ns, messages.camera_info_msg(stamp_ns, frame.camera))
                writer.write(image_conn, stamp_ns, messages.image_msg(stamp_ns, rgb, 'rgb8'))
                writer.write(depth_conn, stamp_ns, messages.image_msg(stamp_ns, depth, '32FC1'))
                first_ns = stamp_ns if first_ns is None else first_ns
                last_ns = stamp_ns
                count += 1
            if count == 0:
                raise BagWriteError('the trajectory has no frames; nothing to write')
    except BaseException as exc:
        _remove_partial(path)
        if isinstance(exc, WriterError):
            raise BagWriteError(f'cannot write bag {path}: {exc}') from exc
        raise
    size = sum(f.stat().st_size for f in path.iterdir() if f.is_file())
    LOG.info('wrote %s: %d frames, %.1f MB', path, count, size / 1e6)
    return BagSummary(
        path=path,
        frames=count,
        topics=(topics['image'], topics['camera_info'], topics['depth']),
        size_bytes=size,
        start_time_ns=int(first_ns),
        end_time_ns=int(last_ns),
    )


def _remove_partial(path: Path) -> None:
    """Remove what an aborted write left in the bag directory it created."""
    if path.is_dir():
        for child in path.iterdir():
            if child.is_file():
                child.unlink()
        try:
            path.rmdir()
        except OSError:
            LOG.warning('could not remove the partial bag %s', path)
