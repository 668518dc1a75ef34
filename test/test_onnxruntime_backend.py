"""Unit tests of the ONNX Runtime backend and the backend factory, with the tiny model."""

from __future__ import annotations

import copy
import json
from pathlib import Path
import shutil
from typing import Any, Callable, Dict

import numpy as np
import pytest
from ros2_depth.backends import BackendError, BACKENDS, create_backend, InferenceBackend
from ros2_depth.model_spec import load_spec, ModelSpec


@pytest.fixture(scope='module')
def spec(tiny_model: Path) -> ModelSpec:
    """Return the tiny model's sidecar."""
    return load_spec(tiny_model)


@pytest.fixture(scope='module')
def backend(spec: ModelSpec) -> InferenceBackend:
    """Return the tiny model on ONNX Runtime, one thread."""
    return create_backend('onnxruntime', spec, num_threads=1)


def modified_spec(tiny_model: Path, directory: Path,
                  change: Callable[[Dict[str, Any]], None]) -> ModelSpec:
    """Copy the tiny model into `directory` with a changed sidecar (same ONNX file) and load it."""
    onnx_name = tiny_model.with_suffix('.onnx').name
    shutil.copy(tiny_model.parent / onnx_name, directory / onnx_name)
    data = copy.deepcopy(json.loads(tiny_model.read_text()))
    change(data)
    sidecar = directory / 'modified.json'
    sidecar.write_text(json.dumps(data))
    return load_spec(sidecar)


def test_backend_runs_the_model(backend: InferenceBackend, spec: ModelSpec) -> None:
    assert backend.name == 'onnxruntime'
    assert backend.spec is spec
    image = np.zeros((1, 3, 228, 304), np.float32)
    outputs = backend.infer(image)
    assert set(outputs) == {'depth', 'normals'}
    assert outputs['depth'].shape == (1, 1, 109, 147) and outputs['depth'].dtype == np.float32
    assert outputs['normals'].shape == (1, 3, 109, 147)
    # A zero (mid-grey) input gives the tiny model's offset 0.9 as log-depth.
    np.testing.assert_allclose(outputs['depth'], 0.9, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(outputs['normals'][0], axis=0), 1.0, atol=1e-5)


def test_backend_output_depends_on_input(backend: InferenceBackend) -> None:
    bright = backend.infer(np.full((1, 3, 228, 304), 2.0, np.float32))['depth']
    np.testing.assert_allclose(bright, 0.4 * 2.0 + 0.9, atol=1e-5)


def test_describe(backend: InferenceBackend) -> None:
    text = backend.describe()
    assert 'onnxruntime' in text and 'CPUExecutionProvider' in text and '1 thread' in text


@pytest.mark.parametrize('image', [
    np.zeros((1, 3, 228, 304), np.float64), np.zeros((3, 228, 304), np.float32),
    np.zeros((1, 3, 304, 228), np.float32), np.zeros((2, 3, 228, 304), np.float32),
])
def test_infer_rejects_wrong_input(backend: InferenceBackend, image: np.ndarray) -> None:
    with pytest.raises(BackendError) as err:
        backend.infer(image)
    assert '(1, 3, 228, 304)' in str(err.value) and str(image.shape) in str(err.value)


def rename_input(data: Dict[str, Any]) -> None:
    data['input']['name'] = 'rgb'


def resize_input(data: Dict[str, Any]) -> None:
    data['input']['height'] = 240


def rename_output(data: Dict[str, Any]) -> None:
    data['outputs']['normals']['name'] = 'surface_normals'


def resize_outputs(data: Dict[str, Any]) -> None:
    for out in data['outputs'].values():
        out['width'] = 148


def labels_instead_of_normals(data: Dict[str, Any]) -> None:
    data['outputs']['normals'].update(kind='labels', channels=5)


@pytest.mark.parametrize('change, words', [
    (rename_input, ['"rgb"', "['image']"]),
    (resize_input, ['input "image"', '[1, 3, 228, 304]', '[1, 3, 240, 304]']),
    (rename_output, ['"surface_normals"', "['depth', 'normals']"]),
    (resize_outputs, ['output "depth"', '[1, 1, 109, 147]', '[1, 1, 109, 148]']),
    (labels_instead_of_normals, ['output "normals"', '[1, 3, 109, 147]', '[1, 5, 109, 147]']),
])
def test_backend_rejects_sidecar_that_does_not_match_the_onnx_file(
        tiny_model: Path, tmp_path: Path, change: Callable, words: list) -> None:
    spec = modified_spec(tiny_model, tmp_path, change)
    with pytest.raises(BackendError) as err:
        create_backend('onnxruntime', spec, num_threads=1)
    text = str(err.value)
    for word in words:
        assert word in text, f'"{word}" not in: {text}'
    assert str(spec.onnx_path) in text


def test_unchanged_copy_is_accepted(tiny_model: Path, tmp_path: Path) -> None:
    spec = modified_spec(tiny_model, tmp_path, lambda data: None)
    backend = create_backend('onnxruntime', spec, num_threads=1)
    assert backend.infer(np.zeros((1, 3, 228, 304), np.float32))['depth'].shape == (1, 1, 109, 147)


def test_unreadable_onnx_file_raises(tiny_model: Path, tmp_path: Path) -> None:
    spec = modified_spec(tiny_model, tmp_path, lambda data: None)
    spec.onnx_path.write_bytes(b'not an onnx model')  # broken after its sidecar was checked
    with pytest.raises(BackendError) as err:
        create_backend('onnxruntime', spec)
    assert str(spec.onnx_path) in str(err.value) and 'cannot load' in str(err.value)


def test_unknown_backend_raises(spec: ModelSpec) -> None:
    with pytest.raises(BackendError) as err:
        create_backend('nope', spec)
    assert '"nope"' in str(err.value) and 'onnxruntime' in str(err.value)
    assert 'onnxruntime' in BACKENDS
