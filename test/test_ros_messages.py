"""Unit tests of ros2_depth.ros_messages: real message objects built from numpy, no ROS graph."""

from __future__ import annotations

import array
from pathlib import Path

from builtin_interfaces.msg import Time
import cv2
import numpy as np
import pytest
from ros2_depth.backends import create_backend
from ros2_depth.camera_model import camera_from_info, PinholeCamera
from ros2_depth.geometry import backproject, cloud_field_names, fill_cloud, POINTFIELD_FLOAT32
from ros2_depth.image_encoding import image_to_numpy, SYSTEM_BIGENDIAN
from ros2_depth.model_spec import load_spec
from ros2_depth.pipeline import DepthPipeline, label_palette
from ros2_depth.ros_messages import (
    camera_info_copy, camera_info_message, cloud_message, cloud_to_numpy, cloud_to_structured,
    CloudOptions, image_message, output_messages, OUTPUTS)
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField
from std_msgs.msg import Header


def header() -> Header:
    """Return a header with a distinctive stamp and frame."""
    return Header(stamp=Time(sec=1712345678, nanosec=123456789),
                  frame_id='camera_color_optical_frame')


def random_cloud(height: int = 6, width: int = 9, nan_fraction: float = 0.0,
                 seed: int = 0) -> np.ndarray:
    """Return an (H, W, 3) float32 cloud, with some NaN points if asked."""
    rng = np.random.default_rng(seed)
    points = rng.uniform(-5, 5, (height, width, 3)).astype(np.float32)
    points[rng.random((height, width)) < nan_fraction] = np.nan
    return points


def assert_same_header(msg_header: Header) -> None:
    """Check that the header is the one from header()."""
    assert msg_header.stamp.sec == 1712345678
    assert msg_header.stamp.nanosec == 123456789
    assert msg_header.frame_id == 'camera_color_optical_frame'


# --- point clouds --------------------------------------------------------------------------------

def test_pointfield_constant_matches_sensor_msgs() -> None:
    assert POINTFIELD_FLOAT32 == PointField.FLOAT32


def test_cloud_message_layout() -> None:
    points = random_cloud(6, 9)
    msg = cloud_message(header(), points)
    assert isinstance(msg, PointCloud2)
    assert_same_header(msg.header)
    assert (msg.height, msg.width) == (6, 9)
    assert [(f.name, f.offset, f.datatype, f.count) for f in msg.fields] == [
        ('x', 0, PointField.FLOAT32, 1), ('y', 4, PointField.FLOAT32, 1),
        ('z', 8, PointField.FLOAT32, 1)]
    assert msg.point_step == 12
    assert msg.row_step == 12 * 9
    assert len(msg.data) == msg.row_step * msg.height
    assert msg.is_bigendian == SYSTEM_BIGENDIAN
    assert msg.is_dense is True


def test_cloud_bytes_are_x_y_z_float32() -> None:
    points = random_cloud(2, 3)
    msg = cloud_message(header(), points)
    dtype = '>f4' if msg.is_bigendian else '<f4'
    raw = np.frombuffer(bytes(msg.data), dtype=dtype).reshape(2, 3, 3)
    np.testing.assert_array_equal(raw, points)
    # The second point of the second row starts at row_step + point_step.
    offset = msg.row_step + msg.point_step
    assert bytes(msg.data[offset:offset + 4]) == points[1, 1, 0].tobytes()


def test_cloud_round_trip_with_nan() -> None:
    points = random_cloud(7, 11, nan_fraction=0.3)
    msg = cloud_message(header(), points)
    assert msg.is_dense is False
    back = cloud_to_numpy(msg)
    assert back.shape == (7, 11, 3) and back.dtype == np.float32
    np.testing.assert_array_equal(back, points)


def test_cloud_is_dense_with_inf() -> None:
    points = random_cloud(2, 2)
    points[0, 1, 2] = np.inf
    assert cloud_message(header(), points).is_dense is False


def test_cloud_from_non_contiguous_points() -> None:
    points = random_cloud(8, 10)[::2, 1::3]
    back = cloud_to_numpy(cloud_message(header(), points))
    np.testing.assert_array_equal(back, points)


def test_cloud_of_backprojected_depth() -> None:
    cam = PinholeCamera(147, 109, 124.6875, 124.6875, 73.25, 54.25)
    depth = np.linspace(0.5, 4.0, 147 * 109, dtype=np.float32).reshape(109, 147)
    depth[::7, ::5] = np.nan
    points = backproject(depth, cam)
    msg = cloud_message(header(), points)
    assert not msg.is_dense
    back = cloud_to_numpy(msg)
    np.testing.assert_array_equal(back[..., 2], depth)
    np.testing.assert_array_equal(back, points)


