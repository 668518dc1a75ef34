"""
depth_node with image_transport:=compressed, as its own process over real DDS.

The node is started as a launch file would, with ``image`` remapped to ``image_rect``: it must
subscribe ``image_rect/compressed`` (image_transport's naming) and nothing on the raw topic. A
client publishes sensor_msgs/CompressedImage (jpeg and png, as compressed_image_transport encodes
them) with camera_info of the same stamp; outputs carry the input header and the model's grid.
Damaged, mislabelled and oversized payloads get one error line each and nothing published, and
the next good frame is processed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Iterator, List

import cv2
from fuzz_cases import compressed_payload_case
import numpy as np
import pytest
from ros_harness import Harness, isolated_ros_env, make_camera_info, start_depth_node, stop_process
from sensor_msgs.msg import CompressedImage

WIDTH, HEIGHT, FX, FY, CX, CY = 640, 480, 525.0, 525.0, 319.5, 239.5
FRAME = 'camera_color_optical_frame'
TOPIC = 'image_rect/compressed'


def picture(seed: int) -> np.ndarray:
    """Return a 640x480 bgr8 picture with structure at several scales."""
    v, u = np.mgrid[0:HEIGHT, 0:WIDTH]
    base = 127 + 80 * np.sin(u / (23.0 + seed)) * np.cos(v / 31.0)
    return np.clip(base[..., None] + [0, 20 * seed, -20], 0, 255).astype(np.uint8)


def compressed(stamp: tuple, text: str, data: bytes, frame: str = FRAME) -> CompressedImage:
    """Return a CompressedImage with the given stamp, format and payload."""
    msg = CompressedImage()
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp
    msg.header.frame_id = frame
    msg.format = text
    msg.data = data
    return msg


def encoded(pixels: np.ndarray, ext: str) -> bytes:
    """Encode as compressed_image_transport does (OpenCV, colour as bgr8)."""
    ok, data = cv2.imencode(ext, pixels)
    assert ok
    return data.tobytes()


def info(stamp: tuple, width: int = WIDTH, height: int = HEIGHT):
    """Return the camera_info of a frame (intrinsics scaled with the size)."""
    scale = width / WIDTH
    return make_camera_info(stamp, FRAME, width, height, FX * scale, FY * scale,
                            (width - 1) / 2, (height - 1) / 2)


@pytest.fixture(scope='module')
def env() -> Dict[str, str]:
    """Return an isolated ROS environment for this module."""
    return isolated_ros_env(salt=23)


@pytest.fixture(scope='module')
def node_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the node writes its console output."""
    return tmp_path_factory.mktemp('compressed') / 'depth_node.log'


@pytest.fixture(scope='module')
def client(tiny_model: Path, env: Dict[str, str], node_log: Path) -> Iterator[Harness]:
    """Start depth_node with image_transport:=compressed; yield a client feeding it jpeg/png."""
    proc = start_depth_node(tiny_model, node_log, env, '-p', 'image_transport:=compressed',
                            '-r', 'image:=image_rect')
    harness = Harness(env, namespace='/cam', image_topic=TOPIC, image_type=CompressedImage)
    try:
        assert harness.wait_for_node(), f'depth_node did not come up:\n{node_log.read_text()}'
        yield harness
    finally:
        harness.close()
        code = stop_process(proc)
        assert code == 0, f'depth_node exited with {code}:\n{node_log.read_text()}'


def lines_naming(log: Path, stamp: tuple) -> List[str]:
    """Return the log lines that name an image stamp."""
    key = f'{stamp[0]}.{stamp[1]:09d}'
    return [line for line in log.read_text().splitlines() if key in line]


@pytest.mark.parametrize('index, text, ext', [
    (0, 'rgb8; jpeg compressed bgr8', '.jpg'),
    (1, 'bgr8; png compressed bgr8', '.png'),
    (2, 'jpeg', '.jpg'),
])
def test_jpeg_and_png_give_depth_with_the_input_header(
        client: Harness, node_log: Path, index: int, text: str, ext: str) -> None:
    """Every output of a compressed frame carries its header; depth lies on the model grid."""
    stamp = (1_700_003_000 + index, 250_000_000)
    msg = compressed(stamp, text, encoded(picture(index), ext))
    assert client.send_until_complete(msg, info(stamp)), node_log.read_text()
    out = client.received[stamp]
    for key, output in out.items():
        assert (output.header.stamp.sec, output.header.stamp.nanosec) == stamp, key
        assert output.header.frame_id == FRAME, key
    depth = out['depth']
    assert (depth.encoding, depth.width, depth.height) == ('32FC1', 147, 109)
    assert (out['info'].width, out['info'].height) == (147, 109)
    values = np.frombuffer(bytes(depth.data), '<f4')
    assert np.isfinite(values).mean() > 0.9
    assert client.node.count_subscribers('/cam/image_rect') == 0, 'subscribed to raw images'
    assert client.node.count_subscribers('/cam/image') == 0


