"""
The sensor model: what the camera does to the radiance, where the depth sensor sees nothing.

Colour: auto-exposure on the log-average luminance with a random offset in stops, white
balance error, vignetting, a Reinhard tone curve, sRGB gamma, a slight Gaussian blur (optics),
then shot and read noise and 8-bit quantisation.

Depth (a structured-light camera such as the Kinect): depth values stay exact; pixels become
holes (NaN) where the surface is seen at a grazing angle, is very dark or glass, shows a
specular highlight, lies beyond the maximum range, or is hidden from the projector, which sits
a baseline to the side of the camera (the shadow band beside every foreground edge).
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np


@dataclasses.dataclass(frozen=True)
class SensorModel:
    """Sensor parameters of one frame (drawn by draw_sensor; documented in synthetic_data.md)."""

    exposure_ev: float = 0.0
    white_balance: tuple = (1.0, 1.0, 1.0)
    vignetting: float = 0.0
    blur_sigma: float = 0.0
    read_noise: float = 0.0
    shot_noise: float = 0.0
    grazing_cos: float = 0.0
    dark_albedo: float = 0.0
    specular_threshold: float = np.inf
    max_range: float = np.inf
    baseline: float = 0.0
    glass_holes: bool = False

    @staticmethod
    def ideal() -> 'SensorModel':
        """Return a noise-free sensor without depth holes (only the sky is invalid)."""
        return SensorModel()


def draw_sensor(kind: str, rng: np.random.Generator) -> SensorModel:
    """Draw the sensor parameters of one frame for a scene kind ('indoor' or 'street')."""
    indoor = kind == 'indoor'
    return SensorModel(
        exposure_ev=float(rng.uniform(-0.6, 0.4)),
        white_balance=tuple(float(g) for g in rng.uniform(0.93, 1.07, 3)),
        vignetting=float(rng.uniform(0.0, 0.35)),
        blur_sigma=float(rng.uniform(0.3, 0.9)),
        read_noise=float(rng.uniform(0.002, 0.01)),
        shot_noise=float(rng.uniform(0.004, 0.02)),
        grazing_cos=float(rng.uniform(0.05, 0.15) if indoor else rng.uniform(0.02, 0.05)),
        dark_albedo=float(rng.uniform(0.01, 0.025)),
        specular_threshold=float(rng.uniform(0.4, 0.8)),
        max_range=float(rng.uniform(6.0, 10.0) if indoor else rng.uniform(40.0, 65.0)),
        baseline=0.075 if indoor else float(rng.uniform(0.0, 0.12)),
        glass_holes=True,
    )


def expose(radiance: np.ndarray, model: SensorModel, rng: np.random.Generator) -> np.ndarray:
    """Turn (H, W, 3) linear radiance into an 8-bit RGB image as the camera would."""
    lum = radiance @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    key = float(np.exp(np.mean(np.log(lum + 1e-4))))
    gain = 0.3 / max(key, 1e-6) * 2.0 ** model.exposure_ev
    image = radiance * np.asarray(model.white_balance, np.float32) * np.float32(gain)
    if model.vignetting:
        h, w = image.shape[:2]
        yy = (np.arange(h, dtype=np.float32) - (h - 1) / 2) / (h / 2)
        xx = (np.arange(w, dtype=np.float32) - (w - 1) / 2) / (w / 2)
        r2 = (xx[None, :] ** 2 + yy[:, None] ** 2) * np.float32(0.5)
        image *= (1 - np.float32(model.vignetting) * r2)[..., None]
    image = image * (1 + image / 9.0) / (1 + image)
    image = np.power(np.clip(image, 0.0, 1.0), np.float32(1 / 2.2))
    if model.blur_sigma > 0:
        image = cv2.GaussianBlur(image, (0, 0), model.blur_sigma)
    if model.read_noise or model.shot_noise:
        sigma = np.sqrt(model.read_noise ** 2 + model.shot_noise ** 2 * image)
        image = image + sigma * rng.standard_normal(image.shape, np.float32)
    return np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)


def projector_shadow(depth: np.ndarray, fx: float, baseline: float) -> np.ndarray:
    """
    Return True where the projector, `baseline` metres to the camera's right, cannot see.

    A pixel at column u with disparity d = fx * baseline / depth lands on projector column
    u - d; it is hidden when a pixel further right lands further left (is in front of it).
    """
    if baseline <= 0:
        return np.zeros(depth.shape, bool)
    with np.errstate(divide='ignore', invalid='ignore'):
        disparity = np.where(np.isfinite(depth), fx * baseline / depth, 0.0)
    column = np.arange(depth.shape[1], dtype=float)[None, :] - disparity
    # Minimum of the projector columns of the pixels strictly to the right.
    right_min = np.minimum.accumulate(column[:, ::-1], axis=1)[:, ::-1]
    right_min = np.concatenate([right_min[:, 1:], np.full((depth.shape[0], 1), np.inf)], 1)
    return right_min < column - 0.5


def depth_holes(depth: np.ndarray, cos_view: np.ndarray, albedo_luminance: np.ndarray,
                highlight: np.ndarray, glass: np.ndarray, fx: float,
                model: SensorModel) -> np.ndarray:
    """
    Return True where the depth sensor returns nothing (the caller sets those depths to NaN).

    cos_view: |cos| between ray and normal; albedo_luminance: surface reflectance; highlight:
    specular highlight strength; glass: surfaces the sensor sees through. All (H, W).
    """
    holes = ~np.isfinite(depth)
    holes |= cos_view < model.grazing_cos
    holes |= albedo_luminance < model.dark_albedo
    holes |= highlight > model.specular_threshold
    if model.glass_holes:
        holes |= glass
    with np.errstate(invalid='ignore'):
        holes |= depth > model.max_range
    holes |= projector_shadow(depth, fx, model.baseline)
    return holes
