"""Tests of the ONNX export and its sidecar: numerics, the sidecar contract, determinism."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from ros2_depth.model_spec import file_sha256, load_spec, ModelSpecError
from ros2_depth_trainer import cli
from ros2_depth_trainer.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from ros2_depth_trainer.export import export_model, ExportError, seeded_model
from ros2_depth_trainer.models import (
    build_model, Eigen14, Eigen14Config, Eigen15Config, Eigen15Semantic, SemanticConfig, VARIANTS)
import torch


@pytest.fixture(scope='module')
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Export the light variant, seed 0, once for the whole module."""
    path = tmp_path_factory.mktemp('export') / 'default.onnx'
    export_model(path, variant='light', seed=0)
    return path


def _session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    return ort.InferenceSession(str(path), options, providers=['CPUExecutionProvider'])


def test_onnx_graph_interface(exported: Path) -> None:
    model = onnx.load(str(exported))
    onnx.checker.check_model(model)
    assert [o.version for o in model.opset_import if o.domain in ('', 'ai.onnx')] == [17]
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in list(model.graph.input) + list(model.graph.output)}
    assert shapes == {'image': [1, 3, 228, 304], 'depth': [1, 1, 109, 147],
                      'normals': [1, 3, 109, 147]}
    assert exported.stat().st_size < 10e6


def test_onnx_matches_torch(exported: Path) -> None:
    model = seeded_model('light', 0).eval()
    session = _session(exported)
    generator = torch.Generator().manual_seed(42)
    for _ in range(2):
        image = torch.randn(1, 3, 228, 304, generator=generator)
        with torch.no_grad():
            expected = model(image)
        depth, normals = session.run(['depth', 'normals'], {'image': image.numpy()})
        np.testing.assert_allclose(depth, expected['depth'].numpy(), atol=1e-4, rtol=0)
        np.testing.assert_allclose(normals, expected['normals'].numpy(), atol=1e-4, rtol=0)
        np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-4)


def test_sidecar_loads_and_describes_the_model(exported: Path) -> None:
    spec = load_spec(exported.with_suffix('.json'))  # also checks the sha256 of the ONNX file
    assert spec.onnx_path == exported.resolve()
    assert spec.onnx_sha256 == file_sha256(exported)
    assert spec.name == 'eigen15-light'
    assert spec.trained is False
    assert (spec.input.name, spec.input.height, spec.input.width, spec.input.color_order) == \
        ('image', 228, 304, 'rgb')
    assert spec.input.scale == pytest.approx(1 / 255)
    assert spec.input.mean == pytest.approx((0.485, 0.456, 0.406))
    assert spec.input.std == pytest.approx((0.229, 0.224, 0.225))
    depth, normals = spec.outputs['depth'], spec.outputs['normals']
    assert (depth.name, depth.kind, depth.encoding, depth.units, depth.channels) == \
        ('depth', 'depth', 'log', 'm', 1)
    assert (normals.name, normals.kind, normals.units, normals.channels) == \
        ('normals', 'normals', '', 3)
    assert (depth.height, depth.width) == (normals.height, normals.width) == (109, 147)
    grid = spec.output_grid
    assert (grid.scale_x, grid.offset_x, grid.scale_y, grid.offset_y) == (2.0, 5.0, 2.0, 5.0)
    assert spec.depth_range == (0.1, 20.0)
    assert Eigen15Config.from_dict(spec.model_config) == VARIANTS['light']
    assert 'UNTRAINED' in spec.description
    assert not list(exported.parent.glob('.*.tmp'))


def test_sidecar_hash_catches_a_changed_model(exported: Path, tmp_path: Path) -> None:
    copy = tmp_path / 'default.onnx'
    copy.write_bytes(exported.read_bytes() + b'\0')
    (tmp_path / 'default.json').write_text(exported.with_suffix('.json').read_text())
    with pytest.raises(ModelSpecError, match='does not match its sidecar'):
        load_spec(tmp_path / 'default.json')


def test_export_is_deterministic_and_cli_writes_both_files(exported: Path, tmp_path: Path) -> None:
    output = tmp_path / 'again.onnx'
    argv = ['export', '--variant', 'light', '--seed', '0', '--output', str(output), '--no-verify']
    assert cli.main(argv) == 0
    assert output.read_bytes() == exported.read_bytes()
    first = json.loads(exported.with_suffix('.json').read_text())
    second = json.loads(output.with_suffix('.json').read_text())
    first.pop('onnx_file'), second.pop('onnx_file')
    assert first == second


def test_checkpoint_export(tmp_path: Path) -> None:
    model = seeded_model('light', 3)
    save_checkpoint(tmp_path / 'model.pt', model, extra={'epoch': 5})
    config, state, extra = load_checkpoint(tmp_path / 'model.pt')
    assert config == model.config and extra == {'epoch': 5}
    spec = export_model(tmp_path / 'trained.onnx', checkpoint=tmp_path / 'model.pt', verify=False)
    assert spec.trained is True and 'UNTRAINED' not in spec.description
    assert load_spec(tmp_path / 'trained.json').trained is True

    with pytest.raises(ExportError, match='differs'):
        export_model(tmp_path / 'x.onnx', variant='vgg16', checkpoint=tmp_path / 'model.pt')
    (tmp_path / 'junk.pt').write_bytes(b'not a checkpoint')
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / 'junk.pt')


def test_export_rejects_bad_output_name(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match='.onnx'):
        export_model(tmp_path / 'model.bin', variant='light')
    assert cli.main(['export', '--output', str(tmp_path / 'model.bin')]) == 1
    assert not list(tmp_path.iterdir())


