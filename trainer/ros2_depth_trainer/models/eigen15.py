"""
Eigen & Fergus (ICCV 2015) three-scale network for depth and surface normals, in pure torch.

The layout follows the authors' released Theano code ("dnl" ICCV15 release, NYU depth+normals
models; public copy: jhmitchel/eecs442normals-w18 on GitHub, ``models/iccv15/
depthnormals_nyud_{alexnet,vgg}.{conf,py}`` and ``net.py``) and the paper (Eigen & Fergus,
"Predicting Depth, Surface Normals and Semantic Labels with a Common Multi-Scale Convolutional
Architecture", ICCV 2015, arXiv 1411.4734):

* Scale 1: an ImageNet-style backbone (AlexNet, VGG16, or a small 'light' stack), features
  x 0.01, FC ``fc_hidden`` + ReLU + dropout, FC ``coarse_channels x 14 x 19`` + ReLU, then a
  fixed bilinear x4 upsampling (7x7 triangle kernel, transposed conv stride 4, crop
  ``[2:-2, 2:-3]``) to ``coarse_channels x 55 x 74``.
* Scale 2: conv 9x9/2 (96) + ReLU, max-pool 3x3/2 to 55 x 74, concatenated with the scale-1
  maps, then per task 3 x (conv 5x5, 64 + ReLU) and a conv 5x5 to the task's channels. Depth
  adds a learned per-pixel bias.
* Scale 3: conv 9x9/2 (64) + ReLU, max-pool 3x3/1 to 109 x 147; its first channels are
  replaced by every task's scale-2 prediction (nearest x2, crop ``[:-1, :-1]``), then per task
  2 x (conv 5x5, 64 + ReLU) and a conv 5x5 to the task's channels.

Scale 3 is trained on random 55 x 74 windows of its output grid (the authors' second stage):
``forward_windows`` runs it on the matching 120 x 158 input windows only (``OutputWindows``),
with the layers' zero padding at the window edges, as the authors' code does.

The widths are settings (``Eigen15Config``); the 'light' variant narrows them to run on a CPU.
The AlexNet backbone and the helpers here are shared with the 2014 network (``eigen14``) and the
semantic-labels model (``semantic``).

Tasks: any of 'depth', 'normals' and 'labels' (the 2015 paper's three tasks in one network, each
with its own scale-2 and scale-3 heads). Labels are ``num_classes`` class scores (logits), channel
k scoring class id k + 1 (id 0 is "unlabelled" and never predicted, as ``losses.labels_loss``
expects); scale 3 receives their softmax probabilities, as in the authors' labels model.

With ``canonical_focal`` set, the depth output is log-depth as a camera of that focal length (in
input pixels) would see the scene: the trainer scales its depth targets by canonical_focal / f
and the runtime multiplies by f / canonical_focal (``ros2_depth.model_spec.MetricScale``); the
layers do not depend on it.

Depth is predicted as the natural log of metres; normals are L2-normalised per pixel. The module
takes and returns tensors only: no files, devices or preprocessing inside. Inputs are RGB,
scaled to [0, 1] and normalised with ``config.mean`` and ``config.std``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Dict, Iterable, List, Mapping, NamedTuple, Optional, Sequence, Tuple

from ros2_depth_trainer.models.config_base import family_field, ModelConfigBase
import torch
from torch import nn, Tensor
from torch.nn import functional as F

BACKBONES = ('alexnet', 'vgg16', 'light')
TASK_CHANNELS: Dict[str, int] = {'depth': 1, 'normals': 3, 'labels': 0}  # labels: num_classes
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

FEATURE_SCALE = 0.01  # the authors scale the conv features down before the FC layers
UPSAMPLE_FACTOR = 4  # scale 1 -> scale 2
UPSAMPLE_KERNEL = 2 * UPSAMPLE_FACTOR - 1  # the triangle (bilinear) kernel, 7x7
UPSAMPLE_CROP = 2  # rows and columns dropped at the top and left after the transposed conv
NORMALS_EPS = 1e-6
FINAL_OUTPUT = 'final'  # the name of ``forward``'s output in ``output_grid``

_PASSIVE_LAYERS = (nn.ReLU, nn.LocalResponseNorm, nn.Dropout, nn.Identity)


@dataclasses.dataclass(frozen=True)
class Eigen15Config(ModelConfigBase):
    """Every setting that fixes the network's layers; saved in checkpoints and sidecars."""

    FAMILY = 'eigen15'  # not annotated, so not a field: see ``family``

    backbone: str = 'vgg16'
    fc_hidden: int = 4096
    coarse_channels: int = 64
    input_height: int = 228
    input_width: int = 304
    tasks: Tuple[str, ...] = ('depth', 'normals')
    dropout: float = 0.5
    scale2_channels: int = 96  # conv_s2_1
    scale3_channels: int = 64  # conv_s3_1 (its first maps are replaced by the predictions)
    fine_channels: int = 64  # hidden width of the per-task 5x5 stacks at scale 2
    scale3_fine_channels: Optional[int] = None  # the same at scale 3; None: fine_channels
    light_channels: Tuple[int, ...] = (32, 64, 128, 256)  # 'light': 3x3 stride-2 convs
    light_feature_channels: int = 16  # 'light': 1x1 bottleneck before the FC layers
    mean: Tuple[float, float, float] = IMAGENET_MEAN
    std: Tuple[float, float, float] = IMAGENET_STD
    num_classes: int = 14  # 'labels': scored classes, ids 1..num_classes (0 = unlabelled)
    canonical_focal: Optional[float] = None  # depth in a canonical camera (input pixels)
    family: str = family_field(FAMILY)

    def __post_init__(self) -> None:
        """Turn sequences into tuples (JSON gives lists) and reject impossible settings."""
        self.freeze_sequences(('tasks', 'light_channels', 'mean', 'std'))
        if self.num_classes < 1:
            raise ValueError(f'num_classes must be positive, got {self.num_classes}')
        if self.canonical_focal is not None and not self.canonical_focal > 0:
            raise ValueError(f'canonical_focal must be positive, got {self.canonical_focal}')
        check_backbone_settings(self.backbone, self.light_channels, self.light_feature_channels)
        self.check_common((self.fc_hidden, self.coarse_channels, self.scale2_channels,
                           self.scale3_channels, self.fine_channels, self.scale3_hidden_channels))
        if not self.tasks or len(set(self.tasks)) != len(self.tasks):
            raise ValueError(f'tasks must be distinct and non-empty, got {self.tasks}')
        unknown = [t for t in self.tasks if t not in TASK_CHANNELS]
        if unknown:
            raise ValueError(f'unknown tasks {unknown}; known: {tuple(TASK_CHANNELS)}')
        if self.scale3_channels <= sum(self.task_channels.values()):
            raise ValueError('scale3_channels must exceed the number of predicted channels')

    @property
    def name(self) -> str:
        """Return the short model name, e.g. 'eigen15-light'."""
        return f'eigen15-{self.backbone}'

    @property
    def description(self) -> str:
        """Return one line naming the network, for sidecars and logs."""
        return f'Eigen & Fergus 2015 three-scale network ({self.backbone} scale 1)'

    @property
    def scale3_hidden_channels(self) -> int:
        """Return the hidden width of the scale-3 stacks."""
        if self.scale3_fine_channels is None:
            return self.fine_channels
        return self.scale3_fine_channels

    @property
    def task_channels(self) -> Dict[str, int]:
        """Return the output channels of each task, in task order."""
        return {t: TASK_CHANNELS[t] or self.num_classes for t in self.tasks}


