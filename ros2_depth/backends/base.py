"""The interface every inference backend implements."""

from __future__ import annotations

import abc
from typing import Dict

import numpy as np

from ros2_depth.model_spec import ModelSpec


class BackendError(RuntimeError):
    """A backend cannot load or run a model."""


class InferenceBackend(abc.ABC):
    """Runs one exported network: an NCHW float32 batch in, named float32 arrays out."""

    name = 'abstract'
    chosen = ''  # set by create_backend: why `backend: auto` picked this one

    def __init__(self, spec: ModelSpec) -> None:
        """Remember the model this backend runs."""
        self.spec = spec

    @abc.abstractmethod
    def infer(self, image: np.ndarray) -> Dict[str, np.ndarray]:
        """Run the network on a (1, 3, H, W) float32 array; return outputs keyed by sidecar key."""

    def describe(self) -> str:
        """One line naming the backend and its settings, for logs and diagnostics."""
        return self.name

    def info(self) -> Dict[str, str]:
        """Backend, precision and engine id ('' when there is none), for /diagnostics."""
        return {'backend': self.name, 'precision': 'fp32', 'engine_id': ''}

    def check_input(self, image: np.ndarray) -> None:
        """Raise BackendError unless `image` has the model's input shape and dtype."""
        expected = (1, 3, self.spec.input.height, self.spec.input.width)
        if image.shape != expected or image.dtype != np.float32:
            raise BackendError(
                f'input must be float32 {expected}, got {image.dtype} {image.shape}'
            )
