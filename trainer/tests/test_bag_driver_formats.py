"""
Bags as real drivers record them, with the exact truth kept beside the bag.

Compressed colour, 16UC1 and compressedDepth depth, an unaligned depth camera with /tf_static,
SQLite3 storage.

Payloads are decoded here by hand (OpenCV and the documented compressedDepth header), not with
the writer's own code, and checked against the generator's arrays.
"""

from __future__ import annotations

from pathlib import Path
import struct
from typing import Any, Dict, List, Tuple

import cv2
import numpy as np
import pytest
from ros2_depth.camera_model import PinholeCamera
from ros2_depth_trainer.bag_codecs import quaternion_xyzw
from ros2_depth_trainer.bag_truth import load_truth, TruthWriter
from ros2_depth_trainer.bag_writer import BagFormat, BagWriteError, START_TIME_NS, write_bag
from ros2_depth_trainer.synth.camera import CameraPose
from ros2_depth_trainer.synth.frame import Frame
from ros2_depth_trainer.synth.rig import depth_rig, rotation_xyz
from ros2_depth_trainer.synth.trajectory import render_rig_trajectory, render_trajectory
from rosbags.interfaces import QosDurability, QosReliability
from rosbags.rosbag2 import Reader
from rosbags.typesys import get_typestore, Stores

STORE = get_typestore(Stores.ROS2_HUMBLE)
CAMERA = PinholeCamera(width=64, height=48, fx=50.0, fy=51.0, cx=31.7, cy=23.2)
# A depth camera of another size and field of view, 5 cm to the left, turned by a few degrees.
RIG = depth_rig(56, 40, 87.0, 0.05, (1.0, 3.0, 2.0))


def smooth_frames(count: int = 2) -> List[Frame]:
    """Frames with smooth pictures (JPEG keeps them close) and depth from 0.5 to 14 m."""
    v, u = np.mgrid[0:48, 0:64]
    frames = []
    for index in range(count):
        rgb = np.stack([4 * u, 5 * v, u + 2 * v + 20 * index], -1).astype(np.uint8)
        depth = (0.5 + 0.2 * v + 0.05 * u + 0.1 * index).astype(np.float32)
        depth[0, :3] = [np.nan, 0.0, np.inf]
        frames.append(Frame(rgb=rgb, depth=depth, camera=CAMERA, time_s=index / 10.0))
    return frames


def read_bag(path: Path) -> Tuple[Dict[str, Any], Dict[str, List[Tuple[int, Any]]]]:
    """Return the bag's connections by topic and its (log time, message) lists by topic."""
    messages: Dict[str, List[Tuple[int, Any]]] = {}
    with Reader(path) as reader:
        connections = {c.topic: c for c in reader.connections}
        for conn, log_time, raw in reader.messages():
            messages.setdefault(conn.topic, []).append(
                (log_time, STORE.deserialize_cdr(raw, conn.msgtype)))
    return connections, messages


def decode_compressed_depth(msg: Any) -> Tuple[np.ndarray, Tuple[int, float, float]]:
    """Split compressedDepth data into its ConfigHeader (int32, float32, float32) and PNG."""
    data = bytes(msg.data)
    header = struct.unpack('<iff', data[:12])
    pixels = cv2.imdecode(np.frombuffer(data[12:], np.uint8), cv2.IMREAD_UNCHANGED)
    assert pixels is not None and pixels.dtype == np.uint16
    return pixels, header


