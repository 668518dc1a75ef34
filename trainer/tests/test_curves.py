"""Tests of ``ros2-depth-train curves``: reading metrics.jsonl and drawing a run's curves."""

from __future__ import annotations

import json
import logging
from pathlib import Path
import shutil

import numpy as np
import pytest
from ros2_depth_trainer import cli
from ros2_depth_trainer.curves import (
    moving_average, read_metrics, smooth_per_stage, stage_starts)

TINY = Path(__file__).resolve().parents[1] / 'configs' / 'synthetic_tiny.yaml'


def _write_run(folder: Path, lines: list) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / 'metrics.jsonl').write_text(''.join(lines), encoding='utf-8')
    return folder


def _entry(**values: object) -> str:
    return json.dumps(values) + '\n'


def test_read_metrics_sorts_keeps_the_last_of_a_repeated_step_and_skips_torn_lines(
        tmp_path: Path) -> None:
    run = _write_run(tmp_path / 'run', [
        _entry(kind='train', step=20, depth=0.5, lr_all=1e-3),
        _entry(kind='train', step=10, depth=0.7, lr_all=1e-3),
        _entry(kind='val', step=20, abs_rel=0.4, delta1=0.3),
        _entry(kind='train', step=20, depth=0.45, lr_all=1e-3),  # resumed: logged again
        '{"kind": "train", "step": 30, "dep',  # a run killed mid-write
    ])
    metrics = read_metrics(run / 'metrics.jsonl')
    steps, depth = metrics.get('train', 'depth')
    assert steps.tolist() == [10, 20] and depth.tolist() == [0.7, 0.45]
    assert metrics.get('val', 'abs_rel')[1].tolist() == [0.4]
    assert metrics.get('val', 'normals') is None
    assert metrics.skipped_lines == 1


def test_moving_average_is_trailing_and_starts_short() -> None:
    values = np.array([1.0, 3.0, 5.0, 7.0])
    np.testing.assert_allclose(moving_average(values, 2), [1.0, 2.0, 4.0, 6.0])
    np.testing.assert_allclose(moving_average(values, 10), [1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(moving_average(values, 1), values)


def test_smoothing_restarts_at_each_stage() -> None:
    steps = np.array([10, 20, 30, 40, 50])
    values = np.array([1.0, 1.0, 1.0, 9.0, 9.0])  # the second stage starts after step 30
    np.testing.assert_allclose(smooth_per_stage(steps, values, [0, 30], width=3),
                               [1.0, 1.0, 1.0, 9.0, 9.0])
    np.testing.assert_allclose(smooth_per_stage(steps, values, [0], width=3),
                               moving_average(values, 3))


def test_stage_starts_accumulate_the_lengths() -> None:
    assert stage_starts(['a', 'b', 'c'], [100, 50, 10]) == [('a', 0), ('b', 100), ('c', 150)]


def test_command_draws_a_png_with_stage_marks(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    lines = []
    for step in range(10, 160, 10):
        lines.append(_entry(kind='train', step=step, depth=float(1 / step + rng.random() * 0.01),
                            normals=-0.5 - step / 400, total=1.0 / step, lr_all=1e-3))
        if step % 50 == 0:
            lines.append(_entry(kind='val', step=step, abs_rel=1.0 / step, delta1=step / 200,
                                rmse_log=0.3, sc_inv=0.2))
    run = _write_run(tmp_path / 'run', lines)
    shutil.copy(TINY, run / 'config.yaml')
    assert cli.main(['curves', str(run)]) == 0
    png = run / 'curves.png'
    header = png.read_bytes()[:24]
    assert header[:8] == b'\x89PNG\r\n\x1a\n'
    width, height = int.from_bytes(header[16:20], 'big'), int.from_bytes(header[20:24], 'big')
    assert (width, height) == (900, 800)


def test_command_names_what_is_wrong(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        assert cli.main(['curves', str(tmp_path / 'missing')]) == 1
    assert 'metrics.jsonl' in caplog.text and 'train' in caplog.text
    caplog.clear()
    run = _write_run(tmp_path / 'empty', ['not json\n'])
    with caplog.at_level(logging.ERROR):
        assert cli.main(['curves', str(run)]) == 1
    assert 'no metrics entry' in caplog.text
    caplog.clear()
    run = _write_run(tmp_path / 'val_only', [_entry(kind='val', step=5, abs_rel=0.3)])
    with caplog.at_level(logging.ERROR):
        assert cli.main(['curves', str(run)]) == 1
    assert 'no training loss' in caplog.text
