"""
config/depth.rviz: every display's keys, QoS and topic, checked against a running depth_node.

RViz itself is not installable here, so the file is read as YAML. The node runs with the launch
file's namespace and output remaps (ros2_depth/topics.py, which test_launch_config.py checks
against launch/depth.launch.py) and a model with labels, so that every output exists; each
display's topic must be one the node publishes (or, for the camera image, reads), with the
reliability and durability it publishes with.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import rclpy
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, ReliabilityPolicy
from ros2_depth import topics
from ros2_depth.depth_node import DepthNode
from ros_harness import Harness, isolated_ros_env, start_node_process, stop_process
import yaml

REPO = Path(__file__).resolve().parents[1]
RVIZ = REPO / 'config' / 'depth.rviz'
QOS_KEYS = ('Depth', 'Durability Policy', 'History Policy', 'Reliability Policy', 'Value')
# RViz's names of the QoS policies.
HISTORY = {HistoryPolicy.KEEP_LAST: 'Keep Last', HistoryPolicy.KEEP_ALL: 'Keep All'}
DURABILITY = {DurabilityPolicy.VOLATILE: 'Volatile',
              DurabilityPolicy.TRANSIENT_LOCAL: 'Transient Local'}
RELIABILITY = {ReliabilityPolicy.RELIABLE: 'Reliable',
               ReliabilityPolicy.BEST_EFFORT: 'Best Effort'}


@pytest.fixture(scope='module')
def node_qos(tiny_camera_model: Path) -> dict:
    """
    Return the QoS of a default depth_node's outputs, read from its publishers, in RViz's words.

    In this process: discovery does not carry a remote writer's history and depth.
    """
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = DepthNode(context=context, parameter_overrides=[
            Parameter('model', value=str(tiny_camera_model)), Parameter('num_threads', value=1)])
        try:
            profiles = {(p.qos_profile.history, p.qos_profile.depth, p.qos_profile.durability,
                         p.qos_profile.reliability)
                        for p in (node.pub_depth, node.pub_info, node.pub_normals,
                                  node.pub_points, node.pub_labels, node.pub_labels_color)}
        finally:
            node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
    ((history, depth, durability, reliability),) = profiles  # one QoS for all outputs
    return {'Depth': depth, 'Durability Policy': DURABILITY[durability],
            'History Policy': HISTORY[history], 'Reliability Policy': RELIABILITY[reliability]}


def load() -> dict:
    """Return config/depth.rviz parsed as YAML."""
    return yaml.safe_load(RVIZ.read_text())


def displays(config: dict) -> list:
    """Return the displays of an RViz configuration."""
    return config['Visualization Manager']['Displays']


def test_displays_have_their_keys_and_the_node_qos(node_qos: dict) -> None:
    """Class, Name, Enabled, Topic (QoS and Value) on every display; one per node output."""
    config = load()
    shown = displays(config)
    assert [d['Name'] for d in shown] == ['Camera image', 'Depth', 'Normals', 'Labels', 'Points']
    for display in shown:
        assert display['Class'].startswith('rviz_default_plugins/'), display
        assert display['Enabled'] is True, display['Name']
        assert set(QOS_KEYS) <= set(display['Topic']), display['Name']
        assert {k: display['Topic'][k] for k in node_qos} == node_qos, display['Name']
    cloud = shown[-1]
    assert cloud['Class'] == 'rviz_default_plugins/PointCloud2'
    assert cloud['Color Transformer'] == 'RGB8' and cloud['Position Transformer'] == 'XYZ'
    assert all(d['Class'] == 'rviz_default_plugins/Image' for d in shown[:-1])
    assert [d['Topic']['Value'] for d in shown] == [
        topics.rviz_topics()[key] for key in ('image', 'depth', 'normals', 'labels_color',
                                              'points')]
    assert config['Visualization Manager']['Global Options']['Fixed Frame'] == topics.RVIZ_FRAME


def test_view_looks_along_the_optical_axis() -> None:
    """An orbit view from (nearly) the optical centre towards +z, with the optical -y up."""
    view = load()['Visualization Manager']['Views']['Current']
    assert view['Class'] == 'rviz_default_plugins/Orbit'
    assert view['Target Frame'] == '<Fixed Frame>'
    focal = view['Focal Point']
    assert (focal['X'], focal['Y']) == (0, 0) and focal['Z'] > 0
    assert view['Distance'] == pytest.approx(focal['Z'])  # the eye sits at the camera
    assert view['Pitch'] == pytest.approx(-1.5708, abs=2e-3)  # looking up the z axis
    assert view['Yaw'] == pytest.approx(-1.5708, abs=1e-3)  # screen up = -y (optical)


def test_retargeted_config_follows_the_camera() -> None:
    """rviz:=true with another camera, image and frame rewrites exactly those."""
    text = topics.retarget_rviz_config(RVIZ.read_text(), camera='/robot/front',
                                       image='image_raw', frame='front_optical')
    config = yaml.safe_load(text)
    assert [d['Topic']['Value'] for d in displays(config)] == [
        '/robot/front/image_raw', '/robot/front/mono_depth/depth/image',
        '/robot/front/mono_depth/normals/image', '/robot/front/mono_depth/labels/color',
        '/robot/front/mono_depth/points']
    assert config['Visualization Manager']['Global Options']['Fixed Frame'] == 'front_optical'
    rest = text.splitlines()
    original = RVIZ.read_text().splitlines()
    assert len(rest) == len(original)
    assert sum(a != b for a, b in zip(rest, original)) == 6  # five topics and the frame


def test_display_topics_are_the_running_node_topics(tiny_camera_model: Path,
                                                    tmp_path: Path) -> None:
    """Each display topic is published (the camera image: read) by the node, with its QoS."""
    camera = topics.RVIZ_CAMERA
    env = isolated_ros_env(salt=71)
    log = tmp_path / 'node.log'
    proc = start_node_process(
        log, env, camera,
        ['-r', f'image:={topics.RVIZ_IMAGE}', '-p', f'model:={tiny_camera_model}',
         '-p', 'num_threads:=1'], layout=True)
    client = Harness(env, namespace=camera, image_topic=topics.RVIZ_IMAGE, labels=True,
                     layout=True)
    try:
        assert client.wait_for_node(), log.read_text()
        shown = displays(load())

        def endpoints() -> list:
            """(display, node, namespace, reliability, durability) of each display's peer."""
            found = []
            for display in shown:
                topic = display['Topic']['Value']
                if display['Name'] == 'Camera image':  # the node's input
                    peers = client.node.get_subscriptions_info_by_topic(topic)
                else:
                    peers = client.node.get_publishers_info_by_topic(topic)
                found += [(display['Name'], p.node_name, p.node_namespace,
                           p.qos_profile.reliability, p.qos_profile.durability) for p in peers]
            return found

        # Discovery names an endpoint's node a moment after the endpoint itself.
        want = [(d['Name'], 'depth_node', camera, ReliabilityPolicy.RELIABLE,
                 DurabilityPolicy.VOLATILE) for d in shown]
        client.spin_until(lambda: endpoints() == want, 10.0)
        assert endpoints() == want
    finally:
        client.close()
        assert stop_process(proc) == 0, log.read_text()
