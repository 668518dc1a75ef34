"""
`ros2-depth process-bag`: depth_node's outputs for every image of a rosbag2, without DDS.

The input bag (MCAP or SQLite3, read with `rosbags`) is copied message by message into a new bag,
each message's CDR bytes, receive time and connection (type, definition, hash, serialisation
format and offered QoS) as they are, and the node's outputs are added beside them: for each
colour image (sensor_msgs/Image rgb8, bgr8, rgba8, bgra8, mono8, or sensor_msgs/CompressedImage
JPEG/PNG) paired with its camera_info, `ros_messages.output_messages` computes the same messages
depth_node publishes (the same pipeline and message code), which rclpy serialises (`cdr_bytes`).
They carry the image's header and are written at the image's receive time, on
`<prefix>/depth/image`, `<prefix>/depth/camera_info`, `<prefix>/normals/image`, `<prefix>/points`
and, for a model with labels, `<prefix>/labels/image` and `<prefix>/labels/color`.

Images are paired with camera_info by header stamp as the node pairs them (`CameraInfoCache`),
waiting for a camera_info up to depth_node.INFO_WAIT_S of bag time after its image; a camera
whose stamps do not match gets the latest camera_info, as in the node. The output is written
under a temporary name beside OUT and renamed when complete; an error or Ctrl-C removes it.
Everything in the output follows from the input, the model and the options, so the same run
gives the same bytes.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import os
from pathlib import Path
import shutil
import signal
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple
import uuid

from ros2_depth.backends import BackendError, create_backend
from ros2_depth.camera_info_cache import CameraInfoMatcher, INFO_WAIT_S, stamp_ns
from ros2_depth.camera_model import camera_from_info, CameraInfoError
from ros2_depth.compressed_image import compressed_to_numpy, CompressedImageError
from ros2_depth.demo.image_files import progress_logging
from ros2_depth.image_encoding import image_to_numpy, ImageEncodingError
from ros2_depth.model_spec import load_spec, ModelSpecError
from ros2_depth.pipeline import DepthPipeline, label_palette, PipelineError, RESIZE_MODES
from ros2_depth.resources import default_model_path
from ros2_depth.ros_messages import output_messages, OUTPUTS

LOG = logging.getLogger('ros2-depth.process-bag')

IMAGE_TYPE = 'sensor_msgs/msg/Image'
COMPRESSED_TYPE = 'sensor_msgs/msg/CompressedImage'
CAMERA_INFO_TYPE = 'sensor_msgs/msg/CameraInfo'
COLOR_ENCODINGS = ('rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8')
DEPTH_ENCODINGS = ('16UC1', '32FC1')
STORAGES = ('mcap', 'sqlite3')
# Output key -> (topic below the prefix, message type), as depth_node names them.
OUTPUT_TOPICS = {
    'info': ('depth/camera_info', CAMERA_INFO_TYPE),
    'depth': ('depth/image', IMAGE_TYPE),
    'normals': ('normals/image', IMAGE_TYPE),
    'points': ('points', 'sensor_msgs/msg/PointCloud2'),
    'labels': ('labels/image', IMAGE_TYPE),
    'labels_color': ('labels/color', IMAGE_TYPE),
}
# Names of the outputs on the command line -> output keys.
OUTPUT_NAMES = {
    'depth': 'depth', 'camera_info': 'info', 'normals': 'normals', 'points': 'points',
    'labels': 'labels', 'labels_color': 'labels_color',
}
DEFAULT_NAMESPACE = 'mono_depth'  # the node's child namespace beside the camera's topics
BAG_VERSION = 9
# Bad-message lines shown per kind of problem before they are only counted.
LINES_PER_PROBLEM = 5
LATEST = 'paired with the latest camera_info'  # not skipped, but said as often as a problem
NEAREST = 'paired with the nearest camera_info'  # its own lost, the calibration steady around it

assert set(OUTPUT_TOPICS) == set(OUTPUTS)


# What a frame's exception says about it, for the summary (first match).
PROBLEM_KINDS = (
    (CompressedImageError, 'undecodable compressed image'),
    (ImageEncodingError, 'malformed image'),
    (CameraInfoError, 'unusable camera_info'),
    (PipelineError, 'image the pipeline cannot take'),
    (BackendError, 'inference failed'),
)


class ProcessBagError(RuntimeError):
    """The bag cannot be processed; the message says why and what to do."""


@dataclasses.dataclass
class ProcessBagOptions:
    """What `process_bag` reads, computes and writes."""

    input_bag: Path
    output: Path
    image_topic: Optional[str] = None
    camera_info_topic: Optional[str] = None
    prefix: Optional[str] = None  # default: <camera namespace>/mono_depth
    model: str = ''
    backend: str = 'onnxruntime'
    num_threads: int = 2
    resize_mode: str = 'canonical'
    outputs: Optional[Sequence[str]] = None  # OUTPUT_NAMES; default: all the model has
    storage: Optional[str] = None  # default: the input's
    overwrite: bool = False
    progress: bool = True


@dataclasses.dataclass
class ProcessBagSummary:
    """What one run did."""

    output: Path
    storage: str
    image_topic: str
    camera_info_topic: str
    images: int = 0
    processed: int = 0
    skipped: Dict[str, int] = dataclasses.field(default_factory=dict)
    paired_with_latest: int = 0
    paired_with_nearest: int = 0
    copied: int = 0
    written: Dict[str, int] = dataclasses.field(default_factory=dict)
    model: str = ''
    seconds: float = 0.0

    def describe(self) -> str:
        """Return a few lines for the terminal."""
        skipped = sum(self.skipped.values())
        lines = [
            f'{self.output} ({self.storage}): {self.copied} input messages copied; '
            f'{self.processed} of {self.images} images on {self.image_topic} processed '
            f'({self.camera_info_topic}), {skipped} skipped, in {self.seconds:.1f} s '
            f'with {self.model}',
        ]
        lines += [f'  skipped {n}: {reason}' for reason, n in sorted(self.skipped.items())]
        if self.paired_with_latest:
            lines.append(f'  {self.paired_with_latest} images had no camera_info of their stamp '
                         'and used the latest one')
        if self.paired_with_nearest:
            lines.append(f'  {self.paired_with_nearest} images had lost their camera_info and '
                         'used the nearest one (the same calibration all around)')
        lines += [f'  {topic}: {n}' for topic, n in self.written.items()]
        return '\n'.join(lines)


def _seconds(ns: int) -> str:
    return '{}.{:09d} s'.format(*divmod(int(ns), 1_000_000_000))


def _one_line(exc: BaseException) -> str:
    return ' '.join(str(exc).split()).rstrip('.') or type(exc).__name__


def _base(topic: str) -> str:
    """Return the image topic an image_transport topic carries ('<base>/compressed' -> base)."""
    return topic.rsplit('/', 1)[0] if topic.endswith('/compressed') else topic


def _namespace(topic: str) -> str:
    return _base(topic).rsplit('/', 1)[0]


def default_prefix(image_topic: str) -> str:
    """Return the output namespace beside an image topic: `<camera namespace>/mono_depth`."""
    return f'{_namespace(image_topic)}/{DEFAULT_NAMESPACE}'


class _Problems:
    """Logs each bad message as one line (at most LINES_PER_PROBLEM per kind) and counts them."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self.counts: Dict[str, int] = collections.Counter()
        self._write = write

    def add(self, kind: str, line: str) -> None:
        self.counts[kind] += 1
        if self.counts[kind] <= LINES_PER_PROBLEM:
            self._write(line)
        if self.counts[kind] == LINES_PER_PROBLEM:
            self._write(f'(further "{kind}" messages are only counted in the summary)')


