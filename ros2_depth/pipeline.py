"""
From a camera image to metric depth and normals with exact intrinsics (numpy + OpenCV, no ROS).

The camera image is centre-cropped to the network's aspect ratio (or stretched, if asked) and
resized to the network input; the network's output grid maps back onto that input through the
affine map in the model's sidecar. Composing the two gives the intrinsics of every output image
exactly.

Depth: the network predicts ln(metres) (or metres); a model with a ``metric_scale`` predicts it
in a canonical camera, and the pipeline turns it into metres for the actual camera with the
focal length the camera_info gives after the same crop and resize (``model_spec.MetricScale``).
Labels: the arg-max class id per pixel (mono8), when the model has a labels output.
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

RESIZE_MODES = ('crop', 'stretch')
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
    camera_size: Tuple[int, int], net_size: Tuple[int, int], mode: str
) -> Tuple[ImageMap, Tuple[int, int, int, int]]:
    """
    Map from network-input pixels to camera pixels, and the (x0, y0, w, h) crop it reads.

    `camera_size` and `net_size` are (width, height). 'crop' keeps the aspect ratio by cutting the
    longer side symmetrically; 'stretch' resizes the whole image.
    """
    if mode not in RESIZE_MODES:
        raise PipelineError(f'resize mode must be one of {RESIZE_MODES}, got "{mode}"')
    width, height = camera_size
    net_w, net_h = net_size
    crop_w, crop_h = width, height
    if mode == 'crop':
        crop_w = min(width, int(round(height * net_w / net_h)))
        crop_h = min(height, int(round(width * net_h / net_w)))
    x0, y0 = (width - crop_w) // 2, (height - crop_h) // 2
    mapping = ImageMap(resize_map(crop_w, net_w, x0), resize_map(crop_h, net_h, y0))
    return mapping, (x0, y0, crop_w, crop_h)


class DepthPipeline:
    """Pre-processing, inference and post-processing for one model and backend."""

    def __init__(
        self, spec: ModelSpec, backend: InferenceBackend, resize_mode: str = 'crop'
    ) -> None:
        """Bind a model, its backend and the resize mode; precompute the normalisation."""
        if resize_mode not in RESIZE_MODES:
            raise PipelineError(f'resize mode must be one of {RESIZE_MODES}, got "{resize_mode}"')
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

    def output_camera(self, camera: PinholeCamera) -> PinholeCamera:
        """Intrinsics of the output images for a given input camera."""
        mapping, _ = input_map(camera.size, self._net_size, self.resize_mode)
        return camera.resampled(mapping.then(self._grid), *self._out_size)

    def input_camera(self, camera: PinholeCamera) -> PinholeCamera:
        """Intrinsics of the network input (after the crop and resize) for an input camera."""
        mapping, _ = input_map(camera.size, self._net_size, self.resize_mode)
        return camera.resampled(mapping, *self._net_size)

    def depth_factor(self, camera: PinholeCamera) -> float:
        """Return metres per unit of the depth output for this camera (1 without metric_scale)."""
        if self.spec.metric_scale is None:
            return 1.0
        net = self.input_camera(camera)
        return self.spec.metric_scale.factor(input_focal_px(net.fx, net.fy))

    def preprocess(self, image: np.ndarray, encoding: str) -> np.ndarray:
        """Crop, resize, normalise an (H, W[, C]) 8-bit image to a (1, 3, h, w) float32 tensor."""
        if encoding not in _COLOR_ENCODINGS:
            raise PipelineError(
                f'image encoding "{encoding}" is not a colour or mono 8-bit image; '
                f'use one of {sorted(_COLOR_ENCODINGS)}'
            )
        order, channels = _COLOR_ENCODINGS[encoding]
        height, width = image.shape[:2]
        _, (x0, y0, crop_w, crop_h) = input_map((width, height), self._net_size, self.resize_mode)
        crop = image[y0:y0 + crop_h, x0:x0 + crop_w]
        if channels == 4:
            crop = crop[..., :3]
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
        tensor = self.preprocess(image, encoding)
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
