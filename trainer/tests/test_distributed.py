"""
Tests of multi-process training: sharded sampling, per-sample seeding, and DDP on gloo.

The DDP test runs two CPU processes (torch.multiprocessing, gloo backend) on a global batch of
4 and one process on the same global batch, and requires the same loss curve and weights.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import random
import socket
import time
from typing import Any, Dict, List

import numpy as np
import pytest
from ros2_depth_trainer.checkpoint import load_checkpoint, load_training_checkpoint
from ros2_depth_trainer.config import run_config_from_dict
from ros2_depth_trainer.distributed import (
    all_reduce_mean, DistInfo, env_info, sample_seed, SEED_KEY, SeededDataset, ShardedSampler)
from ros2_depth_trainer.train import METRICS_FILE, train, TrainingError
import torch
from torch import multiprocessing
from torch.utils.data import Dataset

TINY_MODEL = {
    'variant': 'eigen15-light',
    'overrides': {'input_height': 64, 'input_width': 96, 'light_channels': [8, 16, 32, 32],
                  'light_feature_channels': 8, 'fc_hidden': 32, 'coarse_channels': 8,
                  'scale2_channels': 8, 'fine_channels': 8, 'scale3_channels': 8,
                  'scale3_fine_channels': 8, 'tasks': ['depth'], 'dropout': 0.0}}


class RandomScenes(Dataset):
    """Images whose depth follows their brightness, with a random flip drawn at load time."""

    def __init__(self, count: int) -> None:
        self.count = count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> Dict[str, torch.Tensor]:
        generator = torch.Generator().manual_seed(index)
        image = torch.rand(3, 64, 96, generator=generator)
        depth = 1.0 + 4.0 * image.mean(0, keepdim=True)
        depth[:, :5, :7] = 0.0  # some invalid pixels
        if torch.rand(()) < 0.5:  # augmentation drawn from the global generator
            image, depth = image.flip(-1), depth.flip(-1)
        return {'image': image, 'depth': depth}


def _config(tmp_steps: int = 3) -> Dict[str, Any]:
    return {
        'model': TINY_MODEL,
        'data': {'batch_size': 4},
        'optim': {'name': 'sgd', 'lr': 0.05, 'momentum': 0.9},
        'stages': [
            {'name': 'scales12', 'steps': tmp_steps, 'output': 'scale2',
             'train': ['backbone', 'fc1', 'fc2', 'scale2_front', 'scale2_heads', 'depth_bias']},
            {'name': 'scale3', 'steps': tmp_steps, 'train': ['scale3_front', 'scale3_heads'],
             'output_crop': [10, 20]}],
        'train': {'device': 'cpu', 'log_every': 1, 'checkpoint_every': tmp_steps,
                  'val_every': 0, 'image_every': 0},
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _worker(rank: int, world_size: int, port: int, config: Dict[str, Any], output: str) -> None:
    os.environ.update({'MASTER_ADDR': '127.0.0.1', 'MASTER_PORT': str(port),
                       'RANK': str(rank), 'WORLD_SIZE': str(world_size),
                       'LOCAL_RANK': str(rank)})
    torch.set_num_threads(1)
    train(run_config_from_dict(config), Path(output), train_set=RandomScenes(12))


def _history(output: Path) -> List[Dict[str, float]]:
    lines = (output / METRICS_FILE).read_text().splitlines()
    return [entry for entry in map(json.loads, lines) if entry['kind'] == 'train']


@pytest.mark.slow
def test_two_gloo_processes_repeat_one_process(tmp_path: Path) -> None:
    config = _config()
    torch.set_num_threads(1)
    single = train(run_config_from_dict(config), tmp_path / 'single',
                   train_set=RandomScenes(12))
    multiprocessing.spawn(_worker, args=(2, _free_port(), config, str(tmp_path / 'ddp')),
                          nprocs=2, join=True)

    ddp = _history(tmp_path / 'ddp')
    assert [e['step'] for e in ddp] == list(range(1, 7))  # rank 0 alone writes
    assert len(single.history) == 6
    for one, two in zip(single.history, ddp):
        assert two['total'] == pytest.approx(one['total'], rel=1e-4, abs=1e-6), one['step']
    assert single.history[0]['total'] != single.history[-1]['total']

    _, single_weights, _ = load_checkpoint(single.final_checkpoint)
    _, ddp_weights, state = load_training_checkpoint(tmp_path / 'ddp' / 'final.pt')
    for name, value in single_weights.items():
        torch.testing.assert_close(ddp_weights[name], value, rtol=1e-4, atol=1e-5, msg=name)
    assert state.world_size == 2 and len(state.rng) == 2
    # Each process has its own random streams (seeded seed + 1000 * rank).
    assert not torch.equal(state.rng[0]['torch'], state.rng[1]['torch'])


def test_shards_split_one_permutation_in_rank_order() -> None:
    whole = ShardedSampler(10, DistInfo(), seed=3)
    parts = [ShardedSampler(10, DistInfo(rank=r, world_size=2), seed=3) for r in range(2)]
    for sampler in [whole] + parts:
        sampler.set_epoch(4)
    order = list(whole)
    assert sorted(i for i, _ in order) == list(range(10))
    assert list(parts[0]) == order[0::2] and list(parts[1]) == order[1::2]
    whole.set_epoch(5)
    assert [i for i, _ in whole] != [i for i, _ in order]  # a new permutation per epoch


def test_sample_seeds_depend_on_seed_epoch_and_index_only() -> None:
    sampler = ShardedSampler(6, DistInfo(), seed=1)
    sampler.set_epoch(2)
    pairs = dict(sampler)
    assert pairs == {i: sample_seed(1, 2, i) for i in range(6)}
    assert len(set(pairs.values())) == 6
    assert sample_seed(1, 2, 0) != sample_seed(1, 3, 0) != sample_seed(2, 2, 0)
    sampler.set_epoch(2, start=4)
    assert len(sampler) == 2 and [i for i, _ in sampler] == list(pairs)[4:]


def test_seeded_dataset_is_repeatable_and_leaves_global_streams_alone() -> None:
    dataset = SeededDataset(RandomScenes(3))
    unflipped = torch.rand(3, 64, 96, generator=torch.Generator().manual_seed(1))
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    before = (random.random(), np.random.rand(), torch.rand(()).item())
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    flips = {int(not torch.equal(dataset[(1, seed)]['image'], unflipped))
             for seed in range(40)}
    after = (random.random(), np.random.rand(), torch.rand(()).item())
    assert after == before  # loading did not consume the caller's random numbers
    assert flips == {0, 1}  # the seed decides the draw...
    first, again = dataset[(1, 7)], dataset[(1, 7)]
    assert torch.equal(first['image'], again['image'])  # ...and only the seed
    assert int(first[SEED_KEY]) == 7


def test_single_process_helpers_are_no_ops(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK'):
        monkeypatch.delenv(name, raising=False)
    assert env_info() == DistInfo(rank=0, world_size=1, local_rank=0)
    assert env_info().is_main and not env_info().distributed
    value = torch.tensor([1.0, 2.0])
    assert all_reduce_mean(value) is value
    monkeypatch.setenv('RANK', '1')
    monkeypatch.setenv('WORLD_SIZE', '2')
    assert not env_info().is_main and env_info().distributed


class NanScenes(RandomScenes):
    """RandomScenes whose images are all NaN: the loss of every batch is NaN."""

    def __getitem__(self, index: int) -> Dict[str, torch.Tensor]:
        sample = super().__getitem__(index)
        sample['image'] = torch.full_like(sample['image'], float('nan'))
        return sample


def _nan_config() -> Dict[str, Any]:
    config = _config(tmp_steps=4)
    config['train'].update({'log_every': 4, 'finite_check_every': 2, 'checkpoint_every': 0})
    return config


def _nan_worker(rank: int, world_size: int, port: int, output: str) -> None:
    """Train with a NaN loss on rank 1 only; write what each rank ended with."""
    os.environ.update({'MASTER_ADDR': '127.0.0.1', 'MASTER_PORT': str(port),
                       'RANK': str(rank), 'WORLD_SIZE': str(world_size),
                       'LOCAL_RANK': str(rank)})
    torch.set_num_threads(1)
    data = NanScenes(12) if rank == 1 else RandomScenes(12)
    try:
        train(run_config_from_dict(_nan_config()), Path(output), train_set=data)
        message = 'finished'
    except TrainingError as exc:
        message = str(exc)
    Path(output, f'rank{rank}.txt').write_text(message)


def test_non_finite_loss_is_caught_at_the_check_step(tmp_path: Path) -> None:
    """One process: the NaN of step 1 is found at the first check (step 2), not per step."""
    torch.set_num_threads(1)
    with pytest.raises(TrainingError, match=r'^step 1: the loss is not finite.* at step 2$'):
        train(run_config_from_dict(_nan_config()), tmp_path, train_set=NanScenes(12))
    assert not (tmp_path / 'final.pt').exists()


@pytest.mark.slow
def test_nan_on_one_rank_stops_every_rank(tmp_path: Path) -> None:
    """A NaN loss on rank 1 alone stops both gloo processes at the same step, nobody hangs."""
    output = tmp_path / 'ddp'
    context = multiprocessing.spawn(_nan_worker, args=(2, _free_port(), str(output)), nprocs=2,
                                    join=False)
    deadline = time.monotonic() + 120.0
    while not context.join(timeout=1.0):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail('a process hung after the NaN loss')
    messages = [(output / f'rank{rank}.txt').read_text() for rank in (0, 1)]
    assert messages[0] == messages[1], messages
    assert messages[0].startswith('step 1: the loss is not finite')
    assert messages[0].endswith('at step 2')
    assert not (output / 'final.pt').exists()
