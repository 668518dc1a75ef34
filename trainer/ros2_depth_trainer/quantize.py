"""
Static INT8 quantisation of an exported model for ONNX Runtime on the CPU.

ONNX Runtime's ``quantize_static`` writes a QDQ model (QuantizeLinear/DequantizeLinear pairs
around each quantised operator, which its CPU kernels fuse into integer convolutions and GEMMs):
weights signed 8-bit per output channel, activations 8-bit per tensor with ranges calibrated on
network inputs made from generated scenes exactly as the node makes them (``calibration_inputs``:
the trainer's scene generator, never real recordings). The convolutions that produce the
outputs (the heads) can be left in float, which is where the error of the log-depth and the
normals would otherwise be largest. The INT8 file gets its own sidecar: the FP32 model's spec
with ``precision: int8``, its own sha256, the parent's sha256 and the recipe (``quantization``),
written beside the parent as ``NAME.int8.onnx`` / ``NAME.int8.json``, which is where the node's
``precision: int8`` looks.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
import tempfile
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
from ros2_depth.backends import create_backend
from ros2_depth.model_spec import (file_sha256, int8_sibling, load_spec, ModelSpec,
                                   spec_from_dict)
from ros2_depth.pipeline import DepthPipeline
from ros2_depth_trainer.export import git_revision
from ros2_depth_trainer.sidecar import ExportError

_log = logging.getLogger(__name__)

# Calibration scenes come from seeds that no training, validation or test folder of the
# documented runs uses (docs/evaluation.md: 0-212), and the verification scenes from others.
CALIBRATION_SEED = 300
VERIFY_SEED = 301
CALIBRATION_KINDS = ('robot', 'indoor', 'street')
CALIBRATION_SIZE = (240, 320)  # height, width: the generated training scenes' size
DEFAULT_COUNT = 48
METHODS = ('minmax', 'entropy', 'percentile')
KEEP_FP32 = ('none', 'heads', 'first', 'first+heads')
ACTIVATIONS = ('int8', 'uint8')
# Operators that carry weights: what "first" and "heads" look for.
_WEIGHTED = ('Conv', 'ConvTranspose', 'Gemm', 'MatMul')


def calibration_inputs(pipeline: DepthPipeline, count: int, seed: int = CALIBRATION_SEED,
                       kinds: Sequence[str] = CALIBRATION_KINDS,
                       size: Tuple[int, int] = CALIBRATION_SIZE) -> List[np.ndarray]:
    """
    Render ``count`` generated scenes (kinds in turn) and pre-process them as the node does.

    Each is a (1, 3, h, w) float32 network input: the scene's rgb8 image through the pipeline's
    ``preprocess`` (its resize mode) with the scene's own intrinsics.
    """
    from ros2_depth_trainer.synth.sample import render_sample

    inputs = []
    for index in range(count):
        kind = kinds[index % len(kinds)]
        frame = render_sample(kind, seed, index // len(kinds), *size).rendered.frame
        inputs.append(pipeline.preprocess(frame.rgb, 'rgb8', frame.camera))
    return inputs


def boundary_nodes(model_path: Path, keep: str) -> List[str]:
    """
    Return the names of the weighted nodes ``keep`` leaves in float.

    'first': those that read the graph input; 'heads': for each graph output, the last weighted
    node on the way to it (walking back through weight-free operators such as Relu, Slice or
    normalisation); 'first+heads': both; 'none': none.
    """
    if keep not in KEEP_FP32:
        raise ExportError(f'keep must be one of {KEEP_FP32}, got {keep!r}')
    import onnx

    graph = onnx.load(str(model_path)).graph
    producer = {out: node for node in graph.node for out in node.output}
    initializers = {i.name for i in graph.initializer}
    names: List[str] = []
    if 'first' in keep:
        inputs = {i.name for i in graph.input}
        names += [n.name for n in graph.node if n.op_type in _WEIGHTED and n.input[0] in inputs]
    if 'heads' in keep:
        for output in graph.output:
            stack, seen = [output.name], set()
            while stack:
                node = producer.get(stack.pop())
                if node is None or node.name in seen:
                    continue
                seen.add(node.name)
                if node.op_type in _WEIGHTED:
                    names.append(node.name)
                else:
                    stack += [i for i in node.input if i and i not in initializers]
    if '' in names:
        raise ExportError(f'{model_path}: a layer that --keep-fp32 {keep} would leave in float '
                          'has no node name, so the quantiser cannot be told to skip it')
    return sorted(set(names))


class _Reader:
    """onnxruntime.quantization.CalibrationDataReader over a list of network inputs."""

    def __init__(self, input_name: str, inputs: Sequence[np.ndarray]) -> None:
        self._items: Iterator[np.ndarray] = iter(inputs)
        self._name = input_name

    def get_next(self) -> Optional[Dict[str, np.ndarray]]:
        item = next(self._items, None)
        return None if item is None else {self._name: item}


def output_differences(fp32: ModelSpec, int8: ModelSpec, inputs: Sequence[np.ndarray],
                       num_threads: int = 2) -> Dict[str, float]:
    """
    Compare two models on network inputs: depth (relative, from the log output) and normals.

    Returns the mean and max relative depth change |exp(a - b) - 1|, the max |difference| of
    each output, and the mean normals angle in degrees (where the model has them).
    """
    a = create_backend('onnxruntime', fp32, num_threads=num_threads)
    b = create_backend('onnxruntime', int8, num_threads=num_threads)
    depth_key = next(k for k, o in fp32.outputs.items() if o.kind == 'depth')
    normals_key = next((k for k, o in fp32.outputs.items() if o.kind == 'normals'), None)
    log_depth = fp32.outputs[depth_key].encoding == 'log'
    relative, angles, max_abs = [], [], dict.fromkeys(fp32.outputs, 0.0)
    for image in inputs:
        out_a, out_b = a.infer(image), b.infer(image)
        for key in fp32.outputs:
            max_abs[key] = max(max_abs[key], float(np.max(np.abs(out_a[key] - out_b[key]))))
        da, db = out_a[depth_key].astype(np.float64), out_b[depth_key].astype(np.float64)
        ratio = np.exp(db - da) if log_depth else db / da
        relative.append(np.abs(ratio - 1.0).ravel())
        if normals_key is not None:
            na, nb = (out[normals_key][0].reshape(3, -1).T.astype(np.float64)
                      for out in (out_a, out_b))
            angles.append(np.degrees(np.arctan2(np.linalg.norm(np.cross(na, nb), axis=-1),
                                                (na * nb).sum(-1))))
    rel = np.concatenate(relative)
    result = {'depth_relative_mean': float(rel.mean()), 'depth_relative_max': float(rel.max())}
    result.update({f'{key}_max_abs': value for key, value in max_abs.items()})
    if angles:
        result['normals_angle_mean_deg'] = float(np.concatenate(angles).mean())
    return result


@dataclasses.dataclass(frozen=True)
class QuantizeOptions:
    """How to quantise: calibration size and seed, range method, what stays in float."""

    count: int = DEFAULT_COUNT
    seed: int = CALIBRATION_SEED
    method: str = 'percentile'
    keep_fp32: str = 'heads'
    activations: str = 'uint8'  # 'uint8' (U8S8: ONNX Runtime's fast x86 path) or 'int8' (S8S8)
    verify_count: int = 6
    num_threads: int = 2


def quantize_model(model: Path, output: Optional[Path] = None,
                   options: QuantizeOptions = QuantizeOptions()
                   ) -> Tuple[ModelSpec, Dict[str, float]]:
    """
    Quantise the FP32 model ``model`` (its sidecar or .onnx) to ``output`` (.onnx) + sidecar.

    ``output`` defaults to ``NAME.int8.onnx`` beside the model. Returns the INT8 model's spec and
    its differences from the FP32 model on ``verify_count`` generated scenes not used for
    calibration (``output_differences``). Files are written under temporary names and renamed,
    the sidecar last.
    """
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, quantize_static,
                                          QuantType)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if options.method not in METHODS:
        raise ExportError(f'method must be one of {METHODS}, got {options.method!r}')
    if options.activations not in ACTIVATIONS:
        raise ExportError(f'activations must be one of {ACTIVATIONS}, got {options.activations!r}')
    if options.count < 1:
        raise ExportError(f'the calibration needs at least one scene, got {options.count}')
    spec = load_spec(Path(model))
    if spec.precision != 'fp32':
        raise ExportError(f'{spec.path} is already {spec.precision}; quantise its FP32 parent')
    output = Path(output) if output is not None else \
        int8_sibling(spec.path).with_suffix('.onnx')
    if output.suffix != '.onnx':
        raise ExportError(f'the output must be a .onnx file, got {output}')
    sidecar = output.with_suffix('.json')
    onnx_tmp, sidecar_tmp = (p.with_name(f'.{p.name}.tmp') for p in (output, sidecar))

    _log.info('rendering %d calibration scenes (seed %d, %s)', options.count, options.seed,
              ', '.join(CALIBRATION_KINDS))
    pipeline = DepthPipeline(spec, create_backend('onnxruntime', spec,
                                                  num_threads=options.num_threads))
    inputs = calibration_inputs(pipeline, options.count, options.seed)
    method = {'minmax': CalibrationMethod.MinMax, 'entropy': CalibrationMethod.Entropy,
              'percentile': CalibrationMethod.Percentile}[options.method]
    activation = QuantType.QInt8 if options.activations == 'int8' else QuantType.QUInt8
    try:
        with tempfile.TemporaryDirectory(prefix='quantize_') as work:
            prepared = Path(work) / 'prepared.onnx'
            # Shape inference and graph optimisation first, as ONNX Runtime recommends.
            quant_pre_process(str(spec.onnx_path), str(prepared), skip_symbolic_shape=True)
            excluded = boundary_nodes(prepared, options.keep_fp32)  # names after that
            cwd = os.getcwd()
            os.chdir(work)  # the calibrator writes its augmented model into the working folder
            try:
                quantize_static(
                    str(prepared), str(onnx_tmp.resolve()), _Reader(spec.input.name, inputs),
                    quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=activation, weight_type=QuantType.QInt8,
                    calibrate_method=method, nodes_to_exclude=excluded,
                    extra_options={'CalibMovingAverage': False})
            finally:
                os.chdir(cwd)
        recipe = {
            'tool': 'onnxruntime.quantization.quantize_static',
            'format': 'QDQ', 'weights': 'int8 per channel',
            'activations': f'{options.activations} per tensor',
            'calibration': options.method, 'calibration_scenes': options.count,
            'calibration_seed': options.seed, 'calibration_kinds': list(CALIBRATION_KINDS),
            'calibration_size': list(CALIBRATION_SIZE), 'kept_fp32': excluded,
            'keep_fp32': options.keep_fp32, 'git_revision': git_revision(),
        }
        int8 = dataclasses.replace(
            spec, onnx_file=output.name, onnx_sha256=file_sha256(onnx_tmp), precision='int8',
            parent_onnx_sha256=spec.onnx_sha256, quantization=recipe, path=None,
            description=f'{spec.description} INT8 (QDQ) copy of the FP32 model '
                        f'{spec.onnx_file} (sha256 {spec.onnx_sha256[:12]}...).')
        spec_from_dict(int8.to_dict())  # the sidecar's own checks, before anything is renamed
        int8.save(sidecar_tmp)
        verify = calibration_inputs(pipeline, options.verify_count, VERIFY_SEED)
        written = dataclasses.replace(int8, onnx_file=onnx_tmp.name, path=sidecar.resolve())
        diffs = output_differences(spec, written, verify, options.num_threads)
        os.replace(onnx_tmp, output)
        os.replace(sidecar_tmp, sidecar)
    finally:
        onnx_tmp.unlink(missing_ok=True)
        sidecar_tmp.unlink(missing_ok=True)
    _log.info('wrote %s and %s (onnx sha256 %s..., parent %s...)', output, sidecar.name,
              int8.onnx_sha256[:12], spec.onnx_sha256[:12])
    return load_spec(sidecar), diffs
