"""
depth_node as its own process, over real DDS: headers, intrinsics, point clouds and bad input.

The camera is the TUM RGB-D one (640x480, fx = fy = 525, cx = 319.5, cy = 239.5) and the images
are full-size rgb8 (921,600 bytes), the size that best-effort delivery loses on default Fast DDS
settings.
"""

from __future__ import annotations

from pathlib import Path
import time
from typing import Dict, Iterator

import cv2
import numpy as np
import pytest
from ros2_depth.image_encoding import image_to_numpy
from ros_harness import (
    Harness,
    isolated_ros_env,
    make_camera_info,
    make_image,
    start_depth_node,
    start_node_process,
    stop_process,
)

WIDTH, HEIGHT, FX, FY, CX, CY = 640, 480, 525.0, 525.0, 319.5, 239.5
FRAME = 'camera_color_optical_frame'


def expected_output_intrinsics() -> Dict[str, float]:
    """
    Output intrinsics worked out by hand for this camera and the tiny model.

    640x480 already has the network's 4:3 aspect, so the whole image is resized to 304x228: one
    network pixel spans s = 640 / 304 camera pixels and network column n lies on camera column
    s * n + s/2 - 1/2. Output column j lies on network column 2j + 5, so on camera column
    2s * j + 5.5s - 0.5, which gives fx' = fx / 2s and cx' = (cx + 0.5 - 5.5s) / 2s; rows likewise
    with 480 / 228 (the same s).
    """
    s = WIDTH / 304
    return {
        'width': 147,
        'height': 109,
        'fx': FX / (2 * s),
        'fy': FY / (2 * s),
        'cx': (CX + 0.5 - 5.5 * s) / (2 * s),
        'cy': (CY + 0.5 - 5.5 * s) / (2 * s),
    }


def test_hand_worked_intrinsics_are_what_we_think() -> None:
    """The numbers the integration test checks against, in closed form."""
    exp = expected_output_intrinsics()
    assert exp['fx'] == pytest.approx(124.6875) and exp['fy'] == pytest.approx(124.6875)
    assert exp['cx'] == pytest.approx(73.25) and exp['cy'] == pytest.approx(54.25)


def camera_image(seed: int) -> np.ndarray:
    """Return a 640x480 rgb8 picture with structure at every scale (so depth varies across it)."""
    rng = np.random.default_rng(seed)
    v, u = np.mgrid[0:HEIGHT, 0:WIDTH]
    base = 127 + 80 * np.sin(u / (23.0 + seed)) * np.cos(v / 31.0)
    noise = rng.normal(0, 20, (HEIGHT, WIDTH, 3))
    return np.clip(base[..., None] + noise + [0, 30 * seed, -20], 0, 255).astype(np.uint8)


def decode_cloud(msg) -> np.ndarray:
    """Read a cloud of FLOAT32 fields by its own field table: an (H, W) structured array."""
    assert all(f.datatype == 7 and f.count == 1 for f in msg.fields)
    dtype = np.dtype({'names': [f.name for f in msg.fields], 'formats': ['<f4'] * len(msg.fields),
                      'offsets': [f.offset for f in msg.fields], 'itemsize': msg.point_step})
    assert msg.row_step == msg.point_step * msg.width
    return np.frombuffer(bytes(msg.data), dtype).reshape(msg.height, msg.width)


def unpack_rgb(packed: np.ndarray) -> np.ndarray:
    """Colours of a packed float32 rgb field (uint32 0x00RRGGBB, as PCL reads it): (H, W, 3)."""
    bits = np.ascontiguousarray(packed).view('<u4')
    assert (bits >> 24 == 0).all()
    return np.stack([(bits >> 16) & 255, (bits >> 8) & 255, bits & 255], -1).astype(np.uint8)


