"""
The shipped configuration (config/depth_node.yaml, the launch remappings) on the bundled model.

launch/launch_ros are not available as wheels, so this starts the node as a plain process exactly
as launch/depth.launch.py does with its default arguments; test_depth_launch.py runs the launch
file itself where launch_testing exists.
"""

from __future__ import annotations

from pathlib import Path
import re

import numpy as np
from ros_harness import (
    Harness,
    isolated_ros_env,
    make_camera_info,
    make_image,
    start_depth_node,
    stop_process,
)

REPO = Path(__file__).resolve().parents[1]


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
    """Return the launch file's ARGUMENTS, read without importing launch."""
    source = (REPO / 'launch' / 'depth.launch.py').read_text()
    namespace: dict = {}
    start = source.index('ARGUMENTS = {')
    exec(source[start:source.index('}\n', start) + 2], namespace)  # a plain dict literal
    return {name: default for name, (default, _) in namespace['ARGUMENTS'].items()}


def run_configuration(
    tmp_path: Path, reliability: str, width: int, height: int, *extra: str
) -> None:
    """Start the node with the shipped parameter file and launch remappings; check one frame."""
    defaults = launch_defaults()
    env = isolated_ros_env()
    log = tmp_path / 'node.log'
    proc = start_depth_node(
        None,
        log,
        env,
        '-r',
        f'image:={defaults["image"]}',
        '--params-file',
        str(REPO / 'config' / 'depth_node.yaml'),
        *extra,
        namespace=defaults['camera'],
    )
    harness = Harness(
        env, namespace=defaults['camera'], reliability=reliability, image_topic=defaults['image']
    )
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
