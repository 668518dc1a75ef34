"""
Optimisers with the papers' per-layer learning rates and weight decay, and their schedules.

Parameters are put in groups by glob patterns over ``model.named_parameters()`` names (a
pattern also matches every parameter below a module of that name, so ``fc1`` matches
``fc1.weight`` and ``fc1.bias``); the first group whose pattern matches wins, and a parameter no
group matches is an error. Each stage trains the parameters its ``train`` patterns match and
freezes the rest (``requires_grad`` False); a fresh optimiser holds only the trained ones.
"""

from __future__ import annotations

import fnmatch
import math
from typing import Callable, Dict, Iterable, List, Sequence

from ros2_depth_trainer.config import (
    ConfigError, OptimConfig, ParamGroupConfig, ScheduleConfig, StageConfig)
import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

ALL_GROUP = 'all'  # the one group used when the config lists none


def matches(name: str, patterns: Iterable[str]) -> bool:
    """Return whether a parameter or module name matches a pattern (or lies below one)."""
    return any(fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(name, p + '.*')
               for p in patterns)


def effective_groups(config: OptimConfig) -> List[ParamGroupConfig]:
    """Return the configured groups, or one group of every parameter when there are none."""
    return list(config.groups) or [ParamGroupConfig(name=ALL_GROUP, params=['*'])]


def assign_groups(model: nn.Module, config: OptimConfig) -> Dict[str, List[str]]:
    """Map each group name to the names of its parameters (first matching group wins)."""
    groups = effective_groups(config)
    assigned: Dict[str, List[str]] = {g.name: [] for g in groups}
    unmatched = []
    for name, _ in model.named_parameters():
        group = next((g for g in groups if matches(name, g.params)), None)
        if group is None:
            unmatched.append(name)
        else:
            assigned[group.name].append(name)
    if unmatched:
        raise ConfigError(f'no optim.groups pattern matches parameters {unmatched}')
    return assigned


def set_trainable(model: nn.Module, patterns: Sequence[str]) -> List[str]:
    """Let the parameters matching ``patterns`` train, freeze the others; return the trained."""
    trained = []
    for name, param in model.named_parameters():
        train = matches(name, patterns)
        param.requires_grad_(train)
        if train:
            trained.append(name)
    if not trained:
        raise ConfigError(f'stage train patterns {list(patterns)} match no parameter')
    return trained


def group_rates(config: OptimConfig, stage: StageConfig) -> Dict[str, Dict[str, float]]:
    """Return {group: {'lr', 'weight_decay'}} for a stage, lr with both scales applied."""
    rates = {}
    for group in effective_groups(config):
        lr = stage.lr.get(group.name, config.lr if group.lr is None else group.lr)
        decay = config.weight_decay if group.weight_decay is None else group.weight_decay
        rates[group.name] = {'lr': lr * config.lr_scale * stage.lr_scale, 'weight_decay': decay}
    return rates


def param_groups(model: nn.Module, config: OptimConfig, stage: StageConfig) -> List[dict]:
    """Return the optimiser's parameter groups for the parameters that train in ``stage``."""
    params = dict(model.named_parameters())
    rates = group_rates(config, stage)
    out = []
    for group, names in assign_groups(model, config).items():
        trained = [params[n] for n in names if params[n].requires_grad]
        if trained:
            out.append({'params': trained, 'name': group, **rates[group]})
    return out


def build_optimizer(model: nn.Module, config: OptimConfig,
                    stage: StageConfig) -> torch.optim.Optimizer:
    """Build SGD (momentum) or Adam over the parameters that train in ``stage``."""
    groups = param_groups(model, config, stage)
    if not groups:
        raise ConfigError(f'stage {stage.name!r} trains no parameter')
    if config.name == 'sgd':
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum)
    if config.name == 'adam':
        return torch.optim.Adam(groups, lr=config.lr, betas=config.betas)
    raise ConfigError(f'unknown optimiser {config.name!r}')  # pragma: no cover


def schedule_factor(config: ScheduleConfig, steps: int) -> Callable[[int], float]:
    """Return the learning-rate multiplier as a function of the step within the stage."""
    milestones = sorted(config.milestones)

    def factor(step: int) -> float:
        if config.kind == 'step':
            value = config.gamma ** sum(1 for m in milestones if step >= m)
        elif config.kind == 'cosine':
            progress = min(step / max(steps, 1), 1.0)
            value = config.min_factor + (1.0 - config.min_factor) * 0.5 * (
                1.0 + math.cos(math.pi * progress))
        else:
            value = 1.0
        if config.warmup_steps > 0:
            value *= min(1.0, (step + 1) / config.warmup_steps)
        return value

    return factor


def build_scheduler(optimizer: torch.optim.Optimizer, stage: StageConfig) -> LambdaLR:
    """Return a scheduler stepped once per optimiser step; step k uses factor(k)."""
    return LambdaLR(optimizer, schedule_factor(stage.schedule, stage.steps))


def current_rates(optimizer: torch.optim.Optimizer) -> Dict[str, float]:
    """Return the learning rate of every named parameter group (for logging)."""
    return {str(g.get('name', i)): float(g['lr']) for i, g in enumerate(optimizer.param_groups)}
