"""Tests of the warm start: from an exported ONNX model, its sidecar, or a checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
from ros2_depth_trainer.checkpoint import save_checkpoint
from ros2_depth_trainer.config import run_config_from_dict
from ros2_depth_trainer.export import export_model, seeded_model
from ros2_depth_trainer.models import VARIANTS
from ros2_depth_trainer.warm_start import (
    eigen15_scale3_channels, source_weights, warm_start, WarmStartError)
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
    """Every layer of the light model is carried over; depth and normals come out the same."""
    source_model = seeded_model('eigen15-light', 3).eval()
    model = seeded_model('eigen15-light-camera', 0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    loaded, kept = warm_start(model, light_export)
    # Only the new labels heads start fresh, each layer whole (weight and bias).
    assert kept and all('labels' in k for k in kept)
    assert {k.rsplit('.', 1)[0] for k in kept} == {
        f'scale{s}_heads.labels.{i}' for s, n in ((2, 4), (3, 3)) for i in range(0, 2 * n, 2)}
    state = model.state_dict()
    for key in kept:
        torch.testing.assert_close(state[key], before[key], rtol=0, atol=0)
    assert len(loaded) + len(kept) == len(state)
    # Scale 3's input gained 14 label channels before the features: the features moved, the
    # label inputs of the depth and normals heads have zero weights.
    old = seeded_model('eigen15-light', 3).state_dict()
    front = state['scale3_front.0.weight']
    torch.testing.assert_close(front[18:46], old['scale3_front.0.weight'][4:32], rtol=0, atol=0)
    head = state['scale3_heads.depth.0.weight']
    torch.testing.assert_close(head[:, :4], old['scale3_heads.depth.0.weight'][:, :4])
    assert head[:, 4:18].abs().max() == 0
    torch.testing.assert_close(head[:, 18:46], old['scale3_heads.depth.0.weight'][:, 4:32])
    # So the new network computes the old one's depth and normals exactly.
    image = torch.randn(2, 3, 228, 304, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        got, want = model.eval()(image), source_model(image)
    for task in ('depth', 'normals'):
        torch.testing.assert_close(got[task], want[task], rtol=1e-5, atol=1e-5)


def test_eigen15_scale3_channel_names() -> None:
    names = eigen15_scale3_channels(VARIANTS['eigen15-light-camera'])
    assert names[:5] == ['depth', 'normals.0', 'normals.1', 'normals.2', 'labels.0']
    assert names[17] == 'labels.13' and names[18] == 'feature.0' and len(names) == 48
    assert eigen15_scale3_channels(VARIANTS['eigen15-light'])[4] == 'feature.0'


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
    with pytest.raises(WarmStartError, match='shares no layer'):
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
