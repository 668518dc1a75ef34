"""
The demo replays bags through the live node and scores its depth on the node's own grid.

Also: the corridor test scene (ros2_depth.demo.scene) has exact depth.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from ros2_depth.camera_model import AxisMap, ImageMap, PinholeCamera
from ros2_depth.cli import main as cli_main
from ros2_depth.demo import depth_client
from ros2_depth.demo.bag_source import BagSource
from ros2_depth.demo.run import as_rgb, bundled_bags, cloud_points, describe, resample_depth
from ros2_depth.demo.scene import camera_pose, Corridor, render_depth, render_image
from ros2_depth.geometry import backproject, cloud_field_names, fill_cloud
from ros2_depth.resources import share_directory
from ros2_depth.ros_messages import cloud_message
from std_msgs.msg import Header
from test_bag_source import make_camera, write_test_bag


def test_isolated_env_keeps_discovery_on_this_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Discovery on localhost in each distribution's own words, and no deprecated one on Jazzy."""
    monkeypatch.setenv('ROS_LOCALHOST_ONLY', '1')
    env = depth_client.isolated_ros_env()
    # The PyPI wheels (Jazzy, Kilted) have ROS_AUTOMATIC_DISCOVERY_RANGE, and Jazzy warns about
    # ROS_LOCALHOST_ONLY on every start.
    assert env['ROS_AUTOMATIC_DISCOVERY_RANGE'] == 'LOCALHOST' and 'ROS_LOCALHOST_ONLY' not in env
    # Humble has no rclpy.event_handler and knows only ROS_LOCALHOST_ONLY.
    monkeypatch.setattr(depth_client.importlib.util, 'find_spec', lambda name: None)
    env = depth_client.isolated_ros_env()
    assert env['ROS_LOCALHOST_ONLY'] == '1' and 'ROS_AUTOMATIC_DISCOVERY_RANGE' not in env


def test_corridor_depth_is_exact() -> None:
    """Every back-projected pixel lies on one of the corridor's five planes, to 1e-4 m."""
    corridor = Corridor()
    camera = PinholeCamera(160, 120, 130.0, 131.0, 79.5, 59.5)
    for frame in (0, 5, 11):
        depth = render_depth(corridor, camera, frame, 12).astype(np.float64)
        rotation, position = camera_pose(frame, 12)
        u, v = np.meshgrid(np.arange(160), np.arange(120))
        rays = np.stack(
            [(u - camera.cx) / camera.fx, (v - camera.cy) / camera.fy, np.ones_like(u)], -1
        )
        world = (rays * depth[..., None]) @ rotation.T + position
        distance = np.min(
            np.abs(
                np.stack(
                    [
                        world[..., 0] + corridor.half_width,
                        world[..., 0] - corridor.half_width,
                        world[..., 1] - corridor.eye_height,
                        world[..., 1] - (corridor.eye_height - corridor.ceiling_height),
                        world[..., 2] - corridor.length,
                    ]
                )
            ),
            axis=0,
        )
        assert np.isfinite(depth).all() and (depth > 0).all()
        assert distance.max() < 1e-4
        # float32 back-projection of the package agrees with the float64 one above.
        points = backproject(depth.astype(np.float32), camera)
        np.testing.assert_allclose(points, rays * depth[..., None], rtol=1e-5, atol=1e-5)


def test_corridor_image_is_deterministic_and_textured() -> None:
    """Same frame, same seed: same picture; the picture is not flat."""
    camera = PinholeCamera(64, 48, 52.5, 52.5, 31.5, 23.5)
    first = render_image(Corridor(), camera, 3, 10, seed=1)
    assert np.array_equal(first, render_image(Corridor(), camera, 3, 10, seed=1))
    assert first.dtype == np.uint8 and first.shape == (48, 64, 3) and first.std() > 20


