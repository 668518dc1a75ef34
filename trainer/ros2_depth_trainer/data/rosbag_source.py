"""
An RGB-D rosbag2 recording (MCAP or SQLite3) as RecordedFrames, read with `rosbags` (no ROS).

What is read:

- colour: sensor_msgs/Image rgb8, bgr8, rgba8, bgra8 or mono8; or sensor_msgs/CompressedImage
  JPEG or PNG (image_transport ``compressed``: format ``'rgb8; jpeg compressed bgr8'``, or a
  bare ``'jpeg'``);
- depth: sensor_msgs/Image 16UC1 (millimetres) or 32FC1 (metres), 0 or NaN = no depth; or
  sensor_msgs/CompressedImage from image_transport ``compressedDepth`` (format
  ``'16UC1; compressedDepth png'`` or ``32FC1``), or a 16-bit PNG in ``compressed``
  (``'16UC1; png compressed'``);
- each image's sensor_msgs/CameraInfo: P (K when P is zero), binning and ROI, as ``depth_node``
  reads it;
- tf2_msgs/TFMessage on ``/tf_static``: the depth -> colour transform of unaligned depth.

compressedDepth data is a 12-byte ConfigHeader (int32 format, float32 depthQuantA, float32
depthQuantB, little-endian) and a single-channel 16-bit PNG: for 16UC1 the millimetres as they
are; for 32FC1 quantised inverse depth, z = depthQuantA / (value - depthQuantB), 0 = no depth (as
image_transport_plugins' ``compressed_depth_image_transport`` decodes it). RVL is refused.

**Topics** are found by message type, the first message's encoding or format, and the names
drivers use (RealSense ``color/image_raw`` with ``aligned_depth_to_color/image_raw`` or
``depth/image_rect_raw``, Azure Kinect ``rgb/image_raw`` with ``depth_to_rgb/image_raw`` or
``depth/image_raw``, ZED ``rgb/image_rect_color`` with ``depth/depth_registered``, OAK-D
``rgb/image_raw`` with ``stereo/image_raw``, and synth-bag's own): depth registered to the colour
camera is preferred, then the depth stream nearest the colour topic's namespace, then raw images
before their compressed copies. A depth topic must have a known name or 'depth' in it (an
infrared 16UC1 stream is no depth). Each image's camera_info is ``camera_info`` in its namespace
or the nearest parent namespace. Any of them can be set by keyword; two equally good candidates
are an error that lists them.

**Pairs.** Colour and depth are paired one to one by header stamp, nearest first, within
``stamp_tolerance`` seconds; unpaired frames are dropped (and counted in the log). A
camera_info that never changes serves every frame; one that changes is matched to each image by
stamp within the same tolerance.

**Registration** (``depth_registration.register_depth``): depth with the colour image's frame_id
and the same intrinsics and size is used as it is (e.g. RealSense ``aligned_depth_to_color``).
Other depth is splatted into the colour camera with both camera_infos and T_colour_depth: the
``extrinsics`` keyword if given, else the same frame (identity), else the chain of static
transforms in the bag's /tf_static between the two frame_ids (through e.g. ``camera_link``). No
chain and no extrinsics is an error, except for depth with exactly the colour camera's intrinsics
and size, which only a registered stream has: it is used as it is, with a warning.

**Distortion.** Images are taken as pinhole images with the camera_info's P. A camera_info
with non-zero distortion coefficients on a topic whose name does not say it is rectified
('rect') means a raw, distorted image: by default (``distortion='warn'``) it is used as if it
were undistorted, and one warning gives the largest shift this causes on the image border, in
pixels (registration, and the intrinsics the model sees, are off by up to that much at the
edges); ``distortion='error'`` refuses such a bag; 'ignore' says nothing. Record the
``image_rect`` topics (image_proc) for exact geometry.

**Memory.** The bag is read once, to index it: each image message is kept as its header stamp,
frame_id, size and place in the bag (topic, receive time, rank among messages of that receive
time); camera_infos and static transforms are kept decoded. A frame's ``load`` re-reads its two
messages through the storage's time index (one MCAP chunk, or one SQLite row lookup) with a reader
opened once per process and thread, and decodes them. So a 2,500-frame 640x480 recording (about
4.6 GB of raw images) costs well under 100 MB in memory, whatever its compression, and DataLoader
workers each read the bag on their own. (A bag compressed as whole files is unpacked to a
temporary folder by each process that reads it.)

Every problem is a RecordingError with one line naming the bag, and the topic and stamp of a
message, and what is wrong.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
from pathlib import Path
import re
import struct
import threading
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from ros2_depth.camera_model import camera_from_info, CameraInfoError, PinholeCamera
from ros2_depth.demo.bag_source import depth_to_metres
from ros2_depth.image_encoding import image_to_numpy
from ros2_depth_trainer.bag_writer import DEPTH_TOPIC as SYNTH_DEPTH_TOPIC
from ros2_depth_trainer.bag_writer import IMAGE_TOPIC as SYNTH_IMAGE_TOPIC
from ros2_depth_trainer.data.depth_registration import (
    chain_transform, describe_chain, distortion_shift_px, NEGLIGIBLE_DISTORTION_PX,
    parse_extrinsics, register_depth, transform_matrix)
from ros2_depth_trainer.data.recording import FrameArrays, RecordedFrame, RecordingError

LOG = logging.getLogger(__name__)

IMAGE_TYPE = 'sensor_msgs/msg/Image'
COMPRESSED_TYPE = 'sensor_msgs/msg/CompressedImage'
CAMERA_INFO_TYPE = 'sensor_msgs/msg/CameraInfo'
TF_TYPE = 'tf2_msgs/msg/TFMessage'
COLOUR_ENCODINGS = ('rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8')
DEPTH_ENCODINGS = ('16UC1', '32FC1')
DISTORTION_POLICIES = ('warn', 'error', 'ignore')
# compressed_depth_image_transport's ConfigHeader: int32 format, float32 depthQuantA, depthQuantB.
CONFIG_HEADER = struct.Struct('<iff')
# image_transport suffixes: a topic '<base>/<transport>' carries <base>'s images.
TRANSPORTS = ('compressed', 'compressedDepth', 'zstd', 'theora', 'ffmpeg')
# Topic name endings drivers use, best first (aligned depth before unaligned).
COLOUR_NAMES = ('color/image_raw', 'color/image_rect_raw', 'color/image_rect', 'rgb/image_raw',
                'rgb/image_rect_color', 'rgb/image_rect', SYNTH_IMAGE_TOPIC,
                'left/image_rect_color', 'image_rect_color', 'image_color')
DEPTH_NAMES = ('aligned_depth_to_color/image_raw', 'depth_to_rgb/image_raw',
               'depth_registered/image_raw', 'depth_registered/image_rect',
               'depth/depth_registered', SYNTH_DEPTH_TOPIC, 'stereo/image_raw',
               'depth/image_rect_raw', 'depth/image_rect', 'depth/image_raw', 'stereo/depth')
NOT_COLOUR_WORDS = {'depth', 'ir', 'infra', 'infra1', 'infra2', 'disparity', 'confidence'}

BagPath = Union[str, os.PathLike]


def _one_line(exc: BaseException) -> str:
    """Return an exception's message on one line, without a trailing full stop."""
    return (' '.join(str(exc).split()) or type(exc).__name__).rstrip('.')


