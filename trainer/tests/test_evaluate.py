"""
Tests of the evaluation: geometry, scoring, the Mean baseline, reports and the command.

The test images are ray-cast by ros2_depth.demo.scene, so their depth is exact; an "oracle"
backend returns the true log-depth rendered on the model's output grid, which must score almost
perfectly only when the prediction is put back on the right image pixels.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
import sys
from typing import Dict, List, Optional

import numpy as np
import pytest
from ros2_depth.backends.base import InferenceBackend
from ros2_depth.camera_model import AxisMap, ImageMap, PinholeCamera
from ros2_depth.demo.scene import Corridor, render_depth, render_image
from ros2_depth.metrics import depth_metrics
from ros2_depth.model_spec import InputSpec, ModelSpec, OutputGrid, OutputSpec
from ros2_depth_trainer import cli
from ros2_depth_trainer.checkpoint import save_checkpoint
from ros2_depth_trainer.data import registry
from ros2_depth_trainer.evaluate import (
    dataset_mean_depth,
    DEPTH_ROWS,
    evaluate,
    EvaluationError,
    format_table,
    MEAN_COLUMN,
    ModelRunner,
    open_dataset,
    resample_to_image,
    runner_from_checkpoint,
    runner_from_onnx,
)
from ros2_depth_trainer.export import export_model, seeded_model
from ros2_depth_trainer.figures import row_depth_range
from ros2_depth_trainer.protocols import EvalProtocol, PROTOCOLS
import torch

CAMERA = PinholeCamera(width=320, height=240, fx=260.0, fy=260.0, cx=159.5, cy=119.5)
FRAMES = 3
OUT_H, OUT_W = 109, 147
UP = np.array([0.0, -1.0, 0.0])  # floor normal in the optical frame (y down)
FACING = np.array([0.0, 0.0, -1.0])  # a surface facing the camera


class SceneDataset(torch.utils.data.Dataset):
    """Corridor frames as sample dicts; a hole of invalid depth; normals FACING above, UP below."""

    def __init__(self, frames: int = FRAMES, hole: bool = True) -> None:
        self.frames = frames
        self.hole = hole

    def __len__(self) -> int:
        return self.frames

    def __getitem__(self, index: int) -> Dict[str, torch.Tensor]:
        rgb = render_image(Corridor(), CAMERA, index, self.frames)
        depth = render_depth(Corridor(), CAMERA, index, self.frames)
        normals = np.zeros((3, CAMERA.height, CAMERA.width), np.float32)
        normals[:, :120] = FACING[:, None, None]
        normals[:, 120:] = UP[:, None, None]
        if self.hole:
            depth[100:140, 150:170] = 0.0
            normals[:, 100:140, 150:170] = 0.0
        return {'image': torch.from_numpy(rgb.transpose(2, 0, 1).astype(np.float32) / 255.0),
                'depth': torch.from_numpy(depth[None]),
                'normals': torch.from_numpy(normals)}


class ArrayDataset(torch.utils.data.Dataset):
    """Samples made of given depth maps and grey images."""

    def __init__(self, depths: List[np.ndarray]) -> None:
        self.depths = depths

    def __len__(self) -> int:
        return len(self.depths)

    def __getitem__(self, index: int) -> Dict[str, torch.Tensor]:
        depth = torch.from_numpy(np.asarray(self.depths[index], np.float32))[None]
        return {'image': torch.full((3,) + depth.shape[1:], 0.5), 'depth': depth}


def _spec(normals: bool = False, identity_grid: bool = False) -> ModelSpec:
    """Describe a 228 x 304 network with the 109 x 147 scale-3 grid (or its input as output)."""
    size, grid = ((228, 304), OutputGrid(1.0, 0.0, 1.0, 0.0)) if identity_grid else (
        (OUT_H, OUT_W), OutputGrid(2.0, 5.0, 2.0, 5.0))
    outputs = {'depth': OutputSpec('depth', 'depth', *size, 1, 'log', 'm')}
    if normals:
        outputs['normals'] = OutputSpec('normals', 'normals', *size, 3)
    return ModelSpec(name='oracle', onnx_file='', input=InputSpec('image', 228, 304),
                     outputs=outputs, output_grid=grid, trained=True)


class OracleBackend(InferenceBackend):
    """Returns the true log-depth on the output grid, optionally shifted by `shift` pixels."""

    def __init__(self, spec: ModelSpec, shift: float = 0.0,
                 normal: Optional[np.ndarray] = None) -> None:
        super().__init__(spec)
        self.shift = shift
        self.normal = normal
        self.frame = 0
        self.runner: Optional[ModelRunner] = None

    def infer(self, image: np.ndarray) -> Dict[str, np.ndarray]:
        self.check_input(image)
        truth_map = self.runner.output_map(CAMERA.width, CAMERA.height)
        shifted = ImageMap(AxisMap(truth_map.x.scale, truth_map.x.offset + self.shift),
                           AxisMap(truth_map.y.scale, truth_map.y.offset + self.shift))
        camera = CAMERA.resampled(shifted, OUT_W, OUT_H)
        depth = render_depth(Corridor(), camera, self.frame, FRAMES)
        self.frame += 1
        outputs = {'depth': np.log(depth)[None, None].astype(np.float32)}
        if self.normal is not None:
            outputs['normals'] = np.broadcast_to(self.normal[None, :, None, None],
                                                 (1, 3, OUT_H, OUT_W)).astype(np.float32)
        return outputs


def _oracle(shift: float = 0.0, input_mode: str = 'crop', outside: str = 'exclude',
            normal: Optional[np.ndarray] = None) -> ModelRunner:
    spec = _spec(normals=normal is not None)
    backend = OracleBackend(spec, shift, normal)
    runner = ModelRunner(f'oracle{shift:+g}', spec, backend, input_mode, outside)
    backend.runner = runner
    return runner


def test_resample_is_exact_for_a_linear_field() -> None:
    # Output pixel j sits on image pixel 2j + 5 (x) and 3j + 1 (y); 3 x 4 outputs on a 12 x 14
    # image. A field linear in image coordinates must be reproduced exactly between centres.
    mapping = ImageMap(AxisMap(2.0, 5.0), AxisMap(3.0, 1.0))
    jx, jy = np.meshgrid(np.arange(4), np.arange(3))
    maps = (0.5 * (2.0 * jx + 5.0) - 0.25 * (3.0 * jy + 1.0) + 3.0)[None]
    image, footprint = resample_to_image(maps, mapping, width=14, height=12)
    x, y = np.meshgrid(np.arange(14), np.arange(12))
    inside_centres = (x >= 5) & (x <= 11) & (y >= 1) & (y <= 7)
    expected = 0.5 * x - 0.25 * y + 3.0
    np.testing.assert_allclose(image[0][inside_centres], expected[inside_centres], atol=1e-12)
    # Beyond the outermost centres the edge value is kept (x < 5 takes x = 5).
    np.testing.assert_allclose(image[0, 4, :5], 0.5 * 5 - 0.25 * 4 + 3.0)
    # Footprint: j in [-0.5, 3.5) -> x in [4, 12); j in [-0.5, 2.5) -> y in [-0.5, 8.5).
    assert np.array_equal(np.flatnonzero(footprint.any(0)), np.arange(4, 12))
    assert np.array_equal(np.flatnonzero(footprint.any(1)), np.arange(0, 9))


def test_output_map_composes_input_and_output_grids() -> None:
    runner = _oracle(input_mode='crop')
    # 640 x 480 -> 304 x 228 (same aspect, no cut): s = 640 / 304, input pixel u sits at
    # s u + s / 2 - 1 / 2; output j at input 2 j + 5, so at image 2 s j + 5 s + s / 2 - 1 / 2.
    s = 640 / 304
    mapping = runner.output_map(640, 480)
    assert mapping.x.scale == pytest.approx(2 * s)
    assert mapping.x.offset == pytest.approx(5.5 * s - 0.5)
    assert mapping.y.scale == pytest.approx(2 * 480 / 228)
    # A 4:3 network on a 16:9 image cuts the sides: 1280 x 720 keeps the middle 960 columns.
    wide = runner.output_map(1280, 720)
    assert wide.x.offset == pytest.approx(160 + 5.5 * 960 / 304 - 0.5)
    # Centre crop of 240 x 320 to 228 x 304 (offset 8, 6): output rows cover image rows 11..227
    # and columns 13..305, as the authors' code has it (get_predicted_region of
    # models/iccv15/depthnormals_nyud_vgg.py, jhmitchel/eecs442normals-w18).
    centre = _oracle(input_mode='center').output_map(320, 240)
    assert (centre.y.offset, centre.y.offset + 2 * (OUT_H - 1)) == (11.0, 227.0)
    assert (centre.x.offset, centre.x.offset + 2 * (OUT_W - 1)) == (13.0, 305.0)
    with pytest.raises(EvaluationError):
        _oracle(input_mode='center').output_map(300, 200)
    # The papers' NYU geometry: 640 x 480 halved to 320 x 240 (input u at 2 u + 0.5), then the
    # centre 304 x 228: output j at image 2 (2 j + 13) + 0.5 = 4 j + 26.5 (rows 4 j + 22.5).
    spec = _spec()
    papers = ModelRunner('papers', spec, OracleBackend(spec), 'center', base_size=(240, 320))
    mapping = papers.output_map(640, 480)
    assert (mapping.x.scale, mapping.x.offset) == (4.0, 26.5)
    assert (mapping.y.scale, mapping.y.offset) == (4.0, 22.5)


@pytest.mark.parametrize('input_mode, base_size', [('crop', None), ('stretch', None),
                                                   ('center', None), ('center', (300, 400))])
def test_network_input_follows_the_input_map(input_mode: str, base_size) -> None:
    # Channel 0 holds 0.3 x + 20, channel 1 0.4 y + 10 (uint8-rounded) on a 640 x 480 image.
    # With an identity output grid, output_map is the network-input -> image map, so every
    # network-input pixel must hold the ramps at its mapped image position: within the two
    # roundings (input and resize, 1 level at most) pixel by pixel, and without bias on average
    # (half an image pixel off would bias channel 0 by 0.15). The base size is not a whole
    # fraction of the image: exact halving makes uint8 rounding itself biased (x.5 rounds up).
    spec = _spec(identity_grid=True)
    spec = dataclasses.replace(spec, input=dataclasses.replace(spec.input, scale=1.0))
    runner = ModelRunner('ramp', spec, OracleBackend(spec), input_mode, base_size=base_size)
    x, y = np.meshgrid(np.arange(640.0), np.arange(480.0))
    rgb = np.stack([0.3 * x + 20, 0.4 * y + 10, np.zeros_like(x)], -1).round().astype(np.uint8)
    net = runner.network_input(rgb)[0]
    mapping = runner.output_map(640, 480)
    u, v = np.meshgrid(np.arange(304.0), np.arange(228.0))
    for got, expected in ((net[0], 0.3 * mapping.x(u) + 20), (net[1], 0.4 * mapping.y(v) + 10)):
        assert np.abs(got - expected).max() <= 1.0
        assert abs(np.mean(got - expected)) < 0.03


@pytest.mark.parametrize('input_mode', ('crop', 'center'))
def test_oracle_is_near_perfect_only_when_registered(input_mode: str) -> None:
    dataset = SceneDataset()
    runners = [_oracle(shift, input_mode) for shift in (0.0, 1.0, -1.0)]
    result = evaluate(dataset, runners, PROTOCOLS['full'], train_mean=3.0, progress=False)
    exact, right, left = (c.depth for c in result.columns[1:])
    assert exact['abs_rel'] < 1e-3 and exact['delta1'] == 1.0
    # One image pixel of misregistration costs ten times more.
    assert right['abs_rel'] > 5e-3 and left['abs_rel'] > 5e-3
    assert result.columns[0].depth['abs_rel'] > 0.1  # the Mean baseline
    # Coverage, by hand. crop: image x = 2.105 j + 5.289 for j in [-0.5, 146.5) -> columns
    # 5..313 (309), rows 5..233 (229), minus nothing (the hole is inside). centre: columns
    # 12..305 (294), rows 10..227 (218). Scored pixels exclude the 40 x 20 hole.
    covered = {'crop': 309 * 229, 'center': 294 * 218}[input_mode]
    scored = 320 * 240 - 40 * 20
    assert result.columns[1].coverage == pytest.approx((covered - 40 * 20) / scored)


def test_outside_nearest_scores_every_pixel() -> None:
    result = evaluate(SceneDataset(1), [_oracle(outside='nearest')], PROTOCOLS['full'], 3.0,
                      progress=False)
    excluded = evaluate(SceneDataset(1), [_oracle(outside='exclude')], PROTOCOLS['full'], 3.0,
                        progress=False)
    # Same model; filling the border from the edge adds error there.
    assert result.columns[1].depth['abs_rel'] > excluded.columns[1].depth['abs_rel']


def test_mean_baseline_and_per_image_average() -> None:
    # Training set: 2 m and 4 m on 3 valid pixels of 4, and 6 m everywhere on a second image:
    # (2 + 4 + 4 + 6 * 4) / 7 = 34 / 7.
    train = ArrayDataset([np.array([[2.0, 4.0], [4.0, 0.0]]), np.full((2, 2), 6.0)])
    assert dataset_mean_depth(train, progress=False) == pytest.approx(34 / 7)
    test_depths = [np.full((240, 320), 2.0), np.linspace(1.0, 9.0, 240 * 320).reshape(240, 320)]
    result = evaluate(ArrayDataset(test_depths), [_oracle(outside='nearest')], PROTOCOLS['nyu'],
                      train_mean=34 / 7, progress=False)
    per_image = [depth_metrics(np.full_like(d, 34 / 7), d, PROTOCOLS['nyu'].mask(240, 320),
                               1e-3, 10.0) for d in test_depths]
    mean = result.columns[0]
    assert mean.name == MEAN_COLUMN and mean.images == 2
    for key in per_image[0]:
        assert mean.depth[key] == pytest.approx((per_image[0][key] + per_image[1][key]) / 2)
    with pytest.raises(EvaluationError):
        evaluate(ArrayDataset(test_depths), [], PROTOCOLS['nyu'], train_mean=0.0)


def test_images_without_ground_truth_are_skipped() -> None:
    depths = [np.zeros((240, 320)), np.full((240, 320), 3.0)]
    result = evaluate(ArrayDataset(depths), [], PROTOCOLS['full'], 3.0, progress=False)
    assert (result.num_images, result.skipped_images, result.columns[0].images) == (2, 1, 1)
    assert result.columns[0].depth['abs_rel'] == 0.0
    with pytest.raises(EvaluationError):
        evaluate(ArrayDataset(depths[:1]), [], PROTOCOLS['full'], 3.0, progress=False)


def test_normals_are_pooled_over_valid_pixels() -> None:
    # The oracle predicts FACING everywhere: 0 degrees on rows 0..119, 90 on rows 120..239, the
    # 40 x 20 hole (rows 100..139) has no normal. Valid pixels: 120 * 320 - 20 * 20 at 0 degrees,
    # 120 * 320 - 20 * 20 at 90 degrees (crop 'none', outside filled from the edge).
    runner = _oracle(outside='nearest', normal=FACING)
    result = evaluate(SceneDataset(2), [runner], PROTOCOLS['full'], 3.0, progress=False)
    normals = result.columns[1].normals
    half = 120 * 320 - 20 * 20
    assert result.columns[1].normal_pixels == 2 * 2 * half
    assert normals['mean'] == pytest.approx(45.0)
    assert normals['within_11.25'] == pytest.approx(0.5)
    assert normals['rmse'] == pytest.approx(np.sqrt(90.0**2 / 2))
    assert result.columns[0].normals is None  # the Mean baseline predicts no normals


def test_dataset_kinds_are_imported_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, 'ros2_depth_trainer.data.kitti', None)
    with pytest.raises(EvaluationError, match='not available'):
        open_dataset('kitti', ['somewhere'])
    with pytest.raises(EvaluationError, match='unknown dataset kind'):
        open_dataset('imagenet', [])


def test_synthetic_data_reads_every_folder(tmp_path: Path) -> None:
    """`--data synthetic A B` scores the samples of both folders, without augmentation."""
    from ros2_depth_trainer.synth.writer import generate

    generate(tmp_path / 'a', 2, 5, 'indoor', 24, 32, workers=1, progress=False)
    generate(tmp_path / 'b', 3, 6, 'street', 24, 32, workers=1, progress=False)
    dataset = open_dataset('synthetic', [str(tmp_path / 'a'), str(tmp_path / 'b')])
    assert len(dataset) == 5
    first, again = dataset[0], dataset[0]
    assert first['image'].shape == (3, 24, 32)
    assert torch.equal(first['image'], again['image'])


def test_nyu_frame_folders_open_at_native_size(tmp_path: Path) -> None:
    import cv2

    scene = tmp_path / 'kitchen_0001'
    scene.mkdir()
    rgb = np.full((48, 64, 3), 128, np.uint8)
    cv2.imwrite(str(scene / 'rgb_00000.jpg'), rgb)
    cv2.imwrite(str(scene / 'sync_depth_00000.png'), np.full((48, 64), 2500, np.uint16))
    dataset = open_dataset('nyu', [str(tmp_path)])
    sample = dataset[0]
    assert tuple(sample['image'].shape) == (3, 48, 64)
    np.testing.assert_allclose(sample['depth'].numpy(), 2.5)  # millimetres -> metres
    with pytest.raises(EvaluationError, match='cannot open'):
        open_dataset('nyu', [str(tmp_path / 'missing.mat')])


def test_row_colour_scale() -> None:
    truth = np.array([[np.nan, 2.0], [0.0, 7.5]])
    assert row_depth_range(truth) == (2.0, 7.5)
    assert row_depth_range(np.zeros((2, 2))) == (0.0, 1.0)


@pytest.fixture(scope='module')
def light_model(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    """Write a seeded light model as a checkpoint and as its exported ONNX + sidecar."""
    folder = tmp_path_factory.mktemp('models')
    checkpoint = folder / 'light.pt'
    save_checkpoint(checkpoint, seeded_model('light', 0))
    onnx_path = folder / 'light_export.onnx'
    export_model(onnx_path, checkpoint=checkpoint, verify=False)
    return {'checkpoint': checkpoint, 'sidecar': onnx_path.with_suffix('.json')}


def test_checkpoint_and_onnx_score_the_same(light_model: Dict[str, Path]) -> None:
    runners = [runner_from_checkpoint(light_model['checkpoint']),
               runner_from_onnx(light_model['sidecar'], num_threads=2)]
    result = evaluate(SceneDataset(2), runners, PROTOCOLS['full'], 3.0, progress=False)
    torch_col, onnx_col = result.columns[1:]
    assert (torch_col.name, onnx_col.name) == ('light', 'light_export')
    for key in torch_col.depth:
        assert onnx_col.depth[key] == pytest.approx(torch_col.depth[key], rel=1e-4, abs=1e-6)
    assert onnx_col.normals['mean'] == pytest.approx(torch_col.normals['mean'], rel=1e-4)


def _parse_table(text: str) -> Dict[str, List[str]]:
    rows = {}
    for line in text.splitlines():
        for _, label in DEPTH_ROWS:
            if line.startswith(label + ' '):
                rows[label] = line[len(label):].split()
    return rows


def test_command_end_to_end(light_model: Dict[str, Path], tmp_path: Path,
                            monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture) -> None:
    train = ArrayDataset([np.array([[2.0, 0.0], [4.0, 6.0]])])  # mean (2 + 4 + 6) / 3 = 4
    fake = dataclasses.replace(registry.KINDS['synthetic'], opener=lambda locations, options: {
        'test': SceneDataset(2), 'train': train}[options.split])
    monkeypatch.setitem(registry.KINDS, 'synthetic', fake)
    out = tmp_path / 'eval'
    status = cli.main(['evaluate', '--data', 'synthetic', str(tmp_path), '--train-data',
                       'synthetic', str(tmp_path), '--checkpoint', str(light_model['checkpoint']),
                       '--onnx', str(light_model['sidecar']), '--output', str(out),
                       '--figure-rows', '2', '--no-progress'])
    assert status == 0
    printed = capsys.readouterr().out
    assert printed == (out / 'table.txt').read_text(encoding='utf-8')
    report = json.loads((out / 'metrics.json').read_text())
    assert report['columns'] == ['Mean', 'light', 'light_export']
    assert report['train_mean_depth'] == pytest.approx(4.0)
    assert report['protocol'] == {'name': 'full', 'crop': 'none', 'min_depth': 1e-3,
                                  'max_depth': 80.0}
    # Rows in the papers' order, with arrows, and the JSON holds the printed numbers.
    rows = _parse_table(printed)
    assert list(rows) == [label for _, label in DEPTH_ROWS]
    for key, label in DEPTH_ROWS:
        arrow, *cells = rows[label]
        assert arrow == ('↑' if key.startswith('delta') else '↓')
        expected = [f'{report["results"][c]["depth"][key]:.3f}' for c in report['columns']]
        assert cells == expected
    header = printed.splitlines()[2].split()
    assert header == report['columns']
    assert 'normals (pooled over' in printed
    png = (out / 'figure.png').read_bytes()
    assert png[:8] == b'\x89PNG\r\n\x1a\n'
    width, height = int.from_bytes(png[16:20], 'big'), int.from_bytes(png[20:24], 'big')
    assert width > 4 * height / 2  # 2 rows of 4 panels (RGB, 2 models, truth) plus a colour bar


def test_command_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = ['evaluate', '--data', 'kitti', str(tmp_path), '--train-mean', '3', '--output',
            str(tmp_path / 'out')]
    assert cli.main(base) == 2  # no model given
    monkeypatch.setitem(sys.modules, 'ros2_depth_trainer.data.kitti', None)
    assert cli.main(base + ['--checkpoint', str(tmp_path / 'missing.pt')]) == 1
    assert not (tmp_path / 'out').exists()


def test_format_table_lists_missing_values_as_dashes() -> None:
    result = evaluate(SceneDataset(1), [_oracle(normal=FACING)], EvalProtocol('full'), 3.0,
                      progress=False)
    text = format_table(result)
    line = next(row for row in text.splitlines() if row.startswith('angle mean'))
    assert line.split()[-2:] == ['-', f'{result.columns[1].normals["mean"]:.3f}']


def _labeled_file(tmp_path: Path) -> Path:
    """Write a 2-image NYU labeled file whose in-painted and raw depth maps differ."""
    from test_data_nyu import _write_v73

    n, h, w = 2, 48, 64
    filled = np.full((n, w, h), 3.0, np.float32)  # MATLAB layout: (N, W, H)
    raw = np.full((n, w, h), 2.0, np.float32)
    raw[:, :, :20] = 0.0  # the top 20 rows have no Kinect return
    images = np.full((n, 3, w, h), 100, np.uint8)
    return _write_v73(tmp_path / 'nyu_depth_v2_labeled.mat',
                      {'images': images, 'depths': filled, 'rawDepths': raw})


def test_nyu_scores_raw_depth_by_default_and_filled_on_request(tmp_path: Path) -> None:
    """NYU ground truth is rawDepths (missing pixels skipped) unless nyu_depth='filled'."""
    path = _labeled_file(tmp_path)
    raw = open_dataset('nyu', [str(path)], split='all')
    depth = raw[0]['depth'].numpy()[0]
    assert (depth[:20] == 0).all() and (depth[20:] == 2.0).all()
    filled = open_dataset('nyu', [str(path)], split='all', nyu_depth='filled')
    assert (filled[0]['depth'].numpy() == 3.0).all()
    # A constant 2 m is exact on the raw map's 28 x 64 measured pixels, 1/3 off on the filled.
    scored = evaluate(raw, [], PROTOCOLS['full'], 2.0, progress=False).columns[0].depth
    assert scored['abs_rel'] == 0.0
    scored = evaluate(filled, [], PROTOCOLS['full'], 2.0, progress=False).columns[0].depth
    assert scored['abs_rel'] == pytest.approx(1 / 3)
    with pytest.raises(EvaluationError, match='nyu_depth'):
        open_dataset('nyu', [str(path)], nyu_depth='inpainted')


def test_evaluate_command_defaults_to_raw_nyu_depth() -> None:
    """The command line scores rawDepths unless --nyu-depth filled is given."""
    import argparse

    from ros2_depth_trainer.evaluate_command import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    base = ['--data', 'nyu', 'x.mat', '--output', 'out', '--train-mean', '2']
    assert parser.parse_args(base).nyu_depth == 'raw'
    assert parser.parse_args(base + ['--nyu-depth', 'filled']).nyu_depth == 'filled'
