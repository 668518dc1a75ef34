"""Unit tests of the training step's parts: grid targets, crops, normalisation, losses, modes."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Dict

import pytest
from ros2_depth_trainer import losses
from ros2_depth_trainer.checkpoint import load_checkpoint
from ros2_depth_trainer.config import ConfigError, LossConfig, run_config_from_dict, StageConfig
from ros2_depth_trainer.data.augment import make_sample
from ros2_depth_trainer.distributed import DistInfo
from ros2_depth_trainer.models import build_model
from ros2_depth_trainer.models.eigen15 import AffineGrid
from ros2_depth_trainer.train import (
    centre_crop, CHECKPOINT_DIR, compute_losses, crop_maps, crop_offsets, evaluation_mode,
    grid_indices, model_config, resolve_device, SeededAugment, set_train_mode, StageNet,
    targets_on_grid, train, TrainingError)
import torch
from torch import nn, Tensor
from torch.utils.data import Dataset

TINY = {'input_height': 64, 'input_width': 96, 'light_channels': [8, 16, 32, 32],
        'light_feature_channels': 8, 'fc_hidden': 32, 'coarse_channels': 8,
        'scale2_channels': 8, 'fine_channels': 8, 'scale3_channels': 8,
        'scale3_fine_channels': 8, 'tasks': ['depth'], 'dropout': 0.5}


def _tiny_config(**sections) -> Dict:
    config = {'model': {'variant': 'eigen15-light', 'overrides': dict(TINY)},
              'data': {'batch_size': 2},
              'optim': {'name': 'sgd', 'lr': 0.05},
              'train': {'device': 'cpu', 'log_every': 1, 'val_every': 0, 'image_every': 0,
                        'checkpoint_every': 0}}
    config.update(sections)
    return config


class _Scenes(Dataset):
    def __len__(self) -> int:
        return 6

    def __getitem__(self, index: int) -> Dict[str, Tensor]:
        image = torch.rand(3, 64, 96, generator=torch.Generator().manual_seed(index))
        return {'image': image, 'depth': 1.0 + 3.0 * image.mean(0, keepdim=True)}


def test_targets_are_the_input_pixels_under_the_output_grid() -> None:
    height, width = 20, 30
    depth = torch.arange(1.0, height * width + 1).reshape(1, 1, height, width).repeat(2, 1, 1, 1)
    depth[:, :, 7, :] = 0.0  # an invalid row under the grid
    depth[:, :, 8, :] = 0.0  # an invalid row between grid rows
    labels = torch.arange(height * width).reshape(1, height, width).repeat(2, 1, 1)
    normals = torch.randn(2, 3, height, width)
    rows, cols = grid_indices(AffineGrid(scale_x=2.0, offset_x=5.0, scale_y=2.0, offset_y=5.0),
                              (7, 12), (height, width))
    assert rows.tolist() == [5, 7, 9, 11, 13, 15, 17]
    assert cols.tolist() == list(range(5, 29, 2))
    targets = targets_on_grid({'depth': depth, 'labels': labels, 'normals': normals,
                               'image': torch.zeros(2, 3, height, width)}, rows, cols)
    assert set(targets) == {'depth', 'labels', 'normals'}
    assert torch.equal(targets['depth'], depth[:, :, 5:19:2, 5:29:2])
    assert torch.equal(targets['labels'], labels[:, 5:19:2, 5:29:2])
    assert torch.equal(targets['normals'], normals[:, :, 5:19:2, 5:29:2])
    assert (targets['depth'][:, :, 1] == 0).all()  # invalid stays invalid: no interpolation
    assert (targets['depth'][:, :, [0, 2]] > 0).all()  # valid neighbours of invalid rows stay


def test_grid_errors() -> None:
    with pytest.raises(TrainingError, match='not an integer'):
        grid_indices(AffineGrid(2.0, 5.5, 2.0, 5.0), (3, 3), (20, 20))
    grid_indices(AffineGrid(2.0, 5.0, 2.0, 5.0), (8, 3), (20, 20))  # rows 5..19 fit
    with pytest.raises(TrainingError, match='outside'):
        grid_indices(AffineGrid(2.0, 5.0, 2.0, 5.0), (9, 3), (20, 20))  # row 21 does not


@pytest.mark.parametrize('variant, output', [
    ('eigen15-light', 'final'), ('eigen15-light', 'scale2'), ('eigen14', 'coarse'),
    ('eigen14', 'final'), ('semantic-alexnet-13', 'scale2')])
def test_every_model_output_lies_on_its_input(variant: str, output: str) -> None:
    with torch.device('meta'):
        model = build_model(variant)
    config = model.config
    size = (config.input_height, config.input_width)
    inputs = [torch.empty(1, 3, *size, device='meta')]
    inputs += [torch.empty(1, c, *size, device='meta')
               for c in (1, 3)] if variant.startswith('semantic') else []
    with torch.device('meta'):
        net = StageNet(model, output)
        maps = net(*inputs)
    out_size = tuple(next(iter(maps.values())).shape[-2:])
    rows, cols = grid_indices(model.output_grid(output), out_size, size)
    assert len(rows) == out_size[0] and rows.max() < size[0] and cols.max() < size[1]


class _Stub(nn.Module):
    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        self.config = SimpleNamespace(mean=(0.5, 0.25, 0.0), std=(0.5, 0.25, 2.0), name='stub',
                                      num_classes=num_classes,
                                      task_channels={'labels': num_classes + 1})
        self.seen = None

    def forward(self, image: Tensor, depth: Tensor, normals: Tensor) -> Dict[str, Tensor]:
        self.seen = (image, depth, normals)
        return {'labels': torch.arange(self.config.num_classes + 1.0).reshape(1, -1, 1, 1)}


def test_stage_net_normalises_and_feeds_the_model_inputs() -> None:
    stub = _Stub()
    net = StageNet(stub, 'final')
    batch = {'image': torch.tensor([1.0, 0.5, 2.0]).reshape(1, 3, 1, 1),
             'depth': torch.ones(1, 1, 1, 1), 'normals': torch.zeros(1, 3, 1, 1)}
    outputs = net(*net.batch_inputs(batch))
    assert stub.seen[0].flatten().tolist() == [1.0, 1.0, 1.0]  # (x - mean) / std
    assert stub.seen[1] is batch['depth'] and stub.seen[2] is batch['normals']
    # Channel 0 ("unlabelled") is dropped: channel k - 1 scores class k for the loss.
    assert outputs['labels'].flatten().tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(TrainingError, match='normals'):
        net.batch_inputs({'image': batch['image'], 'depth': batch['depth']})


def test_output_crops_are_per_sample_and_follow_the_seed() -> None:
    seeds = torch.tensor([11, 12, 11, 13])
    offsets = crop_offsets(seeds, (109, 147), (55, 74))
    assert offsets == crop_offsets(seeds, (109, 147), (55, 74))
    assert offsets[0] == offsets[2] and len(set(offsets)) > 1
    assert all(0 <= top <= 54 and 0 <= left <= 73 for top, left in offsets)
    maps = torch.arange(4 * 109 * 147.0).reshape(4, 1, 109, 147)
    cropped = crop_maps({'depth': maps, 'labels': maps[:, 0]}, offsets, (55, 74))
    assert cropped['depth'].shape == (4, 1, 55, 74) and cropped['labels'].shape == (4, 55, 74)
    for b, (top, left) in enumerate(offsets):
        assert torch.equal(cropped['depth'][b, 0], maps[b, 0, top:top + 55, left:left + 74])
        assert torch.equal(cropped['labels'][b], cropped['depth'][b, 0])
    with pytest.raises(ConfigError, match='exceeds'):
        crop_offsets(seeds, (50, 147), (55, 74))


def test_loss_terms_follow_weights_and_available_targets() -> None:
    torch.manual_seed(0)
    pred = torch.randn(2, 1, 6, 8)
    target = torch.rand(2, 1, 6, 8) + 0.5
    normals = nn.functional.normalize(torch.randn(2, 3, 6, 8), dim=1)
    config = LossConfig(depth_weight=2.0, gradient_weight=0.5, scale_invariance=1.0)
    terms = compute_losses({'depth': pred}, {'depth': target, 'normals': normals}, config)
    assert set(terms) == {'depth', 'depth_gradient', 'total'}
    torch.testing.assert_close(terms['depth'],
                               2.0 * losses.scale_invariant_loss(pred, target, lam=1.0))
    torch.testing.assert_close(terms['depth_gradient'], 0.5 * losses.gradient_loss(pred, target))
    torch.testing.assert_close(terms['total'], terms['depth'] + terms['depth_gradient'])
    terms = compute_losses({'depth': pred, 'normals': normals}, {'normals': normals},
                           LossConfig(normals_weight=10.0))
    assert set(terms) == {'normals', 'total'} and float(terms['total']) == pytest.approx(-10.0)
    with pytest.raises(TrainingError, match='no loss term'):
        compute_losses({'depth': pred}, {'depth': target}, LossConfig(depth_weight=0.0))


def test_centre_crop_takes_the_middle_of_image_and_targets() -> None:
    batch = {'image': torch.arange(10 * 12.0).reshape(1, 1, 10, 12).repeat(1, 3, 1, 1),
             'depth': torch.arange(10 * 12.0).reshape(1, 1, 10, 12),
             'labels': torch.arange(10 * 12).reshape(1, 10, 12), 'intrinsics': torch.ones(1, 4)}
    out = centre_crop(batch, (6, 8))
    assert torch.equal(out['depth'][0, 0], batch['depth'][0, 0, 2:8, 2:10])
    assert torch.equal(out['labels'][0], batch['labels'][0, 2:8, 2:10])
    assert out['image'].shape == (1, 3, 6, 8) and out['intrinsics'] is batch['intrinsics']
    assert centre_crop(out, (6, 8)) is out
    with pytest.raises(TrainingError, match='smaller'):
        centre_crop(batch, (11, 8))


def test_eval_modules_stay_in_eval_mode() -> None:
    model = build_model(model_config(run_config_from_dict(_tiny_config()).model))
    set_train_mode(model, StageConfig(name='s', steps=1, eval_modules=['fc_dropout']))
    assert model.training and not model.fc_dropout.training
    assert model.scale3_heads.training
    set_train_mode(model, StageConfig(name='s', steps=1))
    assert model.fc_dropout.training


def test_evaluation_mode_restores_each_module() -> None:
    model = build_model(model_config(run_config_from_dict(_tiny_config()).model))
    set_train_mode(model, StageConfig(name='s', steps=1, eval_modules=['fc_dropout']))
    with evaluation_mode(model):
        assert not model.training and not model.scale3_heads.training
        assert not torch.is_grad_enabled()
    assert model.training and model.scale3_heads.training
    assert not model.fc_dropout.training  # validation must not switch dropout back on


def test_a_stage_changes_only_what_it_trains(tmp_path: Path) -> None:
    stages = [{'name': 'first', 'steps': 2, 'output': 'scale2',
               'train': ['backbone', 'fc1', 'fc2', 'scale2_front', 'scale2_heads',
                         'depth_bias']},
              {'name': 'second', 'steps': 2, 'train': ['scale3_front', 'scale3_heads'],
               'eval_modules': ['fc_dropout'], 'output_crop': [10, 10]}]
    config = run_config_from_dict(_tiny_config(stages=stages),
                                  ['train.checkpoint_every=2', 'optim.weight_decay=0.1'])
    result = train(config, tmp_path, train_set=_Scenes())
    _, initial, _ = load_checkpoint(tmp_path / CHECKPOINT_DIR / 'step_00000002.pt')
    _, final, _ = load_checkpoint(result.final_checkpoint)
    for name, value in initial.items():
        moved = not torch.equal(final[name], value)
        assert moved == name.startswith('scale3'), name


def test_seeded_augment_depends_only_on_the_generator_seed() -> None:
    sample = make_sample(torch.rand(48, 64, 3).numpy(), (50.0, 50.0, 31.5, 23.5),
                         depth=(torch.rand(48, 64) + 1).numpy())
    augment = SeededAugment('nyu_eigen14')
    outputs = []
    for seed in (3, 3, 4):
        torch.manual_seed(seed)
        outputs.append(augment(sample))
    assert outputs[0]['image'].shape == (3, 228, 304)
    assert torch.equal(outputs[0]['image'], outputs[1]['image'])
    assert not torch.equal(outputs[0]['image'], outputs[2]['image'])


def test_device_choice() -> None:
    assert resolve_device('cpu', DistInfo()) == torch.device('cpu')
    if not torch.cuda.is_available():
        assert resolve_device('auto', DistInfo()) == torch.device('cpu')
        with pytest.raises(TrainingError, match='CUDA'):
            resolve_device('cuda', DistInfo())
    else:
        assert resolve_device('cuda', DistInfo(rank=1, world_size=2, local_rank=1)) == \
            torch.device('cuda', 1)


def test_mixed_precision_is_off_on_the_cpu(tmp_path: Path) -> None:
    config = run_config_from_dict(
        _tiny_config(stages=[{'name': 'all', 'steps': 2}]), ['train.amp=true'])
    result = train(config, tmp_path, train_set=_Scenes())
    payload = torch.load(result.final_checkpoint, weights_only=True)
    assert payload['training']['scaler'] is None
    assert len(result.history) == 2


class _LabelledScenes(Dataset):
    """Depth, normals and 3 classes (0 = unlabelled) that follow the image's brightness."""

    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: int) -> Dict[str, Tensor]:
        image = torch.rand(3, 64, 96, generator=torch.Generator().manual_seed(index))
        grey = image.mean(0)
        normals = torch.zeros(3, 64, 96)
        normals[2] = -1.0
        return {'image': image, 'depth': 1.0 + 3.0 * grey[None], 'normals': normals,
                'labels': (grey * 4).long().clamp(max=3)}