def _seconds(stamp_ns: int) -> str:
    """Format a stamp as seconds for messages."""
    return f'{stamp_ns / 1e9:.6f} s'


@functools.lru_cache(maxsize=1)
def _typestore() -> Any:
    """Return the message definitions of ROS 2's sensor, tf and std messages (one per process)."""
    from rosbags.typesys import get_typestore, Stores

    return get_typestore(Stores.ROS2_HUMBLE)


def _open_reader(path: Path) -> Any:
    """Open a rosbag2 with rosbags; RecordingError naming the bag and why it cannot be read."""
    from rosbags.rosbag2 import Reader

    if not path.exists():
        raise RecordingError(f'{path}: no such bag (give a rosbag2 folder, or its .mcap or '
                             '.db3 file)')
    if path.is_dir() and not (path / 'metadata.yaml').is_file():
        raise RecordingError(f'{path}: not a rosbag2 folder (no metadata.yaml); give the bag '
                             'folder or its .mcap or .db3 file')
    try:
        reader = Reader(path)
        reader.open()
    except Exception as exc:  # rosbags raises its own and storage (sqlite, zstd, OS) errors
        raise RecordingError(f'{path}: cannot open the bag ({_one_line(exc)}): it is truncated '
                             'or corrupt, e.g. the recorder was killed before it closed the '
                             'file; record it again or repair it') from None
    return reader


@dataclasses.dataclass(frozen=True)
class _MessageRef:
    """Where one image message lies in the bag, and its header stamp."""

    topic: str
    msgtype: str
    log_ns: int  # receive time in the bag
    rank: int  # among the topic's messages with this receive time
    stamp_ns: int


class _BagMessages:
    """Re-reads single messages of one bag; a reader per process and thread (pickles as a path)."""

    def __init__(self, path: Path) -> None:
        """Remember the bag; open nothing yet."""
        self.path = path
        self._readers: Dict[Tuple[int, int], Any] = {}

    def __getstate__(self) -> Dict[str, Any]:
        """Pickle the path alone: readers belong to the process that opened them."""
        return {'path': self.path}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        """Restore the path, with no reader open."""
        self.path = state['path']
        self._readers = {}

    def where(self, ref: _MessageRef) -> str:
        """Name a message for error lines: 'bag: topic @ stamp'."""
        return f'{self.path}: {ref.topic} @ {_seconds(ref.stamp_ns)}'

    def message(self, ref: _MessageRef) -> Any:
        """Read and deserialise one message; RecordingError naming it when that fails."""
        key = (os.getpid(), threading.get_ident())
        reader = self._readers.get(key)
        if reader is None:
            reader = self._readers[key] = _open_reader(self.path)
        connections = [c for c in reader.connections if c.topic == ref.topic]
        messages = reader.messages(connections=connections, start=ref.log_ns,
                                   stop=ref.log_ns + 1) if connections else iter(())
        try:
            for rank, (_, _, raw) in enumerate(messages):
                if rank == ref.rank:
                    return _typestore().deserialize_cdr(raw, ref.msgtype)
        except Exception as exc:  # storage and deserialisation errors of a damaged bag
            raise RecordingError(f'{self.where(ref)}: cannot read the message '
                                 f'({_one_line(exc)}); the bag is corrupt') from None
        finally:
            getattr(messages, 'close', lambda: None)()
        raise RecordingError(f'{self.where(ref)}: the message is no longer in the bag (was the '
                             'bag changed after it was indexed?)')


