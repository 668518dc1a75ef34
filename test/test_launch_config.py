"""
The shipped configuration (config/depth_node.yaml, the launch namespace and remaps), bundled model.

Where the launch packages are installed (scripts/setup-env builds them from ../shared/third_party),
the node's namespace, remappings and parameter files are those that launch/depth.launch.py itself
produces with its default arguments; without them, the launch file's ARGUMENTS are parsed (not
run) and the remappings are the layout of ros2_depth/topics.py, which the launch file imports.
The node then runs as a plain process with them; test_depth_launch.py runs the launch file itself.
"""

from __future__ import annotations

import ast
import importlib.util
import json
from pathlib import Path
import re
import subprocess
import sys
from typing import List, NamedTuple, Tuple

import numpy as np
import pytest
from ros2_depth import topics
from ros_harness import (
    Harness,
    isolated_ros_env,
    make_camera_info,
    make_image,
    start_node_process,
    stop_process,
)

REPO = Path(__file__).resolve().parents[1]
LAUNCH_FILE = REPO / 'launch' / 'depth.launch.py'
PARAMS = REPO / 'config' / 'depth_node.yaml'
HAVE_LAUNCH = all(importlib.util.find_spec(m) for m in ('launch', 'launch_ros'))


class NodeLaunch(NamedTuple):
    """How the launch file starts depth_node: namespace, remappings and parameter files."""

    namespace: str
    remappings: List[Tuple[str, str]]
    params_files: List[str]


def test_every_parameter_is_documented_and_configured_with_its_default() -> None:
    """Check that README's parameter table and config/depth_node.yaml give each default."""
    import yaml
    from ros2_depth.depth_node import PARAMETERS

    readme = (REPO / 'README.md').read_text()
    table = dict(re.findall(r'^\| `(\w+)` \| `([^`]*)` \|', readme, re.MULTILINE))
    config = yaml.safe_load((REPO / 'config' / 'depth_node.yaml').read_text())
    values = config['/**']['ros__parameters']
    for name, (default, description, _) in PARAMETERS.items():
        text = str(default).lower() if isinstance(default, bool) else str(default)
        assert table.get(name) == (text if text else '""'), name
        assert values.get(name) == default, name
        assert description.strip(), name


def launch_defaults() -> dict:
    """Return the launch file's ARGUMENTS defaults, parsed from its source (a dict literal)."""
    tree = ast.parse(LAUNCH_FILE.read_text())
    for statement in tree.body:
        if isinstance(statement, ast.Assign) and getattr(statement.targets[0], 'id', '') == (
                'ARGUMENTS'):
            return {name: default
                    for name, (default, _) in ast.literal_eval(statement.value).items()}
    raise AssertionError('launch/depth.launch.py has no ARGUMENTS dict')


def evaluated_launch() -> NodeLaunch:
    """Evaluate depth.launch.py's Node with its default arguments, as `ros2 launch` would."""
    run = subprocess.run(
        [sys.executable, str(REPO / 'test' / 'launch_evaluate.py'), str(LAUNCH_FILE), str(PARAMS)],
        capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    launch = json.loads(run.stdout.splitlines()[-1])
    assert launch['rviz'] is None, 'rviz is off by default'
    return NodeLaunch(launch['namespace'], [tuple(r) for r in launch['remappings']],
                      launch['params_files'])


def node_launch() -> NodeLaunch:
    """Return how the launch file starts the node: evaluated where possible, else parsed."""
    if HAVE_LAUNCH:
        return evaluated_launch()
    defaults = launch_defaults()
    return NodeLaunch(defaults['camera'], [('image', defaults['image']),
                                           *topics.output_remappings()], [str(PARAMS)])


def test_launch_file_is_static_python() -> None:
    """No string-built PythonExpression (it broke on a quote); the outputs use the layout."""
    source = LAUNCH_FILE.read_text()
    assert 'PythonExpression' not in source
    assert '*output_remappings(OUTPUT_NAMESPACE)' in source
    assert set(launch_defaults()) == {
        'camera', 'image', 'use_sim_time', 'rviz', 'frame', 'executable'}
    assert 'additional_env={name: profile for name in variables}' in source


@pytest.mark.skipif(not HAVE_LAUNCH, reason='launch/launch_ros are not installed '
                    '(scripts/setup-env builds them from ../shared/third_party)')
def test_launch_file_evaluates_to_the_layout() -> None:
    """With its defaults the launch file gives the camera namespace, the layout and the yaml."""
    launch = evaluated_launch()
    defaults = launch_defaults()
    assert launch.namespace == defaults['camera'] == '/camera'
    assert launch.remappings == [('image', 'image_rect'), *topics.output_remappings()]
    assert launch.params_files[0] == str(PARAMS)


def run_configuration(
    tmp_path: Path, reliability: str, width: int, height: int, *extra: str
) -> None:
    """Start the node with the launch file's namespace, remaps and parameters; check a frame."""
    launch = node_launch()
    image_topic = dict(launch.remappings)['image']
    env = isolated_ros_env()
    log = tmp_path / 'node.log'
    args = []
    for src, dst in launch.remappings:
        args += ['-r', f'{src}:={dst}']
    for path in launch.params_files:
        args += ['--params-file', path]
    proc = start_node_process(log, env, launch.namespace, [*args, *extra])
    harness = Harness(env, namespace=launch.namespace, reliability=reliability,
                      image_topic=image_topic, layout=True)
    try:
        assert harness.wait_for_node(), log.read_text()
        stamp = (42, 0)
        pixels = np.random.default_rng(0).integers(0, 255, (height, width, 3), np.uint8)
        info = make_camera_info(
            stamp,
            'cam',
            width,
            height,
            0.8 * width,
            0.8 * width,
            width / 2 - 0.5,
            height / 2 - 0.5,
        )
        assert harness.send_until_complete(make_image(stamp, 'cam', pixels), info, timeout=30), (
            log.read_text()
        )
        depth = harness.received[stamp]['depth']
        assert depth.encoding == '32FC1' and depth.header.frame_id == 'cam'
    finally:
        harness.close()
        code = stop_process(proc)
    text = log.read_text()
    assert code == 0, text
    assert 'engines/default.json' in text, 'the parameter file selects the bundled default model'


def test_shipped_configuration_reliable_vga(tmp_path: Path) -> None:
    """Reliable QoS (the default) with full 640x480 rgb8 frames: 921,600 bytes each."""
    run_configuration(tmp_path, 'reliable', 640, 480)


def test_best_effort_camera(tmp_path: Path) -> None:
    """
    input_qos:=best_effort connects to a best-effort camera.

    The frames are 320x240, under Fast DDS's fragment limit.
    """
    run_configuration(tmp_path, 'best_effort', 320, 240, '-p', 'input_qos:=best_effort')
