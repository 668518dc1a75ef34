"""
The TensorRT backend and engine builder on a real GPU, with the tiny model.

Marked ``gpu``; the whole module is skipped where TensorRT, the CUDA Python bindings or a GPU are
missing. scripts/gpu-check runs it. Tolerances: FP32 engines may use TF32 on Ampere and newer
(10-bit mantissa products), FP16 engines keep about three decimal digits.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
import tracemalloc
from typing import Dict

import numpy as np
import pytest
from ros2_depth.backends import BackendError, create_backend
from ros2_depth.backends.cuda_runtime import CudaError, CudaRuntime
from ros2_depth.backends.tensorrt_backend import TensorRTBackend
from ros2_depth.backends.tensorrt_build import (
    build_engine, BuildOptions, calibration_batches, local_machine)
from ros2_depth.backends.tensorrt_compat import (
    manifest_path, plan_build, TensorRTCompatError, TrtVersion)
from ros2_depth.cli import corridor_frames, main as cli_main
from ros2_depth.model_spec import file_sha256, load_spec, ModelSpec
from ros_harness import node_log_until

pytestmark = pytest.mark.gpu
trt = pytest.importorskip('tensorrt')
try:
    CUDA = CudaRuntime()
    GPU_NAME, CAPABILITY = CUDA.device_name_and_capability()
except CudaError as exc:  # no binding, no driver or no device
    pytest.skip(f'no usable CUDA GPU: {exc}', allow_module_level=True)

VERSION = TrtVersion.parse(trt.__version__)


def weak_precision_supported(precision: str) -> bool:
    """Whether this TensorRT builds `precision` from the model's own ONNX (not on 11.x)."""
    try:
        plan_build(VERSION, precision)
    except TensorRTCompatError:
        return False
    return True


@pytest.fixture(scope='module')
def spec(tiny_camera_model: Path) -> ModelSpec:
    """Return the tiny model with labels (three outputs)."""
    return load_spec(tiny_camera_model)


@pytest.fixture(scope='module')
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return an engine cache folder shared by this module's tests."""
    return tmp_path_factory.mktemp('engines')


@pytest.fixture(scope='module')
def reference(spec: ModelSpec) -> object:
    """Return the tiny model on ONNX Runtime, CPU."""
    return create_backend('onnxruntime', spec, num_threads=1)


def inputs(count: int = 4) -> list:
    """Return network inputs in the normalised range of real pictures."""
    rng = np.random.default_rng(7)
    return [rng.uniform(-2.0, 2.0, (1, 3, 228, 304)).astype(np.float32) for _ in range(count)]


def compare(got: Dict[str, np.ndarray], want: Dict[str, np.ndarray], atol: float) -> None:
    """Depth, normals and label scores agree within `atol`."""
    assert set(got) == set(want)
    for key in want:
        assert got[key].shape == want[key].shape and got[key].dtype == np.float32
        np.testing.assert_allclose(got[key], want[key], atol=atol, rtol=0, err_msg=key)


def test_fp32_build_writes_engine_manifest_and_timing_cache(spec: ModelSpec, cache: Path) -> None:
    machine = local_machine()
    path, manifest = build_engine(spec, BuildOptions('fp32'), cache_dir=cache, machine=machine)
    assert path.parent == cache and path.is_file()
    on_disk = json.loads(manifest_path(path).read_text())
    assert on_disk == manifest
    assert manifest['model_onnx_sha256'] == spec.onnx_sha256 == file_sha256(spec.onnx_path)
    assert manifest['tensorrt_version'] == str(VERSION)
    assert (manifest['gpu_name'], manifest['compute_capability']) == (GPU_NAME, CAPABILITY)
    assert manifest['engine_sha256'] == file_sha256(path)
    plan = plan_build(VERSION, 'fp32')
    assert manifest['build']['network_flags'] == list(plan.network_flags)
    assert manifest['build']['workspace_bytes'] == 1024 << 20
    assert {t['name']: t['shape'] for t in manifest['io_tensors']} == {
        'image': [1, 3, 228, 304], 'depth': [1, 1, 109, 147], 'normals': [1, 3, 109, 147],
        'labels': [1, 4, 109, 147]}
    assert all(t['dtype'] == 'float32' for t in manifest['io_tensors'])
    timing = cache / manifest['build']['timing_cache']
    assert timing.is_file() and timing.stat().st_size > 0


def test_fp32_matches_onnxruntime_cpu(spec: ModelSpec, cache: Path, reference: object) -> None:
    backend = TensorRTBackend(spec, 'fp32', engine_cache=str(cache))
    assert backend.info() == {'backend': 'tensorrt', 'precision': 'fp32',
                              'engine_id': backend.engine_id}
    for image in inputs():
        compare(backend.infer(image), reference.infer(image), atol=2e-3)


@pytest.mark.skipif(not weak_precision_supported('fp16'), reason='TensorRT 11 needs an AutoCast '
                    'FP16 ONNX for fp16')
def test_fp16_matches_onnxruntime_cpu(spec: ModelSpec, cache: Path, reference: object) -> None:
    backend = TensorRTBackend(spec, 'fp16', engine_cache=str(cache))
    for image in inputs():
        compare(backend.infer(image), reference.infer(image), atol=2e-2)


