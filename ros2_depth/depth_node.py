"""
depth_node: camera image in; metric depth, normals, labels and an organized point cloud out.

A thin shell over DepthPipeline: topic wiring, parameters and QoS. DepthCore holds the node's work,
shared with the managed (lifecycle) variant in depth_node_managed; DepthNode does it all at start.
Images (raw, or jpeg/png with image_transport:=compressed) are handed to one worker thread through
a single slot, so only the newest frame is ever processed; outputs nobody subscribes to are not
computed. Each image is paired with the camera_info of the same stamp (waiting up to
INFO_WAIT_S for it); a camera whose stamps do not match gets the latest one, with a warning.
SIGINT and SIGTERM, whenever they come, stop it in order: the worker finishes the frame in hand and
ends, then the node is destroyed, then the context shut down.
"""

from __future__ import annotations

from pathlib import Path
import signal
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Type, Union

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import IntegerRange, ParameterDescriptor
import rclpy
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from ros2_depth.backends import BACKEND_CHOICES, BackendError, create_backend, EXECUTION_PROVIDERS
from ros2_depth.camera_info_cache import CameraInfoMatcher, INFO_WAIT_S, stamp_ns
from ros2_depth.camera_model import camera_from_info, CameraInfoError
from ros2_depth.compressed_image import compressed_to_numpy, inspect_compressed
from ros2_depth.image_encoding import image_to_numpy, ImageEncodingError
from ros2_depth.model_spec import load_spec_for_precision, ModelSpecError, PRECISIONS
from ros2_depth.pipeline import (
    DepthPipeline, label_palette, OUTPUT_RESOLUTIONS, PipelineError, RESIZE_MODES)
from ros2_depth.resources import default_model_path
from ros2_depth.ros_messages import CloudOptions, output_messages
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

try:  # Iron and newer
    from rclpy.event_handler import PublisherEventCallbacks, SubscriptionEventCallbacks
except ImportError:  # Humble
    from rclpy.qos_event import PublisherEventCallbacks, SubscriptionEventCallbacks

QOS_CHOICES = ('reliable', 'best_effort')
TRANSPORTS = ('raw', 'compressed')  # image_transport's names for the image input
# How often main() looks whether a signal asked it to stop (its handler cannot wake the executor).
STOP_POLL_S = 0.1
# How long destroy_node waits for the worker to finish the frame in hand.
WORKER_STOP_S = 10.0
# How long a finished node (a finalized managed one) still spins before it is destroyed.
FINISH_GRACE_S = 0.3

