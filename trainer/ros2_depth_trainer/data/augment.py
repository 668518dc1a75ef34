"""
Training augmentation of Eigen et al. 2014, photometric jitter, and the test-time centre crop.

Every geometric step is one affine map from output pixels to source pixels, composed and applied
in a single resampling (pixel centres at integer coordinates, as in ``ros2_depth.camera_model``):

1. resize the input to ``base_size`` (240x320 for NYU, 184x612 for KITTI);
2. scale by s (uniform in ``scale_range``): the image grows s times and the focal lengths grow
   s times. With ``depth_follows_scale`` (the default, as Eigen et al. 2014) the depth is
   divided by s: image, depth and intrinsics are one consistent pinhole view of the scene
   shrunk s times. With ``depth_follows_scale=False`` the depth keeps its metric values: the
   view of the same scene from the same place through a lens s times longer, for camera-aware
   training where the trainer itself normalises depth by the focal length
   (``Warp.intrinsics`` reports it);
3. rotate by an angle uniform in +-``max_rotation_deg``. The rotation is a roll of the camera
   about its optical axis: output pixel p' = K R_z K^-1 p, i.e. a rotation about the principal
   point (exact for fx != fy too). The intrinsics do not change, depth (the z coordinate) does
   not change, 3D points and normals turn by R_z(angle) = [[c, -s, 0], [s, c, 0], [0, 0, 1]];
   what the rotated view does not cover is invalid (image 0, depth 0, labels 0, normals 0);
4. crop ``out_size`` (228x304 for NYU, 172x576 for KITTI) at a random integer offset;
5. flip horizontally with probability ``flip_prob``: u -> W - 1 - u, cx -> W - 1 - cx, and the
   x axis of the camera frame (so normals' x components) changes sign;
6. multiply each RGB channel by a factor uniform in ``colour_range`` and clip to [0, 1].

Photometric jitter (optional, off by default; the image only, never depth, normals, labels or
intrinsics), after step 6 in this order: with probability ``jitter_prob``, gamma x^g (g in
``gamma_range``), brightness x + b (``brightness_range``), contrast about the image's mean
luminance (``contrast_range``), saturation about each pixel's luminance
(``saturation_range``) and a hue rotation about the grey axis by up to +-``max_hue_deg``,
then a clip to [0, 1]; with probability ``blur_prob`` a Gaussian blur of sigma in
``blur_sigma_range`` pixels; with probability ``noise_prob`` Gaussian noise of standard
deviation in ``noise_std_range``, clipped to [0, 1]. What the rotated view does not cover stays
0. The presets ``nyu_eigen14`` and ``kitti_eigen14`` use none of it; ``synthetic_robust``
(for generated scenes meant to transfer to real cameras) uses all of it with metric depth.

Resampling: the image bilinearly; dense depth bilinearly but only where every neighbour that
carries weight is valid (never across an invalid pixel); sparse depth (LiDAR) by moving each
valid pixel to its nearest output pixel and keeping the nearest depth there; labels by nearest
neighbour; normals like dense depth (then renormalised) or, with sparse depth, by nearest
neighbour. Invalid input stays invalid. At test time only steps 1 and 4 run, with the crop
centred.

Randomness comes from a ``numpy.random.Generator`` that the caller passes in (or a
``torch.Generator``, or an int seed), so every augmentation is reproducible.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Callable, Dict, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch

Sample = Dict[str, torch.Tensor]
RandomSource = Union[np.random.Generator, torch.Generator, int, None]

# Below this, a bilinear weight is treated as zero (float round-off of exact pixel positions).
_WEIGHT_EPS = 1e-6


class AugmentError(ValueError):
    """An augmentation config or a sample cannot be used."""


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """Sizes are (height, width) in pixels; ranges are (low, high), drawn uniformly."""

    base_size: Tuple[int, int]
    out_size: Tuple[int, int]
    scale_range: Tuple[float, float] = (1.0, 1.0)
    max_rotation_deg: float = 0.0
    colour_range: Tuple[float, float] = (1.0, 1.0)
    flip_prob: float = 0.0
    sparse_depth: bool = False
    depth_follows_scale: bool = True
    # Photometric jitter of the image (module docstring); the defaults leave the image alone.
    jitter_prob: float = 1.0
    brightness_range: Tuple[float, float] = (0.0, 0.0)
    contrast_range: Tuple[float, float] = (1.0, 1.0)
    saturation_range: Tuple[float, float] = (1.0, 1.0)
    gamma_range: Tuple[float, float] = (1.0, 1.0)
    max_hue_deg: float = 0.0
    blur_prob: float = 0.0
    blur_sigma_range: Tuple[float, float] = (0.5, 1.5)
    noise_prob: float = 0.0
    noise_std_range: Tuple[float, float] = (0.005, 0.02)

    @property
    def jitters(self) -> bool:
        """Whether any of brightness, contrast, saturation, gamma and hue can change."""
        return (self.jitter_prob > 0 and (self.brightness_range != (0.0, 0.0)
                                          or self.contrast_range != (1.0, 1.0)
                                          or self.saturation_range != (1.0, 1.0)
                                          or self.gamma_range != (1.0, 1.0)
                                          or self.max_hue_deg > 0))

    def __post_init__(self) -> None:
        """Reject sizes and ranges that cannot produce a crop, and invalid jitter settings."""
        (hb, wb), (ho, wo) = self.base_size, self.out_size
        if min(hb, wb, ho, wo) < 1:
            raise AugmentError(f'sizes must be positive, got {self.base_size}, {self.out_size}')
        lo, hi = self.scale_range
        if not 0 < lo <= hi or hb * lo < ho or wb * lo < wo:
            raise AugmentError(f'scale_range {self.scale_range} must satisfy 0 < low <= high and '
                               f'base_size * low >= out_size')
        if self.max_rotation_deg < 0 or not 0 <= self.flip_prob <= 1:
            raise AugmentError('max_rotation_deg must be >= 0 and flip_prob in [0, 1]')
        if not 0 <= self.colour_range[0] <= self.colour_range[1]:
            raise AugmentError(f'colour_range {self.colour_range} must be 0 <= low <= high')
        for name in ('jitter_prob', 'blur_prob', 'noise_prob'):
            if not 0 <= getattr(self, name) <= 1:
                raise AugmentError(f'{name} must be in [0, 1], got {getattr(self, name)}')
        for name, low in (('brightness_range', -1.0), ('contrast_range', 0.0),
                          ('saturation_range', 0.0), ('gamma_range', 1e-6),
                          ('blur_sigma_range', 0.0), ('noise_std_range', 0.0)):
            lo, hi = getattr(self, name)
            if not low <= lo <= hi:
                raise AugmentError(f'{name} {(lo, hi)} must satisfy {low} <= low <= high')
        if not 0 <= self.max_hue_deg <= 180:
            raise AugmentError(f'max_hue_deg must be in [0, 180], got {self.max_hue_deg}')


# The settings of Eigen et al. 2014, section 3.4 (sizes from the released NYU code and Fig. 1).
PRESETS: Dict[str, AugmentConfig] = {
    'nyu_eigen14': AugmentConfig(base_size=(240, 320), out_size=(228, 304),
                                 scale_range=(1.0, 1.5), max_rotation_deg=5.0,
                                 colour_range=(0.8, 1.2), flip_prob=0.5),
    'kitti_eigen14': AugmentConfig(base_size=(184, 612), out_size=(172, 576),
                                   scale_range=(1.0, 1.2), max_rotation_deg=0.0,
                                   colour_range=(0.8, 1.2), flip_prob=0.5, sparse_depth=True),
    # Generated scenes for real cameras: the NYU geometry with metric depth, plus moderate
    # photometric jitter, blur and noise.
    'synthetic_robust': AugmentConfig(base_size=(240, 320), out_size=(228, 304),
                                      scale_range=(1.0, 1.5), max_rotation_deg=5.0,
                                      colour_range=(0.8, 1.2), flip_prob=0.5,
                                      depth_follows_scale=False, jitter_prob=0.8,
                                      brightness_range=(-0.08, 0.08),
                                      contrast_range=(0.8, 1.2), saturation_range=(0.8, 1.2),
                                      gamma_range=(0.85, 1.15), max_hue_deg=5.0,
                                      blur_prob=0.2, blur_sigma_range=(0.3, 1.0),
                                      noise_prob=0.3, noise_std_range=(0.005, 0.02)),
}


@dataclasses.dataclass(frozen=True)
class AugmentParams:
    """One draw of the random parameters; ``crop`` is the (row, column) offset of the crop."""

    scale: float = 1.0
    angle_deg: float = 0.0
    crop: Tuple[int, int] = (0, 0)
    flip: bool = False
    colour: Tuple[float, float, float] = (1.0, 1.0, 1.0)
    brightness: float = 0.0
    contrast: float = 1.0
    saturation: float = 1.0
    gamma: float = 1.0
    hue_deg: float = 0.0
    blur_sigma: float = 0.0
    noise_std: float = 0.0
    noise_seed: int = 0


@dataclasses.dataclass(frozen=True)
class Warp:
    """
    The geometry of one augmentation, in float64.

    ``matrix`` (3x3) maps output pixel (u, v, 1) to source pixel coordinates; ``intrinsics`` are
    fx, fy, cx, cy of the output; a 3D point or normal X of the source camera frame is
    ``frame_rotation @ X * depth_factor`` in the output camera frame (normals: without the
    factor).
    """

    matrix: np.ndarray
    intrinsics: np.ndarray
    frame_rotation: np.ndarray
    depth_factor: float
    out_size: Tuple[int, int]


def resolve_config(config: Union[str, AugmentConfig]) -> AugmentConfig:
    """Return ``config`` itself or the preset of that name."""
    if isinstance(config, AugmentConfig):
        return config
    try:
        return PRESETS[config]
    except KeyError:
        raise AugmentError(f'unknown augmentation preset {config!r}; '
                           f'known: {", ".join(sorted(PRESETS))}') from None


def numpy_generator(source: RandomSource) -> np.random.Generator:
    """Turn a numpy or torch generator, or an int seed, into a numpy generator."""
    if isinstance(source, np.random.Generator):
        return source
    if isinstance(source, torch.Generator):
        seed = int(torch.randint(0, 2 ** 62, (1,), generator=source).item())
        return np.random.default_rng(seed)
    if source is None or isinstance(source, (int, np.integer)):
        return np.random.default_rng(source)
    raise AugmentError(f'expected a numpy or torch generator or an int seed, got {source!r}')


def sample_params(config: AugmentConfig, rng: RandomSource) -> AugmentParams:
    """Draw the random parameters of one training augmentation (always in the same order)."""
    rng = numpy_generator(rng)
    (hb, wb), (ho, wo) = config.base_size, config.out_size
    scale = float(rng.uniform(*config.scale_range))
    angle = float(rng.uniform(-config.max_rotation_deg, config.max_rotation_deg))
    max_row = int(math.floor(hb * scale - ho + 1e-9))
    max_col = int(math.floor(wb * scale - wo + 1e-9))
    crop = (int(rng.integers(0, max_row + 1)), int(rng.integers(0, max_col + 1)))
    flip = bool(rng.random() < config.flip_prob)
    colour = tuple(float(c) for c in rng.uniform(*config.colour_range, size=3))
    params = AugmentParams(scale=scale, angle_deg=angle, crop=crop, flip=flip, colour=colour)
    # Photometric draws only where a config uses them, so the presets without keep their draws.
    photometric = {}
    if config.jitters:
        on = rng.random() < config.jitter_prob
        values = (float(rng.uniform(*config.gamma_range)),
                  float(rng.uniform(*config.brightness_range)),
                  float(rng.uniform(*config.contrast_range)),
                  float(rng.uniform(*config.saturation_range)),
                  float(rng.uniform(-config.max_hue_deg, config.max_hue_deg)))
        if on:
            photometric.update(zip(('gamma', 'brightness', 'contrast', 'saturation', 'hue_deg'),
                                   values))
    if config.blur_prob > 0:
        on, sigma = rng.random() < config.blur_prob, float(rng.uniform(*config.blur_sigma_range))
        if on:
            photometric['blur_sigma'] = sigma
    if config.noise_prob > 0:
        on, std = rng.random() < config.noise_prob, float(rng.uniform(*config.noise_std_range))
        seed = int(rng.integers(0, 2 ** 63))
        if on:
            photometric.update(noise_std=std, noise_seed=seed)
    return dataclasses.replace(params, **photometric) if photometric else params


def centre_params(config: AugmentConfig) -> AugmentParams:
    """Return the test-time parameters: no scaling, rotation, flip or colour; centred crop."""
    (hb, wb), (ho, wo) = config.base_size, config.out_size
    return AugmentParams(crop=((hb - ho) // 2, (wb - wo) // 2))


def _rot_z(angle_deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _camera_matrix(fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def plan_warp(src_size: Tuple[int, int], intrinsics: Sequence[float], config: AugmentConfig,
              params: AugmentParams) -> Warp:
    """Compose the geometry of ``params`` for a source image of ``src_size`` (height, width)."""
    (h0, w0), (hb, wb), (ho, wo) = src_size, config.base_size, config.out_size
    fx, fy, cx, cy = (float(v) for v in intrinsics)
    s = float(params.scale)
    # 1. source -> base resize (pixel-centre aligned): src = a * base + (a - 1) / 2.
    ax, ay = w0 / wb, h0 / hb
    to_src = np.array([[ax, 0, 0.5 * ax - 0.5], [0, ay, 0.5 * ay - 0.5], [0, 0, 1.0]])
    fx, fy, cx, cy = fx / ax, fy / ay, (cx + 0.5) / ax - 0.5, (cy + 0.5) / ay - 0.5
    # 2. scale by s: base = (scaled + 0.5) / s - 0.5.
    to_src = to_src @ np.array([[1 / s, 0, 0.5 / s - 0.5], [0, 1 / s, 0.5 / s - 0.5], [0, 0, 1]])
    fx, fy, cx, cy = fx * s, fy * s, s * (cx + 0.5) - 0.5, s * (cy + 0.5) - 0.5
    # 3. camera roll: rotated = K R K^-1 scaled, so scaled = K R^-1 K^-1 rotated.
    k = _camera_matrix(fx, fy, cx, cy)
    to_src = to_src @ k @ _rot_z(-params.angle_deg) @ np.linalg.inv(k)
    # 4. crop.
    row, col = params.crop
    to_src = to_src @ np.array([[1.0, 0, col], [0, 1, row], [0, 0, 1]])
    cx, cy = cx - col, cy - row
    # 5. flip.
    mirror = np.diag([-1.0 if params.flip else 1.0, 1.0, 1.0])
    if params.flip:
        to_src = to_src @ np.array([[-1.0, 0, wo - 1], [0, 1, 0], [0, 0, 1]])
        cx = wo - 1 - cx
    to_src[2] = (0.0, 0.0, 1.0)
    return Warp(matrix=to_src, intrinsics=np.array([fx, fy, cx, cy]),
                frame_rotation=mirror @ _rot_z(params.angle_deg),
                depth_factor=1.0 / s if config.depth_follows_scale else 1.0,
                out_size=(ho, wo))


_LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)


def colour_matrix(saturation: float, hue_deg: float) -> np.ndarray:
    """
    Return the 3x3 matrix M (rgb_out = M @ rgb) that changes saturation and rotates hue.

    The hue turns about the grey axis (1, 1, 1); saturation scales the distance of each pixel
    from its luminance. Both keep greys grey.
    """
    angle = math.radians(hue_deg)
    axis = np.full(3, 1.0 / math.sqrt(3.0))
    cross = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]],
                      [-axis[1], axis[0], 0.0]])
    rotation = (math.cos(angle) * np.eye(3) + math.sin(angle) * cross
                + (1 - math.cos(angle)) * np.outer(axis, axis))
    grey = np.outer(np.ones(3), _LUMA.astype(np.float64))
    return (1 - saturation) * grey + saturation * np.eye(3) @ rotation


def photometric(image: np.ndarray, params: AugmentParams) -> np.ndarray:
    """Apply the jitter, blur and noise of ``params`` to an (H, W, 3) image in [0, 1]."""
    image = np.asarray(image, dtype=np.float32)
    if params.gamma != 1.0:
        image = np.power(np.maximum(image, 0.0), np.float32(params.gamma))
    if params.brightness != 0.0:
        image = image + np.float32(params.brightness)
    if params.contrast != 1.0:
        mean = np.float32((image @ _LUMA).mean())
        image = mean + np.float32(params.contrast) * (image - mean)
    if params.saturation != 1.0 or params.hue_deg != 0.0:
        matrix = colour_matrix(params.saturation, params.hue_deg).astype(np.float32)
        image = image @ matrix.T
    image = np.clip(image, 0.0, 1.0)
    if params.blur_sigma > 0:
        image = cv2.GaussianBlur(image, (0, 0), params.blur_sigma,
                                 borderType=cv2.BORDER_REFLECT)
    if params.noise_std > 0:
        noise = np.random.default_rng(params.noise_seed).standard_normal(image.shape,
                                                                         np.float32)
        image = np.clip(image + np.float32(params.noise_std) * noise, 0.0, 1.0)
    return image


def _source_grid(warp: Warp) -> Tuple[np.ndarray, np.ndarray]:
    ho, wo = warp.out_size
    u, v = np.meshgrid(np.arange(wo, dtype=np.float64), np.arange(ho, dtype=np.float64))
    m = warp.matrix
    return m[0, 0] * u + m[0, 1] * v + m[0, 2], m[1, 0] * u + m[1, 1] * v + m[1, 2]


def _inside(x: np.ndarray, y: np.ndarray, shape: Tuple[int, ...]) -> np.ndarray:
    h, w = shape[:2]
    return (x >= -0.5) & (x <= w - 0.5) & (y >= -0.5) & (y <= h - 0.5)


@dataclasses.dataclass(frozen=True)
class BilinearTaps:
    """The four neighbours and weights of every sample point, shared by all maps warped alike."""

    grid_shape: Tuple[int, ...]
    src_shape: Tuple[int, int]
    index: np.ndarray  # (4, N) flat source pixel indices
    weight: np.ndarray  # (4, N) float32 bilinear weights
    inside: np.ndarray  # (N,) inside the image area


def bilinear_taps(x: np.ndarray, y: np.ndarray, src_shape: Tuple[int, ...]) -> BilinearTaps:
    """Return the bilinear neighbours of source coordinates x, y in an image of ``src_shape``."""
    h, w = src_shape[:2]
    inside = _inside(x, y, src_shape).ravel()
    xs, ys = x.ravel(), y.ravel()
    xf, yf = np.floor(xs), np.floor(ys)
    wx, wy = (xs - xf).astype(np.float32), (ys - yf).astype(np.float32)
    xi, yi = xf.astype(np.int64), yf.astype(np.int64)
    cols = (np.clip(xi, 0, w - 1), np.clip(xi + 1, 0, w - 1))
    rows = (np.clip(yi, 0, h - 1) * w, np.clip(yi + 1, 0, h - 1) * w)
    index = np.stack([rows[0] + cols[0], rows[0] + cols[1], rows[1] + cols[0], rows[1] + cols[1]])
    weight = np.stack([(1 - wy) * (1 - wx), (1 - wy) * wx, wy * (1 - wx), wy * wx])
    return BilinearTaps(x.shape, (h, w), index, weight, inside)


def bilinear(src: np.ndarray, x: np.ndarray, y: np.ndarray,
             valid: Optional[np.ndarray] = None,
             taps: Optional[BilinearTaps] = None) -> Tuple[np.ndarray, np.ndarray]:
    """
    Sample ``src`` (H, W, C) at source coordinates x, y; return the values and where they are ok.

    A point is ok inside the image area (edge pixels extended by half a pixel) and, when
    ``valid`` (H, W) is given, only if every neighbour with non-zero weight is valid; values
    are 0 where not ok. Computed in float32; pass ``taps`` (from ``bilinear_taps`` for the
    same x, y and image size) to reuse them across maps.
    """
    h, w = src.shape[:2]
    if taps is None or taps.src_shape != (h, w):
        taps = bilinear_taps(x, y, src.shape)
    flat_src = np.asarray(src, dtype=np.float32).reshape(h * w, -1)
    ok = taps.inside.copy()
    out = np.zeros((ok.size, flat_src.shape[1]), dtype=np.float32)
    flat_valid = None if valid is None else np.asarray(valid, dtype=bool).ravel()
    for index, weight in zip(taps.index, taps.weight):
        out += weight[:, None] * flat_src[index]
        if flat_valid is not None:
            ok &= (weight <= _WEIGHT_EPS) | flat_valid[index]
    out[~ok] = 0
    return out.reshape(taps.grid_shape + src.shape[2:]), ok.reshape(taps.grid_shape)


def nearest(src: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Sample ``src`` (H, W, ...) at the nearest pixel to x, y; 0 outside the image."""
    h, w = src.shape[:2]
    ok = _inside(x, y, src.shape)
    cols = np.clip(np.floor(x + 0.5).astype(np.int64), 0, w - 1)
    rows = np.clip(np.floor(y + 0.5).astype(np.int64), 0, h - 1)
    out = src[rows, cols]
    out[~ok] = 0
    return out


