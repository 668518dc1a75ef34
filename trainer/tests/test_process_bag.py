"""
`ros2-depth process-bag` on bags written by synth-bag, checked against a live depth_node.

Two small generated bags, MCAP with raw rgb8 images and SQLite3 with JPEG CompressedImages, go
through process-bag with the bundled model on one inference thread. The output must hold every
input message unchanged and one set of outputs per image, stamped like the image; and each
output message must have the same bytes as what depth_node, started as its own process on the
same model and thread count, publishes for the same frame (both with zero CDR padding: rclpy
leaves it uninitialised, `bag_processing.cdr_bytes`). The test sits with the trainer's
tests because the bags come from the trainer's synth-bag (test/ imports no trainer code).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import numpy as np
import pytest
from rclpy.serialization import deserialize_message, serialize_message
from ros2_depth.camera_info_cache import stamp_ns
from ros2_depth.cli import main as ros2_depth
from ros2_depth.compressed_image import compressed_to_numpy
from ros2_depth.demo import bag_processing
from ros2_depth.demo.depth_client import (
    DepthClient, image_msg, isolated_ros_env, start_node_process, stop_process)
from ros2_depth.image_encoding import image_to_numpy
from ros2_depth_trainer.cli import main as train_cli
from rosbags.rosbag2 import Reader, Writer
from rosbags.rosbag2.enums import StoragePlugin
from rosbags.typesys import get_typestore, Stores
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

OUTPUT_KEYS = ('info', 'depth', 'normals', 'points', 'labels', 'labels_color')
PREFIX = '/camera/mono_depth'
TOPICS = {key: f'{PREFIX}/{topic}' for key, (topic, _) in bag_processing.OUTPUT_TOPICS.items()}
STORE = get_typestore(Stores.LATEST)
CLASSES = {'sensor_msgs/msg/Image': Image, 'sensor_msgs/msg/CameraInfo': CameraInfo,
           'sensor_msgs/msg/PointCloud2': PointCloud2}


def synth_bag(output: Path, *extra: str) -> Path:
    """Write a 3-frame 60x80 trajectory with synth-bag; return the bag folder."""
    args = ['synth-bag', '--output', str(output), '--kind', 'indoor', '--seed', '2', '--seconds',
            '0.6', '--rate', '5', '--size', '60x80', *extra]
    assert train_cli(args) == 0
    return output


@pytest.fixture(scope='module')
def bags(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    """Write the two sample bags: MCAP with raw images, SQLite3 with JPEG CompressedImages."""
    folder = tmp_path_factory.mktemp('bags')
    return {
        'mcap_raw': synth_bag(folder / 'mcap_raw'),
        'sqlite3_jpeg': synth_bag(folder / 'sqlite3_jpeg', '--storage', 'sqlite3',
                                  '--image-format', 'jpeg'),
    }


def process(bag: Path, output: Path, *extra: str) -> int:
    """Run `ros2-depth process-bag` on one inference thread without a progress bar."""
    return ros2_depth(['process-bag', str(bag), str(output), '--threads', '1', '--no-progress',
                       *extra])


@pytest.fixture(scope='module')
def processed(bags: Dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    """Run process-bag on each sample bag; return the outputs by name."""
    folder = tmp_path_factory.mktemp('processed')
    outputs = {}
    for name, bag in bags.items():
        assert process(bag, folder / name) == 0
        outputs[name] = folder / name
    return outputs


def messages(bag: Path) -> List[Tuple[str, int, bytes]]:
    """Return (topic, receive time, bytes) of every message, in bag order."""
    with Reader(bag) as reader:
        return [(c.topic, t, bytes(raw)) for c, t, raw in reader.messages()]


def connections(bag: Path) -> Dict[str, Tuple]:
    """Return topic -> (type, definition, hash, serialisation format, QoS) of a bag."""
    with Reader(bag) as reader:
        return {c.topic: (c.msgtype, c.msgdef.data, c.digest, c.ext.serialization_format,
                          c.ext.offered_qos_profiles) for c in reader.connections}


def file_hashes(folder: Path) -> Dict[str, str]:
    """Return the SHA-256 of every file in a folder, by name."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize('name', ['mcap_raw', 'sqlite3_jpeg'])
