"""Unit tests of the Eigen & Fergus 2015 semantic-labels network: sizes, classes, inputs."""

from __future__ import annotations

import dataclasses
import json
from typing import Dict, List

import pytest
from ros2_depth_trainer.export import seeded_model
from ros2_depth_trainer.models import (
    build_model, Eigen15Semantic, get_config, SemanticConfig, VARIANTS)
from ros2_depth_trainer.models.semantic import (
    labels_from_logits, LOG_DEPTH_EPS, log_depth_input, UNLABELLED)
import torch
from torch import nn, Tensor

SEMANTIC_VARIANTS = sorted(k for k, c in VARIANTS.items() if c.family == 'semantic')
# A CPU-sized model for the tests that run it: light scale 1, narrow scales 2 and 3.
SMALL = SemanticConfig(backbone='light', num_classes=13, fc_hidden=32, coarse_channels=8,
                       scale2_rgb_channels=8, scale2_depth_channels=4, scale2_normals_channels=4,
                       scale3_rgb_channels=8, scale3_depth_channels=4, scale3_normals_channels=4,
                       fine_channels=8)


def _meta_model(variant: str) -> Eigen15Semantic:
    with torch.device('meta'):
        return build_model(variant)


def _conv(in_channels: int, out_channels: int, kernel: int) -> int:
    return out_channels * in_channels * kernel * kernel + out_channels


def _fc(inputs: int, outputs: int) -> int:
    return inputs * outputs + outputs


def _inputs(batch: int = 1, seed: int = 0) -> Dict[str, Tensor]:
    generator = torch.Generator().manual_seed(seed)
    normals = torch.randn(batch, 3, 228, 304, generator=generator)
    return {'image': torch.randn(batch, 3, 228, 304, generator=generator),
            'depth': 0.5 + 4 * torch.rand(batch, 1, 228, 304, generator=generator),
            'normals': normals / normals.norm(dim=1, keepdim=True)}


def test_registry_has_the_papers_label_sets() -> None:
    assert SEMANTIC_VARIANTS == sorted(f'semantic-{backbone}-{classes}'
                                       for backbone in ('alexnet', 'vgg16')
                                       for classes in (4, 13, 40))
    for name in SEMANTIC_VARIANTS:
        config = VARIANTS[name]
        assert isinstance(config, SemanticConfig) and config.name == name
        assert config.num_outputs == config.num_classes + 1  # + channel 0, unlabelled
        assert config.dropout == 0.8


@pytest.mark.parametrize('variant', SEMANTIC_VARIANTS)
def test_layer_sizes(variant: str) -> None:
    model = _meta_model(variant)
    classes = model.config.num_classes
    assert model.scale2_size == (55, 74) and model.scale3_size == (109, 147)
    assert model.coarse_size == (14, 19)
    assert model.backbone_shape == {'vgg16': (512, 7, 9),
                                    'alexnet': (256, 6, 8)}[model.config.backbone]
    with torch.device('meta'):
        inputs = {'image': torch.empty(2, 3, 228, 304), 'depth': torch.empty(2, 1, 228, 304),
                  'normals': torch.empty(2, 3, 228, 304)}
        out = model(**inputs)
        scale2, scale3 = model.forward_scales(**inputs)
        outputs = model.forward_outputs(**inputs)
    assert list(out) == ['labels'] and out['labels'].shape == (2, classes + 1, 109, 147)
    assert scale2.shape == (2, classes + 1, 55, 74) and scale3.shape == out['labels'].shape
    assert outputs['scale2']['labels'].shape == scale2.shape
    assert model.output_grid() == (2.0, 5.0, 2.0, 5.0)
    assert model.output_grid('scale2') == (4.0, 5.0, 4.0, 5.0)


def test_parameter_count_by_hand() -> None:
    model = _meta_model('semantic-vgg16-40')
    vgg = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256),
           (256, 512), (512, 512), (512, 512), (512, 512), (512, 512), (512, 512)]
    scale1 = (sum(_conv(i, o, 3) for i, o in vgg)
              + _fc(512 * 7 * 9, 4096) + _fc(4096, 64 * 14 * 19))
    fronts = (_conv(3, 96, 9) + _conv(1, 32, 9) + _conv(3, 32, 9)
              + _conv(3, 64, 9) + _conv(1, 32, 9) + _conv(3, 32, 9))
    heads = (_conv(64 + 96 + 32 + 32, 64, 5) + 2 * _conv(64, 64, 5) + _conv(64, 41, 5)
             + _conv(41 + 64 + 32 + 32, 64, 5) + _conv(64, 64, 5) + _conv(64, 41, 5))
    assert sum(p.numel() for p in model.parameters()) == scale1 + fronts + heads
    # The VGG depth+normals model has about 217 M (test_eigen15); scale 1 is the same here.
    assert 216e6 < scale1 + fronts + heads < 219e6
    assert 124e6 < sum(p.numel() for p in _meta_model('semantic-alexnet-40').parameters()) < 126e6


