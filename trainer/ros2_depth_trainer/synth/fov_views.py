"""
One generated scene from one pose through cameras of different fields of view.

For checking a model's metric scale: the same 3D points appear at different image sizes, and a
model that uses the camera's focal length must give them the same depth in every view.
"""

from __future__ import annotations

from typing import Dict, Sequence, Tuple

import numpy as np
from ros2_depth.camera_model import PinholeCamera

from .camera import camera_from_fov
from .render import render
from .sample import sample_streams
from .scenes import random_view
from .sensor import SensorModel


def render_fov_views(kind: str, seed: int, index: int, fovs: Sequence[float], width: int,
                     height: int) -> Dict[float, Tuple[np.ndarray, np.ndarray, PinholeCamera]]:
    """
    Render sample ``index`` of (``kind``, ``seed``)'s scene and pose at each horizontal FOV.

    Returns {fov: (rgb uint8, exact depth float32 with NaN where no surface, camera)}, with an
    ideal sensor (no noise, no holes), so the views differ only by their intrinsics.
    """
    scene_rng, _ = sample_streams(seed, kind, index)
    view = random_view(kind, scene_rng)
    views = {}
    for fov in fovs:
        camera = camera_from_fov(width, height, fov)
        rendered = render(view.scene, view.pose, camera, SensorModel.ideal(),
                          np.random.default_rng(0))
        views[float(fov)] = (rendered.frame.rgb, rendered.exact_depth, camera)
    return views


def depth_at_rays(depth: np.ndarray, camera: PinholeCamera, x: np.ndarray,
                  y: np.ndarray) -> np.ndarray:
    """Return a view's depth at normalised rays (x, y), nearest pixel; NaN outside the image."""
    u = np.rint(camera.fx * x + camera.cx).astype(int)
    v = np.rint(camera.fy * y + camera.cy).astype(int)
    inside = (u >= 0) & (u < camera.width) & (v >= 0) & (v < camera.height)
    out = np.full(np.shape(x), np.nan, np.float32)
    out[inside] = depth[v[inside], u[inside]]
    return out


def pixel_rays(camera: PinholeCamera) -> Tuple[np.ndarray, np.ndarray]:
    """Return the normalised rays (x, y) of every pixel centre of a camera, (H, W) each."""
    v, u = np.mgrid[0:camera.height, 0:camera.width]
    return (u - camera.cx) / camera.fx, (v - camera.cy) / camera.fy


def scale_agreement(outputs: Dict[float, Tuple[np.ndarray, PinholeCamera, np.ndarray,
                                               PinholeCamera]]) -> Dict[str, Dict[float, float]]:
    """
    Compare the depth maps of the views of one scene.

    ``outputs`` maps fov -> (predicted depth, its output camera, true depth, the true depth's
    camera). Returns 'rays': for each view but the narrowest, the median ratio (geometric) of its
    depth to the narrowest view's at the narrowest view's output rays; 'truth': each view's
    median prediction/truth ratio at its output pixels; 'ray_coverage': the share of the
    narrowest view's depth pixels the ratio was taken over; 'truth_coverage': the share of a
    view's output pixels its truth ratio was taken over.
    """
    fovs = sorted(outputs)
    narrow_depth, narrow_cam = outputs[fovs[0]][:2]
    x, y = pixel_rays(narrow_cam)
    rays, truth, ray_coverage, truth_coverage = {}, {}, {}, {}
    for fov in fovs:
        depth, out_cam, gt, gt_cam = outputs[fov]
        if fov != fovs[0]:
            other = depth_at_rays(depth, out_cam, x, y)
            both = np.isfinite(other) & np.isfinite(narrow_depth)
            rays[fov] = float(np.exp(np.median(np.log(other[both] / narrow_depth[both]))))
            ray_coverage[fov] = float(both.sum() / max(np.isfinite(narrow_depth).sum(), 1))
        ox, oy = pixel_rays(out_cam)
        sampled = depth_at_rays(np.nan_to_num(gt, nan=0.0), gt_cam, ox, oy)
        valid = np.isfinite(depth) & (sampled > 0)
        truth[fov] = float(np.median(depth[valid] / sampled[valid]))
        truth_coverage[fov] = float(valid.mean())
    return {'rays': rays, 'truth': truth, 'ray_coverage': ray_coverage,
            'truth_coverage': truth_coverage}
