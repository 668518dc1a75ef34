"""Shared fixtures: a tiny ONNX model and the data folder beside the checkout."""

from __future__ import annotations

from pathlib import Path
import sys

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from tiny_model import build_tiny_model  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / 'shared' / 'data'


@pytest.fixture(scope='session')
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Sidecar path of a tiny ONNX model with the real model's interface."""
    return build_tiny_model(tmp_path_factory.mktemp('model'))


@pytest.fixture(scope='session')
def shared_data() -> Path:
    """Return the shared/ data folder beside the checkout (a real RGB-D frame and calibration)."""
    if not SHARED_DATA.is_dir():
        pytest.fail(
            f'{SHARED_DATA} is missing: '
            'tests read real camera data from shared/data beside the repo'
        )
    return SHARED_DATA


@pytest.fixture(scope='session')
def tiny_camera_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Sidecar path of the tiny model with a labels output and a canonical-focal metric scale."""
    return build_tiny_model(tmp_path_factory.mktemp('model'), name='tiny_camera', labels=True,
                            canonical_focal=250.0)