# name -> (default, description, extra descriptor fields)
PARAMETERS: Dict[str, Tuple[Any, str, Dict[str, Any]]] = {
    'model': (
        '',
        'Model sidecar (.json) or ONNX file with its .json beside it; empty: the bundled '
        'default model in share/ros2_depth/engines.',
        {'read_only': True},
    ),
    'backend': (
        'onnxruntime',
        f'Inference backend, one of {list(BACKEND_CHOICES)}; "auto": TensorRT when it is '
        'installed and a GPU is present, else ONNX Runtime on the GPU (onnxruntime-gpu), else '
        'on the CPU.',
        {'read_only': True},
    ),
    'execution_provider': (
        'cpu',
        f'ONNX Runtime execution provider, one of {list(EXECUTION_PROVIDERS)}; cuda and '
        'tensorrt need onnxruntime-gpu.',
        {'read_only': True},
    ),
    'precision': (
        'fp32',
        f'Inference precision, one of {list(PRECISIONS)}. int8 runs the INT8 model beside the '
        'configured one (NAME.int8.json, made by "ros2-depth-train quantize"; a model given by '
        'path as an INT8 file runs INT8 either way); with backend tensorrt, an int8 engine '
        'built by "ros2-depth build-engine". fp16 needs backend tensorrt (or '
        'execution_provider tensorrt).',
        {'read_only': True},
    ),
    'engine_cache': (
        '',
        'Folder of TensorRT engines (built on first start, keyed by model, GPU, TensorRT '
        'version and precision); empty: $ROS_HOME/ros2_depth/engines, else '
        '~/.cache/ros2_depth/engines.',
        {'read_only': True},
    ),
    'num_threads': (
        2,
        'CPU threads for inference (0: one per core).',
        {'read_only': True, 'integer_range': [IntegerRange(from_value=0, to_value=256, step=1)]},
    ),
    'resize_mode': (
        'canonical',
        'How the image is fitted to the network input: "canonical" scales it to the '
        "model's canonical focal length and cuts the input from its centre (padding a narrow "
        'camera; a model without a metric scale is cropped), "crop" cuts the longer side to '
        'the network aspect ratio, "stretch" resizes the whole image.',
        {'read_only': True},
    ),
    'output_resolution': (
        'network',
        'Grid of depth/image, normals/image, labels/* and points: "network" (the network output '
        'grid, with a camera_info of its own) or "input" (upsampled onto the input image\'s '
        'pixels, depth edge-aware; depth/camera_info is then the input camera_info).',
        {'read_only': True},
    ),
    'input_rectified': (
        True,
        'Whether the image is rectified (image_rect: P describes it, D is ignored). false: a raw '
        'image with the lens distortion in its camera_info; with output_resolution "input" the '
        'cloud is then back-projected along the undistorted rays (K and D).',
        {'read_only': True},
    ),
    'cloud_rgb': (
        True,
        'Give points a packed float32 "rgb" field (0x00RRGGBB, as PCL and RViz read it): the '
        'image colours on the cloud grid.',
        {'read_only': True},
    ),
    'cloud_normals': (
        False,
        'Give points "normal_x", "normal_y", "normal_z" fields: the normals/image values '
        '(models with a normals output).',
        {'read_only': True},
    ),
    'input_qos': (
        'reliable',
        'Reliability of the image and camera_info subscriptions: "reliable" or '
        '"best_effort" (must be compatible with the camera publisher).',
        {'read_only': True},
    ),
    'output_qos': (
        'reliable',
        'Reliability of the outputs: "reliable" (RViz default for images) or "best_effort".',
        {'read_only': True},
    ),
    'image_transport': (
        'raw',
        'How images arrive, as image_transport names it: "raw" (sensor_msgs/Image on image) or '
        '"compressed" (sensor_msgs/CompressedImage, jpeg or png, on image/compressed, after '
        'the remapping of image).',
        {'read_only': True},
    ),
    'max_image_pixels': (
        25_000_000,
        'Largest input image (width x height) the node processes; larger ones are dropped with '
        'one error line, so a wrong driver setting cannot take the memory (default: 25 MP).',
        {
            'read_only': True,
            'integer_range': [IntegerRange(from_value=1, to_value=1_000_000_000, step=1)],
        },
    ),
}


def _qos(reliability: str, depth: int) -> QoSProfile:
    policy = (
        ReliabilityPolicy.RELIABLE if reliability == 'reliable' else ReliabilityPolicy.BEST_EFFORT
    )
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=policy)


