"""
Build a TensorRT engine for this machine's GPU from a model's ONNX file, with its manifest.

No torch: a Jetson builds its own engines. TensorRT and the CUDA Python bindings are imported only
when a build or load starts. ``tensorrt_compat`` decides the flags per TensorRT version; this
module calls TensorRT with them, keeps a timing cache beside the engines, and writes each engine
atomically with a manifest JSON (model ONNX sha256, TensorRT version, GPU name and compute
capability, precision, I/O tensors, build settings) that the backend checks before loading it.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import importlib
import json
import logging
import os
from pathlib import Path
import tempfile
import time
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from ros2_depth.backends.cuda_runtime import CudaError, CudaRuntime
from ros2_depth.backends.tensorrt_compat import (
    BuildPlan, engine_file_name, EngineTarget, io_problems, make_manifest, manifest_path,
    plan_build, TensorInfo, TensorRTCompatError, timing_cache_name, TrtVersion)
from ros2_depth.model_spec import file_sha256, ModelSpec

DEFAULT_WORKSPACE_MB = 1024
DEFAULT_OPTIMIZATION_LEVEL = 3  # TensorRT's own default (0-5; higher: longer builds)
DEFAULT_CALIBRATION_IMAGES = 64
IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp')
# TensorRT DataType member name -> numpy dtype name (trt.nptype differs between versions).
TRT_DTYPES = {'FLOAT': 'float32', 'HALF': 'float16', 'BF16': 'bfloat16', 'INT8': 'int8',
              'UINT8': 'uint8', 'INT32': 'int32', 'INT64': 'int64', 'BOOL': 'bool',
              'FP8': 'float8', 'INT4': 'int4'}

_log = logging.getLogger('ros2_depth.tensorrt')


class EngineBuildError(RuntimeError):
    """An engine cannot be built (TensorRT missing, parser or builder errors, bad options)."""


def default_engine_cache() -> Path:
    """Return the engine cache: $ROS_HOME/ros2_depth/engines, else ~/.cache/ros2_depth/engines."""
    ros_home = os.environ.get('ROS_HOME')
    if ros_home:
        return Path(ros_home).expanduser() / 'ros2_depth' / 'engines'
    cache = os.environ.get('XDG_CACHE_HOME') or str(Path.home() / '.cache')
    return Path(cache).expanduser() / 'ros2_depth' / 'engines'


def import_tensorrt() -> Any:
    """Import tensorrt; raise EngineBuildError saying what to install when it is missing."""
    try:
        return importlib.import_module('tensorrt')
    except ImportError as exc:
        raise EngineBuildError(
            f'TensorRT is not importable ({exc}); on a Jetson it comes with JetPack '
            '(python3-libnvinfer), on a desktop "pip install tensorrt" (see docs/tensorrt.md)'
        ) from exc


def make_logger(trt: Any) -> Any:
    """Return a TensorRT ILogger that forwards to Python logging and keeps the errors it saw."""

    class _Logger(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.errors: List[str] = []

        def log(self, severity: Any, msg: str) -> None:
            name = getattr(severity, 'name', str(severity))
            if name in ('ERROR', 'INTERNAL_ERROR'):
                self.errors.append(str(msg))
                _log.error('TensorRT: %s', msg)
            elif name == 'WARNING':
                _log.warning('TensorRT: %s', msg)
            else:
                _log.debug('TensorRT: %s', msg)

    return _Logger()


@dataclasses.dataclass
class Machine:
    """The local TensorRT and GPU an engine is built for."""

    trt: Any
    version: TrtVersion
    cuda: CudaRuntime
    gpu_name: str
    compute_capability: str

    def target(self, spec: ModelSpec, precision: str) -> EngineTarget:
        """Return what an engine of `spec` at `precision` is tied to on this machine."""
        return EngineTarget(spec.onnx_sha256, str(self.version), self.gpu_name,
                            self.compute_capability, precision)


def local_machine() -> Machine:
    """Import TensorRT and CUDA and read the GPU; raise EngineBuildError when either is missing."""
    trt = import_tensorrt()
    try:
        version = TrtVersion.parse(trt.__version__)
        cuda = CudaRuntime()
        gpu, capability = cuda.device_name_and_capability()
    except (TensorRTCompatError, CudaError) as exc:
        raise EngineBuildError(str(exc)) from exc
    return Machine(trt, version, cuda, gpu, capability)


def engine_tensors(trt: Any, engine: Any) -> List[TensorInfo]:
    """Return an engine's I/O tensors through the named-tensor API (TensorRT 8.5 and newer)."""
    tensors = []
    for index in range(engine.num_io_tensors):
        name = engine.get_tensor_name(index)
        is_input = engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
        dtype = engine.get_tensor_dtype(name)
        dtype_name = TRT_DTYPES.get(getattr(dtype, 'name', ''), str(dtype))
        tensors.append(TensorInfo(name, 'input' if is_input else 'output',
                                  tuple(int(d) for d in engine.get_tensor_shape(name)),
                                  dtype_name))
    return tensors


