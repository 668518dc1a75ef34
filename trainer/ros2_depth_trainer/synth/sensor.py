"""
The sensor model: what the camera does to the radiance, what the depth sensor measures.

Colour: auto-exposure on the log-average luminance with a random offset in stops, white
balance error (a colour cast), vignetting, optional motion blur (a line kernel, on the linear
image), a Reinhard tone curve, sRGB gamma, a saturation change, a slight Gaussian blur (optics),
shot and read noise (optionally correlated across the channels, as demosaicing makes it), 8-bit
quantisation and optional JPEG compression.

Depth holes (NaN) where the surface is seen at a grazing angle, is very dark or glass, shows a
specular highlight, lies outside the range, or is hidden from the projector, which sits a
baseline to the side of the camera (the shadow band beside every foreground edge). The depth
values that remain depend on the depth sensor family:

- ``ideal``: exact depth;
- ``structured_light`` (Kinect v1, RealSense): the disparity f b / z is measured in steps of
  a fraction of a pixel (plus a little disparity noise), so depth steps grow with z^2;
- ``tof`` (Kinect v2, Azure Kinect): flying pixels on depth edges (a mix of the foreground
  and background depths) and noise that grows with the distance and as the albedo drops.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Dict, Optional, Tuple

import cv2
import numpy as np

DEPTH_FAMILIES = ('ideal', 'structured_light', 'tof')
# Families drawn per sample for indoor scenes (and close-range robot views), with their shares.
INDOOR_FAMILY_SHARES = {'structured_light': 0.4, 'tof': 0.4, 'ideal': 0.2}
# A 3x3 neighbourhood whose depths differ by more than this share of the nearest is an edge.
FLYING_EDGE_JUMP = 0.1
_LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)


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
    # Camera effects of generator 2.0 (the defaults turn them off).
    motion_blur_px: float = 0.0  # length of the blur line in pixels
    motion_blur_deg: float = 0.0  # its direction in the image, 0 = along +u, 90 = along +v
    saturation: float = 1.0
    noise_correlation: float = 0.0  # correlation of the noise between the colour channels
    jpeg_quality: int = 0  # 0 = no JPEG compression
    # Depth sensor of generator 2.0.
    depth_family: str = 'ideal'
    min_range: float = 0.0
    disparity_fb: float = 0.0  # structured light: focal length (native px) x baseline (m)
    disparity_step: float = 0.0  # structured light: disparity step in native pixels
    disparity_noise: float = 0.0  # structured light: disparity noise sigma in native pixels
    flying_share: float = 0.0  # tof: share of depth-edge pixels that take a mixed depth
    tof_noise: float = 0.0  # tof: depth noise sigma in metres at 1 m and albedo 0.5

    def __post_init__(self) -> None:
        """Reject an unknown depth family."""
        if self.depth_family not in DEPTH_FAMILIES:
            raise ValueError(f'unknown depth family {self.depth_family!r}; '
                             f'known: {DEPTH_FAMILIES}')

    @staticmethod
    def ideal() -> 'SensorModel':
        """Return a noise-free sensor without depth holes (only the sky is invalid)."""
        return SensorModel()

    def to_json(self) -> Dict[str, Any]:
        """Return the parameters as JSON-ready values (infinite thresholds become None)."""
        out: Dict[str, Any] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, tuple):
                value = [float(v) for v in value]
            elif isinstance(value, float) and not math.isfinite(value):
                value = None
            out[field.name] = value
        return out


def _draw_legacy(kind: str, rng: np.random.Generator) -> SensorModel:
    """Draw the sensor of generator 1.0 (the bags keep it, so its draws never change)."""
    indoor = kind != 'street'
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


def _draw_camera(indoor: bool, rng: np.random.Generator) -> Dict[str, Any]:
    """Draw the colour camera's parameters of generator 2.0."""
    # Colour cast along the warm-cool axis (warm light indoors), plus a per-channel error.
    cast = float(rng.uniform(-0.4, 1.0) if indoor else rng.uniform(-0.5, 0.5))
    jitter = rng.uniform(0.95, 1.05, 3)
    balance = np.array([math.exp(0.18 * cast), 1.0, math.exp(-0.22 * cast)]) * jitter
    camera = {
        'exposure_ev': float(rng.uniform(-1.0, 0.7)),
        'white_balance': tuple(float(g) for g in balance),
        'vignetting': float(rng.uniform(0.0, 0.55)),
        'blur_sigma': float(rng.uniform(0.3, 0.9)),
        'read_noise': float(rng.uniform(0.002, 0.012)),
        'shot_noise': float(rng.uniform(0.004, 0.025)),
        'saturation': float(rng.uniform(0.75, 1.2)),
        'noise_correlation': float(rng.uniform(0.0, 0.6)),
    }
    blurred, length, angle = rng.uniform() < 0.3, rng.uniform(1.0, 5.0), rng.uniform(0.0, 180.0)
    if blurred:
        camera.update(motion_blur_px=float(length), motion_blur_deg=float(angle))
    compressed, quality = rng.uniform() < 0.4, int(rng.integers(35, 96))
    if compressed:
        camera['jpeg_quality'] = quality
    return camera