# Decoding.
def _compressed_role(image_format: str) -> str:
    """Return 'depth' or 'colour' for a CompressedImage format string."""
    if 'compresseddepth' in image_format.lower():
        return 'depth'
    encoding = image_format.split(';', 1)[0].strip() if ';' in image_format else ''
    return 'depth' if encoding in DEPTH_ENCODINGS else 'colour'


def _as_rgb(pixels: np.ndarray, channel_order: str) -> np.ndarray:
    """Return (H, W, 3) uint8 RGB from mono, RGB(A) or BGR(A) pixels, as a writeable copy."""
    if pixels.ndim == 2:
        return np.repeat(pixels[:, :, None], 3, axis=2)
    if channel_order.startswith('bgr'):
        return np.ascontiguousarray(pixels[:, :, 2::-1])
    rgb = np.ascontiguousarray(pixels[:, :, :3])
    return rgb if rgb.flags.writeable else rgb.copy()  # not a view of the message buffer


def _imdecode(data: Any, what: str) -> np.ndarray:
    """Decode JPEG/PNG bytes unchanged (bit depth and channels kept); ValueError if unreadable."""
    buffer = np.frombuffer(memoryview(data), np.uint8)
    image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED) if buffer.size else None
    if image is None:
        raise ValueError(f'cannot decode the {what} ({buffer.size} bytes): corrupt, truncated '
                         'or not a JPEG/PNG image')
    return image


def _raw_pixels(msg: Any, encodings: Sequence[str], role: str) -> np.ndarray:
    """Return the pixels of an Image message whose encoding is one of `encodings`."""
    encoding = str(msg.encoding)
    if encoding not in encodings:
        raise ValueError(f'encoding {encoding!r} is not a {role} encoding; use one of '
                         f'{", ".join(encodings)}')
    return image_to_numpy(msg)


def _uint16_png(data: Any, what: str) -> np.ndarray:
    """Decode a single-channel 16-bit PNG (depth); ValueError naming `what` otherwise."""
    pixels = _imdecode(data, what)
    if pixels.dtype != np.uint16 or pixels.ndim != 2:
        raise ValueError(f'the {what} is {pixels.dtype} with shape {pixels.shape}, not '
                         'single-channel 16-bit')
    return pixels


def decode_colour(msg: Any, msgtype: str) -> np.ndarray:
    """Return a colour Image or CompressedImage message as (H, W, 3) uint8 RGB."""
    if msgtype == IMAGE_TYPE:
        return _as_rgb(_raw_pixels(msg, COLOUR_ENCODINGS, 'colour'), str(msg.encoding))
    image_format = str(msg.format)
    image = _imdecode(msg.data, f'{image_format!r} image')
    if image.dtype != np.uint8 or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise ValueError(f'the {image_format!r} image is {image.dtype} with shape '
                         f'{image.shape}: colour must be 8-bit grey, RGB or RGBA')
    # OpenCV decodes to BGR(A), unless the writer encoded RGB data ('... compressed rgb8').
    after = image_format.split('compressed', 1)[1].strip() if ';' in image_format else ''
    return _as_rgb(image, 'rgb' if after.startswith('rgb') else 'bgr')


def _decode_compressed_depth(image_format: str, data: Any) -> np.ndarray:
    """Return image_transport compressedDepth data as float32 metres, NaN where invalid."""
    encoding = image_format.split(';', 1)[0].strip()
    if encoding not in DEPTH_ENCODINGS:
        raise ValueError(f'compressedDepth format {image_format!r} does not start with a depth '
                         f'encoding ({", ".join(DEPTH_ENCODINGS)})')
    if 'compresseddepth rvl' in image_format.lower():
        raise ValueError(f'format {image_format!r}: RVL compressedDepth is not supported; '
                         'record with format png (the default)')
    data = memoryview(data).cast('B')
    if len(data) <= CONFIG_HEADER.size:
        raise ValueError(f'compressedDepth data holds {len(data)} bytes, no more than its '
                         f'{CONFIG_HEADER.size}-byte header')
    _, quant_a, quant_b = CONFIG_HEADER.unpack_from(data)
    pixels = _uint16_png(data[CONFIG_HEADER.size:], 'PNG behind the compressedDepth header')
    if encoding == '16UC1':
        return depth_to_metres(pixels, '16UC1')
    with np.errstate(divide='ignore', invalid='ignore'):
        depth = np.float32(quant_a) / (pixels.astype(np.float32) - np.float32(quant_b))
        depth[(pixels == 0) | ~(np.isfinite(depth) & (depth > 0))] = np.nan
    return depth


def decode_depth(msg: Any, msgtype: str) -> np.ndarray:
    """Return a depth Image or CompressedImage message as float32 metres, NaN where invalid."""
    if msgtype == IMAGE_TYPE:
        return depth_to_metres(_raw_pixels(msg, DEPTH_ENCODINGS, 'depth'), str(msg.encoding))
    image_format = str(msg.format)
    if 'compresseddepth' in image_format.lower():
        return _decode_compressed_depth(image_format, msg.data)
    if image_format.split(';', 1)[0].strip() != '16UC1':
        raise ValueError(f'format {image_format!r} is not depth: use compressedDepth, or a '
                         '16UC1 PNG')
    return depth_to_metres(_uint16_png(msg.data, f'{image_format!r} depth'), '16UC1')


def _size_error(where: str, what: str, shape: Tuple[int, ...], camera: PinholeCamera,
                info: str) -> RecordingError:
    """Return the error of an image whose size is not its camera_info's."""
    return RecordingError(f'{where}: the {what} is {shape[1]}x{shape[0]} but its camera_info '
                          f'{info} describes {camera.width}x{camera.height}')