def test_output_holds_the_input_and_one_output_set_per_image(
        name: str, bags: Dict[str, Path], processed: Dict[str, Path]) -> None:
    """Every input message as it was, each output once per image with its header and time."""
    bag, out = bags[name], processed[name]
    suffix = '.mcap' if name == 'mcap_raw' else '.db3'
    assert [p.suffix for p in out.iterdir() if p.name != 'metadata.yaml'] == [suffix]
    before, after = messages(bag), messages(out)
    copied = [m for m in after if not m[0].startswith(PREFIX + '/')]
    assert copied == before  # same topics, receive times, bytes and order
    assert {t: c for t, c in connections(out).items() if t in connections(bag)} == \
        connections(bag)

    image_topic = '/camera/image_rect' + ('/compressed' if name == 'sqlite3_jpeg' else '')
    image_class = CompressedImage if name == 'sqlite3_jpeg' else Image
    images = {t: deserialize_message(raw, image_class).header
              for topic, t, raw in before if topic == image_topic}
    assert len(images) == 3
    outputs = [m for m in after if m[0].startswith(PREFIX + '/')]
    assert sorted({m[0] for m in outputs}) == sorted(TOPICS.values())
    assert len(outputs) == 3 * len(TOPICS)
    types = {t: ty for t, (ty, *_) in connections(out).items()}
    for topic, receive_ns, raw in outputs:
        header = deserialize_message(raw, CLASSES[types[topic]]).header
        assert header == images[receive_ns], topic  # the image's header, at its receive time


def test_outputs_are_what_the_live_node_publishes(
        bags: Dict[str, Path], processed: Dict[str, Path], tmp_path: Path) -> None:
    """Byte for byte: the node on the same model and one thread publishes the same messages."""
    env = isolated_ros_env(salt=41)
    log = tmp_path / 'depth_node.log'
    proc = start_node_process(log, env, '/camera/mono_depth_test', ['-p', 'num_threads:=1'])
    client = DepthClient(env, '/camera/mono_depth_test', name='process_bag_test', labels=True)
    try:
        assert client.wait_for_node(60.0), log.read_text()
        for name, bag in bags.items():
            bag_out = _outputs_by_stamp(processed[name])
            for image, info in _frames(bag):
                if isinstance(image, CompressedImage):  # this node takes raw images
                    pixels, encoding = compressed_to_numpy(image.format, image.data)
                    stamp = (image.header.stamp.sec, image.header.stamp.nanosec)
                    image = image_msg(stamp, image.header.frame_id, pixels, encoding)
                stamp = (image.header.stamp.sec, image.header.stamp.nanosec)
                client.received.pop(stamp, None)
                assert client.send_until_complete(image, info), log.read_text()
                live = client.received.pop(stamp)
                for key in OUTPUT_KEYS:
                    mine = bag_out[stamp_ns(image.header)][key]
                    msgtype = bag_processing.OUTPUT_TOPICS[key][1]
                    assert bag_processing.cdr_bytes(live[key], msgtype, STORE) == mine, (
                        name, key, stamp)
                depth = image_to_numpy(live['depth'])
                assert np.isfinite(depth).mean() > 0.5
            client.spin_until(lambda: False, 0.3)
            client.received.clear()
    finally:
        client.close()
        assert stop_process(proc) == 0, log.read_text()


def _frames(bag: Path) -> Iterator[Tuple[Any, CameraInfo]]:
    """Yield (image, camera_info) of each frame of a synth-bag bag (one header per frame)."""
    infos, images = {}, []
    with Reader(bag) as reader:
        for conn, _, raw in reader.messages():
            if conn.msgtype == 'sensor_msgs/msg/CameraInfo':
                info = deserialize_message(raw, CameraInfo)
                infos[stamp_ns(info.header)] = info
            elif conn.topic.startswith('/camera/image_rect'):
                cls = CompressedImage if conn.topic.endswith('compressed') else Image
                images.append(deserialize_message(raw, cls))
    for image in images:
        yield image, infos[stamp_ns(image.header)]


def _outputs_by_stamp(bag: Path) -> Dict[int, Dict[str, bytes]]:
    """Return header stamp -> output key -> message bytes of process-bag's outputs."""
    keys = {topic: key for key, topic in TOPICS.items()}
    found: Dict[int, Dict[str, bytes]] = {}
    with Reader(bag) as reader:
        for conn, _, raw in reader.messages():
            if conn.topic in keys:
                header = deserialize_message(raw, CLASSES[conn.msgtype]).header
                found.setdefault(stamp_ns(header), {})[keys[conn.topic]] = bytes(raw)
    return found


def test_the_same_input_gives_the_same_bytes(bags: Dict[str, Path], tmp_path: Path) -> None:
    """Two runs into different folders write identical files (names depend on the folder)."""
    for run in ('a', 'b'):
        (tmp_path / run).mkdir()
        assert process(bags['sqlite3_jpeg'], tmp_path / run / 'out') == 0
    assert file_hashes(tmp_path / 'a' / 'out') == file_hashes(tmp_path / 'b' / 'out')


def test_an_existing_output_needs_overwrite(bags: Dict[str, Path], tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    """OUT is refused when it exists, replaced with --overwrite, never replaced if not a bag."""
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'notes.txt').write_text('mine')
    assert process(bags['mcap_raw'], out, '--overwrite') == 1
    assert (out / 'notes.txt').read_text() == 'mine'
    assert process(bags['mcap_raw'], tmp_path / 'bag') == 0
    assert process(bags['mcap_raw'], tmp_path / 'bag') == 1
    assert 'exists; choose another output or add --overwrite' in caplog.text
    assert process(bags['mcap_raw'], tmp_path / 'bag', '--overwrite', '--outputs', 'depth') == 0
    assert {t for t, _, _ in messages(tmp_path / 'bag') if t.startswith(PREFIX)} == \
        {TOPICS['depth']}
    assert sorted(p.name for p in tmp_path.iterdir()) == ['bag', 'out']