class _Pairing:
    """Pairs images with the camera_info of their stamp in bag time, as depth_node does."""

    def __init__(self) -> None:
        self.infos = CameraInfoMatcher()
        self.pending: 'collections.deque[Tuple[int, Any]]' = collections.deque()

    def ready(self, now_ns: Optional[int]) -> Iterator[Tuple[int, Any, Optional[Any], str]]:
        """
        Yield (receive time, image, camera_info or None, how it was found) of decided images.

        An image is decided when its camera_info is in, or `now_ns` (bag time; None at the end
        of the bag) lies more than INFO_WAIT_S after it, or the camera's stamps are taken not to
        match (then it does not wait); how it was found: CameraInfoMatcher.match. Call it with
        each message's time before adding the message (to decide the images it comes too late
        for) and after (for the image it completes).
        """
        while self.pending:
            bag_ns, image = self.pending[0]
            stamp = stamp_ns(image.header)
            if (not self.infos.has(stamp) and self.infos.waits and now_ns is not None
                    and now_ns - bag_ns <= INFO_WAIT_S * 1e9):
                return
            self.pending.popleft()
            yield (bag_ns, image) + self.infos.match(stamp)


def _typestore() -> Any:
    from rosbags.typesys import get_typestore, Stores

    return get_typestore(Stores.LATEST)