class _ColourLoader:
    """Decodes the colour image of one frame (its cheap preview); a class, so that it pickles."""

    def __init__(self, bag: _BagMessages, ref: _MessageRef) -> None:
        """Bind the bag and the colour message."""
        self.bag, self.ref = bag, ref

    def __call__(self) -> np.ndarray:
        """Return the colour image as (H, W, 3) uint8 RGB."""
        msg = self.bag.message(self.ref)
        try:
            return decode_colour(msg, self.ref.msgtype)
        except ValueError as exc:
            raise RecordingError(f'{self.bag.where(self.ref)}: {exc}') from None


@dataclasses.dataclass(frozen=True, eq=False)
class _Geometry:
    """Both cameras of a frame, their camera_info topics and T_colour_depth (None: aligned)."""

    colour: PinholeCamera
    colour_info: str
    depth: PinholeCamera
    depth_info: str
    colour_from_depth: Optional[np.ndarray]


class _FrameLoader:
    """Decodes one frame: colour, depth registered into the colour camera, intrinsics."""

    def __init__(self, bag: _BagMessages, colour: _MessageRef, depth: _MessageRef,
                 geometry: _Geometry) -> None:
        """Bind the bag, the two messages and the cameras."""
        self.colour = _ColourLoader(bag, colour)
        self.bag, self.depth, self.geometry = bag, depth, geometry

    def __call__(self) -> FrameArrays:
        """Return rgb (H, W, 3) uint8, depth (H, W) float32 metres on its grid, fx fy cx cy."""
        geometry = self.geometry
        rgb = self.colour()
        if rgb.shape[:2] != (geometry.colour.height, geometry.colour.width):
            raise _size_error(self.bag.where(self.colour.ref), 'image', rgb.shape,
                              geometry.colour, geometry.colour_info)
        where = self.bag.where(self.depth)
        try:
            depth = decode_depth(self.bag.message(self.depth), self.depth.msgtype)
        except ValueError as exc:
            raise RecordingError(f'{where}: {exc}') from None
        if depth.shape != (geometry.depth.height, geometry.depth.width):
            raise _size_error(where, 'depth image', depth.shape, geometry.depth,
                              geometry.depth_info)
        if geometry.colour_from_depth is not None:
            depth = register_depth(depth, geometry.depth, geometry.colour,
                                   geometry.colour_from_depth)
        camera = geometry.colour
        return rgb, depth, (camera.fx, camera.fy, camera.cx, camera.cy)


# Indexing.
@dataclasses.dataclass(frozen=True)
class _CameraInfo:
    """One decoded camera_info message."""

    stamp_ns: int
    camera: PinholeCamera
    frame_id: str
    distortion_model: str
    d: Tuple[float, ...]

    def same_calibration(self, other: '_CameraInfo') -> bool:
        """Whether two camera_infos describe the same camera (stamps aside)."""
        return (self.camera, self.frame_id, self.distortion_model, self.d) == (
            other.camera, other.frame_id, other.distortion_model, other.d)


@dataclasses.dataclass
class _Image:
    """One indexed image message: where it is, its frame_id and (for Image) its size."""

    ref: _MessageRef
    frame_id: str
    size: Optional[Tuple[int, int]]  # (width, height); None for CompressedImage


def _base_topic(topic: str) -> str:
    """Return the topic without an image_transport suffix ('/x/image/compressed' -> '/x/image')."""
    head, _, last = topic.rpartition('/')
    return head if last in TRANSPORTS and head else topic


def _words(topic: str) -> set:
    """Return the words of a topic name."""
    return set(re.split(r'[/_]', topic.lower())) - {''}


def _name_rank(topic: str, names: Sequence[str]) -> int:
    """Rank of the best known name the topic ends with (higher is better; 0: none)."""
    base = _base_topic(topic)
    for index, name in enumerate(names):
        if base == '/' + name or base.endswith('/' + name):
            return len(names) - index
    return 0


def _shared_namespace(a: str, b: str) -> int:
    """Return how many leading namespace parts two topics share."""
    count = 0
    for x, y in zip(a.strip('/').split('/')[:-1], b.strip('/').split('/')[:-1]):
        if x != y:
            break
        count += 1
    return count


