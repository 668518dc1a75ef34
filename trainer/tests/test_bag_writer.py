"""The bag writer: byte-identical rosbag2 output that reads back exactly, and clear errors."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest
from ros2_depth.camera_model import PinholeCamera
from ros2_depth.demo.bag_source import BagSource
from ros2_depth_trainer.bag_writer import (
    BagWriteError,
    START_TIME_NS,
    write_bag,
)
from ros2_depth_trainer.synth.frame import Frame
from rosbags.rosbag2 import Reader
from rosbags.typesys import get_typestore, Stores

CAMERA = PinholeCamera(width=64, height=48, fx=50.0, fy=51.0, cx=31.7, cy=23.2)


def make_frames(count: int = 3, rate_hz: float = 10.0) -> List[Frame]:
    """Frames with distinct pictures and depth, some of it invalid in several ways."""
    rng = np.random.default_rng(7)
    frames = []
    v, u = np.mgrid[0:48, 0:64]
    for index in range(count):
        rgb = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
        depth = (2.0 + 0.03 * v + 0.01 * u + 0.25 * index).astype(np.float32)
        depth[0, :4] = [np.nan, np.inf, 0.0, -1.0]
        frames.append(Frame(rgb=rgb, depth=depth, camera=CAMERA, time_s=index / rate_hz))
    return frames


def file_hashes(folder: Path) -> Dict[str, str]:
    """Return the SHA-256 of every file in a folder, by name."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_same_frames_give_byte_identical_bags(tmp_path: Path) -> None:
    """Writing the same trajectory twice gives the same bytes in every file, metadata included."""
    first = write_bag(tmp_path / 'a' / 'bag', make_frames(), custom_data={'k': 'v'})
    second = write_bag(tmp_path / 'b' / 'bag', make_frames(), custom_data={'k': 'v'})
    hashes = file_hashes(first.path)
    assert sorted(hashes) == ['bag.mcap', 'metadata.yaml']
    assert hashes == file_hashes(second.path)
    assert first.size_bytes == second.size_bytes > 0
    # The comparison can fail: other frames give other bytes.
    other = make_frames()
    other[1].rgb[0, 0, 0] ^= 1
    third = write_bag(tmp_path / 'c' / 'bag', other, custom_data={'k': 'v'})
    assert file_hashes(third.path)['bag.mcap'] != hashes['bag.mcap']


def test_bag_reads_back_exactly(tmp_path: Path) -> None:
    """Stamps, pixels, intrinsics and depth (invalid as NaN) come back through BagSource."""
    frames = make_frames(4, rate_hz=5.0)
    summary = write_bag(tmp_path / 'bag', frames)
    assert summary.frames == 4
    assert summary.topics == ('/camera/image_rect', '/camera/camera_info',
                              '/camera/depth_gt/image')
    assert summary.start_time_ns == START_TIME_NS
    assert summary.end_time_ns == START_TIME_NS + 600_000_000
    with BagSource(summary.path) as source:
        assert source.topics.image == '/camera/image_rect'
        assert source.topics.camera_info == '/camera/camera_info'
        assert source.topics.depth == '/camera/depth_gt/image'
        read = list(source)
    assert len(read) == 4
    for frame, back in zip(frames, read):
        assert back.stamp_ns == START_TIME_NS + round(frame.time_s * 1e9)
        assert back.frame_id == 'camera_optical_frame' and back.encoding == 'rgb8'
        np.testing.assert_array_equal(back.image, frame.rgb)
        assert back.camera == CAMERA
        expected = frame.depth.copy()
        expected[0, :4] = np.nan
        np.testing.assert_array_equal(back.depth, expected)


def test_messages_are_a_rectified_camera(tmp_path: Path) -> None:
    """camera_info is rectified (zero plumb_bob, R = I, P = [K 0]); log time = header stamp."""
    summary = write_bag(tmp_path / 'bag', make_frames(2), namespace='cam1', frame_id='optical')
    store = get_typestore(Stores.ROS2_HUMBLE)
    seen = []
    with Reader(summary.path) as reader:
        assert {c.topic for c in reader.connections} == {
            '/cam1/image_rect', '/cam1/camera_info', '/cam1/depth_gt/image'}
        for conn, log_time, raw in reader.messages():
            msg = store.deserialize_cdr(raw, conn.msgtype)
            stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
            assert stamp == log_time and msg.header.frame_id == 'optical'
            seen.append((conn.topic, stamp))
            if conn.topic.endswith('camera_info'):
                assert msg.distortion_model == 'plumb_bob'
                np.testing.assert_array_equal(msg.d, np.zeros(5))
                np.testing.assert_array_equal(msg.r, np.eye(3).reshape(-1))
                np.testing.assert_array_equal(msg.k.reshape(3, 3), CAMERA.k)
                np.testing.assert_array_equal(msg.p.reshape(3, 4)[:, :3], CAMERA.k)
                assert (msg.width, msg.height) == (64, 48)
            elif conn.topic.endswith('depth_gt/image'):
                assert (msg.encoding, msg.step, msg.is_bigendian) == ('32FC1', 64 * 4, 0)
            else:
                assert (msg.encoding, msg.step) == ('rgb8', 64 * 3)
    assert sorted(seen) == sorted(
        (t, START_TIME_NS + i * 100_000_000)
        for i in range(2)
        for t in ('/cam1/image_rect', '/cam1/camera_info', '/cam1/depth_gt/image'))
    assert b'zstd' in (summary.path / 'bag.mcap').read_bytes()[:4096]
    plain = write_bag(tmp_path / 'plain', make_frames(2), compress=False)
    assert plain.size_bytes > summary.size_bytes


@pytest.mark.parametrize('problem, match', [
    ('exists', 'exists already'),
    ('rgb', 'rgb is uint8'),
    ('depth', 'depth is float32'),
    ('time', 'does not increase'),
    ('empty', 'no frames'),
])
def test_bad_input_is_a_clear_error_and_leaves_nothing(
        tmp_path: Path, problem: str, match: str) -> None:
    """Existing output, wrong array shapes, time going back, no frames: BagWriteError, no bag."""
    frames = make_frames(3)
    path = tmp_path / 'bag'
    if problem == 'exists':
        path.mkdir()
    elif problem == 'rgb':
        frames[1].rgb = frames[1].rgb[:, :10]
    elif problem == 'depth':
        frames[2].depth = frames[2].depth[None]
    elif problem == 'time':
        frames[2].time_s = frames[1].time_s
    else:
        frames = []
    with pytest.raises(BagWriteError, match=match) as info:
        write_bag(path, iter(frames))
    assert '\n' not in str(info.value)
    assert path.exists() == (problem == 'exists')