@pytest.mark.parametrize('image_format', ['jpeg', 'png'])
def test_compressed_colour(tmp_path: Path, image_format: str) -> None:
    """The colour as a CompressedImage on image_rect/compressed: plugin format, BGR inside."""
    frames = smooth_frames()
    summary = write_bag(tmp_path / 'bag', frames, bag_format=BagFormat(image_format=image_format))
    connections, messages = read_bag(summary.path)
    assert connections['/camera/image_rect/compressed'].msgtype == (
        'sensor_msgs/msg/CompressedImage')
    assert '/camera/image_rect' not in connections
    for frame, (log_time, msg) in zip(frames, messages['/camera/image_rect/compressed']):
        assert msg.format == f'rgb8; {image_format} compressed bgr8'
        assert msg.header.frame_id == 'camera_optical_frame'
        assert log_time == START_TIME_NS + round(frame.time_s * 1e9)
        rgb = cv2.imdecode(np.asarray(msg.data), cv2.IMREAD_COLOR)[..., ::-1]
        error = np.abs(rgb.astype(int) - frame.rgb)
        if image_format == 'png':
            assert error.max() == 0
        else:
            assert error.mean() < 2.0 and error.max() < 40
    assert len(messages['/camera/camera_info']) == len(frames)


def test_depth_16uc1_image(tmp_path: Path) -> None:
    """16UC1: millimetres, round(1000 z), 0 where invalid, little-endian, step 2 W."""
    frames = smooth_frames()
    summary = write_bag(tmp_path / 'bag', frames, bag_format=BagFormat(depth_encoding='16UC1'))
    _, messages = read_bag(summary.path)
    for frame, (_, msg) in zip(frames, messages['/camera/depth_gt/image']):
        assert (msg.encoding, msg.step, msg.is_bigendian) == ('16UC1', 2 * 64, 0)
        mm = np.frombuffer(bytes(msg.data), '<u2').reshape(48, 64)
        expected = np.round(frame.depth.astype(np.float64) * 1000)
        expected[0, :3] = 0
        np.testing.assert_array_equal(mm, expected)


@pytest.mark.parametrize('encoding', ['16UC1', '32FC1'])
def test_compressed_depth(tmp_path: Path, encoding: str) -> None:
    """compressedDepth: header (INV_DEPTH = 0, quantisation) + PNG, values as the plugin's."""
    frames = smooth_frames()
    bag_format = BagFormat(depth_encoding=encoding, compressed_depth=True,
                           compressed_depth_max_m=10.0)
    summary = write_bag(tmp_path / 'bag', frames, bag_format=bag_format)
    connections, messages = read_bag(summary.path)
    topic = '/camera/depth_gt/image/compressedDepth'
    assert connections[topic].msgtype == 'sensor_msgs/msg/CompressedImage'
    for frame, (_, msg) in zip(frames, messages[topic]):
        assert msg.format == f'{encoding}; compressedDepth png'
        pixels, (fmt, quant_a, quant_b) = decode_compressed_depth(msg)
        assert fmt == 0 and pixels.shape == (48, 64)
        depth = frame.depth.astype(np.float64)
        valid = np.isfinite(depth) & (depth > 0) & (depth < 10.0)
        if encoding == '16UC1':
            # The plugin zeroes millimetres above depth_max: 10000 stays.
            assert (quant_a, quant_b) == (0.0, 0.0)
            with np.errstate(invalid='ignore'):
                mm = np.round(depth * 1000)
                expected = np.where((mm > 0) & (mm <= 10000), mm, 0)
            np.testing.assert_array_equal(pixels, expected)
        else:
            # depth_quantization 100: A = 100 * 101, B = 1 - A / depth_max.
            assert quant_a == 10100.0 and quant_b == pytest.approx(1 - 10100.0 / 10.0)
            assert (pixels[~valid] == 0).all() and (pixels[valid] > 0).all()
            decoded = quant_a / (pixels[valid] - quant_b)
            # Truncating A / z + B loses under one step: z^2 / A at most.
            error = decoded - depth[valid]
            assert (error >= -1e-4).all() and (error <= depth[valid] ** 2 / quant_a * 1.01).all()


