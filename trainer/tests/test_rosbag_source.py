"""
rosbag2 recordings as frames (data/rosbag_source.py), from small bags the tests write.

The bags are written here with rosbags' writer, in MCAP and SQLite3, with messages encoded as
drivers and image_transport encode them (the compressedDepth encoder below follows
image_transport_plugins' documented format, independently of the synth-bag writer).
"""

from __future__ import annotations

import logging
from pathlib import Path
import pickle
import struct
from typing import Any, Dict, List, Sequence, Tuple

import cv2
import numpy as np
import pytest
from ros2_depth.camera_model import PinholeCamera
from ros2_depth_trainer.data.recording import RecordingError
from ros2_depth_trainer.data.rosbag_source import match_stamps, read_bag_frames
from rosbags.rosbag2 import Writer
from rosbags.rosbag2.enums import StoragePlugin
from rosbags.typesys import get_typestore, Stores

STORE = get_typestore(Stores.ROS2_HUMBLE)
TYPES = STORE.types
IMAGE = 'sensor_msgs/msg/Image'
COMPRESSED = 'sensor_msgs/msg/CompressedImage'
INFO = 'sensor_msgs/msg/CameraInfo'
TF = 'tf2_msgs/msg/TFMessage'
T0 = 1_700_000_000 * 1_000_000_000
PERIOD = 33_333_333  # 30 Hz

COLOUR_CAM = PinholeCamera(width=64, height=48, fx=60.0, fy=60.0, cx=31.5, cy=23.5)
DEPTH_CAM = PinholeCamera(width=48, height=36, fx=42.0, fy=41.0, cx=23.7, cy=17.2)
COLOUR_FRAME = 'camera_color_optical_frame'
DEPTH_FRAME = 'camera_depth_optical_frame'
# REP 103: the optical frame's axes (x right, y down, z forward) in the body frame (x forward,
# y left, z up); the quaternion (x, y, z, w) drivers publish for camera_link -> optical frame.
OPTICAL_IN_BODY = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
OPTICAL_QUATERNION = (-0.5, 0.5, -0.5, 0.5)
# The depth camera in camera_link: 5 cm to the left, yawed by 2 degrees.
DEPTH_IN_BODY = np.array([0.0, 0.05, 0.0])
YAW = np.radians(2.0)
YAW_QUATERNION = (0.0, 0.0, np.sin(YAW / 2), np.cos(YAW / 2))


# Messages.
def header(stamp_ns: int, frame_id: str) -> Any:
    """Return a std_msgs/Header."""
    sec, nanosec = divmod(stamp_ns, 1_000_000_000)
    return TYPES['std_msgs/msg/Header'](
        stamp=TYPES['builtin_interfaces/msg/Time'](sec=sec, nanosec=nanosec), frame_id=frame_id)


