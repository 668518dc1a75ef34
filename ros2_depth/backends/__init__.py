"""Inference backends behind one small interface, each imported only when selected."""

from __future__ import annotations

import importlib
from typing import Any

from ros2_depth.backends.base import BackendError, InferenceBackend
from ros2_depth.model_spec import ModelSpec

__all__ = ['BACKENDS', 'BackendError', 'InferenceBackend', 'create_backend']

# Backend name -> module:class, imported lazily so the runtime needs only the backend it uses.
BACKENDS = {
    'onnxruntime': 'ros2_depth.backends.onnxruntime_backend:OnnxRuntimeBackend',
}


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
