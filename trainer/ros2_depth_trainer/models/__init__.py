"""Model registry: named variants of the networks the trainer can build, train and export."""

from __future__ import annotations

from typing import Any, Dict, Mapping, Union

from ros2_depth_trainer.models.eigen15 import AffineGrid, Eigen15, Eigen15Config

VARIANTS: Dict[str, Eigen15Config] = {
    # The authors' NYU depth+normals models (scale 1 from ImageNet backbones).
    'vgg16': Eigen15Config(backbone='vgg16'),
    'alexnet': Eigen15Config(backbone='alexnet'),
    # Small enough to commit its ONNX file (under 12 MB): only scale 1 is shrunk (light backbone,
    # FC 256, 16 coarse maps); scales 2 and 3 keep the authors' widths. FC2 holds
    # fc_hidden x 16 x 14 x 19 weights, so fc_hidden 512 would take 8.7 MB for FC2 alone.
    'light': Eigen15Config(backbone='light', fc_hidden=256, coarse_channels=16),
}

ModelSource = Union[str, Eigen15Config, Mapping[str, Any]]


def get_config(variant_or_config: ModelSource) -> Eigen15Config:
    """Resolve a variant name, a config, or a config dict (as saved in checkpoints) to a config."""
    if isinstance(variant_or_config, Eigen15Config):
        return variant_or_config
    if isinstance(variant_or_config, str):
        try:
            return VARIANTS[variant_or_config]
        except KeyError:
            raise ValueError(f'unknown model variant {variant_or_config!r}; '
                             f'known: {", ".join(sorted(VARIANTS))}') from None
    return Eigen15Config.from_dict(variant_or_config)


def build_model(variant_or_config: ModelSource) -> Eigen15:
    """Build the network for a variant name, a config, or a config dict."""
    return Eigen15(get_config(variant_or_config))


__all__ = ['AffineGrid', 'Eigen15', 'Eigen15Config', 'VARIANTS', 'build_model', 'get_config']