def image(stamp_ns: int, frame_id: str, pixels: np.ndarray, encoding: str) -> Any:
    """Return an unpadded little-endian sensor_msgs/Image."""
    data = np.frombuffer(np.ascontiguousarray(pixels).tobytes(), np.uint8)
    return TYPES[IMAGE](header=header(stamp_ns, frame_id), height=pixels.shape[0],
                        width=pixels.shape[1], encoding=encoding, is_bigendian=0,
                        step=data.size // pixels.shape[0], data=data)


def compressed(stamp_ns: int, frame_id: str, image_format: str, data: bytes) -> Any:
    """Return a sensor_msgs/CompressedImage."""
    return TYPES[COMPRESSED](header=header(stamp_ns, frame_id), format=image_format,
                             data=np.frombuffer(data, np.uint8))


def jpeg_or_png(rgb: np.ndarray, kind: str) -> Tuple[str, bytes]:
    """image_transport `compressed`: rgb8 converted to BGR and encoded by OpenCV."""
    ok, data = cv2.imencode('.jpg' if kind == 'jpeg' else '.png', rgb[..., ::-1].copy())
    assert ok
    return f'rgb8; {kind} compressed bgr8', data.tobytes()


def compressed_depth(depth_m: np.ndarray, encoding: str, depth_max: float = 10.0,
                     quantization: float = 100.0) -> Tuple[str, bytes]:
    """image_transport `compressedDepth`: 12-byte ConfigHeader (int32, 2 x float32) + PNG."""
    if encoding == '16UC1':
        pixels = np.nan_to_num(np.round(depth_m * 1000.0), nan=0).astype(np.uint16)
        quant_a = quant_b = 0.0
    else:
        quant_a = quantization * (quantization + 1.0)
        quant_b = 1.0 - quant_a / depth_max
        valid = np.isfinite(depth_m) & (depth_m < depth_max)
        pixels = np.zeros(depth_m.shape, np.uint16)
        pixels[valid] = (quant_a / depth_m[valid] + quant_b).astype(np.uint16)
    ok, png = cv2.imencode('.png', pixels)
    assert ok
    return (f'{encoding}; compressedDepth png',
            struct.pack('<iff', 0, quant_a, quant_b) + png.tobytes())


def camera_info(stamp_ns: int, frame_id: str, camera: PinholeCamera,
                d: Sequence[float] = (0.0,) * 5) -> Any:
    """Return a sensor_msgs/CameraInfo with K = P of `camera` and plumb_bob coefficients `d`."""
    k = camera.k
    return TYPES[INFO](
        header=header(stamp_ns, frame_id), height=camera.height, width=camera.width,
        distortion_model='plumb_bob', d=np.asarray(d, np.float64),
        k=k.reshape(-1), r=np.eye(3).reshape(-1), p=np.hstack([k, np.zeros((3, 1))]).reshape(-1),
        binning_x=0, binning_y=0,
        roi=TYPES['sensor_msgs/msg/RegionOfInterest'](x_offset=0, y_offset=0, height=0, width=0,
                                                      do_rectify=False))


def tf_static(stamp_ns: int,
              transforms: Sequence[Tuple[str, str, Sequence[float], Sequence[float]]]) -> Any:
    """Return a tf2_msgs/TFMessage of (parent, child, translation, quaternion xyzw)."""
    items = []
    for parent, child, (x, y, z), (qx, qy, qz, qw) in transforms:
        items.append(TYPES['geometry_msgs/msg/TransformStamped'](
            header=header(stamp_ns, parent), child_frame_id=child,
            transform=TYPES['geometry_msgs/msg/Transform'](
                translation=TYPES['geometry_msgs/msg/Vector3'](x=x, y=y, z=z),
                rotation=TYPES['geometry_msgs/msg/Quaternion'](x=qx, y=qy, z=qz, w=qw))))
    return TYPES[TF](transforms=items)


def driver_tf(stamp_ns: int = T0) -> Any:
    """/tf_static as a driver publishes it: camera_link -> body frames -> optical frames."""
    return tf_static(stamp_ns, [
        ('camera_link', 'camera_color_frame', (0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 1.0)),
        ('camera_color_frame', COLOUR_FRAME, (0.0, 0.0, 0.0), OPTICAL_QUATERNION),
        ('camera_link', 'camera_depth_frame', tuple(DEPTH_IN_BODY), YAW_QUATERNION),
        ('camera_depth_frame', DEPTH_FRAME, (0.0, 0.0, 0.0), OPTICAL_QUATERNION),
    ])


Message = Tuple[str, Any]  # (topic, message); the type comes from the message


def write_bag(path: Path, messages: Sequence[Message], storage: str = 'mcap') -> Path:
    """Write messages (receive time = header stamp, or T0 for /tf_static) as a rosbag2."""
    plugin = StoragePlugin.MCAP if storage == 'mcap' else StoragePlugin.SQLITE3
    connections: Dict[str, Any] = {}
    with Writer(path, version=9, storage_plugin=plugin) as writer:
        timed = []
        for topic, msg in messages:
            msgtype = msg.__msgtype__
            if topic not in connections:
                connections[topic] = writer.add_connection(topic, msgtype, typestore=STORE)
            log_ns = _stamp(msg) if hasattr(msg, 'header') else T0
            timed.append((log_ns, topic, STORE.serialize_cdr(msg, msgtype)))
        for log_ns, topic, raw in sorted(timed, key=lambda item: item[0]):
            writer.write(connections[topic], log_ns, raw)
    return path


def _stamp(msg: Any) -> int:
    return int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)


# Scenes.
def colour_picture(index: int, camera: PinholeCamera = COLOUR_CAM) -> np.ndarray:
    """Return a smooth colour picture, different per frame (JPEG keeps it to a few levels)."""
    v, u = np.mgrid[0:camera.height, 0:camera.width]
    return np.stack([(4 * u + 10 * index) % 256, (5 * v) % 256,
                     np.full_like(u, 90 + index)], -1).astype(np.uint8)


def plane_depth(camera: PinholeCamera, index: int = 0) -> np.ndarray:
    """Return a tilted plane (metres), with a hole, different per frame."""
    v, u = np.mgrid[0:camera.height, 0:camera.width]
    depth = (1.5 + 0.01 * u + 0.02 * v + 0.1 * index).astype(np.float32)
    depth[2, 3] = np.nan
    return depth


