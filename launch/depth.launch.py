"""
Start depth_node on a camera: `ros2 launch ros2_depth depth.launch.py camera:=/camera/color`.

Topic layout (ros2_depth/topics.py): the node runs in the camera's namespace and reads
<camera>/<image> and <camera>/camera_info; its outputs go to the child namespace mono_depth,
where they cannot collide with an RGB-D driver's or depth_image_proc's own depth/camera_info
and points: <camera>/mono_depth/depth/image, <camera>/mono_depth/depth/camera_info,
<camera>/mono_depth/normals/image, <camera>/mono_depth/points and, for a model with labels,
<camera>/mono_depth/labels/image and <camera>/mono_depth/labels/color. Choose the model, backend
and QoS in a parameter file (see config/depth_node.yaml). rviz:=true also starts RViz with
config/depth.rviz, its topics and fixed frame set for this camera. executable:=depth_node_managed
starts the lifecycle variant (configure and activate it, e.g. with nav2_lifecycle_manager). The
node runs with the Fast DDS profile config/fastdds.xml (images through shared memory) unless
FASTRTPS_DEFAULT_PROFILES_FILE (FASTDDS_ on Fast DDS 3) names another or fastdds_profile:= does.
"""

import re
import tempfile

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.conditions import IfCondition
from launch.substitutions import EnvironmentVariable, LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare
from ros2_depth.resources import fastdds_profile_variables
from ros2_depth.topics import OUTPUT_NAMESPACE, output_remappings, retarget_rviz_config

# Launch arguments with plain-string defaults (test/test_launch_config.py reads them).
ARGUMENTS = {
    'camera': ('/camera', 'Namespace of the camera whose images are used.'),
    'image': ('image_rect', 'Image topic inside the camera namespace (rectified colour).'),
    'use_sim_time': ('false', 'Use /clock, e.g. when replaying a bag with --clock.'),
    'rviz': ('false', 'true: also start rviz2 with config/depth.rviz.'),
    'frame': ('camera_optical_frame',
              "RViz's fixed frame: the camera's optical frame (the frame_id of its images)."),
    'executable': ('depth_node',
                   'depth_node, or depth_node_managed: the lifecycle node (README).'),
}
# The executables the `executable` argument may name.
EXECUTABLES = ('depth_node', 'depth_node_managed')


def _use_sim_time() -> dict:
    """Return the use_sim_time parameter from the launch argument, as a bool."""
    return {'use_sim_time': ParameterValue(LaunchConfiguration('use_sim_time'), value_type=bool)}


def _rviz(context, *args, **kwargs):
    """Start rviz2 on config/depth.rviz, retargeted to this launch's camera, image and frame."""
    share = FindPackageShare('ros2_depth').perform(context)
    camera = LaunchConfiguration('camera').perform(context)
    with open(f'{share}/config/depth.rviz') as shipped:
        text = retarget_rviz_config(
            shipped.read(),
            camera=camera,
            image=LaunchConfiguration('image').perform(context),
            frame=LaunchConfiguration('frame').perform(context),
        )
    prefix = 'ros2_depth' + re.sub(r'[^A-Za-z0-9]+', '_', camera) + '_'
    with tempfile.NamedTemporaryFile('w', prefix=prefix, suffix='.rviz', delete=False) as config:
        config.write(text)
    return [
        Node(
            package='rviz2',
            executable='rviz2',
            name='rviz2',
            arguments=['-d', config.name],
            parameters=[_use_sim_time()],
            output='screen',
        )
    ]


def generate_launch_description() -> LaunchDescription:
    """Declare the arguments, the node and (with rviz:=true) RViz."""
    default_params = PathJoinSubstitution(
        [FindPackageShare('ros2_depth'), 'config', 'depth_node.yaml'])
    # The variable(s) this Fast DDS reads (FASTRTPS_ for 2.x, FASTDDS_ for 3.x, which warns about
    # the other). A profile the user exported stays in force; else the shipped one.
    variables = fastdds_profile_variables()
    default_profile = EnvironmentVariable(
        variables[0],
        default_value=PathJoinSubstitution(
            [FindPackageShare('ros2_depth'), 'config', 'fastdds.xml']))
    profile = LaunchConfiguration('fastdds_profile')
    return LaunchDescription(
        [
            *(
                DeclareLaunchArgument(
                    name, default_value=default, description=description,
                    **({'choices': list(EXECUTABLES)} if name == 'executable' else {}))
                for name, (default, description) in ARGUMENTS.items()
            ),
            DeclareLaunchArgument(
                'fastdds_profile',
                default_value=default_profile,
                description='Fast DDS XML profile of the node (default: '
                            '$FASTRTPS_DEFAULT_PROFILES_FILE, else config/fastdds.xml: images '
                            'through shared memory).',
            ),
            DeclareLaunchArgument(
                'params_file',
                default_value=default_params,
                description='Parameter file of depth_node (default: config/depth_node.yaml).',
            ),
            Node(
                package='ros2_depth',
                executable=LaunchConfiguration('executable'),
                name='depth_node',
                namespace=LaunchConfiguration('camera'),
                output='screen',
                emulate_tty=True,
                additional_env={name: profile for name in variables},
                parameters=[LaunchConfiguration('params_file'), _use_sim_time()],
                remappings=[
                    ('image', LaunchConfiguration('image')),
                    *output_remappings(OUTPUT_NAMESPACE),
                ],
            ),
            OpaqueFunction(function=_rviz, condition=IfCondition(LaunchConfiguration('rviz'))),
        ]
    )