class _BagIndex:
    """The topics of one bag, their first messages, and the index of the chosen ones."""

    def __init__(self, path: Path) -> None:
        """Open the bag and list its topics."""
        self.path = path
        self.reader = _open_reader(path)
        self.types: Dict[str, str] = {}
        self.counts: Dict[str, int] = {}
        for conn in self.reader.connections:
            self.types[conn.topic] = conn.msgtype
            self.counts[conn.topic] = self.counts.get(conn.topic, 0) + conn.msgcount
        self._first: Dict[str, Any] = {}

    def close(self) -> None:
        """Close the bag."""
        if self.reader.is_open:
            self.reader.close()

    def _messages(self, topics: Sequence[str]) -> Any:
        """Yield (topic, msgtype, receive time, raw) of topics; storage errors are one line."""
        connections = [c for c in self.reader.connections if c.topic in topics]
        try:
            for conn, log_ns, raw in self.reader.messages(connections=connections):
                yield conn.topic, conn.msgtype, log_ns, raw
        except RecordingError:
            raise
        except Exception as exc:  # storage, decompression and CRC errors of a damaged bag
            raise RecordingError(f'{self.path}: cannot read the messages of '
                                 f'{", ".join(topics)} ({_one_line(exc)}): the bag is truncated '
                                 'or corrupt') from None

    def _deserialise(self, topic: str, msgtype: str, log_ns: int, raw: Any) -> Any:
        try:
            return _typestore().deserialize_cdr(raw, msgtype)
        except Exception as exc:  # a message that does not parse as its type
            raise RecordingError(f'{self.path}: {topic} message received at {_seconds(log_ns)} '
                                 f'is not a valid {msgtype} ({_one_line(exc)}); the bag is '
                                 'corrupt') from None

    def first(self, topic: str) -> Optional[Any]:
        """Return the first message of a topic, deserialised (cached), or None if it has none."""
        if topic not in self._first:
            messages = self._messages([topic])
            try:
                item = next(messages, None)
            finally:
                messages.close()
            self._first[topic] = None if item is None else self._deserialise(*item)
        return self._first[topic]

    def describe(self, topic: str) -> str:
        """'topic (Image rgb8)' for candidate lists."""
        msgtype = self.types.get(topic, '?')
        what = msgtype.rsplit('/', 1)[-1]
        msg = self.first(topic) if msgtype in (IMAGE_TYPE, COMPRESSED_TYPE) else None
        if msg is not None:
            what += ' ' + (str(msg.encoding) if msgtype == IMAGE_TYPE else repr(str(msg.format)))
        elif self.counts.get(topic, 0) == 0:
            what += ', no messages'
        return f'{topic} ({what})'

    def topics_of(self, *msgtypes: str) -> List[str]:
        """Topics of the given types that hold messages, sorted."""
        return sorted(t for t, ty in self.types.items() if ty in msgtypes and self.counts[t] > 0)

    def role(self, topic: str) -> Optional[str]:
        """'colour', 'depth' or None for an image topic, from its first message."""
        msg = self.first(topic)
        if msg is None:
            return None
        if self.types[topic] == IMAGE_TYPE:
            encoding = str(msg.encoding)
            return ('colour' if encoding in COLOUR_ENCODINGS
                    else 'depth' if encoding in DEPTH_ENCODINGS else None)
        return _compressed_role(str(msg.format))

    def read(self, topics: Sequence[str]) -> Any:
        """Yield (topic, msgtype, receive time, rank, message) of the topics, in bag order."""
        ranks: Dict[Tuple[str, int], int] = {}
        for topic, msgtype, log_ns, raw in self._messages(topics):
            rank = ranks.get((topic, log_ns), 0)
            ranks[(topic, log_ns)] = rank + 1
            yield topic, msgtype, log_ns, rank, self._deserialise(topic, msgtype, log_ns, raw)


def _stamp_ns(msg: Any) -> int:
    """Header stamp of a message in nanoseconds."""
    return int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)


def _pick(index: _BagIndex, candidates: List[str], rank: Any, role: str, option: str) -> str:
    """Return the best-ranked candidate; RecordingError listing the ties."""
    ranked = sorted(candidates, key=rank, reverse=True)
    tied = [t for t in ranked if rank(t) == rank(ranked[0])]
    if len(tied) > 1:
        raise RecordingError(f'{index.path}: several {role} topics fit equally: '
                             f'{", ".join(index.describe(t) for t in sorted(tied))}; choose one '
                             f'with {option}')
    return ranked[0]


def _check_topic(index: _BagIndex, topic: str, msgtypes: Tuple[str, ...], role: str,
                 option: str) -> None:
    """Refuse a topic set by keyword that is missing, of the wrong type, empty or not `role`."""
    listing = ', '.join(index.describe(t) for t in index.topics_of(*msgtypes)) or 'none'
    if topic not in index.types:
        raise RecordingError(f'{index.path}: {option} {topic} is not in the bag; its '
                             f'{" / ".join(m.rsplit("/", 1)[-1] for m in msgtypes)} topics: '
                             f'{listing}')
    if index.types[topic] not in msgtypes:
        raise RecordingError(f'{index.path}: {option} {topic} is {index.types[topic]}, not '
                             f'{" or ".join(msgtypes)}; candidates: {listing}')
    if index.counts[topic] == 0:
        raise RecordingError(f'{index.path}: {option} {topic} has no messages')
    if role and index.role(topic) != role:
        raise RecordingError(f'{index.path}: {option} {index.describe(topic)} is not a {role} '
                             f'image')


def _find_topics(index: _BagIndex, colour: Optional[str],
                 depth: Optional[str]) -> Tuple[str, str]:
    """Return the colour and depth image topics (given, or detected)."""
    images = index.topics_of(IMAGE_TYPE, COMPRESSED_TYPE)
    listing = ', '.join(index.describe(t) for t in images) or 'none'
    if colour:
        _check_topic(index, colour, (IMAGE_TYPE, COMPRESSED_TYPE), 'colour', 'color_topic')
    else:
        candidates = [t for t in images if index.role(t) == 'colour']
        if not candidates:
            raise RecordingError(f'{index.path}: no colour image topic (Image '
                                 f'{"/".join(COLOUR_ENCODINGS)}, or CompressedImage JPEG/PNG); '
                                 f'its image topics: {listing}')
        colour = _pick(index, candidates, lambda t: (
            _name_rank(t, COLOUR_NAMES), not (_words(t) & NOT_COLOUR_WORDS),
            index.types[t] == IMAGE_TYPE), 'colour', 'color_topic')
    if depth:
        _check_topic(index, depth, (IMAGE_TYPE, COMPRESSED_TYPE), 'depth', 'depth_topic')
    else:
        candidates = [t for t in images if t != colour and index.role(t) == 'depth'
                      and (_name_rank(t, DEPTH_NAMES) or 'depth' in t.lower())]
        if not candidates:
            raise RecordingError(f'{index.path}: no depth topic (Image 16UC1/32FC1, or '
                                 'CompressedImage compressedDepth, named like depth); its image '
                                 f'topics: {listing}; set depth_topic if one of them is depth')
        depth = _pick(index, candidates, lambda t: (
            _shared_namespace(t, colour), _name_rank(t, DEPTH_NAMES),
            index.types[t] == IMAGE_TYPE), 'depth', 'depth_topic')
    return colour, depth