def body_to_optical(rotation_body: np.ndarray) -> np.ndarray:
    """Return a rotation of the body frame, expressed between optical frames."""
    return OPTICAL_IN_BODY.T @ rotation_body @ OPTICAL_IN_BODY


def depth_pose() -> Tuple[np.ndarray, np.ndarray]:
    """(R, t): depth optical frame in the colour optical frame, from rotation matrices."""
    yaw = np.array([[np.cos(YAW), -np.sin(YAW), 0], [np.sin(YAW), np.cos(YAW), 0], [0, 0, 1]])
    return body_to_optical(yaw), OPTICAL_IN_BODY.T @ DEPTH_IN_BODY


def render_scene(camera: PinholeCamera, rotation: np.ndarray = np.eye(3),
                 translation: np.ndarray = np.zeros(3)) -> np.ndarray:
    """
    Return the exact depth seen by a camera at (rotation, translation) in the colour frame.

    The scene: a tilted wall (normal (0.2, -0.1, 1), 2 m away) behind a fronto-parallel card at
    1 m.
    """
    v, u = np.mgrid[0:camera.height, 0:camera.width].astype(np.float64)
    rays = np.stack([(u - camera.cx) / camera.fx, (v - camera.cy) / camera.fy, np.ones_like(u)],
                    -1) @ rotation.T
    normal = np.array([0.2, -0.1, 1.0])
    wall = (2.0 - normal @ translation) / (rays @ normal)
    card = (1.0 - translation[2]) / rays[..., 2]
    x = translation[0] + card * rays[..., 0]
    y = translation[1] + card * rays[..., 1]
    on_card = (x > -0.2) & (x < 0.1) & (y > -0.15) & (y < 0.12)
    return np.where(on_card, np.minimum(card, wall), wall).astype(np.float32)


def rgbd_messages(count: int = 3, colour: str = 'rgb8', depth: str = '32FC1',
                  colour_topic: str = '/camera/color/image_raw',
                  depth_topic: str = '/camera/aligned_depth_to_color/image_raw',
                  depth_offset_ns: int = 0) -> List[Message]:
    """Aligned colour and depth with their camera_infos: colour formats and depth encodings."""
    messages: List[Message] = []
    colour_ns = colour_topic.replace('/compressed', '').rsplit('/', 1)[0]
    depth_ns = depth_topic.replace('/compressedDepth', '').rsplit('/', 1)[0]
    for index in range(count):
        stamp = T0 + index * PERIOD
        rgb = colour_picture(index)
        if colour in ('jpeg', 'png'):
            msg = compressed(stamp, COLOUR_FRAME, *jpeg_or_png(rgb, colour))
        elif colour == 'bgr8':
            msg = image(stamp, COLOUR_FRAME, rgb[..., ::-1], 'bgr8')
        elif colour == 'bgra8':
            alpha = np.full(rgb.shape[:2] + (1,), 255, np.uint8)
            msg = image(stamp, COLOUR_FRAME, np.concatenate([rgb[..., ::-1], alpha], -1), 'bgra8')
        elif colour == 'mono8':
            msg = image(stamp, COLOUR_FRAME, rgb[..., 0], 'mono8')
        else:
            msg = image(stamp, COLOUR_FRAME, rgb, colour)
        messages.append((colour_topic, msg))
        messages.append((f'{colour_ns}/camera_info', camera_info(stamp, COLOUR_FRAME, COLOUR_CAM)))
        metres = plane_depth(COLOUR_CAM, index)
        d_stamp = stamp + depth_offset_ns
        if depth == '16UC1':
            d_msg = image(d_stamp, COLOUR_FRAME,
                          np.nan_to_num(np.round(metres * 1000), nan=0).astype('<u2'), '16UC1')
        elif depth.startswith('compressedDepth'):
            d_msg = compressed(d_stamp, COLOUR_FRAME,
                               *compressed_depth(metres, depth.split()[1]))
        else:
            d_msg = image(d_stamp, COLOUR_FRAME, metres.astype('<f4'), '32FC1')
        messages.append((depth_topic, d_msg))
        messages.append((f'{depth_ns}/camera_info',
                         camera_info(d_stamp, COLOUR_FRAME, COLOUR_CAM)))
    return messages