class AffineGrid(NamedTuple):
    """Per-axis map from output to input pixel centres: input = scale * output + offset."""

    scale_x: float
    offset_x: float
    scale_y: float
    offset_y: float


def _window_out(size: int, kernel: int, stride: int, padding: int, dilation: int = 1,
                ceil_mode: bool = False) -> int:
    """Return the output length of a conv or pooling window along one axis (PyTorch rules)."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    steps = -(-span // stride) if ceil_mode else span // stride
    return steps + 1


def _pair(value: Any) -> Tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _flatten_layers(modules: Iterable[nn.Module]) -> List[nn.Module]:
    out: List[nn.Module] = []
    for module in modules:
        if isinstance(module, nn.Sequential):
            out.extend(_flatten_layers(module))
        else:
            out.append(module)
    return out


def layers_output_shape(layers: Iterable[nn.Module], channels: int, height: int,
                        width: int) -> Tuple[int, int, int]:
    """Return the (C, H, W) that a chain of conv, pool and pointwise layers produces."""
    for layer in _flatten_layers(layers):
        if isinstance(layer, (nn.Conv2d, nn.MaxPool2d)):
            kh, kw = _pair(layer.kernel_size)
            sh, sw = _pair(layer.stride)
            ph, pw = _pair(layer.padding)
            dh, dw = _pair(layer.dilation)
            ceil_mode = bool(getattr(layer, 'ceil_mode', False))
            height = _window_out(height, kh, sh, ph, dh, ceil_mode)
            width = _window_out(width, kw, sw, pw, dw, ceil_mode)
            if isinstance(layer, nn.Conv2d):
                channels = layer.out_channels
        elif not isinstance(layer, _PASSIVE_LAYERS):
            raise TypeError(f'no shape rule for layer {layer!r}')
    return channels, height, width


def layers_affine_map(layers: Iterable[nn.Module]) -> AffineGrid:
    """
    Compose the centre-to-centre map (output pixel -> input pixel) of a chain of layers.

    A window of size k, stride s and padding p maps output index i to the input index at the
    centre of its window, s * i + (k - 1) / 2 - p (dilation d makes k an effective
    d * (k - 1) + 1).
    """
    scale = [1.0, 1.0]  # y, x
    offset = [0.0, 0.0]
    for layer in _flatten_layers(layers):
        if isinstance(layer, (nn.Conv2d, nn.MaxPool2d)):
            kernel = _pair(layer.kernel_size)
            stride = _pair(layer.stride)
            padding = _pair(layer.padding)
            dilation = _pair(layer.dilation)
            for axis in (0, 1):
                centre = dilation[axis] * (kernel[axis] - 1) / 2.0 - padding[axis]
                offset[axis] += scale[axis] * centre
                scale[axis] *= stride[axis]
        elif not isinstance(layer, _PASSIVE_LAYERS):
            raise TypeError(f'no grid rule for layer {layer!r}')
    return AffineGrid(scale_x=scale[1], offset_x=offset[1], scale_y=scale[0], offset_y=offset[0])


def _conv(in_channels: int, out_channels: int, kernel: int, stride: int = 1,
          padding: int = 0) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=padding)


def _relu() -> nn.ReLU:
    return nn.ReLU(inplace=True)


# Cross-map LRN of the authors' code (``cmrnorm`` in ``pooling.py`` of the 2014 release, and
# Krizhevsky et al. 2012, section 3.3): b = a / (2 + 1e-4 * sum of a^2 over 5 maps)^0.75.
# torch's LocalResponseNorm divides alpha by the window size, so alpha is 5 x 1e-4 here.
LRN_SIZE, LRN_ALPHA, LRN_BETA, LRN_K = 5, 1e-4, 0.75, 2.0


def _alexnet_lrn() -> nn.LocalResponseNorm:
    return nn.LocalResponseNorm(LRN_SIZE, alpha=LRN_ALPHA * LRN_SIZE, beta=LRN_BETA, k=LRN_K)


def check_backbone_settings(backbone: str, light_channels: Tuple[int, ...],
                            light_feature_channels: int) -> None:
    """Raise ValueError for an unknown backbone or impossible 'light' widths."""
    if backbone not in BACKBONES:
        raise ValueError(f'backbone must be one of {BACKBONES}, got {backbone!r}')
    if not light_channels or min(light_channels) < 1 or light_feature_channels < 1:
        raise ValueError('light_channels must be non-empty and positive, '
                         'light_feature_channels positive')


def alexnet_features() -> nn.Sequential:
    """
    Return the authors' AlexNet-style convolutions: 256 x 6 x 8 features from 228 x 304.

    As in the 2014 release: conv 11x11/4 (96) -> max-pool 3x3/2 -> ReLU -> LRN; conv 5x5 (256)
    -> pool 3x3/2 -> ReLU -> LRN; conv 3x3 (384) -> ReLU; 3x3 (384) -> ReLU; 3x3 (256) -> pool
    3x3/2 -> ReLU. conv1 is a "valid" strided conv with cuda-convnet style centred padding, i.e.
    padding 2 here (56 x 75 from 228 x 304); no grouped convolutions.
    """
    return nn.Sequential(
        _conv(3, 96, 11, stride=4, padding=2), nn.MaxPool2d(3, 2), _relu(), _alexnet_lrn(),
        _conv(96, 256, 5, padding=2), nn.MaxPool2d(3, 2), _relu(), _alexnet_lrn(),
        _conv(256, 384, 3, padding=1), _relu(),
        _conv(384, 384, 3, padding=1), _relu(),
        _conv(384, 256, 3, padding=1), nn.MaxPool2d(3, 2), _relu(),
    )


def build_backbone(config: Any) -> nn.Sequential:
    """
    Return the scale-1 convolutional feature extractor for ``config.backbone``.

    ``config`` is any config with ``backbone``, ``light_channels`` and
    ``light_feature_channels`` (``Eigen15Config``, ``SemanticConfig``).
    """
    if config.backbone == 'alexnet':
        return alexnet_features()
    if config.backbone == 'vgg16':
        # The layer order (and so the state_dict keys) of torchvision's vgg16().features, except
        # that conv1_1 and conv1_2 are "valid" as in the authors' model: 512 x 7 x 9 features.
        layers: List[nn.Module] = []
        in_channels = 3
        blocks = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))
        for block, (width, repeats) in enumerate(blocks):
            for _ in range(repeats):
                padding = 0 if block == 0 else 1
                layers += [_conv(in_channels, width, 3, padding=padding), _relu()]
                in_channels = width
            layers.append(nn.MaxPool2d(2, 2))
        return nn.Sequential(*layers)
    # 'light': 3x3 stride-2 convs, then a 1x1 bottleneck and a 2x2 pool to keep the FCs small.
    layers = []
    in_channels = 3
    for width in config.light_channels:
        layers += [_conv(in_channels, width, 3, stride=2, padding=1), _relu()]
        in_channels = width
    layers += [_conv(in_channels, config.light_feature_channels, 1), _relu(), nn.MaxPool2d(2, 2)]
    return nn.Sequential(*layers)


def triangle_kernel(factor: int) -> Tensor:
    """Return the authors' 2-D bilinear kernel for upsampling by ``factor`` (size 2 factor - 1)."""
    ramp = [(i + 1) / factor for i in range(factor - 1)]
    taps = torch.tensor(ramp + [1.0] + ramp[::-1], dtype=torch.float32)
    return taps[:, None] * taps[None, :]