def cdr_bytes(msg: Any, msgtype: str, store: Any) -> bytes:
    """
    Return an rclpy message as CDR bytes, with zeros in the alignment padding.

    rclpy's serialize_message leaves the padding between fields (after a string, before a
    uint32) as whatever the buffer held, so the same message gives different bytes from run to
    run; one pass through the `rosbags` typestore `store` (decode and encode) writes the same
    fields with zero padding.
    """
    from rclpy.serialization import serialize_message

    raw = serialize_message(msg)
    return bytes(store.serialize_cdr(store.deserialize_cdr(raw, msgtype), msgtype))


def bag_qos(transient_local: bool = False) -> Any:
    """
    Return a rosbags offered-QoS entry: reliable, keep last 1, volatile (or transient local).

    Volatile is how depth_node offers its outputs; transient local how /tf_static is offered.
    """
    from rosbags.interfaces import (Qos, QosDurability, QosHistory, QosLiveliness,
                                    QosReliability, QosTime)

    infinite = QosTime(sec=9223372036, nsec=854775807)  # rmw's infinite duration
    durability = QosDurability.TRANSIENT_LOCAL if transient_local else QosDurability.VOLATILE
    return Qos(history=QosHistory.KEEP_LAST, depth=1, reliability=QosReliability.RELIABLE,
               durability=durability, deadline=infinite, lifespan=infinite,
               liveliness=QosLiveliness.AUTOMATIC, liveliness_lease_duration=infinite,
               avoid_ros_namespace_conventions=False)


def _open_reader(path: Path) -> Any:
    from rosbags.rosbag2 import Reader

    if not path.exists():
        raise ProcessBagError(f'{path}: no such bag; give a rosbag2 folder or its .mcap/.db3')
    if path.is_dir() and not (path / 'metadata.yaml').is_file():
        raise ProcessBagError(f'{path} is not a rosbag2 folder (no metadata.yaml); give the bag '
                              'folder or its .mcap/.db3 file')
    try:
        reader = Reader(path)
        reader.open()
    except Exception as exc:  # rosbags' own and storage errors
        raise ProcessBagError(f'cannot open bag {path}: {_one_line(exc)}; it may be truncated '
                              'or corrupt') from None
    return reader


def _first_message(reader: Any, topic: str, msg_class: Any) -> Optional[Any]:
    from rclpy.serialization import deserialize_message

    connections = [c for c in reader.connections if c.topic == topic]
    for _, _, raw in reader.messages(connections=connections):
        try:
            return deserialize_message(raw, msg_class)
        except Exception:  # a corrupt first message: the topic is judged by the next
            continue
    return None


def _is_color(msg: Any, msgtype: str) -> bool:
    if msgtype == IMAGE_TYPE:
        return str(msg.encoding) in COLOR_ENCODINGS
    image_format = str(msg.format)
    source = image_format.split(';', 1)[0].strip() if ';' in image_format else ''
    return 'compresseddepth' not in image_format.lower() and source not in DEPTH_ENCODINGS