def unaligned_messages(count: int = 2, depth_format: str = '16UC1',
                       with_tf: bool = True) -> List[Message]:
    """Return the scene seen by the colour camera and a depth camera beside it, /tf_static."""
    rotation, translation = depth_pose()
    metres = render_scene(DEPTH_CAM, rotation, translation)
    messages: List[Message] = [('/tf_static', driver_tf())] if with_tf else []
    for index in range(count):
        stamp = T0 + index * PERIOD
        messages.append(('/camera/color/image_raw',
                         image(stamp, COLOUR_FRAME, colour_picture(index), 'rgb8')))
        messages.append(('/camera/color/camera_info',
                         camera_info(stamp, COLOUR_FRAME, COLOUR_CAM)))
        if depth_format == '16UC1':
            messages.append(('/camera/depth/image_rect_raw', image(
                stamp, DEPTH_FRAME, np.round(metres * 1000).astype('<u2'), '16UC1')))
        else:
            messages.append(('/camera/depth/image_rect_raw/compressedDepth', compressed(
                stamp, DEPTH_FRAME, *compressed_depth(metres, '16UC1'))))
        messages.append(('/camera/depth/camera_info',
                         camera_info(stamp, DEPTH_FRAME, DEPTH_CAM)))
    return messages


def one_line_error(path: Path, match: str, **options: Any) -> str:
    """Read a bag that must be refused; return the message, checked to be one line."""
    with pytest.raises(RecordingError, match=match) as caught:
        read_bag_frames(path, **options)
    text = str(caught.value)
    assert '\n' not in text and 'Traceback' not in text
    return text


# Formats.
@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
@pytest.mark.parametrize('colour, exact', [('rgb8', True), ('bgr8', True), ('bgra8', True),
                                           ('png', True), ('jpeg', False)])
def test_colour_formats_read_back(tmp_path: Path, storage: str, colour: str,
                                  exact: bool) -> None:
    """Image rgb8/bgr8/bgra8 and CompressedImage PNG/JPEG give the same RGB picture."""
    topic = '/camera/color/image_raw' + ('/compressed' if colour in ('jpeg', 'png') else '')
    bag = write_bag(tmp_path / 'bag', rgbd_messages(3, colour=colour, colour_topic=topic),
                    storage)
    frames = read_bag_frames(bag)
    assert [f.stamp for f in frames] == pytest.approx([(T0 + i * PERIOD) / 1e9 for i in range(3)],
                                                      abs=1e-6)
    assert frames[1].name == f'{bag}: {topic} @ {(T0 + PERIOD) / 1e9:.6f} s'
    for index, frame in enumerate(frames):
        rgb, depth, intrinsics = frame.arrays()
        expected = colour_picture(index)
        assert rgb.shape == (48, 64, 3) and rgb.dtype == np.uint8
        assert rgb.flags.writeable and depth.flags.writeable  # copies, not message buffers
        if exact:
            np.testing.assert_array_equal(rgb, expected)
        else:
            assert np.abs(rgb.astype(int) - expected).mean() < 3
        np.testing.assert_allclose(depth, plane_depth(COLOUR_CAM, index), rtol=1e-6)
        assert intrinsics == (60.0, 60.0, 31.5, 23.5)
        np.testing.assert_array_equal(frame.load_preview(), rgb)


def test_mono8_colour_is_grey_rgb(tmp_path: Path) -> None:
    """A mono8 image becomes three equal channels."""
    frames = read_bag_frames(write_bag(tmp_path / 'bag', rgbd_messages(1, colour='mono8')))
    rgb = frames[0].arrays()[0]
    for channel in range(3):
        np.testing.assert_array_equal(rgb[..., channel], colour_picture(0)[..., 0])


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
@pytest.mark.parametrize('depth, tolerance', [
    ('16UC1', 5e-4), ('32FC1', 0.0), ('compressedDepth 16UC1', 5e-4),
    ('compressedDepth 32FC1', 2e-3)])
def test_depth_formats_read_back_in_metres(tmp_path: Path, storage: str, depth: str,
                                           tolerance: float) -> None:
    """16UC1 mm, 32FC1 m and compressedDepth (raw mm, quantised inverse depth) give metres."""
    topic = '/camera/aligned_depth_to_color/image_raw'
    if depth.startswith('compressedDepth'):
        topic += '/compressedDepth'
    bag = write_bag(tmp_path / 'bag', rgbd_messages(2, depth=depth, depth_topic=topic), storage)
    frames = read_bag_frames(bag)
    assert len(frames) == 2
    for index, frame in enumerate(frames):
        depth_m = frame.arrays()[1]
        expected = plane_depth(COLOUR_CAM, index)
        assert depth_m.dtype == np.float32
        assert np.isnan(depth_m[2, 3])  # 0 / NaN stay invalid
        np.testing.assert_allclose(depth_m, expected, rtol=0, atol=tolerance + 1e-6)