def test_resample_depth_samples_the_input_pixel_under_each_output_pixel() -> None:
    """Output pixel u' reads input u = (u' - cx') fx / fx' + cx (nearest); off the image is NaN."""
    camera = PinholeCamera(160, 120, 150.0, 140.0, 79.5, 59.5)
    v, u = np.mgrid[0:120, 0:160]
    depth = (1.0 + v * 1000 + u).astype(np.float32)
    depth[7, 9] = np.nan
    # The tiny model's grid: output pixel j sits on input pixel 2 j + 5.
    out_camera = camera.resampled(ImageMap(AxisMap(2.0, 5.0), AxisMap(2.0, 5.0)), 80, 58)
    grid = resample_depth(depth, camera, out_camera)
    assert grid.shape == (58, 80) and grid.dtype == np.float32
    np.testing.assert_array_equal(grid[:, :77], depth[5::2, 5::2][:58, :77])
    assert np.isnan(grid[:, 78:]).all()  # 2 * 78 + 5 = 161 lies right of the image
    assert np.isnan(grid[1, 2])  # input (7, 9): invalid stays invalid
    # A fractional map rounds to the nearest input pixel centre.
    out_camera = camera.resampled(ImageMap(AxisMap(1.5, 0.3), AxisMap(1.25, -0.2)), 100, 90)
    grid = resample_depth(depth, camera, out_camera)
    cols = np.floor(1.5 * np.arange(100) + 0.3 + 0.5).astype(int)
    rows = np.floor(1.25 * np.arange(90) - 0.2 + 0.5).astype(int)
    np.testing.assert_array_equal(grid, depth[rows[:, None], cols[None, :]])


def test_as_rgb_reorders_every_colour_encoding() -> None:
    """bgr8/bgra8 are reversed, alpha dropped, mono8 repeated."""
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    alpha = np.full((2, 3, 1), 255, np.uint8)
    np.testing.assert_array_equal(as_rgb(rgb, 'rgb8'), rgb)
    np.testing.assert_array_equal(as_rgb(rgb[..., ::-1], 'bgr8'), rgb)
    np.testing.assert_array_equal(as_rgb(np.concatenate([rgb, alpha], 2), 'rgba8'), rgb)
    np.testing.assert_array_equal(
        as_rgb(np.concatenate([rgb[..., ::-1], alpha], 2), 'bgra8'), rgb
    )
    np.testing.assert_array_equal(as_rgb(rgb[..., 0], 'mono8'), np.repeat(rgb[..., :1], 3, 2))


def test_bundled_bags_are_found_in_the_share_directory() -> None:
    """The demo's default bags are the sample bags of share/ros2_depth/bags (or the checkout)."""
    bags = bundled_bags()
    assert len(bags) >= 2
    assert all(bag.parent == share_directory() / 'bags' for bag in bags)
    assert [bag.name for bag in bags] == sorted(bag.name for bag in bags)


def test_describe_says_when_the_model_is_untrained() -> None:
    """The terminal summary is honest about untrained weights and bags without depth."""
    bag = {
        'name': 'street',
        'frames': 2,
        'scored_frames': 0,
        'camera': {'width': 320, 'height': 240},
        'mean': {'round_trip_ms': 12.0},
    }
    summary = {'model': 'model light', 'untrained_model': True, 'bags': [bag]}
    text = describe(summary)
    assert 'untrained weights' in text and 'no depth in the bag' in text
    summary['untrained_model'] = False
    assert 'untrained' not in describe(summary)


def test_demo_reports_a_bad_bag_in_one_line(tmp_path: Path, caplog) -> None:
    """A missing bag stops the demo before the node starts, with the reason on one line."""
    code = cli_main(['demo', '--bag', str(tmp_path / 'missing'), '--output', str(tmp_path / 'o')])
    assert code == 1
    errors = [r.getMessage() for r in caplog.records if r.levelname == 'ERROR']
    assert len(errors) == 1 and 'missing does not exist' in errors[0] and '\n' not in errors[0]
    assert not (tmp_path / 'o' / 'depth_node.log').exists()


