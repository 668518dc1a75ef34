"""Shared fixtures: a tiny ONNX model, the camera data in test/data, a colcon install space."""

from __future__ import annotations

from pathlib import Path
import subprocess
import sys
from typing import Dict, Iterator

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from tiny_model import build_tiny_model  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TEST_DATA = REPO / 'test' / 'data'  # real camera data, copied in with its licences


@pytest.fixture(scope='session')
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Sidecar path of a tiny ONNX model with the real model's interface."""
    return build_tiny_model(tmp_path_factory.mktemp('model'))


@pytest.fixture(scope='session')
def camera_data() -> Path:
    """Return the repository's test data folder (a real RGB-D frame and a calibration)."""
    if not TEST_DATA.is_dir():
        pytest.fail(f'{TEST_DATA} is missing: the tests read real camera data from it')
    return TEST_DATA


@pytest.fixture(scope='session')
def tiny_camera_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Sidecar path of the tiny model with a labels output and a canonical-focal metric scale."""
    return build_tiny_model(tmp_path_factory.mktemp('model'), name='tiny_camera', labels=True,
                            canonical_focal=250.0)


@pytest.fixture(scope='module')
def client(env: Dict[str, str]) -> Iterator[object]:
    """
    One ros_harness.Harness in /cam for every node a module starts (they share the namespace).

    It lives in the module's ROS environment: the module defines the ``env`` fixture.
    """
    from ros_harness import Harness  # rclpy only for the modules that talk to a node

    harness = Harness(env, namespace='/cam')
    yield harness
    harness.close()


@pytest.fixture(scope='session')
def install_space(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run `colcon build` on a copy of the package and return its install/ros2_depth prefix."""
    colcon = Path(sys.executable).parent / 'colcon'
    if not colcon.exists():
        pytest.fail(f'{colcon} is missing: run scripts/setup-env, which installs colcon')
    work = tmp_path_factory.mktemp('colcon')
    cmd = [
        str(colcon),
        '--log-base',
        str(work / 'log'),
        'build',
        '--base-paths',
        str(REPO),
        '--build-base',
        str(work / 'build'),
        '--install-base',
        str(work / 'install'),
    ]
    result = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'Summary: 1 package finished' in result.stdout, (
        'only ros2_depth is built (trainer has COLCON_IGNORE)'
    )
    return work / 'install' / 'ros2_depth'
