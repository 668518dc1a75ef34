"""ONNX Runtime: the embedded default backend, on the CPU (or a GPU execution provider)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np
import onnxruntime as ort

from ros2_depth.backends.base import BackendError, InferenceBackend
from ros2_depth.model_spec import ModelSpec


# execution_provider option -> ONNX Runtime execution provider
PROVIDERS = {
    'cpu': 'CPUExecutionProvider',
    'cuda': 'CUDAExecutionProvider',
    'tensorrt': 'TensorrtExecutionProvider',
}


def unavailable_reason(execution_provider: str = 'cpu', **_: Any) -> Optional[str]:
    """Return why ``execution_provider`` cannot run in this ONNX Runtime build, or None."""
    if execution_provider not in PROVIDERS:
        return (f'unknown execution_provider "{execution_provider}"; choose one of '
                f'{sorted(PROVIDERS)}')
    if PROVIDERS[execution_provider] not in ort.get_available_providers():
        return (f'{PROVIDERS[execution_provider]} is not in this onnxruntime '
                f'{ort.__version__} build (it has {", ".join(ort.get_available_providers())})')
    return None


class OnnxRuntimeBackend(InferenceBackend):
    """Runs the model's ONNX file with one execution provider (default: the CPU)."""

    name = 'onnxruntime'

    def __init__(self, spec: ModelSpec, num_threads: int = 0,
                 execution_provider: str = 'cpu') -> None:
        """Load the ONNX file and check its inputs and outputs against the sidecar."""
        super().__init__(spec)
        reason = unavailable_reason(execution_provider)
        if reason is not None:
            raise BackendError(reason)
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(int(num_threads), 0)
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self.num_threads = num_threads
        self.provider = PROVIDERS[execution_provider]
        providers = [self.provider]
        if execution_provider != 'cpu':
            providers.append('CPUExecutionProvider')
        try:
            self.session = ort.InferenceSession(
                str(spec.onnx_path), sess_options=options, providers=providers
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            raise BackendError(f'ONNX Runtime cannot load {spec.onnx_path}: {exc}') from exc
        if self.session.get_providers()[0] != self.provider:  # it falls back without a word
            raise BackendError(
                f'ONNX Runtime could not start {self.provider} for {spec.onnx_path} (it runs '
                f'on {self.session.get_providers()}); check the GPU driver and libraries'
            )
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

    def describe(self) -> str:
        """Name, provider and thread count."""
        threads = self.num_threads if self.num_threads > 0 else 'all cores'
        return f'onnxruntime {ort.__version__} {self.provider}, {threads} thread(s)'
