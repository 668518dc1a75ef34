"""Tests of the optimiser set-up: parameter groups, frozen stages, per-group rates, schedules."""

from __future__ import annotations

import math

import pytest
from ros2_depth_trainer.config import (
    ConfigError, OptimConfig, ParamGroupConfig, ScheduleConfig, StageConfig)
from ros2_depth_trainer.optim import (
    assign_groups, build_optimizer, build_scheduler, current_rates, matches, schedule_factor,
    set_trainable)
import torch
from torch import nn


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3))
        self.fc1 = nn.Linear(4, 4)
        self.head = nn.Sequential(nn.Conv2d(4, 4, 5), nn.ReLU(), nn.Conv2d(4, 1, 5))


GROUPS = [
    ParamGroupConfig(name='last', params=['head.2'], lr=0.001),
    ParamGroupConfig(name='convs', params=['backbone', 'head'], lr=0.01, weight_decay=1e-4),
    ParamGroupConfig(name='fc', params=['fc*'], lr=0.1, weight_decay=1e-5),
]


def _stage(**kwargs) -> StageConfig:
    return StageConfig(**dict({'name': 's', 'steps': 10}, **kwargs))


def test_patterns_match_names_and_everything_below_a_module() -> None:
    assert matches('fc1.weight', ['fc1'])
    assert matches('head.2.bias', ['head.2'])
    assert matches('head.2.bias', ['head.*.bias'])
    assert not matches('head.20.bias', ['head.2'])
    assert not matches('fc1.weight', ['fc2', 'backbone'])


def test_first_matching_group_wins_and_every_parameter_needs_one() -> None:
    groups = assign_groups(_Net(), OptimConfig(groups=GROUPS))
    assert groups == {
        'last': ['head.2.weight', 'head.2.bias'],
        'convs': ['backbone.0.weight', 'backbone.0.bias', 'backbone.2.weight',
                  'backbone.2.bias', 'head.0.weight', 'head.0.bias'],
        'fc': ['fc1.weight', 'fc1.bias']}
    with pytest.raises(ConfigError, match='fc1.weight'):
        assign_groups(_Net(), OptimConfig(groups=GROUPS[:2]))
    assert assign_groups(_Net(), OptimConfig()) == {
        'all': [n for n, _ in _Net().named_parameters()]}


def test_sgd_has_the_group_rates_decay_and_momentum() -> None:
    net = _Net()
    set_trainable(net, ['*'])
    optimizer = build_optimizer(net, OptimConfig(name='sgd', groups=GROUPS, weight_decay=0.5),
                                _stage())
    assert isinstance(optimizer, torch.optim.SGD)
    by_name = {g['name']: g for g in optimizer.param_groups}
    assert {k: (g['lr'], g['weight_decay'], g['momentum']) for k, g in by_name.items()} == {
        'last': (0.001, 0.5, 0.9), 'convs': (0.01, 1e-4, 0.9), 'fc': (0.1, 1e-5, 0.9)}
    assert by_name['last']['params'][0] is net.head[2].weight


def test_adam_is_an_option() -> None:
    optimizer = build_optimizer(_Net(), OptimConfig(name='adam', lr=0.003, betas=(0.8, 0.9)),
                                _stage())
    assert isinstance(optimizer, torch.optim.Adam)
    assert optimizer.param_groups[0]['lr'] == 0.003
    assert optimizer.param_groups[0]['betas'] == (0.8, 0.9)


def test_a_stage_freezes_what_it_does_not_train_and_sets_its_rates() -> None:
    net = _Net()
    trained = set_trainable(net, ['head'])
    assert trained == ['head.0.weight', 'head.0.bias', 'head.2.weight', 'head.2.bias']
    assert not net.backbone[0].weight.requires_grad and net.head[0].weight.requires_grad
    config = OptimConfig(groups=GROUPS, lr_scale=0.5)
    optimizer = build_optimizer(net, config, _stage(lr={'convs': 0.2}, lr_scale=0.1))
    assert current_rates(optimizer) == pytest.approx({'last': 0.001 * 0.05, 'convs': 0.2 * 0.05})
    params = [p for g in optimizer.param_groups for p in g['params']]
    assert len(params) == 4 and all(p.requires_grad for p in params)
    with pytest.raises(ConfigError, match='match no parameter'):
        set_trainable(net, ['nothing'])


def test_frozen_parameters_do_not_move() -> None:
    torch.manual_seed(0)
    net = _Net()
    set_trainable(net, ['head'])
    frozen = net.backbone[0].weight.detach().clone()
    trained = net.head[0].weight.detach().clone()
    optimizer = build_optimizer(net, OptimConfig(groups=GROUPS, weight_decay=0.1), _stage())
    for _ in range(3):
        net.head(net.backbone(torch.randn(2, 3, 16, 16))).square().mean().backward()
        optimizer.step()
        optimizer.zero_grad()
    assert torch.equal(net.backbone[0].weight, frozen)
    assert not torch.equal(net.head[0].weight, trained)


def test_step_schedule_with_warmup() -> None:
    factor = schedule_factor(ScheduleConfig(kind='step', milestones=[4, 8], gamma=0.1,
                                            warmup_steps=2), 10)
    assert [factor(s) for s in range(10)] == pytest.approx(
        [0.5, 1, 1, 1, 0.1, 0.1, 0.1, 0.1, 0.01, 0.01])


def test_cosine_schedule_ends_at_min_factor() -> None:
    factor = schedule_factor(ScheduleConfig(kind='cosine', min_factor=0.1), 100)
    assert factor(0) == 1.0
    assert factor(50) == pytest.approx(0.55)
    assert factor(100) == pytest.approx(0.1)
    assert all(factor(s) >= factor(s + 1) for s in range(100))
    assert schedule_factor(ScheduleConfig(), 5)(3) == 1.0


def test_scheduler_applies_the_factor_per_optimiser_step() -> None:
    net = _Net()
    stage = _stage(schedule=ScheduleConfig(kind='step', milestones=[2], gamma=0.5))
    optimizer = build_optimizer(net, OptimConfig(lr=0.4), stage)
    scheduler = build_scheduler(optimizer, stage)
    seen = []
    for _ in range(4):
        seen.append(current_rates(optimizer)['all'])
        optimizer.step()
        scheduler.step()
    assert seen == pytest.approx([0.4, 0.4, 0.2, 0.2])
    state = scheduler.state_dict()
    fresh = build_scheduler(build_optimizer(net, OptimConfig(lr=0.4), stage), stage)
    fresh.load_state_dict(state)
    assert fresh.last_epoch == 4 and math.isclose(fresh.get_last_lr()[0], 0.2)
