"""
From a camera image to metric depth and normals with exact intrinsics (numpy + OpenCV, no ROS).

The camera image is fitted to the network input in one of three ways: 'canonical' scales it so
that its focal length becomes the model's canonical one and cuts the network input from its
centre (padding with the border pixels where the camera sees less than the canonical camera),
'crop' cuts the longer side to the network's aspect ratio and resizes, 'stretch' resizes the whole
image. The network's output grid maps back onto that input through the affine map in the model's
sidecar. Composing the two gives the intrinsics of every output image exactly; output pixels that
fall outside the camera image (padding) are NaN.

Depth: the network predicts ln(metres) (or metres); a model with a ``metric_scale`` predicts it
in a canonical camera, and the pipeline turns it into metres for the actual camera with the
focal length the camera_info gives after the same crop and resize (``model_spec.MetricScale``).
'canonical' makes that focal length the canonical one, so the network sees objects at the apparent
size it was trained to read depth from whatever the camera's field of view (docs/evaluation.md,
"Metric scale").
Labels: the arg-max class id per pixel (mono8), when the model has a labels output.

Output resolution: 'network' (default) publishes the maps on the network's output grid;
'input' upsamples them onto the camera image's own pixels (``resample``: depth edge-aware,
normals renormalised, labels nearest), NaN or 0 where the network did not see the image.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Dict, Optional, Tuple

import cv2
import numpy as np

from ros2_depth.backends.base import InferenceBackend
from ros2_depth.camera_model import AxisMap, ImageMap, PinholeCamera, resize_map
from ros2_depth.model_spec import input_focal_px, ModelSpec
from ros2_depth.resample import (
    grid_samples, sample_image, upsample_depth_normals, upsample_nearest)

RESIZE_MODES = ('canonical', 'crop', 'stretch')
OUTPUT_RESOLUTIONS = ('network', 'input')
# 'canonical' pads a narrow camera's image at most to this many times the 'crop' box per axis; the
# rest of the focal difference is left to the depth factor (the image keeps half the input).
MAX_CANONICAL_PAD = 2.0
MIN_IMAGE_SIDE = 16  # pixels: below this an image is no camera picture (a driver fault)

# Encodings the pipeline accepts as colour input -> (channel order, channels to keep).
_COLOR_ENCODINGS = {
    'rgb8': ('rgb', 3),
    'bgr8': ('bgr', 3),
    'rgba8': ('rgb', 4),
    'bgra8': ('bgr', 4),
    'mono8': ('mono', 1),
}


class PipelineError(ValueError):
    """An input cannot be processed (unsupported encoding, size mismatch with camera_info, ...)."""


@dataclasses.dataclass
class DepthResult:
    """What one image produces; every map lies on the grid described by `camera`."""

    depth: np.ndarray
    camera: PinholeCamera
    normals: Optional[np.ndarray] = None
    labels: Optional[np.ndarray] = None
    depth_factor: float = 1.0
    timings_ms: Dict[str, float] = dataclasses.field(default_factory=dict)


def input_map(
    camera_size: Tuple[int, int],
    net_size: Tuple[int, int],
    mode: str,
    focal_px: Optional[Tuple[float, float]] = None,
    canonical_focal_px: Optional[float] = None,
) -> Tuple[ImageMap, Tuple[int, int, int, int]]:
    """
    Map from network-input pixels to camera pixels, and the (x0, y0, w, h) box it reads.

    `camera_size` and `net_size` are (width, height). 'crop' keeps the aspect ratio by cutting the
    longer side symmetrically; 'stretch' resizes the whole image. 'canonical' needs the camera's
    `focal_px` (fx, fy) and the model's `canonical_focal_px`: it reads the centred box that the
    canonical camera would see at the network input, which lies partly outside the image for a
    camera narrower than the canonical one (at most MAX_CANONICAL_PAD times the 'crop' box per
    axis); without `canonical_focal_px` (a model without a metric scale) it is 'crop'.
    """
    if mode not in RESIZE_MODES:
        raise PipelineError(f'resize mode must be one of {RESIZE_MODES}, got "{mode}"')
    width, height = camera_size
    net_w, net_h = net_size
    crop_w, crop_h = width, height
    if mode in ('crop', 'canonical'):
        crop_w = min(width, int(round(height * net_w / net_h)))
        crop_h = min(height, int(round(width * net_h / net_w)))
    if mode == 'canonical' and canonical_focal_px is not None:
        if focal_px is None:
            raise PipelineError('resize mode "canonical" needs the camera focal lengths')
        crop_w = max(1, min(int(round(focal_px[0] * net_w / canonical_focal_px)),
                            int(MAX_CANONICAL_PAD * crop_w)))
        crop_h = max(1, min(int(round(focal_px[1] * net_h / canonical_focal_px)),
                            int(MAX_CANONICAL_PAD * crop_h)))
    x0, y0 = (width - crop_w) // 2, (height - crop_h) // 2
    mapping = ImageMap(resize_map(crop_w, net_w, x0), resize_map(crop_h, net_h, y0))
    return mapping, (x0, y0, crop_w, crop_h)


def read_box(image: np.ndarray, box: Tuple[int, int, int, int]) -> np.ndarray:
    """Return the (x0, y0, w, h) box of an image, replicating the border pixels outside it."""
    x0, y0, box_w, box_h = box
    height, width = image.shape[:2]
    x1, y1 = x0 + box_w, y0 + box_h
    inside = image[max(y0, 0):min(y1, height), max(x0, 0):min(x1, width)]
    pad = (max(-y0, 0), max(y1 - height, 0), max(-x0, 0), max(x1 - width, 0))
    if not any(pad):
        return inside
    return cv2.copyMakeBorder(np.ascontiguousarray(inside), *pad, cv2.BORDER_REPLICATE)


class DepthPipeline:
    """Pre-processing, inference and post-processing for one model and backend."""

    def __init__(
        self,
        spec: ModelSpec,
        backend: InferenceBackend,
        resize_mode: str = 'canonical',
        output_resolution: str = 'network',
    ) -> None:
        """Bind a model, its backend, resize mode and output resolution; precompute constants."""
        if resize_mode not in RESIZE_MODES:
            raise PipelineError(f'resize mode must be one of {RESIZE_MODES}, got "{resize_mode}"')
        if output_resolution not in OUTPUT_RESOLUTIONS:
            raise PipelineError(f'output resolution must be one of {OUTPUT_RESOLUTIONS}, got '
                                f'"{output_resolution}"')
        self.output_resolution = output_resolution
        self.spec = spec
        self.backend = backend
        self.resize_mode = resize_mode
        inp = spec.input
        self._net_size = (inp.width, inp.height)
        # (x * scale - mean) / std as one multiply-add per channel.
        self._gain = (
            (inp.scale / np.asarray(inp.std, np.float32)).astype(np.float32).reshape(3, 1, 1)
        )
        self._bias = (-np.asarray(inp.mean, np.float32) / np.asarray(inp.std, np.float32)).reshape(
            3, 1, 1
        )
        depth_out = spec.output('depth')
        if depth_out is None:
            raise PipelineError(f'model {spec.name} has no depth output')
        self._depth_key = next(k for k, o in spec.outputs.items() if o.kind == 'depth')
        self._normals_key = next((k for k, o in spec.outputs.items() if o.kind == 'normals'), None)
        self._labels_key = next((k for k, o in spec.outputs.items() if o.kind == 'labels'), None)
        self._out_size = (depth_out.width, depth_out.height)
        grid = spec.output_grid
        self._grid = ImageMap(
            AxisMap(grid.scale_x, grid.offset_x), AxisMap(grid.scale_y, grid.offset_y)
        )

    @property
    def has_normals(self) -> bool:
        """Whether the model predicts surface normals."""
        return self._normals_key is not None

    @property
    def has_labels(self) -> bool:
        """Whether the model predicts semantic labels."""
        return self._labels_key is not None

    def input_map(self, camera: PinholeCamera) -> Tuple[ImageMap, Tuple[int, int, int, int]]:
        """Map from network-input pixels to the camera's, and the box it reads (`input_map`)."""
        scale = self.spec.metric_scale
        return input_map(camera.size, self._net_size, self.resize_mode, (camera.fx, camera.fy),
                         scale.canonical_focal_px if scale is not None else None)

    def output_map(self, camera: PinholeCamera) -> ImageMap:
        """Map from the network's output pixels to the camera's."""
        mapping, _ = self.input_map(camera)
        return mapping.then(self._grid)

    def network_camera(self, camera: PinholeCamera) -> PinholeCamera:
        """Intrinsics of the network's output grid for a given input camera."""
        return camera.resampled(self.output_map(camera), *self._out_size)

    def output_camera(self, camera: PinholeCamera) -> PinholeCamera:
        """Intrinsics of the output images: the network grid's, or with 'input' the camera's."""
        if self.output_resolution == 'input':
            return camera
        return self.network_camera(camera)

    def output_colors(self, rgb: np.ndarray, camera: PinholeCamera) -> np.ndarray:
        """Return the camera's (H, W, 3) colours on the output grid (bilinear), e.g. for points."""
        if self.output_resolution == 'input':
            return rgb
        return sample_image(rgb, self.output_map(camera), self._out_size)

    def input_camera(self, camera: PinholeCamera) -> PinholeCamera:
        """Intrinsics of the network input (after the crop and resize) for an input camera."""
        mapping, _ = self.input_map(camera)
        return camera.resampled(mapping, *self._net_size)

    def outside_image(self, camera: PinholeCamera) -> Optional[Tuple[np.ndarray, np.ndarray]]:
        """
        Return the output columns and rows whose pixel centres fall outside the camera image.

        Boolean masks (width,) and (height,), or None when the whole output lies inside it (all
        modes but 'canonical' with a camera narrower than the model's canonical one).
        """
        mapping, (x0, y0, box_w, box_h) = self.input_map(camera)
        if x0 >= 0 and y0 >= 0 and x0 + box_w <= camera.width and y0 + box_h <= camera.height:
            return None
        full = mapping.then(self._grid)
        out_w, out_h = self._out_size
        u = full.x(np.arange(out_w, dtype=np.float64))
        v = full.y(np.arange(out_h, dtype=np.float64))
        return ((u < -0.5) | (u > camera.width - 0.5), (v < -0.5) | (v > camera.height - 0.5))

    def depth_factor(self, camera: PinholeCamera) -> float:
        """Return metres per unit of the depth output for this camera (1 without metric_scale)."""
        if self.spec.metric_scale is None:
            return 1.0
        net = self.input_camera(camera)
        return self.spec.metric_scale.factor(input_focal_px(net.fx, net.fy))

    def preprocess(
        self, image: np.ndarray, encoding: str, camera: Optional[PinholeCamera] = None
    ) -> np.ndarray:
        """
        Crop, resize, normalise an (H, W[, C]) 8-bit image to a (1, 3, h, w) float32 tensor.

        `camera` (the image's intrinsics) is needed by the 'canonical' mode for a model with a
        metric scale; the other modes use only the image size.
        """
        if encoding not in _COLOR_ENCODINGS:
            raise PipelineError(
                f'image encoding "{encoding}" is not a colour or mono 8-bit image; '
                f'use one of {sorted(_COLOR_ENCODINGS)}'
            )
        order, channels = _COLOR_ENCODINGS[encoding]
        height, width = image.shape[:2]
        if camera is not None:
            _, box = self.input_map(camera)
        elif self.resize_mode == 'canonical' and self.spec.metric_scale is not None:
            raise PipelineError('resize mode "canonical" needs the camera intrinsics')
        else:
            _, box = input_map((width, height), self._net_size, self.resize_mode)
        if channels == 4:
            image = image[..., :3]
        crop = read_box(image, box)
        crop_w, crop_h = box[2:]
        # INTER_AREA follows the half-pixel map only when it shrinks both axes.
        shrinks = crop_w >= self._net_size[0] and crop_h >= self._net_size[1]
        interpolation = cv2.INTER_AREA if shrinks else cv2.INTER_LINEAR
        small = cv2.resize(np.ascontiguousarray(crop), self._net_size, interpolation=interpolation)
        if order == 'mono':
            small = np.repeat(small[..., None], 3, axis=2)
        elif order != self.spec.input.color_order:
            small = small[..., ::-1]
        tensor = small.transpose(2, 0, 1).astype(np.float32)
        tensor *= self._gain
        tensor += self._bias
        return tensor[None]

    def run(
        self,
        image: np.ndarray,
        encoding: str,
        camera: PinholeCamera,
        want_normals: bool = True,
        want_labels: bool = False,
    ) -> DepthResult:
        """Predict metric depth (metres, NaN where invalid), unit normals and labels."""
        if image.shape[1] != camera.width or image.shape[0] != camera.height:
            raise PipelineError(
                f'image is {image.shape[1]}x{image.shape[0]} but its camera_info describes '
                f'{camera.width}x{camera.height}; publish a camera_info that matches the '
                'image (same resolution, binning and ROI)'
            )
        if min(camera.width, camera.height) < MIN_IMAGE_SIDE:
            raise PipelineError(
                f'image is {camera.width}x{camera.height}: too small for depth (at least '
                f'{MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE} pixels); check the resolution the camera '
                'driver publishes'
            )
        start = time.perf_counter()
        tensor = self.preprocess(image, encoding, camera)
        mid = time.perf_counter()
        outputs = self.backend.infer(tensor)
        end = time.perf_counter()
        factor = self.depth_factor(camera)
        depth = self._depth(outputs[self._depth_key][0, 0], factor)
        normals = labels = None
        if want_normals and self._normals_key is not None:
            normals = self._normals(outputs[self._normals_key][0], depth)
        if want_labels and self._labels_key is not None:
            labels = self._labels(outputs[self._labels_key][0])
        outside = self.outside_image(camera)
        if outside is not None:  # padding, not the camera's view: no depth there
            columns, rows = outside
            for values, blank in ((depth, np.nan), (normals, np.nan), (labels, 0)):
                if values is not None:
                    values[:, columns] = blank
                    values[rows, :] = blank
        if self.output_resolution == 'input':
            depth, normals, labels = self._to_input(camera, depth, normals, labels, outside)
        done = time.perf_counter()
        return DepthResult(
            depth=depth,
            camera=self.output_camera(camera),
            normals=normals,
            labels=labels,
            depth_factor=factor,
            timings_ms={
                'preprocess': 1e3 * (mid - start),
                'inference': 1e3 * (end - mid),
                'postprocess': 1e3 * (done - end),
            },
        )

    def _to_input(
        self,
        camera: PinholeCamera,
        depth: np.ndarray,
        normals: Optional[np.ndarray],
        labels: Optional[np.ndarray],
        outside: Optional[Tuple[np.ndarray, np.ndarray]],
    ) -> Tuple[np.ndarray, Optional[np.ndarray], Optional[np.ndarray]]:
        """Upsample the output-grid maps onto every camera pixel (``resample``)."""
        usable = (None, None)
        if outside is not None:  # never read the output pixels over the padding
            usable = tuple((int(np.argmin(o)), int(o.size - 1 - np.argmin(o[::-1])))
                           for o in outside)
        samples = grid_samples(self.output_map(camera), self._out_size, camera.size, *usable)
        depth, normals = upsample_depth_normals(depth, normals, samples)
        if labels is not None:
            labels = upsample_nearest(labels, samples, 0)
        return depth, normals, labels

    def _depth(self, raw: np.ndarray, factor: float = 1.0) -> np.ndarray:
        out = self.spec.outputs[self._depth_key]
        with np.errstate(over='ignore', invalid='ignore'):
            if out.encoding == 'log':
                depth = np.exp(raw + np.float32(np.log(factor)) if factor != 1.0 else raw)
            else:
                depth = raw.astype(np.float32, copy=True)
                if factor != 1.0:
                    depth *= np.float32(factor)
        low, high = self.spec.depth_range
        depth[~((depth >= low) & (depth <= high))] = np.nan
        return depth.astype(np.float32, copy=False)

    def _labels(self, scores: np.ndarray) -> np.ndarray:
        """Arg-max over the class scores (C, h, w) -> class ids (h, w) uint8."""
        first = self.spec.outputs[self._labels_key].first_class_id
        labels = np.argmax(scores, axis=0).astype(np.uint8)
        if first:
            labels += np.uint8(first)
        return labels

    @staticmethod
    def _normals(raw: np.ndarray, depth: np.ndarray) -> np.ndarray:
        normals = np.ascontiguousarray(raw.transpose(1, 2, 0), dtype=np.float32)
        with np.errstate(invalid='ignore', divide='ignore'):
            normals /= np.linalg.norm(normals, axis=2, keepdims=True)
        normals[np.isnan(depth)] = np.nan
        return normals


def label_palette(spec: ModelSpec) -> np.ndarray:
    """
    Return a (256, 3) uint8 colour table indexed by class id for the model's labels output.

    Colours come from the sidecar's ``class_colors``; ids without one get a fixed, distinct
    colour from a golden-angle hue sequence; id 0 without a colour is black.
    """
    palette = np.zeros((256, 3), np.uint8)
    hues = (np.arange(256) * 137.508) % 360.0
    hsv = np.stack([hues / 2.0, np.full(256, 200.0), np.full(256, 230.0)], axis=1)
    palette[:] = cv2.cvtColor(hsv.astype(np.uint8)[None], cv2.COLOR_HSV2RGB)[0]
    palette[0] = 0
    out = spec.output('labels')
    if out is not None and out.class_colors:
        palette[:len(out.class_colors)] = np.asarray(out.class_colors, np.uint8)
    return palette
