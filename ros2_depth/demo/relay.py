"""
A bare rclpy relay: the DDS floor under depth_node's latency.

It subscribes to ``image`` and ``camera_info`` like depth_node (reliable, depth 1) and answers
each image at once with a ``depth/image`` of its stamp and frame: a 32FC1 image of the model's
output size, zeros, computing nothing. The time from publishing an image to receiving that
answer is what the middleware and rclpy alone cost for a frame's round trip; ``ros2-depth bench
--node`` measures it beside depth_node in the same run.

    python -m ros2_depth.demo.relay --ros-args -r __ns:=/camera -p width:=147 -p height:=109
"""

from __future__ import annotations

import threading
from typing import Optional

import numpy as np
import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from ros2_depth.image_encoding import fill_image
from sensor_msgs.msg import CameraInfo, Image


class Relay(Node):
    """Answers each image with a same-stamp 32FC1 image of a fixed size."""

    def __init__(self) -> None:
        """Declare the answer's size, subscribe to image, publish depth/image."""
        super().__init__('depth_relay')
        width = self.declare_parameter('width', 147).value
        height = self.declare_parameter('height', 109).value
        self._answer = Image()
        fill_image(self._answer, np.zeros((height, width), np.float32), '32FC1')
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                         reliability=ReliabilityPolicy.RELIABLE)
        self._pub = self.create_publisher(Image, 'depth/image', qos)
        self.create_subscription(Image, 'image', self._on_image, qos)
        # Like depth_node it also takes camera_info (and so receives it), but only looks at images.
        self.create_subscription(CameraInfo, 'camera_info', lambda msg: None, qos)

    def _on_image(self, msg: Image) -> None:
        self._answer.header = msg.header
        self._pub.publish(self._answer)


def main(args: Optional[list] = None) -> int:
    """Run the relay until SIGINT or SIGTERM; return 0."""
    import signal

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: stop.set())
    rclpy.init(args=args, signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
    node = Relay()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        while not stop.is_set():
            executor.spin_once(timeout_sec=0.1)
    except ExternalShutdownException:
        pass
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