def test_second_start_loads_the_cached_engine(spec: ModelSpec, cache: Path,
                                              caplog: pytest.LogCaptureFixture) -> None:
    first = TensorRTBackend(spec, 'fp32', engine_cache=str(cache))
    modified = first.engine_path.stat().st_mtime_ns
    caplog.set_level(logging.INFO, 'ros2_depth')
    second = TensorRTBackend(spec, 'fp32', engine_cache=str(cache))
    assert second.engine_path == first.engine_path
    assert second.engine_path.stat().st_mtime_ns == modified
    assert 'building' not in caplog.text and str(second.engine_path) in caplog.text


@pytest.mark.parametrize('field, value, words', [
    ('tensorrt_version', '0.0.0', 'TensorRT version is 0.0.0 in the engine'),
    ('gpu_name', 'Some Other GPU', 'GPU is Some Other GPU in the engine'),
    ('compute_capability', '1.0', 'compute capability is 1.0 in the engine'),
])
def test_a_stale_manifest_is_rebuilt_naming_the_field(
        spec: ModelSpec, tmp_path: Path, caplog: pytest.LogCaptureFixture, field: str,
        value: str, words: str) -> None:
    path, _ = build_engine(spec, BuildOptions('fp32'), cache_dir=tmp_path)
    data = json.loads(manifest_path(path).read_text())
    data[field] = value
    manifest_path(path).write_text(json.dumps(data))
    caplog.set_level(logging.INFO, 'ros2_depth')
    backend = TensorRTBackend(spec, 'fp32', engine_cache=str(tmp_path))
    assert words in caplog.text and 'rebuilding' in caplog.text
    assert json.loads(manifest_path(path).read_text())[field] != value
    assert backend.infer(inputs(1)[0])['depth'].shape == (1, 1, 109, 147)


def test_a_changed_engine_file_is_never_loaded(spec: ModelSpec, tmp_path: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    path, _ = build_engine(spec, BuildOptions('fp32'), cache_dir=tmp_path)
    path.write_bytes(path.read_bytes()[:-16])  # truncated
    caplog.set_level(logging.INFO, 'ros2_depth')
    TensorRTBackend(spec, 'fp32', engine_cache=str(tmp_path))
    assert 'does not match the sha256 in its manifest' in caplog.text
    assert json.loads(manifest_path(path).read_text())['engine_sha256'] == file_sha256(path)


def test_int8_is_not_built_by_the_backend(spec: ModelSpec, tmp_path: Path) -> None:
    with pytest.raises(BackendError) as err:
        TensorRTBackend(spec, 'int8', engine_cache=str(tmp_path))
    assert 'ros2-depth build-engine' in str(err.value) and '--precision int8' in str(err.value)


@pytest.mark.skipif(not weak_precision_supported('int8'), reason='TensorRT 11 has no INT8 '
                    'calibration (needs a Q/DQ ONNX)')
def test_int8_calibrated_engine(spec: ModelSpec, tmp_path: Path, reference: object) -> None:
    batches = calibration_batches(spec, corridor_frames(8), 8)
    options = BuildOptions('int8', calibration=batches, calibration_source='corridor')
    path, manifest = build_engine(spec, options, cache_dir=tmp_path)
    assert manifest['int8_method'] == 'calibration'
    assert manifest['calibration'] == {'calibrator': 'IInt8EntropyCalibrator2', 'images': 8,
                                       'source': 'corridor'}
    backend = TensorRTBackend(spec, 'int8', engine_cache=str(tmp_path))
    assert backend.engine_path == path
    for image in batches[:3]:
        got, want = backend.infer(image), reference.infer(image)
        np.testing.assert_allclose(got['depth'], want['depth'], atol=0.05)


def test_no_allocation_per_frame(spec: ModelSpec, cache: Path) -> None:
    """After the first frame, infer allocates nothing: the same pinned buffers come back."""
    backend = TensorRTBackend(spec, 'fp32', engine_cache=str(cache))
    images = inputs(2)
    first = backend.infer(images[0])
    addresses = {k: v.__array_interface__['data'][0] for k, v in first.items()}
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for index in range(50):
            outputs = backend.infer(images[index % 2])
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, 'filename'))
    assert grown < 16 * 1024, f'{grown} bytes allocated over 50 frames'
    assert {k: v.__array_interface__['data'][0] for k, v in outputs.items()} == addresses
    assert not outputs['depth'].flags.writeable


def test_build_engine_command_fills_the_cache_the_backend_reads(
        spec: ModelSpec, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert cli_main(['build-engine', str(spec.path), '--engine-cache', str(tmp_path),
                     '--optimization-level', '2']) == 0
    caplog.set_level(logging.INFO, 'ros2_depth')
    backend = TensorRTBackend(spec, 'fp32', engine_cache=str(tmp_path))
    assert 'building' not in caplog.text
    level = 2 if plan_build(VERSION, 'fp32').optimization_level else None  # None on 8.5
    assert backend.manifest['build']['builder_optimization_level'] == level


def test_node_builds_on_first_start_and_reports_the_engine(tiny_model: Path,
                                                           tmp_path: Path) -> None:
    text = node_log_until(tmp_path / 'log.txt', ' on tensorrt ', 240,
                          '-p', f'model:={tiny_model}', '-p', 'backend:=tensorrt',
                          '-p', 'precision:=fp32', '-p', f'engine_cache:={tmp_path / "engines"}')
    assert 'several minutes on a Jetson' in text and 'built TensorRT engine' in text, text
    assert ' on tensorrt ' in text and GPU_NAME in text