class DepthCore:
    """
    The work of depth_node, mixed into a Node (DepthNode) or a LifecycleNode (ManagedDepthNode).

    Publishes depth/image, depth/camera_info, normals/image and points for each newest image;
    with a model that predicts labels, also labels/image (mono8 class ids) and labels/color.
    The shells call its steps: declare the parameters, configure (model and outputs), subscribe,
    start the worker; and back: stop the worker, unsubscribe, release.
    """

    _worker: Optional[threading.Thread] = None  # the worker thread, while it runs
    finished = False  # True once the node can do no more (finalized): run_node then ends
    _inputs: Sequence[Any] = ()  # the subscriptions, while subscribed

    def _declare_parameters(self) -> None:
        """Declare every parameter of PARAMETERS with its default, description and range."""
        for name, (default, description, extra) in PARAMETERS.items():
            self.declare_parameter(
                name, default, ParameterDescriptor(description=description, **extra)
            )

    def _configure(self, create_publisher: Callable[..., Any]) -> None:
        """
        Check the parameters, load the model, create the outputs; raise if the model cannot run.

        ``create_publisher`` makes the output publishers (a lifecycle node's makes managed ones).
        """
        param = {name: self.get_parameter(name).value for name in PARAMETERS}
        for name, choices in (
            ('resize_mode', RESIZE_MODES),
            ('output_resolution', OUTPUT_RESOLUTIONS),
            ('input_qos', QOS_CHOICES),
            ('output_qos', QOS_CHOICES),
            ('execution_provider', EXECUTION_PROVIDERS),
            ('precision', PRECISIONS),
            ('image_transport', TRANSPORTS),
        ):
            if param[name] not in choices:
                raise PipelineError(
                    f'parameter {name} must be one of {choices}, got "{param[name]}"'
                )

        self._max_pixels = int(param['max_image_pixels'])
        self._transport = param['image_transport']
        model_path = Path(param['model']) if param['model'] else default_model_path()
        self.spec = load_spec_for_precision(model_path, param['precision'])
        log = self.get_logger()
        backend = create_backend(
            param['backend'], self.spec, num_threads=param['num_threads'],
            execution_provider=param['execution_provider'], precision=param['precision'],
            engine_cache=param['engine_cache'], logger=log)
        self.pipeline = DepthPipeline(
            self.spec, backend, param['resize_mode'], param['output_resolution'])
        if backend.chosen:
            log.info(backend.chosen)
        sibling = '' if self.spec.path.name == model_path.with_suffix('.json').name else \
            f' -> {self.spec.path.name}'
        log.info(f'model {self.spec.name} {self.spec.precision} ({model_path}{sibling}) on '
                 f'{backend.describe()}')
        self._cloud = CloudOptions(
            rgb=bool(param['cloud_rgb']),
            normals=bool(param['cloud_normals']) and self.pipeline.has_normals,
            rectified=bool(param['input_rectified']))
        if param['cloud_normals'] and not self.pipeline.has_normals:
            log.warning(f'cloud_normals: model {self.spec.name} predicts no normals; points '
                        'get no normal fields')
        if not param['input_rectified'] and param['output_resolution'] == 'network':
            log.warning('input_rectified is false but output_resolution is "network": the '
                        'network grid is published as a pinhole camera without distortion; '
                        'use output_resolution:=input for raw images')
        if not self.spec.trained:
            log.warning(
                f'model {self.spec.name} has untrained weights: its depth is not meaningful'
            )

        self._qos = {'in': param['input_qos'], 'out': param['output_qos']}
        self._qos_problems: Dict[str, str] = {}  # topic -> what is incompatible there
        out_qos = _qos(param['output_qos'], 1)
        self._outputs: List[Any] = []

        def publisher(msg_type: Any, topic: str) -> Any:
            events = PublisherEventCallbacks(
                incompatible_qos=lambda event: self._on_incompatible_qos(topic, 'out', event))
            output = create_publisher(msg_type, topic, out_qos, event_callbacks=events)
            self._outputs.append(output)
            return output

        self.pub_depth = publisher(Image, 'depth/image')
        self.pub_info = publisher(CameraInfo, 'depth/camera_info')
        self.pub_normals = publisher(Image, 'normals/image')
        self.pub_points = publisher(PointCloud2, 'points')
        self.pub_labels = self.pub_labels_color = None
        if self.pipeline.has_labels:
            self.pub_labels = publisher(Image, 'labels/image')
            self.pub_labels_color = publisher(Image, 'labels/color')
            self._palette = label_palette(self.spec)
            classes = self.spec.output('labels').channels
            log.info(f'model predicts {classes} classes: publishing labels/image '
                     '(mono8 class ids) and labels/color')
        self.pub_diag = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._in_qos = _qos(param['input_qos'], 1)

        self._lock = threading.Condition()
        self._pending: Optional[Union[Image, CompressedImage]] = None
        self._infos = CameraInfoMatcher()
        self._running = False
        self.stats = {
            'received': 0, 'processed': 0, 'dropped_stale': 0, 'dropped_no_info': 0, 'errors': 0,
            'idle': 0, 'info_substituted': 0,
        }
        self._inference_ms = 0.0
        self._latency_ms = 0.0
        self._last_error = ''
        self._last_error_time = 0.0
        self._diag_timer = self.create_timer(1.0, self._publish_diagnostics)

    def _subscribe(self) -> None:
        """Subscribe to camera_info and the images: image, or image/compressed."""
        image_type, image_topic = Image, 'image'
        if self._transport == 'compressed':  # image_transport's name: below the remapped image
            image_type = CompressedImage
            image_topic = self.resolve_topic_name('image') + '/compressed'
        self._inputs = []
        for msg_type, topic, callback in (
            (CameraInfo, 'camera_info', self._on_camera_info),
            (image_type, image_topic, self._on_image),
        ):
            events = SubscriptionEventCallbacks(
                incompatible_qos=lambda event, t=topic: self._on_incompatible_qos(t, 'in', event))
            self._inputs.append(self.create_subscription(
                msg_type, topic, callback, self._in_qos, event_callbacks=events))

    def _unsubscribe(self) -> None:
        """Destroy the subscriptions (no new frame arrives after this)."""
        for subscription in self._inputs:
            self.destroy_subscription(subscription)
        self._inputs = []

    def _start_worker(self) -> None:
        """Start the worker thread that processes the newest frame."""
        with self._lock:
            self._running = True
            self._pending = None
        self._worker = threading.Thread(target=self._work, name='depth_node_worker', daemon=True)
        self._worker.start()

    def _stop_worker(self) -> None:
        """Stop the worker thread (if it runs) once it has finished the frame in hand."""
        worker = self._worker
        if worker is None:
            return
        with self._lock:
            self._running = False
            self._pending = None
            self._lock.notify_all()
        worker.join(timeout=WORKER_STOP_S)
        if worker.is_alive():
            self.get_logger().warning(
                f'the worker did not finish its frame within {WORKER_STOP_S:g} s; stopping '
                'without it')
        self._worker = None

    # Callbacks run on the executor: they only hand messages over.
    def _on_camera_info(self, msg: CameraInfo) -> None:
        with self._lock:
            self._infos.add(stamp_ns(msg.header), msg)
            self._lock.notify_all()

    def _on_image(self, msg: Union[Image, CompressedImage]) -> None:
        with self._lock:
            self.stats['received'] += 1
            if self._pending is not None:
                self.stats['dropped_stale'] += 1
            self._pending = msg
            self._lock.notify_all()

    def _on_incompatible_qos(self, topic: str, direction: str, event: Any) -> None:
        """Log and remember (for /diagnostics) a peer whose QoS cannot connect on ``topic``."""
        kind = getattr(event.last_policy_kind, 'name', event.last_policy_kind)
        if direction == 'in':
            problem = (
                f'{topic}: a publisher offers a QoS this {self._qos["in"]} subscription cannot '
                f'take (policy {kind}); if the camera publishes best effort, start the node '
                'with input_qos:=best_effort'
            )
        else:
            problem = (
                f'{topic}: a subscriber asks for a QoS this {self._qos["out"]} publisher cannot '
                f'give (policy {kind}); reliable subscribers (RViz, most nodes) need '
                'output_qos:=reliable'
            )
        if self._qos_problems.get(topic) != problem:  # once per topic and problem
            self.get_logger().error(problem)
        self._qos_problems[topic] = problem

    def _work(self) -> None:
        while True:
            with self._lock:
                while self._pending is None and self._running:
                    self._lock.wait()
                if not self._running:
                    return
                image = self._pending
                self._pending = None
                info, found = self._camera_info_for(image)
                if not self._running:  # stopped while waiting for the camera_info
                    return
            if found == 'latest':
                self.get_logger().warning(
                    f'no camera_info with the stamp of the image at {_stamp(image)}: using the '
                    'latest one; publish camera_info with the same header as its image',
                    throttle_duration_sec=10.0,
                )
            elif found == 'steady':
                self.stats['info_substituted'] += 1
                self.get_logger().warning(
                    f'the camera_info of the image at {_stamp(image)} did not arrive: using the '
                    'nearest one, the calibration being the same in all around it (camera_info '
                    'lost in transport: see the DDS profile in the README)',
                    throttle_duration_sec=10.0,
                )
            elif found == 'missing':
                self.stats['dropped_no_info'] += 1
                self.get_logger().warning(
                    f'dropped the image at {_stamp(image)}: its camera_info did not arrive within '
                    f'{INFO_WAIT_S:g} s',
                    throttle_duration_sec=5.0,
                )
                continue
            try:
                self.process(image, info)
            except Exception as exc:  # keep the worker alive whatever one frame does
                if not self._running:  # the node was destroyed under a late frame: no error
                    return
                problem = f'{type(exc).__name__}: {exc}'
                self._report_error(problem, f'frame at {_stamp(image)} failed: {problem}')

    def _camera_info_for(self, image: Image) -> Tuple[Optional[CameraInfo], str]:
        """
        Return (camera_info or None, how it was found: CameraInfoMatcher); hold the lock.

        While the camera's stamps match, the image waits up to INFO_WAIT_S for its own.
        """
        stamp = stamp_ns(image.header)
        if self._infos.waits:
            self._lock.wait_for(lambda: self._infos.has(stamp) or not self._running,
                                timeout=INFO_WAIT_S)
        return self._infos.match(stamp)

    def _report_error(self, problem: str, line: str) -> None:
        """
        Log a dropped frame: every new problem at once, a repeated one at most every 5 s.

        A problem is new after a good frame too (``process`` clears it), and /diagnostics shows
        it only until then. Control characters (from an encoding or frame_id) are escaped, so
        the line stays one line.
        """
        problem, line = _one_line(problem), _one_line(line)
        self.stats['errors'] += 1
        now = time.monotonic()
        if problem != self._last_error or now - self._last_error_time > 5.0:
            self.get_logger().error(line)
            self._last_error_time = now
        self._last_error = problem

    def process(self, image: Union[Image, CompressedImage], info: Optional[CameraInfo]) -> bool:
        """Compute and publish each subscribed output; return whether anything was published."""
        log = self.get_logger()
        try:
            width, height = _image_size(image)
        except ImageEncodingError as exc:
            self._report_error(str(exc), _drop_line(image, exc))
            return False
        if width * height > self._max_pixels:
            problem = (
                f'image is {width}x{height}, more than max_image_pixels '
                f'({self._max_pixels}); publish a smaller image (binning, a lower driver '
                'resolution) or raise max_image_pixels'
            )
            self._report_error(problem, f'dropped image at {_stamp(image)}: {problem}')
            return False
        if info is None:
            log.warning(
                'no camera_info received yet: depth needs the camera intrinsics; publish '
                'camera_info beside image (remap it if it lives elsewhere)',
                throttle_duration_sec=5.0,
            )
            return False
        want_depth = self.pub_depth.get_subscription_count() > 0
        want_normals = self.pipeline.has_normals and self.pub_normals.get_subscription_count() > 0
        want_points = self.pub_points.get_subscription_count() > 0
        want_info = self.pub_info.get_subscription_count() > 0
        want_labels = self.pub_labels is not None and self.pub_labels.get_subscription_count() > 0
        want_labels_color = (
            self.pub_labels_color is not None
            and self.pub_labels_color.get_subscription_count() > 0
        )
        want_any_labels = want_labels or want_labels_color
        if not (want_depth or want_normals or want_points or want_info or want_any_labels):
            self.stats['idle'] += 1
            return False
        try:
            pixels, encoding = _image_pixels(image)
            camera = camera_from_info(info)
            if not image.header.frame_id:
                log.warning(
                    f'image at {_stamp(image)} has an empty frame_id: its outputs cannot be '
                    'placed in TF or shown in RViz; give the camera driver its optical frame',
                    throttle_duration_sec=30.0,
                )
            elif info.header.frame_id != image.header.frame_id:
                log.warning(
                    f'camera_info frame "{_one_line(info.header.frame_id)}" differs from image '
                    f'frame "{_one_line(image.header.frame_id)}"; outputs use the image frame',
                    throttle_duration_sec=30.0,
                )
            wanted = {key for key, want in (
                ('info', want_info), ('depth', want_depth), ('normals', want_normals),
                ('points', want_points), ('labels', want_labels),
                ('labels_color', want_labels_color)) if want}
            messages, result = output_messages(
                self.pipeline, image.header, pixels, encoding, camera, wanted,
                getattr(self, '_palette', None), info, self._cloud)
        except (ImageEncodingError, CameraInfoError, PipelineError, BackendError) as exc:
            self._report_error(str(exc), _drop_line(image, exc))
            return False

        publishers = {
            'info': self.pub_info, 'depth': self.pub_depth, 'normals': self.pub_normals,
            'points': self.pub_points, 'labels': self.pub_labels,
            'labels_color': self.pub_labels_color,
        }
        for key, msg in messages.items():
            publishers[key].publish(msg)
        if result is not None:
            self._inference_ms = result.timings_ms['inference']
        header = image.header
        self.stats['processed'] += 1
        self._last_error = ''  # a good frame ends the error state: the next error is news again
        now = self.get_clock().now().nanoseconds
        stamp = header.stamp.sec * 1_000_000_000 + header.stamp.nanosec
        self._latency_ms = (now - stamp) / 1e6
        return True

    def _publish_diagnostics(self) -> None:
        status = DiagnosticStatus(
            name=f'{self.get_name()}: depth inference',
            hardware_id=self.pipeline.backend.describe(),
        )
        if not self._inputs:
            status.level, status.message = DiagnosticStatus.OK, 'inactive'
        elif self._qos_problems:
            status.level = DiagnosticStatus.WARN
            status.message = 'incompatible QoS on ' + ', '.join(sorted(self._qos_problems))
        elif self._infos.cache.latest is None and self.stats['received'] > 0:
            status.level, status.message = (
                DiagnosticStatus.WARN,
                'images arrive but no camera_info',
            )
        elif self._last_error:
            status.level, status.message = DiagnosticStatus.WARN, f'last error: {self._last_error}'
        elif not self.spec.trained:
            status.level, status.message = DiagnosticStatus.WARN, 'model has untrained weights'
        else:
            status.level, status.message = DiagnosticStatus.OK, 'running'
        values = dict(
            self.stats,
            model=self.spec.name,
            **self.pipeline.backend.info(),
            inference_ms=f'{self._inference_ms:.1f}',
            latency_ms=f'{self._latency_ms:.1f}',
        )
        status.values = [KeyValue(key=k, value=str(v)) for k, v in values.items()]
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.pub_diag.publish(msg)

    def destroy_node(self) -> None:
        """Stop the worker thread (if the node got as far as starting it), then the node."""
        self._stop_worker()
        super().destroy_node()