def test_the_semantic_model_trains_on_depth_normals_and_labels(tmp_path: Path) -> None:
    overrides = {'backbone': 'light', 'num_classes': 3, 'input_height': 64, 'input_width': 96,
                 'light_channels': [8, 8, 8, 8], 'light_feature_channels': 4, 'fc_hidden': 16,
                 'coarse_channels': 4, 'scale2_rgb_channels': 4, 'scale2_depth_channels': 4,
                 'scale2_normals_channels': 4, 'scale3_rgb_channels': 4,
                 'scale3_depth_channels': 4, 'scale3_normals_channels': 4, 'fine_channels': 4}
    stages = [{'name': 'scales12', 'steps': 12, 'output': 'scale2',
               'train': ['backbone', 'fc1', 'fc2', 'scale2_fronts', 'scale2_head']}]
    config = run_config_from_dict(_tiny_config(
        model={'variant': 'semantic-alexnet-13', 'overrides': overrides}, stages=stages,
        optim={'name': 'adam', 'lr': 0.01}))
    result = train(config, tmp_path, train_set=_LabelledScenes())
    losses_seen = [entry['labels'] for entry in result.history]
    assert set(result.history[0]) >= {'labels', 'total'} and 'depth' not in result.history[0]
    # Three class scores (channel 0, "unlabelled", is not scored): about ln 3 at the start.
    assert losses_seen[0] == pytest.approx(float(torch.log(torch.tensor(3.0))), abs=0.15)
    assert sum(losses_seen[-3:]) / 3 < losses_seen[0]
