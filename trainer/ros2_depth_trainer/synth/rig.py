"""
A depth camera mounted beside the colour camera, as on RGB-D cameras whose driver does not align.

The rig holds the depth camera's intrinsics and its pose in the colour camera's optical frame
(x right, y down, z forward): a point p_depth in the depth camera's optical frame is
p_colour = rotation @ p_depth + translation in the colour camera's. On a RealSense the depth
origin is the left imager, a few cm to the left of the colour camera, hence the default
translation (-baseline, 0, 0).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Optional, Sequence, Tuple

import numpy as np
from ros2_depth.camera_model import PinholeCamera

from .camera import camera_from_fov, CameraPose
from .frame import Frame

# The defaults of synth-bag's depth camera: the RealSense D435 depth imager's horizontal field
# of view, and a few cm between the depth origin and the colour camera.
DEPTH_FOV_DEG = 87.0
DEPTH_BASELINE_M = 0.05


def rotation_xyz(angles_deg: Sequence[float]) -> np.ndarray:
    """Return Rz(c) @ Ry(b) @ Rx(a) for angles (a, b, c) in degrees about the x, y, z axes."""
    a, b, c = (math.radians(float(v)) for v in angles_deg)
    rx = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    ry = np.array([[math.cos(b), 0, math.sin(b)], [0, 1, 0], [-math.sin(b), 0, math.cos(b)]])
    rz = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
    return rz @ ry @ rx


@dataclasses.dataclass(frozen=True, eq=False)
class DepthRig:
    """The depth camera's intrinsics and its pose in the colour optical frame (see the module)."""

    camera: PinholeCamera
    rotation: np.ndarray  # (3, 3) depth optical axes (columns) in the colour optical frame
    translation: Tuple[float, float, float]  # depth camera origin in the colour optical frame, m

    def depth_to_colour(self) -> np.ndarray:
        """Return the 4x4 transform taking depth-optical points to colour-optical points."""
        transform = np.eye(4)
        transform[:3, :3] = self.rotation
        transform[:3, 3] = self.translation
        return transform

    def pose(self, colour_pose: CameraPose) -> CameraPose:
        """Return the depth camera's world pose when the colour camera is at `colour_pose`."""
        colour_rotation = colour_pose.rotation()
        position = (np.asarray(colour_pose.position, float)
                    + colour_rotation @ np.asarray(self.translation, float))
        return CameraPose.from_rotation(position, colour_rotation @ self.rotation)


def depth_rig(width: int, height: int, fov_deg: float, baseline_m: float,
              rotation_deg: Sequence[float] = (0.0, 0.0, 0.0)) -> DepthRig:
    """
    Return a rig with its depth camera `baseline_m` to the left of the colour camera.

    The depth camera is centred, with square pixels and a horizontal field of view of
    `fov_deg`, turned by rotation_xyz(`rotation_deg`) in the colour optical frame.
    """
    if not 0.0 < fov_deg < 180.0:
        raise ValueError(f'the depth camera field of view must be in (0, 180) deg, got {fov_deg}')
    return DepthRig(camera=camera_from_fov(width, height, fov_deg),
                    rotation=rotation_xyz(rotation_deg),
                    translation=(-float(baseline_m), 0.0, 0.0))


@dataclasses.dataclass
class RigFrame:
    """
    One instant of a trajectory: the colour frame, its exact aligned depth, and the depth camera.

    aligned_depth: (H, W) float32 exact depth of the colour camera (metres, NaN only where there
    is no surface), the truth that registering `depth` into the colour camera should give.
    depth: the depth camera's frame (its depth with the sensor's holes, its own camera), None
    without a rig; depth_exact: its exact depth without holes.
    """

    colour: Frame
    aligned_depth: np.ndarray
    rig: Optional[DepthRig] = None
    depth: Optional[Frame] = None
    depth_exact: Optional[np.ndarray] = None

    @property
    def time_s(self) -> float:
        """Seconds since the first frame."""
        return self.colour.time_s