# Registration.
@pytest.mark.parametrize('storage, depth_format', [('mcap', '16UC1'),
                                                   ('sqlite3', 'compressedDepth')])
def test_unaligned_depth_is_registered_through_tf_static(tmp_path: Path, storage: str,
                                                         depth_format: str) -> None:
    """
    Depth from a second camera lands where the colour camera sees the scene.

    The depth camera has other intrinsics and size, sits 5 cm to the left and is yawed 2 degrees;
    /tf_static joins the two optical frames through camera_link.
    """
    bag = write_bag(tmp_path / 'bag', unaligned_messages(2, depth_format), storage)
    rgb, depth, intrinsics = read_bag_frames(bag)[0].arrays()
    assert depth.shape == (48, 64) and intrinsics == (60.0, 60.0, 31.5, 23.5)
    truth = render_scene(COLOUR_CAM)
    errors = registration_errors(depth, truth)
    assert errors['coverage'] > 0.85
    assert errors['median_rel'] < 5e-4  # millimetre rounding (1.3e-4 measured)
    assert errors['exact_fraction'] > 0.97  # within 1 % of the true depth at that pixel
    assert errors['within_1px'] == 1.0  # and everywhere within one pixel of it (edges)


def registration_errors(depth: np.ndarray, truth: np.ndarray) -> Dict[str, float]:
    """Compare registered depth with the colour camera's true depth."""
    valid = np.isfinite(depth)
    rel = np.abs(depth - truth) / truth
    # The best match in each pixel's 3x3 neighbourhood of the truth: edge pixels off by one.
    padded = np.pad(truth, 1, mode='edge')
    near = np.stack([padded[1 + dy:49 + dy, 1 + dx:65 + dx]
                     for dy in (-1, 0, 1) for dx in (-1, 0, 1)])
    rel_1px = np.min(np.abs(depth[None] - near) / near, axis=0)
    return {'coverage': float(valid.mean()), 'median_rel': float(np.median(rel[valid])),
            'exact_fraction': float((rel[valid] < 0.01).mean()),
            'within_1px': float((rel_1px[valid] < 0.01).mean())}


def test_extrinsics_keyword_replaces_tf_static(tmp_path: Path) -> None:
    """Without /tf_static, T_colour_depth given as x y z qx qy qz qw registers the same way."""
    bag = write_bag(tmp_path / 'bag', unaligned_messages(1, with_tf=False))
    one_line_error(bag, r'is not registered to /camera/color/image_raw .* no static transform '
                        r'joins .*pass extrinsics')
    rotation, translation = depth_pose()
    half = YAW / 2  # the optical-frame rotation is a turn about -y by the yaw
    extrinsics = ' '.join(str(v) for v in (*translation, 0.0, -np.sin(half), 0.0, np.cos(half)))
    with_keyword = read_bag_frames(bag, extrinsics=extrinsics)[0].arrays()[1]
    tf_bag = write_bag(tmp_path / 'tf', unaligned_messages(1))
    np.testing.assert_allclose(with_keyword, read_bag_frames(tf_bag)[0].arrays()[1], atol=1e-5)


def test_same_frame_with_other_intrinsics_is_resampled(tmp_path: Path) -> None:
    """Depth in the colour frame but at another size is registered with the identity."""
    small = PinholeCamera(width=32, height=24, fx=30.0, fy=30.0, cx=15.5, cy=11.5)
    messages = [m for m in rgbd_messages(1) if 'aligned_depth' not in m[0]]
    stamp = T0
    messages += [('/camera/aligned_depth_to_color/image_raw',
                  image(stamp, COLOUR_FRAME, np.full((24, 32), 2.5, '<f4'), '32FC1')),
                 ('/camera/aligned_depth_to_color/camera_info',
                  camera_info(stamp, COLOUR_FRAME, small))]
    depth = read_bag_frames(write_bag(tmp_path / 'bag', messages))[0].arrays()[1]
    assert depth.shape == (48, 64)
    np.testing.assert_array_equal(depth, 2.5)  # half the focal length: 2x2 pixels each


# Pairing.
def test_match_stamps_pairs_one_to_one_nearest_first() -> None:
    """Each stamp is used once; the closest pairs win; gaps beyond the tolerance stay apart."""
    colour = [0, 33, 66, 100, 133]
    depth = [5, 38, 71, 138, 300]
    assert match_stamps(colour, depth, 20) == [(0, 0), (1, 1), (2, 2), (4, 3)]
    # 100 is within 40 of 71 and 138, but both have a nearer partner.
    assert match_stamps(colour, depth, 40) == [(0, 0), (1, 1), (2, 2), (4, 3)]
    assert match_stamps([10, 12], [11], 5) in ([(0, 0)], [(1, 0)])
    assert match_stamps([], [1], 5) == []


