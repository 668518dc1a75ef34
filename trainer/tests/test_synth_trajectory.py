"""Trajectories for bags: timing, smooth realistic motion, one scene, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ros2_depth_trainer.synth.frame import Frame
from ros2_depth_trainer.synth.trajectory import plan_trajectory, render_trajectory


@pytest.mark.parametrize('kind, speed', [('indoor', (0.8, 1.2)), ('street', (5.0, 10.0))])
def test_motion_is_smooth_and_at_walking_or_driving_speed(kind: str, speed: tuple) -> None:
    rate = 10.0
    trajectory = plan_trajectory(kind, seed=4, frames=50, rate_hz=rate)
    positions = np.array([p.position for p in trajectory.poses])
    steps = np.linalg.norm(np.diff(positions[:, :2], axis=0), axis=1) * rate
    assert speed[0] * 0.9 <= steps.min() and steps.max() <= speed[1] * 1.1
    assert np.abs(np.diff(positions[:, 2])).max() < 0.05
    yaw = np.unwrap([p.yaw for p in trajectory.poses])
    assert np.abs(np.diff(yaw)).max() * rate < math.radians(90)  # no sudden turns
    pitch = np.array([p.pitch for p in trajectory.poses])
    roll = np.array([p.roll for p in trajectory.poses])
    assert np.abs(np.diff(pitch)).max() < math.radians(2)
    assert np.abs(roll).max() < math.radians(5)


def test_frames_carry_time_and_one_camera() -> None:
    frames = list(render_trajectory('indoor', 2, 3, 5.0, 24, 32))
    assert [f.time_s for f in frames] == [0.0, 0.2, 0.4]
    assert all(isinstance(f, Frame) for f in frames)
    assert len({f.camera for f in frames}) == 1
    for frame in frames:
        assert frame.rgb.shape == (24, 32, 3) and frame.rgb.dtype == np.uint8
        assert frame.depth.shape == (24, 32) and frame.depth.dtype == np.float32
        assert frame.normals.shape == (24, 32, 3) and frame.labels.shape == (24, 32)
        assert np.isfinite(frame.depth).mean() > 0.5
    assert not np.array_equal(frames[0].depth, frames[2].depth, equal_nan=True), 'camera moves'


def test_trajectories_are_deterministic() -> None:
    a = list(render_trajectory('street', 9, 2, 10.0, 24, 32))
    b = list(render_trajectory('street', 9, 2, 10.0, 24, 32))
    c = list(render_trajectory('street', 10, 2, 10.0, 24, 32))
    for x, y in zip(a, b):
        assert np.array_equal(x.rgb, y.rgb)
        assert np.array_equal(x.depth, y.depth, equal_nan=True)
        assert np.array_equal(x.labels, y.labels)
    assert not np.array_equal(a[0].rgb, c[0].rgb)


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        plan_trajectory('forest', 0, 3, 10.0)
    with pytest.raises(ValueError):
        plan_trajectory('indoor', 0, 3, 0.0)
    with pytest.raises(ValueError):
        plan_trajectory('indoor', -1, 3, 10.0)
