"""What a surface is made of: its procedural texture, reflectance and semantic class."""

from __future__ import annotations

import dataclasses
from typing import Tuple

Colour = Tuple[float, float, float]

# Texture patterns known to ros2_depth_trainer.synth.textures.
PATTERNS = ('plain', 'noise', 'tiles', 'stripes', 'wood', 'brick', 'asphalt', 'glass', 'foliage',
            'fabric')


@dataclasses.dataclass(frozen=True)
class Material:
    """
    A procedural surface appearance.

    ``colors`` are sRGB in [0, 1] (the first is the main colour; patterns use the others for
    grout, mortar, the second stripe, dark grain, lane markings). ``scale`` is the pattern's size
    in metres (tile, stripe period, plank width, brick length, noise feature). ``param`` is a
    pattern-specific number (grout width, road half-width). ``specular`` and ``shininess`` give a
    Blinn-Phong highlight; ``emission`` adds light of the main colour (a bright window);
    ``glass`` makes the depth sensor return nothing from it.
    """

    pattern: str
    colors: Tuple[Colour, ...]
    scale: float = 1.0
    seed: int = 0
    param: float = 0.0
    specular: float = 0.0
    shininess: float = 30.0
    emission: float = 0.0
    glass: bool = False

    def __post_init__(self) -> None:
        """Reject unknown patterns early, where the scene is built."""
        if self.pattern not in PATTERNS:
            raise ValueError(f'unknown texture pattern {self.pattern!r}; known: {PATTERNS}')


@dataclasses.dataclass(frozen=True)
class Part:
    """A surface of a primitive: its semantic class id and its material."""

    label: int
    material: Material
