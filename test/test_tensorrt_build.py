"""
The engine builder's GPU-independent parts: cache folder, calibration inputs, command lines.

The calibration inputs must be exactly what the node feeds the network, so they are compared with
DepthPipeline.preprocess on a real camera frame. Building itself needs TensorRT and a GPU
(test_tensorrt_gpu.py); here, where TensorRT is absent, the commands must fail in one line.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
import subprocess
import sys

import cv2
import numpy as np
import pytest
from ros2_depth.backends.tensorrt_backend import rebuild_command
from ros2_depth.backends.tensorrt_build import (
    build_engine, BuildOptions, calibration_batches, default_engine_cache, EngineBuildError,
    folder_frames, write_atomically)
from ros2_depth.camera_model import PinholeCamera
from ros2_depth.cli import corridor_frames
from ros2_depth.model_spec import load_spec, ModelSpec
from ros2_depth.pipeline import DepthPipeline
from ros2_depth.resources import default_model_path

REPO = Path(__file__).resolve().parents[1]
NO_TENSORRT = importlib.util.find_spec('tensorrt') is None
TUM = PinholeCamera(640, 480, 525.0, 525.0, 319.5, 239.5)


@pytest.fixture(scope='module')
def spec(tiny_camera_model: Path) -> ModelSpec:
    """Return the tiny model with a metric scale (so 'canonical' needs the camera)."""
    return load_spec(tiny_camera_model)


@pytest.fixture(scope='module')
def tum_rgb(camera_data: Path) -> np.ndarray:
    """Return the real TUM RGB-D colour frame as rgb8."""
    bgr = cv2.imread(str(camera_data / 'tum_rgbd_frame' / 'TUM_color.png'), cv2.IMREAD_COLOR)
    assert bgr is not None
    return bgr[..., ::-1].copy()


def test_default_engine_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv('ROS_HOME', str(tmp_path / 'ros'))
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'xdg'))
    assert default_engine_cache() == tmp_path / 'ros' / 'ros2_depth' / 'engines'
    monkeypatch.delenv('ROS_HOME')
    assert default_engine_cache() == tmp_path / 'xdg' / 'ros2_depth' / 'engines'
    monkeypatch.delenv('XDG_CACHE_HOME')
    monkeypatch.setenv('HOME', str(tmp_path / 'home'))
    assert default_engine_cache() == tmp_path / 'home' / '.cache' / 'ros2_depth' / 'engines'


def test_calibration_inputs_are_the_nodes_inputs(spec: ModelSpec, tum_rgb: np.ndarray) -> None:
    """With intrinsics: the node's default 'canonical' resize; without: 'crop'."""
    with_camera, without = calibration_batches(spec, [(tum_rgb, TUM), (tum_rgb, None)])
    canonical = DepthPipeline(spec, None, 'canonical').preprocess(tum_rgb, 'rgb8', TUM)
    crop = DepthPipeline(spec, None, 'crop').preprocess(tum_rgb, 'rgb8')
    np.testing.assert_array_equal(with_camera, canonical)
    np.testing.assert_array_equal(without, crop)
    assert with_camera.shape == (1, 3, 228, 304) and with_camera.dtype == np.float32
    assert with_camera.flags.c_contiguous
    assert not np.array_equal(with_camera, without)  # 525 px is not the canonical 250 px focal


def test_calibration_takes_at_most_limit(spec: ModelSpec, tum_rgb: np.ndarray) -> None:
    frames = ((tum_rgb, None) for _ in range(10))
    assert len(calibration_batches(spec, frames, limit=3)) == 3
    with pytest.raises(EngineBuildError, match='no calibration images'):
        calibration_batches(spec, [])


def test_folder_pictures_are_read_as_rgb(spec: ModelSpec, tmp_path: Path,
                                         tum_rgb: np.ndarray) -> None:
    cv2.imwrite(str(tmp_path / 'b.png'), tum_rgb[..., ::-1])
    red = np.zeros((48, 64, 3), np.uint8)
    red[..., 0] = 255  # rgb: pure red
    cv2.imwrite(str(tmp_path / 'a.jpg'), red[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 100])
    (tmp_path / 'notes.txt').write_text('not a picture')
    frames = list(folder_frames(tmp_path))
    assert len(frames) == 2 and all(camera is None for _, camera in frames)
    first, second = frames[0][0], frames[1][0]
    assert first[..., 0].min() > 250 and first[..., 2].max() < 5  # a.jpg first, still red
    np.testing.assert_array_equal(second, tum_rgb)  # PNG: lossless


