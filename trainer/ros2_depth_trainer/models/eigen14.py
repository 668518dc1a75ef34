"""
Eigen, Puhrsch & Fergus (NIPS 2014) coarse + fine depth network, NYU form, in pure torch.

The layout follows the authors' released Theano code (``models/depth.{conf,py}`` and
``pooling.py`` of the 2014 NYU release; public copy: hjimce/Depth-Map-Prediction on GitHub,
commit 11f818c) and the paper (Eigen, Puhrsch & Fergus, "Depth Map Prediction from a Single
Image using a Multi-Scale Deep Network", NIPS 2014, arXiv 1406.2283):

* Coarse: the AlexNet-style convolutions (``eigen15.alexnet_features``: 256 x 6 x 8 features
  from 228 x 304), x 0.01, FC 4096 + ReLU + dropout 0.5, FC 4070 = 55 x 74, linear.
* Fine: conv 9x9/2 + ReLU, max-pool 3x3/2 to 55 x 74 (63 maps), the coarse map concatenated
  as channel 0 (the authors overwrite channel 0 of 64 pooled maps, so the layout of conv 2's
  weights is theirs), conv 5x5 (64) + ReLU, conv 5x5 to 1 channel, linear.

Depth scale: the authors' network predicts ln(depth) / sigma with sigma = 0.4572 (the standard
deviation of NYU log-depths), and its fine stack reads the coarse prediction in those units.
This module keeps that parameterisation inside (``Eigen14Config.log_depth_std``) and multiplies
by sigma at its boundary, so every output is the natural log of metres, like Eigen15's, and
the losses and the export need no special case. Setting ``log_depth_std`` to 1 removes it.

KITTI band (``Eigen14Config.output_rows``): the paper's KITTI model predicts 27 x 142 from a
172 x 576 input (Fig. 1's table: "Coarse 7" and "Fine 1-4" are 142x27 for KITTI, /4 of the
input), not the 41 x 142 that the fine stack gives on the whole input. Section 4.2: LiDAR depth
exists only in the bottom part of the image; the whole image feeds the coarse stack, and "the
fine network sees the bottom crop corresponding to the target area". With ``output_rows`` = n
the coarse FC predicts n rows and the fine stack reads the input from row 4 (h - n) down, h
being the rows it gives on the whole input, so its output is exactly the bottom n rows of the
whole-input grid: at 172 x 576 (h = 41) and n = 27, input rows 56-171 (116 = 4 x 27 + 8 rows,
built like 228 = 4 x 55 + 8 for NYU), output row i on input row 4 i + 61. The paper does not
give the crop's rows; this is the choice that keeps the fine stack's own grid.

Input: one normalisation for both stacks (``config.mean``/``config.std``, by default the
authors' grey statistics of the fine stack, 109.3 +- 76.2 on 0..255). The authors fed the
coarse stack ``pixels - 128`` instead; the two differ by an affine map that the first
convolution can absorb (except in its zero padding). No files, devices or preprocessing inside.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Iterator, Tuple

from ros2_depth_trainer.models.config_base import family_field, ModelConfigBase
from ros2_depth_trainer.models.eigen15 import (
    AffineGrid, alexnet_features, FEATURE_SCALE, FINAL_OUTPUT,
    fine_stack, layers_affine_map, layers_output_shape, scale_front)
import torch
from torch import nn, Tensor
from torch.nn import functional as F

AUTHORS_LOG_DEPTH_STD = 0.45723134  # NYU log-depth standard deviation, 2014 release
AUTHORS_GREY_MEAN = 109.31410628 / 255.0  # the fine stack's input statistics, 2014 release
AUTHORS_GREY_STD = 76.18328376 / 255.0


@dataclasses.dataclass(frozen=True)
class Eigen14Config(ModelConfigBase):
    """Every setting that fixes the 2014 network's layers; saved in checkpoints and sidecars."""

    FAMILY = 'eigen14'  # not annotated, so not a field: see ``family``

    input_height: int = 228
    input_width: int = 304
    fc_hidden: int = 4096
    dropout: float = 0.5
    fine_channels: int = 64  # width of fine conv 2; conv 1 gives one map fewer (the coarse one)
    log_depth_std: float = AUTHORS_LOG_DEPTH_STD  # raw outputs are ln(metres) / log_depth_std
    output_rows: int = 0  # 0: the whole fine grid; n: only its bottom n rows (paper's KITTI: 27)
    mean: Tuple[float, float, float] = (AUTHORS_GREY_MEAN,) * 3
    std: Tuple[float, float, float] = (AUTHORS_GREY_STD,) * 3
    family: str = family_field(FAMILY)

    def __post_init__(self) -> None:
        """Turn sequences into tuples (JSON gives lists) and reject impossible settings."""
        self.freeze_sequences(('mean', 'std'))
        if self.fine_channels < 2:
            raise ValueError('fine_channels must be at least 2 (one map is the coarse output)')
        self.check_common((self.fc_hidden, self.fine_channels))
        if not self.log_depth_std > 0.0:
            raise ValueError(f'log_depth_std must be positive, got {self.log_depth_std}')
        if self.output_rows < 0:
            raise ValueError(f'output_rows must be 0 (all) or positive, got {self.output_rows}')

    @property
    def name(self) -> str:
        """Return the short model name."""
        return 'eigen14'

    @property
    def description(self) -> str:
        """Return one line naming the network, for sidecars and logs."""
        return 'Eigen et al. 2014 coarse + fine network (AlexNet coarse stack)'

    @property
    def tasks(self) -> Tuple[str, ...]:
        """Return the predicted maps: depth only."""
        return ('depth',)

    @property
    def task_channels(self) -> Dict[str, int]:
        """Return the output channels of each task."""
        return {'depth': 1}


