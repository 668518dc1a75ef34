"""
Model registry: named variants of the networks the trainer can build, train and export.

Three families, each a config dataclass and a module: 'eigen14' (``Eigen14Config``,
``Eigen14``), 'eigen15' (``Eigen15Config``, ``Eigen15``: depth, normals and labels) and 'semantic'
(``SemanticConfig``, ``Eigen15Semantic``). Every config carries its ``family`` in
``dataclasses.asdict`` output, so a checkpoint or sidecar config rebuilds the right network;
a config dict without it (written before there were families) is an Eigen15 config.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Mapping, NamedTuple, Type, Union

from ros2_depth_trainer.models.eigen14 import Eigen14, Eigen14Config
from ros2_depth_trainer.models.eigen15 import AffineGrid, Eigen15, Eigen15Config
from ros2_depth_trainer.models.semantic import Eigen15Semantic, SemanticConfig
from torch import nn

ModelConfig = Union[Eigen14Config, Eigen15Config, SemanticConfig]
Model = Union[Eigen14, Eigen15, Eigen15Semantic]


class Family(NamedTuple):
    """A model family: its config class and the module built from it."""

    config: Type[Any]
    model: Type[nn.Module]


FAMILIES: Dict[str, Family] = {
    Eigen14Config.FAMILY: Family(Eigen14Config, Eigen14),
    Eigen15Config.FAMILY: Family(Eigen15Config, Eigen15),
    SemanticConfig.FAMILY: Family(SemanticConfig, Eigen15Semantic),
}
LEGACY_FAMILY = Eigen15Config.FAMILY  # config dicts without a 'family' entry

# The bundled default (``engines/default.onnx``) and the model trained on the CPU here. Scale 1
# is a small conv stack (32-64-128-256, 1x1 to 16 maps, 16 x 7 x 9 features), FC 256, 16 coarse
# maps; scales 2 and 3 keep the authors' layers and per-task heads, narrowed: conv_s2_1 48,
# scale-2 5x5 stacks 32, conv_s3_1 32 (28 maps + the 4 predicted channels), scale-3 stacks 32.
# 2.08 M parameters, 8.3 MB ONNX; with ONNX Runtime on the 2-core dev CPU about 34 ms per frame
# at 2 threads and 65 ms at 1 (trainer/benchmarks/bench_models.py). The authors' widths at
# scales 2 and 3 (96/64/64/64) cost 108 ms at 2 threads, mostly in the 64-wide 5x5 convs at
# 109 x 147. Input 228 x 304 as in the papers.
LIGHT = Eigen15Config(backbone='light', fc_hidden=256, coarse_channels=16, scale2_channels=48,
                      fine_channels=32, scale3_channels=32, scale3_fine_channels=32)
# The bundled model since issue 8: the light network with all three of the 2015 paper's tasks
# (depth, normals and the 14 generated-scene classes) and depth in a canonical camera of focal
# length 250 input pixels (62.6 deg across the 304-pixel input, a Kinect's 525 px at 640x480
# after the node's resize), so that the node can scale depth by each camera's own focal length.
# conv_s3_1 is 48 wide: the 18 predicted channels replace its first maps, 30 remain.
LIGHT_CAMERA = dataclasses.replace(LIGHT, tasks=('depth', 'normals', 'labels'), num_classes=14,
                                   scale3_channels=48, canonical_focal=250.0)

VARIANTS: Dict[str, ModelConfig] = {
    # Eigen et al. 2014, NYU model.
    'eigen14': Eigen14Config(),
    # Eigen & Fergus 2015, NYU depth + normals models (scale 1 from ImageNet backbones).
    'eigen15-vgg16': Eigen15Config(backbone='vgg16'),
    'eigen15-alexnet': Eigen15Config(backbone='alexnet'),
    'eigen15-light': LIGHT,
    'eigen15-light-camera': LIGHT_CAMERA,
    # Earlier names of the same three, kept for existing commands and configs.
    'vgg16': Eigen15Config(backbone='vgg16'),
    'alexnet': Eigen15Config(backbone='alexnet'),
    'light': LIGHT,
}
# Eigen & Fergus 2015 semantic labels, NYU 4-, 13- and 40-class label sets.
VARIANTS.update({
    f'semantic-{backbone}-{classes}': SemanticConfig(backbone=backbone, num_classes=classes)
    for backbone in ('alexnet', 'vgg16') for classes in (4, 13, 40)})

ModelSource = Union[str, ModelConfig, Mapping[str, Any]]


def config_from_dict(data: Mapping[str, Any]) -> ModelConfig:
    """Rebuild any family's config from ``dataclasses.asdict`` output, by its 'family' entry."""
    family = data.get('family', LEGACY_FAMILY)
    if family not in FAMILIES:
        raise ValueError(f'unknown model family {family!r}; known: {", ".join(FAMILIES)}')
    return FAMILIES[family].config.from_dict(data)


def get_config(variant_or_config: ModelSource) -> ModelConfig:
    """Resolve a variant name, a config, or a config dict (as saved in checkpoints) to a config."""
    if isinstance(variant_or_config, (Eigen14Config, Eigen15Config, SemanticConfig)):
        return variant_or_config
    if isinstance(variant_or_config, str):
        try:
            return VARIANTS[variant_or_config]
        except KeyError:
            raise ValueError(f'unknown model variant {variant_or_config!r}; '
                             f'known: {", ".join(sorted(VARIANTS))}') from None
    return config_from_dict(variant_or_config)


def build_model(variant_or_config: ModelSource) -> Model:
    """Build the network for a variant name, a config, or a config dict."""
    config = get_config(variant_or_config)
    return FAMILIES[config.family].model(config)


__all__ = [
    'AffineGrid', 'Eigen14', 'Eigen14Config', 'Eigen15', 'Eigen15Config', 'Eigen15Semantic',
    'FAMILIES', 'Family', 'LIGHT', 'Model', 'ModelConfig', 'SemanticConfig', 'VARIANTS',
    'build_model', 'config_from_dict', 'get_config']
