"""Shared fixtures: a tiny ONNX model and the real camera data in test/data."""

from __future__ import annotations

from pathlib import Path
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