def transforms(msg: Any) -> Dict[Tuple[str, str], np.ndarray]:
    """Return each transform of a TFMessage as a 4x4 matrix by (parent, child)."""
    out = {}
    for item in msg.transforms:
        q = item.transform.rotation
        x, y, z, w = q.x, q.y, q.z, q.w
        rotation = np.array([
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
        matrix = np.eye(4)
        matrix[:3, :3] = rotation
        t = item.transform.translation
        matrix[:3, 3] = [t.x, t.y, t.z]
        out[(item.header.frame_id, item.child_frame_id)] = matrix
    return out


def camera_of(info: Any) -> np.ndarray:
    """Return K of a CameraInfo after checking it is rectified (P = [K 0])."""
    k = info.k.reshape(3, 3)
    np.testing.assert_array_equal(info.p.reshape(3, 4)[:, :3], k)
    return k


def registration_error(depth: np.ndarray, k_depth: np.ndarray, depth_to_colour: np.ndarray,
                       k_colour: np.ndarray, aligned: np.ndarray) -> np.ndarray:
    """
    Return how far registered depth pixels lie from the colour camera's exact depth, in metres.

    Back-projects the depth pixels, moves them into the colour camera and compares their depth
    there with the colour camera's exact depth (inverse depth interpolated bilinearly, exact on
    a plane) where the 2x2 neighbourhood is smooth.
    """
    v, u = np.nonzero(np.isfinite(depth) & (depth > 0))
    z = depth[v, u].astype(np.float64)
    points = np.stack([(u - k_depth[0, 2]) / k_depth[0, 0] * z,
                       (v - k_depth[1, 2]) / k_depth[1, 1] * z, z])
    colour = depth_to_colour[:3, :3] @ points + depth_to_colour[:3, 3:]
    uc = k_colour[0, 0] * colour[0] / colour[2] + k_colour[0, 2]
    vc = k_colour[1, 1] * colour[1] / colour[2] + k_colour[1, 2]
    height, width = aligned.shape
    inside = (uc >= 0) & (uc <= width - 1) & (vc >= 0) & (vc <= height - 1)
    uc, vc, zc = uc[inside], vc[inside], colour[2][inside]
    u0 = np.minimum(uc.astype(int), width - 2)
    v0 = np.minimum(vc.astype(int), height - 2)
    fu, fv = uc - u0, vc - v0
    inverse = 1.0 / aligned.astype(np.float64)
    corners = np.stack([inverse[v0, u0], inverse[v0, u0 + 1], inverse[v0 + 1, u0],
                        inverse[v0 + 1, u0 + 1]])
    with np.errstate(invalid='ignore'):
        smooth = np.isfinite(corners).all(0) & (np.ptp(corners, 0) < 0.02 * corners.max(0))
    interpolated = ((1 - fv) * ((1 - fu) * corners[0] + fu * corners[1])
                    + fv * ((1 - fu) * corners[2] + fu * corners[3]))
    assert smooth.sum() > 100
    return np.abs(1.0 / interpolated[smooth] - zc[smooth])


def test_rig_frames_render_the_depth_camera_from_its_own_pose() -> None:
    """
    The depth camera is rendered from its own pose; the colour frames do not change.

    Its exact depth, moved through the rig's transform, lands on the colour camera's exact
    depth (and not through the inverse transform).
    """
    items = list(render_rig_trajectory('indoor', 1, 2, 10.0, 48, 64, RIG))
    plain = list(render_trajectory('indoor', 1, 2, 10.0, 48, 64))
    for item, frame in zip(items, plain):
        np.testing.assert_array_equal(item.colour.rgb, frame.rgb)
        np.testing.assert_array_equal(item.colour.depth, frame.depth)
        assert item.depth.camera == RIG.camera and item.depth.depth.shape == (40, 56)
        with np.errstate(invalid='ignore'):
            assert np.isnan(item.depth.depth[~(item.depth_exact > 0)]).all()
        k_colour = item.colour.camera.k
        right = registration_error(item.depth_exact, RIG.camera.k, RIG.depth_to_colour(),
                                   k_colour, item.aligned_depth)
        wrong = registration_error(item.depth_exact, RIG.camera.k,
                                   np.linalg.inv(RIG.depth_to_colour()), k_colour,
                                   item.aligned_depth)
        assert np.median(right) < 1e-5 and np.percentile(right, 75) < 1e-4
        assert np.median(wrong) > 0.01


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_depth_camera_bag(tmp_path: Path, storage: str) -> None:
    """
    An unaligned depth camera bag reads back as a driver's recording.

    Its own topics, camera_info and frame_id, /tf_static offered transient local,
    compressedDepth millimetres of its exact depth, and a transform that registers its depth
    onto the colour camera's exact depth.
    """
    truth_file = tmp_path / 'truth.npz'
    bag_format = BagFormat(storage=storage, image_format='jpeg', compressed_depth=True)
    with TruthWriter(truth_file) as truth:
        summary = write_bag(tmp_path / 'bag', truth.frames(
            render_rig_trajectory('indoor', 1, 2, 10.0, 48, 64, RIG)), bag_format=bag_format)
    assert sorted(p.name for p in summary.path.iterdir()) == sorted(
        ['metadata.yaml', 'bag.mcap' if storage == 'mcap' else 'bag.db3'])
    connections, messages = read_bag(summary.path)
    depth_topic = '/camera/depth/image_rect_raw/compressedDepth'
    assert {topic: c.msgtype for topic, c in connections.items()} == {
        '/tf_static': 'tf2_msgs/msg/TFMessage',
        '/camera/camera_info': 'sensor_msgs/msg/CameraInfo',
        '/camera/image_rect/compressed': 'sensor_msgs/msg/CompressedImage',
        '/camera/depth/camera_info': 'sensor_msgs/msg/CameraInfo',
        depth_topic: 'sensor_msgs/msg/CompressedImage',
    }
    assert set(summary.topics) == set(connections)
    (qos,) = connections['/tf_static'].ext.offered_qos_profiles
    assert qos.durability == QosDurability.TRANSIENT_LOCAL
    assert qos.reliability == QosReliability.RELIABLE and qos.depth == 1
    assert connections[depth_topic].ext.offered_qos_profiles == []

    (tf_time, tf_msg), = messages['/tf_static']
    assert tf_time == START_TIME_NS == tf_msg.transforms[0].header.stamp.sec * 10**9
    tf = transforms(tf_msg)
    assert set(tf) == {('camera_link', 'camera_optical_frame'),
                       ('camera_link', 'camera_depth_optical_frame')}
    link_colour = tf[('camera_link', 'camera_optical_frame')]
    link_depth = tf[('camera_link', 'camera_depth_optical_frame')]
    # REP 103: the optical z axis is camera_link's x (forward), optical x its -y (right).
    np.testing.assert_allclose(link_colour[:3, 2], [1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(link_colour[:3, 0], [0, -1, 0], atol=1e-12)
    depth_to_colour = np.linalg.inv(link_colour) @ link_depth
    np.testing.assert_allclose(depth_to_colour, RIG.depth_to_colour(), atol=1e-12)
    # The depth camera is 5 cm to the left of the colour camera: +y in camera_link.
    np.testing.assert_allclose(link_depth[:3, 3], [0, 0.05, 0], atol=1e-12)

    saved = load_truth(truth_file)
    np.testing.assert_array_equal(saved.depth_to_colour, RIG.depth_to_colour())
    assert saved.depth_camera == RIG.camera and saved.aligned_depth.shape == (2, 48, 64)
    infos = messages['/camera/camera_info']
    depth_infos = messages['/camera/depth/camera_info']
    for i, (stamp, msg) in enumerate(messages[depth_topic]):
        assert stamp == saved.stamp_ns[i] == infos[i][0] == depth_infos[i][0]
        assert msg.header.frame_id == depth_infos[i][1].header.frame_id == (
            'camera_depth_optical_frame')
        assert infos[i][1].header.frame_id == 'camera_optical_frame'
        assert msg.format == '16UC1; compressedDepth png'
        mm, header = decode_compressed_depth(msg)
        assert header == (0, 0.0, 0.0)
        k_depth = camera_of(depth_infos[i][1])
        assert (depth_infos[i][1].width, depth_infos[i][1].height) == (56, 40)
        np.testing.assert_array_equal(k_depth, RIG.camera.k)
        exact = saved.depth_exact[i].astype(np.float64)
        seen = mm > 0
        assert seen.mean() > 0.5
        np.testing.assert_array_equal(mm[seen], np.round(exact[seen] * 1000))
        error = registration_error(np.where(seen, mm / 1000.0, np.nan), k_depth,
                                   depth_to_colour, camera_of(infos[i][1]),
                                   saved.aligned_depth[i])
        assert np.median(error) < 1e-3  # millimetre rounding


def test_sqlite3_and_mcap_hold_the_same_messages(tmp_path: Path) -> None:
    """The same frames in either storage: same topics, times and serialised messages."""
    stored = {}
    for storage in ('mcap', 'sqlite3'):
        summary = write_bag(tmp_path / storage, smooth_frames(3),
                            bag_format=BagFormat(storage=storage, depth_encoding='16UC1'))
        with Reader(summary.path) as reader:
            stored[storage] = sorted((c.topic, t, bytes(raw)) for c, t, raw in reader.messages())
    assert len(stored['mcap']) == 9 and stored['mcap'] == stored['sqlite3']
    assert (tmp_path / 'sqlite3' / 'sqlite3.db3').is_file()


def test_truth_matches_the_default_bag_depth() -> None:
    """The exact aligned depth equals the sample bags' depth wherever the sensor has no hole."""
    items = list(render_rig_trajectory('street', 3, 2, 10.0, 24, 32))
    for item in items:
        assert item.rig is None and item.depth is None
        holes = np.isnan(item.colour.depth)
        np.testing.assert_array_equal(item.colour.depth[~holes], item.aligned_depth[~holes])


def test_mixed_cameras_and_bad_formats_are_clear_errors(tmp_path: Path) -> None:
    """A trajectory whose frames lose their depth camera, or an unknown format: BagWriteError."""
    items = list(render_rig_trajectory('indoor', 1, 2, 10.0, 48, 64, RIG))
    items[1].rig = items[1].depth = None
    with pytest.raises(BagWriteError, match='frame 1: no depth camera'):
        write_bag(tmp_path / 'bag', items)
    assert not (tmp_path / 'bag').exists()
    with pytest.raises(BagWriteError, match='storage'):
        BagFormat(storage='rosbag1')
    with pytest.raises(BagWriteError, match='depth_encoding'):
        BagFormat(depth_encoding='mono16')


def test_rotations() -> None:
    """quaternion_xyzw matches its matrix; CameraPose.from_rotation gives back the rotation."""
    rng = np.random.default_rng(0)
    for angles in [(0, 0, 0), (180, 0, 0), (0, 180, 0), (0, 0, 180), (90, -90, 30)] + [
            tuple(rng.uniform(-180, 180, 3)) for _ in range(20)]:
        rotation = rotation_xyz(angles)
        x, y, z, w = quaternion_xyzw(rotation)
        assert w >= 0 and abs(x * x + y * y + z * z + w * w - 1) < 1e-12
        cross = np.array([[0, -z, y], [z, 0, -x], [-y, x, 0]])
        rebuilt = np.eye(3) + 2 * w * cross + 2 * cross @ cross  # Rodrigues from (v, w)
        np.testing.assert_allclose(rebuilt, rotation, atol=1e-12)
        pose = CameraPose((1.0, 2.0, 3.0), *np.radians(rng.uniform(-80, 80, 3)))
        turned = pose.rotation() @ rotation
        back = CameraPose.from_rotation(np.array([1.0, 2.0, 3.0]), turned)
        np.testing.assert_allclose(back.rotation(), turned, atol=1e-12)
