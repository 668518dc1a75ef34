"""
Write a camera trajectory (rendered Frames) as a rosbag2 that plays like a real RGB-D camera.

Storage is MCAP with zstd chunk compression (or SQLite3, uncompressed), written with the
`rosbags` library. Nothing in the output depends on the wall clock or the machine, so the same
frames give the same bytes, metadata.yaml included. By default, per frame, all with one header
(stamp = start time + Frame.time_s):

| topic | type | content |
|---|---|---|
| `<ns>/image_rect` | sensor_msgs/Image | `rgb8` |
| `<ns>/camera_info` | sensor_msgs/CameraInfo | rectified: zero plumb_bob D, R = I, P = [K 0] |
| `<ns>/depth_gt/image` | sensor_msgs/Image | `32FC1` metres along the optical axis, NaN invalid |

BagFormat selects what real drivers write instead: the colour as a CompressedImage (JPEG or PNG)
on `<ns>/image_rect/compressed`; the depth as 16UC1 millimetres, or through image_transport's
compressedDepth on `<depth topic>/compressedDepth` (bag_codecs); and, for RigFrames with a depth
camera, that camera's unaligned depth on `<ns>/depth/image_rect_raw` with its own camera_info
(`<ns>/depth/camera_info`) and frame_id, and the two optical frames on /tf_static (REP 103/105:
`camera_link` -> each `*_optical_frame`; a TransformStamped with header.frame_id = parent and
child_frame_id = child holds the child's pose in the parent, i.e. it maps child coordinates to
parent coordinates), one message at the start, offered transient-local as drivers publish it.

The bag's receive times (log times) equal the header stamps.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, Union

import numpy as np
from ros2_depth.camera_model import PinholeCamera
from ros2_depth.demo.bag_processing import bag_qos
from ros2_depth_trainer.bag_codecs import (
    compressed_depth,
    compressed_image,
    DEPTH_ENCODINGS,
    DEPTH_MAX_M,
    depth_pixels,
    IMAGE_FORMATS,
    quaternion_xyzw,
)
from ros2_depth_trainer.synth.frame import Frame
from ros2_depth_trainer.synth.rig import DepthRig, RigFrame

LOG = logging.getLogger(__name__)

DEFAULT_NAMESPACE = '/camera'
DEFAULT_FRAME_ID = 'camera_optical_frame'
# 2023-11-14T22:13:20Z: a fixed, recognisable start, so that stamps never depend on the clock.
START_TIME_NS = 1_700_000_000 * 1_000_000_000
IMAGE_TOPIC = 'image_rect'
CAMERA_INFO_TOPIC = 'camera_info'
DEPTH_TOPIC = 'depth_gt/image'
DEPTH_CAMERA_TOPIC = 'depth/image_rect_raw'
DEPTH_CAMERA_INFO_TOPIC = 'depth/camera_info'
TF_STATIC_TOPIC = '/tf_static'
DEFAULT_DEPTH_FRAME_ID = 'camera_depth_optical_frame'
DEFAULT_BASE_FRAME_ID = 'camera_link'
IMAGE_TYPE = 'sensor_msgs/msg/Image'
COMPRESSED_IMAGE_TYPE = 'sensor_msgs/msg/CompressedImage'
CAMERA_INFO_TYPE = 'sensor_msgs/msg/CameraInfo'
TF_TYPE = 'tf2_msgs/msg/TFMessage'
BAG_VERSION = 9
STORAGES = ('mcap', 'sqlite3')
# Optical frame (x right, y down, z forward) axes in the camera body frame of REP 103 (x forward,
# y left, z up): the rotation of camera_link -> *_optical_frame when the origins coincide.
OPTICAL_IN_BODY = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


class BagWriteError(RuntimeError):
    """The bag cannot be written; the message says why and what to do."""


@dataclasses.dataclass(frozen=True)
class BagFormat:
    """
    How the bag stores a trajectory; the defaults write the sample bags' format.

    storage: 'mcap' or 'sqlite3'. image_format: 'raw' (Image rgb8), 'jpeg' or 'png'
    (CompressedImage on <image>/compressed). depth_encoding: '32FC1' or '16UC1' (mm); None means
    32FC1 for the aligned depth_gt topic, 16UC1 for a depth camera, as drivers publish it.
    compressed_depth: send the depth through compressedDepth (PNG) on <depth>/compressedDepth,
    with the plugin's depth_max (metres). depth_frame_id and base_frame_id name the depth
    camera's optical frame and the camera body frame on /tf_static.
    """

    storage: str = 'mcap'
    image_format: str = 'raw'
    jpeg_quality: int = 95
    depth_encoding: Optional[str] = None
    compressed_depth: bool = False
    compressed_depth_max_m: float = DEPTH_MAX_M
    depth_frame_id: str = DEFAULT_DEPTH_FRAME_ID
    base_frame_id: str = DEFAULT_BASE_FRAME_ID

    def __post_init__(self) -> None:
        """Reject unknown storages, formats and encodings with the known ones."""
        for name, value, known in (('storage', self.storage, STORAGES),
                                   ('image_format', self.image_format, ('raw',) + IMAGE_FORMATS),
                                   ('depth_encoding', self.depth_encoding,
                                    (None,) + DEPTH_ENCODINGS)):
            if value not in known:
                raise BagWriteError(f'{name} {value!r} is not one of {known}')
        if not 0 <= self.jpeg_quality <= 100:
            raise BagWriteError(f'jpeg_quality must be 0-100, got {self.jpeg_quality}')
        if not self.compressed_depth_max_m > 0:
            raise BagWriteError(f'compressed_depth_max_m must be positive, got '
                                f'{self.compressed_depth_max_m}')

    def depth_encoding_for(self, depth_camera: bool) -> str:
        """Return the depth encoding: the chosen one, else 16UC1 for a depth camera, else 32FC1."""
        if self.depth_encoding is not None:
            return self.depth_encoding
        return '16UC1' if depth_camera else '32FC1'


@dataclasses.dataclass(frozen=True)
class BagSummary:
    """What was written: the bag directory, frame count, topics and total size on disk."""

    path: Path
    frames: int
    topics: Tuple[str, ...]
    size_bytes: int
    start_time_ns: int
    end_time_ns: int


def bag_topics(namespace: str = DEFAULT_NAMESPACE, bag_format: Optional[BagFormat] = None,
               depth_camera: bool = False) -> Dict[str, str]:
    """
    Return the full topic names in `namespace`: image, camera_info and depth.

    With a depth camera also depth_camera_info and tf_static; compressed topics carry their
    transport suffix.
    """
    bag_format = bag_format or BagFormat()
    ns = '/' + namespace.strip('/') if namespace.strip('/') else ''
    topics = {
        'image': f'{ns}/{IMAGE_TOPIC}',
        'camera_info': f'{ns}/{CAMERA_INFO_TOPIC}',
        'depth': f'{ns}/{DEPTH_CAMERA_TOPIC if depth_camera else DEPTH_TOPIC}',
    }
    if bag_format.image_format != 'raw':
        topics['image'] += '/compressed'
    if bag_format.compressed_depth:
        topics['depth'] += '/compressedDepth'
    if depth_camera:
        topics['depth_camera_info'] = f'{ns}/{DEPTH_CAMERA_INFO_TOPIC}'
        topics['tf_static'] = TF_STATIC_TOPIC
    return topics


def static_tf_qos() -> Any:
    """Return the QoS /tf_static is offered with: reliable, transient local, keep last 1."""
    return bag_qos(transient_local=True)


def camera_transforms(rig: DepthRig) -> List[Tuple[np.ndarray, np.ndarray]]:
    """
    Return (rotation, translation) of the colour and the depth optical frame in camera_link.

    camera_link (REP 103: x forward, y left, z up) sits at the colour camera; each pair maps
    optical-frame points into camera_link: p_link = rotation @ p_optical + translation.
    """
    return [(OPTICAL_IN_BODY, np.zeros(3)),
            (OPTICAL_IN_BODY @ rig.rotation, OPTICAL_IN_BODY @ np.asarray(rig.translation))]


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
        self.compressed = types[COMPRESSED_IMAGE_TYPE]
        self.info = types[CAMERA_INFO_TYPE]
        self.roi = types['sensor_msgs/msg/RegionOfInterest']
        self.tf = types[TF_TYPE]
        self.transform_stamped = types['geometry_msgs/msg/TransformStamped']
        self.transform = types['geometry_msgs/msg/Transform']
        self.vector = types['geometry_msgs/msg/Vector3']
        self.quaternion = types['geometry_msgs/msg/Quaternion']

    def _header(self, stamp_ns: int, frame_id: Optional[str] = None) -> Any:
        sec, nanosec = divmod(stamp_ns, 1_000_000_000)
        return self.header(stamp=self.time(sec=sec, nanosec=nanosec),
                           frame_id=self.frame_id if frame_id is None else frame_id)

    def image_msg(self, stamp_ns: int, pixels: np.ndarray, encoding: str,
                  frame_id: Optional[str] = None) -> bytes:
        """Serialise an unpadded little-endian Image."""
        height, width = pixels.shape[:2]
        data = np.frombuffer(np.ascontiguousarray(pixels).tobytes(), np.uint8)
        msg = self.image(
            header=self._header(stamp_ns, frame_id),
            height=height,
            width=width,
            encoding=encoding,
            is_bigendian=0,
            step=data.size // height,
            data=data,
        )
        return bytes(self.store.serialize_cdr(msg, IMAGE_TYPE))

    def compressed_msg(self, stamp_ns: int, image_format: str, data: bytes,
                       frame_id: Optional[str] = None) -> bytes:
        """Serialise a CompressedImage with its format string."""
        msg = self.compressed(header=self._header(stamp_ns, frame_id), format=image_format,
                              data=np.frombuffer(data, np.uint8))
        return bytes(self.store.serialize_cdr(msg, COMPRESSED_IMAGE_TYPE))

    def camera_info_msg(self, stamp_ns: int, camera: PinholeCamera,
                        frame_id: Optional[str] = None) -> bytes:
        """Serialise a rectified CameraInfo: zero plumb_bob distortion, R = I, P = [K 0]."""
        k = camera.k
        msg = self.info(
            header=self._header(stamp_ns, frame_id),
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

    def tf_msg(self, stamp_ns: int, parent: str,
               children: List[Tuple[str, np.ndarray, np.ndarray]]) -> bytes:
        """Serialise a TFMessage of parent -> (child, rotation, translation) transforms."""
        transforms = []
        for child, rotation, translation in children:
            x, y, z, w = (float(v) for v in quaternion_xyzw(rotation))
            tx, ty, tz = (float(v) for v in translation)
            transforms.append(self.transform_stamped(
                header=self._header(stamp_ns, parent), child_frame_id=child,
                transform=self.transform(translation=self.vector(x=tx, y=ty, z=tz),
                                         rotation=self.quaternion(x=x, y=y, z=z, w=w))))
        return bytes(self.store.serialize_cdr(self.tf(transforms=transforms), TF_TYPE))


def _checked_image(frame: Frame, index: int, what: str = '') -> np.ndarray:
    """Return the frame's rgb (uint8 (H, W, 3) on its camera's grid) or raise BagWriteError."""
    camera = frame.camera
    size = (camera.height, camera.width)
    rgb = np.asarray(frame.rgb)
    if rgb.dtype != np.uint8 or rgb.shape != size + (3,):
        raise BagWriteError(
            f'frame {index}: {what}rgb is {rgb.dtype} {rgb.shape}, expected uint8 '
            f'{size + (3,)} to match its {camera.width}x{camera.height} camera'
        )
    return rgb


def _checked_depth(frame: Frame, index: int, what: str = '') -> np.ndarray:
    """Return the frame's depth (little-endian float32, NaN invalid) or raise BagWriteError."""
    camera = frame.camera
    size = (camera.height, camera.width)
    depth = np.asarray(frame.depth)
    if depth.shape != size or depth.dtype.kind != 'f':
        raise BagWriteError(
            f'frame {index}: {what}depth is {depth.dtype} {depth.shape}, expected float metres '
            f'{size}'
        )
    depth = depth.astype('<f4')
    with np.errstate(invalid='ignore'):
        depth[~(np.isfinite(depth) & (depth > 0))] = np.nan
    return depth


