"""
Start depth_node on a camera: `ros2 launch ros2_depth depth.launch.py camera:=/camera/color`.

The node's relative topics are remapped onto the camera's: <camera>/<image> and
<camera>/camera_info in; <camera>/depth/image, <camera>/depth/camera_info, <camera>/normals/image,
<camera>/points and, for a model with labels, <camera>/labels/image and <camera>/labels/color
out. Choose the model, backend and QoS in a parameter file (see
config/depth_node.yaml).
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PythonExpression
from launch_ros.actions import Node

# Launch arguments and defaults; test/test_launch_config.py starts the node the same way.
ARGUMENTS = {
    'camera': ('/camera', 'Namespace of the camera whose images are used.'),
    'image': ('image_rect', 'Image topic inside the camera namespace (rectified colour).'),
    'params_file': ('', 'Parameter file; empty: share/ros2_depth/config/depth_node.yaml.'),
    'use_sim_time': ('false', 'Use /clock, e.g. when replaying a bag with --clock.'),
}


def generate_launch_description() -> LaunchDescription:
    """Declare the arguments and the node."""
    default_params = os.path.join(
        get_package_share_directory('ros2_depth'), 'config', 'depth_node.yaml'
    )
    params_file = PythonExpression(
        ["'", LaunchConfiguration('params_file'), "' or '", default_params, "'"]
    )
    sim_time = PythonExpression(["'", LaunchConfiguration('use_sim_time'), "' == 'true'"])
    return LaunchDescription(
        [
            *(
                DeclareLaunchArgument(name, default_value=default, description=description)
                for name, (default, description) in ARGUMENTS.items()
            ),
            Node(
                package='ros2_depth',
                executable='depth_node',
                name='depth_node',
                namespace=LaunchConfiguration('camera'),
                output='screen',
                emulate_tty=True,
                parameters=[params_file, {'use_sim_time': sim_time}],
                remappings=[('image', LaunchConfiguration('image'))],
            ),
        ]
    )
