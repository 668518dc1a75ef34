"""
What differs between TensorRT 8.5/8.6, 10.x and 11.x, decided from the version alone (no import).

The builder and the backend ask this module which network-creation flags, builder flags and INT8
method a version takes, and how an engine's manifest must match the machine it is loaded on. Each
decision cites NVIDIA's documentation:

* 8.5 (JetPack 5.1) and 8.6 (JetPack 6.0): the ONNX parser needs
  ``NetworkDefinitionCreationFlag.EXPLICIT_BATCH`` (8.x Builder reference);
  ``set_memory_pool_limit`` (from 8.3) replaces ``max_workspace_size``; the named-tensor API
  (``num_io_tensors``, ``get_tensor_name``, ``set_tensor_address``, ``execute_async_v3``) exists
  from 8.5; ``builder_optimization_level`` from 8.6 (8.5 builds at its fixed level).
* 10.x (JetPack 6, desktops): EXPLICIT_BATCH is deprecated and ignored, the bindings API and
  ``max_workspace_size`` are removed (8.x-to-10.x Python migration guide);
  ``NetworkDefinitionCreationFlag.STRONGLY_TYPED`` exists; INT8 calibrators are deprecated since
  10.1 ("superseded by explicit quantization", C++ API deprecated list) and weak typing since
  10.12, but both still work.
* 11.x: strong typing is the default and the only mode; ``BuilderFlag.FP16``, ``BuilderFlag.INT8``
  and ``IBuilderConfig.int8_calibrator`` are removed ("Removed Python APIs and Replacements",
  10.x-to-11.x migration guide): FP16 needs an ONNX converted with ModelOpt AutoCast, INT8 a Q/DQ
  ONNX. NVIDIA documents 11.4/11.5 as not supporting JetPack; Jetsons stay on 10.x.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ros2_depth.model_spec import PRECISIONS  # noqa: F401 (the precisions TensorRT builds)
# Where the ONNX that TensorRT parses comes from: the model's own file, a Q/DQ-quantised copy
# (explicit INT8), or a mixed-precision FP16 copy (ModelOpt AutoCast, with float32 inputs/outputs).
SOURCE_KINDS = ('model', 'qdq', 'fp16')
MANIFEST_FORMAT = 'ros2_depth/engine'
MANIFEST_VERSION = 1
OLDEST = (8, 5)  # the named-tensor API and execute_async_v3
OPTIMIZATION_LEVEL_SINCE = (8, 6)
NEWEST_KNOWN_MAJOR = 11


class TensorRTCompatError(ValueError):
    """A TensorRT version cannot build what was asked, or an engine does not fit this machine."""


@dataclasses.dataclass(frozen=True, order=True)
class TrtVersion:
    """A TensorRT version, as ``tensorrt.__version__`` gives it (e.g. '10.3.0.26')."""

    major: int
    minor: int
    patch: int = 0

    @classmethod
    def parse(cls, text: str) -> 'TrtVersion':
        """Parse '8.6.2.3', '10.3.0', '11.0' ...; raise TensorRTCompatError otherwise."""
        match = re.match(r'^\s*(\d+)\.(\d+)(?:\.(\d+))?', str(text))
        if match is None:
            raise TensorRTCompatError(f'cannot read a TensorRT version from {text!r}')
        return cls(int(match.group(1)), int(match.group(2)), int(match.group(3) or 0))

    def __str__(self) -> str:
        """Return 'major.minor.patch'."""
        return f'{self.major}.{self.minor}.{self.patch}'


@dataclasses.dataclass(frozen=True)
class BuildPlan:
    """How one TensorRT version builds one precision from one kind of ONNX source."""

    network_flags: Tuple[str, ...]  # NetworkDefinitionCreationFlag member names
    builder_flags: Tuple[str, ...]  # BuilderFlag member names
    calibrate: bool  # attach an IInt8EntropyCalibrator2 (implicit INT8)
    strongly_typed: bool
    int8_method: str  # '', 'calibration' or 'qdq'
    notes: Tuple[str, ...] = ()  # deprecations worth a log line
    optimization_level: bool = True  # IBuilderConfig.builder_optimization_level exists


def check_supported(version: TrtVersion) -> List[str]:
    """Raise for versions older than 8.5; return warnings for a major newer than known."""
    if (version.major, version.minor) < OLDEST:
        raise TensorRTCompatError(
            f'TensorRT {version} is older than 8.5, the oldest this backend supports (it needs '
            'the named-tensor API and execute_async_v3); install TensorRT 8.5 (JetPack 5.1), '
            '8.6 or 10.x (JetPack 6) or newer'
        )
    if version.major > NEWEST_KNOWN_MAJOR:
        return [f'TensorRT {version} is newer than the versions this backend was written for '
                f'(8.5-11.x); building with the 11.x rules']
    return []


def plan_build(version: TrtVersion, precision: str, source: str = 'model') -> BuildPlan:
    """Decide flags and INT8 method; raise TensorRTCompatError saying what to do instead."""
    if precision not in PRECISIONS:
        raise TensorRTCompatError(f'precision must be one of {PRECISIONS}, got {precision!r}')
    if source not in SOURCE_KINDS:
        raise TensorRTCompatError(f'ONNX source must be one of {SOURCE_KINDS}, got {source!r}')
    notes = check_supported(version)
    if source == 'qdq' and precision != 'int8':
        raise TensorRTCompatError('a Q/DQ ONNX builds an int8 engine: pass precision int8')
    if source == 'fp16' and precision != 'fp16':
        raise TensorRTCompatError('an AutoCast FP16 ONNX builds an fp16 engine: pass precision '
                                  'fp16')
    major = version.major
    if major == 8:
        net = ('EXPLICIT_BATCH',)
        level = (version.major, version.minor) >= OPTIMIZATION_LEVEL_SINCE
        if precision == 'fp32':
            return BuildPlan(net, (), False, False, '', tuple(notes), level)
        if precision == 'fp16':
            return BuildPlan(net, ('FP16',), False, False, '', tuple(notes), level)
        # Explicit (Q/DQ) and implicit (calibrated) INT8 both need the INT8 flag in 8.x.
        return BuildPlan(net, ('INT8',), source == 'model', False,
                         'calibration' if source == 'model' else 'qdq', tuple(notes), level)
    if major == 10:
        if precision == 'fp32':
            return BuildPlan((), (), False, False, '', tuple(notes))
        if source != 'model':  # the precision is in the graph: strongly typed, no flags
            return BuildPlan(('STRONGLY_TYPED',), (), False, True,
                             'qdq' if source == 'qdq' else '', tuple(notes))
        if precision == 'fp16':
            if version.minor >= 12:
                notes.append('weak typing (BuilderFlag.FP16) is deprecated since TensorRT 10.12 '
                             'and removed in 11; an AutoCast FP16 ONNX builds the same without it')
            return BuildPlan((), ('FP16',), False, False, '', tuple(notes))
        if version.minor >= 1:
            notes.append('implicit INT8 calibration is deprecated since TensorRT 10.1 and removed '
                         'in 11; a Q/DQ ONNX (explicit quantisation) builds without it')
        return BuildPlan((), ('INT8',), True, False, 'calibration', tuple(notes))
    # 11.x and newer: every network is strongly typed; precision-enabling flags are gone.
    if precision == 'fp16' and source == 'model':
        raise TensorRTCompatError(
            f'TensorRT {version} has no BuilderFlag.FP16 (removed in 11.0): convert the model '
            'with ModelOpt AutoCast ("python -m modelopt.onnx.autocast --onnx_path MODEL.onnx '
            '--output_path MODEL_fp16.onnx", keeping float32 inputs and outputs) and build '
            'from it with --onnx MODEL_fp16.onnx'
        )
    if precision == 'int8' and source == 'model':
        raise TensorRTCompatError(
            f'TensorRT {version} has no INT8 calibration (IInt8Calibrator and BuilderFlag.INT8 '
            'were removed in 11.0): quantise the model to a Q/DQ ONNX and build from it with '
            '--onnx MODEL_qdq.onnx'
        )
    return BuildPlan((), (), False, True, 'qdq' if source == 'qdq' else '', tuple(notes))


# --- The machine an engine is built for, the cache key and the manifest -----------------------

@dataclasses.dataclass(frozen=True)
class EngineTarget:
    """What a serialized engine is tied to: the model, TensorRT, the GPU and the precision."""

    model_onnx_sha256: str
    tensorrt_version: str
    gpu_name: str
    compute_capability: str  # 'major.minor'
    precision: str

    def key(self) -> str:
        """Return a stable 16-hex-digit key over all fields (the cache file name's suffix)."""
        text = json.dumps(dataclasses.asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# manifest key -> what a person calls it, in mismatch messages
TARGET_FIELDS = {
    'model_onnx_sha256': 'model ONNX sha256',
    'tensorrt_version': 'TensorRT version',
    'gpu_name': 'GPU',
    'compute_capability': 'compute capability',
    'precision': 'precision',
}


def _slug(text: str) -> str:
    return re.sub(r'[^A-Za-z0-9]+', '-', text).strip('-').lower() or 'x'


def engine_file_name(model_name: str, target: EngineTarget) -> str:
    """Return the cache file name of an engine: model, precision, GPU and the key."""
    sm = target.compute_capability.replace('.', '')
    return (f'{_slug(model_name)}_{target.precision}_sm{sm}'
            f'_trt{_slug(target.tensorrt_version)}_{target.key()}.engine')


def timing_cache_name(target: EngineTarget) -> str:
    """Return the timing cache's file name: it is tied to the GPU and TensorRT, not the model."""
    return (f'timing_sm{target.compute_capability.replace(".", "")}_{_slug(target.gpu_name)}'
            f'_trt{_slug(target.tensorrt_version)}.cache')


def manifest_path(engine_path: Any) -> Any:
    """Return the manifest path of an engine file: the same name with .json."""
    return engine_path.with_suffix('.json')


@dataclasses.dataclass(frozen=True)
class TensorInfo:
    """One engine input or output."""

    name: str
    mode: str  # 'input' or 'output'
    shape: Tuple[int, ...]
    dtype: str  # numpy name, e.g. 'float32'


def make_manifest(target: EngineTarget, *, model_name: str, plan: BuildPlan, source: str,
                  source_onnx: str, source_onnx_sha256: str, tensors: Sequence[TensorInfo],
                  workspace_bytes: int, optimization_level: int, engine_sha256: str,
                  engine_bytes: int, build_seconds: float, timing_cache: str,
                  calibration: Optional[Dict[str, Any]] = None,
                  cuda_runtime_version: str = '', created: str = '') -> Dict[str, Any]:
    """Return the manifest written beside an engine (JSON-ready)."""
    return {
        'format': MANIFEST_FORMAT,
        'format_version': MANIFEST_VERSION,
        'model_name': model_name,
        **dataclasses.asdict(target),
        'engine_id': target.key(),
        'engine_sha256': engine_sha256,
        'engine_bytes': int(engine_bytes),
        'source': source,
        'source_onnx': source_onnx,
        'source_onnx_sha256': source_onnx_sha256,
        'int8_method': plan.int8_method,
        'calibration': calibration,
        'io_tensors': [dataclasses.asdict(t) | {'shape': list(t.shape)} for t in tensors],
        'build': {
            'workspace_bytes': int(workspace_bytes),
            'builder_optimization_level': int(optimization_level) if plan.optimization_level
            else None,
            'network_flags': list(plan.network_flags),
            'builder_flags': list(plan.builder_flags),
            'strongly_typed': plan.strongly_typed,
            'timing_cache': timing_cache,
            'build_seconds': round(float(build_seconds), 3),
        },
        'cuda_runtime_version': cuda_runtime_version,
        'created': created,
    }


def manifest_problems(manifest: Any, expected: EngineTarget,
                      engine_sha256: Optional[str] = None) -> List[str]:
    """
    Return why an engine may not be loaded here, one phrase per differing field; [] if it may.

    ``engine_sha256``: the engine file's actual hash, checked against the manifest's when given.
    """
    if not isinstance(manifest, dict) or manifest.get('format') != MANIFEST_FORMAT:
        return ['it has no ros2_depth engine manifest']
    if manifest.get('format_version') != MANIFEST_VERSION:
        return [f'manifest format_version {manifest.get("format_version")!r} is not '
                f'{MANIFEST_VERSION}']
    problems = []
    for field, label in TARGET_FIELDS.items():
        want = getattr(expected, field)
        got = manifest.get(field)
        if got != want:
            if field.endswith('sha256'):
                got, want = str(got)[:12] + '...', want[:12] + '...'
            problems.append(f'{label} is {got} in the engine, {want} here')
    if engine_sha256 is not None and manifest.get('engine_sha256') != engine_sha256:
        problems.append('the engine file does not match the sha256 in its manifest (changed '
                        'or truncated after it was built)')
    return problems


def io_problems(tensors: Sequence[TensorInfo], input_name: str, input_shape: Tuple[int, ...],
                outputs: Dict[str, Tuple[int, ...]]) -> List[str]:
    """Return how an engine's I/O tensors differ from the model's sidecar; [] when they match."""
    found = {t.name: t for t in tensors}
    problems = []
    wanted = [(input_name, 'input', tuple(input_shape))]
    wanted += [(name, 'output', tuple(shape)) for name, shape in outputs.items()]
    for name, mode, shape in wanted:
        tensor = found.get(name)
        if tensor is None or tensor.mode != mode:
            problems.append(f'no {mode} "{name}" (it has {sorted(found)})')
            continue
        if tuple(tensor.shape) != shape:
            problems.append(f'{mode} "{name}" has shape {list(tensor.shape)}, the sidecar says '
                            f'{list(shape)}')
        if tensor.dtype != 'float32':
            problems.append(f'{mode} "{name}" is {tensor.dtype}, not float32 (convert with '
                            'float32 inputs and outputs kept, e.g. AutoCast keep_io_types)')
    return problems
