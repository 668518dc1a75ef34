"""
Warm start: initialise a network from another model's weights, layer by layer.

The source is a trainer checkpoint (``.pt``) or an exported model (the ``.onnx`` file, or its
``.json`` sidecar): the ONNX exporter keeps every parameter as an initializer named after the
module path (``model.`` + the state-dict key), so a bundled model without its checkpoint can still
seed a new run.

A layer (weight and bias together) is copied when all its tensors match in name and shape; a
layer that matches only in part keeps its initialisation, so no layer is half old, half new.
Between two Eigen & Fergus 2015 networks that predict different tasks, scale 3 is carried over
channel by channel (``eigen15_scale3_channels``): its input is the scale-2 predictions followed
by the image features of ``scale3_front``, so adding a task (labels) moves the features to later
channels. The copied channels keep their meaning, the new task's input channels get zero
weights, and the old scale 3 computes what it computed before. Everything not copied is listed
in the log.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn, Tensor

_log = logging.getLogger(__name__)

ONNX_PREFIX = 'model.'  # export wraps the network as ``_TupleOutputs.model``


class WarmStartError(ValueError):
    """The warm-start source cannot be read or shares no layer with the network."""


def _onnx_weights(path: Path) -> Dict[str, Tensor]:
    import onnx
    from onnx import numpy_helper

    try:
        model = onnx.load(str(path))
    except Exception as exc:  # onnx raises DecodeError, OSError, ... for a broken file
        raise WarmStartError(f'cannot read {path} as ONNX ({exc})') from None
    weights = {}
    for init in model.graph.initializer:
        if init.name.startswith(ONNX_PREFIX):
            array = np.array(numpy_helper.to_array(init))  # writable copy
            weights[init.name[len(ONNX_PREFIX):]] = torch.from_numpy(array)
    return weights


def source_model(path: Union[str, Path]) -> Tuple[Dict[str, Tensor], Optional[Any]]:
    """Return the named tensors and the model config (None if unknown) of a warm-start source."""
    from ros2_depth_trainer.models import get_config

    path = Path(path)
    if not path.is_file():
        raise WarmStartError(f'warm-start source {path} does not exist')
    config = None
    if path.suffix in ('.json', '.onnx'):
        from ros2_depth.model_spec import load_spec, ModelSpecError

        sidecar = path.with_suffix('.json')
        if sidecar.is_file():
            try:
                spec = load_spec(sidecar)
                config = get_config(spec.model_config) if spec.model_config else None
            except (ModelSpecError, ValueError, TypeError) as exc:
                raise WarmStartError(str(exc)) from None
            path = spec.onnx_path
        elif path.suffix == '.json':
            raise WarmStartError(f'{path} does not exist')
        return _onnx_weights(path), config
    from ros2_depth_trainer.checkpoint import CheckpointError, load_checkpoint

    try:
        config, state, _ = load_checkpoint(path)
    except CheckpointError as exc:
        raise WarmStartError(str(exc)) from None
    return dict(state), config


def source_weights(path: Union[str, Path]) -> Dict[str, Tensor]:
    """Return the named tensors of a checkpoint (.pt) or an exported model (.onnx / .json)."""
    return source_model(path)[0]


def eigen15_scale3_channels(config: Any) -> List[str]:
    """
    Name the scale-3 input channels of an Eigen15 config, in order.

    The scale-2 predictions come first ('depth', 'normals.0'..'normals.2', 'labels.0'..), then
    the image features ('feature.0'..), which are ``scale3_front``'s output channels from
    ``sum(task channels)`` on (its first channels are computed, then replaced).
    """
    names = []
    for task, channels in config.task_channels.items():
        names += [task] if channels == 1 else [f'{task}.{c}' for c in range(channels)]
    features = config.scale3_channels - len(names)
    return names + [f'feature.{k}' for k in range(features)]


def _channel_pairs(target: Sequence[str], source: Sequence[str]) -> Tuple[List[int], List[int]]:
    """Return (target indices, source indices) of the channel names both have."""
    where = {name: index for index, name in enumerate(source)}
    pairs = [(t, where[name]) for t, name in enumerate(target) if name in where]
    return [t for t, _ in pairs], [s for _, s in pairs]


def _eigen15_scale3(model: nn.Module, source: Mapping[str, Tensor], source_config: Any,
                    state: Dict[str, Tensor]) -> List[str]:
    """Copy scale 3 channel by channel between Eigen15 networks; return the keys written."""
    config = model.config
    target_names = eigen15_scale3_channels(config)
    source_names = eigen15_scale3_channels(source_config)
    predicted = sum(config.task_channels.values())
    source_predicted = sum(source_config.task_channels.values())
    # scale3_front: output channel = feature (the predicted slots carry no trained meaning).
    t_feat = list(range(predicted, len(target_names)))
    s_feat = list(range(source_predicted, len(source_names)))[:len(t_feat)]
    t_feat = t_feat[:len(s_feat)]
    written = []
    front_w, front_b = 'scale3_front.0.weight', 'scale3_front.0.bias'
    if (front_w in source and front_b in source
            and source[front_w].shape[1:] == state[front_w].shape[1:]):
        state[front_w][t_feat] = source[front_w][s_feat].to(state[front_w].dtype)
        state[front_b][t_feat] = source[front_b][s_feat].to(state[front_b].dtype)
        written += [front_w, front_b]
    t_in, s_in = _channel_pairs(target_names, source_names)
    for task in config.tasks:
        first_w, first_b = f'scale3_heads.{task}.0.weight', f'scale3_heads.{task}.0.bias'
        if first_w not in source or source[first_w].shape[0] != state[first_w].shape[0]:
            continue
        weight = torch.zeros_like(state[first_w])  # new input channels: zero, no effect
        weight[:, t_in] = source[first_w][:, s_in].to(weight.dtype)
        state[first_w].copy_(weight)
        state[first_b].copy_(source[first_b])
        written += [first_w, first_b]
    return written


def warm_start(model: nn.Module, path: Union[str, Path]) -> Tuple[List[str], List[str]]:
    """
    Copy the source's layers into ``model`` where they match (see the module docstring).

    Returns (loaded, kept): the state-dict keys written and those left at their initialisation.
    Raises WarmStartError when nothing matches (a different network altogether).
    """
    source, source_config = source_model(path)
    state = model.state_dict()
    layers: Dict[str, List[str]] = {}
    for key in state:
        layers.setdefault(key.rsplit('.', 1)[0], []).append(key)
    loaded = []
    with torch.no_grad():
        for keys in layers.values():
            if all(k in source and tuple(source[k].shape) == tuple(state[k].shape)
                   for k in keys):
                for key in keys:
                    state[key].copy_(source[key].to(state[key].dtype))
                loaded += keys
        family = getattr(getattr(model, 'config', None), 'family', None)
        if family == 'eigen15' and getattr(source_config, 'family', None) == 'eigen15':
            remapped = [k for k in _eigen15_scale3(model, source, source_config, state)
                        if k not in loaded]
            if remapped:
                _log.info('warm start: scale 3 carried over channel by channel (%s)',
                          ', '.join(remapped))
            loaded += remapped
    kept = [key for key in state if key not in loaded]
    if not loaded:
        raise WarmStartError(f'{path} shares no layer (names and shapes) with '
                             f'{type(model).__name__}; is it a model of the same family?')
    _log.info('warm start from %s: %d of %d tensors loaded (%d values); kept at their '
              'initialisation: %s', path, len(loaded), len(state),
              sum(state[k].numel() for k in loaded), ', '.join(kept) or 'none')
    return loaded, kept
