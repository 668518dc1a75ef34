"""Export a network to ONNX with the JSON sidecar (``sidecar``) that the runtime reads first."""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path
import subprocess
from typing import Any, Dict, Mapping, Optional, Tuple
import warnings

import numpy as np
from ros2_depth.model_spec import file_sha256, ModelSpec
from ros2_depth_trainer.checkpoint import load_checkpoint, save_checkpoint
from ros2_depth_trainer.data.registry import default_protocol
from ros2_depth_trainer.models import build_model, get_config, Model, ModelSource
from ros2_depth_trainer.protocols import PROTOCOLS
from ros2_depth_trainer.sidecar import (check_exportable, DEPTH_RANGE, ExportError, INPUT_NAME,
                                        model_spec)
import torch
from torch import nn, Tensor

_log = logging.getLogger(__name__)

ONNX_OPSET = 17
VERIFY_ATOL = 1e-3
TRAINED_WITH = 'trained_with'  # a shipped checkpoint's run config and step
VERIFY_THREADS = 2


class _TupleOutputs(nn.Module):
    """Return the model's outputs as a tuple in task order, for tracing."""

    def __init__(self, model: Model) -> None:
        super().__init__()
        self.model = model
        self.tasks = tuple(model.config.tasks)

    def forward(self, image: Tensor) -> Tuple[Tensor, ...]:
        outputs = self.model(image)
        return tuple(outputs[task] for task in self.tasks)


def seeded_model(variant: ModelSource, seed: int) -> Model:
    """Build ``variant`` (a name or config) with weights drawn from ``seed``; keep the RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_model(variant)


def training_depth_range(extra: Mapping[str, Any]) -> Optional[Tuple[float, float]]:
    """
    Return the depth range a checkpoint's training data covers, or None if it does not say.

    The range is the depth caps of the protocol ``evaluate`` scores the run's training data
    under (its kind's protocol in ``data.registry``): the depths the model learnt and is scored
    on, e.g. (0.001, 80) m for generated scenes and KITTI, (0.001, 10) m for NYU Depth v2.
    """
    try:
        training = extra['training'] if 'training' in extra else extra[TRAINED_WITH]
        kind = training['run_config']['data']['train']['kind']
    except (KeyError, TypeError):
        return None
    protocol = PROTOCOLS.get(default_protocol(str(kind)) or '')
    return None if protocol is None else (protocol.min_depth, protocol.max_depth)


def model_for_export(variant: Optional[str], seed: int,
                     checkpoint: Optional[Path] = None
                     ) -> Tuple[Model, bool, Tuple[float, float]]:
    """
    Return (model in eval mode, trained, valid depth range): from ``checkpoint``, else seeded.

    The depth range comes from the checkpoint's training data (``training_depth_range``), else
    ``DEPTH_RANGE``.
    """
    if checkpoint is None:
        if variant is None:
            raise ExportError('give a model variant or a checkpoint')
        try:
            check_exportable(get_config(variant))
        except ValueError as exc:
            raise ExportError(str(exc)) from None
        model = seeded_model(variant, seed)
        _log.info('exporting the untrained %s initialisation (seed %d)', model.config.name, seed)
        return model.eval(), False, DEPTH_RANGE
    config, state, extra = load_checkpoint(checkpoint)
    check_exportable(config)
    if variant is not None and get_config(variant) != config:
        raise ExportError(f'checkpoint {checkpoint} holds a {config.name} model whose config '
                          f'differs from variant {variant!r}; leave the variant out to use the '
                          'checkpoint config')
    model = build_model(config)
    model.load_state_dict(state)
    _log.info('exporting %s from checkpoint %s', config.name, checkpoint)
    return model.eval(), True, training_depth_range(extra) or DEPTH_RANGE


def onnx_bytes(model: Model) -> bytes:
    """Trace the model (eval mode, static 1x3xHxW input) and return the ONNX file's bytes."""
    config = model.config
    dummy = torch.zeros(1, 3, config.input_height, config.input_width)
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        # The TorchScript exporter (dynamo=False) is chosen on purpose: plain static graphs that
        # ONNX Runtime and TensorRT read, and byte-identical files from identical weights.
        warnings.simplefilter('ignore', DeprecationWarning)
        torch.onnx.export(
            _TupleOutputs(model.eval()), (dummy,), buffer, opset_version=ONNX_OPSET,
            dynamo=False, do_constant_folding=True, export_params=True,
            input_names=[INPUT_NAME], output_names=list(config.tasks))
    return buffer.getvalue()


def git_revision(directory: Optional[Path] = None) -> str:
    """Return ``git rev-parse HEAD`` in ``directory`` (default: the trainer sources), or ''."""
    cwd = directory if directory is not None else Path(__file__).resolve().parent
    try:
        result = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=cwd, capture_output=True,
                                text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return ''
    return result.stdout.strip() if result.returncode == 0 else ''


def verify_onnx(model: Model, onnx_path: Path, seed: int = 0,
                atol: float = VERIFY_ATOL) -> Dict[str, float]:
    """Run the ONNX file and the model on one random input; return max |diff| per output."""
    import onnx
    import onnxruntime as ort

    onnx.checker.check_model(str(onnx_path))
    config = model.config
    generator = torch.Generator().manual_seed(seed)
    image = torch.randn(1, 3, config.input_height, config.input_width, generator=generator)
    with torch.no_grad():
        expected = model.eval()(image)
    options = ort.SessionOptions()
    options.intra_op_num_threads = VERIFY_THREADS
    session = ort.InferenceSession(str(onnx_path), options, providers=['CPUExecutionProvider'])
    got = session.run(list(config.tasks), {INPUT_NAME: image.numpy()})
    diffs = {task: float(np.max(np.abs(out - expected[task].numpy())))
             for task, out in zip(config.tasks, got)}
    bad = {task: diff for task, diff in diffs.items() if not diff <= atol}
    if bad:
        raise ExportError(f'{onnx_path}: onnxruntime and torch disagree by {bad} '
                          f'(tolerance {atol})')
    return diffs


def weights_only_extra(checkpoint: Path, onnx_sha256: str) -> Dict[str, Any]:
    """Return what a shipped checkpoint keeps of a training one: run config, step, provenance."""
    _, _, extra = load_checkpoint(checkpoint)
    training = extra.get('training') or extra.get(TRAINED_WITH) or {}
    kept = {key: training[key] for key in ('run_config', 'step') if key in training}
    # Not under 'training': that key marks a resumable checkpoint (optimiser and all).
    return {TRAINED_WITH: kept, 'exported_from': Path(checkpoint).name,
            'onnx_sha256': onnx_sha256}


def _temp_path(path: Path) -> Path:
    return path.with_name(f'.{path.name}.tmp')


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, 'wb') as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())