def test_a_bad_model_leaves_nothing(bags: Dict[str, Path], tmp_path: Path,
                                    caplog: pytest.LogCaptureFixture) -> None:
    """A model that cannot load: exit 1 with one line, no output and no temporary folder."""
    assert process(bags['mcap_raw'], tmp_path / 'out', '--model', str(tmp_path / 'no.json')) == 1
    assert 'cannot load the model' in caplog.text
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_in_the_loop_removes_the_partial_output(
        bags: Dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A KeyboardInterrupt during the second frame: exit 130, no output, no temporary folder."""
    real = bag_processing.output_messages
    calls = []

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(bag_processing, 'output_messages', interrupted)
    assert process(bags['mcap_raw'], tmp_path / 'out') == 130
    assert len(calls) == 2
    assert list(tmp_path.iterdir()) == []


def _copy_with(bag: Path, out: Path, change: Any) -> Path:
    """Copy a bag (MCAP), passing each (topic, time, bytes) through `change` (a list back)."""
    with Reader(bag) as reader, Writer(out, version=9,
                                       storage_plugin=StoragePlugin.MCAP) as writer:
        conns = {}
        for conn in reader.connections:
            conns[conn.topic] = writer.add_connection(
                conn.topic, conn.msgtype, msgdef=conn.msgdef.data, rihs01=conn.digest)
        conns['/other/image_rect'] = writer.add_connection(
            '/other/image_rect', 'sensor_msgs/msg/Image',
            msgdef=conns['/camera/image_rect'].msgdef.data,
            rihs01=conns['/camera/image_rect'].digest)
        for conn, t, raw in reader.messages():
            for topic, time_ns, data in change(conn.topic, t, bytes(raw)):
                writer.write(conns[topic], time_ns, data)
    return out


def test_bad_messages_are_one_line_each_skipped_and_counted(
        bags: Dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture,
        caplog: pytest.LogCaptureFixture) -> None:
    """Garbage bytes and an image of the wrong size: skipped, one line each, summarised."""
    seen = []

    def spoil(topic: str, time_ns: int, raw: bytes) -> List[Tuple[str, int, bytes]]:
        if topic != '/camera/image_rect':
            return [(topic, time_ns, raw)]
        seen.append(time_ns)
        if len(seen) == 1:
            return [(topic, time_ns, b'\x00\x01\x00\x00' + b'\xff' * 7)]
        if len(seen) == 2:
            msg = deserialize_message(raw, Image)
            msg.encoding = '16UC1'
            msg.width //= 2
            return [(topic, time_ns, serialize_message(msg))]
        return [(topic, time_ns, raw)]

    bad = _copy_with(bags['mcap_raw'], tmp_path / 'bad', spoil)
    assert process(bad, tmp_path / 'out', '--image-topic', '/camera/image_rect') == 0
    summary = capsys.readouterr().out
    assert '1 of 3 images on /camera/image_rect processed' in summary, summary
    assert 'skipped 1: undecodable image' in summary
    assert 'skipped 1: image the pipeline cannot take' in summary
    lines = [r.getMessage() for r in caplog.records if r.name == bag_processing.LOG.name]
    assert len(lines) == 2 and all('\n' not in line for line in lines), lines
    assert 'cannot deserialise' in lines[0] and 'image is 40x60 but' in lines[1], lines
    outputs = [m for m in messages(tmp_path / 'out') if m[0] == TOPICS['depth']]
    assert [t for _, t, _ in outputs] == seen[2:]


def test_ambiguous_image_topics_are_an_error_listing_them(
        bags: Dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Two colour image topics and no --image-topic: exit 1 naming both; --image-topic works."""
    def twice(topic: str, time_ns: int, raw: bytes) -> List[Tuple[str, int, bytes]]:
        extra = [('/other/image_rect', time_ns, raw)] if topic == '/camera/image_rect' else []
        return [(topic, time_ns, raw)] + extra

    two = _copy_with(bags['mcap_raw'], tmp_path / 'two', twice)
    assert process(two, tmp_path / 'out') == 1
    assert 'several colour image topics (/camera/image_rect, /other/image_rect)' in caplog.text
    assert not (tmp_path / 'out').exists()
    assert process(two, tmp_path / 'out', '--image-topic', '/other/image_rect') == 0
    topics = {t for t, _, _ in messages(tmp_path / 'out')}
    # /other has no camera_info of its own: the only CameraInfo topic serves it.
    assert '/other/mono_depth/depth/image' in topics
