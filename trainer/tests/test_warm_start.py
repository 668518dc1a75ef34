"""Tests of the warm start: from an exported ONNX model, its sidecar, or a checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
from ros2_depth_trainer.checkpoint import save_checkpoint
from ros2_depth_trainer.config import run_config_from_dict
from ros2_depth_trainer.export import export_model, seeded_model
from ros2_depth_trainer.warm_start import source_weights, warm_start, WarmStartError
import torch


@pytest.fixture(scope='module')
def light_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Export the light model (seed 3) once: its sidecar path."""
    path = tmp_path_factory.mktemp('warm') / 'light.onnx'
    export_model(path, variant='eigen15-light', seed=3)
    return path.with_suffix('.json')


def test_onnx_initializers_are_the_state_dict(light_export: Path) -> None:
    reference = seeded_model('eigen15-light', 3).state_dict()
    weights = source_weights(light_export)
    assert set(weights) == set(reference)
    for key, value in reference.items():
        torch.testing.assert_close(weights[key], value, rtol=0, atol=0)
    assert source_weights(light_export.with_suffix('.onnx')).keys() == weights.keys()


def test_camera_model_from_the_light_export(light_export: Path) -> None:
    source = seeded_model('eigen15-light', 3).state_dict()
    model = seeded_model('eigen15-light-camera', 0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    loaded, kept = warm_start(model, light_export)
    state = model.state_dict()
    for key in loaded:
        torch.testing.assert_close(state[key], source[key], rtol=0, atol=0)
    for key in kept:
        torch.testing.assert_close(state[key], before[key], rtol=0, atol=0)
    # The new labels heads, and the scale-3 layers whose input width changed (48 maps, not 32).
    assert all('labels' in k or k.startswith(('scale3_front', 'scale3_heads')) for k in kept)
    assert 'scale2_heads.labels.0.weight' in kept and 'scale3_front.0.weight' in kept
    assert 'backbone.0.weight' in loaded and 'scale3_heads.depth.2.weight' in loaded
    assert len(loaded) + len(kept) == len(state)


def test_from_a_checkpoint(tmp_path: Path) -> None:
    source = seeded_model('eigen15-light-camera', 5)
    save_checkpoint(tmp_path / 'c.pt', source)
    model = seeded_model('eigen15-light-camera', 0)
    loaded, kept = warm_start(model, tmp_path / 'c.pt')
    assert not kept
    for key, value in source.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value, rtol=0, atol=0)


def test_unrelated_or_missing_sources_fail_clearly(tmp_path: Path, light_export: Path) -> None:
    with pytest.raises(WarmStartError, match='does not exist'):
        warm_start(seeded_model('eigen15-light', 0), tmp_path / 'nothing.pt')
    with pytest.raises(WarmStartError, match='shares no tensor'):
        warm_start(seeded_model('eigen14', 0), light_export)
    broken = tmp_path / 'broken.onnx'
    broken.write_bytes(b'not a model')
    with pytest.raises(WarmStartError, match='cannot read'):
        warm_start(seeded_model('eigen15-light', 0), broken)


def test_run_config_takes_init_from() -> None:
    config = run_config_from_dict({'model': {'variant': 'eigen15-light-camera',
                                             'init_from': 'engines/default.json'}})
    assert config.model.init_from == 'engines/default.json'
    assert run_config_from_dict({}).model.init_from is None
