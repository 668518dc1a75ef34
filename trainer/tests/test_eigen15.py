"""Unit tests of the Eigen & Fergus 2015 network: sizes, parameter counts, output grid, heads."""

from __future__ import annotations

import dataclasses
import json

import pytest
from ros2_depth_trainer.export import seeded_model
from ros2_depth_trainer.models import build_model, Eigen15, Eigen15Config, get_config, VARIANTS
from ros2_depth_trainer.models.eigen15 import (
    FixedBilinearUpsample, layers_affine_map, layers_output_shape, triangle_kernel)
import torch
from torch import nn


def _meta_model(variant: str) -> Eigen15:
    with torch.device('meta'):
        return build_model(variant)


def _count(model: nn.Module, prefixes: tuple = ()) -> int:
    return sum(p.numel() for name, p in model.named_parameters()
               if not prefixes or name.startswith(prefixes))


@pytest.mark.parametrize('variant', sorted(VARIANTS))
def test_layer_sizes_follow_the_authors_code(variant: str) -> None:
    model = _meta_model(variant)
    assert model.scale2_size == (55, 74)
    assert model.scale3_size == (109, 147)
    assert model.coarse_size == (14, 19)
    backbone = {'vgg16': (512, 7, 9), 'alexnet': (256, 6, 8), 'light': (16, 7, 9)}[variant]
    assert model.backbone_shape == backbone
    with torch.device('meta'):
        out = model(torch.empty(2, 3, 228, 304))
        scale2, _ = model.forward_scales(torch.empty(2, 3, 228, 304))
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        'depth': (2, 1, 109, 147), 'normals': (2, 3, 109, 147)}
    assert {k: tuple(v.shape) for k, v in scale2.items()} == {
        'depth': (2, 1, 55, 74), 'normals': (2, 3, 55, 74)}


def test_light_forward_on_cpu() -> None:
    model = seeded_model('light', 0).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 228, 304))
    assert out['depth'].shape == (2, 1, 109, 147)
    assert out['normals'].shape == (2, 3, 109, 147)
    assert all(torch.isfinite(v).all() for v in out.values())


def test_parameter_counts() -> None:
    vgg = _meta_model('vgg16')
    alexnet = _meta_model('alexnet')
    # Reference notes: VGG variant about 217 M in all; AlexNet about 123 M (its scale 1 alone is
    # 123.8 M; the scale-2 and scale-3 stacks add 1.4 M).
    assert 216e6 < _count(vgg) < 219e6
    assert 123e6 < _count(alexnet, ('backbone', 'fc')) < 124.5e6
    assert 123e6 < _count(alexnet) < 126e6
    # FC1 and FC2 as in the notes: about 132 M and 70 M.
    assert vgg.fc1.weight.shape == (4096, 512 * 7 * 9)
    assert vgg.fc2.weight.shape == (64 * 14 * 19, 4096)
    # The light model's ONNX file is committed to git: keep its weights under 12 MB of float32.
    assert _count(_meta_model('light')) * 4 < 12e6


def test_fixed_upsampling_is_the_authors_bilinear() -> None:
    assert triangle_kernel(4)[3].tolist() == [0.25, 0.5, 0.75, 1.0, 0.75, 0.5, 0.25]
    up = FixedBilinearUpsample(channels=2, factor=4, out_size=(55, 74), crop=2)
    assert not list(up.parameters()) and not up.state_dict()  # fixed, not in checkpoints
    coarse = torch.randn(1, 2, 14, 19, dtype=torch.float64)
    full = nn.functional.conv_transpose2d(coarse, up.kernel.double(), stride=4, groups=2)
    assert full.shape[-2:] == (59, 79)
    assert torch.equal(up.to(torch.float64)(coarse), full[:, :, 2:-2, 2:-3])
    # Inside, a ramp stays a ramp: input sample i lands on output 4 i + 3 - crop.
    ramp = torch.arange(19, dtype=torch.float64).expand(1, 2, 14, 19).contiguous()
    row = up(ramp)[0, 0, 20]
    expected = (torch.arange(74, dtype=torch.float64) + 2 - 3) / 4  # crop 2, offset 3
    assert torch.allclose(row[2:-3], expected[2:-3])