def spec_io(spec: ModelSpec) -> Tuple[str, Tuple[int, ...], Dict[str, Tuple[int, ...]]]:
    """Return (input name, input shape, {output name: shape}) of a model's sidecar."""
    inp = spec.input
    outputs = {o.name: (1, o.channels, o.height, o.width) for o in spec.outputs.values()}
    return inp.name, (1, 3, inp.height, inp.width), outputs


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + '.', suffix='.tmp')
    try:
        with os.fdopen(handle, 'wb') as stream:
            stream.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- INT8 calibration data ----------------------------------------------------------------------

def calibration_batches(spec: ModelSpec, frames: Iterable[Tuple[np.ndarray, Any]],
                        limit: int = DEFAULT_CALIBRATION_IMAGES) -> List[np.ndarray]:
    """
    Preprocess rgb8 frames as the node does into (1, 3, H, W) float32 network inputs.

    ``frames`` yields (rgb image, PinholeCamera or None): with a camera the node's default
    'canonical' resize is used, without one (a folder of pictures) the 'crop' resize.
    """
    from ros2_depth.pipeline import DepthPipeline

    # Preprocessing only: no backend runs here.
    canonical = DepthPipeline(spec, None, 'canonical')  # type: ignore[arg-type]
    crop = DepthPipeline(spec, None, 'crop')  # type: ignore[arg-type]
    batches = []
    for rgb, camera in frames:
        if len(batches) >= limit:
            break
        pipeline = canonical if camera is not None else crop
        batches.append(np.ascontiguousarray(pipeline.preprocess(rgb, 'rgb8', camera)))
    if not batches:
        raise EngineBuildError('no calibration images: INT8 calibration needs pictures like the '
                               "camera's (a folder of .png/.jpg, or generated scenes)")
    return batches


def folder_frames(folder: Path) -> Iterable[Tuple[np.ndarray, None]]:
    """Yield the pictures of a folder (sorted by name) as rgb8 arrays, without intrinsics."""
    import cv2

    paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise EngineBuildError(f'{folder} has no {"/".join(IMAGE_SUFFIXES)} pictures for INT8 '
                               'calibration')
    for path in paths:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise EngineBuildError(f'{path} cannot be read as a picture')
        yield image[..., ::-1].copy(), None


def _make_calibrator(trt: Any, cuda: CudaRuntime, batches: Sequence[np.ndarray],
                     cache_path: Path) -> Any:
    """Return an IInt8EntropyCalibrator2 that feeds `batches` one image at a time."""

    class _EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.index = 0
            self.host, self.host_ptr = cuda.pinned_empty(batches[0].shape, np.float32)
            self.device = cuda.malloc(self.host.nbytes)
            self.stream = cuda.create_stream()

        def get_batch_size(self) -> int:
            return 1

        def get_batch(self, names: List[str]) -> Optional[List[int]]:
            if self.index >= len(batches):
                return None
            np.copyto(self.host, batches[self.index])
            self.index += 1
            cuda.copy_to_device(self.device, self.host_ptr, self.host.nbytes, self.stream)
            cuda.synchronize(self.stream)
            return [self.device] * len(names)

        def read_calibration_cache(self) -> Optional[bytes]:
            return None  # calibrate afresh: a cache from other pictures would go unnoticed

        def write_calibration_cache(self, cache: Any) -> None:
            write_atomically(cache_path, bytes(cache))

        def release(self) -> None:
            cuda.free(self.device)
            cuda.free_host(self.host_ptr)
            cuda.destroy_stream(self.stream)

    return _EntropyCalibrator()