def decode_float_image(msg, channels: int) -> np.ndarray:
    """Read a 32FCn image independently of the package's own conversion code."""
    assert msg.encoding == f'32FC{channels}'
    assert msg.step == msg.width * 4 * channels and not msg.is_bigendian
    return np.frombuffer(bytes(msg.data), '<f4').reshape(msg.height, msg.width, channels)


@pytest.fixture(scope='module')
def env() -> Dict[str, str]:
    """Return an isolated ROS environment for this module."""
    return isolated_ros_env()


@pytest.fixture(scope='module')
def node_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the depth node process writes its console output."""
    return tmp_path_factory.mktemp('node') / 'depth_node.log'


@pytest.fixture(scope='module')
def depth_node(tiny_model: Path, env: Dict[str, str], node_log: Path) -> Iterator[object]:
    """depth_node running in its own process with the tiny model."""
    proc = start_depth_node(tiny_model, node_log, env)
    yield proc
    code = stop_process(proc)
    assert code == 0, f'depth_node exited with {code}:\n{node_log.read_text()}'


@pytest.fixture(scope='module')
def harness(depth_node: object, env: Dict[str, str], node_log: Path) -> Iterator[Harness]:
    """Yield the test node, connected to depth_node."""
    h = Harness(env, namespace='/cam')
    assert h.wait_for_node(), f'depth_node did not come up:\n{node_log.read_text()}'
    yield h
    h.close()


def test_every_output_matches_its_input_and_intrinsics(harness: Harness, node_log: Path) -> None:
    """Headers pass through, camera_info matches the images, each point back-projects its pixel."""
    exp = expected_output_intrinsics()
    for index in range(3):
        stamp = (1_700_000_000 + index, 123_456_789 + index)
        image = make_image(stamp, FRAME, camera_image(index))
        info = make_camera_info(stamp, FRAME, WIDTH, HEIGHT, FX, FY, CX, CY)
        assert harness.send_until_complete(image, info), (
            f'no complete output set for frame {index}:\n{node_log.read_text()}'
        )
        out = harness.received[stamp]

        for key, msg in out.items():
            assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == stamp, key
            assert msg.header.frame_id == FRAME, key

        cam = out['info']
        k = np.array(cam.k).reshape(3, 3)
        assert (cam.width, cam.height) == (exp['width'], exp['height'])
        np.testing.assert_allclose(
            [k[0, 0], k[1, 1], k[0, 2], k[1, 2]],
            [exp['fx'], exp['fy'], exp['cx'], exp['cy']],
            rtol=1e-12,
        )
        np.testing.assert_allclose(np.array(cam.p).reshape(3, 4)[:, :3], k, rtol=1e-12)
        assert list(cam.d) == [0.0] * 5

        depth = decode_float_image(out['depth'], 1)[..., 0]
        assert depth.shape == (cam.height, cam.width)
        valid = np.isfinite(depth)
        assert valid.mean() > 0.9, 'the tiny model predicts depth almost everywhere'
        assert 0.1 <= depth[valid].min() and depth[valid].max() <= 20.0, (
            'depth is metres in the model range'
        )

        normals = decode_float_image(out['normals'], 3)
        assert normals.shape == (cam.height, cam.width, 3)
        np.testing.assert_allclose(np.linalg.norm(normals[valid], axis=1), 1.0, atol=1e-5)

        cloud = out['points']
        assert (cloud.height, cloud.width) == (cam.height, cam.width), (
            'organized cloud on the depth grid'
        )
        assert [(f.name, f.offset, f.datatype, f.count) for f in cloud.fields] == [
            ('x', 0, 7, 1), ('y', 4, 7, 1), ('z', 8, 7, 1), ('rgb', 12, 7, 1),
        ], 'cloud_rgb is on by default'
        assert cloud.point_step == 16 and cloud.row_step == 16 * cloud.width
        assert not cloud.is_bigendian and cloud.is_dense == bool(valid.all())
        fields = decode_cloud(cloud)
        points = np.stack([fields[a] for a in 'xyz'], -1)
        v, u = np.mgrid[0:cam.height, 0:cam.width]
        expected = np.stack(
            [(u - k[0, 2]) / k[0, 0] * depth, (v - k[1, 2]) / k[1, 1] * depth, depth], -1
        )
        np.testing.assert_array_equal(np.isnan(points), np.isnan(expected))
        np.testing.assert_allclose(points[valid], expected[valid], rtol=1e-6, atol=1e-6)
        # Each point's colour: the camera image under its pixel centre (bilinear).
        cam_u = (u - k[0, 2]) / k[0, 0] * FX + CX
        cam_v = (v - k[1, 2]) / k[1, 1] * FY + CY
        under = cv2.remap(camera_image(index), cam_u.astype(np.float32),
                          cam_v.astype(np.float32), cv2.INTER_LINEAR)
        assert np.abs(unpack_rgb(fields['rgb']).astype(int) - under).max() <= 1


def test_malformed_image_is_reported_and_next_frame_processed(
    harness: Harness, node_log: Path
) -> None:
    """
    A broken image gets one error line naming the problem and publishes nothing.

    It does not stop the node: the next good frame is processed.
    """
    info_args = (FRAME, WIDTH, HEIGHT, FX, FY, CX, CY)
    bad_stamp = (1_700_000_100, 5)
    bad = make_image(bad_stamp, FRAME, camera_image(7))
    bad.step = 100  # smaller than a row: the data cannot be read as 640 rgb8 pixels
    harness.send(bad, make_camera_info(bad_stamp, *info_args))
    deadline = time.monotonic() + 10
    while 'step 100' not in node_log.read_text() and time.monotonic() < deadline:
        harness.spin_until(lambda: False, 0.2)
    log = node_log.read_text()
    error_lines = [line for line in log.splitlines() if '1700000100.000000005' in line]
    assert len(error_lines) == 1 and 'step 100 is smaller than' in error_lines[0], log

    wrong_size_stamp = (1_700_000_101, 0)
    harness.send(
        make_image(wrong_size_stamp, FRAME, camera_image(8)[:240, :320]),
        make_camera_info(wrong_size_stamp, *info_args),
    )
    deadline = time.monotonic() + 10
    while '1700000101.000000000' not in node_log.read_text() and time.monotonic() < deadline:
        harness.spin_until(lambda: False, 0.2)
    assert 'image is 320x240 but its camera_info describes 640x480' in node_log.read_text()

    good_stamp = (1_700_000_102, 0)
    good = make_image(good_stamp, FRAME, camera_image(9))
    assert harness.send_until_complete(good, make_camera_info(good_stamp, *info_args)), (
        node_log.read_text()
    )
    assert bad_stamp not in harness.received and wrong_size_stamp not in harness.received


@pytest.mark.parametrize('arguments, words', [
    (['-p', 'model:=/nonexistent/missing.json'], ['missing.json does not exist']),
    (['-p', 'num_threads:=abc'], ['num_threads', 'INTEGER']),
    (['-p', 'num_threads:=-1'], ['num_threads', 'out of range']),
    (['-p', 'resize_mode:=zoom'], ['resize_mode', 'zoom']),
    (['-p', 'precision:=fp16'], ['precision', 'fp16']),
])
def test_startup_failures_are_exactly_one_line(
    tmp_path: Path, env: Dict[str, str], arguments: list, words: list
) -> None:
    """Each startup failure prints one FATAL line naming the problem, no traceback, exit 1."""
    log = tmp_path / 'log.txt'
    proc = start_node_process(log, env, '/cam', arguments)
    assert proc.wait(timeout=30) == 1
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith('[FATAL]'), lines
    for word in words:
        assert word in lines[0], lines


def test_missing_model_exits_with_one_clear_line(tmp_path: Path, env: Dict[str, str]) -> None:
    """A missing model path stops the node with exit code 1 and says what to pass instead."""
    log = tmp_path / 'log.txt'
    proc = start_depth_node(tmp_path / 'missing.json', log, env)
    assert proc.wait(timeout=30) == 1
    text = log.read_text()
    assert 'missing.json does not exist' in text and 'ros2-depth-train export' in text, text


def test_precision_int8_without_an_int8_model_is_one_line(
        tmp_path: Path, env: Dict[str, str], tiny_model: Path) -> None:
    """Precision int8 for a model with no NAME.int8.json: one FATAL line with the command."""
    log = tmp_path / 'log.txt'
    proc = start_depth_node(tiny_model, log, env, '-p', 'precision:=int8')
    assert proc.wait(timeout=30) == 1
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith('[FATAL]'), lines
    assert 'tiny.int8.json' in lines[0] and 'ros2-depth-train quantize --model' in lines[0]


def test_precision_int8_runs_the_bundled_int8_model(tmp_path: Path) -> None:
    """The bundled model at precision int8: its INT8 sibling answers, /diagnostics says int8."""
    from diagnostic_msgs.msg import DiagnosticArray

    env = isolated_ros_env(salt=5)
    log = tmp_path / 'int8.log'
    proc = start_depth_node(None, log, env, '-p', 'precision:=int8')
    client = Harness(env, namespace='/cam', labels=True)
    statuses = []
    client.node.create_subscription(
        DiagnosticArray, '/diagnostics', lambda msg: statuses.extend(msg.status), 10)
    try:
        assert client.wait_for_node(30.0), log.read_text()
        stamp = (7, 0)
        image = make_image(stamp, FRAME, camera_image(3))
        info = make_camera_info(stamp, FRAME, WIDTH, HEIGHT, FX, FY, CX, CY)
        assert client.send_until_complete(image, info, timeout=30), log.read_text()
        depth = image_to_numpy(client.received[stamp]['depth'])
        assert np.isfinite(depth).mean() > 0.5

        def counted() -> bool:  # a status published after the frame was processed
            return any(kv.key == 'processed' and kv.value != '0'
                       for status in statuses for kv in status.values)

        assert client.spin_until(counted, 5.0), [s.values for s in statuses]
        values = {kv.key: kv.value for kv in statuses[-1].values}
        assert values['precision'] == 'int8' and values['processed'] != '0', values
    finally:
        client.close()
        code = stop_process(proc)
    assert code == 0
    assert 'default.int8.json' in log.read_text() and ' int8 ' in log.read_text()


def test_labels_and_metric_scale_over_dds(tiny_camera_model: Path, tmp_path: Path) -> None:
    """
    Labels and a metric scale over DDS, from a model that has both.

    labels/image (mono8 ids) and labels/color (rgb8) share the depth grid and the input header;
    depth is scaled by the camera's focal length (with the 'crop' resize, which leaves the whole
    focal length to that factor; test_fov_consistency runs the default 'canonical').
    """
    env = isolated_ros_env(salt=3)
    log = tmp_path / 'camera_model.log'
    proc = start_depth_node(tiny_camera_model, log, env, '-p', 'resize_mode:=crop')
    client = Harness(env, namespace='/cam', labels=True)
    try:
        assert client.wait_for_node(), f'depth_node did not come up:\n{log.read_text()}'
        pixels = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
        pixels[:, :200, 0] = 255  # red -> class 1 on the left
        pixels[:, 480:, 2] = 255  # blue -> class 3 on the right
        depths = {}
        for index, focal in enumerate((FX, 2 * FX)):
            stamp = (1_700_000_200 + index, 0)
            info = make_camera_info(stamp, FRAME, WIDTH, HEIGHT, focal, focal, CX, CY)
            assert client.send_until_complete(make_image(stamp, FRAME, pixels), info), (
                log.read_text())
            out = client.received[stamp]
            assert out['info'].k[0] == pytest.approx(focal / (2 * WIDTH / 304), rel=1e-12)
            for key in ('labels', 'labels_color', 'depth', 'info'):
                msg = out[key]
                assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == stamp, key
                assert msg.header.frame_id == FRAME, key
            info_out = out['info']
            labels_msg, color_msg = out['labels'], out['labels_color']
            assert (labels_msg.encoding, color_msg.encoding) == ('mono8', 'rgb8')
            for msg in (labels_msg, color_msg, out['depth']):
                assert (msg.width, msg.height) == (info_out.width, info_out.height) == (147, 109)
            assert labels_msg.step == 147 and color_msg.step == 3 * 147
            labels = np.frombuffer(bytes(labels_msg.data), np.uint8).reshape(109, 147)
            colors = np.frombuffer(bytes(color_msg.data), np.uint8).reshape(109, 147, 3)
            assert (labels[:, :30] == 1).all() and (labels[:, -30:] == 3).all()
            np.testing.assert_array_equal(colors[labels == 1], [[255, 0, 0]] * (labels == 1).sum())
            np.testing.assert_array_equal(colors[labels == 3], [[0, 0, 255]] * (labels == 3).sum())
            depths[focal] = decode_float_image(out['depth'], 1)[..., 0]
        # Same image, twice the focal length: the same network output, twice the metres.
        valid = np.isfinite(depths[FX]) & np.isfinite(depths[2 * FX])
        assert valid.mean() > 0.9
        np.testing.assert_allclose(depths[2 * FX][valid], 2 * depths[FX][valid], rtol=1e-5)
    finally:
        client.close()
        code = stop_process(proc)
    assert code == 0, log.read_text()
    assert 'publishing labels/image' in log.read_text()


def test_each_image_gets_the_camera_info_of_its_stamp(harness: Harness, node_log: Path) -> None:
    """
    Intrinsics change every frame and camera_info arrives after its image.

    Each output's camera_info is that of its own input stamp, never the previous frame's.
    """
    pixels = camera_image(3)
    for index in range(4):
        focal = 400.0 + 60.0 * index
        stamp = (1_700_000_400 + index, 0)
        image = make_image(stamp, FRAME, pixels)
        info = make_camera_info(stamp, FRAME, WIDTH, HEIGHT, focal, focal, CX, CY)
        harness.pub_image.publish(image)  # the image first, its camera_info 30 ms later
        harness.spin_until(lambda: False, 0.03)
        harness.pub_info.publish(info)
        assert harness.spin_until(lambda: 'info' in harness.received.get(stamp, {}), 10.0), (
            node_log.read_text())
        k = harness.received[stamp]['info'].k
        assert k[0] == pytest.approx(focal / (2 * WIDTH / 304), rel=1e-12), (index, k[0])


def test_unmatched_stamps_fall_back_to_the_latest_camera_info(
    harness: Harness, node_log: Path
) -> None:
    """
    A camera_info whose stamp never matches its images (the stamps matched before).

    The first images are dropped, taken for lost camera_infos; from the third one on the node
    takes the stamps not to match and pairs each image with the latest camera_info, warning once.
    """
    info = make_camera_info((1_600_000_000, 0), FRAME, WIDTH, HEIGHT, FX, FY, CX, CY)
    harness.pub_info.publish(info)
    harness.spin_until(lambda: False, 0.2)
    stamps = [(1_700_000_500 + index, 0) for index in range(5)]
    for index, stamp in enumerate(stamps):
        harness.pub_image.publish(make_image(stamp, FRAME, camera_image(index)))
        harness.spin_until(lambda: 'info' in harness.received.get(stamp, {}), 1.0)
    assert harness.spin_until(lambda: all('info' in harness.received.get(s, {})
                                          for s in stamps[2:]), 10.0), node_log.read_text()
    assert not any(s in harness.received for s in stamps[:2])
    log = node_log.read_text().splitlines()
    dropped = [line for line in log if 'its camera_info did not arrive within' in line]
    assert len(dropped) == 1 and '1700000500' in dropped[0], dropped  # throttled: once
    warnings = [line for line in log if 'no camera_info with the stamp of the image' in line]
    assert len(warnings) == 1 and '1700000502' in warnings[0], warnings


def test_a_lost_camera_info_is_bridged_only_while_the_calibration_is_steady(
    harness: Harness, node_log: Path
) -> None:
    """
    Camera_infos lost in transport, frames 0.1 s apart.

    While every camera_info around the image carries one calibration, the image takes the
    nearest one (counted, and warned about once); after a zoom, a frame whose own camera_info
    is missing is dropped rather than given either focal length.
    """
    base = 1_700_000_450
    stamps = [(base, index * 100_000_000) for index in range(7)]
    focal = [FX, FX, FX, FX, 2 * FX, 2 * FX, 2 * FX]
    lost = {3, 5}
    for index, stamp in enumerate(stamps):
        if index not in lost:
            harness.pub_info.publish(
                make_camera_info(stamp, FRAME, WIDTH, HEIGHT, focal[index], focal[index], CX, CY))
            harness.spin_until(lambda: False, 0.05)
        harness.pub_image.publish(make_image(stamp, FRAME, camera_image(index)))
        harness.spin_until(lambda: 'info' in harness.received.get(stamp, {}), 3.0)
    assert harness.spin_until(lambda: all('info' in harness.received.get(s, {})
                                          for i, s in enumerate(stamps) if i != 5), 10.0), (
        node_log.read_text())
    scale = 2 * WIDTH / 304  # the tiny model's grid, as in the test above
    assert harness.received[stamps[3]]['info'].k[0] == pytest.approx(FX / scale, rel=1e-12)
    assert harness.received[stamps[6]]['info'].k[0] == pytest.approx(2 * FX / scale, rel=1e-12)
    assert stamps[5] not in harness.received  # the calibration changed within the window
    log = node_log.read_text().splitlines()
    bridged = [line for line in log if 'did not arrive: using the nearest one' in line]
    assert len(bridged) == 1 and '1700000450.300000000' in bridged[0], bridged


def test_errors_end_with_the_next_good_frame(harness: Harness, node_log: Path) -> None:
    """
    After a good frame, /diagnostics is OK again and the same bad input is logged again.

    A bad frame, a good one, the same bad one: two error lines, and the status that follows
    the good frame says OK.
    """
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus

    statuses = []
    harness.node.create_subscription(
        DiagnosticArray, '/diagnostics', lambda msg: statuses.extend(msg.status), 10)
    info_args = (FRAME, WIDTH, HEIGHT, FX, FY, CX, CY)
    bad_stamps = [(1_700_000_600, 0), (1_700_000_602, 0)]

    def send_bad(stamp):
        bad = make_image(stamp, FRAME, camera_image(1))
        bad.step = 100
        harness.send(bad, make_camera_info(stamp, *info_args))
        harness.spin_until(lambda: f'{stamp[0]}.000000000' in node_log.read_text(), 10.0)

    send_bad(bad_stamps[0])
    good = (1_700_000_601, 0)
    assert harness.send_until_complete(make_image(good, FRAME, camera_image(2)),
                                       make_camera_info(good, *info_args)), node_log.read_text()
    statuses.clear()
    assert harness.spin_until(lambda: len(statuses) > 0, 5.0)
    assert statuses[-1].level == DiagnosticStatus.OK, statuses[-1].message
    values = {kv.key: kv.value for kv in statuses[-1].values}
    assert (values['backend'], values['precision'], values['engine_id']) == (
        'onnxruntime (CPUExecutionProvider)', 'fp32', '')
    send_bad(bad_stamps[1])
    errors = [line for line in node_log.read_text().splitlines()
              if 'step 100 is smaller than' in line and '17000006' in line]
    assert len(errors) == 2, errors


def test_images_above_the_size_limit_are_dropped(tmp_path: Path, tiny_model: Path) -> None:
    """With max_image_pixels below 640x480, such a frame gets one error line and no output."""
    env = isolated_ros_env(salt=5)
    log = tmp_path / 'limit.log'
    proc = start_depth_node(tiny_model, log, env, '-p', 'max_image_pixels:=300000')
    client = Harness(env, namespace='/cam')
    try:
        assert client.wait_for_node(), log.read_text()
        big = (1_700_000_700, 0)
        for _ in range(10):  # again until it is seen: the first message may precede discovery
            client.send(make_image(big, FRAME, camera_image(1)),
                        make_camera_info(big, FRAME, WIDTH, HEIGHT, FX, FY, CX, CY))
            if client.spin_until(lambda: 'max_image_pixels' in log.read_text(), 1.0):
                break
        small = (1_700_000_701, 0)
        pixels = np.ascontiguousarray(camera_image(2)[:240, :320])
        assert client.send_until_complete(
            make_image(small, FRAME, pixels),
            make_camera_info(small, FRAME, 320, 240, FX / 2, FY / 2, 159.5, 119.5)), (
            log.read_text())
    finally:
        client.close()
        code = stop_process(proc)
    assert code == 0, log.read_text()
    lines = [line for line in log.read_text().splitlines() if 'max_image_pixels' in line]
    assert len(lines) == 1 and '640x480' in lines[0] and '1700000700' in lines[0], lines
    assert big not in client.received


@pytest.mark.parametrize('node_qos, client_qos, topic', [
    ('output_qos:=best_effort', 'reliable', 'depth/image'),  # reliable readers, best-effort node
    ('input_qos:=reliable', 'best_effort', 'image'),  # a best-effort camera, a reliable node
])
def test_incompatible_qos_shows_in_diagnostics(tmp_path: Path, tiny_model: Path, node_qos: str,
                                               client_qos: str, topic: str) -> None:
    """A peer that cannot connect turns /diagnostics to WARN naming the topic, and one log line."""
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus

    env = isolated_ros_env(salt=9)
    log = tmp_path / 'qos.log'
    proc = start_depth_node(tiny_model, log, env, '-p', node_qos)
    client = Harness(env, namespace='/cam', reliability=client_qos)
    statuses = []
    client.node.create_subscription(DiagnosticArray, '/diagnostics',
                                    lambda msg: statuses.extend(msg.status), 10)
    try:
        assert client.spin_until(
            lambda: any(s.level == DiagnosticStatus.WARN and topic in s.message.split(' on ')[-1]
                        .split(', ') for s in statuses), 15.0), (statuses, log.read_text())
    finally:
        client.close()
        code = stop_process(proc)
    assert code == 0, log.read_text()
    errors = [line for line in log.read_text().splitlines() if 'QoS' in line and '[ERROR]' in line]
    mine = [line for line in errors if f']: {topic}: a ' in line]
    assert len(mine) == 1, errors  # named, and logged once however often peers retry


def test_empty_frame_id_is_warned_about(harness: Harness, node_log: Path) -> None:
    """An image without frame_id is still processed, with one warning naming the problem."""
    stamp = (1_700_000_800, 0)
    image = make_image(stamp, '', camera_image(4))
    info = make_camera_info(stamp, '', WIDTH, HEIGHT, FX, FY, CX, CY)
    assert harness.send_until_complete(image, info), node_log.read_text()
    assert harness.received[stamp]['depth'].header.frame_id == ''
    lines = [line for line in node_log.read_text().splitlines() if 'empty frame_id' in line]
    assert len(lines) == 1 and '1700000800' in lines[0], lines


def test_input_resolution_over_dds(tiny_model: Path, tmp_path: Path, camera_data: Path) -> None:
    """
    output_resolution:=input with a raw, distorted camera (a real calibration) and a rectified one.

    depth/camera_info is the input camera_info (distortion, R, P included) under the image's
    header; every image has the input's size; each point of the cloud projects back onto its own
    pixel through the published K and D (OpenCV's projection); rgb is the image and the normal
    fields are normals/image.
    """
    import yaml

    calibration = yaml.safe_load(
        (camera_data / 'camera_info' / 'test_calibration.yaml').read_text())
    env = isolated_ros_env(salt=11)
    log = tmp_path / 'input.log'
    proc = start_depth_node(tiny_model, log, env, '-p', 'output_resolution:=input',
                            '-p', 'input_rectified:=false', '-p', 'cloud_normals:=true')
    client = Harness(env, namespace='/cam')
    try:
        assert client.wait_for_node(), log.read_text()
        for index, distorted in enumerate((True, False)):
            stamp = (1_700_000_900 + index, 7)
            info = make_camera_info(stamp, FRAME, WIDTH, HEIGHT, FX, FY, CX, CY)
            if distorted:
                info.distortion_model = calibration['distortion_model']
                info.d = [float(x) for x in calibration['distortion_coefficients']['data']]
                info.k = [float(x) for x in calibration['camera_matrix']['data']]
                info.p = [float(x) for x in calibration['projection_matrix']['data']]
            pixels = camera_image(index)
            assert client.send_until_complete(make_image(stamp, FRAME, pixels), info), (
                log.read_text())
            out = client.received[stamp]
            for key, msg in out.items():
                assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == stamp, key
                assert msg.header.frame_id == FRAME, key
            got = out['info']
            for name in ('width', 'height', 'distortion_model', 'binning_x', 'binning_y'):
                assert getattr(got, name) == getattr(info, name), name
            for name in ('d', 'k', 'r', 'p'):
                np.testing.assert_array_equal(getattr(got, name), getattr(info, name))
            depth = decode_float_image(out['depth'], 1)[..., 0]
            normals = decode_float_image(out['normals'], 3)
            assert depth.shape == normals.shape[:2] == (HEIGHT, WIDTH)
            valid = np.isfinite(depth)
            assert 0.9 < valid.mean() < 1.0, 'the crop leaves a border the network does not see'
            cloud = out['points']
            assert (cloud.height, cloud.width) == (HEIGHT, WIDTH)
            names = ['x', 'y', 'z', 'rgb', 'normal_x', 'normal_y', 'normal_z']
            assert [(f.name, f.offset, f.datatype, f.count) for f in cloud.fields] == [
                (name, 4 * i, 7, 1) for i, name in enumerate(names)]
            assert cloud.point_step == 28 and cloud.row_step == 28 * WIDTH
            assert cloud.is_dense is False and cloud.is_bigendian is False
            fields = decode_cloud(cloud)
            points = np.stack([fields[a] for a in 'xyz'], -1).astype(np.float64)
            np.testing.assert_array_equal(points[..., 2], depth)
            assert np.isnan(points[~valid]).all()
            np.testing.assert_array_equal(unpack_rgb(fields['rgb']), pixels)
            np.testing.assert_array_equal(
                np.stack([fields[f'normal_{a}'] for a in 'xyz'], -1), normals)
            # Reprojection through what was published: K and D (P when there is no distortion).
            p = np.array(got.p).reshape(3, 4)[:, :3]
            k = np.array(got.k).reshape(3, 3) if distorted else p
            d = np.array(got.d) if distorted else np.zeros(5)
            projected, _ = cv2.projectPoints(points[valid], np.zeros(3), np.zeros(3), k, d)
            v, u = np.nonzero(valid)
            np.testing.assert_allclose(projected[:, 0, 0], u, atol=2e-3)
            np.testing.assert_allclose(projected[:, 0, 1], v, atol=2e-3)
            if distorted:  # the pinhole model would put them elsewhere
                pinhole = points[valid][:, 0] / points[valid][:, 2] * k[0, 0] + k[0, 2]
                assert np.abs(pinhole - u).max() > 20
    finally:
        client.close()
        code = stop_process(proc)
    assert code == 0, log.read_text()