def test_pairs_are_matched_by_stamp_within_the_tolerance(tmp_path: Path) -> None:
    """Depth 8 ms after colour pairs at 20 ms tolerance, not at 5 ms (a one-line refusal)."""
    bag = write_bag(tmp_path / 'bag', rgbd_messages(3, depth_offset_ns=8_000_000))
    assert len(read_bag_frames(bag)) == 3
    text = one_line_error(bag, 'no colour and depth images with matching stamps',
                          stamp_tolerance=0.005)
    assert '0.008 s apart, more than stamp_tolerance 0.005 s' in text


def test_changing_camera_info_is_matched_by_stamp(tmp_path: Path) -> None:
    """A camera_info that changes (a zoom) gives each frame its own intrinsics."""
    messages = []
    for topic, msg in rgbd_messages(3):
        if topic.endswith('camera_info'):
            scale = 1.0 + (_stamp(msg) - T0) / PERIOD * 0.5
            k = msg.k.reshape(3, 3).copy()
            k[0, 0] *= scale
            k[1, 1] *= scale
            msg.k = k.reshape(-1)
            msg.p = np.hstack([k, np.zeros((3, 1))]).reshape(-1)
        messages.append((topic, msg))
    frames = read_bag_frames(write_bag(tmp_path / 'bag', messages))
    assert [f.arrays()[2][0] for f in frames] == [60.0, 90.0, 120.0]


# Topics.
def realsense_messages() -> List[Message]:
    """Return a RealSense recording: colour, aligned and unaligned depth, infrared, /tf_static."""
    messages = rgbd_messages(2, depth='16UC1', colour_topic='/camera/camera/color/image_raw',
                             depth_topic='/camera/camera/aligned_depth_to_color/image_raw')
    for index in range(2):
        stamp = T0 + index * PERIOD
        messages += [
            ('/camera/camera/depth/image_rect_raw',
             image(stamp, DEPTH_FRAME, np.full((36, 48), 3000, '<u2'), '16UC1')),
            ('/camera/camera/depth/camera_info', camera_info(stamp, DEPTH_FRAME, DEPTH_CAM)),
            ('/camera/camera/infra1/image_rect_raw',
             image(stamp, 'camera_infra1_optical_frame', np.zeros((36, 48), np.uint8), 'mono8')),
            ('/camera/camera/infra1/camera_info',
             camera_info(stamp, 'camera_infra1_optical_frame', DEPTH_CAM))]
    return messages + [('/tf_static', driver_tf())]


def test_realsense_topics_prefer_aligned_depth(tmp_path: Path) -> None:
    """colour/image_raw and aligned_depth_to_color are chosen over depth and infrared."""
    frames = read_bag_frames(write_bag(tmp_path / 'bag', realsense_messages()))
    assert '/camera/camera/color/image_raw @' in frames[0].name
    np.testing.assert_allclose(frames[0].arrays()[1], plane_depth(COLOUR_CAM), atol=5e-4)
    # The unaligned stream when asked for, registered into the colour camera.
    frames = read_bag_frames(write_bag(tmp_path / 'bag2', realsense_messages()),
                             depth_topic='/camera/camera/depth/image_rect_raw')
    depth = frames[0].arrays()[1]
    assert np.nanmedian(depth) == pytest.approx(3.0, abs=0.01)


def test_azure_kinect_topics(tmp_path: Path) -> None:
    """rgb/image_raw (bgra8) with depth_to_rgb; the 16UC1 infrared stream is never depth."""
    messages = rgbd_messages(2, colour='bgra8', depth='16UC1', colour_topic='/rgb/image_raw',
                             depth_topic='/depth_to_rgb/image_raw')
    for index in range(2):
        stamp = T0 + index * PERIOD
        for topic in ('/depth', '/ir'):
            messages += [(f'{topic}/image_raw', image(stamp, DEPTH_FRAME,
                                                      np.full((36, 48), 900, '<u2'), '16UC1')),
                         (f'{topic}/camera_info', camera_info(stamp, DEPTH_FRAME, DEPTH_CAM))]
    frames = read_bag_frames(write_bag(tmp_path / 'bag', messages))
    assert '/rgb/image_raw @' in frames[0].name
    rgb, depth, _ = frames[0].arrays()
    np.testing.assert_array_equal(rgb, colour_picture(0))
    np.testing.assert_allclose(depth, plane_depth(COLOUR_CAM), atol=5e-4)
    only_ir = [m for m in messages if not m[0].startswith(('/depth', '/ir/camera'))]
    one_line_error(write_bag(tmp_path / 'ir', only_ir), r'no depth topic .*/ir/image_raw '
                                                        r'\(Image 16UC1\).*set depth_topic')