def send_and_wait_for_line(client: Harness, node_log: Path, msg: CompressedImage,
                           camera_info) -> List[str]:
    """Publish a frame that must be refused; return the lines that name it once one does."""
    stamp = (msg.header.stamp.sec, msg.header.stamp.nanosec)
    client.send(msg, camera_info)
    client.spin_until(lambda: bool(lines_naming(node_log, stamp)), 10.0)
    client.spin_until(lambda: False, 0.3)  # anything more it would print
    return lines_naming(node_log, stamp)


@pytest.mark.parametrize('index, text, damage, words', [
    (0, 'rgb8; jpeg compressed bgr8', 'truncate', 'truncated: it lacks the end marker'),
    (1, 'bgr8; png compressed bgr8', 'truncate', 'truncated: it lacks the end marker'),
    (2, 'rgb8; jpeg compressed bgr8', 'garbage', 'neither jpeg nor png'),
    (3, '16UC1; compressedDepth png', None, 'compressedDepth, the depth-image transport'),
    (4, 'mono8; jpeg compressed mono8', None, 'but its format names mono8'),
    (5, 'png', 'huge', 'more than max_image_pixels'),
])
def test_a_bad_payload_is_one_line_and_the_next_frame_is_processed(
        client: Harness, node_log: Path, index: int, text: str, damage: str,
        words: str) -> None:
    """A damaged, mislabelled or oversized payload: one error line, no output, node goes on."""
    stamp = (1_700_003_100 + index, 0)
    data = encoded(picture(index), '.png' if 'png' in text else '.jpg')
    if damage == 'truncate':
        data = data[:len(data) * 2 // 3]
    elif damage == 'garbage':
        data = bytes(range(256)) * 8
    elif damage == 'huge':  # a png header claiming 100000 x 100000 pixels: never decoded
        data = data[:16] + (100_000).to_bytes(4, 'big') * 2 + data[24:]
    lines = send_and_wait_for_line(client, node_log, compressed(stamp, text, data), info(stamp))
    assert len(lines) == 1 and '[ERROR]' in lines[0] and words in lines[0], lines

    good = (1_700_003_150 + index, 0)
    msg = compressed(good, 'rgb8; jpeg compressed bgr8', encoded(picture(index), '.jpg'))
    assert client.send_until_complete(msg, info(good)), node_log.read_text()
    assert stamp not in client.received


def test_seeded_compressed_cases_over_dds(client: Harness, node_log: Path) -> None:
    """
    Cases of fuzz_cases.compressed_payload_case: accepted ones answered, refused ones one line.

    A good frame follows each refused one, so a repeated problem must be logged again.

    Damage a decoder may or may not notice ('either') is left to the unit test, where a codec's
    own message on stderr does not count as a log line.
    """
    rng = np.random.default_rng(7)
    cases = []
    while len(cases) < 12:
        case = compressed_payload_case(rng)
        if case.outcome != 'either':
            cases.append(case)
    assert {case.outcome for case in cases} == {'accept', 'error'}
    for index, case in enumerate(cases):
        stamp = (1_700_003_200 + index, 0)
        msg = compressed(stamp, case.format, case.data)
        camera_info = info(stamp, case.width, case.height)
        if case.outcome == 'accept':
            assert client.send_until_complete(msg, camera_info), (case.kind, node_log.read_text())
            continue
        lines = send_and_wait_for_line(client, node_log, msg, camera_info)
        assert len(lines) == 1 and case.reason in lines[0], (case.kind, case.format, lines)
        good = (1_700_003_250 + index, 0)  # after it the same problem is news again
        msg = compressed(good, 'jpeg', encoded(picture(index), '.jpg'))
        assert client.send_until_complete(msg, info(good)), node_log.read_text()
        assert stamp not in client.received


def test_each_compressed_image_gets_the_camera_info_of_its_stamp(
        client: Harness, node_log: Path) -> None:
    """Intrinsics change every frame and camera_info comes 30 ms after its image: still paired."""
    data = encoded(picture(5), '.jpg')
    for index in range(3):
        focal = 400.0 + 60.0 * index
        stamp = (1_700_003_400 + index, 0)
        client.pub_image.publish(compressed(stamp, 'rgb8; jpeg compressed bgr8', data))
        client.spin_until(lambda: False, 0.03)
        client.pub_info.publish(make_camera_info(stamp, FRAME, WIDTH, HEIGHT, focal, focal, CX,
                                                 CY))
        assert client.spin_until(lambda: 'info' in client.received.get(stamp, {}), 10.0), (
            node_log.read_text())
        k = client.received[stamp]['info'].k
        assert k[0] == pytest.approx(focal / (2 * WIDTH / 304), rel=1e-12), (index, k[0])