def test_checkpoints_rebuild_every_family(tmp_path: Path) -> None:
    configs = {
        Eigen14: Eigen14Config(fc_hidden=8),
        type(seeded_model('light', 0)): VARIANTS['light'],
        Eigen15Semantic: SemanticConfig(backbone='light', num_classes=4, fc_hidden=8),
    }
    for index, (cls, config) in enumerate(configs.items()):
        model = seeded_model(config, index)
        path = tmp_path / f'{config.family}.pt'
        save_checkpoint(path, model)
        loaded, state, _ = load_checkpoint(path)
        assert loaded == config and type(loaded) is type(config)
        rebuilt = build_model(loaded)
        assert type(rebuilt) is cls
        rebuilt.load_state_dict(state)  # strict: the same layers
        assert all(torch.equal(v, model.state_dict()[k]) for k, v in rebuilt.state_dict().items())


def test_checkpoint_without_family_is_eigen15(tmp_path: Path) -> None:
    """A checkpoint written before there were families (and scale3_fine_channels) still loads."""
    legacy = {'backbone': 'light', 'fc_hidden': 256, 'coarse_channels': 16, 'fine_channels': 64,
              'light_channels': [32, 64, 128, 256], 'tasks': ['depth', 'normals']}
    model = build_model(legacy)
    torch.save({'format': 'ros2_depth_trainer/checkpoint', 'format_version': 1,
                'model_config': legacy, 'model_state': model.state_dict()}, tmp_path / 'old.pt')
    config, state, _ = load_checkpoint(tmp_path / 'old.pt')
    assert isinstance(config, Eigen15Config) and config.scale3_hidden_channels == 64
    build_model(config).load_state_dict(state)


def test_eigen14_export(tmp_path: Path) -> None:
    """The 2014 network exports (here with a small FC) with its own grid and output size."""
    model = seeded_model(Eigen14Config(fc_hidden=32), 5).eval()
    save_checkpoint(tmp_path / 'eigen14.pt', model)
    spec = export_model(tmp_path / 'eigen14.onnx', checkpoint=tmp_path / 'eigen14.pt')
    assert spec.name == 'eigen14' and spec.description.startswith('Eigen et al. 2014')
    assert list(spec.outputs) == ['depth']
    depth = spec.outputs['depth']
    assert (depth.kind, depth.encoding, depth.units, depth.height, depth.width) == \
        ('depth', 'log', 'm', 55, 74)
    grid = spec.output_grid
    assert (grid.scale_x, grid.offset_x, grid.scale_y, grid.offset_y) == (4.0, 5.0, 4.0, 5.0)
    assert load_spec(tmp_path / 'eigen14.json').model_config['family'] == 'eigen14'
    image = torch.randn(1, 3, 228, 304, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = model(image)['depth'].numpy()
    (got,) = _session(tmp_path / 'eigen14.onnx').run(['depth'], {'image': image.numpy()})
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)


def test_semantic_model_is_not_exported(tmp_path: Path) -> None:
    """It needs depth and normals inputs, which the one-input sidecar cannot describe."""
    with pytest.raises(ExportError, match='not exportable'):
        export_model(tmp_path / 'labels.onnx', variant='semantic-vgg16-40')
    model = seeded_model(SemanticConfig(backbone='light', num_classes=4, fc_hidden=8), 0)
    save_checkpoint(tmp_path / 'labels.pt', model)
    with pytest.raises(ExportError, match='not exportable'):
        export_model(tmp_path / 'labels.onnx', checkpoint=tmp_path / 'labels.pt')
    assert cli.main(['export', '--variant', 'semantic-alexnet-4',
                     '--output', str(tmp_path / 'labels.onnx')]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ['labels.pt']


def test_checkpoint_export_ships_the_weights_beside_the_model(tmp_path: Path) -> None:
    """Exporting a training checkpoint also writes a slim .pt with the same weights."""
    from ros2_depth_trainer.checkpoint import load_training_checkpoint, save_training_checkpoint
    from ros2_depth_trainer.checkpoint import TrainingState

    model = seeded_model('light', 4)
    run_config = {'data': {'train': {'kind': 'synthetic'}}}
    save_training_checkpoint(tmp_path / 'train.pt', model, TrainingState(
        step=7, stage=0, epoch=0, batch_in_epoch=7, world_size=1, run_config=run_config,
        optimizer={'state': {}, 'param_groups': []}, scheduler={}, scaler=None, rng=[]))
    spec = export_model(tmp_path / 'out' / 'm.onnx', checkpoint=tmp_path / 'train.pt')
    config, state, extra = load_checkpoint(tmp_path / 'out' / 'm.pt')
    assert config == model.config
    for key, value in model.state_dict().items():
        assert torch.equal(state[key], value), key
    assert extra['trained_with'] == {'run_config': run_config, 'step': 7}
    assert extra['onnx_sha256'] == spec.onnx_sha256 == file_sha256(tmp_path / 'out' / 'm.onnx')
    assert 'optimizer' not in str(extra)
    # It seeds exports and warm starts, not resumes.
    assert export_model(tmp_path / 'again.onnx', checkpoint=tmp_path / 'out' / 'm.pt'
                        ).onnx_sha256 == spec.onnx_sha256
    assert spec.depth_range == (0.001, 80.0)
    with pytest.raises(CheckpointError, match='no training state'):
        load_training_checkpoint(tmp_path / 'out' / 'm.pt')
