"""
One generated sample: a random scene of a kind, rendered, with the metadata written beside it.

Each sample has its own random streams seeded from (seed, kind, index) alone, so a sample is the
same whichever worker renders it and however many samples are generated.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Dict, Tuple

import numpy as np

from .camera import camera_from_fov
from .render import render, Rendered
from .scenes import KINDS, random_view, View
from .sensor import draw_sensor, SensorModel

# 2.0: camera effects (motion blur, JPEG, wider colour casts) and depth sensor families.
GENERATOR_VERSION = '2.0'


def sample_streams(seed: int, kind: str, index: int
                   ) -> Tuple[np.random.Generator, np.random.Generator]:
    """Return independent (scene, sensor) random generators of one sample."""
    if seed < 0 or index < 0:
        raise ValueError(f'seed and index must be non-negative, got {seed} and {index}')
    sequence = np.random.SeedSequence([int(seed), KINDS.index(kind), int(index)])
    scene_seq, sensor_seq = sequence.spawn(2)
    return np.random.default_rng(scene_seq), np.random.default_rng(sensor_seq)


@dataclasses.dataclass
class Sample:
    """A rendered sample with the view and sensor parameters it was drawn with."""

    kind: str
    index: int
    rendered: Rendered
    view: View
    sensor: SensorModel

    def metadata(self) -> Dict[str, Any]:
        """Return the JSON-ready camera description of the sample."""
        camera = self.rendered.frame.camera
        pose = self.view.pose
        return {
            'intrinsics': {'width': camera.width, 'height': camera.height, 'fx': camera.fx,
                           'fy': camera.fy, 'cx': camera.cx, 'cy': camera.cy},
            'fov_deg': self.view.fov_deg,
            'camera_height_m': self.view.height,
            'camera_pitch_deg': math.degrees(pose.pitch),
            'camera_roll_deg': math.degrees(pose.roll),
            'camera_yaw_deg': math.degrees(pose.yaw),
            'camera_position_m': [float(v) for v in pose.position],
            'camera_to_world': self.rendered.pose.rotation().tolist(),
            'scene': self.view.scene.info,
            'depth_sensor': self.sensor.depth_family,
            'sensor': self.sensor.to_json(),
        }


def render_sample(kind: str, seed: int, index: int, height: int, width: int,
                  effects: bool = True, shadows: bool = True) -> Sample:
    """Draw and render sample `index` of the stream (`kind`, `seed`) at height x width."""
    scene_rng, sensor_rng = sample_streams(seed, kind, index)
    view = random_view(kind, scene_rng)
    sensor = draw_sensor(kind, sensor_rng) if effects else SensorModel.ideal()
    camera = camera_from_fov(width, height, view.fov_deg)
    rendered = render(view.scene, view.pose, camera, sensor, sensor_rng, shadows=shadows)
    return Sample(kind, index, rendered, view, sensor)
