"""
TensorRT on an NVIDIA GPU: a cached engine per model, GPU, TensorRT version and precision.

At start the backend looks in the engine cache for the engine of this model on this GPU with this
TensorRT and precision, checks its manifest (and the engine file's sha256) against them, and builds
it from the ONNX when it is missing (fp32 and fp16; an int8 engine needs calibration pictures or a
Q/DQ model, so ``ros2-depth build-engine`` makes it). An engine whose manifest differs is never
loaded. Buffers are allocated once: pinned host memory for the input and outputs, device memory
bound to the execution context, one CUDA stream; ``infer`` only copies and enqueues.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
import time
from typing import Any, Dict, List, Optional

import numpy as np

from ros2_depth.backends.base import BackendError, InferenceBackend
from ros2_depth.backends.cuda_runtime import CudaError, native_handle
from ros2_depth.backends.tensorrt_build import (
    build_engine, BuildOptions, default_engine_cache, engine_tensors, EngineBuildError,
    local_machine, make_logger, spec_io)
from ros2_depth.backends.tensorrt_compat import (
    engine_file_name, io_problems, manifest_path, manifest_problems, PRECISIONS)
from ros2_depth.model_spec import file_sha256, ModelSpec

FIRST_BUILD_WARNING = (
    'no cached TensorRT engine for this model, GPU, TensorRT version and precision: building '
    'one now. This takes seconds on a desktop GPU and several minutes on a Jetson; later starts '
    'load it from the cache'
)


def rebuild_command(spec: ModelSpec, precision: str, cache: Path) -> str:
    """Return the command that builds the engine the backend looks for."""
    extra = ''
    if precision == 'int8' and spec.precision != 'int8':  # an INT8 model file is Q/DQ already
        extra = ' --calibration-images FOLDER (or --onnx MODEL_qdq.onnx)'
    return (f'ros2-depth build-engine {spec.path} --precision {precision} --engine-cache {cache}'
            + extra)


class TensorRTBackend(InferenceBackend):
    """Runs a TensorRT engine of the model, built or loaded from the engine cache."""

    name = 'tensorrt'

    def __init__(self, spec: ModelSpec, precision: str = 'fp32', engine_cache: str = '',
                 logger: Optional[Any] = None) -> None:
        """Find or build the engine, check it, and allocate every buffer once."""
        super().__init__(spec)
        if precision not in PRECISIONS:
            raise BackendError(f'precision must be one of {PRECISIONS}, got "{precision}"')
        self.precision = precision
        self._log = logger or logging.getLogger('ros2_depth.tensorrt')
        self._buffers: List[Any] = []
        self._stream = None
        try:
            self._machine = local_machine()
        except EngineBuildError as exc:
            raise BackendError(f'backend "tensorrt" cannot start: {exc}') from exc
        self.cache = Path(engine_cache).expanduser() if engine_cache else default_engine_cache()
        target = self._machine.target(spec, precision)
        self.engine_id = target.key()
        self.engine_path = self.cache / engine_file_name(spec.name, target)
        self.manifest = self._find_or_build(target)
        self._load()

    def _find_or_build(self, target: Any) -> Dict[str, Any]:
        path = self.engine_path
        how = rebuild_command(self.spec, self.precision, self.cache)
        # int8 from an FP32 model needs calibration pictures: not built here. An INT8 model
        # file (precision:=int8 loads the quantised sibling) is Q/DQ and builds like fp32.
        calibrated = self.precision == 'int8' and self.spec.precision != 'int8'
        if path.is_file():
            try:
                manifest = json.loads(manifest_path(path).read_text())
            except (OSError, ValueError):
                manifest = {}  # missing or unreadable: "it has no ros2_depth engine manifest"
            problems = manifest_problems(manifest, target, file_sha256(path))
            if not problems:
                self._log.info(f'TensorRT engine {path} ({self.precision}, engine id '
                               f'{self.engine_id})')
                return manifest
            why = '; '.join(problems)
            if calibrated:
                raise BackendError(f'the cached engine {path} cannot be loaded: {why}; rebuild '
                                   f'it with: {how}')
            self._log.warning(f'not loading the cached engine {path}: {why}; rebuilding it')
        elif calibrated:
            raise BackendError(
                f'no int8 TensorRT engine for {self.spec.name} on this GPU in {self.cache} '
                '(int8 needs calibration pictures or a Q/DQ model, so the node does not build '
                f'it); build it with: {how}')
        else:
            self._log.warning(FIRST_BUILD_WARNING)
        start = time.monotonic()
        try:
            _, manifest = build_engine(self.spec, BuildOptions(precision=self.precision),
                                       cache_dir=self.cache, machine=self._machine)
        except (EngineBuildError, CudaError, OSError) as exc:
            raise BackendError(f'cannot build the TensorRT engine: {exc}') from exc
        self._log.info(f'built TensorRT engine {self.engine_path} in '
                       f'{time.monotonic() - start:.1f} s')
        return manifest

    def _load(self) -> None:
        trt = self._machine.trt
        cuda = self._machine.cuda
        self._trt_logger = make_logger(trt)
        self._runtime = trt.Runtime(self._trt_logger)
        engine = self._runtime.deserialize_cuda_engine(self.engine_path.read_bytes())
        if engine is None:
            raise BackendError(
                f'TensorRT cannot deserialize {self.engine_path}: '
                + '; '.join(self._trt_logger.errors or ['no TensorRT message'])
                + f'; rebuild it with: {rebuild_command(self.spec, self.precision, self.cache)}')
        problems = io_problems(engine_tensors(trt, engine), *spec_io(self.spec))
        if problems:
            raise BackendError(f"{self.engine_path} does not match the model's sidecar: "
                               + '; '.join(problems))
        self._engine = engine
        self._context = engine.create_execution_context()
        if self._context is None:
            raise BackendError('TensorRT cannot create an execution context (GPU memory?): '
                               + '; '.join(self._trt_logger.errors))
        try:
            self._stream = cuda.create_stream()
            self._stream_handle = native_handle(self._stream)
            name, shape, _ = spec_io(self.spec)
            self._input = self._allocate(name, shape)
            self._outputs = {
                key: self._allocate(out.name, (1, out.channels, out.height, out.width))
                for key, out in self.spec.outputs.items()}
        except CudaError as exc:
            self.close()
            raise BackendError(f'cannot allocate the TensorRT buffers: {exc}') from exc
        for host, _, _ in self._outputs.values():
            host.flags.writeable = False

    def _allocate(self, name: str, shape: Any) -> Any:
        """Allocate a pinned host array and a device buffer for one tensor; bind the device one."""
        cuda = self._machine.cuda
        host, host_ptr = cuda.pinned_empty(tuple(shape), np.float32)
        self._buffers.append(('host', host_ptr))
        device = cuda.malloc(host.nbytes)
        self._buffers.append(('device', device))
        if not self._context.set_tensor_address(name, device):
            raise CudaError(f'set_tensor_address("{name}") was refused')
        return host, host_ptr, device

    def infer(self, image: np.ndarray) -> Dict[str, np.ndarray]:
        """
        Run one image; return read-only views of the pinned output buffers.

        The arrays stay valid until the next ``infer`` (the node's worker runs one frame at a
        time and its post-processing copies them).
        """
        self.check_input(image)
        cuda = self._machine.cuda
        host, host_ptr, device = self._input
        np.copyto(host, image)
        try:
            cuda.copy_to_device(device, host_ptr, host.nbytes, self._stream)
            if not self._context.execute_async_v3(self._stream_handle):
                raise BackendError('TensorRT execute_async_v3 failed: '
                                   + '; '.join(self._trt_logger.errors[-3:]))
            for out_host, out_ptr, out_device in self._outputs.values():
                cuda.copy_to_host(out_ptr, out_device, out_host.nbytes, self._stream)
            cuda.synchronize(self._stream)
        except CudaError as exc:
            raise BackendError(f'TensorRT inference failed: {exc}') from exc
        return {key: buffers[0] for key, buffers in self._outputs.items()}

    def close(self) -> None:
        """Free the buffers and the stream (also done when the backend is collected)."""
        cuda = self._machine.cuda
        while self._buffers:
            kind, pointer = self._buffers.pop()
            (cuda.free_host if kind == 'host' else cuda.free)(pointer)
        if self._stream is not None:
            cuda.destroy_stream(self._stream)
            self._stream = None

    def __del__(self) -> None:
        """Release the CUDA memory of a backend that was not closed."""
        try:
            if getattr(self, '_machine', None) is not None:
                self.close()
        except Exception:  # interpreter teardown: CUDA may be gone already
            pass

    def info(self) -> Dict[str, str]:
        """Backend, precision and engine id for /diagnostics."""
        return {'backend': self.name, 'precision': self.precision, 'engine_id': self.engine_id}

    def describe(self) -> str:
        """Name the TensorRT version, GPU, precision and engine."""
        m = self._machine
        return (f'tensorrt {m.version} on {m.gpu_name} (sm {m.compute_capability}), '
                f'{self.precision}, engine {self.engine_id}')
