"""
launch_testing description: launch/depth.launch.py, as installed, on one camera.

Run by test/test_depth_launch.py with the `launch_test` runner (launch argument params_file:=
selects the model). It publishes a camera's image and camera_info where the launch file's remaps
read them, and reads depth, its camera_info, normals and the cloud where its layout puts them
(ros2_depth/topics.py), each with the frame's header; the node must not publish on the camera's
own depth/camera_info or points, and must exit with 0 when the launch shuts down.
"""

import os
import unittest

from ament_index_python.packages import get_package_share_directory
import launch
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
import launch_testing
import launch_testing.actions
import launch_testing.asserts
import numpy as np
from ros2_depth import topics
from ros2_depth.camera_model import PinholeCamera
from ros2_depth.demo.depth_client import camera_info_msg, DepthClient, image_msg

CAMERA = '/test_camera'
IMAGE = 'image_raw'


def generate_test_description():
    """Include the installed depth.launch.py for CAMERA with image:=IMAGE."""
    path = os.path.join(get_package_share_directory('ros2_depth'), 'launch', 'depth.launch.py')
    include = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(path),
        launch_arguments={
            'camera': CAMERA,
            'image': IMAGE,
            'params_file': LaunchConfiguration('params_file'),
        }.items(),
    )
    return launch.LaunchDescription([
        DeclareLaunchArgument('params_file', description='depth_node parameter file'),
        include,
        launch_testing.actions.ReadyToTest(),
    ])


class TestDepthLaunch(unittest.TestCase):
    """One camera frame through the launched node over the middleware."""

    def test_outputs_under_the_layout(self):
        """Depth, its camera_info, normals and points come back under mono_depth/."""
        client = DepthClient(dict(os.environ), CAMERA, image_topic=IMAGE,
                             name='launch_probe', layout=True)
        try:
            self.assertTrue(client.wait_for_node(60.0), 'the launched node did not come up')
            for key in ('depth', 'info', 'normals', 'points'):
                self.assertEqual(client.node.count_publishers(topics.laid_out(CAMERA, key)), 1)
            # The camera's own names stay free for an RGB-D driver or depth_image_proc.
            for topic in ('depth/image', 'depth/camera_info', 'points'):
                self.assertEqual(client.node.count_publishers(f'{CAMERA}/{topic}'), 0, topic)
            stamp = (7, 250)
            pixels = np.random.default_rng(1).integers(0, 255, (240, 320, 3), np.uint8)
            camera = PinholeCamera(320, 240, 260.0, 260.0, 159.5, 119.5)
            self.assertTrue(client.send_until_complete(
                image_msg(stamp, 'test_optical', pixels),
                camera_info_msg(stamp, 'test_optical', camera), timeout=60.0))
            out = client.received[stamp]
            for key, msg in out.items():
                self.assertEqual(msg.header.frame_id, 'test_optical', key)
                self.assertEqual((msg.header.stamp.sec, msg.header.stamp.nanosec), stamp, key)
            self.assertEqual(out['depth'].encoding, '32FC1')
            self.assertEqual((out['info'].width, out['info'].height),
                             (out['depth'].width, out['depth'].height))
            self.assertEqual((out['points'].width, out['points'].height),
                             (out['depth'].width, out['depth'].height))
            depth = np.frombuffer(bytes(out['depth'].data), np.float32)
            self.assertTrue(np.isfinite(depth).any() and (depth[np.isfinite(depth)] > 0).all())
        finally:
            client.close()


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):
    """The node stops cleanly when the launch shuts down."""

    def test_exit_code(self, proc_info):
        """depth_node exits with 0 on the launch's SIGINT."""
        launch_testing.asserts.assertExitCodes(proc_info)
