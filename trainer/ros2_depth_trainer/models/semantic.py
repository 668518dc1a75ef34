"""
Eigen & Fergus (ICCV 2015) semantic-labels network, in pure torch.

The layout follows the authors' released labels model (Theano, NYU; part of the "dnl" ICCV15
release, whose public copy is jhmitchel/eecs442normals-w18 on GitHub) and the paper (Eigen &
Fergus, ICCV 2015, arXiv 1411.4734):

* Scale 1 sees RGB only: the same backbones as Eigen15 (AlexNet, VGG16 or 'light'), features
  x 0.01, FC ``fc_hidden`` + ReLU + dropout 0.8, FC ``coarse_channels x 14 x 19`` *linear*
  (the depth model has a ReLU there), fixed bilinear x4 upsampling to 55 x 74.
* Scale 2: separate first convs (9x9/2) for RGB, log(depth + 1e-4) and normals
  (``conv_s2_1_{rgb,d,n}``), each max-pooled 3x3/2; the pooled maps are concatenated and passed
  through a ReLU, then concatenated after the scale-1 maps; 3 x (conv 5x5 + ReLU), conv 5x5 to
  the class scores.
* Scale 3: the same three first convs (pool 3x3/1 to 109 x 147), concatenated with the scale-2
  class *probabilities* (softmax, nearest x2, crop ``[:-1, :-1]``); 2 x (conv 5x5 + ReLU),
  conv 5x5 to the class scores.

Classes: ``num_classes`` (4, 13 or 40 for NYU) plus channel 0 for "unlabelled", as in the
authors' label maps: label values index the score channels directly. Channel 0 is never a
target (the loss ignores pixels labelled 0, i.e. ``ignore_index=UNLABELLED``), and
``labels_from_logits`` never predicts it. The module returns logits; the softmax belongs to the
loss (and, internally, to the scale-2 -> scale-3 hand-over, as in the authors' code).

The widths of the depth and normals first convs are not in any source the team could read (the
labels model was seen without its ``.conf``); the defaults here are a documented guess.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Optional, Tuple

from ros2_depth_trainer.models.config_base import family_field, ModelConfigBase
from ros2_depth_trainer.models.eigen15 import (
    add_backbone, add_coarse_layers, AffineGrid, check_backbone_settings, check_window_output,
    FEATURE_SCALE, FINAL_OUTPUT, fine_stack, IMAGENET_MEAN, IMAGENET_STD, layers_affine_map,
    OutputWindows, scale3_window_inputs, scale_front, scale_grids, upsample_to_scale3)
import torch
from torch import nn, Tensor
from torch.nn import functional as F

UNLABELLED = 0  # label value of pixels without a class; also the ignored score channel
LOG_DEPTH_EPS = 1e-4  # the authors' input transform: log(depth + 1e-4), depth in metres
MODALITIES: Dict[str, int] = {'rgb': 3, 'depth': 1, 'normals': 3}  # input channels of each


@dataclasses.dataclass(frozen=True)
class SemanticConfig(ModelConfigBase):
    """Every setting that fixes the labels network's layers; saved in checkpoints."""

    FAMILY = 'semantic'  # not annotated, so not a field: see ``family``

    backbone: str = 'vgg16'
    num_classes: int = 40  # not counting "unlabelled" (score channel 0)
    fc_hidden: int = 4096
    coarse_channels: int = 64
    input_height: int = 228
    input_width: int = 304
    dropout: float = 0.8
    scale2_rgb_channels: int = 96  # conv_s2_1_rgb
    scale2_depth_channels: int = 32  # conv_s2_1_d (width unverified)
    scale2_normals_channels: int = 32  # conv_s2_1_n (width unverified)
    scale3_rgb_channels: int = 64  # conv_s3_1_rgb
    scale3_depth_channels: int = 32  # conv_s3_1_d (width unverified)
    scale3_normals_channels: int = 32  # conv_s3_1_n (width unverified)
    fine_channels: int = 64  # hidden width of the 5x5 stacks at scales 2 and 3
    light_channels: Tuple[int, ...] = (32, 64, 128, 256)  # 'light': 3x3 stride-2 convs
    light_feature_channels: int = 16  # 'light': 1x1 bottleneck before the FC layers
    mean: Tuple[float, float, float] = IMAGENET_MEAN
    std: Tuple[float, float, float] = IMAGENET_STD
    family: str = family_field(FAMILY)

    def __post_init__(self) -> None:
        """Turn sequences into tuples (JSON gives lists) and reject impossible settings."""
        self.freeze_sequences(('light_channels', 'mean', 'std'))
        check_backbone_settings(self.backbone, self.light_channels, self.light_feature_channels)
        if self.num_classes < 1:
            raise ValueError(f'num_classes must be positive, got {self.num_classes}')
        self.check_common((self.fc_hidden, self.coarse_channels, self.fine_channels,
                           *self.scale2_widths.values(), *self.scale3_widths.values()))

    @property
    def name(self) -> str:
        """Return the short model name, e.g. 'semantic-vgg16-40'."""
        return f'semantic-{self.backbone}-{self.num_classes}'

    @property
    def description(self) -> str:
        """Return one line naming the network, for sidecars and logs."""
        return (f'Eigen & Fergus 2015 three-scale semantic-labels network ({self.backbone} '
                f'scale 1, {self.num_classes} classes)')

    @property
    def num_outputs(self) -> int:
        """Return the score channels: the classes plus channel 0, "unlabelled"."""
        return self.num_classes + 1

    @property
    def tasks(self) -> Tuple[str, ...]:
        """Return the predicted maps: labels only."""
        return ('labels',)

    @property
    def task_channels(self) -> Dict[str, int]:
        """Return the output channels of each task."""
        return {'labels': self.num_outputs}

    @property
    def scale2_widths(self) -> Dict[str, int]:
        """Return the widths of the scale-2 first convs, per input."""
        return {'rgb': self.scale2_rgb_channels, 'depth': self.scale2_depth_channels,
                'normals': self.scale2_normals_channels}

    @property
    def scale3_widths(self) -> Dict[str, int]:
        """Return the widths of the scale-3 first convs, per input."""
        return {'rgb': self.scale3_rgb_channels, 'depth': self.scale3_depth_channels,
                'normals': self.scale3_normals_channels}