def _parts(item: Union[Frame, RigFrame], index: int,
           depth_camera: bool) -> Tuple[Frame, np.ndarray, Frame]:
    """Return the colour frame, its rgb, and the frame whose depth and camera the bag carries."""
    colour = item.colour if isinstance(item, RigFrame) else item
    depth_frame = item.depth if isinstance(item, RigFrame) and item.rig is not None else None
    if (depth_frame is not None) != depth_camera:
        raise BagWriteError(
            f'frame {index}: {"no" if depth_camera else "a"} depth camera, unlike the first '
            'frame; every frame of a trajectory needs the same cameras'
        )
    return colour, _checked_image(colour, index), depth_frame or colour


def frame_stamp_ns(start_time_ns: int, time_s: float) -> int:
    """Return the header stamp of a frame at `time_s` seconds after `start_time_ns`."""
    return start_time_ns + int(round(float(time_s) * 1e9))


def write_bag(
    path: Path,
    frames: Iterable[Union[Frame, RigFrame]],
    namespace: str = DEFAULT_NAMESPACE,
    frame_id: str = DEFAULT_FRAME_ID,
    start_time_ns: int = START_TIME_NS,
    custom_data: Optional[Mapping[str, str]] = None,
    compress: bool = True,
    bag_format: Optional[BagFormat] = None,
) -> BagSummary:
    """
    Write `frames` as a new rosbag2 directory at `path` (MCAP, zstd chunks unless not `compress`).

    Each frame's stamp is `start_time_ns` + round(Frame.time_s in ns); stamps must increase.
    Frames are Frames or RigFrames; RigFrames with a rig put their depth camera's view on the
    depth topic, unaligned, with its camera_info and /tf_static (module docstring).
    `bag_format` picks storage, compression and encodings (default: the sample bags' format;
    SQLite3 bags are never compressed). `custom_data` (string keys and values) goes into
    metadata.yaml, e.g. the command that made the bag. Raises BagWriteError for an existing
    `path`, a bad frame or an empty trajectory.
    """
    from rosbags.rosbag2 import Writer, WriterError
    from rosbags.rosbag2.enums import CompressionFormat, CompressionMode, StoragePlugin

    path = Path(path)
    if path.exists():
        raise BagWriteError(f'{path} exists already; remove it or choose another output folder')
    bag_format = bag_format or BagFormat()
    iterator = iter(frames)
    first = next(iterator, None)
    if first is None:
        raise BagWriteError('the trajectory has no frames; nothing to write')
    rig = first.rig if isinstance(first, RigFrame) else None
    topics = bag_topics(namespace, bag_format, depth_camera=rig is not None)
    depth_encoding = bag_format.depth_encoding_for(rig is not None)
    depth_frame_id = frame_id if rig is None else bag_format.depth_frame_id
    messages = _Messages(frame_id)
    storage = StoragePlugin.MCAP if bag_format.storage == 'mcap' else StoragePlugin.SQLITE3
    writer = Writer(path, version=BAG_VERSION, storage_plugin=storage)
    if compress and bag_format.storage == 'mcap':
        writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
    for key, value in sorted((custom_data or {}).items()):
        writer.set_custom_data(str(key), str(value))
    count, first_ns, last_ns = 0, None, None
    try:
        with writer:
            def connection(key: str, msgtype: str, qos: Tuple = ()) -> Any:
                return writer.add_connection(topics[key], msgtype, typestore=messages.store,
                                             offered_qos_profiles=qos)

            tf_conn = connection('tf_static', TF_TYPE, (static_tf_qos(),)) if rig else None
            info_conn = connection('camera_info', CAMERA_INFO_TYPE)
            image_conn = connection(
                'image', IMAGE_TYPE if bag_format.image_format == 'raw' else COMPRESSED_IMAGE_TYPE)
            depth_info_conn = connection('depth_camera_info', CAMERA_INFO_TYPE) if rig else None
            depth_conn = connection(
                'depth', COMPRESSED_IMAGE_TYPE if bag_format.compressed_depth else IMAGE_TYPE)
            for index, item in enumerate(itertools.chain([first], iterator)):
                colour, rgb, depth_frame = _parts(item, index, rig is not None)
                depth = _checked_depth(depth_frame, index, 'depth camera ' if rig else '')
                stamp_ns = frame_stamp_ns(start_time_ns, colour.time_s)
                if last_ns is not None and stamp_ns <= last_ns:
                    raise BagWriteError(
                        f'frame {index}: time_s {colour.time_s} does not increase; a trajectory '
                        'needs strictly increasing frame times'
                    )
                if tf_conn is not None and index == 0:
                    children = zip((frame_id, bag_format.depth_frame_id), camera_transforms(rig))
                    writer.write(tf_conn, stamp_ns, messages.tf_msg(
                        stamp_ns, bag_format.base_frame_id,
                        [(child, r, t) for child, (r, t) in children]))
                writer.write(info_conn, stamp_ns,
                             messages.camera_info_msg(stamp_ns, colour.camera))
                if bag_format.image_format == 'raw':
                    writer.write(image_conn, stamp_ns, messages.image_msg(stamp_ns, rgb, 'rgb8'))
                else:
                    writer.write(image_conn, stamp_ns, messages.compressed_msg(
                        stamp_ns, *compressed_image(rgb, bag_format.image_format,
                                                    bag_format.jpeg_quality)))
                if depth_info_conn is not None:
                    writer.write(depth_info_conn, stamp_ns, messages.camera_info_msg(
                        stamp_ns, depth_frame.camera, depth_frame_id))
                if bag_format.compressed_depth:
                    writer.write(depth_conn, stamp_ns, messages.compressed_msg(
                        stamp_ns, *compressed_depth(depth, depth_encoding,
                                                    bag_format.compressed_depth_max_m),
                        depth_frame_id))
                else:
                    writer.write(depth_conn, stamp_ns, messages.image_msg(
                        stamp_ns, depth_pixels(depth, depth_encoding), depth_encoding,
                        depth_frame_id))
                first_ns = stamp_ns if first_ns is None else first_ns
                last_ns = stamp_ns
                count += 1
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
        topics=tuple(topics.values()),
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
