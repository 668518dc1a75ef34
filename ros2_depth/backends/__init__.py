"""Inference backends behind one small interface, each imported only when selected."""

from __future__ import annotations

import importlib
from typing import Any, Dict, Optional, Tuple

from ros2_depth.backends.base import BackendError, InferenceBackend
from ros2_depth.model_spec import ModelSpec

__all__ = ['BACKENDS', 'BackendError', 'BENCH_SETTINGS', 'InferenceBackend', 'KNOWN_BACKENDS',
           'backend_unavailable', 'create_backend']

# Backend name -> module:class, imported lazily so the runtime needs only the backend it uses.
BACKENDS = {
    'onnxruntime': 'ros2_depth.backends.onnxruntime_backend:OnnxRuntimeBackend',
}
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
    """Build the named backend for a model; raise BackendError with what to do when it cannot."""
    if name not in BACKENDS:
        raise BackendError(f'unknown backend "{name}"; choose one of {sorted(BACKENDS)}')
    module_name, class_name = BACKENDS[name].split(':')
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BackendError(
            f'backend "{name}" cannot be imported ({exc}); install it, e.g. with scripts/setup-env'
        ) from exc
    return getattr(module, class_name)(spec, **options)