class DepthNode(DepthCore, Node):
    """depth_node: configured, subscribed and working from its start (the work: DepthCore)."""

    def __init__(self, **kwargs: Any) -> None:
        """Declare parameters, load the model, wire the topics; raise if the model cannot run."""
        super().__init__('depth_node', **kwargs)
        self._declare_parameters()
        self._configure(self.create_publisher)
        self._subscribe()
        self._start_worker()


def _image_size(image: Union[Image, CompressedImage]) -> Tuple[int, int]:
    """Return (width, height) of an image; of a compressed one from its header, not decoding."""
    if isinstance(image, CompressedImage):
        payload = inspect_compressed(image.format, image.data)
        return payload.width, payload.height
    return image.width, image.height


def _image_pixels(image: Union[Image, CompressedImage]) -> Tuple[Any, str]:
    """Return (pixels, encoding) of an image: a view of a raw one, a compressed one decoded."""
    if isinstance(image, CompressedImage):
        return compressed_to_numpy(image.format, image.data)
    return image_to_numpy(image), image.encoding


def _drop_line(image: Union[Image, CompressedImage], exc: Exception) -> str:
    """Return the error line of an image dropped because of ``exc``."""
    if isinstance(image, CompressedImage):
        what = f'compressed "{image.format}", {len(image.data)} bytes'
    else:
        what = f'{image.width}x{image.height} {image.encoding}'
    return f'dropped image at {_stamp(image)} ({what}): {exc}'