def coarse_grid(height: int, width: int) -> Tuple[int, int]:
    """
    Return the smallest coarse grid whose x4 upsampling covers ``height`` x ``width``.

    The transposed conv gives 4 (n - 1) + 7 samples, of which ``UPSAMPLE_CROP`` are dropped at
    the start: 14 x 19 for the 55 x 74 scale-2 grid (cropped [2:-2, 2:-3] as in the authors'
    code).
    """
    return tuple(  # type: ignore[return-value]
        math.ceil((n + UPSAMPLE_CROP - UPSAMPLE_KERNEL) / UPSAMPLE_FACTOR) + 1
        for n in (height, width))


def upsample_to_scale3(x: Tensor, size: Tuple[int, int]) -> Tensor:
    """Upsample scale-2 maps to scale 3 as the authors do: nearest x2, keep ``size``."""
    return F.interpolate(x, scale_factor=2.0, mode='nearest')[:, :, :size[0], :size[1]]


def fine_stack(in_channels: int, width: int, hidden: int, out_channels: int) -> nn.Sequential:
    """Return ``hidden`` x (conv 5x5 'same' + ReLU), then a linear conv 5x5 to the output."""
    layers: List[nn.Module] = []
    for _ in range(hidden):
        layers += [_conv(in_channels, width, 5, padding=2), _relu()]
        in_channels = width
    layers.append(_conv(in_channels, out_channels, 5, padding=2))
    return nn.Sequential(*layers)