def detect_topics(reader: Any, image_topic: Optional[str],
                  info_topic: Optional[str]) -> Tuple[str, str, str]:
    """
    Return (image topic, its message type, camera_info topic) of an open bag.

    Without `image_topic`, the one Image or CompressedImage topic with colour messages; without
    `info_topic`, `camera_info` in the image's namespace, else the only CameraInfo topic. No or
    several candidates are a ProcessBagError that lists them.
    """
    from sensor_msgs.msg import CompressedImage, Image

    types = {c.topic: c.msgtype for c in reader.connections}
    counts: Dict[str, int] = collections.Counter()
    for conn in reader.connections:
        counts[conn.topic] += conn.msgcount
    images = sorted(t for t, ty in types.items() if ty in (IMAGE_TYPE, COMPRESSED_TYPE))
    listing = ', '.join(f'{t} ({types[t].rsplit("/", 1)[-1]})' for t in images) or 'none'
    if image_topic:
        if types.get(image_topic) not in (IMAGE_TYPE, COMPRESSED_TYPE):
            raise ProcessBagError(
                f'image topic {image_topic} is not an Image or CompressedImage topic of the bag; '
                f'its image topics: {listing}')
    else:
        colour = []
        for topic in images:
            msg_class = Image if types[topic] == IMAGE_TYPE else CompressedImage
            first = _first_message(reader, topic, msg_class) if counts[topic] else None
            if first is not None and _is_color(first, types[topic]):
                colour.append(topic)
        if len(colour) != 1:
            raise ProcessBagError(
                f'the bag has {"no" if not colour else "several"} colour image topics '
                f'({", ".join(colour) or "image topics: " + listing}); choose one with '
                '--image-topic')
        image_topic = colour[0]
    infos = sorted(t for t, ty in types.items() if ty == CAMERA_INFO_TYPE and counts[t])
    if info_topic:
        if types.get(info_topic) != CAMERA_INFO_TYPE:
            raise ProcessBagError(
                f'camera_info topic {info_topic} is not a CameraInfo topic of the bag; its '
                f'CameraInfo topics: {", ".join(infos) or "none"}')
    else:
        beside = f'{_namespace(image_topic)}/camera_info'
        if beside in infos:
            info_topic = beside
        elif len(infos) == 1:
            info_topic = infos[0]
        else:
            raise ProcessBagError(
                f'the bag has {"no" if not infos else "several"} camera_info topics '
                f'({", ".join(infos) or "none"}) and none is {beside}; choose the one of '
                f'{image_topic} with --camera-info-topic')
    return image_topic, types[image_topic], info_topic


def _outputs_wanted(names: Optional[Sequence[str]], pipeline: DepthPipeline) -> List[str]:
    """Return the output keys to write, in OUTPUTS order."""
    available = {'info', 'depth', 'points'}
    if pipeline.has_normals:
        available.add('normals')
    if pipeline.has_labels:
        available |= {'labels', 'labels_color'}
    if names is None:
        return [k for k in OUTPUTS if k in available]
    keys = []
    for name in names:
        if name not in OUTPUT_NAMES:
            raise ProcessBagError(
                f'unknown output "{name}"; choose from {", ".join(OUTPUT_NAMES)}')
        if OUTPUT_NAMES[name] not in available:
            raise ProcessBagError(f'the model does not predict "{name}"')
        keys.append(OUTPUT_NAMES[name])
    if not keys:
        raise ProcessBagError('no outputs chosen')
    return [k for k in OUTPUTS if k in keys]


def _check_output(options: ProcessBagOptions) -> Path:
    output = Path(options.output)
    if output.resolve() == Path(options.input_bag).resolve():
        raise ProcessBagError(f'{output} is the input bag; choose another output')
    if output.exists() or output.is_symlink():
        if not options.overwrite:
            raise ProcessBagError(f'{output} exists; choose another output or add --overwrite')
        if not output.is_dir() or not (output / 'metadata.yaml').is_file():
            raise ProcessBagError(f'{output} exists and is not a rosbag2 folder; not replacing it')
    if not output.parent.is_dir():
        raise ProcessBagError(f'{output.parent} does not exist; create it first')
    return output


def _load_pipeline(options: ProcessBagOptions) -> DepthPipeline:
    if options.resize_mode not in RESIZE_MODES:
        raise ProcessBagError(f'--resize-mode must be one of {RESIZE_MODES}')
    path = Path(options.model) if options.model else default_model_path()
    try:
        spec = load_spec(path)
        backend = create_backend(options.backend, spec, num_threads=options.num_threads)
        return DepthPipeline(spec, backend, options.resize_mode)
    except (ModelSpecError, BackendError, PipelineError) as exc:
        raise ProcessBagError(f'cannot load the model: {exc}') from exc