class Eigen14(nn.Module):
    """The 2014 coarse + fine network; ``forward`` returns the fine log-depth (NYU 55 x 74)."""

    def __init__(self, config: Eigen14Config) -> None:
        """Build every layer from ``config``, with PyTorch's default initialisation."""
        super().__init__()
        self.config = config
        height, width = config.input_height, config.input_width

        # Coarse stack.
        self.backbone = alexnet_features()
        feat_c, feat_h, feat_w = layers_output_shape(self.backbone, 3, height, width)
        if feat_h < 1 or feat_w < 1:
            raise ValueError(f'input {height}x{width} is too small for the AlexNet stack')
        self.backbone_shape = (feat_c, feat_h, feat_w)

        # Fine stack; its grid (55 x 74 from 228 x 304) is also the coarse output's shape. With
        # output_rows it reads only the bottom input rows whose outputs are the grid's last rows.
        self.fine_front = scale_front(3, config.fine_channels - 1, 2)
        self.fine_head = fine_stack(config.fine_channels, config.fine_channels, 1, 1)
        _, out_h, out_w = layers_output_shape(self.fine_front, 3, height, width)
        self.fine_top = 0  # first input row the fine stack reads
        if config.output_rows:
            if config.output_rows > out_h:
                raise ValueError(f'output_rows {config.output_rows} exceeds the {out_h} rows '
                                 f'of a {height}x{width} input')
            stride = int(layers_affine_map([self.fine_front]).scale_y)
            self.fine_top = stride * (out_h - config.output_rows)
            out_h = layers_output_shape(self.fine_front, 3, height - self.fine_top, width)[1]
            assert out_h == config.output_rows, 'the fine stack drops rows unevenly'
        self._output_size = (out_h, out_w)

        self.fc1 = nn.Linear(feat_c * feat_h * feat_w, config.fc_hidden)
        self.fc_dropout = nn.Dropout(config.dropout)
        self.fc2 = nn.Linear(config.fc_hidden, out_h * out_w)

    @property
    def output_size(self) -> Tuple[int, int]:
        """Return (height, width) of the output maps: 55 x 74 for 228 x 304, KITTI 27 x 142."""
        return self._output_size

    def output_grid(self, output: str = FINAL_OUTPUT) -> AffineGrid:
        """
        Return the output-to-input pixel-centre map, derived from the fine layers.

        4 x + 5 for the NYU model: the pixels that the authors' targets sample (the input crop
        less 4 pixels per side, subsampled ``[1::4]``); rows 4 y + 5 + ``fine_top`` with
        ``output_rows`` (4 y + 61 for KITTI's 27 rows). The 'coarse' output has no
        convolutional footprint of its own; it is trained on the same targets, so it shares
        this grid.
        """
        if output not in (FINAL_OUTPUT, 'coarse'):
            raise ValueError(f'eigen14 has no output {output!r}; it has {FINAL_OUTPUT!r} '
                             "and 'coarse'")
        grid = layers_affine_map([self.fine_front, self.fine_head])
        return grid._replace(offset_y=grid.offset_y + self.fine_top)

    def coarse_parameters(self) -> Iterator[nn.Parameter]:
        """Yield the coarse stack's parameters (trained first, frozen for the fine stage)."""
        for module in (self.backbone, self.fc1, self.fc2):
            yield from module.parameters()

    def fine_parameters(self) -> Iterator[nn.Parameter]:
        """Yield the fine stack's parameters (the second training stage)."""
        for module in (self.fine_front, self.fine_head):
            yield from module.parameters()

    def _coarse_raw(self, image: Tensor) -> Tensor:
        feats = FEATURE_SCALE * torch.flatten(self.backbone(image), 1)
        hidden = self.fc_dropout(F.relu(self.fc1(feats)))
        return self.fc2(hidden).reshape(-1, 1, *self._output_size)

    def forward_stages(self, image: Tensor) -> Tuple[Tensor, Tensor]:
        """Return the coarse and the fine log-depth maps, (N, 1, *output_size), ln(metres)."""
        coarse = self._coarse_raw(image)
        band = image
        if self.fine_top:  # the bottom crop that the fine stack reads (output_rows)
            band = image.narrow(2, self.fine_top, image.shape[2] - self.fine_top)
        fine_input = torch.cat([coarse, self.fine_front(band)], dim=1)
        fine = self.fine_head(fine_input)
        scale = self.config.log_depth_std
        return coarse * scale, fine * scale

    def forward_coarse(self, image: Tensor) -> Dict[str, Tensor]:
        """Map a normalised RGB batch to {'depth': the coarse stack's ln(metres)} only."""
        return {'depth': self._coarse_raw(image) * self.config.log_depth_std}

    def forward_outputs(self, image: Tensor) -> Dict[str, Dict[str, Tensor]]:
        """Return the intermediate outputs by name: {'coarse': {'depth': map}} (first stage)."""
        return {'coarse': self.forward_coarse(image)}

    def forward(self, image: Tensor) -> Dict[str, Tensor]:
        """Map a normalised RGB batch (N, 3, H, W) to {'depth': (N, 1, h, w) ln(metres)}."""
        return {'depth': self.forward_stages(image)[1]}
