"""BagSource reads camera frames from rosbag2 files: topic detection, stamp matching, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pytest
from ros2_depth.camera_model import PinholeCamera
from ros2_depth.demo.bag_source import BagError, BagSource, depth_to_metres
from rosbags.rosbag2 import Writer
from rosbags.rosbag2.enums import CompressionFormat, CompressionMode, StoragePlugin
from rosbags.typesys import get_typestore, Stores

REPO = Path(__file__).resolve().parents[1]
STORE = get_typestore(Stores.ROS2_HUMBLE)
IMAGE = 'sensor_msgs/msg/Image'
INFO = 'sensor_msgs/msg/CameraInfo'
START_NS = 1_600_000_000 * 10**9


def make_camera(width: int = 160, height: int = 120) -> PinholeCamera:
    """Intrinsics of the test bags' camera."""
    fx = 0.8 * width
    return PinholeCamera(width, height, fx, fx, width / 2 - 0.3, height / 2 + 0.2)


def make_pixels(index: int, camera: PinholeCamera) -> Tuple[np.ndarray, np.ndarray]:
    """Return the rgb8 picture and float32 depth (metres, a NaN hole) of frame `index`."""
    v, u = np.mgrid[0:camera.height, 0:camera.width]
    rgb = np.stack(
        [(u * 3 + 40 * index) % 256, (v * 5) % 256, ((u // 8 + v // 8) % 2) * 200 + index], -1
    ).astype(np.uint8)
    depth = (1.5 + 0.02 * v + 0.005 * u + 0.1 * index).astype(np.float32)
    depth[10:20, 30:50] = np.nan
    return rgb, depth


def _header(stamp_ns: int, frame_id: str) -> object:
    types = STORE.types
    sec, nanosec = divmod(stamp_ns, 10**9)
    return types['std_msgs/msg/Header'](
        stamp=types['builtin_interfaces/msg/Time'](sec=sec, nanosec=nanosec), frame_id=frame_id
    )


def image_bytes(stamp_ns: int, pixels: np.ndarray, encoding: str, frame_id: str = 'cam') -> bytes:
    """Serialise an Image."""
    data = np.frombuffer(np.ascontiguousarray(pixels).tobytes(), np.uint8)
    msg = STORE.types[IMAGE](
        header=_header(stamp_ns, frame_id),
        height=pixels.shape[0],
        width=pixels.shape[1],
        encoding=encoding,
        is_bigendian=0,
        step=data.size // pixels.shape[0],
        data=data,
    )
    return bytes(STORE.serialize_cdr(msg, IMAGE))


def info_bytes(stamp_ns: int, camera: PinholeCamera, frame_id: str = 'cam') -> bytes:
    """Serialise a rectified CameraInfo."""
    k = camera.k
    msg = STORE.types[INFO](
        header=_header(stamp_ns, frame_id),
        height=camera.height,
        width=camera.width,
        distortion_model='plumb_bob',
        d=np.zeros(5),
        k=k.reshape(-1),
        r=np.eye(3).reshape(-1),
        p=np.hstack([k, np.zeros((3, 1))]).reshape(-1),
        binning_x=0,
        binning_y=0,
        roi=STORE.types['sensor_msgs/msg/RegionOfInterest'](
            x_offset=0, y_offset=0, height=0, width=0, do_rectify=False
        ),
    )
    return bytes(STORE.serialize_cdr(msg, INFO))


def write_test_bag(
    path: Path,
    frames: int = 3,
    camera: Optional[PinholeCamera] = None,
    color: Sequence[str] = ('/cam/image_rect',),
    encoding: str = 'rgb8',
    info: Optional[str] = '/cam/camera_info',
    depth: Sequence[str] = ('/cam/depth_gt/image',),
    depth_encoding: str = '32FC1',
    storage: StoragePlugin = StoragePlugin.MCAP,
    depth_stamp_offset_ns: int = 0,
    reverse_within_frame: bool = False,
    period_ns: int = 100_000_000,
    compress: bool = False,
) -> Path:
    """Write a small rosbag2 of a synthetic RGB-D camera; return its path."""
    camera = camera or make_camera()
    writer = Writer(path, version=9, storage_plugin=storage)
    if compress:
        writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
    with writer:
        conns: Dict[str, object] = {}
        for topic in list(color) + list(depth):
            conns[topic] = writer.add_connection(topic, IMAGE, typestore=STORE)
        if info:
            conns[info] = writer.add_connection(info, INFO, typestore=STORE)
        for index in range(frames):
            stamp = START_NS + index * period_ns
            rgb, metres = make_pixels(index, camera)
            if encoding == 'bgr8':
                rgb = np.ascontiguousarray(rgb[..., ::-1])
            if depth_encoding == '16UC1':
                stored = np.nan_to_num(np.round(metres * 1000), nan=0).astype(np.uint16)
            else:
                stored = metres
            messages: List[Tuple[str, int, bytes]] = []
            if info:
                messages.append((info, stamp, info_bytes(stamp, camera)))
            for topic in color:
                messages.append((topic, stamp, image_bytes(stamp, rgb, encoding)))
            for topic in depth:
                depth_stamp = stamp + depth_stamp_offset_ns
                messages.append((topic, stamp, image_bytes(depth_stamp, stored, depth_encoding)))
            if reverse_within_frame:
                messages.reverse()
            for topic, log_time, data in messages:
                writer.write(conns[topic], log_time, data)
    return path


def test_reads_frames_with_their_stamps_images_intrinsics_and_depth(tmp_path: Path) -> None:
    """Every frame comes back as written: stamp, frame_id, pixels, intrinsics, depth with NaN."""
    bag = write_test_bag(tmp_path / 'bag', frames=4)
    camera = make_camera()
    with BagSource(bag) as source:
        assert source.topics.image == '/cam/image_rect'
        assert source.topics.camera_info == '/cam/camera_info'
        assert source.topics.depth == '/cam/depth_gt/image'
        assert source.frame_count == 4 and source.has_depth
        frames = list(source)
    assert [f.index for f in frames] == [0, 1, 2, 3]
    for index, frame in enumerate(frames):
        rgb, depth = make_pixels(index, camera)
        stamp = divmod(START_NS + index * 100_000_000, 10**9)
        assert frame.stamp == stamp and frame.stamp_ns == START_NS + index * 100_000_000
        assert frame.frame_id == 'cam' and frame.encoding == 'rgb8'
        np.testing.assert_array_equal(frame.image, rgb)
        assert frame.camera == camera
        assert frame.depth.dtype == np.float32
        np.testing.assert_array_equal(frame.depth, depth)  # NaN where NaN


def test_bgr8_with_millimetre_depth_in_sqlite3(tmp_path: Path) -> None:
    """A SQLite3 bag with bgr8 colour and 16UC1 depth: mm become metres, 0 becomes NaN."""
    bag = write_test_bag(
        tmp_path / 'bag',
        frames=2,
        encoding='bgr8',
        depth=('/cam/depth/image_raw',),
        depth_encoding='16UC1',
        storage=StoragePlugin.SQLITE3,
    )
    with BagSource(bag) as source:
        assert source.topics.depth == '/cam/depth/image_raw'
        frames = list(source)
    assert len(frames) == 2
    rgb, depth = make_pixels(1, make_camera())
    assert frames[1].encoding == 'bgr8'
    np.testing.assert_array_equal(frames[1].image[..., ::-1], rgb)
    assert np.isnan(frames[1].depth[15, 40]) and np.isnan(depth[15, 40])
    np.testing.assert_allclose(frames[1].depth, depth, atol=5e-4)


def test_depth_to_metres_marks_invalid_pixels() -> None:
    """Zero, negative and non-finite depth is NaN; 16UC1 is millimetres."""
    metres = depth_to_metres(np.array([[0.0, -1.0, np.inf, 2.5]], np.float32), '32FC1')
    np.testing.assert_array_equal(metres, [[np.nan, np.nan, np.nan, 2.5]])
    mm = depth_to_metres(np.array([[0, 1500]], np.uint16), '16UC1')
    np.testing.assert_array_equal(mm, np.array([[np.nan, 1.5]], np.float32))
    with pytest.raises(BagError, match='16UC1'):
        depth_to_metres(np.zeros((1, 1), np.uint8), 'mono8')


def test_topics_are_found_by_name_and_can_be_overridden(tmp_path: Path) -> None:
    """Rectified beats raw, ground truth beats sensor depth; overrides and '' for no depth win."""
    bag = write_test_bag(
        tmp_path / 'bag',
        frames=2,
        color=('/cam/image_raw', '/cam/image_rect'),
        depth=('/cam/depth/image', '/cam/depth_gt/image'),
    )
    with BagSource(bag) as source:
        assert source.topics.image == '/cam/image_rect'
        assert source.topics.depth == '/cam/depth_gt/image'
    with BagSource(bag, image_topic='/cam/image_raw', depth_topic='/cam/depth/image') as source:
        assert (source.topics.image, source.topics.depth) == ('/cam/image_raw', '/cam/depth/image')
        assert len(list(source)) == 2
    with BagSource(bag, depth_topic='') as source:
        assert source.topics.depth is None and not source.has_depth
        assert all(frame.depth is None for frame in source)


def test_bag_without_depth_gives_frames_without_depth(tmp_path: Path) -> None:
    """Depth is optional."""
    bag = write_test_bag(tmp_path / 'bag', frames=2, depth=())
    with BagSource(bag) as source:
        frames = list(source)
    assert len(frames) == 2 and frames[0].depth is None


def test_messages_are_matched_by_header_stamp_in_any_order(tmp_path: Path) -> None:
    """Depth before image and camera_info after it, within one frame: still one complete frame."""
    bag = write_test_bag(tmp_path / 'bag', frames=3, reverse_within_frame=True)
    with BagSource(bag) as source:
        frames = list(source)
    assert len(frames) == 3 and all(frame.depth is not None for frame in frames)
    np.testing.assert_array_equal(frames[2].depth, make_pixels(2, make_camera())[1])


def test_depth_with_other_stamps_is_not_paired(tmp_path: Path) -> None:
    """Depth whose stamps match no image is never attached to the wrong frame."""
    bag = write_test_bag(tmp_path / 'bag', frames=3, depth_stamp_offset_ns=1_000)
    with BagSource(bag) as source:
        frames = list(source)
    assert len(frames) == 3 and all(frame.depth is None for frame in frames)


def _one_line_error(match: str, *args, **kwargs) -> str:
    with pytest.raises(BagError, match=match) as info:
        BagSource(*args, **kwargs)
    message = str(info.value)
    assert '\n' not in message
    return message


def test_missing_or_wrong_paths_are_one_line_errors(tmp_path: Path) -> None:
    """A missing path and a folder that is not a bag name the path and what to pass instead."""
    missing = tmp_path / 'nope'
    assert str(missing) in _one_line_error('does not exist', missing)
    assert 'metadata.yaml' in _one_line_error('not a rosbag2 directory', tmp_path)


def test_corrupt_bags_are_one_line_errors(tmp_path: Path) -> None:
    """A truncated storage file fails at open, a damaged chunk while reading, both as BagError."""
    bag = write_test_bag(tmp_path / 'bag', frames=2)
    mcap = bag / 'bag.mcap'
    data = mcap.read_bytes()
    mcap.write_bytes(data[: len(data) // 2])
    assert str(bag) in _one_line_error('cannot open bag', bag)

    bag = write_test_bag(tmp_path / 'bag2', frames=2)
    (bag / 'metadata.yaml').write_text('rosbag2_bagfile_information: [not, a, mapping\n')
    _one_line_error('cannot open bag', bag)

    bag = write_test_bag(tmp_path / 'bag3', frames=2, compress=True)
    mcap = bag / 'bag3.mcap'
    data = bytearray(mcap.read_bytes())
    data[100:164] = bytes(b ^ 0x5A for b in data[100:164])  # the first chunk's zstd header
    mcap.write_bytes(bytes(data))
    assert 'bag may be truncated or corrupt' in _one_line_error('cannot read messages', bag)


def test_missing_topics_are_one_line_errors(tmp_path: Path) -> None:
    """No colour image, no camera_info, wrong overrides and ambiguous topics say what to do."""
    no_info = write_test_bag(tmp_path / 'no_info', frames=1, info=None)
    assert '/cam/camera_info' in _one_line_error('no sensor_msgs/CameraInfo', no_info)
    depth_only = write_test_bag(tmp_path / 'depth_only', frames=1, color=())
    assert '/cam/depth_gt/image (32FC1)' in _one_line_error('no sensor_msgs/Image', depth_only)
    good = write_test_bag(tmp_path / 'good', frames=1)
    message = _one_line_error('not in bag', good, image_topic='/other/image')
    assert '/cam/image_rect (Image)' in message and '--image-topic' in message
    _one_line_error('is sensor_msgs/msg/CameraInfo, not', good, image_topic='/cam/camera_info')
    _one_line_error('encoding 32FC1', good, image_topic='/cam/depth_gt/image')
    _one_line_error('encoding rgb8', good, depth_topic='/cam/image_rect')
    stereo = write_test_bag(
        tmp_path / 'stereo', frames=1, color=('/left/image_rect', '/right/image_rect')
    )
    message = _one_line_error('several colour image topics', stereo)
    assert '/left/image_rect' in message and '/right/image_rect' in message


def test_mismatched_camera_info_is_an_error(tmp_path: Path) -> None:
    """A camera_info of another size than the image stops iteration with a one-line error."""
    bag = tmp_path / 'bag'
    camera = make_camera()
    with Writer(bag, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        image = writer.add_connection('/c/image_rect', IMAGE, typestore=STORE)
        info = writer.add_connection('/c/camera_info', INFO, typestore=STORE)
        writer.write(info, START_NS, info_bytes(START_NS, make_camera(320, 240)))
        writer.write(image, START_NS, image_bytes(START_NS, make_pixels(0, camera)[0], 'rgb8'))
    with BagSource(bag) as source, pytest.raises(BagError, match='describes 320x240') as info:
        list(source)
    assert '\n' not in str(info.value)


def test_bundled_sample_bags_are_complete_camera_recordings() -> None:
    """Each bag in bags/ has colour, camera_info and ground-truth depth for every frame."""
    bags = sorted(p for p in (REPO / 'bags').glob('*') if (p / 'metadata.yaml').is_file())
    assert len(bags) >= 2, f'expected the sample bags in {REPO / "bags"}'
    for bag in bags:
        with BagSource(bag) as source:
            assert source.topics.depth is not None
            count = 0
            for frame in source:
                count += 1
                assert frame.image.shape == (frame.camera.height, frame.camera.width, 3)
                assert np.isfinite(frame.depth).mean() > 0.5
            assert count == source.frame_count >= 10
