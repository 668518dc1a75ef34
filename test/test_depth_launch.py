"""
launch/depth.launch.py for real: launch_testing starts the node through the installed launch file.

The launch packages are on no registry: scripts/setup-env builds them from ../shared/third_party
(a ROS 2 install has them). Without them this test skips. The launch test itself is
test/launch_testing_depth.py, run with the `launch_test` runner (pytest.ini explains why not with
launch_testing's pytest plugin) on a colcon install space, with the tiny test model.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

import pytest
from ros2_depth import topics
from ros2_depth.demo.depth_client import isolated_ros_env

# Not imported here: importing launch replaces the logging module's logger class, which would hide
# later tests' log records from pytest. test/launch_testing_depth.py imports them.
pytestmark = pytest.mark.skipif(
    not all(importlib.util.find_spec(m) for m in ('launch_testing', 'launch_ros')),
    reason='launch_testing/launch_ros are not installed (scripts/setup-env builds them from '
    '../shared/third_party where that folder exists; a ROS 2 install has them)',
)

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.launch_test
def test_launch_file_publishes_depth(install_space: Path, tiny_model: Path,
                                     tmp_path: Path) -> None:
    """The launch test passes: outputs under the layout with the frame's header, exit code 0."""
    params = tmp_path / 'params.yaml'
    params.write_text(
        '/**:\n  ros__parameters:\n'
        f'    model: "{tiny_model}"\n    num_threads: 1\n    output_qos: reliable\n'
    )
    site = next((install_space / 'lib').glob('python3*/site-packages'))
    env = isolated_ros_env(salt=61)
    env['AMENT_PREFIX_PATH'] = os.pathsep.join([str(install_space), sys.prefix])
    env['PYTHONPATH'] = os.pathsep.join([str(site), env.get('PYTHONPATH', '')])
    junit = tmp_path / 'launch_test.xml'
    cmd = [sys.executable, '-m', 'launch_testing.launch_test',
           str(REPO / 'test' / 'launch_testing_depth.py'), f'params_file:={params}',
           '--junit-xml', str(junit)]
    run = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    cases = ElementTree.parse(junit).getroot().iter('testcase')
    names = sorted(case.get('name') for case in cases)
    assert names == ['test_exit_code', 'test_outputs_under_the_layout'], output


def test_rviz_true_opens_the_config_for_this_camera(install_space: Path, tmp_path: Path) -> None:
    """rviz:=true gives an rviz2 node on a copy of config/depth.rviz for the camera given."""
    env = dict(os.environ, AMENT_PREFIX_PATH=str(install_space))
    cmd = [sys.executable, str(REPO / 'test' / 'launch_evaluate.py'),
           str(REPO / 'launch' / 'depth.launch.py'), str(REPO / 'config' / 'depth_node.yaml'),
           'rviz:=true', 'camera:=/robot/front', 'image:=image_raw', 'frame:=front_optical']
    run = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    rviz = json.loads(run.stdout.splitlines()[-1])['rviz']
    assert (rviz['package'], rviz['executable']) == ('rviz2', 'rviz2')
    flag, path = rviz['arguments']
    assert flag == '-d'
    shipped = install_space / 'share' / 'ros2_depth' / 'config' / 'depth.rviz'
    expected = topics.retarget_rviz_config(shipped.read_text(), camera='/robot/front',
                                           image='image_raw', frame='front_optical')
    try:
        assert Path(path).read_text() == expected
    finally:
        Path(path).unlink()
    assert '/robot/front/mono_depth/points' in expected