def _draw_depth(indoor: bool, rng: np.random.Generator, close: bool = False) -> Dict[str, Any]:
    """
    Draw the depth sensor of generator 2.0: its family, holes and measurement errors.

    ``close`` (the robot kind) draws the near limits of short-range sensors (RealSense D4xx
    about 0.1-0.3 m, Azure Kinect NFOV 0.25 m) instead of a Kinect v1's 0.4-0.5 m, so that
    close-range views keep most of their depth.
    """
    holes = {
        'grazing_cos': float(rng.uniform(0.05, 0.15) if indoor else rng.uniform(0.02, 0.05)),
        'dark_albedo': float(rng.uniform(0.01, 0.025)),
        'specular_threshold': float(rng.uniform(0.4, 0.8)),
        'max_range': float(rng.uniform(6.0, 10.0) if indoor else rng.uniform(40.0, 65.0)),
        'baseline': 0.075 if indoor else float(rng.uniform(0.0, 0.12)),
        'glass_holes': True,
    }
    if not indoor:
        return holes  # stereo / lidar-like long-range depth: exact values, holes only
    names, shares = zip(*INDOOR_FAMILY_SHARES.items())
    family = str(names[int(rng.choice(len(names), p=shares))])
    holes['depth_family'] = family
    if family == 'structured_light':
        # Kinect v1: f 580 px, b 7.5 cm, 1/8 px steps; RealSense D4xx: f ~380-430 px, b 5 cm,
        # ~0.08 px subpixel steps.
        focal, baseline = rng.uniform(380.0, 600.0), rng.uniform(0.05, 0.075)
        holes.update(baseline=float(baseline), disparity_fb=float(focal * baseline),
                     disparity_step=float(rng.uniform(0.06, 0.125)),
                     disparity_noise=float(rng.uniform(0.0, 0.08)),
                     min_range=float(rng.uniform(0.1, 0.3) if close
                                     else rng.uniform(0.2, 0.5)))
    elif family == 'tof':
        # Kinect v2 / Azure Kinect: range about 0.25-0.5 to 4.5-5.5 m, no projector shadow,
        # lower returns on dark surfaces.
        holes.update(baseline=0.0, max_range=float(rng.uniform(4.0, 6.0)),
                     min_range=float(rng.uniform(0.1, 0.25) if close
                                     else rng.uniform(0.25, 0.5)),
                     dark_albedo=float(rng.uniform(0.015, 0.04)),
                     flying_share=float(rng.uniform(0.3, 1.0)),
                     tof_noise=float(rng.uniform(0.0015, 0.004)))
    return holes


