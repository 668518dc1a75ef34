"""The 'robot' scene kind: close-range views at robot heights, their ranges and determinism."""

from __future__ import annotations

import collections
import math
from pathlib import Path
from typing import List

import numpy as np
import pytest
from ros2_depth_trainer.synth import robot
from ros2_depth_trainer.synth.camera import camera_from_fov
from ros2_depth_trainer.synth.raycast import Box, Cylinder, Sphere
from ros2_depth_trainer.synth.sample import sample_streams
from ros2_depth_trainer.synth.scenes import KINDS, random_view, View
from ros2_depth_trainer.synth.trajectory import plan_trajectory
from ros2_depth_trainer.synth.writer import generate

DRAWS = 300


@pytest.fixture(scope='module')
def views() -> List[View]:
    """Return the drawn views, without rendering, of the first DRAWS robot samples of seed 0."""
    return [random_view('robot', sample_streams(0, 'robot', i)[0]) for i in range(DRAWS)]


def test_robot_kind_is_appended() -> None:
    # The position of a kind seeds its samples: indoor and street keep 0 and 1.
    assert KINDS[:2] == ('indoor', 'street') and KINDS[2] == 'robot'


def test_camera_height_and_target_distance(views: List[View]) -> None:
    heights = np.array([view.height for view in views])
    distances = np.array([math.dist(view.pose.position, view.scene.info['target_m'])
                          for view in views])
    assert heights.min() >= 0.2 and heights.max() <= 1.8
    assert np.allclose(heights, [view.pose.position[2] for view in views])
    assert distances.min() >= 0.3 - 1e-9 and distances.max() <= 3.0 + 1e-9
    assert np.allclose(distances, [view.scene.info['target_distance_m'] for view in views])
    # Low robot cameras are common, arm and head heights occur, close views dominate.
    assert (heights < 0.6).mean() > 0.3 and (heights > 1.2).mean() > 0.1
    assert np.median(distances) < 1.6 and (distances < 0.8).mean() > 0.1


def test_camera_aims_at_its_target(views: List[View]) -> None:
    for view in views:
        forward = view.pose.rotation()[:, 2]
        to_target = np.asarray(view.scene.info['target_m']) - np.asarray(view.pose.position)
        cos = float(forward @ to_target / np.linalg.norm(to_target))
        # Yaw jitter 8 deg and pitch jitter 6 deg (plus the pitch clamp at 85 deg).
        assert math.degrees(math.acos(min(1.0, cos))) < 12.0


def test_every_setting_and_camera_is_drawn(views: List[View]) -> None:
    settings = collections.Counter(view.scene.info['setting'] for view in views)
    assert set(settings) == set(robot.SETTINGS)
    assert min(settings.values()) > 0.08 * DRAWS, settings
    cameras = collections.Counter(view.scene.info['camera_model'] for view in views)
    assert set(cameras) == {preset.name for preset in robot.CAMERA_PRESETS}
    presets = {preset.name: preset.hfov_deg for preset in robot.CAMERA_PRESETS}
    for view in views:
        assert abs(view.fov_deg - presets[view.scene.info['camera_model']]) <= 1.0


def test_camera_presets() -> None:
    fov = {preset.name: preset.hfov_deg for preset in robot.CAMERA_PRESETS}
    # Kinect v1: fx = 525 at 640x480; 16:9 sensors keep their vertical field in a 4:3 crop.
    assert fov['kinect_v1'] == pytest.approx(62.7, abs=0.1)
    assert fov['realsense_d435'] == pytest.approx(54.8, abs=0.3)
    assert fov['azure_kinect'] == pytest.approx(90.0)
    assert fov['oak_d'] == pytest.approx(69.0)
    assert 78 <= fov['realsense_d455'] <= 87 and 80 <= fov['zed_2'] <= 110
    assert robot.crop_4_3_fov(90.0, 90.0) == 90.0  # a square sensor: the width limits
    camera = camera_from_fov(320, 240, fov['kinect_v1'])
    assert camera.fx == camera.fy == pytest.approx(525 / 2, rel=1e-3)
    assert (camera.cx, camera.cy) == (159.5, 119.5)


def _inside_solid(primitive, point: np.ndarray, margin: float) -> bool:
    """Is `point` within `margin` of the inside of a solid primitive (its description alone)."""
    local = (point - primitive.origin) @ primitive.rotation
    if isinstance(primitive, Box):
        inside = np.all(local > primitive.lo - margin) and np.all(local < primitive.hi + margin)
        return bool(inside) if not primitive.hollow else False
    if isinstance(primitive, Cylinder):
        return bool(math.hypot(local[0], local[1]) < primitive.radius + margin
                    and abs(local[2]) < primitive.half_height + margin)
    if isinstance(primitive, Sphere):
        return bool(np.linalg.norm(local) < primitive.radius + margin)
    return False


def test_camera_is_never_inside_geometry(views: List[View]) -> None:
    for index, view in enumerate(views):
        camera = np.asarray(view.pose.position)
        room = view.scene.primitives[0]
        assert isinstance(room, Box) and room.hollow
        assert np.all(camera > room.lo + 0.2) and np.all(camera < room.hi - 0.2), index
        hits = [type(p).__name__ for p in view.scene.primitives if p.solid
                and _inside_solid(p, camera, robot.CAMERA_CLEARANCE - 1e-6)]
        assert not hits, (index, view.scene.info['setting'], hits)
        assert robot.clearance(view.scene.primitives, camera) >= robot.CAMERA_CLEARANCE - 1e-9


def test_clearance_of_primitives() -> None:
    box = Box((0, 0, 0), (1, 1, 1), [])
    assert robot.clearance([box], (0.5, 0.5, 0.5)) == 0.0
    assert robot.clearance([box], (2.0, 0.5, 0.5)) == pytest.approx(1.0)
    room = Box((0, 0, 0), (4, 4, 3), [], hollow=True)
    assert robot.clearance([room], (1.0, 2.0, 1.5)) == pytest.approx(1.0)
    rod = robot.rod((0, 0, 0), (0, 0, 2), 0.1, [])
    assert robot.clearance([rod], (0.5, 0.0, 1.0)) == pytest.approx(0.4)
    assert robot.clearance([rod], (0.0, 0.0, 2.5)) == pytest.approx(0.5)


def test_views_are_deterministic(views: List[View]) -> None:
    for index in (0, 7, 123):
        again = random_view('robot', sample_streams(0, 'robot', index)[0])
        first = views[index]
        assert again.pose == first.pose and again.fov_deg == first.fov_deg
        assert again.scene.info == first.scene.info
        assert len(again.scene.primitives) == len(first.scene.primitives)
        for a, b in zip(again.scene.primitives, first.scene.primitives):
            assert type(a) is type(b) and np.array_equal(a.origin, b.origin)
            assert a.parts == b.parts


def test_same_files_for_any_worker_count(tmp_path: Path) -> None:
    generate(tmp_path / 'one', 2, 5, 'robot', 24, 32, workers=1, progress=False)
    generate(tmp_path / 'two', 2, 5, 'robot', 24, 32, workers=2, progress=False)
    names = sorted(p.name for p in (tmp_path / 'one').iterdir())
    assert len(names) == 11
    for name in names:
        assert (tmp_path / 'one' / name).read_bytes() == (tmp_path / 'two' / name).read_bytes()


def test_no_trajectories_of_robot_views() -> None:
    with pytest.raises(ValueError):
        plan_trajectory('robot', seed=0, frames=3, rate_hz=10.0)