@pytest.mark.parametrize('points', [
    np.zeros((4, 5, 3), np.float64), np.zeros((4, 5, 4), np.float32),
    np.zeros((20, 3), np.float32),
])
def test_cloud_message_rejects_bad_points(points: np.ndarray) -> None:
    with pytest.raises(ValueError) as err:
        cloud_message(header(), points)
    assert str(points.shape) in str(err.value)


def padded_cloud(points: np.ndarray, point_step: int, row_pad: int,
                 bigendian: bool) -> PointCloud2:
    """Return a cloud with x y z first, then padding per point and per row, in any byte order."""
    height, width = points.shape[:2]
    row_step = width * point_step + row_pad
    raw = np.full((height, row_step), 0x5A, np.uint8)
    data = points.astype('>f4' if bigendian else '<f4')
    for col in range(width):
        start = col * point_step
        raw[:, start:start + 12] = data[:, col].view(np.uint8).reshape(height, 12)
    msg = PointCloud2(height=height, width=width, point_step=point_step, row_step=row_step,
                      is_bigendian=bigendian)
    msg.fields = [PointField(name=n, offset=4 * i, datatype=PointField.FLOAT32, count=1)
                  for i, n in enumerate('xyz')]
    msg.fields.append(PointField(name='rgb', offset=12, datatype=PointField.FLOAT32, count=1))
    msg.data = array.array('B', raw.tobytes())
    return msg


@pytest.mark.parametrize('bigendian', [False, True])
def test_cloud_to_numpy_reads_padded_points(bigendian: bool) -> None:
    points = random_cloud(3, 4, nan_fraction=0.2, seed=5)
    back = cloud_to_numpy(padded_cloud(points, point_step=16, row_pad=8, bigendian=bigendian))
    np.testing.assert_array_equal(back, points)


def test_cloud_to_numpy_rejects_other_fields() -> None:
    msg = cloud_message(header(), random_cloud(2, 2))
    msg.fields[1].name = 'intensity'
    with pytest.raises(ValueError, match='intensity'):
        cloud_to_numpy(msg)
    msg = cloud_message(header(), random_cloud(2, 2))
    msg.fields[2].datatype = PointField.FLOAT64
    with pytest.raises(ValueError, match='float32'):
        cloud_to_numpy(msg)


# --- images and camera_info ----------------------------------------------------------------------

def test_image_message_keeps_the_header_and_pixels() -> None:
    depth = np.random.default_rng(1).uniform(0.1, 10, (109, 147)).astype(np.float32)
    depth[0, 0] = np.nan
    msg = image_message(header(), depth, '32FC1')
    assert isinstance(msg, Image)
    assert_same_header(msg.header)
    assert (msg.height, msg.width, msg.encoding, msg.step) == (109, 147, '32FC1', 147 * 4)
    np.testing.assert_array_equal(image_to_numpy(msg), depth)


def test_image_message_normals() -> None:
    normals = np.random.default_rng(2).normal(size=(5, 6, 3)).astype(np.float32)
    msg = image_message(header(), normals, '32FC3')
    assert_same_header(msg.header)
    assert msg.step == 6 * 12
    np.testing.assert_array_equal(image_to_numpy(msg), normals)


def test_camera_info_message() -> None:
    cam = PinholeCamera(147, 109, 124.6875, 124.6875, 73.25, 54.25)
    msg = camera_info_message(header(), cam)
    assert isinstance(msg, CameraInfo)
    assert_same_header(msg.header)
    assert (msg.width, msg.height) == (147, 109)
    np.testing.assert_array_equal(
        msg.p, [124.6875, 0, 73.25, 0, 0, 124.6875, 54.25, 0, 0, 0, 1, 0])
    assert camera_from_info(msg) == cam


# --- one frame's outputs -------------------------------------------------------------------------

@pytest.fixture(scope='module')
def labelled_pipeline(tiny_camera_model: Path) -> DepthPipeline:
    """Return the tiny model with labels and a metric scale, on one thread."""
    spec = load_spec(tiny_camera_model)
    return DepthPipeline(spec, create_backend('onnxruntime', spec, num_threads=1))


def test_output_messages_are_the_pipeline_result_as_messages(
        labelled_pipeline: DepthPipeline) -> None:
    """Each output carries the header and the pipeline's arrays; points back-project the depth."""
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    camera = PinholeCamera(160, 120, 140.0, 140.0, 79.5, 59.5)
    palette = label_palette(labelled_pipeline.spec)
    messages, result = output_messages(labelled_pipeline, header(), pixels, 'rgb8', camera,
                                       set(OUTPUTS), palette)
    assert list(messages) == list(OUTPUTS)
    for msg in messages.values():
        assert_same_header(msg.header)
    assert camera_from_info(messages['info']) == result.camera
    np.testing.assert_array_equal(image_to_numpy(messages['depth']), result.depth)
    np.testing.assert_array_equal(image_to_numpy(messages['normals']), result.normals)
    np.testing.assert_array_equal(image_to_numpy(messages['labels']), result.labels)
    np.testing.assert_array_equal(image_to_numpy(messages['labels_color']),
                                  palette[result.labels])
    np.testing.assert_array_equal(cloud_to_numpy(messages['points']),
                                  backproject(result.depth, result.camera))


