"""
Checkpoints that carry the model config with the weights, to rebuild the exact network.

Every checkpoint holds the model config and weights (``save_checkpoint``, read by export). A
training checkpoint adds, under ``training``, what a resumed run needs to continue the same loss
curve: the step, epoch and position in the epoch, the stage, the optimiser, scheduler and
gradient-scaler states, the random generator states of every process (python, numpy, torch CPU
and CUDA), and the run config.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
import random
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np
from ros2_depth_trainer.models import get_config
import torch
from torch import nn

CHECKPOINT_FORMAT = 'ros2_depth_trainer/checkpoint'
CHECKPOINT_VERSION = 1
TRAINING_KEY = 'training'

StateDict = Dict[str, torch.Tensor]


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable or not in the expected format."""


def save_checkpoint(path: Path, model: nn.Module,
                    extra: Optional[Mapping[str, Any]] = None) -> None:
    """Write the model's config, its weights and ``extra`` entries atomically to ``path``."""
    path = Path(path)
    payload: Dict[str, Any] = {
        'format': CHECKPOINT_FORMAT,
        'format_version': CHECKPOINT_VERSION,
        'model_config': dataclasses.asdict(model.config),
        'model_state': model.state_dict(),
    }
    payload.update(extra or {})
    tmp = path.with_name(path.name + '.tmp')
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> Tuple[Any, StateDict, Dict[str, Any]]:
    """Read a checkpoint on the CPU; return its model config, state dict and other entries."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f'checkpoint {path} does not exist')
    try:
        payload = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt or foreign files
        raise CheckpointError(f'{path}: cannot be read as a checkpoint ({exc})') from exc
    if not isinstance(payload, dict) or payload.get('format') != CHECKPOINT_FORMAT:
        raise CheckpointError(f'{path}: not a ros2_depth_trainer checkpoint')
    if payload.get('format_version') != CHECKPOINT_VERSION:
        raise CheckpointError(f'{path}: checkpoint format_version '
                              f'{payload.get("format_version")!r} is not supported '
                              f'(expected {CHECKPOINT_VERSION})')
    try:
        config = get_config(payload['model_config'])
        state = payload['model_state']
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f'{path}: bad model_config or model_state ({exc})') from exc
    extra = {k: v for k, v in payload.items()
             if k not in ('format', 'format_version', 'model_config', 'model_state')}
    return config, state, extra


@dataclasses.dataclass
class TrainingState:
    """Where a run stands: enough, with the weights, to continue it exactly."""

    step: int  # optimiser steps done, over all stages
    stage: int  # index of the current stage in the run config
    epoch: int  # current pass over the training set
    batch_in_epoch: int  # batches of ``epoch`` already consumed (per process)
    world_size: int
    run_config: Dict[str, Any]
    optimizer: Dict[str, Any]
    scheduler: Dict[str, Any]
    scaler: Optional[Dict[str, Any]] = None
    rng: List[Dict[str, Any]] = dataclasses.field(default_factory=list)  # one per process


def rng_state() -> Dict[str, Any]:
    """Return this process's python, numpy, torch CPU and (initialised) CUDA generator states."""
    name, key, pos, has_gauss, gauss = np.random.get_state()
    return {
        'python': random.getstate(),
        'numpy': {'name': str(name), 'key': torch.from_numpy(key.astype(np.int64)),
                  'pos': int(pos), 'has_gauss': int(has_gauss), 'gauss': float(gauss)},
        'torch': torch.get_rng_state(),
        'cuda': (torch.cuda.get_rng_state_all()
                 if torch.cuda.is_available() and torch.cuda.is_initialized() else []),
    }


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore generator states captured by ``rng_state``."""
    version, internal, gauss = state['python']
    random.setstate((version, tuple(internal), gauss))
    np_state = state['numpy']
    np.random.set_state((np_state['name'], np_state['key'].numpy().astype(np.uint32),
                         np_state['pos'], np_state['has_gauss'], np_state['gauss']))
    torch.set_rng_state(state['torch'])
    if state.get('cuda') and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


def save_training_checkpoint(path: Path, model: nn.Module, state: TrainingState) -> None:
    """Write a resumable checkpoint: the model (exportable as usual) plus ``state``."""
    # Not dataclasses.asdict: it would deep-copy the optimiser state.
    entries = {f.name: getattr(state, f.name) for f in dataclasses.fields(state)}
    save_checkpoint(path, model, {TRAINING_KEY: entries})


def load_training_checkpoint(path: Path) -> Tuple[Any, StateDict, TrainingState]:
    """Read a resumable checkpoint; return its model config, weights and training state."""
    config, weights, extra = load_checkpoint(path)
    if TRAINING_KEY not in extra:
        raise CheckpointError(f'{path}: holds model weights only, no training state to resume')
    try:
        state = TrainingState(**extra[TRAINING_KEY])
    except TypeError as exc:
        raise CheckpointError(f'{path}: bad training state ({exc})') from exc
    return config, weights, state