def _stamp(msg: Union[Image, CompressedImage]) -> str:
    return (
        f'{msg.header.stamp.sec}.{msg.header.stamp.nanosec:09d} '
        f'(frame "{_one_line(msg.header.frame_id)}")'
    )


def _one_line(text: str) -> str:
    """Return text with its control characters escaped (a newline as backslash n)."""
    return ''.join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _handle_signals(handler: Any) -> None:
    """Give SIGINT and SIGTERM this handler (a function, or signal.SIG_IGN)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)


def _run(args: Optional[list], stop: threading.Event, node_type: Type[DepthCore]) -> int:
    """Start the node, spin it until `stop` is set or it is finished; then stop it in order."""
    # Without rclpy's signal handlers: they shut the context down at once, under the worker.
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    try:
        node = node_type()
    except (ModelSpecError, BackendError, PipelineError) as exc:
        rclpy.logging.get_logger('depth_node').fatal(str(exc))
        rclpy.try_shutdown()
        return 1
    except (InvalidParameterTypeException, InvalidParameterValueException) as exc:
        line = f'{exc}; see the parameter table (ros2 param describe, or README.md)'
        rclpy.logging.get_logger('depth_node').fatal(line.replace('\n', ' '))
        rclpy.try_shutdown()
        return 1
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        # A signal during the model load stops here, before any spin.
        while not stop.is_set() and not node.finished:
            executor.spin_once(timeout_sec=STOP_POLL_S)
        end = time.monotonic() + FINISH_GRACE_S  # for the reply that finished it to go out
        while not stop.is_set() and time.monotonic() < end:
            executor.spin_once(timeout_sec=STOP_POLL_S)
    except ExternalShutdownException:
        pass  # the context was shut down from outside: stop as for a signal
    finally:
        executor.shutdown()
        node.destroy_node()  # the worker first: nothing publishes once the node is gone
        rclpy.try_shutdown()
    return 0


def run_node(node_type: Type[DepthCore], args: Optional[list] = None) -> int:
    """
    Run a depth node until SIGINT or SIGTERM (or it is finished), then stop it in order; return 0.

    Return 1 with one FATAL line when the node cannot start (a signal does not hide that).
    Signals, first or repeated, only ask for the stop: no KeyboardInterrupt can land inside the
    model load (where an interrupted import read as a missing backend) or inside the shutdown.
    """
    stop = threading.Event()
    _handle_signals(lambda signum, frame: stop.set())
    try:
        return _run(args, stop, node_type)
    finally:
        # Everything is stopped. Python's teardown gives signals with Python handlers their
        # default action back, so a late second Ctrl-C would kill the exiting process (exit -2);
        # ignored signals it leaves ignored.
        _handle_signals(signal.SIG_IGN)


def main(args: Optional[list] = None) -> int:
    """Run depth_node (see run_node)."""
    return run_node(DepthNode, args)


if __name__ == '__main__':
    raise SystemExit(main())