def _find_info(index: _BagIndex, image_topic: str, given: Optional[str],
               option: str) -> Optional[str]:
    """Return the camera_info topic of an image topic: given, or the nearest namespace's."""
    if given:
        _check_topic(index, given, (CAMERA_INFO_TYPE,), '', option)
        return given
    infos = index.topics_of(CAMERA_INFO_TYPE)
    namespace = _base_topic(image_topic).rsplit('/', 1)[0]
    while True:
        topic = f'{namespace}/camera_info'
        if topic in infos:
            return topic
        if not namespace:
            return None
        namespace = namespace.rsplit('/', 1)[0]


class _InfoTrack:
    """The camera_infos of one topic: a constant one, or one per stamp."""

    def __init__(self, topic: str, infos: List[_CameraInfo]) -> None:
        """Sort the camera_infos by stamp and see whether they ever change."""
        self.topic = topic
        self.infos = sorted(infos, key=lambda info: info.stamp_ns)
        self.constant = all(info.same_calibration(self.infos[-1]) for info in self.infos)
        self.stamps = np.array([info.stamp_ns for info in self.infos], dtype=np.int64)

    def at(self, stamp_ns: int, tolerance_ns: int) -> Optional[_CameraInfo]:
        """Return an image's camera_info: the constant one, or the nearest in stamp if close."""
        if self.constant:
            return self.infos[-1]
        position = int(np.searchsorted(self.stamps, stamp_ns))
        near = [i for i in (position - 1, position) if 0 <= i < len(self.infos)]
        best = min(near, key=lambda i: abs(int(self.stamps[i]) - stamp_ns))
        return self.infos[best] if abs(int(self.stamps[best]) - stamp_ns) <= tolerance_ns else None


def match_stamps(first: Sequence[int], second: Sequence[int],
                 tolerance: int) -> List[Tuple[int, int]]:
    """
    Pair two lists of stamps one to one, nearest first, within `tolerance` (same unit).

    Each stamp of `first` is offered its two neighbours in `second`; the candidate pairs are taken
    in order of their gap, skipping stamps already paired. Returns (i, j) sorted by i.
    """
    a = np.asarray(first, dtype=np.int64)
    b = np.asarray(second, dtype=np.int64)
    if not a.size or not b.size:
        return []
    order = np.argsort(b, kind='stable')
    position = np.searchsorted(b[order], a)
    rows, cols = [], []
    for offset in (-1, 0):
        j = position + offset
        ok = (j >= 0) & (j < b.size)
        rows.append(np.nonzero(ok)[0])
        cols.append(order[j[ok]])
    i, j = np.concatenate(rows), np.concatenate(cols)
    gap = np.abs(a[i] - b[j])
    close = gap <= tolerance
    i, j, gap = i[close], j[close], gap[close]
    pairs, used_a, used_b = [], set(), set()
    for k in np.lexsort((j, i, gap)):
        if i[k] not in used_a and j[k] not in used_b:
            used_a.add(i[k])
            used_b.add(j[k])
            pairs.append((int(i[k]), int(j[k])))
    return sorted(pairs)


def _check_distortion(path: Path, topic: str, info: _CameraInfo, policy: str) -> None:
    """Warn about (or refuse) a distorted image that is read as a pinhole one."""
    if not any(info.d) or 'rect' in _base_topic(topic).lower():
        return
    shift = distortion_shift_px(info.distortion_model, info.d, info.camera)
    if shift is not None and shift < NEGLIGIBLE_DISTORTION_PX:
        return
    size = 'an unknown amount' if shift is None else f'up to {shift:.1f} px'
    text = (f'{path}: {topic} is not rectified and its camera_info has {info.distortion_model} '
            f'distortion {list(info.d)}: read as a pinhole image, its geometry is off by {size} '
            'at the image border; record the rectified image_rect topics (image_proc)')
    if policy == 'error':
        raise RecordingError(text + ", or pass distortion='warn' to accept it")
    if policy == 'warn':
        LOG.warning('%s', text)


@dataclasses.dataclass
class _Index:
    """What one pass over the bag keeps: image messages, camera_infos, static transforms."""

    images: Dict[str, List[_Image]]
    infos: Dict[str, List[_CameraInfo]]
    edges: Dict[Tuple[str, str], np.ndarray]