def draw_sensor(kind: str, rng: np.random.Generator, legacy: bool = False) -> SensorModel:
    """
    Draw the sensor parameters of one frame for a scene kind ('indoor', 'robot' or 'street').

    'robot' (close-range indoor views) draws as 'indoor', with short-range sensors' near limits
    (``_draw_depth``). ``legacy=True`` draws the model of
    generator 1.0 from exactly the same random numbers (trajectories use it, so the sample bags
    stay byte-identical): no motion blur, JPEG, saturation or correlated noise, narrower
    exposure, white balance and vignetting ranges, and exact depth values.
    """
    if legacy:
        return _draw_legacy(kind, rng)
    indoor = kind != 'street'
    return SensorModel(**_draw_camera(indoor, rng),
                       **_draw_depth(indoor, rng, close=kind == 'robot'))


def motion_kernel(length: float, angle_deg: float) -> np.ndarray:
    """Return a normalised line kernel `length` pixels long at `angle_deg` (0 = along +u)."""
    radius = int(math.ceil(length / 2.0))
    size = 2 * radius + 1
    kernel = np.zeros((size, size), np.float32)
    steps = max(2, int(math.ceil(4 * length)))
    s = ((np.arange(steps) + 0.5) / steps - 0.5) * length  # midpoints of equal pieces
    angle = math.radians(angle_deg)
    x, y = radius + s * math.cos(angle), radius + s * math.sin(angle)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = x - x0, y - y0
    for dx, dy, w in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)),
                      (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        xi, yi = np.minimum(x0 + dx, size - 1), np.minimum(y0 + dy, size - 1)
        np.add.at(kernel, (yi, xi), w.astype(np.float32))
    return kernel / kernel.sum()


def motion_blur(image: np.ndarray, length: float, angle_deg: float) -> np.ndarray:
    """Blur an (H, W, C) float image along a line (camera shake during the exposure)."""
    if length <= 0:
        return image
    return cv2.filter2D(image, -1, motion_kernel(length, angle_deg),
                        borderType=cv2.BORDER_REFLECT)


def jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    """Encode an (H, W, 3) uint8 RGB image as JPEG at `quality` (1-100) and decode it."""
    ok, data = cv2.imencode('.jpg', np.ascontiguousarray(rgb[..., ::-1]),
                            [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError('OpenCV could not encode a JPEG image')
    return np.ascontiguousarray(cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1])


def expose(radiance: np.ndarray, model: SensorModel, rng: np.random.Generator) -> np.ndarray:
    """Turn (H, W, 3) linear radiance into an 8-bit RGB image as the camera would."""
    lum = radiance @ _LUMA
    key = float(np.exp(np.mean(np.log(lum + 1e-4))))
    gain = 0.3 / max(key, 1e-6) * 2.0 ** model.exposure_ev
    image = radiance * np.asarray(model.white_balance, np.float32) * np.float32(gain)
    if model.vignetting:
        h, w = image.shape[:2]
        yy = (np.arange(h, dtype=np.float32) - (h - 1) / 2) / (h / 2)
        xx = (np.arange(w, dtype=np.float32) - (w - 1) / 2) / (w / 2)
        r2 = (xx[None, :] ** 2 + yy[:, None] ** 2) * np.float32(0.5)
        image *= (1 - np.float32(model.vignetting) * r2)[..., None]
    if model.motion_blur_px > 0:
        image = motion_blur(image, model.motion_blur_px, model.motion_blur_deg)
    image = image * (1 + image / 9.0) / (1 + image)
    image = np.power(np.clip(image, 0.0, 1.0), np.float32(1 / 2.2))
    if model.saturation != 1.0:
        grey = (image @ _LUMA)[..., None]
        image = np.clip(grey + np.float32(model.saturation) * (image - grey), 0.0, 1.0)
    if model.blur_sigma > 0:
        image = cv2.GaussianBlur(image, (0, 0), model.blur_sigma)
    if model.read_noise or model.shot_noise:
        sigma = np.sqrt(model.read_noise ** 2 + model.shot_noise ** 2 * image)
        noise = rng.standard_normal(image.shape, np.float32)
        if model.noise_correlation > 0:
            rho = model.noise_correlation
            shared = rng.standard_normal(image.shape[:2] + (1,), np.float32)
            noise = np.float32(math.sqrt(1 - rho)) * noise + np.float32(math.sqrt(rho)) * shared
        image = image + sigma * noise
    rgb = np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if model.jpeg_quality:
        rgb = jpeg(rgb, model.jpeg_quality)
    return rgb


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
        if model.min_range > 0:
            holes |= depth < model.min_range
    holes |= projector_shadow(depth, fx, model.baseline)
    return holes


def quantise_disparity(depth: np.ndarray, focal_baseline: float, step: float,
                       noise: Optional[np.ndarray] = None) -> np.ndarray:
    """
    Return depth as a disparity camera measures it: f b / (round(f b / z / step) * step).

    `noise` (disparity noise in pixels, same shape) is added before rounding; the measured
    disparity is at least one step. NaN stays NaN.
    """
    with np.errstate(divide='ignore', invalid='ignore'):
        disparity = np.float32(focal_baseline) / depth
        if noise is not None:
            disparity = disparity + noise
        steps = np.maximum(np.round(disparity / np.float32(step)), 1)
        return (np.float32(focal_baseline) / (steps * np.float32(step))).astype(np.float32)


def depth_edges(depth: np.ndarray, jump: float = FLYING_EDGE_JUMP
                ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """
    Return (edge, near, far): pixels whose 3x3 neighbourhood spans a depth jump, and its extremes.

    A jump is a difference above `jump` times the nearest depth; NaN neighbours are ignored.
    """
    finite = np.isfinite(depth)
    kernel = np.ones((3, 3), np.uint8)
    near = cv2.erode(np.where(finite, depth, np.float32(np.inf)).astype(np.float32), kernel,
                     borderType=cv2.BORDER_REPLICATE)
    far = cv2.dilate(np.where(finite, depth, np.float32(0)).astype(np.float32), kernel,
                     borderType=cv2.BORDER_REPLICATE)
    with np.errstate(invalid='ignore'):
        edge = finite & (far - near > np.float32(jump) * near)
    return edge, near, far


def sensor_depth(depth: np.ndarray, holes: np.ndarray, albedo_luminance: np.ndarray,
                 model: SensorModel, rng: np.random.Generator) -> np.ndarray:
    """
    Return the depth the sensor reports: NaN in the holes, elsewhere per `model.depth_family`.

    depth: exact (H, W) depth, NaN without a surface; albedo_luminance: surface reflectance.
    The ideal family draws nothing from `rng`.
    """
    out = np.where(holes, np.float32(np.nan), depth).astype(np.float32)
    valid = ~holes
    if model.depth_family == 'structured_light':
        noise = None
        if model.disparity_noise > 0:
            noise = np.float32(model.disparity_noise) * rng.standard_normal(depth.shape,
                                                                            np.float32)
        out[valid] = quantise_disparity(depth, model.disparity_fb, model.disparity_step,
                                        noise)[valid]
    elif model.depth_family == 'tof':
        edge, near, far = depth_edges(depth)
        # One uniform u per pixel: it flies if u < share, with mixing weight u / share.
        u = rng.random(depth.shape, np.float32)
        share = np.float32(max(model.flying_share, 1e-6))
        fly = edge & valid & (u < share)
        mixed = np.where(fly, near + (u / share) * (far - near), depth)
        albedo = np.maximum(albedo_luminance, np.float32(0.01))
        sigma = np.float32(model.tof_noise) * mixed * np.sqrt(np.float32(0.5) / albedo)
        noisy = mixed + sigma * rng.standard_normal(depth.shape, np.float32)
        out[valid] = np.maximum(noisy, np.float32(1e-3))[valid]
    return out
