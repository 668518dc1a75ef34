"""Checkpoints that carry the model config with the weights, to rebuild the exact network."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple

from ros2_depth_trainer.models import Eigen15, Eigen15Config
import torch

CHECKPOINT_FORMAT = 'ros2_depth_trainer/checkpoint'
CHECKPOINT_VERSION = 1

StateDict = Dict[str, torch.Tensor]


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable or not in the expected format."""


def save_checkpoint(path: Path, model: Eigen15,
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


def load_checkpoint(path: Path) -> Tuple[Eigen15Config, StateDict, Dict[str, Any]]:
    """Read a checkpoint on the CPU; return its config, state dict and other entries."""
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
        config = Eigen15Config.from_dict(payload['model_config'])
        state = payload['model_state']
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f'{path}: bad model_config or model_state ({exc})') from exc
    extra = {k: v for k, v in payload.items()
             if k not in ('format', 'format_version', 'model_config', 'model_state')}
    return config, state, extra