def process_bag(options: ProcessBagOptions) -> ProcessBagSummary:
    """Write `options.output`: the input bag plus depth_node's outputs; see the module doc."""
    start = time.monotonic()
    output = _check_output(options)
    pipeline = _load_pipeline(options)
    if not pipeline.spec.trained:
        LOG.warning('model %s has untrained weights: its depth is not meaningful',
                    pipeline.spec.name)
    reader = _open_reader(Path(options.input_bag))
    try:
        image_topic, image_type, info_topic = detect_topics(
            reader, options.image_topic, options.camera_info_topic)
        storage = options.storage or _storage_of(Path(options.input_bag))
        if storage not in STORAGES:
            raise ProcessBagError(f'--storage must be one of {STORAGES}, got {storage}')
        keys = _outputs_wanted(options.outputs, pipeline)
        prefix = (options.prefix if options.prefix is not None
                  else default_prefix(image_topic)).rstrip('/')
        topics = {k: f'{prefix}/{OUTPUT_TOPICS[k][0]}' for k in keys}
        clash = sorted(set(topics.values()) & {c.topic for c in reader.connections})
        if clash:
            raise ProcessBagError(f'the bag has {", ".join(clash)} already; choose another '
                                  '--prefix')
        summary = ProcessBagSummary(output=output, storage=storage, image_topic=image_topic,
                                    camera_info_topic=info_topic, model=pipeline.spec.name)
        # The name first, then the folder: a Ctrl-C at any moment from here leaves none behind.
        scratch = output.parent / f'.{output.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}'
        try:
            with _CtrlC() as ctrl_c:
                scratch.mkdir()
                _write(reader, scratch / output.name, storage, pipeline, keys, topics,
                       image_topic, image_type, info_topic, summary, options.progress,
                       ctrl_c.check)
                ctrl_c.check()  # pressed while the bag was being closed: not renamed
            if output.exists():
                shutil.rmtree(output)
            os.replace(scratch / output.name, output)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    finally:
        reader.close()
    summary.seconds = time.monotonic() - start
    return summary


class _CtrlC:
    """
    Ctrl-C as a flag, raised as KeyboardInterrupt only where ``check`` is called.

    A KeyboardInterrupt that lands inside a C extension calling back into Python (the bag
    writer's compression) can be swallowed there, and the bag would be finished and renamed
    as if nothing happened; the loop checks the flag between messages instead. Outside the
    main thread (no signal handler can be set) it does nothing.
    """

    def __init__(self) -> None:
        self.pressed = False
        self._previous: Any = None

    def __enter__(self) -> '_CtrlC':
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._press)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def _press(self, signum: int, frame: Any) -> None:
        self.pressed = True

    def check(self) -> None:
        """Raise KeyboardInterrupt if Ctrl-C was pressed."""
        if self.pressed:
            raise KeyboardInterrupt


def _storage_of(bag: Path) -> str:
    """Return 'sqlite3' for a bag of .db3 files, else 'mcap'."""
    files = [bag] if bag.is_file() else list(bag.iterdir())
    return 'sqlite3' if any('.db3' in f.suffixes for f in files) else 'mcap'