def test_output_messages_for_camera_info_alone_run_no_inference(
        labelled_pipeline: DepthPipeline) -> None:
    """Only depth/camera_info wanted: no pipeline result, the intrinsics of the output grid."""
    camera = PinholeCamera(160, 120, 140.0, 140.0, 79.5, 59.5)
    pixels = np.zeros((3, 3, 3), np.uint8)  # would fail the pipeline's size check
    messages, result = output_messages(labelled_pipeline, header(), pixels, 'rgb8', camera,
                                       {'info'})
    assert result is None and list(messages) == ['info']
    assert camera_from_info(messages['info']) == labelled_pipeline.output_camera(camera)
    with pytest.raises(ValueError, match='unknown outputs'):
        output_messages(labelled_pipeline, header(), pixels, 'rgb8', camera, {'depth_png'})


# --- clouds with rgb and normals, against the PointCloud2 spec -----------------------------------

def decode_cloud(msg: PointCloud2) -> np.ndarray:
    """Read a cloud by its own field table (independently of ros2_depth): structured (H, W)."""
    sizes = {PointField.FLOAT32: 'f4'}
    order = '>' if msg.is_bigendian else '<'
    dtype = np.dtype({'names': [f.name for f in msg.fields],
                      'formats': [order + sizes[f.datatype] for f in msg.fields],
                      'offsets': [f.offset for f in msg.fields], 'itemsize': msg.point_step})
    return np.frombuffer(bytes(msg.data), dtype).reshape(msg.height, msg.width)


@pytest.mark.parametrize('rgb, normals', [(True, False), (False, True), (True, True)])
def test_cloud_with_rgb_and_normals_follows_the_pointcloud2_spec(rgb: bool,
                                                                 normals: bool) -> None:
    rng = np.random.default_rng(6)
    cam = PinholeCamera(9, 6, 7.0, 7.5, 4.0, 2.5)
    depth = rng.uniform(0.5, 4.0, (6, 9)).astype(np.float32)
    depth[2, 3] = np.nan
    colors = rng.integers(0, 256, (6, 9, 3), dtype=np.uint8) if rgb else None
    unit = rng.normal(size=(6, 9, 3)).astype(np.float32)
    unit /= np.linalg.norm(unit, axis=2, keepdims=True)
    names = cloud_field_names(rgb, normals)
    msg = cloud_message(header(), fill_cloud(depth, cam, rgb=colors,
                                             normals=unit if normals else None), names)
    assert_same_header(msg.header)
    expected_names = ['x', 'y', 'z'] + ['rgb'] * rgb
    expected_names += ['normal_x', 'normal_y', 'normal_z'] * normals
    assert [(f.name, f.offset, f.datatype, f.count) for f in msg.fields] == [
        (name, 4 * i, 7, 1) for i, name in enumerate(expected_names)]
    assert msg.point_step == 4 * len(expected_names)
    assert msg.row_step == msg.point_step * msg.width
    assert (msg.height, msg.width) == (6, 9) and len(msg.data) == msg.row_step * msg.height
    assert msg.is_dense is False and msg.is_bigendian is False
    cloud = decode_cloud(msg)
    np.testing.assert_array_equal(np.stack([cloud[a] for a in 'xyz'], -1), backproject(depth, cam))
    if rgb:
        packed = cloud['rgb'].astype('<f4').view('<u4')
        decoded = np.stack([(packed >> 16) & 255, (packed >> 8) & 255, packed & 255], -1)
        np.testing.assert_array_equal(decoded, colors)
        assert (packed >> 24 == 0).all()
    if normals:
        np.testing.assert_array_equal(
            np.stack([cloud[f'normal_{a}'] for a in 'xyz'], -1), unit)
    # The package's own reader takes x, y, z out of the wider points.
    np.testing.assert_array_equal(cloud_to_numpy(msg), backproject(depth, cam))
    assert cloud_to_structured(msg).dtype.names == tuple(expected_names)


def test_cloud_message_rejects_fields_that_do_not_match() -> None:
    with pytest.raises(ValueError, match='x, y, z first'):
        cloud_message(header(), np.zeros((2, 2, 4), np.float32), ('x', 'y', 'z'))
    with pytest.raises(ValueError, match='x, y, z first'):
        cloud_message(header(), np.zeros((2, 2, 4), np.float32), ('rgb', 'x', 'y', 'z'))


