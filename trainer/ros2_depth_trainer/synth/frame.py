"""One rendered camera frame: what the scene generator produces and the bag writer consumes."""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np
from ros2_depth.camera_model import PinholeCamera


@dataclasses.dataclass
class Frame:
    """
    A camera frame with exact ground truth, all maps on the camera's pixel grid.

    rgb: (H, W, 3) uint8, sensor effects applied. depth: (H, W) float32 metres along the optical
    axis, NaN where invalid (sky, sensor holes). normals: (H, W, 3) float32 unit vectors in the
    camera optical frame (x right, y down, z forward), NaN where there is no surface. labels:
    (H, W) uint8 class ids (0 = unlabelled). time_s: seconds since the first frame of a trajectory.
    """

    rgb: np.ndarray
    depth: np.ndarray
    camera: PinholeCamera
    normals: Optional[np.ndarray] = None
    labels: Optional[np.ndarray] = None
    time_s: float = 0.0