def _write(reader: Any, path: Path, storage: str, pipeline: DepthPipeline, keys: List[str],
           topics: Dict[str, str], image_topic: str, image_type: str, info_topic: str,
           summary: ProcessBagSummary, show_progress: bool,
           check_stop: Callable[[], None] = lambda: None) -> None:
    """
    Copy every message of `reader` into a new bag at `path` and add the outputs.

    ``check_stop`` is called between messages (it raises KeyboardInterrupt on a Ctrl-C).
    """
    from rclpy.serialization import deserialize_message
    from rosbags.rosbag2 import Writer
    from rosbags.rosbag2.enums import CompressionFormat, CompressionMode, StoragePlugin
    from sensor_msgs.msg import CameraInfo, CompressedImage, Image
    from tqdm import tqdm

    plugin = StoragePlugin.MCAP if storage == 'mcap' else StoragePlugin.SQLITE3
    writer = Writer(path, version=BAG_VERSION, storage_plugin=plugin)
    if storage == 'mcap':
        writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
    writer.set_custom_data('ros2_depth.process_bag.model', pipeline.spec.name)
    writer.set_custom_data('ros2_depth.process_bag.model_sha256', pipeline.spec.onnx_sha256)
    writer.set_custom_data('ros2_depth.process_bag.image_topic', image_topic)
    writer.set_custom_data('ros2_depth.process_bag.resize_mode', pipeline.resize_mode)
    store = _typestore()
    image_class = Image if image_type == IMAGE_TYPE else CompressedImage
    palette = label_palette(pipeline.spec) if 'labels_color' in keys else None
    problems = _Problems(LOG.warning)
    pairing = _Pairing()
    summary.images = sum(c.msgcount for c in reader.connections if c.topic == image_topic)
    summary.written = {topics[k]: 0 for k in keys}
    wanted = set(keys)

    def process(image: Any, info: Optional[Any], found: str, bag_ns: int) -> None:
        where = f'image at {_seconds(stamp_ns(image.header))} on {image_topic}'
        if info is None:
            kind = ('no camera_info yet' if found == 'none' else
                    f'its camera_info did not come within {INFO_WAIT_S:g} s of bag time')
            problems.add(kind, f'skipped the {where}: {kind}')
            return
        if found == 'steady':
            problems.add(NEAREST, f'{where}: its camera_info is missing; paired with the nearest '
                         'one, the calibration being the same in all within 1 s')
        elif found == 'latest':
            problems.add(LATEST, f'{where}: no camera_info with its stamp; paired with the latest '
                         'one (publish camera_info with the same header as its image)')
        try:
            if image_class is Image:
                pixels, encoding = image_to_numpy(image), str(image.encoding)
            else:
                pixels, encoding = compressed_to_numpy(image.format, image.data)
            camera = camera_from_info(info)
            messages, _ = output_messages(pipeline, image.header, pixels, encoding, camera,
                                          wanted, palette)
        except (ImageEncodingError, CameraInfoError, PipelineError, BackendError) as exc:
            kind = next(k for cls, k in PROBLEM_KINDS if isinstance(exc, cls))
            problems.add(kind, f'skipped the {where}: {_one_line(exc)}')
            return
        for key, msg in messages.items():
            writer.write(out_conns[key], bag_ns, cdr_bytes(msg, OUTPUT_TOPICS[key][1], store))
            summary.written[topics[key]] += 1
        summary.processed += 1

    with writer, progress_logging(), tqdm(
            total=summary.images, unit='image', desc=path.name, disable=not show_progress,
            leave=False) as progress:
        copies = {}
        for conn in reader.connections:
            msgdef, digest = conn.msgdef.data, conn.digest
            extra: Dict[str, Any] = {'msgdef': msgdef, 'rihs01': digest}
            if not msgdef or not digest:
                extra = {'typestore': store}
            copies[conn.id] = writer.add_connection(
                conn.topic, conn.msgtype, serialization_format=conn.ext.serialization_format,
                offered_qos_profiles=conn.ext.offered_qos_profiles, **extra)
        out_conns = {k: writer.add_connection(topics[k], OUTPUT_TOPICS[k][1], typestore=store,
                                              offered_qos_profiles=[bag_qos()])
                     for k in keys}

        def decide(now_ns: Optional[int]) -> None:
            for image_ns, image, info, found in pairing.ready(now_ns):
                process(image, info, found, image_ns)
                progress.update()

        for conn, bag_ns, raw in reader.messages():
            check_stop()
            writer.write(copies[conn.id], bag_ns, raw)
            summary.copied += 1
            decide(bag_ns)  # images whose camera_info did not come in time, before this message
            if conn.topic == info_topic:
                try:
                    info = deserialize_message(raw, CameraInfo)
                except Exception as exc:  # corrupt CDR
                    problems.add('undecodable camera_info', f'skipped a camera_info at bag time '
                                 f'{_seconds(bag_ns)}: cannot deserialise it ({_one_line(exc)})')
                else:
                    pairing.infos.add(stamp_ns(info.header), info)
            elif conn.topic == image_topic:
                try:
                    image = deserialize_message(raw, image_class)
                except Exception as exc:  # corrupt CDR
                    problems.add('undecodable image', f'skipped an image at bag time '
                                 f'{_seconds(bag_ns)}: cannot deserialise it ({_one_line(exc)})')
                    progress.update()
                else:
                    pairing.pending.append((bag_ns, image))
            decide(bag_ns)  # images whose camera_info this message was
        decide(None)
    summary.skipped = {k: n for k, n in problems.counts.items() if k not in (LATEST, NEAREST)}
    summary.paired_with_latest = problems.counts.get(LATEST, 0)
    summary.paired_with_nearest = problems.counts.get(NEAREST, 0)