def _read_index(index: _BagIndex, image_topics: Sequence[str], info_topics: Sequence[str],
                tf_topics: Sequence[str]) -> _Index:
    """Read the chosen topics once: index the images, decode camera_infos and transforms."""
    found = _Index({topic: [] for topic in image_topics}, {topic: [] for topic in info_topics},
                   {})
    for topic, msgtype, log_ns, rank, msg in index.read(
            list(image_topics) + list(info_topics) + list(tf_topics)):
        if msgtype == TF_TYPE:
            for item in msg.transforms:
                t, q = item.transform.translation, item.transform.rotation
                try:
                    found.edges[(str(item.header.frame_id), str(item.child_frame_id))] = \
                        transform_matrix((t.x, t.y, t.z), (q.x, q.y, q.z, q.w))
                except ValueError as exc:
                    raise RecordingError(f'{index.path}: {topic} @ {_seconds(log_ns)}: transform '
                                         f'{item.header.frame_id} -> {item.child_frame_id}: '
                                         f'{exc}') from None
        elif msgtype == CAMERA_INFO_TYPE:
            try:
                camera = camera_from_info(msg)
            except CameraInfoError as exc:
                raise RecordingError(f'{index.path}: {topic} @ {_seconds(_stamp_ns(msg))}: '
                                     f'{exc}') from None
            found.infos[topic].append(_CameraInfo(
                _stamp_ns(msg), camera, str(msg.header.frame_id), str(msg.distortion_model),
                tuple(float(v) for v in msg.d)))
        else:
            size = (int(msg.width), int(msg.height)) if msgtype == IMAGE_TYPE else None
            found.images[topic].append(_Image(
                _MessageRef(topic, msgtype, log_ns, rank, _stamp_ns(msg)),
                str(msg.header.frame_id), size))
    return found


def _cameras_match(a: PinholeCamera, b: PinholeCamera) -> bool:
    """Whether two cameras have the same size and (to 1e-6 px) the same intrinsics."""
    return a.size == b.size and np.allclose([a.fx, a.fy, a.cx, a.cy],
                                            [b.fx, b.fy, b.cx, b.cy], rtol=0, atol=1e-6)


def read_bag_frames(path: BagPath, color_topic: Optional[str] = None,
                    depth_topic: Optional[str] = None, color_info_topic: Optional[str] = None,
                    depth_info_topic: Optional[str] = None, stamp_tolerance: float = 0.02,
                    extrinsics: Any = None, distortion: str = 'warn') -> List[RecordedFrame]:
    """
    Index an RGB-D rosbag2 and return its colour frames with depth, in stamp order.

    ``path``: the bag folder, or its .mcap or .db3 file. The topics are detected unless given
    (module docstring); ``stamp_tolerance`` (seconds) pairs colour with depth, and camera_infos
    that change with images; ``extrinsics`` (T_colour_depth: a 4x4 matrix, ``x y z qx qy qz
    qw``, or 'identity'; ``depth_registration.parse_extrinsics``) replaces /tf_static;
    ``distortion`` is 'warn', 'error' or 'ignore' for raw images with lens distortion. Frames
    decode on demand (``RecordedFrame.load``); the first is decoded here, so that a systematic
    problem shows at once. Raises RecordingError with one line saying why the bag is unusable.
    """
    path = Path(path)
    if distortion not in DISTORTION_POLICIES:
        raise RecordingError(f'distortion must be one of {DISTORTION_POLICIES}, got '
                             f'{distortion!r}')
    if not stamp_tolerance >= 0:
        raise RecordingError(f'stamp_tolerance must be >= 0 seconds, got {stamp_tolerance}')
    try:
        transform = None if extrinsics is None else parse_extrinsics(extrinsics)
    except ValueError as exc:
        raise RecordingError(str(exc)) from None
    tolerance_ns = int(round(stamp_tolerance * 1e9))
    index = _BagIndex(path)
    try:
        colour_topic, depth_topic = _find_topics(index, color_topic, depth_topic)
        colour_info = _find_info(index, colour_topic, color_info_topic, 'color_info_topic')
        if colour_info is None:
            raise RecordingError(
                f'{path}: no camera_info for {colour_topic} (looked for camera_info in its '
                f'namespace and those above it); CameraInfo topics: '
                f'{", ".join(index.topics_of(CAMERA_INFO_TYPE)) or "none"}; the intrinsics are '
                'needed: record the camera_info topics, or set color_info_topic')
        depth_info = _find_info(index, depth_topic, depth_info_topic, 'depth_info_topic')
        tf_topics = [t for t in index.topics_of(TF_TYPE) if t.endswith('tf_static')]
        found = _read_index(index, [colour_topic, depth_topic],
                            sorted({colour_info, depth_info} - {None}), tf_topics)
    finally:
        index.close()
    infos, edges = found.infos, found.edges
    colours, depths = found.images[colour_topic], found.images[depth_topic]
    if not colours or not depths:
        empty = colour_topic if not colours else depth_topic
        raise RecordingError(f'{path}: {empty} has no messages')
    if (depth_info == colour_info and not depth_info_topic
            and depths[0].frame_id.lstrip('/') != colours[0].frame_id.lstrip('/')):
        depth_info = None  # found above the depth topic, but it is the colour camera's
    colour_track = _InfoTrack(colour_info, infos[colour_info])
    depth_track = _InfoTrack(depth_info, infos[depth_info]) if depth_info else None
    for topic, track in ((colour_topic, colour_track), (depth_topic, depth_track)):
        if track is not None and not track.infos:
            raise RecordingError(f'{path}: camera_info {track.topic} of {topic} has no messages')

    pairs = match_stamps([c.ref.stamp_ns for c in colours], [d.ref.stamp_ns for d in depths],
                         tolerance_ns)
    if not pairs:
        nearest = min(abs(colours[i].ref.stamp_ns - depths[j].ref.stamp_ns) for i, j in
                      match_stamps([c.ref.stamp_ns for c in colours],
                                   [d.ref.stamp_ns for d in depths], 2 ** 62))
        raise RecordingError(
            f'{path}: no colour and depth images with matching stamps: {colour_topic} '
            f'{_seconds(colours[0].ref.stamp_ns)} to {_seconds(colours[-1].ref.stamp_ns)}, '
            f'{depth_topic} {_seconds(depths[0].ref.stamp_ns)} to '
            f'{_seconds(depths[-1].ref.stamp_ns)}; the nearest are {nearest / 1e9:.3f} s '
            f'apart, more than stamp_tolerance {stamp_tolerance} s')
    bag = _BagMessages(path)
    frames: List[RecordedFrame] = []
    geometries: Dict[Tuple[int, int], _Geometry] = {}
    no_info = 0
    for i, j in pairs:
        colour, depth = colours[i], depths[j]
        c_info = colour_track.at(colour.ref.stamp_ns, tolerance_ns)
        d_info = depth_track.at(depth.ref.stamp_ns, tolerance_ns) if depth_track else None
        if c_info is None or (depth_track is not None and d_info is None):
            no_info += 1
            continue
        key = (id(c_info), id(d_info))
        if key not in geometries:
            geometries[key] = _geometry(path, colour_topic, colour, c_info, colour_info,
                                        depth_topic, depth, d_info, depth_info, edges,
                                        transform, distortion)
        geometry = geometries[key]
        for image, camera, info_topic, what in (
                (colour, geometry.colour, geometry.colour_info, 'image'),
                (depth, geometry.depth, geometry.depth_info, 'depth image')):
            if image.size is not None and image.size != camera.size:
                raise _size_error(bag.where(image.ref), what, image.size[::-1], camera,
                                  info_topic)
        loader = _FrameLoader(bag, colour.ref, depth.ref, geometry)
        frames.append(RecordedFrame(colour.ref.stamp_ns / 1e9, bag.where(colour.ref), loader,
                                    load_preview=loader.colour))
    if not frames:
        raise RecordingError(f'{path}: none of the {len(pairs)} colour/depth pairs has a '
                             f'camera_info within stamp_tolerance {stamp_tolerance} s of its '
                             f'stamp ({colour_info} and {depth_info} change over time)')
    LOG.info('%s: %d frames from %s (%d) and %s (%d); %d unpaired colour, %d unpaired depth, '
             '%d without camera_info', path, len(frames), colour_topic, len(colours),
             depth_topic, len(depths), len(colours) - len(pairs), len(depths) - len(pairs),
             no_info)
    frames.sort(key=lambda frame: frame.stamp)
    frames[0].arrays()
    return frames


