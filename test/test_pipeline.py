"""
Unit tests of ros2_depth.pipeline with the tiny ONNX model on ONNX Runtime (no ROS graph).

The crop and resize geometry is checked against the pixels the network actually receives, and the
output intrinsics against values computed by hand.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import List, Tuple

import cv2
import numpy as np
import pytest
from ros2_depth.backends import create_backend
from ros2_depth.camera_model import PinholeCamera, resize_map
from ros2_depth.model_spec import load_spec, ModelSpec
from ros2_depth.pipeline import DepthPipeline, input_map, label_palette, PipelineError

NET = (304, 228)
TUM_CAMERA = PinholeCamera(640, 480, 525.0, 525.0, 319.5, 239.5)


@pytest.fixture(scope='module')
def spec(tiny_model: Path) -> ModelSpec:
    """Return the tiny model's sidecar."""
    return load_spec(tiny_model)


@pytest.fixture(scope='module')
def backend(spec: ModelSpec):
    """Return ONNX Runtime running the tiny model on one thread."""
    return create_backend('onnxruntime', spec, num_threads=1)


@pytest.fixture(scope='module')
def pipeline(spec: ModelSpec, backend) -> DepthPipeline:
    """Return the default (crop) pipeline."""
    return DepthPipeline(spec, backend)


@pytest.fixture(scope='module')
def tum_rgb(camera_data: Path) -> np.ndarray:
    """Return the real TUM colour frame as RGB."""
    bgr = cv2.imread(str(camera_data / 'tum_rgbd_frame' / 'TUM_color.png'), cv2.IMREAD_COLOR)
    assert bgr is not None and bgr.shape == (480, 640, 3)
    return np.ascontiguousarray(bgr[..., ::-1])


def camera_of(width: int, height: int) -> PinholeCamera:
    """Return a centred camera of the given size."""
    return PinholeCamera(width, height, 500.0, 500.0, (width - 1) / 2, (height - 1) / 2)


def denormalise(spec: ModelSpec, tensor: np.ndarray) -> np.ndarray:
    """Undo the sidecar normalisation: (3, h, w) pixel values on the 0..255 scale."""
    inp = spec.input
    std = np.asarray(inp.std).reshape(3, 1, 1)
    mean = np.asarray(inp.mean).reshape(3, 1, 1)
    return (tensor[0] * std + mean) / inp.scale


# --- input_map -----------------------------------------------------------------------------------

def test_input_map_same_aspect_uses_the_whole_image() -> None:
    mapping, crop = input_map((640, 480), NET, 'crop')
    assert crop == (0, 0, 640, 480)
    assert mapping.x == resize_map(640, 304) and mapping.y == resize_map(480, 228)


def test_input_map_crops_a_wider_image_symmetrically() -> None:
    mapping, crop = input_map((1280, 480), NET, 'crop')
    assert crop == (320, 0, 640, 480)
    assert mapping.x.scale == pytest.approx(640 / 304)
    assert mapping.y.scale == pytest.approx(480 / 228)
    assert mapping.x.offset == pytest.approx(320 + 0.5 * 640 / 304 - 0.5)
    assert mapping.y.offset == pytest.approx(0.5 * 480 / 228 - 0.5)
    # The network's centre column sits on the camera's centre column.
    assert mapping.x((304 - 1) / 2) == pytest.approx((1280 - 1) / 2)


def test_input_map_crops_a_taller_image_symmetrically() -> None:
    mapping, crop = input_map((640, 960), NET, 'crop')
    assert crop == (0, 240, 640, 480)
    assert mapping.y.offset == pytest.approx(240 + 0.5 * 480 / 228 - 0.5)
    assert mapping.y((228 - 1) / 2) == pytest.approx((960 - 1) / 2)


@pytest.mark.parametrize('size', [(1920, 1080), (1280, 720), (1000, 1000), (480, 640), (752, 480),
                                  (305, 229), (100, 60), (641, 480)])
def test_input_map_crop_keeps_network_aspect(size: Tuple[int, int]) -> None:
    _, (x0, y0, w, h) = input_map(size, NET, 'crop')
    assert (w == size[0]) or (h == size[1]), 'crop must keep one full side'
    assert w <= size[0] and h <= size[1]
    assert abs(w / h - 304 / 228) <= 1.0 / min(w, h) + 1e-9
    assert x0 == (size[0] - w) // 2 and y0 == (size[1] - h) // 2


@pytest.mark.parametrize('size', [(1280, 480), (640, 960), (1920, 1080), (100, 50)])
def test_input_map_stretch_uses_whole_image(size: Tuple[int, int]) -> None:
    mapping, crop = input_map(size, NET, 'stretch')
    assert crop == (0, 0) + size
    assert mapping.x == resize_map(size[0], 304) and mapping.y == resize_map(size[1], 228)


def test_input_map_rejects_unknown_mode() -> None:
    with pytest.raises(PipelineError, match='"fit"'):
        input_map((640, 480), NET, 'fit')


