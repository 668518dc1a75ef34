"""
The TensorRT version decisions, cache keys and manifest checks, without TensorRT.

These are the pure functions the builder and the backend call with the installed version; what
TensorRT itself does with the flags is tested on a GPU (test_tensorrt_gpu.py).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from ros2_depth.backends.tensorrt_compat import (
    engine_file_name, EngineTarget, io_problems, make_manifest, manifest_path, manifest_problems,
    plan_build, TensorInfo, TensorRTCompatError, timing_cache_name, TrtVersion)

JETPACK5 = TrtVersion.parse('8.5.2.2')
JETPACK60 = TrtVersion.parse('8.6.2.3')
JETPACK6 = TrtVersion.parse('10.3.0.30')
DESKTOP10 = TrtVersion.parse('10.13.3.9')
TRT11 = TrtVersion.parse('11.4.1')


@pytest.mark.parametrize('text, expected', [
    ('8.6.2.3', (8, 6, 2)), ('10.3.0', (10, 3, 0)), ('11.0', (11, 0, 0)),
    (' 10.13.3.9', (10, 13, 3)),
])
def test_version_parse(text: str, expected: tuple) -> None:
    assert dataclasses.astuple(TrtVersion.parse(text)) == expected


@pytest.mark.parametrize('text', ['', 'ten', '10'])
def test_version_parse_rejects(text: str) -> None:
    with pytest.raises(TensorRTCompatError):
        TrtVersion.parse(text)


def test_versions_order() -> None:
    assert JETPACK5 < JETPACK6 < DESKTOP10 < TRT11


def test_explicit_batch_only_on_8x() -> None:
    """8.x: the ONNX parser needs EXPLICIT_BATCH; 10.x deprecated and ignores it; 11.x: gone."""
    for precision in ('fp32', 'fp16', 'int8'):
        assert plan_build(JETPACK5, precision).network_flags == ('EXPLICIT_BATCH',)
        assert plan_build(JETPACK60, precision).network_flags == ('EXPLICIT_BATCH',)
        assert 'EXPLICIT_BATCH' not in plan_build(JETPACK6, precision).network_flags
    assert plan_build(TRT11, 'fp32').network_flags == ()


def test_builder_optimization_level_from_86() -> None:
    assert not plan_build(JETPACK5, 'fp32').optimization_level
    assert not plan_build(JETPACK5, 'int8', source='qdq').optimization_level
    for version in (JETPACK60, JETPACK6, TRT11):
        assert plan_build(version, 'fp32').optimization_level


@pytest.mark.parametrize('version', [JETPACK5, JETPACK60, JETPACK6, DESKTOP10, TRT11])
def test_fp32_sets_no_precision_flag(version: TrtVersion) -> None:
    plan = plan_build(version, 'fp32')
    assert plan.builder_flags == () and not plan.calibrate and plan.int8_method == ''


def test_fp16_is_a_builder_flag_before_11_and_a_converted_model_from_11() -> None:
    assert plan_build(JETPACK5, 'fp16').builder_flags == ('FP16',)
    assert plan_build(JETPACK6, 'fp16').builder_flags == ('FP16',)
    assert plan_build(JETPACK6, 'fp16').notes == ()
    assert 'deprecated since TensorRT 10.12' in plan_build(DESKTOP10, 'fp16').notes[0]
    with pytest.raises(TensorRTCompatError) as err:
        plan_build(TRT11, 'fp16')
    assert 'BuilderFlag.FP16' in str(err.value) and 'AutoCast' in str(err.value)
    plan = plan_build(TRT11, 'fp16', source='fp16')
    assert plan.builder_flags == () and plan.strongly_typed
    plan = plan_build(DESKTOP10, 'fp16', source='fp16')
    assert plan.network_flags == ('STRONGLY_TYPED',) and plan.builder_flags == ()


def test_int8_calibration_on_86_and_10_qdq_everywhere() -> None:
    plan = plan_build(JETPACK5, 'int8')
    assert plan.calibrate and plan.builder_flags == ('INT8',) and plan.int8_method == 'calibration'
    assert plan.notes == ()
    plan = plan_build(JETPACK6, 'int8')
    assert plan.calibrate and plan.builder_flags == ('INT8',)
    assert 'deprecated since TensorRT 10.1' in plan.notes[0]
    assert not plan_build(TrtVersion(10, 0, 1), 'int8').notes  # deprecated from 10.1 on
    with pytest.raises(TensorRTCompatError) as err:
        plan_build(TRT11, 'int8')
    assert 'Q/DQ' in str(err.value) and '--onnx' in str(err.value)
    for version in (JETPACK5, JETPACK6, TRT11):
        plan = plan_build(version, 'int8', source='qdq')
        assert not plan.calibrate and plan.int8_method == 'qdq'
    assert plan_build(JETPACK5, 'int8', source='qdq').builder_flags == ('INT8',)
    assert plan_build(JETPACK6, 'int8', source='qdq').network_flags == ('STRONGLY_TYPED',)
    assert plan_build(TRT11, 'int8', source='qdq').builder_flags == ()


def test_sources_must_fit_the_precision() -> None:
    with pytest.raises(TensorRTCompatError, match='precision int8'):
        plan_build(JETPACK6, 'fp32', source='qdq')
    with pytest.raises(TensorRTCompatError, match='precision fp16'):
        plan_build(JETPACK6, 'int8', source='fp16')
    with pytest.raises(TensorRTCompatError, match='precision must be one of'):
        plan_build(JETPACK6, 'int4')
    with pytest.raises(TensorRTCompatError, match='ONNX source'):
        plan_build(JETPACK6, 'fp32', source='onnx')


def test_old_versions_are_refused_and_new_majors_warned_about() -> None:
    with pytest.raises(TensorRTCompatError, match='older than 8.5'):
        plan_build(TrtVersion(8, 4, 3), 'fp32')
    with pytest.raises(TensorRTCompatError, match='older than 8.5'):
        plan_build(TrtVersion(7, 2, 3), 'fp32')
    plan = plan_build(TrtVersion(12, 0, 0), 'fp32')
    assert plan.network_flags == () and 'newer than' in plan.notes[0]


TARGET = EngineTarget('ab' * 32, '10.3.0', 'Orin', '8.7', 'fp16')


def test_cache_key_covers_every_field() -> None:
    """Another model, TensorRT, GPU, architecture or precision: another engine file."""
    assert TARGET.key() == EngineTarget('ab' * 32, '10.3.0', 'Orin', '8.7', 'fp16').key()
    assert len(TARGET.key()) == 16
    keys = {TARGET.key()}
    for field, other in (('model_onnx_sha256', 'cd' * 32), ('tensorrt_version', '10.3.1'),
                         ('gpu_name', 'NVIDIA H100'), ('compute_capability', '9.0'),
                         ('precision', 'fp32')):
        changed = dataclasses.replace(TARGET, **{field: other})
        keys.add(changed.key())
        assert engine_file_name('tiny', changed) != engine_file_name('tiny', TARGET)
    assert len(keys) == 6


def test_file_names() -> None:
    name = engine_file_name('Eigen & Fergus light', TARGET)
    assert name == f'eigen-fergus-light_fp16_sm87_trt10-3-0_{TARGET.key()}.engine'
    assert manifest_path(Path('/c') / name) == Path('/c') / name.replace('.engine', '.json')
    timing = timing_cache_name(TARGET)
    assert timing == 'timing_sm87_orin_trt10-3-0.cache'
    assert timing_cache_name(dataclasses.replace(TARGET, precision='fp32',
                                                 model_onnx_sha256='x')) == timing


TENSORS = [TensorInfo('image', 'input', (1, 3, 228, 304), 'float32'),
           TensorInfo('depth', 'output', (1, 1, 109, 147), 'float32'),
           TensorInfo('normals', 'output', (1, 3, 109, 147), 'float32')]


def manifest() -> dict:
    """Return a manifest of TARGET as the builder writes it, through JSON."""
    data = make_manifest(
        TARGET, model_name='tiny', plan=plan_build(JETPACK6, 'fp16'), source='model',
        source_onnx='/m/tiny.onnx', source_onnx_sha256='ab' * 32, tensors=TENSORS,
        workspace_bytes=1 << 30, optimization_level=3, engine_sha256='ee' * 32,
        engine_bytes=1234, build_seconds=61.25, timing_cache='timing.cache',
        cuda_runtime_version='12.6', created='2026-12-06T16:00:00+00:00')
    return json.loads(json.dumps(data))


def test_manifest_keys() -> None:
    data = manifest()
    assert data['format'] == 'ros2_depth/engine' and data['format_version'] == 1
    for key in ('model_onnx_sha256', 'tensorrt_version', 'gpu_name', 'compute_capability',
                'precision', 'engine_id', 'engine_sha256', 'source_onnx_sha256', 'io_tensors',
                'build', 'cuda_runtime_version', 'int8_method', 'calibration'):
        assert key in data, key
    assert data['engine_id'] == TARGET.key() and data['precision'] == 'fp16'
    assert data['io_tensors'][0] == {'name': 'image', 'mode': 'input',
                                     'shape': [1, 3, 228, 304], 'dtype': 'float32'}
    eight_five = make_manifest(
        TARGET, model_name='tiny', plan=plan_build(JETPACK5, 'fp32'), source='model',
        source_onnx='', source_onnx_sha256='', tensors=TENSORS, workspace_bytes=1,
        optimization_level=3, engine_sha256='', engine_bytes=0, build_seconds=0,
        timing_cache='')
    assert eight_five['build']['builder_optimization_level'] is None
    assert data['build'] == {
        'workspace_bytes': 1 << 30, 'builder_optimization_level': 3, 'network_flags': [],
        'builder_flags': ['FP16'], 'strongly_typed': False, 'timing_cache': 'timing.cache',
        'build_seconds': 61.25}


def test_a_matching_manifest_has_no_problems() -> None:
    assert manifest_problems(manifest(), TARGET, 'ee' * 32) == []
    assert manifest_problems(manifest(), TARGET) == []


@pytest.mark.parametrize('field, value, words', [
    ('tensorrt_version', '8.6.2', ['TensorRT version is 8.6.2 in the engine, 10.3.0 here']),
    ('gpu_name', 'NVIDIA GeForce RTX 3060', ['GPU is NVIDIA GeForce RTX 3060', 'Orin here']),
    ('compute_capability', '8.6', ['compute capability is 8.6 in the engine, 8.7 here']),
    ('precision', 'fp32', ['precision is fp32 in the engine, fp16 here']),
    ('model_onnx_sha256', 'cd' * 32, ['model ONNX sha256 is cdcdcdcdcdcd...', 'abababababab...']),
])
def test_each_differing_field_is_named(field: str, value: str, words: list) -> None:
    data = manifest()
    data[field] = value
    problems = manifest_problems(data, TARGET, 'ee' * 32)
    assert len(problems) == 1, problems
    for word in words:
        assert word in problems[0], problems


def test_several_differences_and_a_changed_engine_file() -> None:
    data = manifest()
    data['gpu_name'], data['compute_capability'] = 'Xavier', '7.2'
    problems = manifest_problems(data, TARGET, 'ff' * 32)
    assert [p.split(' is ')[0] for p in problems[:2]] == ['GPU', 'compute capability']
    assert 'does not match the sha256 in its manifest' in problems[2]


@pytest.mark.parametrize('data, word', [
    ({}, 'no ros2_depth engine manifest'), ([], 'no ros2_depth engine manifest'),
    ({'format': 'ros2_depth/engine', 'format_version': 2}, 'format_version 2'),
])
def test_foreign_manifests(data: object, word: str) -> None:
    problems = manifest_problems(data, TARGET)
    assert len(problems) == 1 and word in problems[0]


OUTPUTS = {'depth': (1, 1, 109, 147), 'normals': (1, 3, 109, 147)}


def test_io_matching_the_sidecar() -> None:
    assert io_problems(TENSORS, 'image', (1, 3, 228, 304), OUTPUTS) == []


def test_io_differences_are_named() -> None:
    tensors = [TensorInfo('image', 'input', (1, 3, 240, 320), 'float16'),
               TensorInfo('depth', 'output', (1, 1, 109, 147), 'float32')]
    problems = io_problems(tensors, 'image', (1, 3, 228, 304), OUTPUTS)
    assert problems == [
        'input "image" has shape [1, 3, 240, 320], the sidecar says [1, 3, 228, 304]',
        'input "image" is float16, not float32 (convert with float32 inputs and outputs kept, '
        'e.g. AutoCast keep_io_types)',
        "no output \"normals\" (it has ['depth', 'image'])",
    ]
    assert io_problems(TENSORS, 'depth', (1, 1, 109, 147), {})[0].startswith('no input "depth"')
