"""
The metric scale holds across fields of view: generated scenes, three cameras, depth_node.

Six generated close-range scenes are each rendered from one pose through three cameras (45, 60
and 90 degrees across, 640x480) and sent to depth_node (its own process, real DDS, default
parameters) with each camera's camera_info. The depth it publishes at the same 3D rays (the
output pixels of the narrowest view, found in the others through each output's camera_info) must
agree. This is what the bundled model's canonical-focal metric scale and the node's default
'canonical' resize mode are for: the network sees every camera at the canonical focal length, so
the same object has the same apparent size in all three views (docs/evaluation.md, "Metric scale
across fields of view", has the numbers, and those of the 'crop' mode and the model before).
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
from ros2_depth_trainer.synth.fov_views import render_fov_views, scale_agreement  # noqa: E402

FOVS = (45.0, 60.0, 90.0)
WIDTH, HEIGHT = 640, 480
KIND, SEED, INDICES = 'robot', 7, tuple(range(1, 7))
FRAME = 'camera_optical_frame'
# Asked of the node with the bundled model: over the scenes, the 60 and 90 degree views' depth at
# the 45 degree view's rays is within 10 % of it (median over the views; 0.070 measured).
TOLERANCE = 0.10
# What every single view does today (docs/evaluation.md): the worst is 1.35 times the narrow
# view's depth. A regression bound until a model meets TOLERANCE in every view.
MEASURED_BOUND = 1.5
NOT_YET = ('the bundled network still reads some views of a scene differently (up to 35 %; '
           'docs/evaluation.md, "Metric scale across fields of view"); remove this mark when a '
           'model meets TOLERANCE in every view')
Views = Dict[int, Dict[float, Tuple[np.ndarray, np.ndarray, PinholeCamera]]]


def decode_depth(msg) -> np.ndarray:
    """Read a 32FC1 image message as float32 (H, W)."""
    assert msg.encoding == '32FC1'
    return np.frombuffer(bytes(msg.data), '<f4').reshape(msg.height, msg.width)


def output_camera(msg) -> PinholeCamera:
    """Return the pinhole camera a camera_info message describes."""
    k = np.array(msg.k).reshape(3, 3)
    return PinholeCamera(msg.width, msg.height, k[0, 0], k[1, 1], k[0, 2], k[1, 2])


@pytest.fixture(scope='module')
def views() -> Views:
    """Render every scene at the three fields of view."""
    return {index: render_fov_views(KIND, SEED, index, FOVS, WIDTH, HEIGHT) for index in INDICES}


def pipeline_ratios(views: Views, resize_mode: str) -> List[float]:
    """Run the bundled model in-process with one resize mode; return every view's ray ratio."""
    spec = load_spec(default_model_path())
    pipeline = DepthPipeline(spec, create_backend('onnxruntime', spec, num_threads=1),
                             resize_mode)
    ratios = []
    for scene in views.values():
        outputs = {}
        for fov, (rgb, truth, camera) in scene.items():
            result = pipeline.run(rgb, 'rgb8', camera, want_normals=False)
            outputs[fov] = (result.depth, result.camera, truth, camera)
        ratios += list(scale_agreement(outputs)['rays'].values())
    return ratios


@pytest.fixture(scope='module')
def agreement(views: Views, tmp_path_factory: pytest.TempPathFactory) -> Iterator[List[Dict]]:
    """Run the bundled model in depth_node on every view; compare the views of each scene."""
    spec = load_spec(default_model_path())
    if spec.metric_scale is None:
        pytest.skip('the bundled model has no metric scale')
    # The node's intrinsics, as the node's own pipeline with its default resize mode has them.
    pipeline = DepthPipeline(spec, create_backend('onnxruntime', spec, num_threads=1))
    env = isolated_ros_env(salt=11)
    log = tmp_path_factory.mktemp('fov') / 'depth_node.log'
    proc = start_node_process(log, env, '/fov', ['-p', 'num_threads:=1'])
    client = DepthClient(env, '/fov', name='fov_client')
    scenes = []
    try:
        assert client.wait_for_node(), log.read_text()
        for index, scene in views.items():
            outputs = {}
            for number, fov in enumerate(FOVS):
                rgb, truth, camera = scene[fov]
                stamp = (1_700_000_000 + 10 * index + number, 0)
                assert client.send_until_complete(
                    image_msg(stamp, FRAME, np.ascontiguousarray(rgb)),
                    camera_info_msg(stamp, FRAME, camera), keys=('depth', 'info')), log.read_text()
                out = client.received[stamp]
                # Each image is paired with the camera_info of its own stamp, and the output's
                # intrinsics are those of the canonical resize.
                got = output_camera(out['info'])
                assert got.fx == pytest.approx(pipeline.output_camera(camera).fx, rel=1e-9)
                outputs[fov] = (decode_depth(out['depth']), got, truth, camera)
            scenes.append(scale_agreement(outputs))
    finally:
        client.close()
        code = stop_process(proc)
    assert code == 0, log.read_text()
    yield scenes


def ray_ratios(agreement: List[Dict]) -> np.ndarray:
    """Every wider view's depth over the narrowest view's at the same rays, all scenes."""
    for scene in agreement:
        assert set(scene['rays']) == set(FOVS[1:])
        # The narrow view lies inside the wider ones: nearly all its rays are compared.
        assert min(scene['ray_coverage'].values()) > 0.9, scene
    return np.array([ratio for scene in agreement for ratio in scene['rays'].values()])


def test_views_agree_at_the_same_rays(agreement: List[Dict]) -> None:
    """Over the scenes, the wider views' depth at the narrow view's rays matches it."""
    deviation = np.abs(ray_ratios(agreement) - 1.0)
    assert np.median(deviation) < TOLERANCE, deviation


def test_every_view_stays_within_the_measured_bound(agreement: List[Dict]) -> None:
    """Today's worst view, as a regression bound."""
    ratios = ray_ratios(agreement)
    assert ((1 / MEASURED_BOUND < ratios) & (ratios < MEASURED_BOUND)).all(), ratios


@pytest.mark.xfail(strict=True, reason=NOT_YET)
def test_every_view_agrees_at_the_same_rays(agreement: List[Dict]) -> None:
    """Each single view of each scene within TOLERANCE."""
    deviation = np.abs(ray_ratios(agreement) - 1.0)
    assert (deviation < TOLERANCE).all(), deviation


def test_the_canonical_resize_is_what_makes_the_views_agree(
        views: Views, agreement: List[Dict]) -> None:
    """
    Converting the depth with the focal length alone ('crop') is not enough for this network.

    Cropping each view to the network's aspect ratio and leaving the whole focal difference to
    the depth factor places the same points up to 2.9 times nearer in the wide view (median
    deviation 0.24 over these scenes); the canonical resize of the node brings that to 0.07.
    """
    crop = np.median(np.abs(np.asarray(pipeline_ratios(views, 'crop')) - 1.0))
    node = np.median(np.abs(ray_ratios(agreement) - 1.0))
    assert crop > 2 * node, (crop, node)