def scale_front(in_channels: int, out_channels: int, pool_stride: int,
                relu: bool = True) -> nn.Sequential:
    """Return a scale-2/3 first layer: conv 9x9/2 (padding 1), [ReLU], max-pool 3x3."""
    layers: List[nn.Module] = [_conv(in_channels, out_channels, 9, stride=2, padding=1)]
    if relu:
        layers.append(_relu())
    layers.append(nn.MaxPool2d(3, pool_stride))
    return nn.Sequential(*layers)


class OutputWindows(NamedTuple):
    """Per-sample windows of the scale-3 output grid: one ``size`` and a (top, left) each."""

    offsets: Sequence[Tuple[int, int]]
    size: Tuple[int, int]


def window_input_size(windows: OutputWindows, grid: AffineGrid) -> Tuple[int, int]:
    """
    Return the input window (height, width) for output windows on an integer ``grid``.

    For output rows [t, t + h) on the grid input = s j + o the input window is rows
    [s t, s t + s h + 2 o): 120 x 158 for 55 x 74 on the 2 j + 5 grid, as in the authors' code.
    """
    height, width = windows.size
    return (int(grid.scale_y * height + 2 * grid.offset_y),
            int(grid.scale_x * width + 2 * grid.offset_x))


def crop_windows(x: Tensor, offsets: Sequence[Tuple[int, int]], size: Tuple[int, int],
                 stride: Tuple[float, float] = (1, 1)) -> Tensor:
    """Stack ``x[b, :, stride * top : ... + size]`` over the batch, one (top, left) per sample."""
    if len(offsets) != x.shape[0]:
        raise ValueError(f'{len(offsets)} window offsets for a batch of {x.shape[0]}')
    crops = []
    for b, (top, left) in enumerate(offsets):
        top, left = int(stride[0] * top), int(stride[1] * left)
        if top < 0 or left < 0 or top + size[0] > x.shape[-2] or left + size[1] > x.shape[-1]:
            raise ValueError(f'window {size[0]}x{size[1]} at ({top}, {left}) leaves the '
                             f'{x.shape[-2]}x{x.shape[-1]} map')
        crops.append(x[b, :, top:top + size[0], left:left + size[1]])
    return torch.stack(crops)