def test_affine_map_rule() -> None:
    layers = [nn.Conv2d(3, 4, 9, stride=2, padding=1), nn.ReLU(), nn.MaxPool2d(3, 1)]
    assert layers_affine_map(layers) == (2.0, 5.0, 2.0, 5.0)
    assert layers_output_shape(layers, 3, 228, 304) == (4, 109, 147)
    # conv 3/2: i -> 2 i + 1; pool 2/2: j -> 2 j + 0.5; composed: 4 j + 2.
    strided = [nn.Conv2d(1, 1, 3, stride=2), nn.MaxPool2d(2, 2)]
    assert layers_affine_map(strided) == (4.0, 2.0, 4.0, 2.0)


@pytest.mark.parametrize('variant', sorted(VARIANTS))
def test_output_grid_formula(variant: str) -> None:
    grid = _meta_model(variant).output_grid()
    assert (grid.scale_x, grid.offset_x, grid.scale_y, grid.offset_y) == (2.0, 5.0, 2.0, 5.0)


def test_output_grid_empirically() -> None:
    """Perturb one input pixel: the changed outputs centre on (pixel - offset) / scale."""
    model = seeded_model('light', 0).double().eval()
    with torch.no_grad():
        # Positive weights keep every ReLU linear and every change positive; cutting the scale-2
        # inputs of scale 3 leaves only the fine path, which is what defines the output grid.
        for name, param in model.named_parameters():
            param.fill_(0.0 if name.endswith('bias') else 0.01)
        for head in model.scale3_heads.values():
            head[0].weight[:, :model.num_predicted] = 0.0
        base = model(torch.zeros(1, 3, 228, 304, dtype=torch.float64))['depth'][0, 0]
        grid = model.output_grid()
        for y, x in ((101, 151), (100, 150), (60, 233)):
            image = torch.zeros(1, 3, 228, 304, dtype=torch.float64)
            image[0, :, y, x] = 1.0
            changed = (model(image)['depth'][0, 0] - base).abs() > 0
            rows = changed.any(dim=1).nonzero().flatten()
            cols = changed.any(dim=0).nonzero().flatten()
            assert len(rows) and len(cols)
            centre_row = (rows.min() + rows.max()).item() / 2
            centre_col = (cols.min() + cols.max()).item() / 2
            assert centre_row * grid.scale_y + grid.offset_y == pytest.approx(y)
            assert centre_col * grid.scale_x + grid.offset_x == pytest.approx(x)


def test_normals_have_unit_length() -> None:
    model = seeded_model('light', 1).eval()
    with torch.no_grad():
        scale2, scale3 = model.forward_scales(torch.randn(1, 3, 228, 304))
    for normals in (scale2['normals'], scale3['normals']):
        assert torch.allclose(normals.norm(dim=1), torch.ones(()), atol=1e-5)


def test_single_task_model() -> None:
    model = build_model(dataclasses.replace(VARIANTS['light'], tasks=('depth',))).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 228, 304))
    assert list(out) == ['depth'] and out['depth'].shape == (1, 1, 109, 147)


def test_config_round_trips_through_json() -> None:
    config = VARIANTS['light']
    data = json.loads(json.dumps(dataclasses.asdict(config)))
    assert Eigen15Config.from_dict(data) == config
    assert get_config(data) == config
    with pytest.raises(ValueError):
        Eigen15Config.from_dict({**data, 'surprise': 1})
    with pytest.raises(ValueError):
        get_config('resnet')
    with pytest.raises(ValueError):
        Eigen15Config(tasks=('depth', 'labels'))


def test_seeded_model_is_reproducible_and_leaves_global_rng_alone() -> None:
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    a = seeded_model('light', 7)
    after = torch.rand(1)
    b = seeded_model('light', 7)
    c = seeded_model('light', 8)
    assert torch.equal(after, expected)
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    assert not torch.equal(a.fc2.weight, c.fc2.weight)
