"""Unit tests of the Eigen et al. 2014 coarse + fine network: sizes, parameters, grid, stages."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Sequence, Tuple

import pytest
from ros2_depth_trainer.config import load_config
from ros2_depth_trainer.export import seeded_model
from ros2_depth_trainer.models import (
    build_model, Eigen14, Eigen14Config, Eigen15Config, get_config, VARIANTS)
from ros2_depth_trainer.models.eigen14 import AUTHORS_LOG_DEPTH_STD
from ros2_depth_trainer.models.eigen15 import alexnet_features
from ros2_depth_trainer.sidecar import model_spec
from ros2_depth_trainer.train import grid_indices, model_config
from test_eigen15 import changed_centres
import torch
from torch import nn

# A small coarse stack (FC 32 instead of 4096) for tests that run on the CPU; every other layer
# is the NYU model's.
SMALL = Eigen14Config(fc_hidden=32)
KITTI_CONFIG = Path(__file__).resolve().parents[1] / 'configs' / 'kitti_eigen14.yaml'
KITTI_INPUT = (172, 576)


def _meta_model(config: Eigen14Config = VARIANTS['eigen14']) -> Eigen14:
    with torch.device('meta'):
        return build_model(config)


def _conv(in_channels: int, out_channels: int, kernel: int) -> int:
    return out_channels * in_channels * kernel * kernel + out_channels


def _fc(inputs: int, outputs: int) -> int:
    return inputs * outputs + outputs


def test_layer_sizes_follow_the_authors_code() -> None:
    model = _meta_model()
    assert isinstance(model, Eigen14) and model.config.name == 'eigen14'
    assert model.backbone_shape == (256, 6, 8)
    assert model.output_size == (55, 74)
    assert model.fc1.weight.shape == (4096, 256 * 6 * 8)
    assert model.fc2.weight.shape == (55 * 74, 4096)
    assert model.fine_front[0].weight.shape == (63, 3, 9, 9)
    assert model.fine_head[0].weight.shape == (64, 64, 5, 5)
    assert model.fine_head[2].weight.shape == (1, 64, 5, 5)
    assert model.fc_dropout.p == 0.5
    with torch.device('meta'):
        image = torch.empty(2, 3, 228, 304)
        out = model(image)
        coarse = model.forward_coarse(image)
        outputs = model.forward_outputs(image)
    assert {k: tuple(v.shape) for k, v in out.items()} == {'depth': (2, 1, 55, 74)}
    assert {k: tuple(v.shape) for k, v in coarse.items()} == {'depth': (2, 1, 55, 74)}
    assert list(outputs) == ['coarse'] and outputs['coarse']['depth'].shape == (2, 1, 55, 74)


def test_coarse_stack_layer_order_is_the_authors() -> None:
    """Follow the 2014 release: conv, pool, ReLU, LRN twice; then convs with ReLU, last pooled."""
    layers = list(_meta_model().backbone)
    kinds = [type(layer).__name__ for layer in layers]
    assert kinds == ['Conv2d', 'MaxPool2d', 'ReLU', 'LocalResponseNorm',
                     'Conv2d', 'MaxPool2d', 'ReLU', 'LocalResponseNorm',
                     'Conv2d', 'ReLU', 'Conv2d', 'ReLU', 'Conv2d', 'MaxPool2d', 'ReLU']
    convs = [(c.out_channels, c.kernel_size[0], c.stride[0], c.padding[0])
             for c in layers if isinstance(c, nn.Conv2d)]
    assert convs == [(96, 11, 4, 2), (256, 5, 1, 2), (384, 3, 1, 1), (384, 3, 1, 1),
                     (256, 3, 1, 1)]
    pools = [(p.kernel_size, p.stride) for p in layers if isinstance(p, nn.MaxPool2d)]
    assert pools == [(3, 2)] * 3


def test_parameter_count_by_hand() -> None:
    model = _meta_model()
    coarse = (_conv(3, 96, 11) + _conv(96, 256, 5) + _conv(256, 384, 3) + _conv(384, 384, 3)
              + _conv(384, 256, 3) + _fc(256 * 6 * 8, 4096) + _fc(4096, 55 * 74))
    fine = _conv(3, 63, 9) + _conv(64, 64, 5) + _conv(64, 1, 5)
    assert sum(p.numel() for p in model.coarse_parameters()) == coarse
    assert sum(p.numel() for p in model.fine_parameters()) == fine
    assert sum(p.numel() for p in model.parameters()) == coarse + fine == 70_877_171
    everything = {id(p) for p in model.parameters()}
    stages = [id(p) for p in model.coarse_parameters()] + [id(p) for p in model.fine_parameters()]
    assert len(stages) == len(set(stages)) == len(everything)


def test_output_grid_formula() -> None:
    model = _meta_model()
    assert model.output_grid() == (4.0, 5.0, 4.0, 5.0)
    assert model.output_grid('coarse') == model.output_grid('final')
    with pytest.raises(ValueError, match='scale2'):
        model.output_grid('scale2')


def _fine_path_model(config: Eigen14Config) -> Eigen14:
    """Build ``config`` with the fine path alone: positive weights, no biases, coarse map cut."""
    model = build_model(config).double().eval()
    with torch.no_grad():
        # Positive weights keep every ReLU linear and every change positive; cutting the coarse
        # channel leaves the fine path, which defines the grid.
        for name, param in model.named_parameters():
            param.fill_(0.0 if name.endswith('bias') else 0.01)
        model.fine_head[0].weight[:, 0] = 0.0
    return model


def _check_grid_empirically(model: Eigen14, pixels: Sequence[Tuple[int, int]],
                            size: Tuple[int, int]) -> None:
    """Perturb each input pixel; the fine outputs it changes centre on it through the grid."""
    grid = model.output_grid()
    with torch.no_grad():
        centres = changed_centres(lambda images: model(images)['depth'][:, 0], pixels, size)
    for (y, x), (row, col) in zip(pixels, centres):
        assert row * grid.scale_y + grid.offset_y == pytest.approx(y)
        assert col * grid.scale_x + grid.offset_x == pytest.approx(x)


def test_output_grid_empirically() -> None:
    """Perturb one input pixel: the changed fine outputs centre on (pixel - 5) / 4."""
    # Stride 4: pixels 4 i + 3 sit at the centre of their outputs' footprint.
    _check_grid_empirically(_fine_path_model(SMALL), ((103, 151), (59, 223), (43, 275)),
                            (228, 304))


def _kitti_config() -> Eigen14Config:
    config = model_config(load_config(KITTI_CONFIG).model)
    assert isinstance(config, Eigen14Config)
    return config


def test_kitti_config_predicts_the_papers_bottom_band() -> None:
    """
    KITTI: 27 x 142 (the 2014 paper's Fig. 1 table) on input rows 61 + 4 i, the bottom band.

    The coarse sizes are the table's (17x4 features from 576x172); the fine stack reads input
    rows 56-171 (section 4.2: "the fine network sees the bottom crop"); the band is the last 27
    rows of the 41-row whole-input grid, and training targets are picked on exactly those rows.
    """
    config = _kitti_config()
    assert (config.input_height, config.input_width, config.output_rows) == (*KITTI_INPUT, 27)
    model = _meta_model(config)
    assert model.backbone_shape == (256, 4, 17)
    assert model.output_size == (27, 142)
    assert model.fc2.weight.shape == (27 * 142, 4096)
    assert model.fine_top == 56
    grid = model.output_grid()
    assert grid == (4.0, 5.0, 4.0, 61.0) and model.output_grid('coarse') == grid
    with torch.device('meta'):
        image = torch.empty(2, 3, *KITTI_INPUT)
        assert model(image)['depth'].shape == (2, 1, 27, 142)
        assert model.forward_coarse(image)['depth'].shape == (2, 1, 27, 142)
    rows, cols = grid_indices(grid, model.output_size, KITTI_INPUT)
    assert rows.tolist() == list(range(61, 166, 4)) and cols.tolist() == list(range(5, 570, 4))

    whole = _meta_model(dataclasses.replace(config, output_rows=0))
    assert whole.output_size == (41, 142) and whole.output_grid() == (4.0, 5.0, 4.0, 5.0)
    whole_rows, _ = grid_indices(whole.output_grid(), whole.output_size, KITTI_INPUT)
    assert whole_rows[-27:].tolist() == rows.tolist()

    spec = model_spec(model, onnx_file='', onnx_sha256='', trained=False)
    assert (spec.outputs['depth'].height, spec.outputs['depth'].width) == (27, 142)
    assert (spec.output_grid.scale_y, spec.output_grid.offset_y) == (4.0, 61.0)
    with pytest.raises(ValueError, match='output_rows'):
        build_model(dataclasses.replace(config, output_rows=42))
    with pytest.raises(ValueError, match='output_rows'):
        Eigen14Config(output_rows=-1)


def test_kitti_band_grid_empirically() -> None:
    """The fine outputs a pixel changes centre on (pixel - 61) / 4; rows above 56 change none."""
    model = _fine_path_model(dataclasses.replace(_kitti_config(), fc_hidden=8))
    # 4 i + 3, away from the edges of the fine stack's crop (rows 56-171).
    _check_grid_empirically(model, ((99, 99), (115, 303), (135, 479)), KITTI_INPUT)
    above = torch.zeros(2, 3, *KITTI_INPUT, dtype=torch.float64)
    above[1, :, :56] = 1.0
    with torch.no_grad():
        out = model(above)['depth']
    assert torch.equal(out[0], out[1])


def test_outputs_are_ln_metres_and_the_fine_stack_reads_the_coarse_map() -> None:
    """The authors' ln(depth) / sigma stays inside; both outputs come out in ln(metres)."""
    assert VARIANTS['eigen14'].log_depth_std == AUTHORS_LOG_DEPTH_STD
    scaled = seeded_model(SMALL, 3).eval()
    plain = build_model(dataclasses.replace(SMALL, log_depth_std=1.0)).eval()
    plain.load_state_dict(scaled.state_dict())
    image = torch.randn(1, 3, 228, 304)
    with torch.no_grad():
        coarse, fine = scaled.forward_stages(image)
        raw_coarse, raw_fine = plain.forward_stages(image)
        assert torch.allclose(coarse, AUTHORS_LOG_DEPTH_STD * raw_coarse, atol=1e-6)
        assert torch.allclose(fine, AUTHORS_LOG_DEPTH_STD * raw_fine, atol=1e-6)
        assert torch.equal(scaled(image)['depth'], fine)
        assert torch.equal(scaled.forward_coarse(image)['depth'], coarse)

        # The coarse map reaches the fine stack as channel 0 of its second conv, and only so.
        scaled.fc2.bias += 1.0
        _, shifted = scaled.forward_stages(image)
        scaled.fine_head[0].weight[:, 0] = 0.0
        _, cut = scaled.forward_stages(image)
        scaled.fc2.bias -= 1.0
        _, cut_back = scaled.forward_stages(image)
    assert not torch.allclose(shifted, fine)
    assert torch.equal(cut, cut_back)


def test_forward_on_cpu_and_dropout() -> None:
    model = seeded_model(SMALL, 0)
    image = torch.randn(2, 3, 228, 304)
    with torch.no_grad():
        model.train()
        first, second = model.forward_coarse(image)['depth'], model.forward_coarse(image)['depth']
        model.eval()
        third, fourth = model.forward_coarse(image)['depth'], model.forward_coarse(image)['depth']
        out = model(image)['depth']
    assert not torch.equal(first, second)  # dropout 0.5 after FC1 in training
    assert torch.equal(third, fourth)
    assert out.shape == (2, 1, 55, 74) and torch.isfinite(out).all()


def test_config_round_trips_and_names_its_family() -> None:
    config = VARIANTS['eigen14']
    data = json.loads(json.dumps(dataclasses.asdict(config)))
    assert data['family'] == 'eigen14'
    assert Eigen14Config.from_dict(data) == config
    assert get_config(data) == config and isinstance(get_config(data), Eigen14Config)
    assert config.tasks == ('depth',) and config.task_channels == {'depth': 1}
    with pytest.raises(ValueError, match='eigen14'):
        Eigen15Config.from_dict(data)
    with pytest.raises(ValueError, match='unknown'):
        get_config({**data, 'family': 'eigen99'})
    with pytest.raises(ValueError):
        Eigen14Config(fine_channels=1)
    with pytest.raises(ValueError):
        Eigen14Config(log_depth_std=0.0)
    with pytest.raises(ValueError):
        Eigen14Config(dropout=1.0)


def test_lrn_is_the_authors_cross_map_formula() -> None:
    """The coarse stack's LRN computes b = a / (2 + 1e-4 sum_window a^2)^0.75 (no 1/size)."""
    lrn = [m for m in alexnet_features() if isinstance(m, nn.LocalResponseNorm)]
    assert len(lrn) == 2
    torch.manual_seed(0)
    a = 30.0 * torch.randn(2, 11, 3, 4, dtype=torch.float64)  # large, as after conv 1
    squares = a ** 2
    sums = torch.zeros_like(a)
    for c in range(a.shape[1]):  # window of 5 maps centred on c, cut at the ends
        sums[:, c] = squares[:, max(0, c - 2):c + 3].sum(1)
    expected = a / (2.0 + 1e-4 * sums) ** 0.75
    for layer in lrn:
        torch.testing.assert_close(layer(a), expected, rtol=1e-12, atol=0.0)
