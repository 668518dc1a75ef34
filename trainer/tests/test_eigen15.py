"""Unit tests of the Eigen & Fergus 2015 network: sizes, parameter counts, output grid, heads."""

from __future__ import annotations

import dataclasses
import json
from typing import Callable, List, Sequence, Tuple

import pytest
from ros2_depth_trainer.export import seeded_model
from ros2_depth_trainer.models import build_model, Eigen15, Eigen15Config, get_config, VARIANTS
from ros2_depth_trainer.models.eigen15 import (
    FixedBilinearUpsample, layers_affine_map, layers_output_shape, triangle_kernel)
import torch
from torch import nn, Tensor


EIGEN15_VARIANTS = sorted(k for k, c in VARIANTS.items() if c.family == 'eigen15')


def _meta_model(variant: str) -> Eigen15:
    with torch.device('meta'):
        return build_model(variant)


def _count(model: nn.Module, prefixes: tuple = ()) -> int:
    return sum(p.numel() for name, p in model.named_parameters()
               if not prefixes or name.startswith(prefixes))


@pytest.mark.parametrize('variant', EIGEN15_VARIANTS)
def test_layer_sizes_follow_the_authors_code(variant: str) -> None:
    model = _meta_model(variant)
    assert isinstance(model, Eigen15)
    assert model.scale2_size == (55, 74)
    assert model.scale3_size == (109, 147)
    assert model.coarse_size == (14, 19)
    backbone = {'vgg16': (512, 7, 9), 'alexnet': (256, 6, 8), 'light': (16, 7, 9)}
    assert model.backbone_shape == backbone[model.config.backbone]
    with torch.device('meta'):
        out = model(torch.empty(2, 3, 228, 304))
        scale2, _ = model.forward_scales(torch.empty(2, 3, 228, 304))
    channels = model.config.task_channels
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        task: (2, c, 109, 147) for task, c in channels.items()}
    assert {k: tuple(v.shape) for k, v in scale2.items()} == {
        task: (2, c, 55, 74) for task, c in channels.items()}
    assert channels['depth'] == 1 and channels['normals'] == 3


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
    # From the layer shapes of the authors' .conf files: VGG variant about 217 M in all;
    # AlexNet about 123 M (its scale 1 alone is
    # 123.8 M; the scale-2 and scale-3 stacks add 1.4 M).
    assert 216e6 < _count(vgg) < 219e6
    assert 123e6 < _count(alexnet, ('backbone', 'fc')) < 124.5e6
    assert 123e6 < _count(alexnet) < 126e6
    # FC1 and FC2 as in depthnormals_nyud_vgg.conf: about 132 M and 70 M.
    assert vgg.fc1.weight.shape == (4096, 512 * 7 * 9)
    assert vgg.fc2.weight.shape == (64 * 14 * 19, 4096)
    # The light model's ONNX file is committed to git: keep its weights under 10 MB of float32.
    assert _count(_meta_model('light')) * 4 < 10e6


def test_variant_names() -> None:
    for backbone in ('vgg16', 'alexnet', 'light'):  # the earlier names stay
        assert VARIANTS[backbone] == VARIANTS[f'eigen15-{backbone}']
        assert VARIANTS[backbone].name == f'eigen15-{backbone}'
    assert VARIANTS['eigen15-vgg16'] == Eigen15Config()


def test_light_variant_keeps_the_structure_at_cpu_widths() -> None:
    """Three scales, both heads, the authors' layer pattern; only the widths are narrowed."""
    config = VARIANTS['light']
    assert config.tasks == ('depth', 'normals') and config.backbone == 'light'
    assert (config.input_height, config.input_width) == (228, 304)
    model = _meta_model('light')
    widths = {name: p.shape for name, p in model.named_parameters() if name.endswith('weight')}
    assert widths['scale2_front.0.weight'] == (48, 3, 9, 9)
    assert widths['scale3_front.0.weight'] == (32, 3, 9, 9)
    for task, channels in (('depth', 1), ('normals', 3)):
        assert widths[f'scale2_heads.{task}.0.weight'] == (32, 16 + 48, 5, 5)
        assert widths[f'scale2_heads.{task}.6.weight'] == (channels, 32, 5, 5)
        assert widths[f'scale3_heads.{task}.0.weight'] == (32, 32, 5, 5)
        assert widths[f'scale3_heads.{task}.4.weight'] == (channels, 32, 5, 5)
    assert len(model.scale2_heads['depth']) == 7 and len(model.scale3_heads['depth']) == 5
    assert widths['fc2.weight'] == (16 * 14 * 19, 256)