def splat_nearest_depth(rows: np.ndarray, cols: np.ndarray, depth: np.ndarray,
                        shape: Tuple[int, int]) -> np.ndarray:
    """
    Scatter depths to integer pixels, keeping the smallest depth where several land.

    Points outside ``shape`` (height, width) are dropped; pixels that get no point are 0.
    """
    h, w = shape
    rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
    depth = np.asarray(depth, dtype=np.float64)
    keep = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w) & (depth > 0)
    flat, depth = rows[keep] * w + cols[keep], depth[keep]
    order = np.lexsort((depth, flat))
    flat, depth = flat[order], depth[order]
    first = np.ones(flat.shape, dtype=bool)
    first[1:] = flat[1:] != flat[:-1]
    out = np.zeros(h * w, dtype=np.float32)
    out[flat[first]] = depth[first]
    return out.reshape(h, w)


def _warp_sparse_depth(depth: np.ndarray, warp: Warp) -> np.ndarray:
    rows, cols = np.nonzero(depth > 0)
    inverse = np.linalg.inv(warp.matrix)
    u = inverse[0, 0] * cols + inverse[0, 1] * rows + inverse[0, 2]
    v = inverse[1, 0] * cols + inverse[1, 1] * rows + inverse[1, 2]
    return splat_nearest_depth(np.floor(v + 0.5), np.floor(u + 0.5), depth[rows, cols],
                               warp.out_size)


