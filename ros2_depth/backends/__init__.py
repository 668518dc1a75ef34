"""Inference backends behind one small interface, each imported only when selected."""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import inspect
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ros2_depth.backends.base import BackendError, InferenceBackend
from ros2_depth.model_spec import ModelSpec

__all__ = ['Availability', 'BACKEND_CHOICES', 'backend_unavailable', 'BACKENDS', 'BackendError',
           'BENCH_SETTINGS', 'choose_backend', 'create_backend', 'EXECUTION_PROVIDERS',
           'InferenceBackend', 'KNOWN_BACKENDS', 'probe_availability']

# Backend name -> module:class, imported lazily so the runtime needs only the backend it uses.
BACKENDS = {
    'onnxruntime': 'ros2_depth.backends.onnxruntime_backend:OnnxRuntimeBackend',
    'tensorrt': 'ros2_depth.backends.tensorrt_backend:TensorRTBackend',
}
# What the `backend` parameter takes: a backend, or 'auto' (choose_backend).
BACKEND_CHOICES = ('auto', *BACKENDS)
# ONNX Runtime's `execution_provider` choices (onnxruntime_backend.PROVIDERS maps them).
EXECUTION_PROVIDERS = ('cpu', 'cuda', 'tensorrt')


@dataclasses.dataclass(frozen=True)
class Availability:
    """What this machine offers the backends: found modules, GPUs, ONNX Runtime providers."""

    tensorrt: bool  # the tensorrt module is importable
    gpu_count: Optional[int]  # visible CUDA devices; None: no CUDA Python binding to ask
    ort_providers: Tuple[str, ...]


def choose_backend(found: Availability) -> List[Tuple[str, str, str]]:
    """
    Return the candidates of `backend: auto`, best first: (backend, execution_provider, why).

    TensorRT when it and a CUDA binding are importable and a GPU is present; then ONNX Runtime
    on the GPU where onnxruntime-gpu has the CUDA provider (it starts at once) or the TensorRT
    provider (and no count says there is no GPU); ONNX Runtime on the CPU always comes last.
    """
    candidates = []
    if found.tensorrt and found.gpu_count:
        candidates.append(('tensorrt', 'cpu', f'TensorRT and {found.gpu_count} GPU(s) found'))
    if found.gpu_count != 0:
        for provider, choice in (('CUDAExecutionProvider', 'cuda'),
                                 ('TensorrtExecutionProvider', 'tensorrt')):
            if provider in found.ort_providers:
                candidates.append(('onnxruntime', choice, f'onnxruntime-gpu has {provider}'))
                break
    candidates.append(('onnxruntime', 'cpu', 'ONNX Runtime on the CPU'))
    return candidates


def probe_availability() -> Availability:
    """Look at this machine for real: importable modules, visible GPUs, ORT providers."""
    gpus: Optional[int] = None
    if importlib.util.find_spec('cuda') is not None:
        from ros2_depth.backends.cuda_runtime import CudaError, CudaRuntime
        try:
            gpus = CudaRuntime().device_count()
        except CudaError:
            gpus = 0  # a binding that cannot select device 0: no usable GPU
    providers: Sequence[str] = ()
    if importlib.util.find_spec('onnxruntime') is not None:
        providers = importlib.import_module('onnxruntime').get_available_providers()
    return Availability(importlib.util.find_spec('tensorrt') is not None, gpus,
                        tuple(providers))


# Backends that `ros2-depth bench` lists even where this install lacks them (as skipped, with why).
KNOWN_BACKENDS: Dict[str, str] = {
    'onnxruntime': 'ONNX Runtime',
    'tensorrt': 'native TensorRT',
}
# The settings each backend is benchmarked with (one row each); a backend not named here gets
# one row with its defaults.
BENCH_SETTINGS: Dict[str, Tuple[Dict[str, Any], ...]] = {
    'onnxruntime': ({'execution_provider': 'cpu'}, {'execution_provider': 'cuda'},
                    {'execution_provider': 'tensorrt'}),
}


def backend_unavailable(name: str, **options: Any) -> Optional[str]:
    """
    Return why the named backend cannot run here with these options, or None when it can.

    A backend module may define ``unavailable_reason(**options) -> Optional[str]`` for what
    importing it does not tell (an execution provider, a GPU); it is asked after the import.
    """
    if name not in BACKENDS:
        return f'no "{name}" backend in this ros2_depth (it has {", ".join(sorted(BACKENDS))})'
    module_name = BACKENDS[name].split(':')[0]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        return f'{module_name} cannot be imported ({exc})'
    check = getattr(module, 'unavailable_reason', None)
    return check(**options) if check is not None else None


def create_backend(name: str, spec: ModelSpec, **options: Any) -> InferenceBackend:
    """
    Build the named backend for a model; raise BackendError with what to do when it cannot.

    'auto' tries the candidates of choose_backend in order and keeps the first that starts
    (``backend.chosen`` says which and why the ones before it did not). Options a backend does
    not take (``num_threads`` for TensorRT, ``engine_cache`` ...) are left out, so one call can
    carry all of them.
    """
    if name != 'auto':
        backend = _create(name, spec, options)
        backend.chosen = ''
        return backend
    failures = []
    for candidate, provider, why in choose_backend(probe_availability()):
        chosen_options = dict(options, execution_provider=provider)
        notes = []
        precision = options.get('precision', 'fp32')
        if candidate == 'onnxruntime' and provider != 'tensorrt' and precision != 'fp32':
            chosen_options['precision'] = 'fp32'
            notes.append(f'precision {precision} needs TensorRT, running fp32')
        try:
            backend = _create(candidate, spec, chosen_options)
        except BackendError as exc:
            failures.append(f'{candidate} ({provider}) failed: {exc}')
            continue
        label = candidate if candidate == 'tensorrt' else f'{candidate} ({provider})'
        backend.chosen = '; '.join([*failures, f'backend auto chose {label}: {why}', *notes])
        return backend
    raise BackendError('backend auto: ' + '; '.join(failures))


def _create(name: str, spec: ModelSpec, options: Dict[str, Any]) -> InferenceBackend:
    if name not in BACKENDS:
        raise BackendError(f'unknown backend "{name}"; choose one of {list(BACKEND_CHOICES)}')
    module_name, class_name = BACKENDS[name].split(':')
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BackendError(
            f'backend "{name}" cannot be imported ({exc}); install it, e.g. with scripts/setup-env'
        ) from exc
    cls = getattr(module, class_name)
    accepted = inspect.signature(cls.__init__).parameters
    return cls(spec, **{k: v for k, v in options.items() if k in accepted})