def _geometry(path: Path, colour_topic: str, colour: _Image, c_info: _CameraInfo,
              colour_info: str, depth_topic: str, depth: _Image, d_info: Optional[_CameraInfo],
              depth_info: Optional[str], edges: Dict, transform: Optional[np.ndarray],
              distortion: str) -> _Geometry:
    """Decide how a frame's depth reaches the colour camera: as it is, or registered by what."""
    colour_frame = colour.frame_id or c_info.frame_id
    depth_frame = depth.frame_id or (d_info.frame_id if d_info else '')
    _check_distortion(path, colour_topic, c_info, distortion)
    if d_info is None:
        if depth_frame.lstrip('/') != colour_frame.lstrip('/') or transform is not None:
            raise RecordingError(
                f'{path}: no camera_info for depth {depth_topic} (looked for camera_info in its '
                f'namespace and those above it), and it is not in the colour frame '
                f'({depth_frame!r}, colour {colour_frame!r}); record the depth camera_info, or '
                'set depth_info_topic')
        return _Geometry(c_info.camera, colour_info, c_info.camera, colour_info, None)
    _check_distortion(path, depth_topic, d_info, distortion)
    same_camera = _cameras_match(d_info.camera, c_info.camera)
    how = 'extrinsics'
    if transform is None and depth_frame.lstrip('/') == colour_frame.lstrip('/'):
        transform, how = np.eye(4), 'the same frame'
    elif transform is None:
        transform = chain_transform(edges, colour_frame, depth_frame)
        how = '/tf_static'
        if transform is None and same_camera:
            LOG.warning("%s: depth %s (frame %r) has the colour camera's intrinsics and size "
                        'but no transform to its frame %r: used as registered to it', path,
                        depth_topic, depth_frame, colour_frame)
            return _Geometry(c_info.camera, colour_info, d_info.camera, depth_info, None)
        if transform is None:
            raise RecordingError(
                f'{path}: depth {depth_topic} (frame {depth_frame!r}) is not registered to '
                f'{colour_topic} (frame {colour_frame!r}) and no static transform joins the two '
                f'frames (/tf_static: {describe_chain(edges)}); record /tf_static with the '
                'camera, or pass extrinsics (T_colour_depth: x y z qx qy qz qw)')
    if same_camera and np.allclose(transform, np.eye(4), rtol=0, atol=1e-9):
        return _Geometry(c_info.camera, colour_info, d_info.camera, depth_info, None)
    LOG.info('%s: registering %s into %s with T_colour_depth from %s: translation %s m',
             path, depth_topic, colour_topic, how, np.round(transform[:3, 3], 4).tolist())
    return _Geometry(c_info.camera, colour_info, d_info.camera, depth_info, transform)
