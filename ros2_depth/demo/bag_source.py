"""
Camera frames from a rosbag2 (MCAP or SQLite3), read with `rosbags`: no ROS installation needed.

A bag holds a colour `sensor_msgs/Image` topic (rgb8, bgr8, rgba8, bgra8 or mono8), its
`sensor_msgs/CameraInfo` and optionally a depth `sensor_msgs/Image` (32FC1 metres or 16UC1
millimetres), e.g. one written by `ros2-depth-train synth-bag` or recorded from an RGB-D camera
with the depth registered to the colour image. Topics are found by type, encoding and name
(overrides take precedence); messages are matched by header stamp. Every problem is a BagError
with one line that names the file or topic and what to do.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
import re
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np
from ros2_depth.camera_model import camera_from_info, CameraInfoError, PinholeCamera
from ros2_depth.image_encoding import image_to_numpy, ImageEncodingError

LOG = logging.getLogger(__name__)

IMAGE_TYPE = 'sensor_msgs/msg/Image'
CAMERA_INFO_TYPE = 'sensor_msgs/msg/CameraInfo'
COLOR_ENCODINGS = ('rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8')
DEPTH_ENCODINGS = ('32FC1', '16UC1')
# Messages waiting for their partners (same stamp) before a frame is given up as incomplete.
MATCH_WINDOW = 32


class BagError(RuntimeError):
    """A bag cannot be used as a camera; the message names the file or topic and what to do."""


@dataclasses.dataclass(frozen=True)
class BagTopics:
    """The topics a BagSource reads: colour image, its camera_info and optional depth."""

    image: str
    camera_info: str
    depth: Optional[str] = None


@dataclasses.dataclass
class BagFrame:
    """
    One camera frame of a bag.

    image: (H, W, C) or (H, W) as stored, in `encoding`. camera: the image's intrinsics from its
    camera_info. depth: (H, W) float32 metres on the image's pixel grid, NaN where invalid, or
    None when the bag has no depth for this frame.
    """

    index: int
    stamp: Tuple[int, int]
    frame_id: str
    image: np.ndarray
    encoding: str
    camera: PinholeCamera
    depth: Optional[np.ndarray] = None

    @property
    def stamp_ns(self) -> int:
        """Header stamp in nanoseconds."""
        return self.stamp[0] * 1_000_000_000 + self.stamp[1]


def _one_line(exc: BaseException) -> str:
    text = ' '.join(str(exc).split()) or type(exc).__name__
    return text.rstrip('.')


def depth_to_metres(pixels: np.ndarray, encoding: str) -> np.ndarray:
    """Return a depth image as float32 metres with NaN where invalid (32FC1 m or 16UC1 mm)."""
    if encoding == '16UC1':
        depth = pixels.astype(np.float32) / 1000.0
    elif encoding == '32FC1':
        depth = np.array(pixels, dtype=np.float32)
    else:
        raise BagError(f'depth encoding {encoding} is not supported; use 32FC1 (m) or 16UC1 (mm)')
    with np.errstate(invalid='ignore'):
        depth[~(np.isfinite(depth) & (depth > 0))] = np.nan
    return depth


def _namespace(topic: str) -> str:
    return topic.rsplit('/', 1)[0]


class BagSource:
    """
    Iterate the camera frames of one rosbag2.

    `image_topic`, `camera_info_topic` and `depth_topic` override the detection; `depth_topic=''`
    reads no depth. Use as a context manager or call close().
    """

    def __init__(
        self,
        path: Path,
        image_topic: Optional[str] = None,
        camera_info_topic: Optional[str] = None,
        depth_topic: Optional[str] = None,
    ) -> None:
        """Open the bag and find its topics; raise BagError if it cannot serve as a camera."""
        from rosbags.rosbag2 import Reader
        from rosbags.typesys import get_typestore, Stores

        self.path = Path(path)
        if not self.path.exists():
            raise BagError(
                f'bag {self.path} does not exist; pass a rosbag2 directory (with metadata.yaml) '
                'or its .mcap/.db3 file'
            )
        if self.path.is_dir() and not (self.path / 'metadata.yaml').is_file():
            raise BagError(
                f'{self.path} is not a rosbag2 directory (it has no metadata.yaml); pass the '
                'bag directory or its .mcap/.db3 file'
            )
        try:
            self._reader = Reader(self.path)
            self._reader.open()
        except Exception as exc:
            raise BagError(
                f'cannot open bag {self.path}: {_one_line(exc)}; the bag may be incomplete or '
                'corrupt (re-record or re-generate it)'
            ) from exc
        self._store = get_typestore(Stores.ROS2_HUMBLE)
        self._types = {c.topic: c.msgtype for c in self._reader.connections}
        self._counts: Dict[str, int] = {}
        for conn in self._reader.connections:
            self._counts[conn.topic] = self._counts.get(conn.topic, 0) + conn.msgcount
        try:
            self.topics = self._detect(image_topic, camera_info_topic, depth_topic)
        except BaseException:
            self.close()
            raise

    # Topic detection.
    def _describe_topics(self, msgtype: Optional[str] = None) -> str:
        names = [t for t, ty in sorted(self._types.items()) if msgtype in (None, ty)]
        return ', '.join(f'{t} ({self._types[t].rsplit("/", 1)[-1]})' for t in names) or 'none'

    def _read(self, topics: List[str]) -> Iterator[Tuple[str, Any]]:
        """Yield (topic, message) in bag order; a storage error becomes a BagError."""
        conns = [c for c in self._reader.connections if c.topic in topics]
        try:
            for conn, _, raw in self._reader.messages(connections=conns):
                yield conn.topic, self._store.deserialize_cdr(raw, conn.msgtype)
        except BagError:
            raise
        except Exception as exc:
            raise BagError(
                f'cannot read messages of {", ".join(topics)} in bag {self.path}: '
                f'{_one_line(exc)}; the bag may be truncated or corrupt'
            ) from exc

    def _first_encoding(self, topic: str) -> Optional[str]:
        messages = self._read([topic])
        try:
            return next((str(msg.encoding) for _, msg in messages), None)
        finally:
            messages.close()

    def _check_topic(self, topic: str, msgtype: str, role: str, option: str) -> None:
        if topic not in self._types:
            raise BagError(
                f'{role} topic {topic} is not in bag {self.path}; its topics: '
                f'{self._describe_topics()}; set {option} to one of them'
            )
        if self._types[topic] != msgtype:
            raise BagError(
                f'{role} topic {topic} in bag {self.path} is {self._types[topic]}, not {msgtype}; '
                f'set {option} to one of: {self._describe_topics(msgtype)}'
            )
        if self._counts.get(topic, 0) == 0:
            raise BagError(f'{role} topic {topic} in bag {self.path} has no messages')

    def _pick(
        self,
        candidates: List[str],
        rank: Callable[[str], Tuple],
        role: str,
        option: str,
    ) -> Optional[str]:
        """Return the best-ranked candidate; raise BagError when two rank equally."""
        if not candidates:
            return None
        ranked = sorted(candidates, key=rank, reverse=True)
        if len(ranked) > 1 and rank(ranked[0]) == rank(ranked[1]):
            tied = [t for t in ranked if rank(t) == rank(ranked[0])]
            raise BagError(
                f'bag {self.path} has several {role} topics ({", ".join(sorted(tied))}); '
                f'choose one with {option}'
            )
        return ranked[0]

    def _detect(
        self, image_topic: Optional[str], info_topic: Optional[str], depth_topic: Optional[str]
    ) -> BagTopics:
        images = [t for t, ty in sorted(self._types.items()) if ty == IMAGE_TYPE]
        encodings = {t: self._first_encoding(t) for t in images if self._counts.get(t, 0) > 0}
        listing = ', '.join(f'{t} ({encodings.get(t) or "empty"})' for t in images) or 'none'
        if image_topic:
            self._check_topic(image_topic, IMAGE_TYPE, 'image', '--image-topic')
            if encodings.get(image_topic) not in COLOR_ENCODINGS:
                raise BagError(
                    f'image topic {image_topic} in bag {self.path} has encoding '
                    f'{encodings.get(image_topic)}, not one of {", ".join(COLOR_ENCODINGS)}; '
                    f'its Image topics: {listing}'
                )
        else:
            image_topic = self._pick(
                [t for t in images if encodings.get(t) in COLOR_ENCODINGS],
                lambda t: ('depth' not in t, 'rect' in t, 'color' in t or 'rgb' in t),
                'colour image',
                '--image-topic',
            )
            if image_topic is None:
                raise BagError(
                    f'bag {self.path} has no sensor_msgs/Image topic with a colour encoding '
                    f'({", ".join(COLOR_ENCODINGS)}); its Image topics: {listing}'
                )

        if info_topic:
            self._check_topic(info_topic, CAMERA_INFO_TYPE, 'camera_info', '--camera-info-topic')
        else:
            infos = [
                t
                for t, ty in sorted(self._types.items())
                if ty == CAMERA_INFO_TYPE and self._counts.get(t, 0) > 0
            ]
            beside = f'{_namespace(image_topic)}/camera_info'
            if beside in infos:
                info_topic = beside
            elif len(infos) == 1:
                info_topic = infos[0]
            elif not infos:
                raise BagError(
                    f'bag {self.path} has no sensor_msgs/CameraInfo messages for image topic '
                    f'{image_topic} (expected {beside}); the intrinsics are needed: record the '
                    "camera's camera_info with its images"
                )
            else:
                raise BagError(
                    f'bag {self.path} has several camera_info topics ({", ".join(infos)}) and '
                    f'none is {beside}; choose the one of {image_topic} with --camera-info-topic'
                )

        if depth_topic == '':
            depth_topic = None
        elif depth_topic:
            self._check_topic(depth_topic, IMAGE_TYPE, 'depth', '--depth-topic')
            if encodings.get(depth_topic) not in DEPTH_ENCODINGS:
                raise BagError(
                    f'depth topic {depth_topic} in bag {self.path} has encoding '
                    f'{encodings.get(depth_topic)}, not one of {", ".join(DEPTH_ENCODINGS)}'
                )
        else:
            ns = _namespace(image_topic)
            depth_topic = self._pick(
                [t for t in images if t != image_topic and encodings.get(t) in DEPTH_ENCODINGS],
                lambda t: (
                    bool({'gt', 'truth'} & set(re.split('[/_]', t))),
                    'depth' in t,
                    t.startswith(ns + '/'),
                ),
                'depth image',
                '--depth-topic (empty for none)',
            )
        topics = BagTopics(image_topic, info_topic, depth_topic)
        LOG.info(
            'bag %s: image %s, camera_info %s, depth %s',
            self.path,
            topics.image,
            topics.camera_info,
            topics.depth or '(none)',
        )
        return topics

    # Frames.
    @property
    def frame_count(self) -> int:
        """Return the number of images on the image topic."""
        return self._counts.get(self.topics.image, 0)

    @property
    def has_depth(self) -> bool:
        """Whether the frames carry depth."""
        return self.topics.depth is not None

    def __iter__(self) -> Iterator[BagFrame]:
        """Yield the frames in bag order: image, camera_info and depth matched by header stamp."""
        topics = self.topics
        role = {topics.image: 'image', topics.camera_info: 'info'}
        if topics.depth:
            role[topics.depth] = 'depth'
        pending: Dict[int, Dict[str, Any]] = {}
        infos: Dict[int, Any] = {}
        state = {'latest_info': None, 'index': 0}
        for topic, msg in self._read(list(role)):
            stamp = int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)
            if role[topic] == 'info':
                infos[stamp] = msg
                state['latest_info'] = msg
                while len(infos) > MATCH_WINDOW:
                    del infos[next(iter(infos))]
            else:
                pending.setdefault(stamp, {})[role[topic]] = msg
            yield from self._ready(pending, infos, state, final=False)
        yield from self._ready(pending, infos, state, final=True)

    def _ready(
        self, pending: Dict[int, Dict[str, Any]], infos: Dict[int, Any], state: Dict, final: bool
    ) -> Iterator[BagFrame]:
        """Yield pending frames, oldest first, that are complete (or given up on)."""
        while pending:
            stamp = next(iter(pending))
            parts = pending[stamp]
            info = infos.get(stamp, state['latest_info'])
            complete = 'image' in parts and info is not None
            if self.topics.depth and 'depth' not in parts:
                complete = False
            if not (complete or final or len(pending) > MATCH_WINDOW):
                return
            del pending[stamp]
            if 'image' not in parts:
                continue
            if info is None:
                LOG.warning(
                    'bag %s: image at %d.%09d has no camera_info before it; skipped',
                    self.path,
                    *divmod(stamp, 1_000_000_000),
                )
                continue
            yield self._frame(state['index'], parts['image'], info, parts.get('depth'))
            state['index'] += 1

    def _frame(self, index: int, image: Any, info: Any, depth_msg: Optional[Any]) -> BagFrame:
        stamp = (int(image.header.stamp.sec), int(image.header.stamp.nanosec))
        where = f'frame at {stamp[0]}.{stamp[1]:09d} of bag {self.path}'
        try:
            pixels = np.array(image_to_numpy(image))
        except ImageEncodingError as exc:
            raise BagError(f'{where}: image topic {self.topics.image}: {exc}') from exc
        try:
            camera = camera_from_info(info)
        except CameraInfoError as exc:
            raise BagError(f'{where}: camera_info topic {self.topics.camera_info}: {exc}') from exc
        height, width = pixels.shape[:2]
        if (camera.width, camera.height) != (width, height):
            raise BagError(
                f'{where}: image {self.topics.image} is {width}x{height} but camera_info '
                f'{self.topics.camera_info} describes {camera.width}x{camera.height}; use the '
                'camera_info that belongs to the image (--camera-info-topic)'
            )
        depth = None
        if depth_msg is not None:
            try:
                depth = depth_to_metres(image_to_numpy(depth_msg), str(depth_msg.encoding))
            except ImageEncodingError as exc:
                raise BagError(f'{where}: depth topic {self.topics.depth}: {exc}') from exc
            if depth.shape != (height, width):
                raise BagError(
                    f'{where}: depth {self.topics.depth} is {depth.shape[1]}x{depth.shape[0]} '
                    f'but the image is {width}x{height}; use a depth image registered to the '
                    "colour camera (e.g. depth_registered) or --depth-topic ''"
                )
        return BagFrame(
            index=index,
            stamp=stamp,
            frame_id=str(image.header.frame_id),
            image=pixels,
            encoding=str(image.encoding),
            camera=camera,
            depth=depth,
        )

    def close(self) -> None:
        """Close the bag."""
        reader = getattr(self, '_reader', None)
        if reader is not None and reader.is_open:
            reader.close()

    def __enter__(self) -> 'BagSource':
        """Return self; the bag is already open."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the bag."""
        self.close()