# --- The build --------------------------------------------------------------------------------

@dataclasses.dataclass
class BuildOptions:
    """What to build: precision, an optional converted ONNX, and the builder's settings."""

    precision: str = 'fp32'
    onnx: Optional[Path] = None  # a Q/DQ (int8) or AutoCast (fp16) copy of the model's ONNX
    workspace_mb: int = DEFAULT_WORKSPACE_MB
    optimization_level: int = DEFAULT_OPTIMIZATION_LEVEL
    calibration: Optional[Sequence[np.ndarray]] = None  # preprocessed inputs (implicit INT8)
    calibration_source: str = ''  # what the calibration pictures were, for the manifest

    def source_kind(self, model_precision: str = 'fp32') -> str:
        """
        Return what TensorRT parses: 'model', 'qdq' or 'fp16'.

        Without --onnx the model's own file: 'model', or 'qdq' when the model is itself INT8 (a
        ``ros2-depth-train quantize`` file is Q/DQ). With --onnx: 'qdq' for int8, 'fp16' for
        fp16.
        """
        if self.onnx is None:
            return 'qdq' if model_precision == 'int8' else 'model'
        return {'int8': 'qdq', 'fp16': 'fp16'}.get(self.precision, 'model')


def _network_flags(trt: Any, plan: BuildPlan) -> int:
    flags = 0
    for name in plan.network_flags:
        flags |= 1 << int(getattr(trt.NetworkDefinitionCreationFlag, name))
    return flags


def _quantize_layers(trt: Any, network: Any) -> int:
    return sum(1 for i in range(network.num_layers)
               if network.get_layer(i).type == trt.LayerType.QUANTIZE)


def _use_timing_cache(config: Any, path: Path) -> None:
    """Give the builder the timing cache at `path`, or a new one if it is absent or unusable."""
    if path.is_file():
        try:
            cache = config.create_timing_cache(path.read_bytes())
        except Exception as exc:  # a damaged file: TensorRT raises its own error types
            _log.warning('timing cache %s cannot be read (%s): starting a new one', path, exc)
            cache = None
        # set_timing_cache says False when the cache was made on another GPU or TensorRT.
        if cache is not None and config.set_timing_cache(cache, False) is not False:
            return
        _log.warning('timing cache %s does not fit this GPU or TensorRT: starting a new one',
                     path)
    config.set_timing_cache(config.create_timing_cache(b''), False)