def log_depth_input(depth: Tensor) -> Tensor:
    """Return the authors' depth input, log(depth + 1e-4); missing depth (0) maps to ln 1e-4."""
    return torch.log(depth.clamp_min(0.0) + LOG_DEPTH_EPS)


def labels_from_logits(logits: Tensor) -> Tensor:
    """Return the predicted class per pixel, (N, H, W) in 1..num_classes (never "unlabelled")."""
    return logits[:, UNLABELLED + 1:].argmax(dim=1) + UNLABELLED + 1


class Eigen15Semantic(nn.Module):
    """The 2015 semantic-labels network; ``forward`` returns the scale-3 class logits."""

    def __init__(self, config: SemanticConfig) -> None:
        """Build every layer from ``config``, with PyTorch's default initialisation."""
        super().__init__()
        self.config = config
        height, width = config.input_height, config.input_width
        outputs = config.num_outputs

        # Scale 1 from RGB (attribute names as in Eigen15); scales 2 and 3: one first conv per
        # input, the ReLU after the concatenation.
        add_backbone(self, config)
        self.scale2_fronts = nn.ModuleDict({
            name: scale_front(MODALITIES[name], channels, 2, relu=False)
            for name, channels in config.scale2_widths.items()})
        self.scale3_fronts = nn.ModuleDict({
            name: scale_front(MODALITIES[name], channels, 1, relu=False)
            for name, channels in config.scale3_widths.items()})
        self.scale2_size, self.scale3_size = scale_grids(
            self.scale2_fronts['rgb'], self.scale3_fronts['rgb'], height, width)
        add_coarse_layers(self, config, self.scale2_size)

        s2_in = config.coarse_channels + sum(config.scale2_widths.values())
        s3_in = outputs + sum(config.scale3_widths.values())
        self.scale2_head = fine_stack(s2_in, config.fine_channels, 3, outputs)
        self.scale3_head = fine_stack(s3_in, config.fine_channels, 2, outputs)
        self.scale3_grid = self.output_grid()  # fixed by the layers; read by every window step

    @property
    def output_size(self) -> Tuple[int, int]:
        """Return (height, width) of the output maps: 109 x 147 for a 228 x 304 input."""
        return self.scale3_size

    def output_grid(self, output: str = FINAL_OUTPUT) -> AffineGrid:
        """Return an output's ('final' or 'scale2') output-to-input pixel-centre map."""
        if output == FINAL_OUTPUT:
            return layers_affine_map([self.scale3_fronts['rgb'], self.scale3_head])
        if output == 'scale2':
            return layers_affine_map([self.scale2_fronts['rgb'], self.scale2_head])
        raise ValueError(f'{self.config.name} has no output {output!r}; it has '
                         f"{FINAL_OUTPUT!r} and 'scale2'")

    def coarse(self, image: Tensor) -> Tensor:
        """Run scale 1: (N, 3, H, W) -> (N, coarse_channels, 55, 74) upsampled features."""
        feats = FEATURE_SCALE * torch.flatten(self.backbone(image), 1)
        hidden = self.fc_dropout(F.relu(self.fc1(feats)))
        coarse = self.fc2(hidden).reshape(-1, self.config.coarse_channels, *self.coarse_size)
        return self.upsample(coarse)

    @staticmethod
    def _fronts(fronts: nn.ModuleDict, inputs: Dict[str, Tensor]) -> Tensor:
        return F.relu(torch.cat([front(inputs[name]) for name, front in fronts.items()], dim=1))

    def _scale2(self, inputs: Dict[str, Tensor]) -> Tensor:
        s2_input = torch.cat(
            [self.coarse(inputs['rgb']), self._fronts(self.scale2_fronts, inputs)], dim=1)
        return self.scale2_head(s2_input)

    def forward_outputs(self, image: Tensor, depth: Tensor,
                        normals: Tensor) -> Dict[str, Dict[str, Tensor]]:
        """Return the intermediate outputs by name: {'scale2': {'labels': logits}}."""
        inputs = {'rgb': image, 'depth': log_depth_input(depth), 'normals': normals}
        return {'scale2': {'labels': self._scale2(inputs)}}

    def forward_scales(self, image: Tensor, depth: Tensor, normals: Tensor,
                       windows: Optional[OutputWindows] = None) -> Tuple[Tensor, Tensor]:
        """
        Return the scale-2 (55 x 74) and scale-3 (109 x 147) class logits.

        With ``windows``, scale 3 runs on their input windows only and returns their logits.
        """
        inputs = {'rgb': image, 'depth': log_depth_input(depth), 'normals': normals}
        scale2 = self._scale2(inputs)
        probabilities = F.softmax(scale2, dim=1)
        if windows is None:
            upsampled = upsample_to_scale3(probabilities, self.scale3_size)
            features = self._fronts(self.scale3_fronts, inputs)
        else:
            inputs, upsampled = scale3_window_inputs(
                inputs, probabilities, windows, self.scale3_grid, self.scale3_size)
            features = self._fronts(self.scale3_fronts, inputs)
            check_window_output(features, windows)
        return scale2, self.scale3_head(torch.cat([upsampled, features], dim=1))

    def forward(self, image: Tensor, depth: Tensor, normals: Tensor) -> Dict[str, Tensor]:
        """
        Map RGB, depth and normals to {'labels': (N, num_classes + 1, 109, 147) logits}.

        ``image`` is normalised RGB (N, 3, H, W); ``depth`` is (N, 1, H, W) in metres, 0 where
        missing; ``normals`` is (N, 3, H, W) unit vectors; all at the network input size.
        """
        return {'labels': self.forward_scales(image, depth, normals)[1]}

    def forward_windows(self, image: Tensor, depth: Tensor, normals: Tensor,
                        windows: OutputWindows) -> Dict[str, Tensor]:
        """Return ``forward``'s logits on the output ``windows``, computing scale 3 there only."""
        return {'labels': self.forward_scales(image, depth, normals, windows)[1]}
