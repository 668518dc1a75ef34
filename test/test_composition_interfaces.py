"""
composition_interfaces as scripts/setup-env builds it from ../shared/third_party, over real DDS.

launch_ros.actions imports composition_interfaces.srv (LoadComposableNodes uses its services); no
registry has it, so scripts/generate-interfaces.py generates and compiles it with the ROS wheels'
rosidl tools. A LoadNode call, with a nested rcl_interfaces/Parameter, goes through a service and
a client. Skipped where the package is not installed, or was built without a compiler (then its
classes import but no service of them can be made).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
import subprocess
import sys

import pytest
from rcl_interfaces.msg import Parameter, ParameterValue
import rclpy
from rclpy.executors import SingleThreadedExecutor
from ros2_depth.demo.depth_client import isolated_ros_env

SPEC = importlib.util.find_spec('composition_interfaces')
pytestmark = pytest.mark.skipif(
    SPEC is None, reason='composition_interfaces is not installed (scripts/setup-env builds it '
    'from ../shared/third_party where that folder exists; a ROS 2 install has it)')


def test_load_node_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    """A LoadNode request and its response cross the middleware intact."""
    package = Path(SPEC.origin).parent
    if not list(package.glob('composition_interfaces_s__rosidl_typesupport_c*.so')):
        pytest.skip('composition_interfaces was built without typesupport (no C compiler)')
    from composition_interfaces.srv import LoadNode

    for key, value in isolated_ros_env(salt=83).items():
        monkeypatch.setenv(key, value)
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = rclpy.create_node('composition_probe', context=context)
        requests = []

        def load(request, response):
            requests.append(request)
            response.success = True
            response.full_node_name = '/' + request.node_name
            response.unique_id = 42
            return response

        node.create_service(LoadNode, 'load_node', load)
        client = node.create_client(LoadNode, 'load_node')
        assert client.wait_for_service(timeout_sec=10)
        request = LoadNode.Request(
            package_name='ros2_depth', plugin_name='DepthNode', node_name='depth',
            remap_rules=['image:=image_raw'],
            parameters=[Parameter(name='num_threads',
                                  value=ParameterValue(type=2, integer_value=3))])
        future = client.call_async(request)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        executor.spin_until_future_complete(future, timeout_sec=10)
        response = future.result()
        assert response is not None
        assert (response.success, response.full_node_name, response.unique_id) == (
            True, '/depth', 42)
        (got,) = requests
        assert got.remap_rules == ['image:=image_raw']
        assert (got.parameters[0].name, got.parameters[0].value.integer_value) == (
            'num_threads', 3)
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)


def test_launch_ros_actions_import() -> None:
    """launch_ros.actions (Node, ComposableNodeContainer...) imports with it."""
    if importlib.util.find_spec('launch_ros') is None:
        pytest.skip('launch_ros is not installed')
    run = subprocess.run([sys.executable, '-c', 'import launch_ros.actions as a; a.Node; '
                          'a.LoadComposableNodes'], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