def test_scale3_width_defaults_to_the_scale2_width() -> None:
    """A config saved before ``scale3_fine_channels`` existed rebuilds the same layers."""
    legacy = {'backbone': 'light', 'fc_hidden': 256, 'coarse_channels': 16, 'fine_channels': 64}
    config = Eigen15Config.from_dict(legacy)
    assert config.scale3_fine_channels is None and config.scale3_hidden_channels == 64
    with torch.device('meta'):
        model = build_model(legacy)
    assert model.scale3_heads['depth'][0].weight.shape == (64, 64, 5, 5)
    narrow = dataclasses.replace(config, scale3_fine_channels=24)
    with torch.device('meta'):
        model = build_model(narrow)
    assert model.scale3_heads['normals'][2].weight.shape == (24, 24, 5, 5)
    assert model.scale2_heads['normals'][2].weight.shape == (64, 64, 5, 5)


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


@pytest.mark.parametrize('variant', EIGEN15_VARIANTS)
def test_output_grid_formula(variant: str) -> None:
    model = _meta_model(variant)
    assert model.output_grid() == (2.0, 5.0, 2.0, 5.0)
    assert model.output_grid('final') == (2.0, 5.0, 2.0, 5.0)
    assert model.output_grid('scale2') == (4.0, 5.0, 4.0, 5.0)
    with pytest.raises(ValueError, match='coarse'):
        model.output_grid('coarse')


def test_forward_outputs_gives_scale2_alone() -> None:
    model = seeded_model('light', 2).eval()
    image = torch.randn(1, 3, 228, 304)
    with torch.no_grad():
        outputs = model.forward_outputs(image)
        scale2, _ = model.forward_scales(image)
    assert list(outputs) == ['scale2']
    for task in ('depth', 'normals'):
        assert torch.equal(outputs['scale2'][task], scale2[task])


def changed_centres(run: Callable[[Tensor], Tensor], pixels: Sequence[Tuple[int, int]],
                    size: Tuple[int, int] = (228, 304)) -> List[Tuple[float, float]]:
    """Return, per input pixel (y, x), the centre (row, col) of the outputs it changes."""
    images = torch.zeros(1 + len(pixels), 3, *size, dtype=torch.float64)
    for index, (y, x) in enumerate(pixels, start=1):
        images[index, :, y, x] = 1.0
    outputs = run(images)
    centres = []
    for output in outputs[1:]:
        changed = (output - outputs[0]).abs() > 0
        rows = changed.any(dim=1).nonzero().flatten()
        cols = changed.any(dim=0).nonzero().flatten()
        assert len(rows) and len(cols)
        centres.append(((rows.min() + rows.max()).item() / 2,
                        (cols.min() + cols.max()).item() / 2))
    return centres


def _positive_light_model() -> Eigen15:
    # Positive weights keep every ReLU linear and every change positive.
    model = seeded_model('light', 0).double().eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            param.fill_(0.0 if name.endswith('bias') else 0.01)
    return model


def test_output_grid_empirically() -> None:
    """Perturb one input pixel: the changed outputs centre on (pixel - offset) / scale."""
    model = _positive_light_model()
    with torch.no_grad():
        # Cutting the scale-2 inputs of scale 3 leaves only the fine path, which is what defines
        # the output grid.
        for head in model.scale3_heads.values():
            head[0].weight[:, :model.num_predicted] = 0.0
        grid = model.output_grid()
        pixels = ((101, 151), (100, 150), (60, 233))
        centres = changed_centres(lambda images: model(images)['depth'][:, 0], pixels)
    for (y, x), (row, col) in zip(pixels, centres):
        assert row * grid.scale_y + grid.offset_y == pytest.approx(y)
        assert col * grid.scale_x + grid.offset_x == pytest.approx(x)


def test_scale2_grid_empirically() -> None:
    """The same for the scale-2 output (the first stage's), with the scale-1 maps cut off."""
    model = _positive_light_model()
    with torch.no_grad():
        for head in model.scale2_heads.values():
            head[0].weight[:, :model.config.coarse_channels] = 0.0
        grid = model.output_grid('scale2')
        # Stride 4: pixels 4 i + 3 sit at the centre of their outputs' footprint.
        pixels = ((103, 151), (59, 223))
        centres = changed_centres(
            lambda images: model.forward_outputs(images)['scale2']['depth'][:, 0], pixels)
    for (y, x), (row, col) in zip(pixels, centres):
        assert row * grid.scale_y + grid.offset_y == pytest.approx(y)
        assert col * grid.scale_x + grid.offset_x == pytest.approx(x)


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
    with pytest.raises(ValueError, match='unknown tasks'):
        Eigen15Config(tasks=('depth', 'disparity'))
    with pytest.raises(ValueError, match='num_classes'):
        Eigen15Config(tasks=('depth', 'labels'), num_classes=0)
    with pytest.raises(ValueError, match='canonical_focal'):
        Eigen15Config(canonical_focal=-250.0)
    with pytest.raises(ValueError):
        Eigen15Config(fine_channels=0)
    with pytest.raises(ValueError, match='eigen14'):
        Eigen15Config.from_dict({**data, 'family': 'eigen14'})
    assert data['family'] == 'eigen15'
    assert Eigen15Config.from_dict({k: v for k, v in data.items() if k != 'family'}) == config


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
