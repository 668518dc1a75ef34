"""
Tests of checkpoints and exact resume: k steps + resume + k steps repeat 2k uninterrupted steps.

The run has what makes a resume hard: dropout (the torch stream), SGD momentum (the optimiser
state), a step schedule (the scheduler), random output crops, an augmentation drawn at load
time, two stages, epochs that end mid-stage, and DataLoader workers in the uninterrupted run
only (the per-sample seeds make the data independent of the worker layout).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

import pytest
from ros2_depth_trainer.checkpoint import (
    CheckpointError, load_checkpoint, load_training_checkpoint, rng_state, set_rng_state)
from ros2_depth_trainer.config import run_config_from_dict
from ros2_depth_trainer.train import (
    CHECKPOINT_DIR, METRICS_FILE, resume_config, train, TrainingError, TrainResult)
import torch
from torch.utils.data import Dataset

MODEL = {
    'variant': 'eigen15-light',
    'overrides': {'input_height': 64, 'input_width': 96, 'light_channels': [8, 16, 32, 32],
                  'light_feature_channels': 8, 'fc_hidden': 32, 'coarse_channels': 8,
                  'scale2_channels': 8, 'fine_channels': 8, 'scale3_channels': 8,
                  'scale3_fine_channels': 8, 'tasks': ['depth'], 'dropout': 0.5}}
CONFIG: Dict[str, Any] = {
    'model': MODEL,
    'data': {'batch_size': 4, 'num_workers': 2},
    'optim': {'name': 'sgd', 'lr': 0.05, 'momentum': 0.9, 'groups': [
        {'name': 'fc', 'params': ['fc1', 'fc2'], 'lr': 2.0},
        {'name': 'rest', 'params': ['*']}]},
    'stages': [
        {'name': 'scales12', 'steps': 5, 'output': 'scale2',
         'train': ['backbone', 'fc1', 'fc2', 'scale2_front', 'scale2_heads', 'depth_bias'],
         'schedule': {'kind': 'step', 'milestones': [2], 'gamma': 0.5}},
        {'name': 'scale3', 'steps': 3, 'train': ['scale3_front', 'scale3_heads'],
         'output_crop': [12, 20], 'eval_modules': ['fc_dropout']}],
    'train': {'device': 'cpu', 'log_every': 1, 'checkpoint_every': 3, 'val_every': 0,
              'image_every': 0},
}
SINGLE_PROCESS = ['data.num_workers=0']


class AugmentedScenes(Dataset):
    """Ten images whose depth follows their brightness; flipped and jittered at load time."""

    def __len__(self) -> int:
        return 10

    def __getitem__(self, index: int) -> Dict[str, torch.Tensor]:
        image = torch.rand(3, 64, 96, generator=torch.Generator().manual_seed(index))
        depth = 1.0 + 4.0 * image.mean(0, keepdim=True)
        if torch.rand(()) < 0.5:
            image, depth = image.flip(-1), depth.flip(-1)
        return {'image': (image * (0.8 + 0.4 * torch.rand(3, 1, 1))).clamp(0, 1),
                'depth': depth}


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    """Run the 8 steps once, writing checkpoints at steps 3 and 6."""
    output = tmp_path_factory.mktemp('full')
    return train(run_config_from_dict(CONFIG), output, train_set=AugmentedScenes())


def _losses(history: List[Dict[str, float]]) -> List[float]:
    return [entry['total'] for entry in history]


@pytest.mark.parametrize('step', [3, 6])
def test_resume_repeats_the_uninterrupted_loss_curve(uninterrupted: TrainResult, step: int,
                                                     tmp_path: Path) -> None:
    checkpoint = uninterrupted.output / CHECKPOINT_DIR / f'step_{step:08d}.pt'
    resumed = train(run_config_from_dict(CONFIG, SINGLE_PROCESS), tmp_path, resume=checkpoint,
                    train_set=AugmentedScenes())
    assert [e['step'] for e in resumed.history] == list(range(step + 1, 9))
    expected = _losses(uninterrupted.history)[step:]
    assert _losses(resumed.history) == pytest.approx(expected, rel=1e-6, abs=1e-7)
    _, full_weights, _ = load_checkpoint(uninterrupted.final_checkpoint)
    _, weights, _ = load_checkpoint(resumed.final_checkpoint)
    for name, value in full_weights.items():
        torch.testing.assert_close(weights[name], value, rtol=1e-6, atol=1e-7, msg=name)


def test_resume_without_the_random_states_drifts(uninterrupted: TrainResult,
                                                 tmp_path: Path) -> None:
    # The control: the same resume with the generator states dropped from the checkpoint
    # changes the dropout masks, so the comparison above can see a missing restore.
    checkpoint = uninterrupted.output / CHECKPOINT_DIR / 'step_00000003.pt'
    payload = torch.load(checkpoint, weights_only=True)
    payload['training']['rng'] = []
    torch.save(payload, tmp_path / 'no_rng.pt')
    resumed = train(run_config_from_dict(CONFIG, SINGLE_PROCESS), tmp_path / 'run',
                    resume=tmp_path / 'no_rng.pt', train_set=AugmentedScenes())
    expected = _losses(uninterrupted.history)[3:]
    assert _losses(resumed.history) != pytest.approx(expected, rel=1e-6, abs=1e-7)
    # The dropout masks act on the FC gradients directly: those weights drift apart by far
    # more than the exact comparison allows (rtol 1e-6, atol 1e-7).
    _, full_weights, _ = load_checkpoint(uninterrupted.final_checkpoint)
    _, weights, _ = load_checkpoint(resumed.final_checkpoint)
    assert not torch.allclose(weights['fc2.weight'], full_weights['fc2.weight'], rtol=1e-4,
                              atol=1e-5)


def test_training_checkpoints_hold_the_run_state(uninterrupted: TrainResult) -> None:
    checkpoint = uninterrupted.output / CHECKPOINT_DIR / 'step_00000006.pt'
    config, weights, state = load_training_checkpoint(checkpoint)
    assert (state.step, state.stage, state.epoch, state.batch_in_epoch) == (6, 1, 3, 0)
    assert state.world_size == 1 and len(state.rng) == 1
    assert set(state.rng[0]) == {'python', 'numpy', 'torch', 'cuda'}
    assert state.optimizer['param_groups'][0]['momentum'] == 0.9
    assert state.scheduler['last_epoch'] == 1  # one step into stage 'scale3'
    assert state.run_config == run_config_from_dict(CONFIG).to_dict()
    assert resume_config(checkpoint) == run_config_from_dict(CONFIG)
    assert resume_config(checkpoint, ['optim.lr=0.1']).optim.lr == 0.1
    # The export path reads the same file as a plain checkpoint.
    export_config, export_weights, _ = load_checkpoint(checkpoint)
    assert export_config == config and export_config.dropout == 0.5
    assert export_weights.keys() == weights.keys()
    metrics = (uninterrupted.output / METRICS_FILE).read_text().splitlines()
    assert [json.loads(line)['step'] for line in metrics] == list(range(1, 9))


def test_only_the_last_periodic_checkpoints_are_kept(tmp_path: Path) -> None:
    config = run_config_from_dict(CONFIG, SINGLE_PROCESS + [
        'train.checkpoint_every=1', 'stages.1.steps=1'])
    result = train(config, tmp_path, train_set=AugmentedScenes())
    kept = sorted(p.name for p in (tmp_path / CHECKPOINT_DIR).iterdir())
    assert kept == ['step_00000003.pt', 'step_00000004.pt', 'step_00000005.pt']  # 6: final
    assert result.final_checkpoint.is_file()


def test_resume_into_the_same_folder_replaces_the_later_logs(tmp_path: Path) -> None:
    config = run_config_from_dict(CONFIG, SINGLE_PROCESS)
    train(config, tmp_path, train_set=AugmentedScenes())
    train(config, tmp_path, resume=tmp_path / CHECKPOINT_DIR / 'step_00000006.pt',
          train_set=AugmentedScenes())
    steps = [json.loads(line)['step'] for line in
             (tmp_path / METRICS_FILE).read_text().splitlines()]
    assert steps == list(range(1, 9))


def test_resume_errors(uninterrupted: TrainResult, tmp_path: Path) -> None:
    config = run_config_from_dict(CONFIG, SINGLE_PROCESS)
    with pytest.raises(TrainingError, match='nothing to train'):
        train(config, tmp_path, resume=uninterrupted.final_checkpoint,
              train_set=AugmentedScenes())
    other = run_config_from_dict(CONFIG, SINGLE_PROCESS + ['model.overrides.fc_hidden=16'])
    with pytest.raises(TrainingError, match='different model'):
        train(other, tmp_path, resume=uninterrupted.final_checkpoint,
              train_set=AugmentedScenes())
    plain = tmp_path / 'weights_only.pt'
    payload = torch.load(uninterrupted.final_checkpoint, weights_only=True)
    del payload['training']
    torch.save(payload, plain)
    with pytest.raises(CheckpointError, match='no training state'):
        train(config, tmp_path, resume=plain, train_set=AugmentedScenes())


def test_rng_state_round_trip() -> None:
    import random

    import numpy as np

    state = rng_state()
    first = (random.random(), np.random.rand(), torch.rand(()).item())
    set_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(()).item()) == first


class InterruptedScenes(AugmentedScenes):
    """AugmentedScenes that raise KeyboardInterrupt (a Ctrl-C) when item ``stop`` is read."""

    def __init__(self, stop: int) -> None:
        self.stop = stop
        self.reads = 0

    def __getitem__(self, index: int) -> Dict[str, torch.Tensor]:
        self.reads += 1
        if self.reads == self.stop:
            raise KeyboardInterrupt
        return super().__getitem__(index)


def test_ctrl_c_leaves_a_resumable_checkpoint(uninterrupted: TrainResult,
                                              tmp_path: Path) -> None:
    """Interrupted in step 5 (before its checkpoint), the run saves step 4 and resumes exactly."""
    config = run_config_from_dict(CONFIG, SINGLE_PROCESS)
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path, train_set=InterruptedScenes(stop=4 * 4 + 2))
    saved = sorted(p.name for p in (tmp_path / CHECKPOINT_DIR).glob('step_*.pt'))
    assert saved == ['step_00000003.pt', 'step_00000004.pt']
    assert not (tmp_path / 'final.pt').exists()
    assert not list(tmp_path.rglob('*.tmp'))  # nothing half-written
    resumed = train(config, tmp_path, resume=tmp_path / CHECKPOINT_DIR / 'step_00000004.pt',
                    train_set=AugmentedScenes())
    assert _losses(resumed.history) == pytest.approx(_losses(uninterrupted.history)[4:],
                                                     rel=1e-5)