def test_ambiguous_topics_list_the_candidates(tmp_path: Path) -> None:
    """Two cameras: the error lists both colour topics; naming one picks its own depth."""
    messages = (rgbd_messages(2, colour_topic='/front/color/image_raw',
                              depth_topic='/front/aligned_depth_to_color/image_raw')
                + rgbd_messages(2, depth='16UC1', colour_topic='/back/color/image_raw',
                                depth_topic='/back/aligned_depth_to_color/image_raw'))
    bag = write_bag(tmp_path / 'bag', messages)
    text = one_line_error(bag, 'several colour topics fit equally')
    assert ('/back/color/image_raw (Image rgb8), /front/color/image_raw (Image rgb8); '
            'choose one with color_topic') in text
    frames = read_bag_frames(bag, color_topic='/back/color/image_raw')
    assert '/back/color/image_raw @' in frames[0].name
    frames = read_bag_frames(bag, color_topic='/front/color/image_raw')
    assert np.isnan(frames[0].arrays()[1][2, 3])  # /front's 32FC1 depth, not /back's 16UC1
    # Two depth streams equally far from the colour topic.
    two_depths = rgbd_messages(1, colour_topic='/rgb/image_raw',
                               depth_topic='/left/depth/image_raw')
    two_depths += [m for m in rgbd_messages(1, depth='16UC1', depth_topic='/right/depth/image_raw')
                   if 'depth' in m[0]]
    one_line_error(write_bag(tmp_path / 'depths', two_depths),
                   r'several depth topics fit equally: /left/depth/image_raw \(Image 32FC1\), '
                   r'/right/depth/image_raw \(Image 16UC1\); choose one with depth_topic')


def test_synth_bag_topics_are_found(tmp_path: Path) -> None:
    """The project's own synth-bag names: <ns>/image_rect with <ns>/depth_gt/image."""
    messages = rgbd_messages(2, colour_topic='/camera/image_rect',
                             depth_topic='/camera/depth_gt/image')
    messages = [m for m in messages if m[0] != '/camera/depth_gt/camera_info']
    frames = read_bag_frames(write_bag(tmp_path / 'bag', messages))
    assert len(frames) == 2 and '/camera/image_rect @' in frames[0].name


def test_frames_pickle_for_dataloader_workers(tmp_path: Path) -> None:
    """A frame survives pickling (spawned DataLoader workers) and reads the bag on its own."""
    frames = read_bag_frames(write_bag(tmp_path / 'bag', unaligned_messages(1), 'sqlite3'))
    copy = pickle.loads(pickle.dumps(frames[0]))
    for a, b in zip(frames[0].arrays(), copy.arrays()):
        np.testing.assert_array_equal(a, b)


# Distortion.
def test_distortion_of_a_raw_image_is_warned_or_refused(tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    """Non-zero plumb_bob on image_raw: one warning with the shift in pixels, or an error."""
    messages = []
    for topic, msg in rgbd_messages(1):
        if topic == '/camera/color/camera_info':
            msg.d = np.array([0.1, -0.05, 0.0, 0.0, 0.0])
        messages.append((topic, msg))
    bag = write_bag(tmp_path / 'bag', messages)
    with caplog.at_level(logging.WARNING):
        assert len(read_bag_frames(bag)) == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert 'is not rectified and its camera_info has plumb_bob distortion' in warnings[0]
    assert 'px at the image border' in warnings[0]
    one_line_error(bag, 'is not rectified.*record the rectified image_rect',
                   distortion='error')
    caplog.clear()
    rect = [(t.replace('image_raw', 'image_rect'), m) for t, m in messages]
    with caplog.at_level(logging.WARNING):
        read_bag_frames(write_bag(tmp_path / 'rect', rect), distortion='error')
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]


# Bad bags: each is one line saying why.
def test_no_depth_topic(tmp_path: Path) -> None:
    """Colour and camera_info only."""
    messages = [m for m in rgbd_messages(2) if 'depth' not in m[0]]
    one_line_error(write_bag(tmp_path / 'bag', messages),
                   r'no depth topic .*its image topics: /camera/color/image_raw \(Image rgb8\)')