def test_camera_info_copy_keeps_distortion_and_takes_the_header() -> None:
    info = CameraInfo(width=640, height=480, distortion_model='plumb_bob',
                      d=[-0.3, 0.1, 0.001, 0.002, 0.0], k=[500.0, 0, 320, 0, 501, 240, 0, 0, 1],
                      r=[1.0, 0, 0, 0, 1, 0, 0, 0, 1],
                      p=[480.0, 0, 322, 0, 0, 482, 238, 0, 0, 0, 1, 0], binning_x=2, binning_y=2)
    info.roi.x_offset, info.roi.width = 4, 300
    info.header.frame_id = 'other'
    copy = camera_info_copy(header(), info)
    assert_same_header(copy.header)
    for name in ('width', 'height', 'distortion_model', 'binning_x', 'binning_y'):
        assert getattr(copy, name) == getattr(info, name), name
    for name in ('d', 'k', 'r', 'p'):
        np.testing.assert_array_equal(getattr(copy, name), getattr(info, name))
    assert (copy.roi.x_offset, copy.roi.width) == (4, 300)


def test_output_messages_cloud_options(labelled_pipeline: DepthPipeline) -> None:
    """cloud_rgb and cloud_normals choose the fields; the colours are the image's on the grid."""
    rng = np.random.default_rng(9)
    pixels = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    camera = PinholeCamera(160, 120, 140.0, 140.0, 79.5, 59.5)
    for options, names in ((CloudOptions(), ('x', 'y', 'z', 'rgb')),
                           (CloudOptions(rgb=False), ('x', 'y', 'z')),
                           (CloudOptions(rgb=True, normals=True),
                            ('x', 'y', 'z', 'rgb', 'normal_x', 'normal_y', 'normal_z'))):
        messages, result = output_messages(labelled_pipeline, header(), pixels, 'bgr8', camera,
                                           {'points'}, cloud=options)
        assert 'normals' not in messages  # computed for the cloud, not published unasked
        cloud = decode_cloud(messages['points'])
        assert cloud.dtype.names == names
        if options.rgb:
            bits = np.ascontiguousarray(cloud['rgb']).view('<u4')
            decoded = np.stack([(bits >> 16) & 255, (bits >> 8) & 255, bits & 255], -1)
            expected = labelled_pipeline.output_colors(
                np.ascontiguousarray(pixels[..., ::-1]), camera)  # bgr8 read as RGB
            np.testing.assert_array_equal(decoded, expected)
        if options.normals:
            np.testing.assert_array_equal(
                np.stack([cloud[f'normal_{a}'] for a in 'xyz'], -1), result.normals)


def test_output_messages_on_the_input_grid(tiny_camera_model: Path) -> None:
    """output_resolution input: the input camera_info comes back, images at the input size."""
    spec = load_spec(tiny_camera_model)
    pipeline = DepthPipeline(spec, create_backend('onnxruntime', spec, num_threads=1), 'crop',
                             'input')
    camera = PinholeCamera(160, 120, 140.0, 140.0, 79.5, 59.5)
    info = camera_info_message(Header(frame_id='elsewhere'), camera)
    info.d = [-0.2, 0.05, 0.0, 0.0, 0.0]
    pixels = np.random.default_rng(10).integers(0, 256, (120, 160), dtype=np.uint8)
    messages, result = output_messages(pipeline, header(), pixels, 'mono8', camera,
                                       set(OUTPUTS), label_palette(spec), info,
                                       CloudOptions(rectified=False))
    assert_same_header(messages['info'].header)
    assert list(messages['info'].d) == [-0.2, 0.05, 0.0, 0.0, 0.0]
    assert list(messages['info'].k) == list(info.k)
    for key in ('depth', 'normals', 'labels', 'labels_color', 'points'):
        assert (messages[key].width, messages[key].height) == (160, 120), key
    cloud = decode_cloud(messages['points'])
    gray = np.ascontiguousarray(cloud['rgb']).view('<u4') & 255
    np.testing.assert_array_equal(gray, pixels)
    # Raw image: each valid point projects back through K and D onto its own pixel.
    points = np.stack([cloud[a] for a in 'xyz'], -1).astype(np.float64)
    valid = np.isfinite(points).all(axis=2)
    assert valid.mean() > 0.8
    projected, _ = cv2.projectPoints(points[valid], np.zeros(3), np.zeros(3),
                                     np.array(info.k).reshape(3, 3), np.array(info.d))
    v, u = np.nonzero(valid)
    np.testing.assert_allclose(projected[:, 0], np.column_stack([u, v]), atol=2e-3)
    with pytest.raises(ValueError, match='camera_info'):
        output_messages(pipeline, header(), pixels, 'mono8', camera, {'info'})