def test_separate_first_convs_per_input() -> None:
    model = _meta_model('semantic-vgg16-13')
    shapes = {name: tuple(p.shape) for name, p in model.named_parameters()}
    assert shapes['scale2_fronts.rgb.0.weight'] == (96, 3, 9, 9)
    assert shapes['scale2_fronts.depth.0.weight'] == (32, 1, 9, 9)
    assert shapes['scale2_fronts.normals.0.weight'] == (32, 3, 9, 9)
    assert shapes['scale3_fronts.rgb.0.weight'] == (64, 3, 9, 9)
    assert shapes['scale3_head.0.weight'] == (64, 14 + 64 + 32 + 32, 5, 5)
    for fronts in (model.scale2_fronts, model.scale3_fronts):
        for front in fronts.values():  # conv, pool; the ReLU follows the concatenation
            assert [type(layer) for layer in front] == [nn.Conv2d, nn.MaxPool2d]


def test_depth_and_normals_inputs_influence_the_output() -> None:
    model = seeded_model(SMALL, 0).eval()
    base = _inputs()
    # One batch: the base inputs, then each input changed in turn.
    batch = {key: value.repeat(4, 1, 1, 1) for key, value in base.items()}
    batch['depth'][1] *= 2.0
    batch['normals'][2] *= -1.0
    batch['image'][3] *= 0.5
    with torch.no_grad():
        scale2, scale3 = model.forward_scales(**batch)
        assert scale3.shape == (4, 14, 109, 147) and torch.isfinite(scale3).all()
        for index, name in enumerate(('depth', 'normals', 'image'), start=1):
            assert (scale2[index] - scale2[0]).abs().max() > 1e-4, name
            assert (scale3[index] - scale3[0]).abs().max() > 1e-4, name
        # Through scale 3's own first convs too, not only via the scale-2 prediction: with a
        # constant scale-2 output, depth and normals still move scale 3.
        model.scale2_head[-1].weight.zero_()
        _, scale3 = model.forward_scales(**{k: v[:3] for k, v in batch.items()})
    for index, name in enumerate(('depth', 'normals'), start=1):
        assert (scale3[index] - scale3[0]).abs().max() > 1e-4, name


def test_depth_enters_as_log_depth() -> None:
    depth = torch.tensor([0.0, 1.0, 2.5, -1.0])
    expected = torch.log(torch.tensor([0.0, 1.0, 2.5, 0.0]) + LOG_DEPTH_EPS)
    assert torch.allclose(log_depth_input(depth), expected)
    assert log_depth_input(torch.zeros(1)).item() == pytest.approx(-9.2103, abs=1e-3)


def test_scale3_reads_scale2_probabilities() -> None:
    """The scale-2 scores reach scale 3 through a softmax (authors' code), ahead of the maps."""
    model = seeded_model(SMALL, 1).eval()
    seen: List[Tensor] = []
    hook = model.scale3_head[0].register_forward_hook(lambda m, args, out: seen.append(args[0]))
    with torch.no_grad():
        scale2, _ = model.forward_scales(**_inputs())
    hook.remove()
    probabilities = seen[0][:, :SMALL.num_outputs]
    assert torch.allclose(probabilities.sum(dim=1), torch.ones(()), atol=1e-5)
    expected = torch.softmax(scale2, dim=1).repeat_interleave(2, 2).repeat_interleave(2, 3)
    assert torch.allclose(probabilities, expected[:, :, :109, :147], atol=1e-6)
    assert (seen[0][:, SMALL.num_outputs:] >= 0).all()  # ReLU after the concatenation


def test_scale1_second_fc_is_linear() -> None:
    """Unlike the depth model's, the labels model's FC2 has no ReLU: its maps go negative."""
    model = seeded_model(SMALL, 2).eval()
    with torch.no_grad():
        coarse = model.coarse(_inputs()['image'])
    assert coarse.shape == (1, 8, 55, 74) and coarse.min() < 0


def test_labels_from_logits_never_predicts_unlabelled() -> None:
    logits = torch.zeros(2, 5, 3, 4)
    logits[:, UNLABELLED] = 10.0
    logits[0, 3] = 1.0
    logits[1, 1] = 2.0
    labels = labels_from_logits(logits)
    assert labels.shape == (2, 3, 4)
    assert (labels[0] == 3).all() and (labels[1] == 1).all()


def test_config_round_trips_and_checks() -> None:
    config = VARIANTS['semantic-vgg16-40']
    data = json.loads(json.dumps(dataclasses.asdict(config)))
    assert data['family'] == 'semantic'
    assert get_config(data) == config == SemanticConfig.from_dict(data)
    assert dataclasses.replace(SMALL, num_classes=4).num_outputs == 5
    with pytest.raises(ValueError):
        SemanticConfig(num_classes=0)
    with pytest.raises(ValueError):
        SemanticConfig(backbone='resnet')
    with pytest.raises(ValueError):
        SemanticConfig(scale2_depth_channels=0)
    with pytest.raises(ValueError):
        SemanticConfig.from_dict({**data, 'family': 'eigen15'})