def scale3_window_inputs(image_like: Mapping[str, Tensor], scale2_maps: Tensor,
                         windows: OutputWindows, grid: AffineGrid,
                         scale3_size: Tuple[int, int]) -> Tuple[Dict[str, Tensor], Tensor]:
    """
    Cut the scale-3 inputs of ``windows``: network-input maps and upsampled scale-2 maps.

    ``image_like`` maps names to (N, C, H, W) network-input maps (RGB, and the semantic model's
    depth and normals); ``scale2_maps`` is (N, C, h2, w2), upsampled here to ``scale3_size``.
    With an odd input height or width, the full network's last output row or column reads the
    first conv's zero padding below or right of the image; the maps are zero-padded there so
    that windows at the far edges see the same.
    """
    in_size = window_input_size(windows, grid)
    stride = (grid.scale_y, grid.scale_x)
    reach = (int(grid.scale_y * scale3_size[0] + 2 * grid.offset_y),
             int(grid.scale_x * scale3_size[1] + 2 * grid.offset_x))
    inputs = {}
    for name, x in image_like.items():
        pad_rows, pad_cols = max(reach[0] - x.shape[-2], 0), max(reach[1] - x.shape[-1], 0)
        if pad_rows or pad_cols:
            x = F.pad(x, (0, pad_cols, 0, pad_rows))
        inputs[name] = crop_windows(x, windows.offsets, in_size, stride)
    upsampled = upsample_to_scale3(scale2_maps, scale3_size)
    return inputs, crop_windows(upsampled, windows.offsets, windows.size)


def check_window_output(features: Tensor, windows: OutputWindows) -> None:
    """Raise ValueError unless the scale-3 front gave exactly the window's size."""
    if tuple(features.shape[-2:]) != tuple(windows.size):
        raise ValueError(f'input windows gave {tuple(features.shape[-2:])} scale-3 maps, not '
                         f'{tuple(windows.size)}: the output grid is not the 2j+5 kind')