def export_model(output: Path, variant: Optional[str] = None, seed: int = 0,
                 checkpoint: Optional[Path] = None, verify: bool = True,
                 depth_range: Optional[Tuple[float, float]] = None) -> ModelSpec:
    """
    Export ``output`` (.onnx) and its sidecar (the same name with .json).

    The sidecar's ``depth_range`` (outside it the node publishes NaN) is ``depth_range`` when
    given, else the range of the checkpoint's training data (``training_depth_range``).

    Exported from a ``checkpoint``, the weights also go beside them as a slim checkpoint
    (``output`` with .pt: model config, weights, the run config and step, no optimiser), so
    that fine-tuning and warm starts can begin from exactly the exported model.

    The files are written under temporary names and renamed into place; the ONNX file is
    checked with onnxruntime (with ``verify``) before any is renamed, the sidecar last.
    """
    output = Path(output)
    if output.suffix != '.onnx':
        raise ExportError(f'the output must be a .onnx file, got {output}')
    output.parent.mkdir(parents=True, exist_ok=True)
    sidecar = output.with_suffix('.json')
    onnx_tmp, sidecar_tmp = _temp_path(output), _temp_path(sidecar)
    model, trained, trained_range = model_for_export(variant, seed, checkpoint)
    depth_range = tuple(depth_range) if depth_range is not None else trained_range
    if not 0 <= depth_range[0] < depth_range[1]:
        raise ExportError(f'the depth range must be 0 <= min < max, got {list(depth_range)}')

    try:
        data = onnx_bytes(model)
        _write_synced(onnx_tmp, data)
        if verify:
            try:
                diffs = verify_onnx(model, onnx_tmp)
            except ImportError as exc:
                _log.warning('onnxruntime is missing, the ONNX file is not verified (%s)', exc)
            else:
                _log.info('onnxruntime matches torch: max |diff| %s',
                          ', '.join(f'{k} {v:.2e}' for k, v in diffs.items()))
        spec = model_spec(model, output.name, file_sha256(onnx_tmp), trained,
                          seed=None if trained else seed, revision=git_revision(),
                          depth_range=depth_range)
        spec.save(sidecar_tmp)
        if checkpoint is not None:
            weights = output.with_suffix('.pt')
            save_checkpoint(weights, model, weights_only_extra(checkpoint, spec.onnx_sha256))
            _log.info('wrote %s (the exported weights as a checkpoint)', weights)
        os.replace(onnx_tmp, output)
        _log.info('wrote %s (%.1f MB, opset %d)', output, len(data) / 1e6, ONNX_OPSET)
        os.replace(sidecar_tmp, sidecar)
        _log.info('wrote %s (onnx sha256 %s...)', sidecar, spec.onnx_sha256[:12])
    finally:
        onnx_tmp.unlink(missing_ok=True)
        sidecar_tmp.unlink(missing_ok=True)
    return spec
