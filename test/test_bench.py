"""`ros2-depth bench`: the rows present here, parity against the reference, skipped rows, JSON."""

from __future__ import annotations

import json
from pathlib import Path
import shutil

import onnxruntime as ort
import pytest
from ros2_depth import cli
from ros2_depth.backends import (BackendError, BACKENDS, BENCH_SETTINGS, create_backend,
                                 KNOWN_BACKENDS)
from ros2_depth.demo.bench import enumerate_rows, format_table, run_bench
from ros2_depth.model_spec import PRECISIONS

REPO = Path(__file__).resolve().parents[1]
BUNDLED = REPO / 'engines' / 'default.json'


def _all_labels() -> set:
    """Every (backend, setting, precision) label the bench knows of."""
    labels = set()
    for backend in set(BACKENDS) | set(KNOWN_BACKENDS):
        for options in BENCH_SETTINGS.get(backend, ({},)):
            name = '-'.join([backend, *map(str, options.values())])
            labels |= {f'{name} {precision}' for precision in PRECISIONS}
    return labels


def test_every_known_row_is_measured_or_skipped_with_a_reason(tiny_model: Path) -> None:
    """A model without an INT8 sibling: its int8 rows are skipped, saying how to make one."""
    rows, skipped, specs = enumerate_rows(tiny_model)
    labels = [row.label for row in rows] + [entry['row'] for entry in skipped]
    assert sorted(labels) == sorted(_all_labels())
    assert 'onnxruntime-cpu fp32' in [row.label for row in rows]
    assert all(entry['reason'] for entry in skipped)
    assert set(specs) == {'fp32', 'fp16'}  # fp16: the FP32 file, built by TensorRT
    reasons = {entry['row']: entry['reason'] for entry in skipped}
    assert 'TensorRT build' in reasons['onnxruntime-cpu fp16']
    assert 'ros2-depth-train quantize' in reasons['onnxruntime-cpu int8']
    if 'CUDAExecutionProvider' not in ort.get_available_providers():
        assert 'CUDAExecutionProvider' in reasons['onnxruntime-cuda fp32']
        with pytest.raises(BackendError, match='has no CUDAExecutionProvider'):
            create_backend('onnxruntime', specs['fp32'], execution_provider='cuda')
    if 'tensorrt' not in BACKENDS:
        assert any(entry['row'] == 'tensorrt fp32' and 'no "tensorrt" backend' in entry['reason']
                   for entry in skipped)


def test_bundled_fp32_and_int8_rows_with_parity_on_generated_and_real_frames(
        tmp_path: Path, camera_data: Path) -> None:
    """
    Bench the bundled model: FP32 and its INT8 sibling on the CPU, on generated and real frames.

    Both rows are timed; the reference row is identical to itself, INT8 differs but little;
    the real frames come from a folder with a frames.json.
    """
    real = tmp_path / 'real'
    real.mkdir()
    shutil.copy(camera_data / 'tum_rgbd_frame' / 'TUM_color.png', real / 'color.png')
    (real / 'frames.json').write_text(json.dumps(
        [{'rgb': 'color.png', 'K': [525.0, 525.0, 319.5, 239.5]}]))
    out = tmp_path / 'bench.json'
    assert cli.main(['bench', str(BUNDLED), '--runs', '3', '--frames', '2', '--real', str(real),
                     '--json', str(out)]) == 0
    summary = json.loads(out.read_text())
    rows = {entry['row']: entry for entry in summary['rows']}
    assert {'onnxruntime-cpu fp32', 'onnxruntime-cpu int8'} <= set(rows)
    assert sorted(list(rows) + [e['row'] for e in summary['skipped']]) == sorted(_all_labels())
    assert summary['frames'] == {'generated': 2, 'real': 1}
    reference, int8 = rows['onnxruntime-cpu fp32'], rows['onnxruntime-cpu int8']
    assert reference['speedup'] == 1.0 and int8['runs'] == reference['runs'] == 3
    for name in ('generated', 'real'):
        assert all(value == 0 for value in reference[name].values()), reference[name]
        assert 0 < int8[name]['depth_mean_rel'] < 0.1, int8[name]
        assert 0 < int8[name]['normals_mean_deg'] < 10, int8[name]
    assert len(summary['machine']['load_average_before']) == 3
    text = format_table(summary)
    assert 'onnxruntime-cpu int8' in text
    assert all(f"skipped {entry['row']}: " in text for entry in summary['skipped'])


def test_node_latency_against_bare_inference_and_the_relay(tiny_model: Path) -> None:
    """--node: depth_node (a process, over DDS) and the bare relay, each timed, both exit 0."""
    summary = run_bench(tiny_model, num_threads=1, runs=3, frames=1, node=True, node_frames=3,
                        stages=True)
    stages = summary['stages']
    assert stages['pipeline: inference'] > 0 and stages['serialise the six messages'] > 0
    assert all(ms >= 0 for ms in stages.values()), stages
    assert 'median ms per stage' in format_table(summary)
    node = summary['node']
    assert [(entry['what'], entry['precision']) for entry in node] == [
        ('depth_node', 'fp32'), ('depth_node', 'fp32'), ('relay', '')]
    assert all(entry['exit_code'] == 0 and entry['count'] + entry['lost'] == 3
               for entry in node), node
    assert all(entry['count'] >= 1 for entry in node), node
    assert node[0]['outputs'] == ['depth', 'info', 'normals', 'points']
    assert node[1]['outputs'] == ['depth']  # depth/image alone: what the node then computes
    assert node[2]['outputs'] == ['depth']
    counters = node[0]['node_counters']
    assert counters['precision'] == 'fp32' and int(counters['processed']) >= node[0]['count']
    assert node[0]['bare_inference_median_ms'] > 0 and node[0]['relay_median_ms'] > 0
    assert 'bare rclpy relay' in format_table(summary)


def test_bench_without_a_model_fails_with_one_line(tmp_path: Path, capsys) -> None:
    """A missing model is an error line and exit 1, not a traceback."""
    with pytest.raises(SystemExit):
        cli.main(['bench', '--runs', 'x'])
    assert cli.main(['bench', str(tmp_path / 'missing.json')]) == 1


def test_info_names_the_precision_of_an_int8_model(capsys) -> None:
    """`ros2-depth info` on the INT8 sidecar says int8 and names its parent's hash."""
    assert cli.main(['info', str(BUNDLED.with_name('default.int8.json')), '--runs', '1']) == 0
    out = capsys.readouterr().out
    assert 'precision int8, quantised from the FP32 model with sha256' in out, out
    assert cli.main(['info', str(BUNDLED), '--runs', '1']) == 0
    assert 'precision' not in capsys.readouterr().out
