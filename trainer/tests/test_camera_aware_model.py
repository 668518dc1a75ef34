"""
The camera-aware light model: labels as the 2015 paper's third task, depth in a canonical camera.

Covers the labels heads of ``Eigen15``, the trainer's canonical depth targets, the check against
augmentations that divide depth by their zoom, the export's sidecar (metric scale, class table),
and that ``evaluate`` converts depth exactly as the runtime pipeline does.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
from ros2_depth.backends import create_backend
from ros2_depth.camera_model import PinholeCamera
from ros2_depth.model_spec import load_spec, MetricScale
from ros2_depth.pipeline import DepthPipeline
from ros2_depth_trainer.config import ConfigError, LossConfig
from ros2_depth_trainer.evaluate import runner_from_onnx
from ros2_depth_trainer.export import export_model, seeded_model
from ros2_depth_trainer.models import get_config, VARIANTS
from ros2_depth_trainer.models.eigen15 import OutputWindows
from ros2_depth_trainer.synth.classes import CLASS_NAMES, PALETTE
from ros2_depth_trainer.train import canonical_depth, check_augment_scale, compute_losses
import torch

CAMERA_VARIANT = 'eigen15-light-camera'


@pytest.fixture(scope='module')
def model() -> torch.nn.Module:
    """Return the seeded camera-aware light model in eval mode."""
    return seeded_model(CAMERA_VARIANT, 0).eval()


def test_variant_predicts_three_tasks_in_a_canonical_camera() -> None:
    config = VARIANTS[CAMERA_VARIANT]
    assert config.tasks == ('depth', 'normals', 'labels')
    assert config.num_classes == len(CLASS_NAMES) - 1 == 14
    assert config.canonical_focal == 250.0
    assert config.task_channels == {'depth': 1, 'normals': 3, 'labels': 14}
    # Everything else is the light model's.
    light = VARIANTS['eigen15-light']
    assert dataclasses.replace(config, tasks=light.tasks, scale3_channels=light.scale3_channels,
                               canonical_focal=None) == light


def test_labels_heads_shapes_and_scale3_inputs(model: torch.nn.Module) -> None:
    image = torch.randn(2, 3, 228, 304, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        scale2, scale3 = model.forward_scales(image)
    assert scale2['labels'].shape == (2, 14, 55, 74)
    assert scale3['labels'].shape == (2, 14, 109, 147)
    assert scale3['depth'].shape == (2, 1, 109, 147)


def test_scale3_sees_label_probabilities_not_logits(model: torch.nn.Module,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Shifting every scale-2 label logit by a constant changes nothing at scale 3."""
    image = torch.randn(1, 3, 228, 304, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        reference = model(image)
        original = type(model).forward_scale2

        def shifted(self, x, shift):
            out = original(self, x)
            return dict(out, labels=out['labels'] + shift)

        monkeypatch.setattr(type(model), 'forward_scale2', lambda self, x: shifted(self, x, 5.0))
        same = model(image)
        # A shift that differs per class changes the probabilities, and so scale 3.
        per_class = torch.linspace(-3, 3, 14).reshape(1, 14, 1, 1)
        monkeypatch.setattr(type(model), 'forward_scale2',
                            lambda self, x: shifted(self, x, per_class))
        changed = model(image)
    for task in ('depth', 'normals', 'labels'):
        torch.testing.assert_close(same[task], reference[task], rtol=1e-5, atol=1e-5)
    assert (changed['depth'] - reference['depth']).abs().max() > 1e-4


def test_windows_match_the_full_labels_map_away_from_the_edges(model: torch.nn.Module) -> None:
    image = torch.randn(1, 3, 228, 304, generator=torch.Generator().manual_seed(2))
    windows = OutputWindows([(30, 40)], (55, 74))
    with torch.no_grad():
        full = model(image)['labels'][..., 30:85, 40:114]
        window = model.forward_windows(image, windows)['labels']
    inner = (slice(None), slice(None), slice(8, -8), slice(8, -8))
    torch.testing.assert_close(window[inner], full[inner], atol=1e-4, rtol=1e-4)


def test_labels_loss_is_computed_against_ids_one_to_fourteen(model: torch.nn.Module) -> None:
    logits = torch.zeros(1, 14, 4, 4)
    logits[:, 4] = 2.0  # channel 4 scores id 5 ('object')
    labels = torch.full((1, 4, 4), 5, dtype=torch.long)
    labels[0, 0, 0] = 0  # unlabelled: ignored
    terms = compute_losses({'labels': logits}, {'labels': labels}, LossConfig(labels_weight=1.0))
    expected = -math.log(math.exp(2) / (math.exp(2) + 13))
    assert float(terms['labels']) == pytest.approx(expected, rel=1e-5)


def test_canonical_depth_scales_each_sample_by_its_focal_length() -> None:
    depth = torch.ones(3, 1, 2, 2)
    depth[1, 0, 0, 0] = 0.0  # invalid stays invalid
    intrinsics = torch.tensor([[250.0, 250.0, 1, 1], [500.0, 500.0, 1, 1], [400.0, 100.0, 1, 1]])
    batch = canonical_depth({'depth': depth, 'intrinsics': intrinsics}, 250.0)
    got = batch['depth']
    assert got[0].eq(1.0).all()
    assert got[1, 0, 0, 0] == 0.0 and got[1, 0, 1, 1] == pytest.approx(0.5)
    assert got[2].sub(250.0 / 200.0).abs().max() < 1e-6  # sqrt(400 * 100) = 200
    unchanged = {'depth': depth, 'intrinsics': intrinsics}
    assert canonical_depth(unchanged, None) is unchanged


def test_canonical_depth_needs_intrinsics() -> None:
    with pytest.raises(Exception, match='intrinsics'):
        canonical_depth({'depth': torch.ones(1, 1, 2, 2)}, 250.0)


def test_zooming_augmentation_must_keep_metric_depth() -> None:
    config = VARIANTS[CAMERA_VARIANT]
    with pytest.raises(ConfigError, match='depth_follows_scale'):
        check_augment_scale(config, 'nyu_eigen14')
    check_augment_scale(VARIANTS['eigen15-light'], 'nyu_eigen14')  # no canonical camera: fine
    check_augment_scale(config, None)


def test_export_writes_metric_scale_and_class_table(tmp_path: Path) -> None:
    spec = export_model(tmp_path / 'camera.onnx', variant=CAMERA_VARIANT, seed=0)
    data = json.loads((tmp_path / 'camera.json').read_text())
    assert data['format_version'] == 2
    assert data['metric_scale'] == {'scheme': 'canonical_focal', 'canonical_focal_px': 250.0}
    labels = data['outputs']['labels']
    assert (labels['kind'], labels['channels'], labels['first_class_id']) == ('labels', 14, 1)
    assert labels['class_names'] == list(CLASS_NAMES)
    assert labels['class_colors'] == PALETTE.tolist()
    loaded = load_spec(tmp_path / 'camera.json')
    assert loaded.metric_scale == MetricScale(canonical_focal_px=250.0) == spec.metric_scale
    assert get_config(loaded.model_config) == VARIANTS[CAMERA_VARIANT]


def test_evaluate_factor_hand_computed(tmp_path: Path) -> None:
    """640x480, fx = fy = 518: 'crop' resizes by 304 / 640; 'center' from 240x320 halves it."""
    export_model(tmp_path / 'camera.onnx', variant=CAMERA_VARIANT, seed=0)
    k = (518.0, 518.0, 319.5, 239.5)
    crop = runner_from_onnx(tmp_path / 'camera.json', input_mode='crop', num_threads=1)
    assert crop.depth_factor(640, 480, k) == pytest.approx(518.0 * 0.475 / 250.0, rel=1e-12)
    center = runner_from_onnx(tmp_path / 'camera.json', input_mode='center', num_threads=1,
                              base_size=(240, 320))
    assert center.depth_factor(640, 480, k) == pytest.approx(518.0 / 2 / 250.0, rel=1e-12)
    wide = (600.0, 600.0, 639.5, 359.5)  # 1280x720: cut to 960x720, then shrunk 960 / 304
    assert crop.depth_factor(1280, 720, wide) == pytest.approx(600.0 * 304 / 960 / 250.0)


@pytest.mark.parametrize('mode', ['crop', 'stretch', 'center'])
def test_evaluate_scales_depth_as_the_node_does(tmp_path: Path, mode: str) -> None:
    export_model(tmp_path / 'camera.onnx', variant=CAMERA_VARIANT, seed=0)
    runner = runner_from_onnx(tmp_path / 'camera.json', input_mode=mode, num_threads=1)
    rgb = np.random.default_rng(0).integers(0, 256, (300, 500, 3), dtype=np.uint8)
    intrinsics = (420.0, 380.0, 249.5, 149.5)
    factor = runner.depth_factor(500, 300, intrinsics)
    mapping = runner.network_input_map(500, 300)
    expected = math.sqrt((420.0 / mapping.x.scale) * (380.0 / mapping.y.scale)) / 250.0
    assert factor == pytest.approx(expected, rel=1e-12)
    if mode != 'center':  # the node's own resize modes give the same factor
        spec = load_spec(tmp_path / 'camera.json')
        pipeline = DepthPipeline(spec, create_backend('onnxruntime', spec, num_threads=1), mode)
        camera = PinholeCamera(500, 300, *intrinsics)
        assert pipeline.depth_factor(camera) == pytest.approx(factor, rel=1e-12)
    with pytest.raises(Exception, match='intrinsics'):
        runner.predict(rgb)
    # The prediction's depth is the network's times the factor (log domain, then exp).
    with_k = runner.predict(rgb, intrinsics).depth
    runner.spec = dataclasses.replace(runner.spec, metric_scale=None)
    without = runner.predict(rgb).depth
    np.testing.assert_allclose(with_k, without * factor, rtol=1e-6)


def test_evaluate_scores_labels_on_generated_scenes(tmp_path: Path) -> None:
    """A labels model gets the pooled label measures; the confusion matrix counts every pixel."""
    from ros2_depth_trainer.evaluate import evaluate, format_table, open_dataset
    from ros2_depth_trainer.protocols import PROTOCOLS
    from ros2_depth_trainer.synth.writer import generate

    generate(tmp_path / 'data', count=2, seed=3, kind='robot', height=60, width=80, workers=1,
             progress=False)
    export_model(tmp_path / 'camera.onnx', variant=CAMERA_VARIANT, seed=0)
    runner = runner_from_onnx(tmp_path / 'camera.json', num_threads=1)
    result = evaluate(open_dataset('synthetic', [str(tmp_path / 'data')]), [runner],
                      PROTOCOLS['full'], train_mean=2.0, progress=False)
    column = result.columns[1]
    assert column.label_pixels == 2 * 60 * 80  # generated pixels all carry a label
    assert set(column.labels) == {'pixel_accuracy', 'mean_class_accuracy', 'mean_iou'}
    assert all(0.0 <= v <= 1.0 for v in column.labels.values())
    assert result.columns[0].labels is None  # the Mean baseline has no labels
    assert 'pixel accuracy' in format_table(result)
