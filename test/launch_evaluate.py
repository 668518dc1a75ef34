"""
Print, as JSON, how a launch file's one Node starts with the launch file's default arguments.

Usage: launch_evaluate.py LAUNCH_FILE PARAMS_FILE [NAME:=VALUE...]. Used by test_launch_config.py
and test_depth_launch.py in a process of their own: importing launch replaces the logging
module's logger class, which would hide later tests' log records from pytest. PARAMS_FILE stands
in for the launch argument params_file, whose default needs an install space
(share/ros2_depth/config/depth_node.yaml), and fastdds_profile is PARAMS_FILE's sibling
fastdds.xml; NAME:=VALUE sets other launch arguments. With
rviz:=true (and AMENT_PREFIX_PATH on an install space) it also runs the launch file's
OpaqueFunction and reports the rviz2 Node it returns.
"""

import json
from pathlib import Path
import sys

from launch import LaunchContext
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.launch_description_sources import get_launch_description_from_python_launch_file
from launch.utilities import normalize_to_list_of_substitutions, perform_substitutions
from launch_ros.actions import Node


def evaluate(launch_file: str, params_file: str, arguments: dict) -> dict:
    """Return the Node's namespace, remappings and parameter files, evaluated as launch would."""
    description = get_launch_description_from_python_launch_file(launch_file)
    context = LaunchContext()
    context.launch_configurations['params_file'] = params_file
    # likewise the Fast DDS profile's default (share/ros2_depth/config/fastdds.xml)
    context.launch_configurations['fastdds_profile'] = str(Path(params_file).with_name(
        'fastdds.xml'))
    context.launch_configurations.update(arguments)
    for entity in description.entities:
        if isinstance(entity, DeclareLaunchArgument):
            entity.visit(context)
    (node,) = [e for e in description.entities if isinstance(e, Node)]
    node._perform_substitutions(context)  # what Node.execute() does first
    rviz = None
    (opaque,) = [e for e in description.entities if isinstance(e, OpaqueFunction)]
    if opaque.condition.evaluate(context):
        (viewer,) = opaque.visit(context)
        rviz = {'package': viewer.node_package, 'executable': viewer.node_executable,
                'arguments': [
                    perform_substitutions(context, normalize_to_list_of_substitutions(a))
                    for a in viewer._Node__arguments]}
    return {
        'rviz': rviz,
        'namespace': node.expanded_node_namespace,
        'remappings': node.expanded_remapping_rules,
        'params_files': [path for path, _ in node._Node__expanded_parameter_arguments],
        'arguments': {name: context.launch_configurations[name]
                      for name in context.launch_configurations},
    }


if __name__ == '__main__':
    print(json.dumps(evaluate(sys.argv[1], sys.argv[2],
                              dict(arg.split(':=', 1) for arg in sys.argv[3:]))))
