"""
Scale-3 training windows (the 2015 paper's second stage): run on input windows, same maps.

``forward_windows`` computes scale 3 on a 120 x 158 input window per 55 x 74 output window. Its
maps must equal the full network's on every window pixel that the window's zero padding cannot
reach, and differ near the window's inner edges (so only the window was computed).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Dict, Sequence, Tuple

import numpy as np
import pytest
from ros2_depth_trainer.models import build_model, SemanticConfig, VARIANTS
from ros2_depth_trainer.models.eigen15 import crop_windows, OutputWindows, window_input_size
import torch
from torch import Tensor

SIZE = (55, 74)
# (top, left) per sample: a corner, the far corner, an interior window
OFFSETS = [(0, 0), (54, 73), (20, 31)]
# Rows/columns near a window's inner edge that its zero padding reaches: the scale-3 front
# (conv 9x9/2 padding 1, pool 3x3/1) pads the first row/column, then 3 convs 5x5 widen it by 2
# each: the first 7 and last 6 rows and columns.
HEAD, TAIL = 7, 6

Maps = Dict[str, Tensor]


def _check(full: Maps, windowed: Maps, offsets: Sequence[Tuple[int, int]]) -> None:
    interior = (20, 31)
    height, width = SIZE
    for key, value in windowed.items():
        assert value.shape[-2:] == SIZE
        for b, (top, left) in enumerate(offsets):
            want = full[key][b, :, top:top + height, left:left + width]
            got = value[b]
            r0 = 0 if top == 0 else HEAD  # at the image border the full net pads alike
            c0 = 0 if left == 0 else HEAD
            r1 = height if top + height == full[key].shape[-2] else height - TAIL
            c1 = width if left + width == full[key].shape[-1] else width - TAIL
            np.testing.assert_allclose(got[:, r0:r1, c0:c1].numpy(),
                                       want[:, r0:r1, c0:c1].numpy(), atol=1e-5, rtol=1e-5)
            if (top, left) == interior:  # an interior window sees padding near every edge
                assert float((got - want).abs().max()) > 1e-4


def _run(model: torch.nn.Module, run: Callable[..., Maps], inputs: Sequence[Tensor]
         ) -> Tuple[Maps, Maps]:
    with torch.no_grad():
        return run(*inputs), model.forward_windows(*inputs, windows=OutputWindows(OFFSETS, SIZE))


def test_input_window_is_the_authors_120_by_158() -> None:
    model = build_model(VARIANTS['light'])
    assert window_input_size(OutputWindows(OFFSETS, SIZE), model.output_grid()) == (120, 158)


def test_depth_and_normals_windows_match_the_full_network() -> None:
    torch.manual_seed(0)
    model = build_model(VARIANTS['light']).eval()
    image = torch.randn(len(OFFSETS), 3, 228, 304)
    full, windowed = _run(model, model, [image])
    assert set(windowed) == {'depth', 'normals'}
    _check(full, windowed, OFFSETS)


@pytest.mark.parametrize('size', [(229, 304), (228, 305), (231, 307)])
def test_odd_input_sizes_keep_the_far_windows(size: Tuple[int, int]) -> None:
    """With an odd size the last output row/column reads padding; far windows must too."""
    torch.manual_seed(0)
    config = dataclasses.replace(VARIANTS['light'], input_height=size[0], input_width=size[1])
    model = build_model(config).eval()
    height, width = model.output_size
    offsets = [(0, 0), (height - SIZE[0], width - SIZE[1]), (20, 31)]
    image = torch.randn(len(offsets), 3, *size)
    with torch.no_grad():
        full = model(image)
        windowed = model.forward_windows(image, OutputWindows(offsets, SIZE))
    _check(full, windowed, offsets)


def test_semantic_windows_match_the_full_network() -> None:
    torch.manual_seed(0)
    config = SemanticConfig(backbone='light', num_classes=4, fc_hidden=16, coarse_channels=8,
                            scale2_rgb_channels=8, scale2_depth_channels=4,
                            scale2_normals_channels=4, scale3_rgb_channels=8,
                            scale3_depth_channels=4, scale3_normals_channels=4, fine_channels=8)
    model = build_model(config).eval()
    batch = len(OFFSETS)
    normals = torch.randn(batch, 3, 228, 304)
    inputs = [torch.randn(batch, 3, 228, 304), 0.5 + 4 * torch.rand(batch, 1, 228, 304),
              normals / normals.norm(dim=1, keepdim=True)]
    full, windowed = _run(model, model, inputs)
    _check(full, windowed, OFFSETS)


def test_windows_must_fit_the_grid() -> None:
    model = build_model(VARIANTS['light']).eval()
    with pytest.raises(ValueError, match='leaves'):
        model.forward_windows(torch.zeros(1, 3, 228, 304), OutputWindows([(55, 0)], SIZE))
    with pytest.raises(ValueError, match='offsets for a batch'):
        crop_windows(torch.zeros(2, 1, 8, 8), [(0, 0)], (4, 4))
