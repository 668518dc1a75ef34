"""
ONNX Runtime: the CPU (the embedded default), or an NVIDIA GPU through onnxruntime-gpu.

``execution_provider`` picks ``cpu``, ``cuda`` or ``tensorrt``. The GPU providers exist only in the
``onnxruntime-gpu`` build (the same ``onnxruntime`` module); asking for one that this install does
not have, or that fails to load (no CUDA or TensorRT libraries), stops with one line instead of
ONNX Runtime's silent fall-back to the CPU.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import onnxruntime as ort

from ros2_depth.backends.base import BackendError, InferenceBackend
from ros2_depth.model_spec import ModelSpec


# execution_provider parameter -> the ONNX Runtime providers to use, first choice first.
PROVIDERS = {
    'cpu': ('CPUExecutionProvider',),
    'cuda': ('CUDAExecutionProvider', 'CPUExecutionProvider'),
    'tensorrt': ('TensorrtExecutionProvider', 'CUDAExecutionProvider', 'CPUExecutionProvider'),
}


def check_provider(execution_provider: str, available: List[str]) -> str:
    """Return the ONNX Runtime provider of a choice; raise BackendError (one line) if absent."""
    if execution_provider not in PROVIDERS:
        raise BackendError(f'execution_provider must be one of {sorted(PROVIDERS)}, got '
                           f'"{execution_provider}"')
    wanted = PROVIDERS[execution_provider][0]
    if wanted not in available:
        raise BackendError(
            f'ONNX Runtime {ort.__version__} has no {wanted} (it has {", ".join(available)}); '
            'install onnxruntime-gpu (with CUDA 12 and cuDNN; TensorRT too for "tensorrt") '
            'instead of onnxruntime, or use execution_provider:=cpu')
    return wanted


def unavailable_reason(execution_provider: str = 'cpu', **_: Any) -> Optional[str]:
    """Return why ``execution_provider`` cannot run in this ONNX Runtime build, or None."""
    try:
        check_provider(execution_provider, ort.get_available_providers())
    except BackendError as exc:
        return str(exc)
    return None


def provider_list(execution_provider: str, precision: str, engine_cache: str
                  ) -> List[Tuple[str, Dict[str, Any]]]:
    """Return (provider, options) pairs for an InferenceSession."""
    providers = []
    for name in PROVIDERS[execution_provider]:
        options: Dict[str, Any] = {}
        if name == 'TensorrtExecutionProvider':
            cache = Path(engine_cache).expanduser() / 'onnxruntime' if engine_cache else None
            options = {'trt_fp16_enable': precision == 'fp16', 'trt_engine_cache_enable': True,
                       'trt_timing_cache_enable': True}
            if cache is not None:
                options['trt_engine_cache_path'] = str(cache)
                options['trt_timing_cache_path'] = str(cache)
        providers.append((name, options))
    return providers


class OnnxRuntimeBackend(InferenceBackend):
    """Runs the model's ONNX file with the CPU, CUDA or TensorRT execution provider."""

    name = 'onnxruntime'

    def __init__(self, spec: ModelSpec, num_threads: int = 0, execution_provider: str = 'cpu',
                 precision: str = 'fp32', engine_cache: str = '') -> None:
        """Load the ONNX file and check its inputs and outputs against the sidecar."""
        super().__init__(spec)
        self.provider = check_provider(execution_provider, ort.get_available_providers())
        if precision == 'int8' and spec.precision != 'int8':
            raise BackendError(f'precision int8: ONNX Runtime runs an INT8 (Q/DQ) model, and '
                               f'{spec.path.name} is {spec.precision}; make one with '
                               f'"ros2-depth-train quantize --model {spec.path}"')
        if precision == 'fp16' and execution_provider != 'tensorrt':
            raise BackendError(f'precision fp16 needs backend tensorrt or '
                               'execution_provider:=tensorrt; ONNX Runtime on '
                               f'{execution_provider} runs the model as it is (fp32 or int8)')
        if precision not in ('fp32', 'fp16', 'int8'):
            raise BackendError(f'precision must be fp32, fp16 or int8, got "{precision}"')
        # what runs: an INT8 model file is INT8 whatever was asked
        self.precision = 'int8' if spec.precision == 'int8' else precision
        self.execution_provider = execution_provider

        options = ort.SessionOptions()
        options.intra_op_num_threads = max(int(num_threads), 0)
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self.num_threads = num_threads
        providers = provider_list(execution_provider, precision, engine_cache)
        if engine_cache and execution_provider == 'tensorrt':
            Path(providers[0][1]['trt_engine_cache_path']).mkdir(parents=True, exist_ok=True)
        try:
            self.session = ort.InferenceSession(
                str(spec.onnx_path), sess_options=options, providers=providers
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BackendError(f'ONNX Runtime cannot load {spec.onnx_path}: {first}') from exc
        if self.provider not in self.session.get_providers():
            raise BackendError(
                f'ONNX Runtime could not start {self.provider} (it fell back to '
                f'{", ".join(self.session.get_providers())}): its CUDA/cuDNN/TensorRT libraries '
                'are missing or do not match; see onnxruntime.ai install requirements')
        self._check_signature()
        self._keys: List[str] = list(spec.outputs)
        self._names: List[str] = [spec.outputs[k].name for k in self._keys]

    def _check_signature(self) -> None:
        inputs = {i.name: i for i in self.session.get_inputs()}
        want = self.spec.input
        if want.name not in inputs:
            raise BackendError(
                f'{self.spec.onnx_path} has inputs {sorted(inputs)}, but its sidecar names '
                f'"{want.name}"; re-export the model'
            )
        shape = list(inputs[want.name].shape)
        if shape != [1, 3, want.height, want.width]:
            raise BackendError(
                f'{self.spec.onnx_path} input "{want.name}" has shape {shape}, sidecar says '
                f'[1, 3, {want.height}, {want.width}]; re-export the model'
            )
        outputs = {o.name: o for o in self.session.get_outputs()}
        for key, out in self.spec.outputs.items():
            if out.name not in outputs:
                raise BackendError(
                    f'{self.spec.onnx_path} has no output "{out.name}" (sidecar output '
                    f'"{key}"); it has {sorted(outputs)}'
                )
            got = list(outputs[out.name].shape)
            if got != [1, out.channels, out.height, out.width]:
                raise BackendError(
                    f'{self.spec.onnx_path} output "{out.name}" has shape {got}, sidecar '
                    f'says [1, {out.channels}, {out.height}, {out.width}]'
                )

    def infer(self, image: np.ndarray) -> Dict[str, np.ndarray]:
        """Run one image through the network."""
        self.check_input(image)
        results = self.session.run(self._names, {self.spec.input.name: image})
        return dict(zip(self._keys, results))

    def info(self) -> Dict[str, str]:
        """Backend (with its provider) and precision for /diagnostics."""
        return {'backend': f'{self.name} ({self.provider})', 'precision': self.precision,
                'engine_id': ''}

    def describe(self) -> str:
        """Name, provider and thread count."""
        threads = self.num_threads if self.num_threads > 0 else 'all cores'
        extra = f', {self.precision}' if self.precision != 'fp32' else ''
        return f'onnxruntime {ort.__version__} {self.provider}{extra}, {threads} thread(s)'
