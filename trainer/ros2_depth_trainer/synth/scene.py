"""A scene: its primitives, lights and sky, plus the sky's radiance model."""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .materials import Part
from .raycast import flat_parts, Primitive
from .shading import Lighting
from .textures import fbm, srgb_to_linear

Colour = Tuple[float, float, float]


@dataclasses.dataclass(frozen=True)
class Sky:
    """Sky at infinity: a zenith-to-horizon gradient, a sun disc glow and fBm clouds."""

    zenith: Colour
    horizon: Colour
    brightness: float
    clouds: float  # cloud cover in [0, 1]
    seed: int
    sun: Optional[Tuple[float, float, float]] = None

    def radiance(self, directions: np.ndarray) -> np.ndarray:
        """Return the sky's linear radiance, shape (M, 3), along (M, 3) unit world directions."""
        up = np.clip(directions[:, 2], 0.0, 1.0).astype(np.float32)
        w = np.sqrt(up)[:, None]
        zenith, horizon = srgb_to_linear(self.zenith), srgb_to_linear(self.horizon)
        colour = horizon + (zenith - horizon) * w
        if self.clouds > 0:
            height = np.maximum(directions[:, 2], 0.05)
            u = directions[:, 0] / height * 0.35
            v = directions[:, 1] / height * 0.35
            density = fbm(u, v, self.seed, 4)
            cover = np.clip((density - (1.0 - self.clouds)) * 3.0, 0.0, 1.0) * np.minimum(
                up * 6.0, 1.0)
            cloud = np.float32(0.95) - np.float32(0.25) * density[:, None]
            colour = colour + (cloud - colour) * cover[:, None]
        if self.sun is not None:
            cos = np.clip(directions @ np.asarray(self.sun), 0.0, 1.0)
            colour = colour + (np.float32(0.6) * cos ** 64)[:, None].astype(np.float32)
        return colour * np.float32(self.brightness)


@dataclasses.dataclass
class Scene:
    """
    Everything the renderer needs; ``info`` describes the layout (room size, road width ...).

    Labels and materials belong to the primitives' parts; ``parts`` lists them flat and
    ``part_offsets[i]`` is where primitive i's parts start.
    """

    kind: str
    primitives: List[Primitive]
    lighting: Lighting
    sky: Optional[Sky] = None
    info: Dict[str, Any] = dataclasses.field(default_factory=dict)

    def flat_parts(self) -> Tuple[np.ndarray, List[Part]]:
        """Return the offsets of each primitive into the flat part list, and the list."""
        return flat_parts(self.primitives)
