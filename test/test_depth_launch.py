"""
launch_testing: depth.launch.py on a real ROS 2 install publishes depth for a camera.

Skipped where the launch packages are missing (they are not published as wheels); the same
configuration is exercised as a plain process by test_launch_config.py.
"""

import os
import time
import unittest

from ament_index_python.packages import get_package_share_directory
import numpy as np
import pytest
import rclpy
from ros2_depth.image_encoding import fill_image
from sensor_msgs.msg import CameraInfo, Image

launch_testing = pytest.importorskip(
    'launch_testing',
    reason='launch_testing is not installed (it comes with a ROS 2 install, not pip)',
)
launch_ros = pytest.importorskip('launch_ros', reason='launch_ros is not installed')
# The launch package comes with launch_testing, so it too is imported after the checks above.
launch = pytest.importorskip('launch')
pytest.importorskip('launch.launch_description_sources')


@pytest.mark.launch_test
def generate_test_description():
    """Launch depth.launch.py for camera /test_camera."""
    path = os.path.join(get_package_share_directory('ros2_depth'), 'launch', 'depth.launch.py')
    source = launch.launch_description_sources.PythonLaunchDescriptionSource(path)
    include = launch.actions.IncludeLaunchDescription(
        source, launch_arguments={'camera': '/test_camera'}.items()
    )
    return launch.LaunchDescription([include, launch_testing.actions.ReadyToTest()])


class TestDepthLaunch(unittest.TestCase):
    """Publish one camera frame repeatedly; depth must come back with the frame's header."""

    def test_depth_for_a_frame(self):
        """A 640x480 rgb8 frame gives a 32FC1 depth image stamped like the frame."""
        rclpy.init()
        node = rclpy.create_node('depth_launch_probe')
        try:
            got = []
            node.create_subscription(Image, '/test_camera/depth/image', got.append, 10)
            pub_image = node.create_publisher(Image, '/test_camera/image_rect', 10)
            pub_info = node.create_publisher(CameraInfo, '/test_camera/camera_info', 10)
            image = fill_image(Image(), np.zeros((480, 640, 3), np.uint8), 'rgb8')
            image.header.frame_id = 'test_optical'
            image.header.stamp.sec = 7
            info = CameraInfo(width=640, height=480)
            info.header = image.header
            info.k = [500.0, 0.0, 319.5, 0.0, 500.0, 239.5, 0.0, 0.0, 1.0]
            end = time.monotonic() + 30
            while not got and time.monotonic() < end:
                pub_info.publish(info)
                pub_image.publish(image)
                rclpy.spin_once(node, timeout_sec=0.5)
            self.assertTrue(got, 'no depth image from the launched node')
            self.assertEqual(got[0].header.frame_id, 'test_optical')
            self.assertEqual(got[0].header.stamp.sec, 7)
            self.assertEqual(got[0].encoding, '32FC1')
        finally:
            node.destroy_node()
            rclpy.shutdown()
