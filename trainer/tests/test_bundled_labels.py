"""
The bundled model's labels through depth_node (its own process, real DDS), on generated scenes.

Held-out generated views (seeds never trained on) go to depth_node with their camera_info; the
`labels/image` it publishes must be mono8 class ids on the depth grid, with the input's header,
and agree with the rendered labels on most pixels; `labels/color` must be those ids in the
sidecar's colours.
"""

from __future__ import annotations

from typing import Dict, Iterator, List, Tuple

import numpy as np
import pytest

pytest.importorskip('rclpy', reason='the node test needs ROS 2 (rclpy)')

from ros2_depth.backends import create_backend  # noqa: E402
from ros2_depth.camera_model import PinholeCamera  # noqa: E402
from ros2_depth.demo.depth_client import (  # noqa: E402
    camera_info_msg, DepthClient, image_msg, isolated_ros_env, start_node_process, stop_process)
from ros2_depth.model_spec import load_spec  # noqa: E402
from ros2_depth.pipeline import DepthPipeline  # noqa: E402
from ros2_depth.resources import default_model_path  # noqa: E402
from ros2_depth_trainer.synth.fov_views import depth_at_rays, pixel_rays  # noqa: E402
from ros2_depth_trainer.synth.sample import render_sample  # noqa: E402

FRAME = 'camera_optical_frame'
SEED = 4242  # never used for training data
VIEWS = (('robot', 0), ('robot', 1), ('indoor', 0), ('street', 0))
# Share of pixels whose class the bundled model must get right, over the views together.
MIN_PIXEL_ACCURACY = 0.6


@pytest.fixture(scope='module')
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[List[Tuple]]:
    """Send each view to depth_node; yield (labels msg, color msg, info msg, truth labels)."""
    spec = load_spec(default_model_path())
    if spec.output('labels') is None:
        pytest.skip('the bundled model has no labels output')
    pipeline = DepthPipeline(spec, create_backend('onnxruntime', spec, num_threads=1))
    env = isolated_ros_env(salt=23)
    log = tmp_path_factory.mktemp('labels') / 'depth_node.log'
    proc = start_node_process(log, env, '/lab', ['-p', 'num_threads:=1'])
    client = DepthClient(env, '/lab', name='labels_client', labels=True)
    results = []
    try:
        assert client.wait_for_node(), log.read_text()
        for index, (kind, sample) in enumerate(VIEWS):
            frame = render_sample(kind, SEED, sample, 240, 320).rendered.frame
            camera = frame.camera
            expected = pipeline.output_camera(camera)
            stamp = (1_700_000_300 + index, 17)
            assert client.send_until_complete(
                image_msg(stamp, FRAME, np.ascontiguousarray(frame.rgb)),
                camera_info_msg(stamp, FRAME, camera),
                keys=('labels', 'labels_color', 'info')), log.read_text()
            out = client.received[stamp]
            # Each image is paired with the camera_info of its own stamp.
            assert out['info'].k[0] == pytest.approx(expected.fx, rel=1e-9)
            results.append((out['labels'], out['labels_color'], out['info'], frame.labels,
                            camera, stamp))
    finally:
        client.close()
        code = stop_process(proc)
    assert code == 0, log.read_text()
    yield results


def test_labels_are_mono8_ids_on_the_depth_grid(published: List[Tuple]) -> None:
    spec = load_spec(default_model_path())
    out = spec.output('labels')
    for labels_msg, color_msg, info, _, _, stamp in published:
        for msg in (labels_msg, color_msg):
            assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == stamp
            assert msg.header.frame_id == FRAME
            assert (msg.width, msg.height) == (info.width, info.height)
        assert labels_msg.encoding == 'mono8' and color_msg.encoding == 'rgb8'
        labels = np.frombuffer(bytes(labels_msg.data), np.uint8).reshape(info.height, info.width)
        assert labels.min() >= out.first_class_id
        assert labels.max() < out.first_class_id + out.channels
        colors = np.frombuffer(bytes(color_msg.data), np.uint8)
        colors = colors.reshape(info.height, info.width, 3)
        np.testing.assert_array_equal(colors, np.asarray(out.class_colors, np.uint8)[labels])


def test_labels_agree_with_the_rendered_classes(published: List[Tuple]) -> None:
    right = total = 0
    per_view: Dict[int, float] = {}
    for index, (labels_msg, _, info, truth, camera, _) in enumerate(published):
        k = np.array(info.k).reshape(3, 3)
        out_cam = PinholeCamera(info.width, info.height, k[0, 0], k[1, 1], k[0, 2], k[1, 2])
        labels = np.frombuffer(bytes(labels_msg.data), np.uint8).reshape(info.height, info.width)
        x, y = pixel_rays(out_cam)
        expected = depth_at_rays(truth.astype(np.float32), camera, x, y)
        valid = np.isfinite(expected) & (expected > 0)
        hits = int((labels[valid] == expected[valid]).sum())
        per_view[index] = hits / max(int(valid.sum()), 1)
        right, total = right + hits, total + int(valid.sum())
    assert total > 0.9 * sum(info.width * info.height for _, _, info, *_ in published)
    assert right / total > MIN_PIXEL_ACCURACY, per_view
