"""
Warm start: initialise a network from another model's weights, tensor by tensor.

The source is a trainer checkpoint (``.pt``) or an exported model (the ``.onnx`` file, or its
``.json`` sidecar): the ONNX exporter keeps every parameter as an initializer named after the
module path (``model.`` + the state-dict key), so a bundled model without its checkpoint can still
seed a new run. Every parameter or buffer whose name and shape match is copied; the rest keep
their initialisation (new heads, layers whose width changed) and are listed in the log.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict, List, Tuple, Union

import numpy as np
import torch
from torch import nn, Tensor

_log = logging.getLogger(__name__)

ONNX_PREFIX = 'model.'  # export wraps the network as ``_TupleOutputs.model``


class WarmStartError(ValueError):
    """The warm-start source cannot be read or shares no tensor with the network."""


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


def source_weights(path: Union[str, Path]) -> Dict[str, Tensor]:
    """Return the named tensors of a checkpoint (.pt) or an exported model (.onnx / .json)."""
    path = Path(path)
    if not path.is_file():
        raise WarmStartError(f'warm-start source {path} does not exist')
    if path.suffix == '.json':
        from ros2_depth.model_spec import load_spec, ModelSpecError

        try:
            path = load_spec(path).onnx_path
        except ModelSpecError as exc:
            raise WarmStartError(str(exc)) from None
    if path.suffix == '.onnx':
        return _onnx_weights(path)
    from ros2_depth_trainer.checkpoint import CheckpointError, load_checkpoint

    try:
        _, state, _ = load_checkpoint(path)
    except CheckpointError as exc:
        raise WarmStartError(str(exc)) from None
    return dict(state)


def warm_start(model: nn.Module, path: Union[str, Path]) -> Tuple[List[str], List[str]]:
    """
    Copy the source's tensors into ``model`` where name and shape match.

    Returns (loaded, kept): the state-dict keys copied and those left at their initialisation.
    Raises WarmStartError when nothing matches (a different network altogether).
    """
    weights = source_weights(path)
    state = model.state_dict()
    loaded, kept = [], []
    with torch.no_grad():
        for key, target in state.items():
            source = weights.get(key)
            if source is not None and tuple(source.shape) == tuple(target.shape):
                target.copy_(source.to(target.dtype))
                loaded.append(key)
            else:
                kept.append(key)
    if not loaded:
        raise WarmStartError(f'{path} shares no tensor (name and shape) with '
                             f'{type(model).__name__}; is it a model of the same family?')
    _log.info('warm start from %s: %d of %d tensors loaded (%d values); kept at their '
              'initialisation: %s', path, len(loaded), len(state),
              sum(state[k].numel() for k in loaded), ', '.join(kept) or 'none')
    return loaded, kept