def _warp_normals(normals: np.ndarray, x: np.ndarray, y: np.ndarray, warp: Warp,
                  sparse: bool, taps: Optional[BilinearTaps] = None) -> np.ndarray:
    valid = np.linalg.norm(normals, axis=-1) > 0
    if sparse:
        out = nearest(normals, x, y)
    else:
        out, ok = bilinear(normals, x, y, valid, taps)
        norm = np.linalg.norm(out, axis=-1, keepdims=True)
        out = np.where(ok[..., None] & (norm > 0), out / np.maximum(norm, 1e-12), 0.0)
    return out @ warp.frame_rotation.T


_NO_PHOTOMETRIC = {f.name: f.default for f in dataclasses.fields(AugmentParams)
                   if f.name in ('brightness', 'contrast', 'saturation', 'gamma', 'hue_deg',
                                 'blur_sigma', 'noise_std', 'noise_seed')}


def apply_params(sample: Sample, config: AugmentConfig, params: AugmentParams) -> Sample:
    """Apply one augmentation with the given parameters; return a new sample dict."""
    if 'image' not in sample or 'intrinsics' not in sample:
        raise AugmentError('a sample needs "image" and "intrinsics" to be augmented')
    image = sample['image'].detach().cpu().numpy().transpose(1, 2, 0)
    warp = plan_warp(image.shape[:2], sample['intrinsics'].tolist(), config, params)
    x, y = _source_grid(warp)
    taps = bilinear_taps(x, y, image.shape)
    out_image, covered = bilinear(image, x, y, taps=taps)
    out_image = np.clip(out_image * np.asarray(params.colour, dtype=np.float32), 0.0, 1.0)
    if params != dataclasses.replace(params, **_NO_PHOTOMETRIC):
        out_image = photometric(out_image, params)
        out_image[~covered] = 0.0
    out: Sample = {
        'image': torch.from_numpy(np.ascontiguousarray(out_image.transpose(2, 0, 1),
                                                       dtype=np.float32)),
        'intrinsics': torch.tensor(warp.intrinsics, dtype=torch.float32),
    }
    if 'depth' in sample:
        depth = sample['depth'].detach().cpu().numpy()[0].astype(np.float64)
        if config.sparse_depth:
            warped = _warp_sparse_depth(depth, warp)
        else:
            warped, _ = bilinear(depth[..., None], x, y, depth > 0, taps)
            warped = warped[..., 0]
        out['depth'] = torch.from_numpy((warped * warp.depth_factor).astype(np.float32)[None])
    if 'labels' in sample:
        labels = nearest(sample['labels'].detach().cpu().numpy(), x, y)
        out['labels'] = torch.from_numpy(np.ascontiguousarray(labels, dtype=np.int64))
    if 'normals' in sample:
        normals = sample['normals'].detach().cpu().numpy().transpose(1, 2, 0)
        normals = _warp_normals(normals, x, y, warp, config.sparse_depth, taps)
        out['normals'] = torch.from_numpy(
            np.ascontiguousarray(normals.transpose(2, 0, 1), dtype=np.float32))
    for key, value in sample.items():
        out.setdefault(key, value)  # keys this module does not know pass through unchanged
    return out


