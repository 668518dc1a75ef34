"""
The shipped Fast DDS profile (config/fastdds.xml) carries whole camera images between processes.

With Fast DDS's default transports, a best-effort 640x480 rgb8 image (921,600 bytes) is larger than
the 512 KB shared-memory segment, goes over UDP in fragments, and mostly never arrives (measured on
this project's machines: 0 of 50 at 1 MB). The test sends such images best effort from one process
to another, both started with the profile, and expects nearly all of them.
"""

from __future__ import annotations

import os
from pathlib import Path
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ElementTree

import pytest
from ros2_depth.demo.depth_client import isolated_ros_env
from ros2_depth.resources import (
    fastdds_major, fastdds_profile_path, FASTDDS_PROFILE_VARIABLES, fastdds_profile_variables,
    with_fastdds_profile)

FRAMES = 40
WIDTH, HEIGHT = 640, 480

SUBSCRIBER = textwrap.dedent(f"""
    import time
    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image
    rclpy.init()
    node = rclpy.create_node('profile_sink')
    got, last = [], [time.monotonic() + 60]
    def take(msg):
        got.append(len(msg.data))
        last[0] = time.monotonic()
    node.create_subscription(Image, 'frames', take, qos_profile_sensor_data)
    print('ready', flush=True)
    # until every frame came, or 3 s after the last one that did (60 s for the first)
    while len(got) < {FRAMES} and time.monotonic() < last[0] + 3:
        rclpy.spin_once(node, timeout_sec=0.1)
    print('received', len(got), set(got), flush=True)
""")

PUBLISHER = textwrap.dedent(f"""
    import time
    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image
    rclpy.init()
    node = rclpy.create_node('profile_source')
    pub = node.create_publisher(Image, 'frames', qos_profile_sensor_data)
    end = time.monotonic() + 30
    while pub.get_subscription_count() == 0 and time.monotonic() < end:
        time.sleep(0.05)
    time.sleep(1.0)  # discovery of the reader's locators settles
    msg = Image(height={HEIGHT}, width={WIDTH}, encoding='rgb8', step={3 * WIDTH})
    msg.data = bytes({3 * WIDTH * HEIGHT})
    for index in range({FRAMES}):
        pub.publish(msg)
        time.sleep(0.1)
    time.sleep(1.0)
""")


def test_the_profile_is_a_fast_dds_profile_with_a_segment_for_large_images() -> None:
    root = ElementTree.parse(fastdds_profile_path()).getroot()
    ns = {'p': 'http://www.eprosima.com/XMLSchemas/fastRTPS_Profiles'}
    segment = root.find('.//p:transport_descriptor[p:type="SHM"]/p:segment_size', ns)
    assert segment is not None and int(segment.text) >= 8 * 1920 * 1080 * 3 // 4
    default = root.find('.//p:participant[@is_default_profile="true"]', ns)
    used = [t.text for t in default.findall('.//p:userTransports/p:transport_id', ns)]
    assert used[0] == 'ros2_depth_shm' and 'ros2_depth_udp' in used
    assert default.find('.//p:useBuiltinTransports', ns).text == 'false'


def test_a_profile_the_user_chose_is_kept(tmp_path: Path) -> None:
    mine = str(tmp_path / 'mine.xml')
    env = with_fastdds_profile({'FASTDDS_DEFAULT_PROFILES_FILE': mine})
    assert env['FASTDDS_DEFAULT_PROFILES_FILE'] == mine and not env.get(
        'FASTRTPS_DEFAULT_PROFILES_FILE')
    env = with_fastdds_profile({})
    assert set(env) == set(fastdds_profile_variables())  # only what this Fast DDS reads
    assert all(env[name] == str(fastdds_profile_path()) for name in env)


def test_the_profile_variable_is_the_one_this_fast_dds_reads() -> None:
    # the venvs' wheels: ros-fastrtps (2.x) on Humble and Jazzy, ros-fastdds (3.x) on Kilted
    major = fastdds_major()
    assert major in (2, 3)
    assert fastdds_profile_variables() == (
        ('FASTRTPS_DEFAULT_PROFILES_FILE',) if major == 2 else ('FASTDDS_DEFAULT_PROFILES_FILE',))
    assert set(fastdds_profile_variables()) <= set(FASTDDS_PROFILE_VARIABLES)


@pytest.mark.skipif(os.environ.get('RMW_IMPLEMENTATION', 'rmw_fastrtps_cpp') != 'rmw_fastrtps_cpp',
                    reason='the profile is for Fast DDS')
def test_best_effort_640x480_images_arrive_between_processes_with_the_profile() -> None:
    env = with_fastdds_profile(isolated_ros_env(salt=23))
    sink = subprocess.Popen([sys.executable, '-c', SUBSCRIBER], env=env, text=True,
                            stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        assert sink.stdout.readline().strip() == 'ready'
        source = subprocess.run([sys.executable, '-c', PUBLISHER], env=env, timeout=90,
                                capture_output=True, text=True)
        assert source.returncode == 0, source.stdout + source.stderr
        out, _ = sink.communicate(timeout=90)
    finally:
        if sink.poll() is None:
            sink.kill()
    last = out.strip().splitlines()[-1]
    assert last.startswith('received'), out
    count = int(last.split()[1])
    assert count >= 0.9 * FRAMES, f'{count} of {FRAMES} best-effort 640x480 images arrived:\n{out}'
    assert f'{{{3 * WIDTH * HEIGHT}}}' in last  # whole images


def test_without_wheel_metadata_the_distribution_tells(monkeypatch: pytest.MonkeyPatch) -> None:
    """A ROS install has no pip metadata (and no ament index outside a sourced shell here)."""
    import importlib.metadata

    def missing(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, 'version', missing)
    monkeypatch.delenv('AMENT_PREFIX_PATH', raising=False)
    monkeypatch.setenv('ROS_DISTRO', 'humble')
    assert fastdds_major() == 2
    assert fastdds_profile_variables() == ('FASTRTPS_DEFAULT_PROFILES_FILE',)
    monkeypatch.setenv('ROS_DISTRO', 'kilted')
    assert fastdds_major() == 3
    monkeypatch.delenv('ROS_DISTRO')
    assert fastdds_major() is None
    assert fastdds_profile_variables() == FASTDDS_PROFILE_VARIABLES  # unknown: both
