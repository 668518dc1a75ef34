"""
Drive a depth_node from another process: publish camera frames, collect every output by stamp.

Used by `ros2-depth demo` and by the integration tests: it talks to the node over real DDS, the way
a camera driver and RViz would.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
import subprocess
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from ros2_depth import topics
from ros2_depth.camera_model import fill_camera_info, PinholeCamera
from ros2_depth.image_encoding import fill_image
from ros2_depth.resources import FASTDDS_PROFILE_VARIABLES
from sensor_msgs.msg import CameraInfo, Image, PointCloud2

# Output key -> (topic relative to the node's namespace, type).
_TYPES = {'info': CameraInfo, 'points': PointCloud2}
OUTPUTS = {key: (topic, _TYPES.get(key, Image)) for key, topic in topics.OUTPUTS.items()
           if key not in topics.LABEL_KEYS}
# Published only by models with a labels output.
LABEL_OUTPUTS = {key: (topics.OUTPUTS[key], Image) for key in topics.LABEL_KEYS}
Stamp = Tuple[int, int]


# The environment variables that isolate a test or demo graph: its domain and discovery range.
ISOLATION = ('ROS_DOMAIN_ID', 'ROS_AUTOMATIC_DISCOVERY_RANGE', 'ROS_LOCALHOST_ONLY')


def isolated_ros_env(salt: int = 0) -> Dict[str, str]:
    """Return this environment with its own ROS domain (from the pid), discovery on localhost."""
    env = dict(os.environ)
    env['ROS_DOMAIN_ID'] = str(1 + (os.getpid() + salt) % 100)
    # Iron and newer (rclpy.event_handler came with it) have ROS_AUTOMATIC_DISCOVERY_RANGE; Jazzy
    # still honours the older ROS_LOCALHOST_ONLY but warns about it: only Humble gets that one.
    env.pop('ROS_AUTOMATIC_DISCOVERY_RANGE', None)
    env.pop('ROS_LOCALHOST_ONLY', None)
    if importlib.util.find_spec('rclpy.event_handler') is not None:
        env['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    else:
        env['ROS_LOCALHOST_ONLY'] = '1'
    env['RCUTILS_COLORIZED_OUTPUT'] = '0'
    env['PYTHONUNBUFFERED'] = '1'
    return env


def start_node_process(
    log_path: Path,
    env: Dict[str, str],
    namespace: str,
    ros_args: Sequence[str] = (),
    module: str = 'ros2_depth.depth_node',
    layout: bool = False,
) -> subprocess.Popen:
    """
    Start depth_node (or another node `module`) in `namespace`, console output to `log_path`.

    With `layout`, its outputs are remapped as launch/depth.launch.py does (ros2_depth.topics):
    into `<namespace>/mono_depth/`.
    """
    cmd = [
        sys.executable,
        '-m',
        module,
        '--ros-args',
        '-r',
        f'__ns:={namespace}',
        *(topics.output_remap_args() if layout else ()),
        *ros_args,
    ]
    with open(log_path, 'w') as log:
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)


def stop_process(proc: subprocess.Popen, timeout: float = 10.0) -> int:
    """Interrupt a node process as Ctrl-C would and return its exit code."""
    if proc.poll() is None:
        proc.send_signal(2)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def image_msg(stamp: Stamp, frame: str, pixels: np.ndarray, encoding: str = 'rgb8') -> Image:
    """Return an Image with the given stamp, frame and pixels."""
    msg = Image()
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp
    msg.header.frame_id = frame
    return fill_image(msg, pixels, encoding)


def camera_info_msg(stamp: Stamp, frame: str, camera: PinholeCamera) -> CameraInfo:
    """Return a rectified CameraInfo for `camera`."""
    info = CameraInfo()
    info.header.stamp.sec, info.header.stamp.nanosec = stamp
    info.header.frame_id = frame
    return fill_camera_info(info, camera)


class DepthClient:
    """A node in a context of its own that feeds a depth node and records what it publishes."""

    def __init__(
        self,
        env: Dict[str, str],
        namespace: str,
        reliability: str = 'reliable',
        image_topic: str = 'image',
        name: str = 'depth_client',
        labels: bool = False,
        image_type: type = Image,
        layout: bool = False,
        outputs: Optional[Dict[str, Tuple[str, type]]] = None,
    ) -> None:
        """
        Create the context (in `env`'s ROS domain), publishers and output subscriptions.

        With `labels`, it also subscribes to the labels outputs (and so makes the node compute
        them). `image_type` CompressedImage (with `image_topic` image/compressed) feeds a node
        started with image_transport:=compressed. With `layout`, it reads the outputs where
        launch/depth.launch.py puts them, under `<namespace>/mono_depth/` (start_node_process(
        layout=True) starts a node that way).
        `outputs` (key -> (topic, type)) replaces the whole set, e.g. for a relay.
        """
        # The Fast DDS profile is read when this process creates its first participant (below):
        # set for that only, so that it does not leak into processes started later.
        saved = {key: os.environ.get(key) for key in FASTDDS_PROFILE_VARIABLES}
        for key in ISOLATION + FASTDDS_PROFILE_VARIABLES:
            if key in env:
                os.environ[key] = env[key]
            else:
                os.environ.pop(key, None)
        self.namespace = namespace
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = Node(name, namespace=namespace, context=self.context)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        policy = (
            ReliabilityPolicy.RELIABLE
            if reliability == 'reliable'
            else ReliabilityPolicy.BEST_EFFORT
        )
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=policy)
        self.pub_image = self.node.create_publisher(image_type, image_topic, qos)
        self.pub_info = self.node.create_publisher(CameraInfo, 'camera_info', qos)
        self.received: Dict[Stamp, Dict[str, object]] = {}
        self.arrival_time: Dict[Stamp, float] = {}
        self.arrivals: List[Tuple[str, Stamp]] = []
        out_qos = QoSProfile(
            history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE
        )
        prefix = f'{topics.OUTPUT_NAMESPACE}/' if layout else ''
        default = dict(OUTPUTS, **(LABEL_OUTPUTS if labels else {}))
        self.outputs = dict(outputs) if outputs is not None else {
            key: (prefix + topic, msg_type) for key, (topic, msg_type) in default.items()}
        for key, (topic, msg_type) in self.outputs.items():
            self.node.create_subscription(msg_type, topic, self._recorder(key), out_qos)

    def _recorder(self, key: str) -> Callable[[object], None]:
        def record(msg: object) -> None:
            stamp = (msg.header.stamp.sec, msg.header.stamp.nanosec)
            self.received.setdefault(stamp, {})[key] = msg
            self.arrival_time[stamp] = time.monotonic()
            self.arrivals.append((key, stamp))

        return record

    def spin_until(self, done: Callable[[], bool], timeout: float) -> bool:
        """Spin until `done()` or the timeout; return whether it came true."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if done():
                return True
            self.executor.spin_once(timeout_sec=0.02)
        return done()

    def wait_for_node(self, timeout: float = 20.0) -> bool:
        """Wait until the depth node subscribes to our topics and publishes all its outputs."""
        return self.spin_until(
            lambda: (
                self.pub_image.get_subscription_count() > 0
                and self.pub_info.get_subscription_count() > 0
                and all(
                    self.node.count_publishers(f'{self.namespace}/{topic}') > 0
                    for topic, _ in self.outputs.values()
                )
            ),
            timeout,
        )

    def send(self, image: Image, info: Optional[CameraInfo]) -> None:
        """Publish camera_info (if any), then the image."""
        if info is not None:
            self.pub_info.publish(info)
            self.executor.spin_once(timeout_sec=0.01)
        self.pub_image.publish(image)

    def send_until_complete(
        self,
        image: Image,
        info: Optional[CameraInfo],
        timeout: float = 20.0,
        keys: Optional[Sequence[str]] = None,
    ) -> bool:
        """Publish a frame (again every second) until every output with its stamp has arrived."""
        keys = tuple(self.outputs) if keys is None else keys
        stamp = (image.header.stamp.sec, image.header.stamp.nanosec)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.send(image, info)
            if self.spin_until(lambda: set(keys) <= set(self.received.get(stamp, {})), 1.0):
                return True
        return False

    def close(self) -> None:
        """Destroy the node and shut its context down."""
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
