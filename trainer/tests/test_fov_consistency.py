"""
The metric scale holds across fields of view: one generated scene, three cameras, depth_node.

A generated close-range scene is rendered from one pose through three cameras (45, 60 and 90
degrees across, 640x480) and sent to depth_node (its own process, real DDS) with each camera's
camera_info. The depth it publishes at the same 3D rays (the output pixels of the narrowest view,
found in the others through each output's camera_info) must agree, and so must each view's
overall scale against the rendered truth. This is what the bundled model's canonical-focal
metric scale is for: a model without it sees a 45-degree view as a close-up and cannot know
that it is not one (docs/evaluation.md, "Metric scale", has the numbers of the model before).
"""

from __future__ import annotations

from typing import Dict, Iterator

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
from ros2_depth_trainer.synth.fov_views import render_fov_views, scale_agreement  # noqa: E402

FOVS = (45.0, 60.0, 90.0)
WIDTH, HEIGHT = 640, 480
KIND, SEED, INDEX = 'robot', 7, 2
FRAME = 'camera_optical_frame'
# Asked of the bundled model: two views' depths at the same rays within 10 % (median ratio), and
# each view's median prediction/truth ratio within 10 % of the others'.
TOLERANCE = 0.10
# What the bundled model does today (docs/evaluation.md, "Metric scale"): its canonical output
# grows 1.3-1.9 times from the 45 to the 90 degree view where 2.4 times is needed, so its metric
# depths still disagree (here 0.72-0.83 at the same rays). A regression bound until a model meets
# TOLERANCE: the views agree within a factor of 1.5.
MEASURED_BOUND = 1.5
NOT_YET = ('the bundled model does not yet predict field-of-view-invariant canonical depth '
           '(docs/evaluation.md, "Metric scale"); remove this mark when a model meets TOLERANCE')


def decode_depth(msg) -> np.ndarray:
    """Read a 32FC1 image message as float32 (H, W)."""
    assert msg.encoding == '32FC1'
    return np.frombuffer(bytes(msg.data), '<f4').reshape(msg.height, msg.width)


def output_camera(msg) -> PinholeCamera:
    """Return the pinhole camera a camera_info message describes."""
    k = np.array(msg.k).reshape(3, 3)
    return PinholeCamera(msg.width, msg.height, k[0, 0], k[1, 1], k[0, 2], k[1, 2])


@pytest.fixture(scope='module')
def agreement(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dict[str, Dict]]:
    """Run the bundled model in depth_node on the three views; compare them."""
    spec = load_spec(default_model_path())
    if spec.metric_scale is None:
        pytest.skip('the bundled model has no metric scale')
    pipeline = DepthPipeline(spec, create_backend('onnxruntime', spec, num_threads=1))
    views = render_fov_views(KIND, SEED, INDEX, FOVS, WIDTH, HEIGHT)
    env = isolated_ros_env(salt=11)
    log = tmp_path_factory.mktemp('fov') / 'depth_node.log'
    proc = start_node_process(log, env, '/fov', ['-p', 'num_threads:=1'])
    client = DepthClient(env, '/fov', name='fov_client')
    outputs = {}
    try:
        assert client.wait_for_node(), log.read_text()
        for index, fov in enumerate(FOVS):
            rgb, truth, camera = views[fov]
            expected = pipeline.output_camera(camera)
            stamp = (1_700_000_000 + index, 0)
            assert client.send_until_complete(
                image_msg(stamp, FRAME, np.ascontiguousarray(rgb)),
                camera_info_msg(stamp, FRAME, camera), keys=('depth', 'info')), log.read_text()
            out = client.received[stamp]
            # Each image is paired with the camera_info of its own stamp.
            assert output_camera(out['info']).fx == pytest.approx(expected.fx, rel=1e-9)
            outputs[fov] = (decode_depth(out['depth']), output_camera(out['info']), truth, camera)
    finally:
        client.close()
        code = stop_process(proc)
    assert code == 0, log.read_text()
    yield scale_agreement(outputs)


def test_views_stay_within_the_measured_bound(agreement: Dict[str, Dict]) -> None:
    """Today's disagreement, as a regression bound: depth at the same rays and the scales."""
    assert min(agreement['ray_coverage'].values()) > 0.9, agreement
    for ratio in agreement['rays'].values():
        assert 1 / MEASURED_BOUND < ratio < MEASURED_BOUND, agreement
    scales = list(agreement['truth'].values())
    assert max(scales) / min(scales) < MEASURED_BOUND, agreement


@pytest.mark.xfail(strict=True, reason=NOT_YET)
def test_views_agree_at_the_same_rays(agreement: Dict[str, Dict]) -> None:
    """Depth of the 60 and 90 degree views at the 45 degree view's rays matches it."""
    assert set(agreement['rays']) == set(FOVS[1:])
    # The narrow view lies inside the wider ones: nearly all its rays are compared.
    assert min(agreement['ray_coverage'].values()) > 0.9, agreement
    for fov, ratio in agreement['rays'].items():
        assert abs(ratio - 1.0) < TOLERANCE, (fov, agreement)


@pytest.mark.xfail(strict=True, reason=NOT_YET)
def test_each_view_has_the_same_scale_against_the_truth(agreement: Dict[str, Dict]) -> None:
    """median(prediction / truth) is the same for all three fields of view."""
    assert min(agreement['truth_coverage'].values()) > 0.5, agreement
    scales = list(agreement['truth'].values())
    assert len(scales) == 3 and max(scales) / min(scales) < 1.0 + TOLERANCE, agreement