def test_mismatched_sizes(tmp_path: Path) -> None:
    """A colour image of another size than its camera_info, raw or compressed."""
    messages = []
    for topic, msg in rgbd_messages(2):
        if topic == '/camera/color/camera_info':
            msg.width, msg.height = 32, 24
        messages.append((topic, msg))
    one_line_error(write_bag(tmp_path / 'bag', messages),
                   r'/camera/color/image_raw @ 1700000000.000000 s: the image is 64x48 but its '
                   r'camera_info /camera/color/camera_info describes 32x24')
    messages = rgbd_messages(2, colour='png', colour_topic='/camera/color/image_raw/compressed')
    for topic, msg in messages:
        if topic == '/camera/aligned_depth_to_color/camera_info':
            msg.width, msg.height = 32, 24
    one_line_error(write_bag(tmp_path / 'png', messages),
                   r'aligned_depth_to_color/image_raw @ 1700000000.000000 s: the depth image is '
                   r'64x48 but its camera_info /camera/aligned_depth_to_color/camera_info '
                   r'describes 32x24')


def test_no_camera_info(tmp_path: Path) -> None:
    """Images without any camera_info."""
    messages = [m for m in rgbd_messages(2) if not m[0].endswith('camera_info')]
    one_line_error(write_bag(tmp_path / 'bag', messages),
                   r'no camera_info for /camera/color/image_raw .*CameraInfo topics: none')
    # Unaligned depth without its own: the colour camera's, one namespace up, is not taken.
    messages = [(t.replace('/color/camera_info', '/camera_info'), m)
                for t, m in unaligned_messages(1) if t != '/camera/depth/camera_info']
    one_line_error(write_bag(tmp_path / 'depth', messages),
                   r'no camera_info for depth /camera/depth/image_rect_raw .*not in the colour '
                   r"frame \('camera_depth_optical_frame', colour 'camera_color_optical_frame'\)")


def test_no_matching_stamps(tmp_path: Path) -> None:
    """Depth recorded a second later than colour (another clock)."""
    bag = write_bag(tmp_path / 'bag', rgbd_messages(2, depth_offset_ns=1_000_000_000))
    one_line_error(bag, r'no colour and depth images with matching stamps: .* the nearest are '
                        r'0\.967 s apart')


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_truncated_bag(tmp_path: Path, storage: str) -> None:
    """A bag file cut short (a killed recorder, a full disk)."""
    bag = write_bag(tmp_path / 'bag', rgbd_messages(3), storage)
    data = next(p for p in bag.iterdir() if p.suffix in ('.mcap', '.db3'))
    data.write_bytes(data.read_bytes()[:data.stat().st_size // 2])
    one_line_error(bag, 'cannot open the bag .*truncated or corrupt')


def test_corrupt_compressed_image_names_its_message(tmp_path: Path) -> None:
    """A JPEG that does not decode: the bag, the topic and the stamp, and what is wrong."""
    messages = rgbd_messages(2, colour='jpeg', colour_topic='/camera/color/image_raw/compressed')
    for topic, msg in messages:
        if topic.endswith('/compressed') and _stamp(msg) == T0 + PERIOD:
            msg.data = msg.data[:40]
    frames = read_bag_frames(write_bag(tmp_path / 'bag', messages))
    with pytest.raises(RecordingError, match=r'/camera/color/image_raw/compressed @ '
                                             r'1700000000.033333 s: cannot decode'):
        frames[1].arrays()


def test_rvl_compressed_depth_is_refused(tmp_path: Path) -> None:
    """RVL compressedDepth is named as unsupported."""
    topic = '/camera/aligned_depth_to_color/image_raw/compressedDepth'
    messages = rgbd_messages(1, depth='compressedDepth 16UC1', depth_topic=topic)
    for _, msg in messages:
        if getattr(msg, 'format', '').endswith('png') and 'compressedDepth' in msg.format:
            msg.format = '16UC1; compressedDepth rvl'
    one_line_error(write_bag(tmp_path / 'bag', messages), 'RVL compressedDepth is not supported')


def test_missing_bag_and_explicit_topic_errors(tmp_path: Path) -> None:
    """No such bag; a topic that is not in it; a colour topic that is depth."""
    one_line_error(tmp_path / 'nothing', 'no such bag')
    bag = write_bag(tmp_path / 'bag', rgbd_messages(1))
    one_line_error(bag, r'color_topic /rgb is not in the bag; its Image / CompressedImage topics: '
                        r'/camera/aligned_depth_to_color/image_raw \(Image 32FC1\)',
                   color_topic='/rgb')
    one_line_error(bag, 'is not a colour image',
                   color_topic='/camera/aligned_depth_to_color/image_raw')
    one_line_error(bag, 'distortion must be one of', distortion='fix')