def augment(sample: Sample, config: Union[str, AugmentConfig], rng: RandomSource) -> Sample:
    """Apply one random training augmentation drawn from ``rng``."""
    config = resolve_config(config)
    return apply_params(sample, config, sample_params(config, rng))


def centre_crop(sample: Sample, config: Union[str, AugmentConfig]) -> Sample:
    """Apply the test-time transform: resize to ``base_size``, crop ``out_size`` centred."""
    config = resolve_config(config)
    return apply_params(sample, config, centre_params(config))


class RandomTransform:
    """
    Training transform for a dataset's ``transform=``: a random augmentation per call.

    In the main process the draws continue one stream seeded by ``seed``. In a DataLoader
    worker the stream is seeded by ``seed`` and the worker's torch seed, which the DataLoader
    derives from the main process's torch generator: runs are reproducible under
    ``torch.manual_seed``, and workers and epochs get different draws.
    """

    def __init__(self, config: Union[str, AugmentConfig], seed: int = 0) -> None:
        """Keep the config; the generator is made on first use in each process."""
        self.config = resolve_config(config)
        self.seed = int(seed)
        self._rng: Optional[np.random.Generator] = None
        self._owner: Optional[Tuple[int, Optional[int]]] = None

    def _generator(self) -> np.random.Generator:
        info = torch.utils.data.get_worker_info()
        owner = (os.getpid(), None if info is None else int(info.seed))
        if self._rng is None or self._owner != owner:
            entropy = [self.seed] if info is None else [self.seed, int(info.seed)]
            self._rng = np.random.default_rng(entropy)
            self._owner = owner
        return self._rng

    def __call__(self, sample: Sample, rng: RandomSource = None) -> Sample:
        """Augment ``sample`` with draws from ``rng`` or, if None, from this transform's stream."""
        source = self._generator() if rng is None else rng
        return apply_params(sample, self.config, sample_params(self.config, source))