def test_demo_replays_bags_through_the_live_node(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Two bags through depth_node with their stamps: files per bag, every frame scored."""
    bag = write_test_bag(tmp_path / 'walk', frames=4, camera=make_camera(320, 240))
    out = tmp_path / 'demo'
    code = cli_main(
        [
            'demo',
            '--bag',
            str(bag),
            '--bag',
            str(bag),
            '--model',
            str(tiny_model),
            '--frames',
            '3',
            '--rate',
            '20',
            '--threads',
            '1',
            '--output',
            str(out),
        ]
    )
    assert code == 0
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['model'].startswith('model tiny') and summary['untrained_model'] is False
    assert [b['name'] for b in summary['bags']] == ['walk', 'walk_2']
    with BagSource(bag) as source:
        stamps = [f'{f.stamp[0]}.{f.stamp[1]:09d}' for f in source][:3]
    for name in ('walk', 'walk_2'):
        per_bag = json.loads((out / name / 'summary.json').read_text())
        assert per_bag['frames'] == 3 and per_bag['scored_frames'] == 3
        assert per_bag['topics']['depth'] == '/cam/depth_gt/image'
        assert per_bag['output_camera']['width'] == 147 and per_bag['camera']['width'] == 320
        assert [r['stamp'] for r in per_bag['per_frame']] == stamps
        for record in per_bag['per_frame']:
            assert 0 < record['abs_rel'] < 10 and 0 <= record['delta1'] <= 1
        preview = cv2.imread(str(out / name / 'preview.png'))
        assert preview is not None and preview.shape[1] == 4 * 320 + 3 * 4
        assert len(list((out / name / 'frames').glob('*_depth.png'))) == 3
        ply = (out / name / 'points_last_frame.ply').read_bytes()
        header, body = ply.split(b'end_header\n', 1)
        assert header.startswith(b'ply') and b'element vertex' in header
        assert b'property uchar red' in header, 'the cloud is coloured from its rgb field'
        vertices = np.frombuffer(body, [('xyz', '<f4', 3), ('rgb', 'u1', 3)])
        assert len(vertices) > 1000 and np.isfinite(vertices['xyz']).all()
        assert vertices['rgb'].std() > 5  # the bag's picture, not one colour
    assert 'abs rel' in capsys.readouterr().out


def test_demo_shows_labels_of_a_model_that_predicts_them(tiny_camera_model: Path,
                                                         tmp_path: Path) -> None:
    """With a labels model the preview gains a fifth panel and every frame a labels picture."""
    bag = write_test_bag(tmp_path / 'walk', frames=2, camera=make_camera(320, 240))
    out = tmp_path / 'demo'
    code = cli_main(['demo', '--bag', str(bag), '--model', str(tiny_camera_model), '--rate',
                     '20', '--threads', '1', '--output', str(out)])
    assert code == 0
    preview = cv2.imread(str(out / 'walk' / 'preview.png'))
    assert preview is not None and preview.shape[1] == 5 * 320 + 4 * 4
    pictures = sorted((out / 'walk' / 'frames').glob('*_labels.png'))
    assert len(pictures) == 2
    labels = cv2.imread(str(pictures[0]))[..., ::-1].reshape(-1, 3)
    # Every pixel is one of the sidecar's class colours (ids 1-4 are predicted).
    colors = {(255, 0, 0), (0, 255, 0), (0, 0, 255), (128, 128, 128)}
    assert {tuple(c) for c in np.unique(labels, axis=0)} <= colors


def test_cloud_points_decode_the_packed_colours() -> None:
    """The demo's PLY colours come from the cloud's rgb field, byte for byte."""
    rng = np.random.default_rng(8)
    depth = rng.uniform(0.5, 3.0, (5, 7)).astype(np.float32)
    colors = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    camera = PinholeCamera(7, 5, 6.0, 6.0, 3.0, 2.0)
    msg = cloud_message(Header(), fill_cloud(depth, camera, rgb=colors),
                        cloud_field_names(rgb=True))
    points, decoded = cloud_points(msg)
    np.testing.assert_array_equal(points, backproject(depth, camera))
    np.testing.assert_array_equal(decoded, colors)
    plain, none = cloud_points(cloud_message(Header(), backproject(depth, camera)))
    assert none is None and np.array_equal(plain, backproject(depth, camera))
