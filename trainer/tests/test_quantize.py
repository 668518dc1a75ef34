"""INT8 quantisation: the tiny test model against FP32, the sidecar, the shipped model's gate."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any, Tuple

import numpy as np
import onnx
import pytest
from ros2_depth.metrics import depth_metrics
from ros2_depth.model_spec import (file_sha256, int8_sibling, load_spec, load_spec_for_precision,
                                   ModelSpec)
from ros2_depth_trainer import cli
from ros2_depth_trainer.evaluate import runner_from_onnx
from ros2_depth_trainer.quantize import boundary_nodes, quantize_model, QuantizeOptions
from ros2_depth_trainer.sidecar import ExportError
from ros2_depth_trainer.synth.sample import render_sample

REPO = Path(__file__).resolve().parents[2]
BUNDLED = REPO / 'engines' / 'default.json'
BUNDLED_INT8 = REPO / 'engines' / 'default.int8.json'


def _build_tiny(directory: Path, **kwargs: Any) -> Path:
    """Build the runtime tests' tiny ONNX model (test/tiny_model.py) into ``directory``."""
    source = importlib.util.spec_from_file_location('tiny_model', REPO / 'test' / 'tiny_model.py')
    module = importlib.util.module_from_spec(source)
    source.loader.exec_module(module)
    return module.build_tiny_model(directory, **kwargs)


@pytest.fixture(scope='module')
def quantised(tmp_path_factory: pytest.TempPathFactory) -> Tuple[Path, ModelSpec, dict]:
    """Build the tiny model (labels, metric scale) and quantise every layer of it."""
    fp32 = _build_tiny(tmp_path_factory.mktemp('quantize'), name='tiny', labels=True,
                       canonical_focal=250.0)
    options = QuantizeOptions(count=6, keep_fp32='none', verify_count=3)
    spec, diffs = quantize_model(fp32, options=options)
    return fp32, spec, diffs


def test_tiny_model_quantised_is_int8_and_close_to_fp32(quantised) -> None:
    """The file holds int8 weights in QDQ form, and its outputs stay near the FP32 model's."""
    _, spec, diffs = quantised
    graph = onnx.load(str(spec.onnx_path)).graph
    ops = [node.op_type for node in graph.node]
    assert ops.count('QuantizeLinear') >= 3 and 'DequantizeLinear' in ops
    int8_weights = [i.name for i in graph.initializer
                    if i.data_type == onnx.TensorProto.INT8 and len(i.dims) == 4]
    assert sorted(int8_weights) == ['w_depth_quantized', 'w_labels_quantized',
                                    'w_normals_quantized']
    # Depth is ln(m): an 8-bit activation range over the image costs well under 1 % of depth.
    assert 0 < diffs['depth_relative_mean'] < 0.005, diffs
    assert diffs['depth_relative_max'] < 0.1, diffs  # the percentile range clips the extremes
    assert diffs['normals_angle_mean_deg'] < 3.0, diffs


def test_int8_sidecar_records_precision_hash_and_parent(quantised) -> None:
    """Same interface as the parent; precision int8; its own sha256; the parent's sha256."""
    fp32_path, spec, _ = quantised
    parent = load_spec(fp32_path)
    assert spec.path == int8_sibling(fp32_path).resolve()
    assert spec.onnx_file == 'tiny.int8.onnx'
    assert spec.precision == 'int8' and parent.precision == 'fp32'
    assert spec.parent_onnx_sha256 == parent.onnx_sha256
    assert spec.onnx_sha256 == file_sha256(spec.onnx_path) != parent.onnx_sha256
    for field in ('input', 'outputs', 'output_grid', 'metric_scale', 'depth_range', 'name'):
        assert getattr(spec, field) == getattr(parent, field), field
    recipe = spec.quantization
    assert recipe['calibration_scenes'] == 6 and recipe['format'] == 'QDQ'
    assert recipe['kept_fp32'] == [] and recipe['calibration'] == 'percentile'
    assert recipe['activations'] == 'uint8 per tensor'
    assert load_spec_for_precision(fp32_path, 'int8') == spec
    raw = json.loads(spec.path.read_text())
    assert raw['precision'] == 'int8' and raw['parent_onnx_sha256'] == parent.onnx_sha256
    assert 'precision' not in json.loads(fp32_path.read_text())  # FP32 sidecars unchanged


def test_quantize_refuses_an_int8_model_and_the_command_reports_it(quantised, caplog) -> None:
    """Quantising twice is refused, with the parent named, as one error line from the CLI."""
    _, spec, _ = quantised
    with pytest.raises(ExportError, match='already int8'):
        quantize_model(spec.path, options=QuantizeOptions(count=1))
    assert cli.main(['quantize', '--model', str(spec.path), '--count', '1']) == 1
    assert 'already int8' in caplog.text


def test_boundary_nodes_of_the_bundled_network() -> None:
    """'first' finds the layers that read the image; 'heads' the last layer before each output."""
    onnx_path = load_spec(BUNDLED).onnx_path
    first = boundary_nodes(onnx_path, 'first')
    heads = boundary_nodes(onnx_path, 'heads')
    assert first == ['/model/backbone/backbone.0/Conv', '/model/scale2_front/scale2_front.0/Conv',
                     '/model/scale3_front/scale3_front.0/Conv']
    assert heads == ['/model/depth/depth.4_1/Conv', '/model/labels/labels.4_1/Conv',
                     '/model/normals/normals.4_1/Conv']
    assert boundary_nodes(onnx_path, 'first+heads') == sorted(first + heads)
    assert boundary_nodes(onnx_path, 'none') == []


def test_shipped_int8_model_is_the_quantised_bundled_model() -> None:
    """engines/default.int8.json matches its file and names engines/default.onnx as its parent."""
    fp32 = load_spec(BUNDLED)
    int8 = load_spec(BUNDLED_INT8)  # checks the file's sha256
    assert int8.precision == 'int8' and int8.parent_onnx_sha256 == fp32.onnx_sha256
    assert load_spec_for_precision(BUNDLED, 'int8') == int8


def test_shipped_int8_model_passes_the_accuracy_gate_on_generated_scenes() -> None:
    """
    On held-out generated scenes the INT8 model's abs rel is within 0.01 of the FP32 model's.

    Two scenes of each kind from the test seeds of docs/evaluation.md (never calibrated on),
    run as the node runs them and scored over (1e-3, 80) m; docs/benchmarks.md has the full
    500-scene and real-frame numbers.
    """
    runners = [runner_from_onnx(path, num_threads=2) for path in (BUNDLED, BUNDLED_INT8)]
    scores = [[], []]
    for kind, seed in (('robot', 210), ('indoor', 211), ('street', 212)):
        for index in range(2):
            frame = render_sample(kind, seed, index, 240, 320).rendered.frame
            camera = frame.camera
            intrinsics = (camera.fx, camera.fy, camera.cx, camera.cy)
            for runner, score in zip(runners, scores):
                depth = runner.predict(frame.rgb, intrinsics).depth
                score.append(depth_metrics(depth, frame.depth, min_depth=1e-3,
                                           max_depth=80.0)['abs_rel'])
    fp32, int8 = (float(np.mean(score)) for score in scores)
    assert abs(int8 - fp32) <= 0.01, (fp32, int8)
    assert scores[0] != scores[1]  # the two models really differ
