"""
`backend: auto`, ONNX Runtime's execution providers, and their one-line failures.

choose_backend is a pure function of what a machine offers (modules, GPUs, providers), so its
order is tested with every combination; the rest runs the real ONNX Runtime of this machine,
which has only the CPU provider, and the real node.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from ros2_depth.backends import (
    Availability, BackendError, choose_backend, create_backend, EXECUTION_PROVIDERS,
    probe_availability)
from ros2_depth.backends.onnxruntime_backend import check_provider, provider_list, PROVIDERS
from ros2_depth.model_spec import load_spec
from ros_harness import isolated_ros_env, node_log_until, start_node_process

CPU = ('CPUExecutionProvider',)
GPU_ORT = ('TensorrtExecutionProvider', 'CUDAExecutionProvider', 'CPUExecutionProvider')
CPU_ONLY_HERE = not {'CUDAExecutionProvider', 'TensorrtExecutionProvider'} & set(
    ort.get_available_providers())


def names(found: Availability) -> list:
    """Return the candidates as 'backend/provider'."""
    return [f'{b}/{p}' for b, p, _ in choose_backend(found)]


@pytest.mark.parametrize('found, expected', [
    # TensorRT importable and a GPU: TensorRT first, then what ONNX Runtime offers, CPU last.
    (Availability(True, 1, GPU_ORT), ['tensorrt/cpu', 'onnxruntime/cuda', 'onnxruntime/cpu']),
    (Availability(True, 2, CPU), ['tensorrt/cpu', 'onnxruntime/cpu']),
    # TensorRT importable but no GPU: never TensorRT, never a GPU provider.
    (Availability(True, 0, GPU_ORT), ['onnxruntime/cpu']),
    # No CUDA Python binding to count GPUs: TensorRT needs it; ONNX Runtime asks for itself.
    (Availability(True, None, GPU_ORT), ['onnxruntime/cuda', 'onnxruntime/cpu']),
    (Availability(False, None, GPU_ORT), ['onnxruntime/cuda', 'onnxruntime/cpu']),
    # Only the TensorRT provider compiled in.
    (Availability(False, 1, ('TensorrtExecutionProvider', 'CPUExecutionProvider')),
     ['onnxruntime/tensorrt', 'onnxruntime/cpu']),
    # A CPU-only machine.
    (Availability(False, None, CPU), ['onnxruntime/cpu']),
    (Availability(False, 0, ()), ['onnxruntime/cpu']),
])
def test_auto_order(found: Availability, expected: list) -> None:
    assert names(found) == expected


def test_auto_reasons_say_what_was_found() -> None:
    candidates = choose_backend(Availability(True, 1, GPU_ORT))
    assert candidates[0][2] == 'TensorRT and 1 GPU(s) found'
    assert candidates[1][2] == 'onnxruntime-gpu has CUDAExecutionProvider'


def test_probe_sees_this_machine() -> None:
    found = probe_availability()
    assert found.ort_providers == tuple(ort.get_available_providers())
    assert found.tensorrt == (importlib.util.find_spec('tensorrt') is not None)
    if importlib.util.find_spec('cuda') is None:
        assert found.gpu_count is None


@pytest.mark.skipif(not CPU_ONLY_HERE, reason='needs a CPU-only onnxruntime')
def test_auto_on_this_cpu_machine_is_onnxruntime_cpu(tiny_model: Path) -> None:
    if probe_availability().tensorrt:
        pytest.skip('TensorRT is installed here')
    backend = create_backend('auto', load_spec(tiny_model), num_threads=1, precision='fp16',
                             engine_cache='/nonexistent')
    assert backend.name == 'onnxruntime' and backend.provider == 'CPUExecutionProvider'
    assert backend.chosen == ('backend auto chose onnxruntime (cpu): ONNX Runtime on the CPU; '
                              'precision fp16 needs TensorRT, running fp32')
    assert backend.info() == {'backend': 'onnxruntime (CPUExecutionProvider)',
                              'precision': 'fp32', 'engine_id': ''}
    depth = backend.infer(np.zeros((1, 3, 228, 304), np.float32))['depth']
    np.testing.assert_allclose(depth, 0.9, atol=1e-6)


def test_named_backends_are_not_chosen(tiny_model: Path) -> None:
    backend = create_backend('onnxruntime', load_spec(tiny_model), num_threads=1)
    assert backend.chosen == ''


def test_provider_choices_are_the_parameter_choices() -> None:
    assert tuple(PROVIDERS) == EXECUTION_PROVIDERS
    assert all(chain[-1] == 'CPUExecutionProvider' for chain in PROVIDERS.values())


def test_check_provider() -> None:
    assert check_provider('cpu', ['CPUExecutionProvider']) == 'CPUExecutionProvider'
    assert check_provider('cuda', list(GPU_ORT)) == 'CUDAExecutionProvider'
    assert check_provider('tensorrt', list(GPU_ORT)) == 'TensorrtExecutionProvider'
    with pytest.raises(BackendError, match='execution_provider must be one of'):
        check_provider('rocm', list(GPU_ORT))


def test_provider_options() -> None:
    assert provider_list('cpu', 'fp32', '') == [('CPUExecutionProvider', {})]
    trt, cuda, cpu = provider_list('tensorrt', 'fp16', '/cache')
    assert trt == ('TensorrtExecutionProvider', {
        'trt_fp16_enable': True, 'trt_engine_cache_enable': True,
        'trt_timing_cache_enable': True, 'trt_engine_cache_path': '/cache/onnxruntime',
        'trt_timing_cache_path': '/cache/onnxruntime'})
    assert cuda == ('CUDAExecutionProvider', {}) and cpu == ('CPUExecutionProvider', {})


@pytest.mark.skipif(not CPU_ONLY_HERE, reason='needs a CPU-only onnxruntime')
@pytest.mark.parametrize('provider, name', [('cuda', 'CUDAExecutionProvider'),
                                            ('tensorrt', 'TensorrtExecutionProvider')])
def test_a_missing_provider_fails_with_one_line(tiny_model: Path, provider: str,
                                                name: str) -> None:
    """The real CPU-only onnxruntime: asking for a GPU provider says so, in one line."""
    with pytest.raises(BackendError) as err:
        create_backend('onnxruntime', load_spec(tiny_model), execution_provider=provider)
    text = str(err.value)
    assert '\n' not in text
    assert f'has no {name}' in text and 'onnxruntime-gpu' in text
    assert 'CPUExecutionProvider' in text  # what it has instead


@pytest.mark.parametrize('precision, words', [
    ('fp16', ['precision fp16 needs backend tensorrt']),
    ('int8', ['runs an INT8 (Q/DQ) model', 'ros2-depth-train quantize']),
])
def test_onnxruntime_refuses_fp16_and_int8_of_an_fp32_model(
        tiny_model: Path, precision: str, words: list) -> None:
    with pytest.raises(BackendError) as err:
        create_backend('onnxruntime', load_spec(tiny_model), precision=precision)
    for word in words:
        assert word in str(err.value)


# The node: each failure is one FATAL line and exit code 1 (as test_node_integration's).
STARTUP_FAILURES = [
    (['-p', 'precision:=int4'], ['precision', 'int4']),
    (['-p', 'execution_provider:=rocm'], ['execution_provider', 'rocm']),
    (['-p', 'backend:=openvino'], ['unknown backend "openvino"', "'auto'"]),
]
if CPU_ONLY_HERE:
    STARTUP_FAILURES.append((['-p', 'execution_provider:=cuda'],
                             ['has no CUDAExecutionProvider', 'onnxruntime-gpu']))
if importlib.util.find_spec('tensorrt') is None:
    STARTUP_FAILURES.append((['-p', 'backend:=tensorrt'],
                             ['backend "tensorrt" cannot start', 'TensorRT is not importable']))


@pytest.mark.parametrize('arguments, words', STARTUP_FAILURES)
def test_node_startup_failures_are_one_line(tmp_path: Path, tiny_model: Path, arguments: list,
                                            words: list) -> None:
    log = tmp_path / 'log.txt'
    proc = start_node_process(log, isolated_ros_env(), '/cam',
                              ['-p', f'model:={tiny_model}', *arguments])
    assert proc.wait(timeout=60) == 1, log.read_text()
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith('[FATAL]'), lines
    for word in words:
        assert word in lines[0], lines


@pytest.mark.skipif(not CPU_ONLY_HERE, reason='needs a CPU-only onnxruntime')
def test_node_with_backend_auto_logs_its_choice(tmp_path: Path, tiny_model: Path) -> None:
    if probe_availability().tensorrt:
        pytest.skip('TensorRT is installed here')
    text = node_log_until(tmp_path / 'log.txt', 'CPUExecutionProvider', 60,
                          '-p', f'model:={tiny_model}', '-p', 'backend:=auto')
    assert 'backend auto chose onnxruntime (cpu): ONNX Runtime on the CPU' in text, text
    assert 'on onnxruntime' in text and 'CPUExecutionProvider' in text


@pytest.mark.gpu
@pytest.mark.parametrize('provider', ['cuda', 'tensorrt'])
def test_onnxruntime_gpu_providers(tiny_model: Path, provider: str, tmp_path: Path) -> None:
    """With onnxruntime-gpu on a GPU: the CUDA and TensorRT providers agree with the CPU."""
    name = {'cuda': 'CUDAExecutionProvider', 'tensorrt': 'TensorrtExecutionProvider'}[provider]
    if name not in ort.get_available_providers():
        pytest.skip(f'this onnxruntime has no {name} (onnxruntime-gpu not installed)')
    spec = load_spec(tiny_model)
    reference = create_backend('onnxruntime', spec, num_threads=1)
    backend = create_backend('onnxruntime', spec, execution_provider=provider,
                             engine_cache=str(tmp_path))
    assert backend.provider == name and backend.info()['backend'] == f'onnxruntime ({name})'
    rng = np.random.default_rng(3)
    for _ in range(2):
        image = rng.uniform(-2.0, 2.0, (1, 3, 228, 304)).astype(np.float32)
        got, want = backend.infer(image), reference.infer(image)
        for key in want:
            np.testing.assert_allclose(got[key], want[key], atol=2e-3, rtol=0, err_msg=key)