class FixedBilinearUpsample(nn.Module):
    """Fixed bilinear upsampling as in the authors' code: a transposed conv, then a crop."""

    def __init__(self, channels: int, factor: int, out_size: Tuple[int, int], crop: int) -> None:
        """Upsample by ``factor`` and keep ``out_size`` from row and column ``crop`` on."""
        super().__init__()
        self.channels = channels
        self.factor = factor
        self.out_size = out_size
        self.crop = crop
        kernel = triangle_kernel(factor)[None, None].repeat(channels, 1, 1, 1)
        # A buffer, not a parameter: never trained, and rebuilt rather than saved in checkpoints.
        self.register_buffer('kernel', kernel, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        """Map (N, C, h, w) to (N, C, out_h, out_w)."""
        y = F.conv_transpose2d(x, self.kernel, stride=self.factor, groups=self.channels)
        top = left = self.crop
        return y[:, :, top:top + self.out_size[0], left:left + self.out_size[1]]


def scale_grids(scale2_front: nn.Module, scale3_front: nn.Module, height: int,
                width: int) -> Tuple[Tuple[int, int], Tuple[int, int]]:
    """Return the scale-2 and scale-3 grids of an input; raise if scale 2 cannot feed scale 3."""
    _, h2, w2 = layers_output_shape(scale2_front, 3, height, width)
    _, h3, w3 = layers_output_shape(scale3_front, 3, height, width)
    if 2 * h2 < h3 or 2 * w2 < w3:
        raise ValueError(f'scale-2 grid {h2}x{w2} does not cover scale-3 grid {h3}x{w3}')
    return (h2, w2), (h3, w3)


def add_backbone(module: nn.Module, config: Any) -> None:
    """Give ``module`` its scale-1 ``backbone`` and ``backbone_shape`` (C, H, W of its output)."""
    height, width = config.input_height, config.input_width
    module.backbone = build_backbone(config)
    feat_c, feat_h, feat_w = layers_output_shape(module.backbone, 3, height, width)
    if feat_h < 1 or feat_w < 1:
        raise ValueError(f'input {height}x{width} is too small for the {config.backbone} '
                         'backbone')
    module.backbone_shape = (feat_c, feat_h, feat_w)


def add_coarse_layers(module: nn.Module, config: Any, scale2_size: Tuple[int, int]) -> None:
    """
    Give ``module`` the rest of scale 1: fc1, fc_dropout, fc2, upsample and ``coarse_size``.

    Call after ``add_backbone`` and the scale-2/3 front ends: the order of construction is the
    order in which a seeded initialisation draws the weights, and the attribute names are those
    of the checkpoints and of the configs' optimiser groups.
    """
    module.coarse_size = coarse_grid(*scale2_size)
    coarse_c = config.coarse_channels
    module.fc1 = nn.Linear(math.prod(module.backbone_shape), config.fc_hidden)
    module.fc_dropout = nn.Dropout(config.dropout)
    module.fc2 = nn.Linear(config.fc_hidden, coarse_c * math.prod(module.coarse_size))
    module.upsample = FixedBilinearUpsample(coarse_c, UPSAMPLE_FACTOR, scale2_size, UPSAMPLE_CROP)


def unit_normals(x: Tensor) -> Tensor:
    """L2-normalise (N, 3, H, W) vectors per pixel."""
    return x / torch.linalg.vector_norm(x, dim=1, keepdim=True).clamp_min(NORMALS_EPS)


class Eigen15(nn.Module):
    """The Eigen & Fergus 2015 multi-scale network; ``forward`` returns the scale-3 maps."""

    def __init__(self, config: Eigen15Config) -> None:
        """Build every layer from ``config``, with PyTorch's default initialisation."""
        super().__init__()
        self.config = config
        height, width = config.input_height, config.input_width
        task_channels = config.task_channels
        self.num_predicted = sum(task_channels.values())

        # Scale 1's backbone, the scale-2 and -3 front ends (shared by all tasks), scale 1's FCs.
        add_backbone(self, config)
        self.scale2_front = scale_front(3, config.scale2_channels, 2)
        self.scale3_front = scale_front(3, config.scale3_channels, 1)
        self.scale2_size, self.scale3_size = scale_grids(self.scale2_front, self.scale3_front,
                                                         height, width)
        h2, w2 = self.scale2_size
        add_coarse_layers(self, config, self.scale2_size)

        # Per-task stacks.
        s2_in = config.coarse_channels + config.scale2_channels
        self.scale2_heads = nn.ModuleDict({
            task: fine_stack(s2_in, config.fine_channels, 3, channels)
            for task, channels in task_channels.items()})
        self.scale3_heads = nn.ModuleDict({
            task: fine_stack(config.scale3_channels, config.scale3_hidden_channels, 2, channels)
            for task, channels in task_channels.items()})
        if 'depth' in task_channels:
            self.depth_bias = nn.Parameter(torch.zeros(1, h2, w2))
        else:
            self.register_parameter('depth_bias', None)
        self.scale3_grid = self.output_grid()  # fixed by the layers; read by every window step

    @property
    def output_size(self) -> Tuple[int, int]:
        """Return (height, width) of the output maps: 109 x 147 for a 228 x 304 input."""
        return self.scale3_size

    def output_grid(self, output: str = FINAL_OUTPUT) -> AffineGrid:
        """
        Return an output's output-to-input pixel-centre map, derived from its layers.

        ``output`` is 'final' (scale 3: 2 x + 5) or 'scale2' (4 x + 5).
        """
        task = self.config.tasks[0]
        if output == FINAL_OUTPUT:
            return layers_affine_map([self.scale3_front, self.scale3_heads[task]])
        if output == 'scale2':
            return layers_affine_map([self.scale2_front, self.scale2_heads[task]])
        raise ValueError(f'{self.config.name} has no output {output!r}; it has '
                         f"{FINAL_OUTPUT!r} and 'scale2'")

    def coarse(self, image: Tensor) -> Tensor:
        """Run scale 1: (N, 3, H, W) -> (N, coarse_channels, 55, 74) upsampled features."""
        feats = FEATURE_SCALE * torch.flatten(self.backbone(image), 1)
        hidden = self.fc_dropout(F.relu(self.fc1(feats)))
        coarse = F.relu(self.fc2(hidden))
        coarse = coarse.reshape(-1, self.config.coarse_channels, *self.coarse_size)
        return self.upsample(coarse)

    def forward_scale2(self, image: Tensor) -> Dict[str, Tensor]:
        """Return the scale-2 (55 x 74) predictions, keyed by task, without running scale 3."""
        s2_input = torch.cat([self.coarse(image), self.scale2_front(image)], dim=1)
        scale2: Dict[str, Tensor] = {}
        for task, head in self.scale2_heads.items():
            pred = head(s2_input)
            if task == 'depth':
                pred = pred + self.depth_bias
            elif task == 'normals':
                pred = unit_normals(pred)
            scale2[task] = pred
        return scale2

    def forward_outputs(self, image: Tensor) -> Dict[str, Dict[str, Tensor]]:
        """Return the intermediate outputs by name: {'scale2': {task: map}} (first stage)."""
        return {'scale2': self.forward_scale2(image)}

    def forward_scales(self, image: Tensor, windows: Optional[OutputWindows] = None
                       ) -> Tuple[Dict[str, Tensor], Dict[str, Tensor]]:
        """
        Return the scale-2 (55 x 74) and scale-3 (109 x 147) predictions, keyed by task.

        With ``windows``, scale 3 runs on their input windows only and returns their maps.
        """
        scale2 = self.forward_scale2(image)
        predicted = torch.cat([torch.softmax(scale2[task], dim=1) if task == 'labels'
                               else scale2[task] for task in self.config.tasks], dim=1)
        if windows is None:
            upsampled = upsample_to_scale3(predicted, self.scale3_size)
            features = self.scale3_front(image)[:, self.num_predicted:]
        else:
            inputs, upsampled = scale3_window_inputs(
                {'rgb': image}, predicted, windows, self.scale3_grid, self.scale3_size)
            features = self.scale3_front(inputs['rgb'])[:, self.num_predicted:]
            check_window_output(features, windows)
        s3_input = torch.cat([upsampled, features], dim=1)
        scale3: Dict[str, Tensor] = {}
        for task, head in self.scale3_heads.items():
            pred = head(s3_input)
            scale3[task] = unit_normals(pred) if task == 'normals' else pred
        return scale2, scale3

    def forward(self, image: Tensor) -> Dict[str, Tensor]:
        """Map a normalised RGB batch to its maps: depth (ln metres), normals, labels (logits)."""
        return self.forward_scales(image)[1]

    def forward_windows(self, image: Tensor, windows: OutputWindows) -> Dict[str, Tensor]:
        """Return ``forward``'s maps on the output ``windows``, computing scale 3 there only."""
        return self.forward_scales(image, windows)[1]
