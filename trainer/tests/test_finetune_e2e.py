"""
End to end: a driver-like recording from synth-bag, fine-tuned, scored and exported.

synth-bag writes an unaligned, compressed recording (JPEG colour, a second depth camera 5 cm to
the side with its own intrinsics, compressedDepth, /tf_static) and the exact depth of the colour
camera beside it. The recording source registers the depth into the colour camera (checked
against that exact depth), and `ros2-depth-train finetune` trains the bundled model on the first
part and improves its abs rel on the held-out end. Tiny sizes keep it under two minutes.
"""

from __future__ import annotations

import json
from pathlib import Path
import subprocess
import sys
from typing import Dict

import numpy as np
import pytest

pytest.importorskip('rosbags', reason='recordings need the rosbags library')

from ros2_depth.model_spec import load_spec  # noqa: E402
from ros2_depth_trainer.bag_truth import load_truth  # noqa: E402
from ros2_depth_trainer.cli import main  # noqa: E402
from ros2_depth_trainer.data.rosbag_source import read_bag_frames  # noqa: E402

BAG_ARGS = ['--kind', 'indoor', '--seed', '3', '--seconds', '6', '--rate', '10',
            '--size', '96x128', '--image-format', 'jpeg', '--depth-camera',
            '--depth-size', '72x96', '--compressed-depth', '--write-truth']
FINETUNE_ARGS = ['--steps', '30', '--batch-size', '4', '--lr', '3e-4', '--min-interval', '0']


@pytest.fixture(scope='module')
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Write the unaligned, compressed 60-frame recording and its truth file."""
    bag = tmp_path_factory.mktemp('recording') / 'bag'
    assert main(['synth-bag', '--output', str(bag), *BAG_ARGS]) == 0
    return bag


@pytest.fixture(scope='module')
def finetuned(recording: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Fine-tune the bundled model on the recording; return the run folder."""
    output = tmp_path_factory.mktemp('finetune') / 'run'
    assert main(['finetune', str(recording), '--output', str(output), *FINETUNE_ARGS]) == 0
    return output


def abs_rel(run: Path) -> Dict[str, float]:
    """Return the held-out abs rel of each column of the run's evaluation."""
    metrics = json.loads((run / 'after' / '0' / 'metrics.json').read_text())
    return {name: values['depth']['abs_rel'] for name, values in metrics['results'].items()}


def test_unaligned_depth_is_registered_onto_the_exact_depth(recording: Path) -> None:
    """The registered depth matches the colour camera's rendered depth within 1 % (median)."""
    truth = load_truth(Path(str(recording) + '.truth.npz'))
    frames = read_bag_frames(recording)
    assert len(frames) == len(truth.stamp_ns) == 60
    for index in (0, 29, 59):
        rgb, depth, intrinsics = frames[index].arrays()
        exact = truth.aligned_depth[index]
        assert depth.shape == exact.shape == rgb.shape[:2] == (96, 128)
        camera = truth.colour_camera
        assert intrinsics == pytest.approx((camera.fx, camera.fy, camera.cx, camera.cy))
        both = np.isfinite(depth) & (depth > 0) & np.isfinite(exact) & (exact > 0)
        assert both.mean() > 0.8  # the depth camera is wider: nearly every colour pixel
        error = np.abs(depth[both] / exact[both] - 1.0)
        assert np.median(error) < 0.01 and np.mean(error < 0.05) > 0.95, index


def test_finetune_improves_the_held_out_abs_rel(finetuned: Path) -> None:
    scores = abs_rel(finetuned)
    assert set(scores) >= {'Mean', 'before', 'after'}
    assert scores['after'] < 0.8 * scores['before'], scores


def test_finetune_exports_a_model_the_node_runs(finetuned: Path) -> None:
    spec = load_spec(finetuned / 'model.json')  # checks the ONNX file's sha256 too
    assert spec.metric_scale is not None and spec.output('depth') is not None
    assert (finetuned / 'model.pt').is_file()
    report = (finetuned / 'report.md').read_text()
    assert '| abs rel ↓ |' in report and 'ros2-depth-train finetune' in report
    assert '![RGB, truth, before and after](after/0/figure.png)' in report
    assert (finetuned / 'after' / '0' / 'figure.png').is_file()


def test_resume_after_the_end_redoes_only_scoring_and_export(finetuned: Path) -> None:
    before = abs_rel(finetuned)
    assert main(['finetune', '--resume', '--output', str(finetuned)]) == 0
    assert abs_rel(finetuned) == pytest.approx(before)


def test_a_second_run_into_the_same_folder_is_refused(recording: Path, finetuned: Path) -> None:
    assert main(['finetune', str(recording), '--output', str(finetuned), *FINETUNE_ARGS]) == 1


@pytest.mark.parametrize('damage', ['truncate', 'missing'])
def test_a_bad_recording_is_one_line_and_exit_1(recording: Path, tmp_path: Path,
                                                damage: str) -> None:
    """A truncated bag or a path that is no recording: one error line, no traceback."""
    target = tmp_path / 'bad'
    if damage == 'truncate':
        target.mkdir()
        for source in recording.iterdir():
            data = source.read_bytes()
            (target / source.name).write_bytes(data[:len(data) // 2] if source.suffix == '.mcap'
                                               else data)
    process = subprocess.run(
        [sys.executable, '-m', 'ros2_depth_trainer.cli', 'finetune', str(target), '--output',
         str(tmp_path / 'run'), *FINETUNE_ARGS], capture_output=True, text=True, timeout=120)
    assert process.returncode == 1, process.stderr
    lines = [line for line in process.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if ' ERROR ' in line]
    assert len(errors) == 1 and 'Traceback' not in process.stderr, process.stderr
    assert str(target) in errors[0], errors