def test_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(EngineBuildError, match='has no'):
        list(folder_frames(tmp_path))
    (tmp_path / 'broken.png').write_bytes(b'not a png')
    with pytest.raises(EngineBuildError, match='cannot be read as a picture'):
        list(folder_frames(tmp_path))


def test_corridor_frames(spec: ModelSpec) -> None:
    frames = list(corridor_frames(5))
    focals = sorted(camera.fx for _, camera in frames)
    assert focals == pytest.approx([420.0, 472.5, 525.0, 577.5, 630.0])
    batches = calibration_batches(spec, frames)
    assert len(batches) == 5 and np.std(batches[0]) > 0.1  # a picture, not a blank


def test_source_kinds() -> None:
    assert BuildOptions('fp32').source_kind() == 'model'
    assert BuildOptions('int8').source_kind() == 'model'
    assert BuildOptions('int8', onnx=Path('q.onnx')).source_kind() == 'qdq'
    assert BuildOptions('fp16', onnx=Path('h.onnx')).source_kind() == 'fp16'
    # the bundled INT8 model (engines/default.int8.json) is Q/DQ already: no calibration
    assert BuildOptions('int8').source_kind('int8') == 'qdq'


def test_write_atomically(tmp_path: Path) -> None:
    target = tmp_path / 'sub' / 'engine.bin'
    write_atomically(target, b'one')
    write_atomically(target, b'two')
    assert target.read_bytes() == b'two'
    assert sorted(p.name for p in target.parent.iterdir()) == ['engine.bin']


def test_rebuild_command(spec: ModelSpec) -> None:
    assert rebuild_command(spec, 'fp16', Path('/c')) == (
        f'ros2-depth build-engine {spec.path} --precision fp16 --engine-cache /c')
    assert '--calibration-images FOLDER' in rebuild_command(spec, 'int8', Path('/c'))
    # the bundled INT8 model is Q/DQ: it needs no calibration pictures
    int8 = load_spec(default_model_path().with_name('default.int8.json'))
    assert rebuild_command(int8, 'int8', Path('/c')) == (
        f'ros2-depth build-engine {int8.path} --precision int8 --engine-cache /c')


@pytest.mark.skipif(not NO_TENSORRT, reason='TensorRT is installed here')
def test_build_without_tensorrt_says_what_to_install(spec: ModelSpec, tmp_path: Path) -> None:
    with pytest.raises(EngineBuildError) as err:
        build_engine(spec, BuildOptions('fp32'), cache_dir=tmp_path)
    assert 'TensorRT is not importable' in str(err.value) and 'pip install tensorrt' in str(
        err.value)
    assert list(tmp_path.iterdir()) == []


def run_command(*args: str) -> subprocess.CompletedProcess:
    """Run a Python module's command line from the repository root."""
    return subprocess.run([sys.executable, '-m', *args], capture_output=True, text=True,
                          timeout=120, cwd=REPO)


@pytest.mark.skipif(not NO_TENSORRT, reason='TensorRT is installed here')
def test_build_engine_command_without_tensorrt_fails_in_one_line(tiny_model: Path) -> None:
    result = run_command('ros2_depth.cli', 'build-engine', str(tiny_model), '--precision', 'fp16')
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('ERROR ros2-depth: TensorRT is not importable')


@pytest.mark.skipif(importlib.util.find_spec('torch') is None,
                    reason='the trainer (torch) is not installed here (the Kilted CI venv)')
def test_trainer_build_engine_command_has_the_runtime_options() -> None:
    result = run_command('ros2_depth_trainer.cli', 'build-engine', '--help')
    assert result.returncode == 0, result.stderr
    for option in ('--precision', '--onnx', '--engine-cache', '--calibration-images',
                   '--scene-kinds', '--scene-seed', '--optimization-level', '--workspace-mb'):
        assert option in result.stdout, option