class CentreCrop:
    """Test-time transform for a dataset's ``transform=``: resize and centred crop only."""

    def __init__(self, config: Union[str, AugmentConfig]) -> None:
        """Keep the config."""
        self.config = resolve_config(config)

    def __call__(self, sample: Sample) -> Sample:
        """Return the centre crop of ``sample``."""
        return apply_params(sample, self.config, centre_params(self.config))


def make_transform(config: Union[str, AugmentConfig], train: bool,
                   seed: int = 0) -> Callable[[Sample], Sample]:
    """Return the training (random) or test (centre crop) transform of a preset or config."""
    return RandomTransform(config, seed) if train else CentreCrop(config)


def make_sample(image: np.ndarray, intrinsics: Sequence[float],
                depth: Optional[np.ndarray] = None, labels: Optional[np.ndarray] = None,
                normals: Optional[np.ndarray] = None) -> Sample:
    """
    Build a sample dict in the convention of ``ros2_depth_trainer.data`` from numpy arrays.

    image (H, W, 3) RGB, uint8 or float in [0, 1]; depth (H, W) metres, non-finite or <= 0 is
    invalid; labels (H, W) ints; normals (H, W, 3), non-finite is invalid; intrinsics fx, fy,
    cx, cy of this image.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise AugmentError(f'image must be (H, W, 3), got {image.shape}')
    height, width = image.shape[:2]
    scale = 1.0 / 255.0 if image.dtype == np.uint8 else 1.0
    sample: Sample = {
        'image': torch.from_numpy(np.ascontiguousarray(
            image.transpose(2, 0, 1).astype(np.float32) * np.float32(scale))),
        'intrinsics': torch.tensor([float(v) for v in intrinsics], dtype=torch.float32),
    }
    if sample['intrinsics'].shape != (4,):
        raise AugmentError('intrinsics must be the 4 values fx, fy, cx, cy')
    if depth is not None:
        depth = np.asarray(depth, dtype=np.float32)
        if depth.shape != (height, width):
            raise AugmentError(f'depth {depth.shape} does not match image {(height, width)}')
        depth = np.where(np.isfinite(depth) & (depth > 0), depth, np.float32(0))
        sample['depth'] = torch.from_numpy(np.ascontiguousarray(depth[None], dtype=np.float32))
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (height, width):
            raise AugmentError(f'labels {labels.shape} do not match image {(height, width)}')
        sample['labels'] = torch.from_numpy(np.ascontiguousarray(labels, dtype=np.int64))
    if normals is not None:
        normals = np.asarray(normals, dtype=np.float32)
        if normals.shape != (height, width, 3):
            raise AugmentError(f'normals {normals.shape} do not match image {(height, width)}')
        normals = np.where(np.isfinite(normals).all(axis=-1, keepdims=True), normals, 0)
        sample['normals'] = torch.from_numpy(
            np.ascontiguousarray(normals.transpose(2, 0, 1), dtype=np.float32))
    return sample