def build_engine(spec: ModelSpec, options: BuildOptions, cache_dir: Optional[Path] = None,
                 output: Optional[Path] = None, machine: Optional[Machine] = None
                 ) -> Tuple[Path, Dict[str, Any]]:
    """
    Build and write an engine for this GPU; return (engine path, manifest).

    It goes to ``output`` when given, else into ``cache_dir`` under its cache name (the name the
    tensorrt backend looks for). The timing cache lives in the engine's folder.
    """
    machine = machine or local_machine()
    trt = machine.trt
    source = options.source_kind(spec.precision)
    if spec.precision == 'int8' and options.precision != 'int8':
        raise EngineBuildError(f'{spec.path.name} is an INT8 (Q/DQ) model: build it with '
                               '--precision int8, or build its FP32 parent')
    if options.onnx is not None and source == 'model':
        raise EngineBuildError('--onnx takes a converted model: a Q/DQ ONNX with precision int8, '
                               'or an AutoCast FP16 ONNX with precision fp16')
    try:
        plan = plan_build(machine.version, options.precision, source)
    except TensorRTCompatError as exc:
        raise EngineBuildError(str(exc)) from exc
    for note in plan.notes:
        _log.warning('%s', note)
    if plan.calibrate and not options.calibration:
        raise EngineBuildError('implicit INT8 needs calibration pictures (a folder, or generated '
                               'scenes); or pass a Q/DQ ONNX with --onnx')
    if not 0 <= options.optimization_level <= 5:
        raise EngineBuildError(f'builder optimisation level must be 0-5, got '
                               f'{options.optimization_level}')
    onnx_path = Path(options.onnx) if options.onnx is not None else spec.onnx_path
    if not onnx_path.is_file():
        raise EngineBuildError(f'{onnx_path} does not exist')
    target = machine.target(spec, options.precision)
    if output is not None:
        folder = Path(output).parent
    else:
        folder = Path(cache_dir) if cache_dir is not None else default_engine_cache()
    engine_path = Path(output) if output is not None else folder / engine_file_name(spec.name,
                                                                                    target)
    timing_path = folder / timing_cache_name(target)

    logger = make_logger(trt)
    builder = trt.Builder(logger)
    network = builder.create_network(_network_flags(trt, plan))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise EngineBuildError(f'TensorRT {machine.version} cannot parse {onnx_path}: '
                               + '; '.join(errors or logger.errors or ['no parser message']))
    if source == 'qdq' and _quantize_layers(trt, network) == 0:
        raise EngineBuildError(f'{onnx_path} has no QuantizeLinear nodes: it is not a Q/DQ '
                               'model, so an int8 engine cannot be built from it')
    config = builder.create_builder_config()
    workspace = int(options.workspace_mb) << 20
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace)
    if plan.optimization_level:
        config.builder_optimization_level = int(options.optimization_level)
    else:
        _log.warning('TensorRT %s has no builder optimisation level: building at its own',
                     machine.version)
    for flag in plan.builder_flags:
        config.set_flag(getattr(trt.BuilderFlag, flag))
    calibrator = None
    if plan.calibrate:
        calibrator = _make_calibrator(trt, machine.cuda, options.calibration,
                                      engine_path.with_suffix('.calib'))
        config.int8_calibrator = calibrator
    _use_timing_cache(config, timing_path)

    start = time.monotonic()
    try:
        serialized = builder.build_serialized_network(network, config)
    finally:
        if calibrator is not None:
            calibrator.release()
    seconds = time.monotonic() - start
    if serialized is None:
        raise EngineBuildError(f'TensorRT {machine.version} failed to build {onnx_path} '
                               f'({options.precision}): '
                               + '; '.join(logger.errors or ['see the TensorRT log above']))
    data = bytes(serialized)
    write_atomically(timing_path, bytes(config.get_timing_cache().serialize()))

    engine = trt.Runtime(logger).deserialize_cuda_engine(data)
    if engine is None:
        raise EngineBuildError('the engine just built cannot be deserialized: '
                               + '; '.join(logger.errors or ['no TensorRT message']))
    tensors = engine_tensors(trt, engine)
    problems = io_problems(tensors, *spec_io(spec))
    if problems:
        raise EngineBuildError(f"the engine built from {onnx_path} does not match the model's "
                               'sidecar: ' + '; '.join(problems))
    calibration = None
    if plan.calibrate:
        calibration = {'calibrator': 'IInt8EntropyCalibrator2',
                       'images': len(options.calibration), 'source': options.calibration_source}
    manifest = make_manifest(
        target, model_name=spec.name, plan=plan, source=source, source_onnx=str(onnx_path),
        source_onnx_sha256=file_sha256(onnx_path), tensors=tensors, workspace_bytes=workspace,
        optimization_level=options.optimization_level,
        engine_sha256=hashlib.sha256(data).hexdigest(), engine_bytes=len(data),
        build_seconds=seconds,
        timing_cache=timing_path.name, calibration=calibration,
        cuda_runtime_version=machine.cuda.runtime_version(),
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'))
    write_atomically(engine_path, data)
    write_atomically(manifest_path(engine_path),
                     (json.dumps(manifest, indent=2, sort_keys=True) + '\n').encode())
    _log.info('built %s engine %s in %.1f s (TensorRT %s, %s sm %s)', options.precision,
              engine_path, seconds, machine.version, machine.gpu_name, machine.compute_capability)
    return engine_path, manifest