def test_pipeline_rejects_unknown_mode(spec: ModelSpec, backend) -> None:
    with pytest.raises(PipelineError, match='"letterbox"'):
        DepthPipeline(spec, backend, 'letterbox')


# --- preprocess geometry against the pixels ------------------------------------------------------

def render_dots(width: int, height: int, dots: List[Tuple[float, float]],
                sigma: float) -> np.ndarray:
    """Return a black RGB image with Gaussian dots (255 peak) at the given camera pixels."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.zeros((height, width), np.float32)
    for u, v in dots:
        image += np.exp(-((xs - u) ** 2 + (ys - v) ** 2) / (2 * sigma ** 2))
    gray = np.clip(np.rint(255 * image), 0, 255).astype(np.uint8)
    return np.repeat(gray[..., None], 3, axis=2)


def dots_for(crop: Tuple[int, int, int, int]) -> List[Tuple[float, float]]:
    """Return dots well inside the crop, at fractional positions off the pixel grid."""
    x0, y0, w, h = crop
    return [(x0 + fx * w, y0 + fy * h) for fx, fy in
            [(0.23, 0.31), (0.71, 0.27), (0.5, 0.5), (0.18, 0.77), (0.83, 0.81)]]


def centroid(intensity: np.ndarray, x: float, y: float, radius: int) -> np.ndarray:
    """Return the intensity centroid of a window around (x, y)."""
    cx, cy = int(round(x)), int(round(y))
    y_lo, x_lo = max(cy - radius, 0), max(cx - radius, 0)
    window = intensity[y_lo:cy + radius + 1, x_lo:cx + radius + 1]
    rows, cols = np.mgrid[0:window.shape[0], 0:window.shape[1]]
    total = window.sum()
    assert total > 0, f'no dot near ({x:.1f}, {y:.1f})'
    return np.array([(window * cols).sum() / total + x_lo, (window * rows).sum() / total + y_lo])


DOT_CASES = [
    ('crop', (640, 480)),      # same aspect, INTER_AREA downscale
    ('crop', (1280, 480)),     # wider: left and right cut
    ('crop', (640, 960)),      # taller: top and bottom cut
    ('crop', (1920, 1080)),
    ('crop', (160, 120)),      # smaller than the network: INTER_LINEAR upscale
    ('crop', (200, 300)),      # small and taller
    ('stretch', (1280, 480)),
    ('stretch', (500, 500)),
    ('stretch', (200, 150)),
    ('stretch', (300, 400)),   # width grows a little, height shrinks
    ('stretch', (1280, 200)),  # width shrinks, height grows
    ('stretch', (320, 180)),   # the same, slightly, with a common low-resolution 16:9 camera
]


@pytest.mark.parametrize('mode, size', DOT_CASES, ids=[f'{m}-{w}x{h}' for m, (w, h) in DOT_CASES])
def test_preprocess_puts_dots_where_the_map_says(spec: ModelSpec, backend, mode: str,
                                                 size: Tuple[int, int]) -> None:
    pipe = DepthPipeline(spec, backend, mode)
    width, height = size
    mapping, crop = input_map(size, NET, mode)
    dots = dots_for(crop)
    sigma = max(1.5 * mapping.x.scale, 1.5 * mapping.y.scale, 1.5)
    tensor = pipe.preprocess(render_dots(width, height, dots, sigma), 'rgb8')
    assert tensor.shape == (1, 3, 228, 304) and tensor.dtype == np.float32
    intensity = denormalise(spec, tensor)[0]
    radius = int(np.ceil(4 * sigma / min(mapping.x.scale, mapping.y.scale)))
    mixed = crop[2] > NET[0] and crop[3] < NET[1]
    for u, v in dots:
        expected = np.array([(u - mapping.x.offset) / mapping.x.scale,
                             (v - mapping.y.offset) / mapping.y.scale])
        found = centroid(intensity, *expected, radius)
        # Correct resampling puts the dots within 0.02 network pixels; 0.1 leaves room for
        # other OpenCV versions.
        assert np.abs(found - expected).max() < 0.1, (
            f'{mode} {width}x{height}: dot at camera pixel ({u:.1f}, {v:.1f}) should be at '
            f'network pixel {np.round(expected, 2)} but is at {np.round(found, 2)}'
            + (' (BUG: preprocess picks INTER_AREA from the width alone; with the height '
               'upscaled, cv2.resize uses its area-upscaling coefficients on both axes, which '
               'do not follow the half-pixel map)' if mixed else ''))


def test_preprocess_drops_what_the_crop_cuts(pipeline: DepthPipeline, spec: ModelSpec) -> None:
    inside = [(640.0, 240.0)]
    outside = [(100.0, 240.0), (1180.0, 240.0)]
    only_inside = pipeline.preprocess(render_dots(1280, 480, inside, 4.0), 'rgb8')
    with_outside = pipeline.preprocess(render_dots(1280, 480, inside + outside, 4.0), 'rgb8')
    np.testing.assert_allclose(denormalise(spec, with_outside), denormalise(spec, only_inside),
                               atol=1e-3)
    assert denormalise(spec, only_inside).max() > 100


def test_preprocess_normalisation_without_resize(pipeline: DepthPipeline) -> None:
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (228, 304, 3), dtype=np.uint8)
    tensor = pipeline.preprocess(rgb, 'rgb8')
    expected = (rgb.transpose(2, 0, 1).astype(np.float64) / 255.0 - 0.5) / 0.25
    np.testing.assert_allclose(tensor[0], expected, rtol=0, atol=1e-5)


# --- encodings -----------------------------------------------------------------------------------

def test_bgr8_same_tensor_as_rgb8(pipeline: DepthPipeline, tum_rgb: np.ndarray) -> None:
    bgr = np.ascontiguousarray(tum_rgb[..., ::-1])
    rgb_tensor = pipeline.preprocess(tum_rgb, 'rgb8')
    np.testing.assert_array_equal(pipeline.preprocess(bgr, 'bgr8'), rgb_tensor)
    # The channel order matters: the same array read as bgr8 gives the channels swapped.
    swapped = pipeline.preprocess(tum_rgb, 'bgr8')
    assert not np.allclose(swapped, rgb_tensor)
    np.testing.assert_array_equal(swapped[:, ::-1], rgb_tensor)


@pytest.mark.parametrize('encoding, order', [('rgba8', [0, 1, 2]), ('bgra8', [2, 1, 0])])
def test_alpha_is_ignored(pipeline: DepthPipeline, tum_rgb: np.ndarray, encoding: str,
                          order: list) -> None:
    alpha = np.random.default_rng(2).integers(0, 256, tum_rgb.shape[:2] + (1,), dtype=np.uint8)
    four = np.concatenate([tum_rgb[..., order], alpha], axis=2)
    np.testing.assert_array_equal(pipeline.preprocess(four, encoding),
                                  pipeline.preprocess(tum_rgb, 'rgb8'))


def test_mono8_repeats_gray_into_three_channels(pipeline: DepthPipeline,
                                                tum_rgb: np.ndarray) -> None:
    gray = cv2.cvtColor(tum_rgb, cv2.COLOR_RGB2GRAY)
    tensor = pipeline.preprocess(gray, 'mono8')
    np.testing.assert_array_equal(tensor[0, 0], tensor[0, 1])
    np.testing.assert_array_equal(tensor[0, 0], tensor[0, 2])
    resized = cv2.resize(gray, NET, interpolation=cv2.INTER_AREA).astype(np.float64)
    np.testing.assert_allclose(tensor[0, 0], (resized / 255.0 - 0.5) / 0.25, atol=1e-5)


def test_bgr8_same_depth_and_normals_as_rgb8(pipeline: DepthPipeline,
                                             tum_rgb: np.ndarray) -> None:
    from_rgb = pipeline.run(tum_rgb, 'rgb8', TUM_CAMERA)
    from_bgr = pipeline.run(np.ascontiguousarray(tum_rgb[..., ::-1]), 'bgr8', TUM_CAMERA)
    np.testing.assert_array_equal(from_bgr.depth, from_rgb.depth)
    np.testing.assert_array_equal(from_bgr.normals, from_rgb.normals)
    # The tiny model's normals depend on the channel order, so a missing swap would show here.
    wrong = pipeline.run(tum_rgb, 'bgr8', TUM_CAMERA)
    assert not np.allclose(wrong.normals, from_rgb.normals)


@pytest.mark.parametrize('encoding', ['rgb16', 'bgr16', 'mono16', '16UC1', '32FC1', '8UC3',
                                      'bayer_rggb8', 'yuv422', ''])
def test_other_encodings_rejected(pipeline: DepthPipeline, encoding: str) -> None:
    image = np.zeros((480, 640, 3), np.uint8)
    with pytest.raises(PipelineError) as err:
        pipeline.run(image, encoding, TUM_CAMERA)
    assert f'"{encoding}"' in str(err.value)
    with pytest.raises(PipelineError):
        pipeline.preprocess(image, encoding)


# --- output camera -------------------------------------------------------------------------------

def test_output_camera_hand_computed(pipeline: DepthPipeline) -> None:
    cam = pipeline.output_camera(TUM_CAMERA)
    assert cam.size == (147, 109)
    assert cam.fx == pytest.approx(124.6875, abs=1e-9)
    assert cam.fy == pytest.approx(124.6875, abs=1e-9)
    assert cam.cx == pytest.approx(73.25, abs=1e-9)
    assert cam.cy == pytest.approx(54.25, abs=1e-9)


def test_output_camera_of_a_wider_image_is_cropped(pipeline: DepthPipeline) -> None:
    wide = PinholeCamera(1280, 480, 525.0, 525.0, 639.5, 239.5)
    cam = pipeline.output_camera(wide)
    # The centre 640 columns are the TUM camera, so the output intrinsics are the same.
    assert (cam.fx, cam.fy) == pytest.approx((124.6875, 124.6875))
    assert (cam.cx, cam.cy) == pytest.approx((73.25, 54.25))


def test_output_camera_stretch_hand_computed(spec: ModelSpec, backend) -> None:
    pipe = DepthPipeline(spec, backend, 'stretch')
    cam = pipe.output_camera(PinholeCamera(1280, 480, 525.0, 530.0, 639.5, 239.5))
    sx, sy = 1280 / 304, 480 / 228
    # camera column = sx * (2 * out + 5) + 0.5 * sx - 0.5
    assert cam.fx == pytest.approx(525.0 / (2 * sx))
    assert cam.fy == pytest.approx(530.0 / (2 * sy))
    assert cam.cx == pytest.approx((639.5 - 5.5 * sx + 0.5) / (2 * sx))
    assert cam.cy == pytest.approx((239.5 - 5.5 * sy + 0.5) / (2 * sy))
    assert cam.size == (147, 109)


def test_output_camera_projects_like_the_mapped_input(pipeline: DepthPipeline) -> None:
    """Check a 3D point lands on the output pixel whose grid position maps onto its pixel."""
    cam = PinholeCamera(1280, 720, 910.0, 905.0, 641.2, 355.7)
    out = pipeline.output_camera(cam)
    points = np.random.default_rng(3).uniform([-1, -1, 1], [1, 1, 5], (100, 3))
    mapping, _ = input_map(cam.size, NET, 'crop')
    uo, vo = out.project(points).T
    net_u, net_v = 2.0 * uo + 5.0, 2.0 * vo + 5.0  # the tiny model's output grid
    np.testing.assert_allclose(np.column_stack([mapping.x(net_u), mapping.y(net_v)]),
                               cam.project(points), atol=1e-9)


# --- run -----------------------------------------------------------------------------------------

@pytest.mark.parametrize('value', [255, 128, 0])
def test_run_constant_image_gives_hand_computed_depth(pipeline: DepthPipeline,
                                                      value: int) -> None:
    image = np.full((480, 640, 3), value, np.uint8)
    result = pipeline.run(image, 'rgb8', TUM_CAMERA)
    assert result.depth.dtype == np.float32 and result.depth.shape == (109, 147)
    # Tiny model: depth = exp(0.4 * mean of the normalised 9x9x3 window + 0.9); the max-pool
    # keeps the unpadded windows, so a constant image gives one value everywhere.
    normalised = (value / 255.0 - 0.5) / 0.25
    expected = np.exp(0.4 * normalised + 0.9)
    if value == 0:
        # For a dark image zero padding raises the border windows, which the max-pool picks.
        np.testing.assert_allclose(result.depth[1:-1, 1:-1], expected, rtol=1e-5)
        assert (result.depth >= expected * (1 - 1e-5)).all()
    else:
        np.testing.assert_allclose(result.depth, expected, rtol=1e-5)
    assert result.camera == pipeline.output_camera(TUM_CAMERA)


def test_run_real_image(pipeline: DepthPipeline, tum_rgb: np.ndarray) -> None:
    result = pipeline.run(tum_rgb, 'rgb8', TUM_CAMERA)
    low, high = pipeline.spec.depth_range
    assert result.depth.dtype == np.float32 and result.depth.shape == (109, 147)
    assert np.isfinite(result.depth).all()
    assert (result.depth >= low).all() and (result.depth <= high).all()
    assert result.depth.std() > 0.01, 'depth should vary with the picture'
    assert result.normals.shape == (109, 147, 3) and result.normals.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(result.normals, axis=2), 1.0, atol=1e-5)
    assert set(result.timings_ms) == {'preprocess', 'inference', 'postprocess'}
    assert all(t >= 0 for t in result.timings_ms.values())


def horizontal_ramp(width: int = 640, height: int = 480) -> np.ndarray:
    """Return an RGB image going from black on the left to white on the right."""
    row = np.linspace(0, 255, width).astype(np.uint8)
    return np.repeat(np.tile(row, (height, 1))[..., None], 3, axis=2)


def test_run_depth_outside_range_is_nan(spec: ModelSpec, backend) -> None:
    narrow = dataclasses.replace(spec, depth_range=(1.5, 3.0))
    pipe = DepthPipeline(narrow, backend)
    image = horizontal_ramp()
    result = pipe.run(image, 'rgb8', TUM_CAMERA)
    raw = backend.infer(pipe.preprocess(image, 'rgb8'))['depth'][0, 0]
    metres = np.exp(raw.astype(np.float64))
    inside = (metres >= 1.5) & (metres <= 3.0)
    assert 0.1 < inside.mean() < 0.9, 'the ramp should give depth on both sides of the range'
    np.testing.assert_array_equal(np.isnan(result.depth), ~inside)
    np.testing.assert_allclose(result.depth[inside], metres[inside], rtol=1e-6)
    assert (result.depth[inside] >= 1.5).all() and (result.depth[inside] <= 3.0).all()
    # Normals: NaN exactly where depth is NaN, unit vectors elsewhere.
    assert np.isnan(result.normals[~inside]).all()
    np.testing.assert_allclose(np.linalg.norm(result.normals[inside], axis=1), 1.0, atol=1e-5)


def test_run_linear_depth_encoding(spec: ModelSpec, backend) -> None:
    outputs = dict(spec.outputs)
    outputs['depth'] = dataclasses.replace(outputs['depth'], encoding='linear')
    linear = dataclasses.replace(spec, outputs=outputs, depth_range=(0.05, 20.0))
    pipe = DepthPipeline(linear, backend)
    image = horizontal_ramp()
    raw = backend.infer(pipe.preprocess(image, 'rgb8'))['depth'][0, 0]
    result = pipe.run(image, 'rgb8', TUM_CAMERA)
    np.testing.assert_array_equal(result.depth, raw)
    assert result.depth.dtype == np.float32


def test_run_without_normals(pipeline: DepthPipeline, tum_rgb: np.ndarray) -> None:
    assert pipeline.has_normals
    result = pipeline.run(tum_rgb, 'rgb8', TUM_CAMERA, want_normals=False)
    assert result.normals is None
    np.testing.assert_array_equal(result.depth, pipeline.run(tum_rgb, 'rgb8', TUM_CAMERA).depth)


@pytest.mark.parametrize('image_size, camera_size', [
    ((640, 480), (320, 240)), ((640, 480), (480, 640)), ((1280, 720), (1280, 721))])
def test_run_size_mismatch_names_both_sizes(pipeline: DepthPipeline, image_size: tuple,
                                            camera_size: tuple) -> None:
    image = np.zeros((image_size[1], image_size[0], 3), np.uint8)
    with pytest.raises(PipelineError) as err:
        pipeline.run(image, 'rgb8', camera_of(*camera_size))
    text = str(err.value)
    assert f'{image_size[0]}x{image_size[1]}' in text
    assert f'{camera_size[0]}x{camera_size[1]}' in text


# --- metric scale and labels ---------------------------------------------------------------------

@pytest.fixture(scope='module')
def camera_spec(tiny_camera_model: Path) -> ModelSpec:
    """Return the tiny model with labels and a canonical focal length of 250 input pixels."""
    return load_spec(tiny_camera_model)


@pytest.fixture(scope='module')
def camera_pipeline(camera_spec: ModelSpec) -> DepthPipeline:
    """Return the crop pipeline of the tiny camera-aware model."""
    return DepthPipeline(camera_spec, create_backend('onnxruntime', camera_spec, num_threads=1),
                         'crop')


@pytest.fixture(scope='module')
def canonical_pipeline(camera_spec: ModelSpec) -> DepthPipeline:
    """Return the canonical pipeline (the node's default) of the tiny camera-aware model."""
    return DepthPipeline(camera_spec, create_backend('onnxruntime', camera_spec, num_threads=1))


@pytest.mark.parametrize('camera, expected', [
    # 640x480 -> 304x228: the focal length shrinks by 304 / 640.
    (TUM_CAMERA, 525.0 * 304 / 640 / 250.0),
    # 1280x720 is cut to 960x720 first, then shrinks by 304 / 960.
    (PinholeCamera(1280, 720, 910.0, 910.0, 639.5, 359.5), 910.0 * 304 / 960 / 250.0),
    # Non-square pixels: the geometric mean of fx and fy after the resize.
    (PinholeCamera(640, 480, 600.0, 400.0, 319.5, 239.5),
     np.sqrt(600.0 * 400.0) * 304 / 640 / 250.0),
])
def test_depth_factor_is_input_focal_over_canonical(camera_pipeline: DepthPipeline,
                                                    camera: PinholeCamera,
                                                    expected: float) -> None:
    assert camera_pipeline.depth_factor(camera) == pytest.approx(expected, rel=1e-12)
    net = camera_pipeline.input_camera(camera)
    assert (net.width, net.height) == NET


def test_metric_scale_multiplies_the_depth(camera_pipeline: DepthPipeline,
                                           pipeline: DepthPipeline) -> None:
    """Same network output; the camera-aware model's depth is it times f_input / 250."""
    image = horizontal_ramp()
    plain = pipeline.run(image, 'rgb8', TUM_CAMERA).depth
    for focal in (262.5, 525.0, 1050.0):
        camera = dataclasses.replace(TUM_CAMERA, fx=focal, fy=focal)
        result = camera_pipeline.run(image, 'rgb8', camera)
        factor = focal * 304 / 640 / 250.0
        assert result.depth_factor == pytest.approx(factor)
        inside = np.isfinite(result.depth) & np.isfinite(plain)
        assert inside.mean() > 0.9
        np.testing.assert_allclose(result.depth[inside], plain[inside] * factor, rtol=1e-5)
    # The intrinsics of the outputs do not depend on the metric scale.
    assert camera_pipeline.output_camera(TUM_CAMERA) == pipeline.output_camera(TUM_CAMERA)


def test_metric_scale_applies_before_the_depth_range(camera_pipeline: DepthPipeline) -> None:
    """The valid range is in metres: a long lens pushes a prediction beyond it."""
    image = np.full((480, 640, 3), 255, np.uint8)
    near = camera_pipeline.run(image, 'rgb8', TUM_CAMERA).depth
    assert np.isfinite(near).all()  # exp(0.4 * 2 + 0.9) = 5.5 m at factor 0.9975
    far_camera = dataclasses.replace(TUM_CAMERA, fx=525.0 * 4, fy=525.0 * 4)
    assert np.isnan(camera_pipeline.run(image, 'rgb8', far_camera).depth).all()  # > 20 m


def test_labels_are_the_arg_max_class_ids(camera_pipeline: DepthPipeline) -> None:
    """The tiny model scores classes 1-3 by the mean red, green, blue; 4 scores zero."""
    image = np.zeros((480, 640, 3), np.uint8)
    image[:, :200, 0] = 255  # red band on the left
    image[:, 250:420, 1] = 255  # green in the middle
    image[:, 480:, 2] = 255  # blue on the right
    result = camera_pipeline.run(image, 'rgb8', TUM_CAMERA, want_labels=True)
    labels = result.labels
    assert labels.dtype == np.uint8 and labels.shape == (109, 147)
    # Output column j sits on camera column 2.105 * (2j + 5) + 0.553.
    cam_u = (640 / 304) * (2 * np.arange(147) + 5) + (640 / 304) / 2 - 0.5
    for lo, hi, class_id in ((0, 180, 1), (270, 400, 2), (500, 640, 3)):
        columns = (cam_u > lo) & (cam_u < hi)
        assert (labels[:, columns] == class_id).all(), class_id
    assert set(np.unique(labels)) <= {1, 2, 3, 4}  # 0 (unlabelled) is never predicted
    # Black gaps: every score is at most 0 after normalisation, class 4 (zero) wins.
    gap = (cam_u > 215) & (cam_u < 235)
    assert (labels[:, gap] == 4).all()


def test_labels_only_when_asked(camera_pipeline: DepthPipeline, pipeline: DepthPipeline) -> None:
    image = horizontal_ramp()
    assert camera_pipeline.run(image, 'rgb8', TUM_CAMERA).labels is None
    assert not pipeline.has_labels and camera_pipeline.has_labels
    assert pipeline.run(image, 'rgb8', TUM_CAMERA, want_labels=True).labels is None


def test_label_palette_uses_the_sidecar_colours(camera_spec: ModelSpec, spec: ModelSpec) -> None:
    palette = label_palette(camera_spec)
    assert palette.shape == (256, 3) and palette.dtype == np.uint8
    np.testing.assert_array_equal(palette[:5], camera_spec.output('labels').class_colors)
    # Ids beyond the sidecar's colours get distinct fallback colours.
    assert len({tuple(c) for c in palette[5:40]}) == 35
    # A model without labels still gets a usable table.
    fallback = label_palette(spec)
    assert (fallback[0] == 0).all() and len({tuple(c) for c in fallback[1:40]}) == 39


@pytest.mark.parametrize('size', [(1, 1), (15, 480), (640, 15)])
def test_run_refuses_images_too_small_to_be_a_camera_picture(pipeline: DepthPipeline,
                                                             size: Tuple[int, int]) -> None:
    width, height = size
    image = np.zeros((height, width, 3), np.uint8)
    camera = PinholeCamera(width, height, 500.0, 500.0, (width - 1) / 2, (height - 1) / 2)
    with pytest.raises(PipelineError, match=f'image is {width}x{height}: too small'):
        pipeline.run(image, 'rgb8', camera)
    smallest = np.zeros((16, 16, 3), np.uint8)
    result = pipeline.run(smallest, 'rgb8', PinholeCamera(16, 16, 20.0, 20.0, 7.5, 7.5))
    assert result.depth.shape == (109, 147)


# --- canonical resize ----------------------------------------------------------------------------


@pytest.mark.parametrize('focal, box', [
    (300.0, (640 - 365) // 2),     # wide (94 degrees): the centre 365 columns, no padding
    (525.0, (640 - 638) // 2),     # Kinect: nearly the crop box (canonical is 249.4 there)
    (800.0, (640 - 973) // 2),     # narrow: 973 columns around the image, 333 of them padding
])
def test_canonical_input_sees_the_canonical_focal_length(canonical_pipeline: DepthPipeline,
                                                         focal: float, box: int) -> None:
    camera = PinholeCamera(640, 480, focal, focal, 319.5, 239.5)
    _, (x0, y0, width, height) = canonical_pipeline.input_map(camera)
    assert x0 == box and width == int(round(focal * 304 / 250.0))
    assert height == int(round(focal * 228 / 250.0)) and y0 == (480 - height) // 2
    net = canonical_pipeline.input_camera(camera)
    assert (net.width, net.height) == NET
    # Whole input pixels make the focal length canonical to within half a pixel of the box.
    assert net.fx == pytest.approx(250.0, rel=0.5 / width)
    assert net.cx == pytest.approx(151.5, abs=304 / width)  # an odd box is off by half a pixel
    # The depth factor corrects what is left, exactly as in the other modes.
    assert canonical_pipeline.depth_factor(camera) == pytest.approx(
        np.sqrt(net.fx * net.fy) / 250.0, rel=1e-12)


def test_canonical_padding_is_limited(canonical_pipeline: DepthPipeline) -> None:
    """A long lens pads to twice the crop box; the depth factor carries the rest."""
    camera = PinholeCamera(640, 480, 3000.0, 3000.0, 319.5, 239.5)
    _, (x0, y0, width, height) = canonical_pipeline.input_map(camera)
    assert (width, height) == (2 * 640, 2 * 480) and (x0, y0) == (-320, -240)
    assert canonical_pipeline.depth_factor(camera) == pytest.approx(3000 * 304 / 1280 / 250.0)


def test_canonical_without_a_metric_scale_is_crop(spec: ModelSpec, backend) -> None:
    camera = PinholeCamera(640, 480, 800.0, 800.0, 319.5, 239.5)
    canonical = DepthPipeline(spec, backend, 'canonical')
    assert canonical.input_map(camera)[1] == input_map(camera.size, NET, 'crop')[1]
    assert canonical.output_camera(camera) == DepthPipeline(spec, backend, 'crop').output_camera(
        camera)


def test_canonical_preprocess_puts_dots_where_the_map_says(
        canonical_pipeline: DepthPipeline, camera_spec: ModelSpec) -> None:
    """A narrow camera: the image shrinks into the middle of the input, the border repeated."""
    camera = PinholeCamera(640, 480, 800.0, 800.0, 319.5, 239.5)
    mapping, (x0, y0, width, height) = canonical_pipeline.input_map(camera)
    assert x0 < 0 and y0 < 0
    dots = dots_for((0, 0, 640, 480))
    image = render_dots(640, 480, dots, 3.0)
    image[:, -1] = 200  # a bright right edge column, repeated into the padding
    tensor = canonical_pipeline.preprocess(image, 'rgb8', camera)
    intensity = denormalise(camera_spec, tensor)[0]
    for u, v in dots:
        expected = np.array([(u - mapping.x.offset) / mapping.x.scale,
                             (v - mapping.y.offset) / mapping.y.scale])
        found = centroid(intensity, *expected, 6)
        assert np.abs(found - expected).max() < 0.1, (u, v, expected, found)
    edge = int(np.floor((639.5 - mapping.x.offset) / mapping.x.scale)) + 2
    np.testing.assert_allclose(intensity[5:-5, edge:], 200, atol=1)  # replicated, not black
    with pytest.raises(PipelineError, match='intrinsics'):
        canonical_pipeline.preprocess(image, 'rgb8')


def test_canonical_output_is_nan_outside_the_camera_image(
        canonical_pipeline: DepthPipeline) -> None:
    """Output pixels over the padding get no depth, normals or labels; the rest do."""
    camera = PinholeCamera(640, 480, 800.0, 800.0, 319.5, 239.5)
    result = canonical_pipeline.run(horizontal_ramp(), 'rgb8', camera, want_labels=True)
    out = result.camera
    assert out == canonical_pipeline.output_camera(camera)
    # Where each output pixel centre lies in the camera image, through the output intrinsics.
    u = (np.arange(out.width) - out.cx) / out.fx * camera.fx + camera.cx
    v = (np.arange(out.height) - out.cy) / out.fy * camera.fy + camera.cy
    inside = ((v >= -0.5) & (v <= 479.5))[:, None] & ((u >= -0.5) & (u <= 639.5))[None, :]
    assert 0.3 < inside.mean() < 0.7
    np.testing.assert_array_equal(np.isfinite(result.depth), inside)
    assert (result.labels[~inside] == 0).all() and (result.labels[inside] > 0).all()
    assert np.isnan(result.normals[~inside]).all()


def test_canonical_wide_camera_keeps_every_output_pixel(canonical_pipeline: DepthPipeline) -> None:
    camera = PinholeCamera(640, 480, 300.0, 300.0, 319.5, 239.5)
    assert canonical_pipeline.outside_image(camera) is None
    result = canonical_pipeline.run(horizontal_ramp(), 'rgb8', camera)
    assert np.isfinite(result.depth).all()


# --- output_resolution: input --------------------------------------------------------------------

def grid_positions(camera: PinholeCamera, net: PinholeCamera) -> Tuple[np.ndarray, np.ndarray]:
    """Where each camera column and row lies on the network grid, through the two intrinsics."""
    j = (np.arange(camera.width) - camera.cx) / camera.fx * net.fx + net.cx
    i = (np.arange(camera.height) - camera.cy) / camera.fy * net.fy + net.cy
    return j, i


def test_output_resolution_is_checked(spec: ModelSpec, backend) -> None:
    with pytest.raises(PipelineError, match='"camera"'):
        DepthPipeline(spec, backend, 'crop', 'camera')


@pytest.mark.parametrize('mode, focal', [('crop', 525.0), ('canonical', 300.0),
                                         ('canonical', 525.0), ('stretch', 525.0)])
def test_input_resolution_registers_the_network_output_to_every_camera_pixel(
        camera_spec: ModelSpec, tum_rgb: np.ndarray, mode: str, focal: float) -> None:
    """
    The camera's grid, checked by reprojection through the network grid's own intrinsics.

    Each camera pixel lies at a position of the network grid: NaN (labels 0) off the grid; on
    it, within the range of its four grid neighbours, bilinear where they are close, labels of
    the nearest grid pixel; normals unit where the depth is valid.
    """
    backend = create_backend('onnxruntime', camera_spec, num_threads=1)
    camera = PinholeCamera(640, 480, focal, focal, 319.5, 239.5)
    grid = DepthPipeline(camera_spec, backend, mode).run(tum_rgb, 'rgb8', camera, want_labels=True)
    full_pipeline = DepthPipeline(camera_spec, backend, mode, 'input')
    full = full_pipeline.run(tum_rgb, 'rgb8', camera, want_labels=True)
    assert full.camera == camera == full_pipeline.output_camera(camera)
    assert full.depth.shape == full.labels.shape == (480, 640) and full.normals.shape[2] == 3
    assert full.depth.dtype == full.normals.dtype == np.float32 and full.labels.dtype == np.uint8
    j, i = grid_positions(camera, grid.camera)
    h, w = grid.depth.shape
    seen = ((i >= -0.5) & (i <= h - 0.5))[:, None] & ((j >= -0.5) & (j <= w - 0.5))[None, :]
    assert np.isnan(full.depth[~seen]).all() and (full.labels[~seen] == 0).all()
    jc, ic = np.clip(j, 0, w - 1), np.clip(i, 0, h - 1)
    j0, i0 = np.floor(jc).astype(int), np.floor(ic).astype(int)
    j1, i1 = np.minimum(j0 + 1, w - 1), np.minimum(i0 + 1, h - 1)
    corners = np.stack([grid.depth[rows[:, None], cols[None, :]]
                        for rows in (i0, i1) for cols in (j0, j1)])
    finite = np.isfinite(full.depth)
    assert finite[seen].mean() > 0.99
    assert (full.depth[finite] >= np.nanmin(corners, axis=0)[finite] * (1 - 1e-6)).all()
    assert (full.depth[finite] <= np.nanmax(corners, axis=0)[finite] * (1 + 1e-6)).all()
    wj, wi = (jc - j0)[None, :], (ic - i0)[:, None]
    bilinear = ((corners[0] * (1 - wj) + corners[1] * wj) * (1 - wi)
                + (corners[2] * (1 - wj) + corners[3] * wj) * wi)
    close = seen & (corners.max(axis=0) <= corners.min(axis=0) * 1.05)
    assert close[seen].mean() > 0.5
    np.testing.assert_allclose(full.depth[close], bilinear[close], rtol=1e-5)
    nearest = grid.labels[np.floor(ic + 0.5).astype(int)[:, None],
                          np.floor(jc + 0.5).astype(int)[None, :]]
    np.testing.assert_array_equal(full.labels[seen], nearest[seen])
    np.testing.assert_array_equal(np.isfinite(full.normals).all(axis=2), finite)
    np.testing.assert_allclose(np.linalg.norm(full.normals[finite], axis=1), 1.0, atol=1e-5)
    assert full.depth_factor == grid.depth_factor


def test_input_resolution_of_a_padded_camera_covers_the_whole_image(
        canonical_pipeline: DepthPipeline, camera_spec: ModelSpec) -> None:
    """A camera narrower than the canonical one: every pixel has depth, none read from padding."""
    camera = PinholeCamera(640, 480, 800.0, 800.0, 319.5, 239.5)
    grid = canonical_pipeline.run(horizontal_ramp(), 'rgb8', camera, want_labels=True)
    assert np.isnan(grid.depth).any()  # the padding
    full = DepthPipeline(camera_spec, canonical_pipeline.backend, 'canonical', 'input').run(
        horizontal_ramp(), 'rgb8', camera, want_labels=True)
    assert np.isfinite(full.depth).all() and (full.labels > 0).all()
    assert np.nanmin(grid.depth) * (1 - 1e-6) <= full.depth.min()
    assert full.depth.max() <= np.nanmax(grid.depth) * (1 + 1e-6)


def test_output_colors_sample_the_camera_image_on_the_output_grid(
        pipeline: DepthPipeline, spec: ModelSpec, tum_rgb: np.ndarray) -> None:
    """Network grid: the camera colour under each output pixel centre; input grid: the image."""
    colors = pipeline.output_colors(tum_rgb, TUM_CAMERA)
    out = pipeline.output_camera(TUM_CAMERA)
    assert colors.shape == (out.height, out.width, 3) and colors.dtype == np.uint8
    j, i = np.meshgrid(np.arange(out.width), np.arange(out.height))
    u = (j - out.cx) / out.fx * TUM_CAMERA.fx + TUM_CAMERA.cx
    v = (i - out.cy) / out.fy * TUM_CAMERA.fy + TUM_CAMERA.cy
    expected = cv2.remap(tum_rgb, u.astype(np.float32), v.astype(np.float32), cv2.INTER_LINEAR)
    assert np.abs(colors.astype(int) - expected).max() <= 1
    full = DepthPipeline(spec, pipeline.backend, 'crop', 'input')
    assert full.output_colors(tum_rgb, TUM_CAMERA) is tum_rgb
